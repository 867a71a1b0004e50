// A pipeline worker process killed with -9 mid-run: its leases expire, the rescuer returns its
// jobs, another worker finishes the run, and nothing is made twice or lost.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { PER_SHOT, STAGES } from "../src/core/stages.ts";
import { probe } from "../src/media/ffmpeg.ts";
import { rescueExpired } from "../src/queue/index.ts";
import {
  fetchSigned,
  type PipelineWorkerProcess,
  pipelineContext,
  spawnPipelineWorker,
  startStoryRun,
  WAIT_MS,
  waitUntil,
} from "./support/pipeline.ts";
import {
  checkRunIntegrity,
  checkRunSettlement,
  fanOut as sharedFanOut,
  runJobs as sharedRunJobs,
} from "./support/run-integrity.ts";

// The local painter and motion metered at 1 point a picture and a point a second of video: a
// rescued run must settle each picture and each clip once.
const METERED = { COMPUTE_LOCAL_USD_PER_IMAGE: "0.01", COMPUTE_LOCAL_USD_PER_VIDEO_SECOND: "0.01" };
const POINTS = { image: 1, videoSecond: 1 };
const ctx = await pipelineContext(METERED);
const spawned: PipelineWorkerProcess[] = [];
// Registered after the context: runs before its database is dropped.
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop(2000)));
});
// A test that failed half-way must not leave its worker processes claiming the next test's jobs.
afterEach(async () => {
  await Promise.all(spawned.splice(0).map((p) => p.stop(2000)));
});

// A 4 s lease (a heartbeat every second): a killed worker's jobs come back soon, while a live one
// under a fully loaded CI machine (ffmpeg on every core) still renews in time.
async function spawn(options: Parameters<typeof spawnPipelineWorker>[1] = {}) {
  const p = await spawnPipelineWorker(ctx, {
    leaseMs: 4000,
    rescueIntervalMs: 500,
    concurrency: 2,
    ...options,
    env: { ...METERED, ...options.env },
  });
  spawned.push(p);
  return p;
}

/** Jobs the worker holds right now (running under its lease). */
async function heldBy(workerId: string) {
  const { rows } = await sql<{
    id: string;
    kind: string;
    payload: { stage?: string; shot_id?: string };
    attempt: number;
  }>`
    select id, kind, payload, attempt from jobs where state = 'running' and locked_by = ${workerId}`.execute(ctx.db);
  return rows;
}

/** Waits until `stage` of the run is running and the worker holds a job of it; returns those jobs. */
async function whileRunning(token: string, runId: string, stage: string, worker: PipelineWorkerProcess, kind: string) {
  return waitUntil(
    `stage ${stage} to run in worker ${worker.pid}`,
    async () => {
      const run = (await ctx.call("GET", `/api/v1/runs/${runId}`, { token })).json.data;
      if (!["queued", "running"].includes(run.status))
        throw new Error(`run ended ${run.status} before ${stage} ran: ${JSON.stringify(run.error)}`);
      if (run.stages.find((s: { stage: string }) => s.stage === stage).status !== "running") return null;
      const all = await heldBy(worker.workerId);
      const held = all.filter((j) => j.kind === kind && j.payload.stage === stage);
      // A shot job of the stage, once the stage job itself is done (its own crash window is the third test's).
      if (kind === "pipeline.shot" && all.some((j) => j.kind === "pipeline.stage")) return null;
      return held.length ? held : null;
    },
    WAIT_MS,
    10,
  );
}

const runJobs = (runId: string) => sharedRunJobs(ctx, runId);
const fanOut = (runId: string) => sharedFanOut(ctx, runId);
const checkIntegrity = (projectId: string, runId: string) => checkRunIntegrity(ctx, { projectId, runId });

