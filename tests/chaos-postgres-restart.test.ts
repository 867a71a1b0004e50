// The embedded PostgreSQL restarted mid-run. The test has a cluster of its own (the shared one
// serves other files): while a worker process renders keyframes, the cluster is stopped and
// started again on the same data directory and port. While it is down /health answers 503
// degraded; afterwards the worker reconnects, LISTEN is back (a job picked up at once by a worker
// that polls only every minute: its NOTIFY woke it), and the run completes with nothing lost or
// duplicated.
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { STAGES } from "../src/core/stages.ts";
import { createLogger } from "../src/log.ts";
import { createWorker, enqueue, type Worker } from "../src/queue/index.ts";
import {
  type PipelineWorkerProcess,
  pipelineContext,
  spawnPipelineWorker,
  startStoryRun,
  WAIT_MS,
  waitUntil,
} from "./support/pipeline.ts";
import { startRestartableCluster } from "./support/restartable-cluster.ts";
import { checkRunIntegrity, fanOut, onceEach, shotCount } from "./support/run-integrity.ts";

const cluster = await startRestartableCluster();
// Every database of this file is cloned on the test's own cluster.
process.env.INKREEL_TEST_PG_URL = cluster.url;
const ctx = await pipelineContext();
const spawned: PipelineWorkerProcess[] = [];
const probes: Worker[] = [];
// Bun runs afterAll hooks in the order they were registered: this one, last, finds the test
// database dropped and stops the cluster under nothing.
afterAll(async () => {
  await Promise.all([...spawned.map((p) => p.stop(2000)), ...probes.map((w) => w.stop().catch(() => {}))]);
  await cluster.destroy();
});

/** The LISTEN connections on this database, with what each ran last (LISTEN, then its liveness `select 1`). */
const listeners = async () =>
  (
    await sql<{ pid: number; query: string }>`
      select pid, query from pg_stat_activity
      where application_name = 'inkreel-listen' and datname = current_database()`.execute(ctx.db)
  ).rows;

const health = async () => {
  const res = await ctx.call("GET", "/health");
  return { status: res.status, body: res.json };
};

describe("the database restarted mid-run", () => {
  test("health says degraded while it is down; workers reconnect, LISTEN is back, the run completes once", async () => {
    const worker = await spawnPipelineWorker(ctx, { leaseMs: 5000, rescueIntervalMs: 500, concurrency: 2 });
    spawned.push(worker);
    // A worker that polls once a minute: only a NOTIFY gets a job to it in time.
    const probed: Array<{ id: string; at: number }> = [];
    const probe = createWorker({
      connectionString: ctx.url,
      handlers: { "chaos.probe": (_p, job) => void probed.push({ id: job.id, at: performance.now() }) },
      queues: ["chaos"],
      concurrency: 1,
      pollIntervalMs: 60_000,
      log: createLogger("warn", { probe: true }, (l) => process.stderr.write(`${l}\n`)),
    });
    await probe.start();
    probes.push(probe);
    const before = await waitUntil("both workers to LISTEN", async () => {
      const l = await listeners();
      return l.length >= 2 ? l : null;
    });

    const me = await ctx.register("restart");
    const { projectId, runId } = await startStoryRun(ctx, me.token);
    // The positive signal: the worker holds a keyframe job of the run.
    await waitUntil(
      "a keyframes shot job to run in the worker process",
      async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from jobs where state = 'running' and locked_by = ${worker.workerId}
          and kind = 'pipeline.shot' and payload->>'stage' = 'keyframes' and payload->>'run_id' = ${runId}`.execute(
          ctx.db,
        );
        return rows[0]!.n > 0;
      },
      WAIT_MS,
      10,
    );

    await cluster.stop();
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      success: false,
      message: "degraded",
      data: { status: "degraded", database: "disconnected", storage: "connected" },
    });

    await cluster.start();
    const up = await waitUntil("/health to answer 200 again", async () => {
      const h = await health();
      return h.status === 200 ? h : null;
    });
    expect(up.body.data).toMatchObject({ status: "ok", database: "connected" });
    // Both LISTEN connections are new ones (the old backends died with the server) and have
    // passed a liveness query since, so their LISTEN has run.
    const old = new Set(before.map((l) => l.pid));
    await waitUntil(
      "both LISTEN connections to be back",
      async () => {
        const l = (await listeners()).filter((x) => !old.has(x.pid) && x.query === "select 1");
        return l.length === before.length;
      },
      WAIT_MS,
    ).catch(async (e) => {
      throw new Error(
        `${(e as Error).message}: before ${JSON.stringify(before)}, now ${JSON.stringify(await listeners())}\nWORKER exit ${worker.proc.exitCode} ${worker.stderr()}`,
      );
    });
    const t0 = performance.now();
    const job = await enqueue(ctx.db, { kind: "chaos.probe", queue: "chaos" });
    const woke = await waitUntil("the probe job to run", () => probed.find((p) => p.id === job.id), WAIT_MS, 10);
    // Well inside the probe worker's minute of polling: the NOTIFY woke it.
    expect(woke.at - t0).toBeLessThan(5000);

    const run = await ctx.waitForRun(me.token, runId, ["completed", "failed", "cancelled"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");
    expect(worker.proc.exitCode).toBeNull(); // the same process finished it: it reconnected
    await checkRunIntegrity(ctx, { projectId, runId });
    // Every job was made once, however often one ran.
    expect(await fanOut(ctx, runId)).toEqual(onceEach(await shotCount(ctx, runId)));
    // The event log: each stage completed once, the run once, nothing failed.
    const { rows: events } = await sql<{ event: string; stage: string | null; status: string | null }>`
      select event, data->>'stage' as stage, data->>'status' as status from project_events
      where project_id = ${projectId} order by id`.execute(ctx.db);
    expect(events.filter((e) => e.event === "failed")).toEqual([]);
    const completedStages = events.filter((e) => e.event === "stage" && e.status === "completed").map((e) => e.stage);
    expect(completedStages.sort()).toEqual([...STAGES].sort());
  });
});
