// A stage job that read its run as queued just before a cancel committed must not bring the run
// back to running. The interleaving is forced by state, not by time: the cancel holds the run's
// row lock uncommitted until the job is seen waiting on it in pg_stat_activity.
import { expect, test } from "bun:test";
import { sql } from "kysely";
import { pipelineHandlers } from "../src/pipeline/jobs.ts";
import { cancelRun } from "../src/pipeline/orchestrate.ts";
import type { JobContext } from "../src/queue/types.ts";
import { THREE_CHAPTERS } from "./fixtures/season.ts";
import { pipelineContext } from "./support/pipeline.ts";

const ctx = await pipelineContext();

const jobContext = (): JobContext => ({
  id: crypto.randomUUID(),
  kind: "pipeline.stage",
  attempt: 1,
  signal: new AbortController().signal,
  progress: async () => {},
  heartbeat: async () => {},
  log: ctx.deps.log,
});

/** A new user's run, queued (no worker claims it here). */
async function queuedRun() {
  const me = await ctx.register();
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: THREE_CHAPTERS } },
  });
  const started = await ctx.call("POST", `/api/v1/projects/${created.json.data.id}/runs`, {
    token: me.token,
    body: { mode: "auto" },
  });
  expect(started.status).toBe(202);
  return { me, runId: started.json.data.id as string };
}

test("a cancel that commits while a stage job starts wins: the run stays cancelled and the stage does not run", async () => {
  const { me, runId } = await queuedRun();
  const handler = pipelineHandlers(ctx.pipelineDeps)["pipeline.stage"]!;

  let job: Promise<unknown> | undefined;
  await ctx.db.transaction().execute(async (trx) => {
    await cancelRun(trx, runId);
    // Outside the transaction the run still reads as queued; the job's start has to wait for the lock.
    // (Watched from another connection: a transaction sees one snapshot of pg_stat_activity.)
    job = Promise.resolve(handler({ run_id: runId, stage: "storyline" }, jobContext()));
    for (let seen = 0; seen === 0; ) {
      const waiting = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query ilike 'update "runs"%'`.execute(
        ctx.db,
      );
      seen = waiting.rows[0]!.n;
      if (seen === 0) await Bun.sleep(10);
    }
  });
  expect(await job).toEqual({ skipped: "the run is not running" });

  const run = await ctx.db
    .selectFrom("runs")
    .select(["status", "stages"])
    .where("id", "=", runId)
    .executeTakeFirstOrThrow();
  expect(run.status).toBe("cancelled");
  expect(run.stages.find((s) => s.stage === "storyline")!.status).toBe("cancelled");
  const answered = await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token });
  expect(answered.json.data.status).toBe("cancelled");
});

test("a stage job of a run cancelled before it read the run does nothing", async () => {
  const { runId } = await queuedRun();
  await cancelRun(ctx.db, runId);
  const handler = pipelineHandlers(ctx.pipelineDeps)["pipeline.stage"]!;
  expect(await handler({ run_id: runId, stage: "storyline" }, jobContext())).toEqual({
    skipped: "the run is not running",
  });
  const run = await ctx.db.selectFrom("runs").select("status").where("id", "=", runId).executeTakeFirstOrThrow();
  expect(run.status).toBe("cancelled");
});
