// Direct generation on the cloud providers, through their real SDKs against local fakes that speak
// their wire formats: `sora` → OpenAI's video API (videos.create, polled, content downloaded),
// `veo` and `kling` → fal's queue (image-to-video, and the text-to-video sibling without a
// picture), `flux` → FLUX on fal, `gpt-image-1` → OpenAI images. Every call lands in the cost ledger.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { probe } from "../src/media/ffmpeg.ts";
import { startFakeFal } from "./support/fake-fal.ts";
import { reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { fetchSigned, pipelineContext, waitUntil } from "./support/pipeline.ts";
import { solidPng } from "./support/upload-file.ts";

const fal = await startFakeFal();
const openai = await startFakeOpenAI();
const ctx = await pipelineContext({
  FAL_KEY: fal.key,
  FAL_BASE_URL: fal.url,
  FAL_POLL_INTERVAL_MS: "20",
  OPENAI_API_KEY: openai.apiKey,
  OPENAI_BASE_URL: openai.url,
  OPENAI_VIDEO_POLL_MS: "5",
});
await ctx.startWorker();
afterAll(() => {
  fal.stop();
  openai.stop();
});
afterEach(() => {
  fal.reset();
  openai.reset();
});

type Task = {
  task_id: string;
  status: string;
  provider: string;
  provider_model: string;
  error: { code: string; message: string } | null;
  result: {
    images: Array<{ url: string; width: number; height: number }>;
    video: { url: string; duration_s: number; resolution: string } | null;
    warnings: string[];
  } | null;
};

async function generate(token: string, route: string, body: unknown): Promise<Task> {
  const r = await ctx.call("POST", `/api/v1/generate/${route}`, { token, body });
  expect(r.status).toBe(202);
  return waitUntil(`the ${route} task to end`, async () => {
    const t = (await ctx.call("GET", `/api/v1/generate/tasks/${r.json.data.task_id}`, { token })).json.data as Task;
    return ["completed", "failed"].includes(t.status) ? t : null;
  });
}

async function videoOf(url: string) {
  const bytes = new Uint8Array(await (await fetchSigned(ctx, url)).arrayBuffer());
  const path = join(ctx.config.dataDir, `cloud-${crypto.randomUUID()}.mp4`);
  await Bun.write(path, bytes);
  return (await probe(path)).streams.find((s) => s.codec_type === "video")!;
}

const ledger = (userId: string) =>
  ctx.db
    .selectFrom("provider_usage")
    .select(["provider", "model", "outcome", "stage", "video_seconds", "images", "cost_usd"])
    .where("user_id", "=", userId)
    .orderBy("created_at")
    .execute();

describe("cloud models by their seed names", () => {
  test("GET /generate/models lists the aliases whose providers are configured", async () => {
    const me = await ctx.register("lister");
    const r = await ctx.call("GET", "/api/v1/generate/models", { token: me.token });
    expect(r.status).toBe(200);
    expect(r.json.data.video).toEqual(expect.arrayContaining(["local", "sora", "veo", "kling", "hailuo"]));
    expect(r.json.data.image).toEqual(expect.arrayContaining(["local", "flux", "dall-e-3", "gpt-image-1"]));
    expect(r.json.data.video).not.toContain("runway");
  });

  test("sora: text-to-video through OpenAI's video API, the clip stored and the seconds in the ledger", async () => {
    const me = await ctx.register("soraist");
    const task = await generate(me.token, "text-to-video", {
      prompt: "a paper boat drifting down a rainy street",
      model: "sora",
      duration: 4,
      resolution: "720p",
      aspect_ratio: "9:16",
    });
    expect(task.error).toBeNull();
    expect([task.provider, task.provider_model]).toEqual(["openai", "sora-2"]);
    const creates = openai.requests.filter((r) => r.method === "POST" && r.path === "/v1/videos");
    expect(creates).toHaveLength(1);
    expect(creates[0]!.body).toMatchObject({ model: "sora-2", seconds: "4", size: "720x1280" });
    const v = await videoOf(task.result!.video!.url);
    expect([v.codec_name, v.width, v.height]).toEqual(["h264", 720, 1280]);
    const rows = await ledger(me.user.id);
    expect(
      rows.map((r) => [r.provider, r.model, r.outcome, r.stage, Number(r.video_seconds), Number(r.cost_usd)]),
    ).toEqual([["openai", "sora-2", "ok", "generate_text_to_video", 4, 0.4]]);
  });

  test("veo: image-to-video on fal's queue with the picture uploaded; kling without a picture uses its text-to-video model", async () => {
    const me = await ctx.register("veoist");
    const png = await solidPng("orange", "1280x720");
    const form = new FormData();
    form.set("prompt", "the sun sets over the harbour");
    form.set("model", "veo");
    form.set("duration", "4");
    form.set("image", new File([png], "harbour.png", { type: "image/png" }));
    const res = await ctx.app.handle(
      new Request("http://localhost/api/v1/generate/image-to-video", {
        method: "POST",
        headers: { authorization: `Bearer ${me.token}` },
        body: form,
      }),
    );
    expect(res.status).toBe(202);
    const id = (await res.json()).data.task_id;
    const veo = await waitUntil("the veo task", async () => {
      const t = (await ctx.call("GET", `/api/v1/generate/tasks/${id}`, { token: me.token })).json.data as Task;
      return ["completed", "failed"].includes(t.status) ? t : null;
    });
    expect(veo.error).toBeNull();
    expect(fal.submissions.map((s) => s.endpoint)).toEqual(["fal-ai/veo3.1/image-to-video"]);
    expect(fal.uploads.size).toBe(1);
    const kling = await generate(me.token, "text-to-video", {
      prompt: "a kite over a field",
      model: "kling",
      duration: 5,
    });
    expect(kling.error).toBeNull();
    expect(fal.submissions.map((s) => s.endpoint)).toEqual([
      "fal-ai/veo3.1/image-to-video",
      "fal-ai/kling-video/v2.1/master/text-to-video",
    ]);
    const rows = await ledger(me.user.id);
    expect(rows.map((r) => [r.provider, r.model, r.outcome])).toEqual([
      ["fal", "fal-ai/veo3.1/image-to-video", "ok"],
      ["fal", "fal-ai/kling-video/v2.1/master/image-to-video", "ok"],
    ]);
  });

  test("flux and gpt-image-1: pictures from FLUX on fal and from OpenAI images, one call per picture", async () => {
    const me = await ctx.register("fluxist");
    const flux = await generate(me.token, "text-to-image", {
      prompt: "a red lantern",
      model: "flux",
      num_images: 2,
      width: 1024,
      height: 768,
    });
    expect(flux.error).toBeNull();
    expect(flux.result!.images).toHaveLength(2);
    expect(fal.submissions.map((s) => s.endpoint)).toEqual(["fal-ai/flux/dev", "fal-ai/flux/dev"]);
    openai.enqueue(reply.image());
    const gpt = await generate(me.token, "text-to-image", {
      prompt: "a blue kite",
      model: "gpt-image-1",
      width: 1024,
      height: 1024,
    });
    expect(gpt.error).toBeNull();
    expect(openai.requests.filter((r) => r.path === "/v1/images/generations")).toHaveLength(1);
    const rows = await ledger(me.user.id);
    expect(rows.map((r) => [r.provider, r.model, r.images])).toEqual([
      ["fal", "fal-ai/flux/dev", 1],
      ["fal", "fal-ai/flux/dev", 1],
      ["openai", "gpt-image-1", 1],
    ]);
  });

  test("a model that fails for good makes a failed task that says why", async () => {
    const me = await ctx.register("unlucky");
    openai.scriptVideos({ fail: { code: "moderation_blocked", message: "the prompt was blocked" } });
    const task = await generate(me.token, "text-to-video", { prompt: "something blocked", model: "sora", duration: 4 });
    expect(task.status).toBe("failed");
    expect(task.error!.code).toBe("AI_SERVICE_ERROR");
    const works = await ctx.call("GET", "/api/v1/works?status=failed", { token: me.token });
    expect(works.json.data.total).toBe(1);
  });
});
