// A pipeline worker killed with -9 while ComfyUI animates the clips. The fake ComfyUI holds every
// prompt running at its sampler, so the test decides what ComfyUI has when the worker dies: the
// prompts queued, their ids committed to Postgres before they were sent, one running and the
// others waiting in ComfyUI's queue — their place in it and the running one's steps written on
// the jobs as progress. A second worker takes the rescued jobs over: each polls the prompt it finds
// in Postgres (GET /history, GET /queue) and never POSTs it again. No kill point is chosen by timing.
import { afterAll, expect, test } from "bun:test";
import { startFakeComfyUI } from "./support/comfyui-fake.ts";
import {
  clipsStageShots,
  type PipelineWorkerProcess,
  pipelineContext,
  setChains,
  spawnPipelineWorker,
  startStoryRun,
  waitUntil,
} from "./support/pipeline.ts";

const fake = await startFakeComfyUI();
const ENV = { COMFYUI_URL: fake.url, COMFYUI_POLL_INTERVAL_MS: "50" };
const ctx = await pipelineContext(ENV);
const spawned: PipelineWorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop(2000)));
  fake.stop();
});

async function spawn() {
  const p = await spawnPipelineWorker(ctx, { leaseMs: 4000, rescueIntervalMs: 300, concurrency: 4, env: ENV });
  spawned.push(p);
  return p;
}

test("a worker killed while ComfyUI runs the clips: the rescued jobs resume the same prompt ids, one POST /prompt per clip", async () => {
  // Pictures from the local painter; clips from ComfyUI.
  await setChains(ctx.db, { video: [{ provider: "comfyui", model: "img2vid" }] });
  const { token } = await ctx.register();
  const hold = fake.hold();
  const first = await spawn();
  const { projectId, runId } = await startStoryRun(ctx, token);

  const shots = await clipsStageShots(ctx, token, runId);
  expect(shots).toBeGreaterThanOrEqual(3);
  // ComfyUI runs one prompt (held at its sampler's first step); the others wait in its queue.
  await hold.arrived(1);
  const inFlight = Math.min(4, shots);
  await waitUntil("every slot's prompt queued on ComfyUI", () => fake.prompts.size >= inFlight);
  // Each prompt's id was committed before it was sent.
  const stored = await ctx.db.selectFrom("provider_requests").select("request_id").execute();
  expect(new Set(stored.map((r) => r.request_id))).toEqual(new Set(fake.prompts.keys()));
  // Their progress is on their jobs: the running one's node and step, the others' place in the queue.
  const progress = await waitUntil("the jobs' ComfyUI progress", async () => {
    const rows = await ctx.db
      .selectFrom("jobs")
      .select("progress_message")
      .where("state", "=", "running")
      .where("progress_message", "like", "ComfyUI:%")
      .execute();
    const messages = rows.map((r) => r.progress_message!);
    const steps = messages.some((m) => /^ComfyUI: KSampler \(node 5\) step 1\/4$/.test(m));
    const queued = messages.filter((m) => /^ComfyUI: queued, \d+ prompts? ahead$/.test(m)).length;
    return steps && queued === inFlight - 1 ? messages : null;
  });
  expect(progress.length).toBe(inFlight);

  first.proc.kill(9);
  await first.proc.exited;
  const atKill = new Set(fake.prompts.keys());
  expect(fake.posts()).toBe(inFlight);

  // Another worker takes the rescued jobs over (and any shot not started yet: the ComfyUI chain's
  // concurrency key lets 4 at a time); once it is at work on ComfyUI, the held prompt and the queue finish.
  const polls = () => fake.requests.filter((r) => atKill.has(r.path.replace("/history/", ""))).length;
  const polledBefore = polls();
  await spawn();
  await waitUntil("the new worker at work on ComfyUI", () => polls() > polledBefore || fake.posts() > inFlight);
  hold.release();
  const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
  expect(run.error).toBeNull();
  expect(run.status).toBe("completed");

  // One POST /prompt per clip: the prompts in flight at the kill were resumed, not queued again.
  expect(fake.posts()).toBe(shots);
  for (const p of fake.prompts.values()) expect(p.posts).toBe(1);
  const clipCalls = await ctx.db
    .selectFrom("provider_usage")
    .select(["request_id", "outcome"])
    .where("run_id", "=", runId)
    .where("capability", "=", "video")
    .execute();
  expect(clipCalls.every((c) => c.outcome === "ok")).toBe(true);
  expect(new Set(clipCalls.map((c) => c.request_id))).toEqual(new Set(fake.prompts.keys()));
  for (const id of atKill) expect(clipCalls.map((c) => c.request_id)).toContain(id);
  expect(await ctx.db.selectFrom("provider_requests").selectAll().execute()).toEqual([]);
  const intents = await ctx.db.selectFrom("submit_intents").select("state").execute();
  expect(intents).toHaveLength(shots);
  expect(intents.every((i) => i.state === "downloaded")).toBe(true);
  const clips = await ctx.db
    .selectFrom("assets")
    .select("input_digest")
    .where("project_id", "=", projectId)
    .where("kind", "=", "clip")
    .execute();
  expect(clips.length).toBe(shots);
});
