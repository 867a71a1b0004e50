// A season rendered: a three-chapter story analysed once, planned into three episodes and rendered
// as a batch (two at a time) on the local providers. Each episode is its own package and export
// with the season's cast; its cover and cards name it; the series lists and plays in order; a
// changed character marks exactly the episodes it is in; another user sees none of it.
import { afterAll, expect, test } from "bun:test";
import { CARD_S } from "../src/pipeline/episode-cards.ts";
import { THREE_CHAPTERS } from "./fixtures/season.ts";
import { reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { frameAtTime, mean, videoInfo } from "./support/media.ts";
import { fetchSigned, pipelineContext } from "./support/pipeline.ts";

const openai = await startFakeOpenAI();
// Every capability local (the default chains); one test puts OpenAI at the head of the text chain.
const ctx = await pipelineContext({ OPENAI_API_KEY: openai.apiKey, OPENAI_BASE_URL: openai.url });
await ctx.startWorker(4);
afterAll(() => openai.stop());

type Episode = {
  id: string;
  package_id: string;
  index: number;
  title: string;
  characters: string[];
  status: string;
  run_id: string | null;
  current_package_id: string | null;
  stale: boolean;
  stale_reasons: string[];
  update: { shots: number; cost_estimate_usd: number };
};

async function season(token: string) {
  const created = await ctx.call("POST", "/api/v1/projects", {
    token,
    body: { input: { type: "novel", text: THREE_CHAPTERS } },
  });
  const projectId = created.json.data.id as string;
  const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token,
    body: { mode: "step", to_stage: "storyboard" },
  });
  await ctx.waitForRun(token, started.json.data.id, ["paused"]);
  const planned = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/plan`, {
    token,
    body: { target_episode_s: 30 },
  });
  expect(planned.status).toBe(200);
  return { projectId, episodes: planned.json.data as Episode[] };
}

const episodesOf = async (token: string, projectId: string) =>
  (await ctx.call("GET", `/api/v1/projects/${projectId}/episodes`, { token })).json.data as Episode[];

test("a batch renders every episode as its own package and export, with the season's cast, two at a time", async () => {
  const me = await ctx.register();
  const { projectId, episodes } = await season(me.token);
  expect(episodes.map((e) => [e.index, e.status])).toEqual([
    [1, "planned"],
    [2, "planned"],
    [3, "planned"],
  ]);
  expect(episodes[0]!.characters).toContain("周掌柜");
  expect(episodes[1]!.characters).toContain("陈墨");
  expect(episodes[1]!.characters).not.toContain("周掌柜");

  const batch = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: "all", parallelism: 2 },
  });
  expect(batch.status).toBe(202);
  const { runs, batch_id } = batch.json.data;
  expect(runs.map((r: { index: number; held: boolean }) => [r.index, r.held])).toEqual([
    [1, false],
    [2, false],
    [3, true],
  ]);
  // While they render: a second batch of the same episodes, or a new plan, is refused.
  const again = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: [episodes[0]!.id] },
  });
  expect(again.status).toBe(409);
  const replan = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/plan`, {
    token: me.token,
    body: { target_episode_s: 60 },
  });
  expect(replan.status).toBe(409);

  // Each episode's run reserved its own estimate in the batch's transaction (the local providers cost nothing).
  expect(batch.json.data.compute).toEqual({ points: 0, usd: 0 });
  for (const r of runs) expect([typeof r.compute.charge_id, r.compute.points]).toEqual(["string", 0]);
  for (const r of runs) {
    const run = await ctx.waitForRun(me.token, r.run_id, ["completed", "failed"]);
    expect(run.status).toBe("completed");
  }
  const charges = await ctx.db
    .selectFrom("compute_charges")
    .select(["subject_id", "kind", "status"])
    .where(
      "id",
      "in",
      runs.map((r: { compute: { charge_id: string } }) => r.compute.charge_id),
    )
    .orderBy("subject_id")
    .execute();
  expect(charges).toEqual(
    runs
      .map((r: { run_id: string }) => ({ subject_id: r.run_id, kind: "run", status: "closed" }))
      .sort((a: { subject_id: string }, b: { subject_id: string }) => a.subject_id.localeCompare(b.subject_id)),
  );
  // Never more than two in flight: the third started only when one of the first two had ended.
  const events = await ctx.db
    .selectFrom("project_events")
    .select(["id", "event", "data"])
    .where("project_id", "=", projectId)
    .orderBy("id")
    .execute();
  const ofBatch = events.filter((e) => e.data.series?.batch_id === batch_id);
  expect(ofBatch.length).toBeGreaterThan(0);
  for (const e of ofBatch) expect(e.data.series!.in_flight).toBeLessThanOrEqual(2);
  const firstOf3 = ofBatch.findIndex((e) => e.data.run_id === runs[2].run_id);
  const firstEnd = ofBatch.findIndex((e) => e.event === "completed");
  expect(firstOf3).toBeGreaterThanOrEqual(firstEnd);
  const last = ofBatch.at(-1)!.data.series!;
  expect(last).toMatchObject({ total: 3, completed: 3, failed: 0, in_flight: 0, progress: 100 });

  // The project's own package stays the season's; each episode has a package of its own.
  const project = await ctx.db.selectFrom("projects").selectAll().where("id", "=", projectId).executeTakeFirstOrThrow();
  const listed = await episodesOf(me.token, projectId);
  expect(listed.map((e) => e.status)).toEqual(["completed", "completed", "completed"]);
  const seasonPkg = await ctx.db
    .selectFrom("packages")
    .selectAll()
    .where("id", "=", project.active_package_id!)
    .executeTakeFirstOrThrow();
  expect(seasonPkg.episode_id).toBeNull();
  const sheet = (pkg: typeof seasonPkg, name: string) => {
    const c = pkg.characters.find((x) => x.name === name)!;
    return { sha256: c.reference?.sha256, voice: c.voice.voice_id };
  };
  for (const e of listed) {
    expect(e.stale).toBe(false);
    expect(e.update.shots).toBe(0);
    const pkg = await ctx.db
      .selectFrom("packages")
      .selectAll()
      .where("id", "=", e.current_package_id!)
      .executeTakeFirstOrThrow();
    expect(pkg.episode_id).toBe(e.id);
    // The same face and voice in every episode.
    for (const name of ["林小雨", "周掌柜", "陈墨"]) expect(sheet(pkg, name)).toEqual(sheet(seasonPkg, name));
    const shots = await ctx.db.selectFrom("package_shots").select("shot_id").where("package_id", "=", pkg.id).execute();
    expect(shots.length).toBe(
      (await ctx.db.selectFrom("episodes").select("shot_count").where("id", "=", e.id).executeTakeFirstOrThrow())
        .shot_count,
    );
  }

  // Each episode's own timeline: its shots only, from its own package.
  const own = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline?episode_id=${listed[1]!.id}`, {
    token: me.token,
  });
  expect(own.status).toBe(200);
  expect(own.json.data.package_id).toBe(listed[1]!.current_package_id);
  expect(own.json.data.clips.map((c: { id: string }) => c.id)[0]).toBe(
    (await ctx.db.selectFrom("episodes").select("first_shot").where("id", "=", listed[1]!.id).executeTakeFirstOrThrow())
      .first_shot,
  );
  const whole = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token: me.token });
  expect(whole.json.data.package_id).toBe(project.active_package_id);
  expect(own.json.data.clips.length).toBeLessThan(whole.json.data.clips.length);

  // The files, in episode order; the recap and next-episode cards on either side of the episode.
  const exported = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes/exports`, { token: me.token });
  expect(exported.status).toBe(200);
  const files = exported.json.data;
  expect(files.map((f: { index: number }) => f.index)).toEqual([1, 2, 3]);
  const durations: number[] = [];
  for (const f of files) {
    const video = f.files.find((x: { file_type: string }) => x.file_type === "video");
    const res = await fetchSigned(ctx, video.download_url);
    expect(res.status).toBe(200);
    const path = `${ctx.config.dataDir}/episode-${f.index}.mp4`;
    await Bun.write(path, await res.arrayBuffer());
    const info = await videoInfo(path);
    durations.push(info.durationS);
    const shotsS = (
      await ctx.db
        .selectFrom("package_shots")
        .innerJoin("runs", "runs.package_id", "package_shots.package_id")
        .select("data")
        .where("runs.export_id", "=", f.export_id)
        .execute()
    ).reduce((s, r) => s + r.data.durationS, 0);
    const cards = f.index === 2 ? 2 : 1;
    // Each card lasts CARD_S; transitions overlap shots by up to half a second each.
    expect(info.durationS).toBeGreaterThan(shotsS + cards * CARD_S - 0.5 * 6);
    expect(info.durationS).toBeLessThan(shotsS + cards * CARD_S + 0.5);
    // Episode 2 opens on its "previously" card: a dark plain card with a line of white text.
    if (f.index === 2) expect(mean(await frameAtTime(path, 1))).toBeLessThan(60);
  }
  const cover = files[1].files.find((x: { file_type: string }) => x.file_type === "cover");
  expect(cover).toBeDefined();
  const exportRow = await ctx.db
    .selectFrom("exports")
    .select("options")
    .where("id", "=", files[1].export_id)
    .executeTakeFirstOrThrow();
  expect(exportRow.options.cover.enabled).toBe(true);

  // The manifest and the playlist list the same files in the same order.
  const manifest = (await ctx.call("GET", `/api/v1/projects/${projectId}/episodes/manifest`, { token: me.token })).json
    .data;
  expect(manifest).toMatchObject({ planned: 3, finished: 3 });
  expect(manifest.duration_s).toBeCloseTo(
    durations.reduce((a, b) => a + b, 0),
    0,
  );
  const m3u = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes/manifest.m3u`, { token: me.token });
  expect(m3u.status).toBe(200);
  expect(m3u.headers.get("content-type")).toStartWith("audio/x-mpegurl");
  const lines = (m3u.json as string).trim().split("\n");
  expect(lines[0]).toBe("#EXTM3U");
  const entries = lines.filter((l) => l.startsWith("#EXTINF:"));
  expect(entries.map((l) => l.slice(l.indexOf(",") + 1))).toEqual(
    manifest.episodes.map((e: { title: string }) => e.title),
  );
  expect(entries[1]).toContain("第2集");
  // Each entry is followed by a link to its episode's video.
  for (const [i, entry] of entries.entries()) {
    const link = lines[lines.indexOf(entry) + 1]!;
    const res = await fetchSigned(ctx, link);
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(
      files[i].files.find((x: { file_type: string }) => x.file_type === "video").file_size,
    );
  }

  // A changed character marks exactly the episodes it is in, with what bringing them up to date redoes.
  const changed = await ctx.call("POST", `/api/v1/material-packages/${project.active_package_id}/modify/text`, {
    token: me.token,
    body: { element: "character", id: "陈墨", field: "description", value: "一个穿灰色长衫、戴圆框眼镜的年轻人" },
  });
  expect(changed.status).toBe(200);
  const after = await episodesOf(me.token, projectId);
  expect(after.map((e) => e.stale)).toEqual([false, true, false]);
  expect(after[1]!.stale_reasons).toEqual(["character:陈墨"]);
  expect(after[1]!.update.shots).toBeGreaterThan(0);
  expect(after[1]!.update.cost_estimate_usd).toBe(0);

  // Brought up to date: a new package of the episode's own lineage; the others untouched.
  const redo = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: [after[1]!.id] },
  });
  expect(redo.status).toBe(202);
  expect(redo.json.data.runs).toHaveLength(1);
  await ctx.waitForRun(me.token, redo.json.data.runs[0].run_id, ["completed"]);
  const fresh = await episodesOf(me.token, projectId);
  expect(fresh.map((e) => e.stale)).toEqual([false, false, false]);
  expect(fresh[0]!.current_package_id).toBe(after[0]!.current_package_id);
  const lineage = await ctx.db
    .selectFrom("packages")
    .select(["parent_id", "episode_id"])
    .where("id", "=", fresh[1]!.current_package_id!)
    .executeTakeFirstOrThrow();
  expect(lineage).toEqual({ parent_id: after[1]!.current_package_id, episode_id: after[1]!.id });
  const progress = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes/runs/${batch_id}`, {
    token: me.token,
  });
  expect(progress.json.data).toMatchObject({ total: 3, completed: 3, parallelism: 2 });

  // Another user sees none of it.
  const other = await ctx.register();
  for (const [method, path, body] of [
    ["GET", `/api/v1/projects/${projectId}/episodes/exports`, undefined],
    ["GET", `/api/v1/projects/${projectId}/episodes/manifest`, undefined],
    ["GET", `/api/v1/projects/${projectId}/episodes/manifest.m3u`, undefined],
    ["GET", `/api/v1/projects/${projectId}/episodes/runs/${batch_id}`, undefined],
    ["GET", `/api/v1/projects/${projectId}/timeline?episode_id=${listed[0]!.id}`, undefined],
    ["POST", `/api/v1/projects/${projectId}/episodes/runs`, { episodes: "all" }],
  ] as const) {
    const res = await ctx.call(method, path, { token: other.token, ...(body ? { body } : {}) });
    expect(res.status).toBe(404);
  }
});

