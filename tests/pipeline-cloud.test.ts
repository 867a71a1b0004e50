// Whole runs on the cloud providers: the real OpenAI, fal and ElevenLabs SDKs inside the pipeline
// worker, pointed at local servers that speak their wire formats (tests/support/fake-*.ts).
// Covers the chains stored in Postgres, failover (recorded in the run's ledger), AI_SERVICE_ERROR
// with provider, model and stage, the cost ledger per run and per project, and the queue's
// per-provider concurrency keys.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { probe } from "../src/media/ffmpeg.ts";
import { startFakeElevenLabs } from "./support/fake-elevenlabs.ts";
import { startFakeFal } from "./support/fake-fal.ts";
import { reply, startFakeOpenAI } from "./support/fake-openai.ts";
import {
  fetchSigned,
  LOCAL_MODELS,
  pipelineContext,
  setChains,
  startStoryRun,
  setChain as storeChain,
} from "./support/pipeline.ts";
import { storyAnalyst } from "./support/story-analyst.ts";

const openai = await startFakeOpenAI();
const fal = await startFakeFal();
const eleven = await startFakeElevenLabs();
const CLOUD_ENV = {
  TEXT_PROVIDER: "openai",
  IMAGE_PROVIDER: "fal",
  VIDEO_PROVIDER: "fal",
  SPEECH_PROVIDER: "elevenlabs",
  MUSIC_PROVIDER: "elevenlabs",
  OPENAI_API_KEY: openai.apiKey,
  OPENAI_BASE_URL: openai.url,
  FAL_KEY: fal.key,
  FAL_BASE_URL: fal.url,
  FAL_POLL_INTERVAL_MS: "20",
  ELEVENLABS_API_KEY: eleven.apiKey,
  ELEVENLABS_BASE_URL: eleven.url,
};
const ctx = await pipelineContext(CLOUD_ENV);
await ctx.startWorker(4);
afterAll(() => {
  openai.stop();
  fal.stop();
  eleven.stop();
});

const setChain = (capability: string, chain: Array<{ provider: string; model: string }> | null) =>
  storeChain(ctx.db, capability, chain);
const chains = (cloud: Parameters<typeof setChains>[1]) => setChains(ctx.db, cloud);

afterEach(async () => {
  for (const c of Object.keys(LOCAL_MODELS)) await setChain(c, null);
  openai.reset();
  fal.reset();
  eleven.reset();
});

