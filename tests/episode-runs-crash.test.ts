// A worker process killed with -9 while a batch renders a season two episodes at a time: a second
// worker takes over the dead one's jobs, the held episode starts when a place frees up, and every
// episode completes once — one job of each kind per stage and shot, one asset per input, one
// export per episode. The kill point is a state (an episode's clips half made), never a time.
import { afterAll, expect, test } from "bun:test";
import { THREE_CHAPTERS } from "./fixtures/season.ts";
import { type PipelineWorkerProcess, pipelineContext, spawnPipelineWorker, waitUntil } from "./support/pipeline.ts";
import { expectAssetsOnce, fanOut, onceEach, shotCount } from "./support/run-integrity.ts";

const ctx = await pipelineContext();
const spawned: PipelineWorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop(2000)));
});

async function spawn() {
  const p = await spawnPipelineWorker(ctx, { leaseMs: 4000, rescueIntervalMs: 300, concurrency: 3 });
  spawned.push(p);
  return p;
}

test("a worker killed mid-batch: the batch completes, every episode once, nothing made twice", async () => {
  const me = await ctx.register("series");
  const first = await spawn();
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: THREE_CHAPTERS } },
  });
  const projectId = created.json.data.id as string;
  const analysed = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: me.token,
    body: { mode: "step", to_stage: "storyboard" },
  });
  await ctx.waitForRun(me.token, analysed.json.data.id, ["paused"]);
  const planned = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/plan`, {
    token: me.token,
    body: { target_episode_s: 30 },
  });
  expect(planned.json.data).toHaveLength(3);
  const batch = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/runs`, {
    token: me.token,
    body: { episodes: "all", parallelism: 2 },
  });
  expect(batch.status).toBe(202);
  const runIds: string[] = batch.json.data.runs.map((r: { run_id: string }) => r.run_id);

  // Killed once one of the episodes has some of its clips made and others still to make.
  await waitUntil("an episode's clips half made", async () => {
    const runs = await ctx.db.selectFrom("runs").select("stages").where("id", "in", runIds).execute();
    return runs.some((r) => {
      const clips = r.stages.find((s) => s.stage === "clips")!;
      return clips.status === "running" && (clips.done ?? 0) >= 1 && (clips.done ?? 0) < (clips.total ?? 0);
    });
  });
  expect(await first.kill9()).toBeNull();
  // The third episode is still waiting for its place.
  const third = await ctx.db
    .selectFrom("runs")
    .select(["held", "status"])
    .where("id", "=", runIds[2]!)
    .executeTakeFirstOrThrow();
  expect(third).toEqual({ held: true, status: "queued" });

  await spawn();
  for (const id of runIds) {
    const run = await ctx.waitForRun(me.token, id, ["completed", "failed", "cancelled"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");
  }
  // Every stage and shot job made once per episode, rescued or not.
  for (const id of runIds) {
    const once = onceEach(await shotCount(ctx, id));
    for (const stage of ["storyline", "art_style", "characters", "scenes", "storyboard"])
      delete once[`pipeline.stage:${stage}`];
    const made = await fanOut(ctx, id);
    // The music stage ran once per episode unless the season already had a track.
    if (!made["pipeline.stage:music"]) delete once["pipeline.stage:music"];
    expect(made).toEqual(once);
  }
  await expectAssetsOnce(ctx, projectId);
  // One export per episode, each finished.
  const exports = await ctx.db
    .selectFrom("exports")
    .select(["run_id", "status"])
    .where("project_id", "=", projectId)
    .orderBy("created_at")
    .execute();
  expect(exports.map((e) => e.status)).toEqual(["completed", "completed", "completed"]);
  expect(new Set(exports.map((e) => e.run_id))).toEqual(new Set(runIds));
  const listed = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes/exports`, { token: me.token });
  expect(listed.json.data.map((e: { index: number }) => e.index)).toEqual([1, 2, 3]);
  const progress = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes/runs/${batch.json.data.batch_id}`, {
    token: me.token,
  });
  expect(progress.json.data).toMatchObject({ total: 3, completed: 3, failed: 0, in_flight: 0, progress: 100 });
});