async function playable(token: string, exportId: string) {
  const ex = (await ctx.call("GET", `/api/v1/exports/${exportId}`, { token })).json.data;
  const video = ex.files.find((f: { file_type: string }) => f.file_type === "video");
  const res = await fetchSigned(ctx, video.download_url);
  expect(res.status).toBe(200);
  const path = join(mkdtempSync(join(tmpdir(), "inkreel-crash-")), "v.mp4");
  await Bun.write(path, await res.arrayBuffer());
  const info = await probe(path);
  expect(info.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"]);
  expect(Math.abs(info.durationS - video.duration_s)).toBeLessThan(0.1);
}

describe("a worker process killed mid-run", () => {
  test("during keyframes: another worker process rescues its jobs and the run completes, nothing duplicated or lost", async () => {
    const me = await ctx.register("crash");
    const first = await spawn();
    const { projectId, runId } = await startStoryRun(ctx, me.token);
    const held = await whileRunning(me.token, runId, "keyframes", first, "pipeline.shot");
    expect(await first.kill9()).toBeNull(); // killed by a signal, not exited
    // Its jobs are still "running" under a lease nobody renews.
    const orphaned = (
      await sql<{ id: string }>`select id from jobs where state = 'running' and locked_by = ${first.workerId}`.execute(
        ctx.db,
      )
    ).rows.map((r) => r.id);
    expect(orphaned.length).toBeGreaterThan(0);
    expect(held.length).toBeGreaterThan(0);

    await spawn();
    const run = await ctx.waitForRun(me.token, runId, ["completed", "failed", "cancelled"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");
    // The dead worker's jobs were taken over (rescued) and completed on a later attempt.
    for (const id of orphaned) {
      const h = await ctx.db
        .selectFrom("job_history")
        .select(["state", "attempt"])
        .where("id", "=", id)
        .executeTakeFirst();
      expect(h?.state).toBe("completed");
      expect(h!.attempt).toBeGreaterThanOrEqual(2);
    }
    await checkIntegrity(projectId, runId);
    await checkRunSettlement(ctx, runId, POINTS);
    await playable(me.token, run.export_id);
  });

  test("during clips: the rescued shot jobs settle once, settled equals provider usage, nothing stays held", async () => {
    const me = await ctx.register("crash-clips");
    const first = await spawn();
    const { projectId, runId } = await startStoryRun(ctx, me.token);
    const held = await whileRunning(me.token, runId, "clips", first, "pipeline.shot");
    expect(held.length).toBeGreaterThan(0);
    expect(await first.kill9()).toBeNull();
    await spawn();
    const run = await ctx.waitForRun(me.token, runId, ["completed", "failed", "cancelled"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");
    for (const j of held) {
      const h = await ctx.db
        .selectFrom("job_history")
        .select(["state", "attempt"])
        .where("id", "=", j.id)
        .executeTakeFirst();
      expect(h?.state).toBe("completed");
      expect(h!.attempt).toBeGreaterThanOrEqual(2);
    }
    await checkIntegrity(projectId, runId);
    const { estimate, settled } = await checkRunSettlement(ctx, runId, POINTS);
    console.log(JSON.stringify({ crash_during_clips: { estimate_points: estimate, settled_points: settled } }));
  });

  test("during the export render: the lease expires, rescueExpired returns the job, an in-process worker finishes the video", async () => {
    const me = await ctx.register("crash");
    const first = await spawn({ concurrency: 4 });
    const { projectId, runId } = await startStoryRun(ctx, me.token);
    await whileRunning(me.token, runId, "export", first, "pipeline.stage");
    await first.kill9();
    // Nobody is left to rescue it: the test does, once the 4 s lease has expired.
    const rescued = await waitUntil("the export job's lease to expire", () => rescueExpired(ctx.db), WAIT_MS, 100);
    expect(Number(rescued)).toBe(1);
    const back = await sql<{
      state: string;
      kind: string;
      attempt: number;
    }>`select state, kind, attempt from jobs where payload->>'run_id' = ${runId}`.execute(ctx.db);
    expect(back.rows).toEqual([{ state: "ready", kind: "pipeline.stage", attempt: 1 }]);

    const inProcess = await ctx.startWorker();
    const run = await ctx
      .waitForRun(me.token, runId, ["completed", "failed", "cancelled"])
      .finally(() => inProcess.stop());
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");
    await checkIntegrity(projectId, runId);
    // The export's files are each one asset, stored once, under the export.
    const files = await ctx.db
      .selectFrom("assets")
      .select(["kind", "storage_key"])
      .where("project_id", "=", projectId)
      .where("kind", "like", "export_%")
      .execute();
    expect(files.map((f) => f.kind).sort()).toEqual(["export_cover", "export_subtitle", "export_video"]);
    const stored = (await ctx.deps.storage.list(`projects/${projectId}/exports/`)).map((o) => o.key).sort();
    expect(stored).toEqual(files.map((f) => f.storage_key).sort());
    await playable(me.token, run.export_id);
  });

  test("dies right after the keyframes stage fanned out, before its completion was recorded: the redelivered stage job does not fan out again", async () => {
    const me = await ctx.register("crash");
    // The narrowest crash window, made deterministic: the process SIGKILLs itself the moment the
    // keyframes stage job has enqueued its shot jobs and join, before the queue hears it finished.
    const first = await spawn({ dieAfter: { kind: "pipeline.stage", stage: "keyframes" } });
    const { projectId, runId } = await startStoryRun(ctx, me.token);
    // It dies by itself (the test's timeout is the deadline).
    await first.exited;
    expect(first.proc.signalCode).toBe("SIGKILL");
    const shots = (
      await ctx.db
        .selectFrom("package_shots")
        .innerJoin("runs", "runs.package_id", "package_shots.package_id")
        .select("shot_id")
        .where("runs.id", "=", runId)
        .execute()
    ).length;
    expect(shots).toBeGreaterThan(1);
    // The stage job is still leased to the dead worker; its shot jobs and join are queued.
    expect((await runJobs(runId)).filter((j) => j.kind === "pipeline.stage" && j.state === "running")).toHaveLength(1);

    // The lease expires and the rescuer returns the job. With real providers a stage takes minutes,
    // so the redelivered job runs long before the run ends; the local ones are so fast that the
    // test puts it first in line (no backoff) to get that same order.
    await waitUntil("the dead worker's lease to expire", () => rescueExpired(ctx.db), WAIT_MS, 100);
    await sql`update jobs set run_at = now() - interval '1 hour' where payload->>'run_id' = ${runId} and kind = 'pipeline.stage'`.execute(
      ctx.db,
    );
    const stageJob = (
      await sql<{
        id: string;
        state: string;
        attempt: number;
      }>`select id, state, attempt from jobs where payload->>'run_id' = ${runId} and kind = 'pipeline.stage'`.execute(
        ctx.db,
      )
    ).rows;
    expect(stageJob).toMatchObject([{ state: "ready", attempt: 1 }]);

    await spawn();
    const run = await ctx.waitForRun(me.token, runId, ["completed", "failed", "cancelled"]);
    expect(run.status).toBe("completed");
    await waitUntil(
      `no job of run ${runId} to remain`,
      async () => (await runJobs(runId)).length === 0,
      WAIT_MS,
      100,
    ).catch(() => {});
    // At-least-once delivery: the keyframes stage job ran twice, but its work (one job per shot,
    // one join, one next stage, one export) must exist once.
    const redelivered = await ctx.db
      .selectFrom("job_history")
      .select(["state", "attempt"])
      .where("id", "=", stageJob[0]!.id)
      .executeTakeFirst();
    expect(redelivered).toEqual({ state: "completed", attempt: 2 });
    const jobs = await fanOut(runId);
    const once: Record<string, number> = {};
    for (const stage of STAGES) {
      once[`pipeline.stage:${stage}`] = 1;
      if (PER_SHOT.has(stage)) {
        once[`pipeline.shot:${stage}`] = shots;
        once[`pipeline.join:${stage}`] = 1;
      }
    }
    expect(jobs).toEqual(once);
    const exports = await ctx.db.selectFrom("exports").select("id").where("project_id", "=", projectId).execute();
    expect(exports).toEqual([{ id: run.export_id }]);
    await checkIntegrity(projectId, runId);
  });
});
