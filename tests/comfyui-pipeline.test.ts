// Whole runs with ComfyUI drawing the keyframes and animating the clips (tests/support/comfyui-fake.ts
// speaks its HTTP and WebSocket routes): the run completes and composes the real PNGs and MP4s into
// its export, one prompt per picture and clip; and a ComfyUI whose prompts fail while running hands
// every call to the next link of the chain, the failover in the run's ledger.
import { afterAll, afterEach, expect, test } from "bun:test";
import { startFakeComfyUI } from "./support/comfyui-fake.ts";
import { LOCAL_MODELS, pipelineContext, setChains, startStoryRun } from "./support/pipeline.ts";

const fake = await startFakeComfyUI();
const ctx = await pipelineContext({ COMFYUI_URL: fake.url, COMFYUI_POLL_INTERVAL_MS: "50" });
await ctx.startWorker(4);
afterAll(() => fake.stop());

const chains = (given: Parameters<typeof setChains>[1]) => setChains(ctx.db, given);

afterEach(async () => {
  await ctx.db.deleteFrom("provider_chains").execute();
  await ctx.db.deleteFrom("submit_intents").execute();
  fake.reset();
});

const usage = (runId: string) =>
  ctx.db
    .selectFrom("provider_usage")
    .select(["capability", "provider", "model", "outcome", "failed_over", "request_id", "error"])
    .where("run_id", "=", runId)
    .execute();

test("a run with images and clips from ComfyUI completes: one prompt each, composed into the export", async () => {
  await chains({
    image: [{ provider: "comfyui", model: "txt2img" }],
    video: [{ provider: "comfyui", model: "img2vid" }],
  });
  const { token } = await ctx.register();
  const { projectId, runId } = await startStoryRun(ctx, token);
  const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
  expect(run.error).toBeNull();
  expect(run.status).toBe("completed");

  const calls = await usage(runId);
  const comfy = calls.filter((c) => c.provider === "comfyui");
  const clips = comfy.filter((c) => c.capability === "video");
  const pictures = comfy.filter((c) => c.capability === "image");
  expect(clips.length).toBeGreaterThanOrEqual(3);
  expect(pictures.length).toBeGreaterThan(clips.length); // keyframes and the characters' sheets
  expect(comfy.every((c) => c.outcome === "ok" && c.request_id)).toBe(true);
  // Each call is its own prompt, posted once, under the id the ledger records.
  expect(new Set(comfy.map((c) => c.request_id)).size).toBe(comfy.length);
  expect(fake.posts()).toBe(comfy.length);
  for (const c of comfy) expect(fake.prompts.get(c.request_id!)?.posts).toBe(1);
  // Characters with a reference sheet are drawn image-to-image from it.
  expect(pictures.some((c) => fake.prompts.get(c.request_id!)!.prompt["1"]?.class_type === "LoadImage")).toBe(true);
  // The clips are ComfyUI's MP4s, and the export composed them.
  const assets = await ctx.db
    .selectFrom("assets")
    .select(["kind", "mime_type"])
    .where("project_id", "=", projectId)
    .where("kind", "in", ["clip", "keyframe"])
    .execute();
  expect(assets.filter((a) => a.kind === "clip").every((a) => a.mime_type === "video/mp4")).toBe(true);
  expect(run.export_id).toBeTruthy();
  const exported = (await ctx.call("GET", `/api/v1/exports/${run.export_id}`, { token })).json.data;
  expect(exported.status).toBe("completed");
  expect(exported.files.some((f: { file_type: string }) => f.file_type === "video")).toBe(true);
  // Nothing left in flight, every prompt's record closed.
  expect(await ctx.db.selectFrom("provider_requests").selectAll().execute()).toEqual([]);
  const intents = await ctx.db.selectFrom("submit_intents").select("state").where("provider", "=", "comfyui").execute();
  expect(intents.length).toBe(comfy.length);
  expect(intents.every((i) => i.state === "downloaded")).toBe(true);
});

test("a failing ComfyUI falls back to the next link of the chain, and the ledger says so", async () => {
  await chains({
    image: [
      { provider: "comfyui", model: "txt2img" },
      { provider: "local", model: LOCAL_MODELS.image },
    ],
    video: [
      { provider: "comfyui", model: "img2vid" },
      { provider: "local", model: LOCAL_MODELS.video },
    ],
  });
  fake.failRuns(10_000);
  const { token } = await ctx.register();
  const { runId } = await startStoryRun(ctx, token);
  const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
  expect(run.error).toBeNull();
  expect(run.status).toBe("completed");

  const calls = await usage(runId);
  for (const capability of ["image", "video"]) {
    const failed = calls.filter((c) => c.capability === capability && c.provider === "comfyui");
    const local = calls.filter((c) => c.capability === capability && c.provider === "local");
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((c) => c.outcome === "failed" && c.failed_over)).toBe(true);
    expect(failed[0]!.error).toContain("CUDA out of memory");
    expect(local.length).toBe(failed.length);
    expect(local.every((c) => c.outcome === "ok")).toBe(true);
  }
  // Every prompt ran (and failed) once: failing over sends nothing to ComfyUI again.
  expect(fake.posts()).toBe(calls.filter((c) => c.provider === "comfyui").length);
  const intents = await ctx.db.selectFrom("submit_intents").select("state").where("provider", "=", "comfyui").execute();
  expect(intents.length).toBe(fake.posts());
  expect(intents.every((i) => i.state === "dead")).toBe(true);
});
