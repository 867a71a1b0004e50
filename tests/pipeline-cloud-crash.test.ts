// A pipeline worker killed with -9 while fal is still making its clips: the request ids were in
// Postgres before the worker started waiting, so the rescued jobs poll the same requests and fal
// is paid once per clip (the fake counts submissions).
import { afterAll, expect, test } from "bun:test";
import { startFakeFal } from "./support/fake-fal.ts";
import {
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

async function spawn() {
  const p = await spawnPipelineWorker(ctx, { leaseMs: 2000, rescueIntervalMs: 300, concurrency: 4, env: FAL_ENV });
  spawned.push(p);
  return p;
}

const CLIP_ENDPOINT = "fal-ai/kling-video/v2.1/standard/image-to-video";

test("a worker killed while fal makes the clips: the rescued jobs poll the same requests, one submission per clip", async () => {
  const { token } = await ctx.register();
  // Every request stays in progress until the test lets it finish.
  fal.script(["IN_QUEUE", "IN_PROGRESS"]);
  const first = await spawn();
  const { projectId, runId } = await startStoryRun(ctx, token);

  // Kill the worker once every clip it started is queued at fal and known to Postgres.
  const shots = await waitUntil(
    "the clips stage to start",
    async () => {
      const run = (await ctx.call("GET", `/api/v1/runs/${runId}`, { token })).json.data;
      if (run.status === "failed") throw new Error(`run failed: ${JSON.stringify(run.error)}`);
      const clips = run.stages.find((s: { stage: string }) => s.stage === "clips");
      if (clips.status !== "running") return null;
      const { package_id } = await ctx.db
        .selectFrom("runs")
        .select("package_id")
        .where("id", "=", runId)
        .executeTakeFirstOrThrow();
      return (
        await ctx.db.selectFrom("package_shots").select("shot_id").where("package_id", "=", package_id!).execute()
      ).length;
    },
    60_000,
  );
  const submitted = await waitUntil(
    "fal submissions stored in Postgres",
    async () => {
      const subs = fal.submissions.filter((s) => s.endpoint === CLIP_ENDPOINT && s.polls > 0);
      if (subs.length === 0) return null;
      const stored = await ctx.db.selectFrom("provider_requests").select("request_id").execute();
      const ids = new Set(stored.map((r) => r.request_id));
      return subs.every((s) => ids.has(s.requestId)) ? subs : null;
    },
    30_000,
  );
  first.proc.kill(9);
  await first.proc.exited;
  const inFlight = submitted.map((s) => s.requestId);
  const submissionsAtKill = fal.submissions.filter((s) => s.endpoint === CLIP_ENDPOINT).length;

  // fal finishes the work the dead worker was waiting for; another worker takes over.
  fal.script(["COMPLETED"]);
  for (const s of fal.submissions) s.statuses = ["COMPLETED"];
  await spawn();
  const run = await ctx.waitForRun(token, runId, ["completed", "failed"], 90_000);
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
}, 150_000);
