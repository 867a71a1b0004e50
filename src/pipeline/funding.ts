import { sql } from "kysely";
import { AppError } from "../core/errors.ts";
import { STAGES, type Stage, type StepFailure } from "../core/stages.ts";
import type { Db } from "../db/client.ts";
import { openChargeOf, roundPoints, tierOf, topUp } from "../providers/compute-ledger.ts";
import { appendEvent } from "../realtime/events.ts";
import type { PipelineDeps } from "./context.ts";
import { estimateRun } from "./estimate.ts";
import { retryRun } from "./orchestrate.ts";
import { finishRun, type RunRow, runProgress } from "./run-state.ts";
import { PIPELINE_QUEUE } from "./stage-job.ts";

/** Why a paused run waits (its error's `code`): its stages need more compute power than it holds and the balance has. */
export const QUOTA_PAUSE = "QUOTA_INSUFFICIENT";

/** The stages a run has left from `stage` on (up to its `to_stage` in step mode). */
function stagesLeft(run: RunRow, stage: Stage): Stage[] {
  const last = STAGES.indexOf(run.mode === "step" && run.to_stage ? (run.to_stage as Stage) : "export");
  return run.stages
    .filter((s) => s.status === "pending" || s.stage === stage)
    .map((s) => s.stage)
    .filter((s) => STAGES.indexOf(s) >= STAGES.indexOf(stage) && STAGES.indexOf(s) <= last);
}

/**
 * Before a stage of a paid run starts: what the stages left will cost now (today's chains and
 * prices, the real storyboard) against what the run's charge still holds. The difference is
 * topped up from the balance; when the balance cannot cover it, the run pauses (`quotaPause`)
 * instead of spending what it was not given. True when the stage may start.
 */
export async function fundStage(
  deps: PipelineDeps,
  run: RunRow,
  w: { stage: Stage; jobId: string; attempt: number },
): Promise<boolean> {
  const { db } = deps;
  const charge = await openChargeOf(db, run.id);
  // Nothing was reserved for it (a run started without a payer): nothing to keep within.
  if (!charge || !run.created_by) return true;
  const project = await db
    .selectFrom("projects")
    .select(["space_id", "input_text"])
    .where("id", "=", run.project_id)
    .executeTakeFirstOrThrow();
  const providers = await deps.providers.forScope({ userId: run.created_by, spaceId: project.space_id });
  const estimate = await estimateRun(db, deps.config.compute, providers, {
    packageId: run.package_id,
    inputText: project.input_text,
    stages: stagesLeft(run, w.stage),
  });
  const short = roundPoints(estimate.points - Number(charge.held));
  if (short <= 0) return true;
  const { unlimited } = await tierOf(db, run.created_by);
  const usd = estimate.points > 0 ? (estimate.usd * short) / estimate.points : 0;
  const funded = await db
    .transaction()
    .execute((trx) =>
      topUp(trx, { chargeId: charge.id, ref: `${w.jobId}:${w.attempt}`, points: short, usd, unlimited }),
    );
  if (funded) return true;
  await quotaPause(db, run, { stage: w.stage, required: short, accountId: charge.account_id });
  return false;
}

/**
 * Pauses a run at `stage` for want of compute power: the stage marked with why, the run paused
 * with its hold kept, and a `quota_insufficient` event (seed 003's `quota.insufficient`) saying
 * how much more it needs — one transaction. Points arriving on the account resume it.
 */
async function quotaPause(
  db: Db,
  run: RunRow,
  p: { stage: Stage; required: number; accountId: string },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // The batch's row before the run's, the order finishRun and releaseHeld take them in.
    if (run.batch_id)
      await trx.selectFrom("series_batches").select("id").where("id", "=", run.batch_id).forUpdate().execute();
    const now = await trx.selectFrom("runs").selectAll().where("id", "=", run.id).forUpdate().executeTakeFirstOrThrow();
    if (now.status !== "queued" && now.status !== "running") return;
    const { balance } = await trx
      .selectFrom("compute_accounts")
      .select("balance")
      .where("id", "=", p.accountId)
      .executeTakeFirstOrThrow();
    const remaining = Math.max(0, Number(balance));
    const error: StepFailure = {
      code: QUOTA_PAUSE,
      message: `compute power ran out: the stages left need ${p.required} points more than the run holds, and ${remaining} are free; it goes on when points are added`,
    };
    const stages = now.stages.map((s) => (s.stage === p.stage ? { ...s, status: "failed" as const, error } : s));
    await trx
      .updateTable("runs")
      .set({ stages: JSON.stringify(stages) })
      .where("id", "=", run.id)
      .execute();
    await finishRun(trx, run.id, "paused", { stage: p.stage, ...error }, { keepHold: true });
    await appendEvent(trx, "quota_insufficient", {
      project_id: run.project_id,
      run_id: run.id,
      stage: p.stage,
      status: "paused",
      progress: runProgress(stages),
      current_step: null,
      message: error.message,
      required: p.required,
      remaining,
      ...(run.episode_id ? { episode_id: run.episode_id } : {}),
    });
  });
}

/** The job that resumes an account's runs paused for want of points, queued in the transaction that credits it. */
export const resumeFundedJob = (accountId: string) => ({
  kind: "pipeline.resume_funded",
  queue: PIPELINE_QUEUE,
  payload: { account_id: accountId },
  maxAttempts: 3,
});

/**
 * Points arrived: the account's runs paused by `quotaPause` go on at the stage they stopped at,
 * oldest first (each tops up again as it starts, and pauses again if the points do not cover it).
 * A run that cannot go on now (another run of its project started meanwhile) stays paused.
 */
export async function resumeFunded(db: Db, accountId: string): Promise<string[]> {
  const paused = await db
    .selectFrom("runs")
    .innerJoin("compute_charges", "compute_charges.subject_id", "runs.id")
    .select("runs.id")
    .where("compute_charges.account_id", "=", accountId)
    .where("compute_charges.status", "=", "open")
    .where("runs.status", "=", "paused")
    .where(sql<string>`runs.error->>'code'`, "=", QUOTA_PAUSE)
    .orderBy("runs.created_at")
    .execute();
  const resumed: string[] = [];
  for (const r of paused) {
    try {
      await retryRun(db, r.id);
      resumed.push(r.id);
    } catch (e) {
      if (!(e instanceof AppError && e.status === 409)) throw e;
    }
  }
  return resumed;
}
