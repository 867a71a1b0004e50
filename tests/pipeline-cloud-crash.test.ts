// A pipeline worker killed with -9 while fal is making its clips. The fake fal holds every clip
// submission before queueing it, so the test decides what fal has when the worker dies: some
// submissions queued, their request ids in Postgres and being polled; others announced by their
// intent (submit_intents) but never queued. The rescued jobs poll the queued requests again, and
// submit the others once, recording in the ledger that the lost ones may have been billed: fal is
// paid once per clip (the fake counts submissions). No kill point is chosen by timing.
import { afterAll, expect, test } from "bun:test";
import { startFakeFal } from "./support/fake-fal.ts";
import {
  clipsStageShots,
  type PipelineWorkerProcess,
  pipelineContext,
  spawnPipelineWorker,
  startStoryRun,
  waitUntil,
} from "./support/pipeline.ts";

const fal = await startFakeFal();
const FAL_ENV = { VIDEO_PROVIDER: "fal", FAL_KEY: fal.key, FAL_BASE_URL: fal.url, FAL_POLL_INTERVAL_MS: "20" };
const ctx = await pipelineContext(FAL_ENV);
const spawned: PipelineWorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop(2000)));
  fal.stop();
});

const CONCURRENCY = 4;
async function spawn() {
  const p = await spawnPipelineWorker(ctx, {
    leaseMs: 2000,
    rescueIntervalMs: 300,
    concurrency: CONCURRENCY,
    env: FAL_ENV,
  });
  spawned.push(p);
  return p;
}

const CLIP_ENDPOINT = "fal-ai/kling-video/v2.1/standard/image-to-video";

test("a worker killed while fal makes the clips: the rescued jobs poll the queued requests and submit the unqueued ones once, one submission per clip", async () => {
  const { token } = await ctx.register();
  // Every request stays in progress until the test lets it finish; every clip submission waits at the door.
  fal.script(["IN_QUEUE", "IN_PROGRESS"]);
  const door = fal.gate({ call: "submit", when: "before", endpoint: CLIP_ENDPOINT });
  const first = await spawn();
  const { projectId, runId } = await startStoryRun(ctx, token);

  const shots = await clipsStageShots(ctx, token, runId);
  expect(shots).toBeGreaterThanOrEqual(3);
  // Every slot of the worker holds a shot job at fal's door (the others cannot start).
  const atDoor = await door.arrived(Math.min(CONCURRENCY, shots));
  const queued = atDoor.slice(0, Math.ceil(atDoor.length / 2));
  const unqueued = atDoor.slice(queued.length);
  expect(unqueued.length).toBeGreaterThan(0);
  // Each was announced by its intent, committed before the submission left.
  expect(await ctx.db.selectFrom("submit_intents").select("state").execute()).toEqual(
    atDoor.map(() => ({ state: "pending" })),
  );

  // fal queues some of them; the worker stores their ids and starts polling.
  for (const h of queued) h.release();
  const submitted = await waitUntil("the queued submissions stored in Postgres and polled", async () => {
    const subs = queued.map((h) => h.submission);
    if (!subs.every((s) => s && s.polls > 0)) return null;
    const stored = await ctx.db.selectFrom("provider_requests").select("request_id").execute();
    const ids = new Set(stored.map((r) => r.request_id));
    return subs.every((s) => ids.has(s!.requestId)) ? subs.map((s) => s!) : null;
  });
  first.proc.kill(9);
  await first.proc.exited;
  // The others never reached fal: nothing queued, nothing paid.
  for (const h of unqueued) h.drop();
  door.open();
  const inFlight = submitted.map((s) => s.requestId);
  const submissionsAtKill = fal.submissions.filter((s) => s.endpoint === CLIP_ENDPOINT).length;
  expect(submissionsAtKill).toBe(queued.length);

  // fal finishes the work the dead worker was waiting for; another worker takes over.
  fal.script(["COMPLETED"]);
  for (const s of fal.submissions) s.statuses = ["COMPLETED"];
  await spawn();
  const run = await ctx.waitForRun(token, runId, ["completed", "failed"]);
  expect(run.error).toBeNull();
  expect(run.status).toBe("completed");

  // Exactly one submission per shot's clip, and the requests in flight at the kill were polled again and fetched.
  const clipSubmissions = fal.submissions.filter((s) => s.endpoint === CLIP_ENDPOINT);
  expect(clipSubmissions.length).toBe(shots);
  expect(submissionsAtKill).toBeGreaterThan(0);
  for (const id of inFlight) expect(fal.calls("result", id).length).toBeGreaterThanOrEqual(1);
  // The stored refs are gone once their results are downloaded.
  expect(await ctx.db.selectFrom("provider_requests").selectAll().execute()).toEqual([]);
  // And each clip is one asset.
  const clips = await ctx.db
    .selectFrom("assets")
    .select("input_digest")
    .where("project_id", "=", projectId)
    .where("kind", "=", "clip")
    .execute();
  expect(new Set(clips.map((c) => c.input_digest)).size).toBe(clips.length);
  expect(clips.length).toBe(shots);
  // The ledger: one paid clip per shot (the resumed ones included), each with its seconds and cost.
  const videoCalls = await ctx.db
    .selectFrom("provider_usage")
    .selectAll()
    .where("run_id", "=", runId)
    .where("capability", "=", "video")
    .where("outcome", "=", "ok")
    .execute();
  expect(videoCalls.length).toBe(shots);
  expect(new Set(videoCalls.map((c) => c.request_id))).toEqual(new Set(clipSubmissions.map((s) => s.requestId)));
  expect(videoCalls.every((c) => Number(c.video_seconds) > 0 && Number(c.cost_usd) > 0)).toBe(true);
  // The submissions the crash may have cost (fal cannot be asked about them): one ledger row each.
  const lost = await ctx.db
    .selectFrom("provider_usage")
    .selectAll()
    .where("run_id", "=", runId)
    .where("error", "like", "resubmitted_after_crash:%")
    .execute();
  expect(lost.length).toBe(unqueued.length);
  expect(lost.every((c) => c.outcome === "failed" && c.stage === "clips" && Number(c.cost_usd) > 0)).toBe(true);
  // Every intent ended: the unqueued ones abandoned, one downloaded per clip.
  const intents = await ctx.db.selectFrom("submit_intents").select(["state", "request_id"]).execute();
  expect(intents.filter((i) => i.state === "abandoned" && i.request_id === null)).toHaveLength(unqueued.length);
  expect(intents.filter((i) => i.state === "downloaded")).toHaveLength(shots);
  expect(intents).toHaveLength(shots + unqueued.length);

  // The residual window, across processes (one machine, one clock): fal's answer → the intent holding its id.
  const stored = await ctx.db
    .selectFrom("submit_intents")
    .select(["request_id", "submitted_at"])
    .where("adopted_by", "=", "answer")
    .execute();
  const windows = stored.map((i) => i.submitted_at!.getTime() - fal.submission(i.request_id!)!.answeredAt!);
  expect(windows).toHaveLength(shots);
  console.log(
    `fal submit window in the pipeline (answer sent → id on the intent): ${windows.map((w) => w.toFixed(1)).join(", ")} ms`,
  );
});