test("bad batches are 400 naming the problem; a project without a plan is 409", async () => {
  const me = await ctx.register();
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: THREE_CHAPTERS } },
  });
  const unplanned = await ctx.call("POST", `/api/v1/projects/${created.json.data.id}/episodes/runs`, {
    token: me.token,
    body: { episodes: "all" },
  });
  expect(unplanned.status).toBe(409);
  const { projectId } = await season(me.token);
  const unknown = crypto.randomUUID();
  for (const [body, names] of [
    [{ episodes: [] }, "episodes"],
    [{ episodes: "some" }, "episodes"],
    [{ episodes: ["not-a-uuid"] }, "episodes"],
    [{ episodes: [unknown] }, unknown],
    [{ episodes: "all", parallelism: 0 }, "parallelism"],
    [{ episodes: "all", parallelism: 1000 }, "parallelism"],
    [{ episodes: "all", parallelism: 1.5 }, "parallelism"],
    [{ episodes: "all", recap: "yes" }, "recap"],
    [{}, "episodes"],
  ] as const) {
    const res = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, { token: me.token, body });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("VALIDATION_ERROR");
    expect(JSON.stringify(res.json.error.details)).toContain(names);
  }
  // Nothing was started by any of them.
  expect(
    await ctx.db
      .selectFrom("runs")
      .select("id")
      .where("project_id", "=", projectId)
      .where("episode_id", "is not", null)
      .execute(),
  ).toEqual([]);
  // An episode's timeline: 409 before it is rendered, 404 for an episode the project does not have.
  const planned = await episodesOf(me.token, projectId);
  const early = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline?episode_id=${planned[0]!.id}`, {
    token: me.token,
  });
  expect(early.status).toBe(409);
  const stranger = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline?episode_id=${crypto.randomUUID()}`, {
    token: me.token,
  });
  expect(stranger.status).toBe(404);
  const bad = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes/runs/${crypto.randomUUID()}`, {
    token: me.token,
  });
  expect(bad.status).toBe(404);
});

test("a cancelled batch: its waiting episodes never start, its running one stops, a new batch may start", async () => {
  const me = await ctx.register();
  const { projectId } = await season(me.token);
  const batch = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: "all", parallelism: 1 },
  });
  expect(batch.status).toBe(202);
  const { batch_id, runs } = batch.json.data;
  const cancelled = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs/${batch_id}/cancel`, {
    token: me.token,
  });
  expect(cancelled.status).toBe(200);
  expect(cancelled.json.data.runs.map((r: { status: string }) => r.status)).toEqual([
    "cancelled",
    "cancelled",
    "cancelled",
  ]);
  expect(cancelled.json.data).toMatchObject({ total: 3, completed: 0, in_flight: 0 });
  // Nothing of the batch is left to run, and none of it was released by another's end.
  for (const r of runs) {
    const run = await ctx.waitForRun(me.token, r.run_id, ["cancelled"]);
    expect(run.status).toBe("cancelled");
  }
  const held = await ctx.db.selectFrom("runs").select("held").where("batch_id", "=", batch_id).execute();
  expect(held.every((r) => !r.held)).toBe(true);
  const listed = await episodesOf(me.token, projectId);
  expect(listed.map((e) => e.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
  // The episodes may be rendered again.
  const again = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: [listed[2]!.id] },
  });
  expect(again.status).toBe(202);
  const other = await ctx.register();
  const refused = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs/${batch_id}/cancel`, {
    token: other.token,
  });
  expect(refused.status).toBe(404);
  // Deleting the project while an episode renders and others wait: everything of it goes.
  const waiting = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: [listed[0]!.id, listed[1]!.id], parallelism: 1 },
  });
  expect(waiting.status).toBe(202);
  const deleted = await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token });
  expect(deleted.status).toBeLessThan(300);
  expect(await ctx.db.selectFrom("runs").select("id").where("project_id", "=", projectId).execute()).toEqual([]);
  expect(await ctx.db.selectFrom("series_batches").select("id").where("project_id", "=", projectId).execute()).toEqual(
    [],
  );
});

test("with a cloud text model the cards are written from the lines around the episode; the local one uses the lines", async () => {
  const me = await ctx.register();
  const { projectId, episodes } = await season(me.token);
  const local = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: [episodes[1]!.id] },
  });
  const localRun = await ctx.waitForRun(me.token, local.json.data.runs[0].run_id, ["completed"]);
  const shots = await ctx.db
    .selectFrom("package_shots")
    .select(["shot_id", "data"])
    .where("package_id", "=", episodes[0]!.package_id)
    .orderBy("position")
    .execute();
  const lineOf = (id: string) => shots.find((s) => s.shot_id === id)!.data.lines;
  const plan = await ctx.db
    .selectFrom("episodes")
    .selectAll()
    .where("project_id", "=", projectId)
    .orderBy("n")
    .execute();
  const previousEnd = lineOf(plan[0]!.last_shot).map((l) => l.text);
  const nextStart = lineOf(plan[2]!.first_shot).map((l) => l.text);
  const linesCards = { recap: previousEnd.at(-1)!, next: nextStart[0]! };
  const statsOf = async (runId: string) =>
    (await ctx.db.selectFrom("exports").select("stats").where("run_id", "=", runId).executeTakeFirstOrThrow()).stats;
  expect((await statsOf(localRun.id))?.cards).toEqual(linesCards);

  // OpenAI writes them: it is sent the lines they come from, and its sentences are on the cards.
  await ctx.db
    .insertInto("provider_chains")
    .values({ capability: "text", chain: JSON.stringify([{ provider: "openai", model: "gpt-4o-mini" }]) })
    .execute();
  try {
    openai.enqueue(reply.json({ recap: "林小雨在茶馆遇见了周掌柜。", next: "码头的雾里，有人在等她。" }));
    const cloud = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
      token: me.token,
      body: { episodes: [episodes[1]!.id] },
    });
    const cloudRun = await ctx.waitForRun(me.token, cloud.json.data.runs[0].run_id, ["completed"]);
    expect((await statsOf(cloudRun.id))?.cards).toEqual({
      recap: "林小雨在茶馆遇见了周掌柜。",
      next: "码头的雾里，有人在等她。",
    });
    const asked = openai.requests.filter(
      (r) => r.path === "/v1/chat/completions" && r.body.response_format?.json_schema?.name === "episode_cards",
    );
    expect(asked).toHaveLength(1);
    const prompt = JSON.parse(asked[0]!.body.messages.find((m: { role: string }) => m.role === "user").content);
    expect(prompt).toMatchObject({
      language: "zh",
      previous_episode_ending: previousEnd,
      next_episode_opening: nextStart,
    });

    // A model that fails (the fake answers 500 with nothing queued) leaves the lines on the cards; the episode still renders.
    expect(openai.pending()).toBe(0);
    const failing = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
      token: me.token,
      body: { episodes: [episodes[1]!.id] },
    });
    const failingRun = await ctx.waitForRun(me.token, failing.json.data.runs[0].run_id, ["completed"]);
    expect((await statsOf(failingRun.id))?.cards).toEqual(linesCards);
  } finally {
    await ctx.db.deleteFrom("provider_chains").where("capability", "=", "text").execute();
  }
});