describe("a run on the cloud providers", () => {
  test("every capability in the cloud: story in, narrated MP4 out, every call in the ledger", async () => {
    openai.setFallback(storyAnalyst());
    const { token } = await ctx.register();
    const { projectId, runId } = await startStoryRun(ctx, token);
    const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");

    // OpenAI: the four analysis stages through strict structured outputs.
    const chats = openai.requests.filter((r) => r.path === "/v1/chat/completions");
    expect(chats.map((r) => r.body.response_format.json_schema.name).sort()).toEqual([
      "inkreel_characters",
      "inkreel_scenes",
      "inkreel_storyboard",
      "inkreel_storyline",
    ]);
    expect(
      chats.every((r) => r.body.response_format.json_schema.strict === true && r.body.model === "gpt-4o-mini"),
    ).toBe(true);

    // fal: one clip submission per shot, keyframes of shots with characters drawn from their sheets.
    const shots = await ctx.db
      .selectFrom("package_shots")
      .select(["shot_id", "data"])
      .where(
        "package_id",
        "=",
        (await ctx.db.selectFrom("runs").select("package_id").where("id", "=", runId).executeTakeFirstOrThrow())
          .package_id!,
      )
      .execute();
    const clips = fal.submissions.filter((s) => s.endpoint === "fal-ai/kling-video/v2.1/standard/image-to-video");
    expect(clips.length).toBe(shots.length);
    expect(fal.submissions.some((s) => s.endpoint.startsWith("fal-ai/flux-pro/kontext"))).toBe(true);
    expect(fal.submissions.some((s) => s.endpoint === "fal-ai/flux/dev")).toBe(true);

    // ElevenLabs: every line spoken with a voice of its library, and the music.
    const knownVoices = new Set(eleven.voices.map((v) => v.voice_id));
    const tts = eleven.calls("tts");
    expect(tts.length).toBeGreaterThan(0);
    expect(tts.every((r) => knownVoices.has(decodeURIComponent(r.path.split("/")[3]!)))).toBe(true);
    expect(eleven.calls("music").length).toBe(1);

    // The video.
    const exportId =
      run.export_id ??
      (await ctx.db.selectFrom("runs").select("export_id").where("id", "=", runId).executeTakeFirstOrThrow()).export_id;
    const ex = await ctx.waitForExport(token, exportId);
    expect(ex.status).toBe("completed");
    const video = ex.files.find((f: { file_type: string }) => f.file_type === "video");
    const bytes = new Uint8Array(await (await fetchSigned(ctx, video.download_url)).arrayBuffer());
    const path = `${ctx.config.dataDir}/cloud-run.mp4`;
    await Bun.write(path, bytes);
    const info = await probe(path);
    expect(info.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"]);

    // The ledger: every provider call of the run, with its cost, per run and per project.
    const usage = (await ctx.call("GET", `/api/v1/runs/${runId}/usage`, { token })).json.data;
    const byCapability = (c: string) => usage.by_model.filter((m: { capability: string }) => m.capability === c);
    expect(byCapability("text")).toEqual([
      expect.objectContaining({ provider: "openai", model: "gpt-4o-mini", calls: 4, failed: 0 }),
    ]);
    expect(byCapability("text")[0].input_tokens).toBeGreaterThan(0);
    expect(byCapability("video")).toEqual([expect.objectContaining({ provider: "fal", calls: shots.length })]);
    expect(byCapability("video")[0].video_seconds).toBeGreaterThan(0);
    expect(byCapability("speech")[0]).toMatchObject({ provider: "elevenlabs", calls: tts.length });
    expect(byCapability("music")[0]).toMatchObject({ provider: "elevenlabs", calls: 1 });
    expect(usage.failovers).toEqual([]);
    const sum = usage.by_model.reduce((a: number, m: { cost_usd: number }) => a + m.cost_usd, 0);
    expect(usage.total_cost_usd).toBeCloseTo(sum, 6);
    expect(usage.total_cost_usd).toBeGreaterThan(0);
    // Video at $0.05 a second, as the list price says.
    expect(byCapability("video")[0].cost_usd).toBeCloseTo(byCapability("video")[0].video_seconds * 0.05, 5);
    const project = (await ctx.call("GET", `/api/v1/projects/${projectId}/usage`, { token })).json.data;
    expect(project.total_cost_usd).toBeCloseTo(usage.total_cost_usd, 6);
    expect(project.by_run).toEqual(expect.arrayContaining([expect.objectContaining({ run_id: runId })]));

    // Compute power reconciles with the ledger to the cent, model by model: every call settled
    // once, at its list price × markup (1) × 100 points a dollar, against the run's charge.
    const charge = await ctx.db
      .selectFrom("compute_charges")
      .selectAll()
      .where("subject_id", "=", runId)
      .executeTakeFirstOrThrow();
    expect([charge.status, Number(charge.held)]).toEqual(["closed", 0]);
    const perModel = await ctx.db
      .selectFrom("provider_usage")
      .leftJoin("compute_ledger", (j) =>
        j.onRef("compute_ledger.usage_id", "=", "provider_usage.id").on("compute_ledger.kind", "=", "settle"),
      )
      .select((eb) => [
        "provider_usage.provider",
        "provider_usage.model",
        eb.fn.sum<string>("provider_usage.cost_usd").as("usd"),
        eb.fn.count<string>("provider_usage.id").as("calls"),
        eb.fn.count<string>("compute_ledger.id").as("settled_calls"),
        eb.fn.sum<string>(sql`-(compute_ledger.points + compute_ledger.reserved_change)`).as("points"),
      ])
      .where("provider_usage.run_id", "=", runId)
      .where("provider_usage.cost_usd", ">", "0")
      .groupBy(["provider_usage.provider", "provider_usage.model"])
      .execute();
    expect(perModel.length).toBeGreaterThanOrEqual(4);
    for (const m of perModel) {
      expect(Number(m.settled_calls)).toBe(Number(m.calls));
      expect(Number(m.points)).toBeCloseTo(Number(m.usd) * 100, 2);
    }
    const settledPoints = perModel.reduce((a, m) => a + Number(m.points), 0);
    expect(Number(charge.settled)).toBeCloseTo(settledPoints, 4);
    expect(Number(charge.settled)).toBeCloseTo(usage.total_cost_usd * 100, 2);
    // What the run reserved when it was asked for (its story only), and what stages topped up once the storyboard was known.
    const first = await ctx.db
      .selectFrom("compute_ledger")
      .select("reserved_change")
      .where("ref", "=", `charge:${charge.id}`)
      .where("kind", "=", "reserve")
      .executeTakeFirstOrThrow();
    console.log(
      JSON.stringify({
        cloud_run: {
          estimated_at_start_points: Number(first.reserved_change),
          estimate_with_top_ups_points: Number(charge.estimate_points),
          settled_points: Number(charge.settled),
          by_model: perModel.map((m) => ({
            model: `${m.provider}/${m.model}`,
            calls: Number(m.calls),
            points: Number(m.points),
          })),
        },
      }),
    );

    // Nobody else sees the spending.
    const other = await ctx.register();
    expect((await ctx.call("GET", `/api/v1/runs/${runId}/usage`, { token: other.token })).status).toBe(404);
    expect((await ctx.call("GET", `/api/v1/projects/${projectId}/usage`, { token: other.token })).status).toBe(404);
  });

  test("a primary that answers 503 hands over to the next model of the chain, and the run records it", async () => {
    await chains({
      image: [
        { provider: "openai", model: "gpt-image-1" },
        { provider: "fal", model: "fal-ai/flux/dev" },
      ],
    });
    // OpenAI's images are down; Retry-After keeps the SDK's own retries quick.
    openai.setFallback((req) =>
      req.path.startsWith("/v1/images")
        ? reply.error(503, "The server is overloaded", { headers: { "retry-after-ms": "5" } })
        : reply.error(400, "unexpected"),
    );
    const { token } = await ctx.register();
    const { runId } = await startStoryRun(ctx, token);
    const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
    expect(run.error).toBeNull();

    const images = openai.requests.filter((r) => r.path.startsWith("/v1/images"));
    expect(images.length).toBeGreaterThan(0);
    // Every picture was made by fal instead.
    const usage = (await ctx.call("GET", `/api/v1/runs/${runId}/usage`, { token })).json.data;
    const image = usage.by_model.filter((m: { capability: string }) => m.capability === "image");
    const failedOpenAI = image.find((m: { provider: string }) => m.provider === "openai");
    const byFal = image.find((m: { provider: string }) => m.provider === "fal");
    expect(failedOpenAI).toMatchObject({ failed: failedOpenAI.calls, cost_usd: 0 });
    expect(byFal.failed).toBe(0);
    expect(byFal.calls).toBe(failedOpenAI.calls);
    expect(usage.failovers.length).toBe(failedOpenAI.calls);
    expect(usage.failovers[0]).toMatchObject({
      capability: "image",
      from: { provider: "openai", model: "gpt-image-1" },
    });
    expect(usage.failovers[0].error).toContain("503");
    // Reference sheets, scene pictures, keyframes and the cover's poster (painted by the export).
    expect(new Set(usage.failovers.map((f: { stage: string }) => f.stage))).toEqual(
      new Set(["characters", "scenes", "keyframes", "export"]),
    );
    expect(usage.failovers.some((f: { shot_id: string | null }) => f.shot_id)).toBe(true);
  });

  test("a provider that refuses fails the run with AI_SERVICE_ERROR naming provider, model, stage and shot", async () => {
    await chains({ image: [{ provider: "openai", model: "gpt-image-1" }] });
    openai.setFallback(() =>
      reply.error(400, "Your request was rejected by the safety system.", { code: "content_policy_violation" }),
    );
    const { token } = await ctx.register();
    const { runId } = await startStoryRun(ctx, token);
    const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({
      code: "AI_SERVICE_ERROR",
      provider: "openai",
      model: "gpt-image-1",
      capability: "image",
      stage: "characters",
    });
    expect(run.error.message).toContain("safety system");
    expect(run.error.message).not.toMatch(/at .*\.ts:\d+/);
    const stage = run.stages.find((s: { stage: string }) => s.stage === "characters");
    expect(stage.error).toMatchObject({ code: "AI_SERVICE_ERROR", provider: "openai" });
    // A refusal is final: one attempt of the job, not two.
    expect(openai.requests.filter((r) => r.path.startsWith("/v1/images")).length).toBe(1);
  });

  test("a keyframe the provider refuses fails the keyframes stage with AI_SERVICE_ERROR naming the shot", async () => {
    await chains({ image: [{ provider: "openai", model: "gpt-image-1" }] });
    // Pictures from text are drawn; a keyframe from the characters' sheets (an edit) is refused.
    openai.setFallback((req) =>
      req.path === "/v1/images/edits"
        ? reply.error(400, "Your request was rejected by the safety system.", { code: "content_policy_violation" })
        : reply.image(),
    );
    const { token } = await ctx.register();
    const { runId } = await startStoryRun(ctx, token);
    const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
    expect(run.status).toBe("failed");
    const edits = openai.requests.filter((r) => r.path === "/v1/images/edits");
    expect(edits.length).toBeGreaterThan(0);
    expect(run.error).toMatchObject({
      code: "AI_SERVICE_ERROR",
      provider: "openai",
      model: "gpt-image-1",
      capability: "image",
      stage: "keyframes",
    });
    const stage = run.stages.find((s: { stage: string }) => s.stage === "keyframes");
    expect(stage.error.shot_id).toEqual(expect.any(String));
    expect(run.error.shot_id).toBe(stage.error.shot_id);
    // The shot named is one drawn from reference sheets: it has characters.
    const { package_id } = await ctx.db
      .selectFrom("runs")
      .select("package_id")
      .where("id", "=", runId)
      .executeTakeFirstOrThrow();
    const shot = await ctx.db
      .selectFrom("package_shots")
      .select("data")
      .where("package_id", "=", package_id!)
      .where("shot_id", "=", stage.error.shot_id)
      .executeTakeFirstOrThrow();
    expect((shot.data as { characters: string[] }).characters.length).toBeGreaterThan(0);
  });

  test("lines voiced locally are cast again from ElevenLabs' library once the speech chain moves there", async () => {
    await chains({});
    const { token } = await ctx.register();
    const { projectId, runId } = await startStoryRun(ctx, token);
    expect((await ctx.waitForRun(token, runId, ["completed", "failed"])).status).toBe("completed");
    expect(eleven.calls("tts")).toEqual([]);

    await setChain("speech", [{ provider: "elevenlabs", model: "eleven_multilingual_v2" }]);
    const timeline = (await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token })).json.data;
    const target = timeline.clips.find((c: { lines: Array<{ kind: string }> }) =>
      c.lines.some((l) => l.kind === "narration"),
    );
    const edited = await ctx.call("PUT", `/api/v1/projects/${projectId}/timeline/clips/${target.id}/narration`, {
      token,
      body: { text_content: "门开了，风很冷。" },
    });
    expect(edited.status).toBe(200);
    const started = await ctx.call("POST", `/api/v1/projects/${projectId}/exports`, { token, body: {} });
    const ex = await ctx.waitForExport(token, started.json.data.id);
    expect({ status: ex.status, error: ex.error ?? null }).toEqual({ status: "completed", error: null });
    const known = new Set(eleven.voices.map((v) => v.voice_id));
    const voices = eleven.calls("tts").map((r) => decodeURIComponent(r.path.split("/")[3]!));
    expect(voices.length).toBeGreaterThan(0);
    expect(voices.every((v) => known.has(v))).toBe(true);
  });

  test("per-shot jobs of a cloud provider carry its concurrency key and limit", async () => {
    await chains({ speech: [{ provider: "elevenlabs", model: "eleven_multilingual_v2" }] });
    await ctx.db
      .updateTable("providers")
      .set({ config: JSON.stringify({ concurrency: 2 }) })
      .where("id", "=", "elevenlabs")
      .execute();
    const { token } = await ctx.register();
    const { runId } = await startStoryRun(ctx, token);
    const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
    expect(run.error).toBeNull();
    const { rows } = await sql<{ stage: string; concurrency_key: string | null; concurrency_limit: number | null }>`
      select payload->>'stage' as stage, concurrency_key, concurrency_limit from job_history
      where kind = 'pipeline.shot' and payload->>'run_id' = ${runId}`.execute(ctx.db);
    const voices = rows.filter((r) => r.stage === "voices");
    expect(voices.length).toBeGreaterThan(0);
    expect(voices.every((r) => r.concurrency_key === "provider:elevenlabs" && r.concurrency_limit === 2)).toBe(true);
    // Local work has no such limit.
    expect(rows.filter((r) => r.stage === "keyframes").every((r) => r.concurrency_key === null)).toBe(true);
    await ctx.db
      .updateTable("providers")
      .set({ config: JSON.stringify({ concurrency: 4 }) })
      .where("id", "=", "elevenlabs")
      .execute();
  });

  test("an ADMIN refreshes the voice library from ElevenLabs; its failure answers 502 AI_SERVICE_ERROR naming provider and model", async () => {
    const admin = await ctx.register("admin");
    await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
    const user = await ctx.register();
    expect((await ctx.call("POST", "/api/v1/voices/sync", { token: user.token })).status).toBe(403);

    const synced = await ctx.call("POST", "/api/v1/voices/sync", { token: admin.token });
    expect(synced.status).toBe(200);
    expect(synced.json.data).toEqual({ provider: "elevenlabs", voices: eleven.voices.length });
    const listed = await ctx.call("GET", "/api/v1/voices?provider=elevenlabs&page_size=100", { token: user.token });
    expect(listed.json.data.items.map((v: { voice_id: string }) => v.voice_id).sort()).toEqual(
      eleven.voices.map((v) => v.voice_id).sort(),
    );

    // ElevenLabs is down (after the SDK's retries): the stored library stays, the caller learns who failed.
    eleven.fail("voices", { status: 500, body: { detail: { status: "internal_error", message: "boom" } } }, 5);
    const failed = await ctx.call("POST", "/api/v1/voices/sync", { token: admin.token });
    expect(failed.status).toBe(502);
    expect(failed.json.error).toMatchObject({
      code: "AI_SERVICE_ERROR",
      details: { provider: "elevenlabs", model: "eleven_multilingual_v2", capability: "speech" },
    });
    expect(JSON.stringify(failed.json)).not.toContain(eleven.apiKey);
    expect(
      (await ctx.call("GET", "/api/v1/voices?provider=elevenlabs&page_size=100", { token: user.token })).json.data.items
        .length,
    ).toBe(eleven.voices.length);
  });

  test("the usage routes: a malformed id is 400, an unknown one 404, no token 401, in the envelope", async () => {
    const { token } = await ctx.register();
    for (const path of ["/api/v1/projects/%s/usage", "/api/v1/runs/%s/usage"]) {
      const bad = await ctx.call("GET", path.replace("%s", "not-a-uuid"), { token });
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toBe("VALIDATION_ERROR");
      const unknown = await ctx.call("GET", path.replace("%s", crypto.randomUUID()), { token });
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.code).toBe("NOT_FOUND");
      expect((await ctx.call("GET", path.replace("%s", crypto.randomUUID()))).status).toBe(401);
    }
  });
});
