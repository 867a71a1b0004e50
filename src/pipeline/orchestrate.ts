import type { Transaction } from "kysely";
import { conflict, validation } from "../core/errors.ts";
import { STAGES, type Stage, type StageState } from "../core/stages.ts";
import type { Db } from "../db/client.ts";
import type { Database } from "../db/types.ts";
import { closeChargesOf } from "../providers/compute-ledger.ts";
import { cancelJob, enqueue } from "../queue/index.ts";
import { appendEvent } from "../realtime/events.ts";
import { newPackageVersion } from "./packages.ts";
import { finishRun, getRun, liveRunJobs, type RunRow } from "./run-state.ts";
import { stageJob } from "./stage-job.ts";

export interface RunWorkToPay {
  runId: string;
  packageId: string;
  inputText: string;
  stages: Stage[];
}

export interface StartRun {
  projectId: string;
  userId: string;
  mode: "auto" | "step";
  fromStage?: Stage;
  toStage?: Stage;
  /**
   * Reserves what the run will cost (compute power) in the transaction that queues it; a refusal
   * (402) rolls the run back. Told the run, its package, the story and the stages it will run.
   */
  pay?: (trx: Db, work: RunWorkToPay) => Promise<unknown>;
  /** Queue priority of the run's jobs (the payer's tier; lower runs first, default 0). */
  priority?: number;
}

/** Where a run continuing a package starts: the first stage its last run did not complete. */
export async function continueFrom(db: Db, packageId: string): Promise<Stage> {
  const last = await db
    .selectFrom("runs")
    .select("stages")
    .where("package_id", "=", packageId)
    .orderBy("created_at", "desc")
    .executeTakeFirst();
  const stages = last?.stages ?? [];
  return (
    STAGES.find((s) => !["completed", "skipped"].includes(stages.find((x) => x.stage === s)?.status ?? "")) ?? "export"
  );
}

/** The stages from `from` to `to`, in order. */
export const stagesBetween = (from: Stage, to: Stage) =>
  STAGES.filter((s) => STAGES.indexOf(s) >= STAGES.indexOf(from) && STAGES.indexOf(s) <= STAGES.indexOf(to));

/**
 * Starts a run of the default workflow. Without `from_stage` a project with no package starts
 * from the beginning into version 1, and one with a package continues from the first stage its
 * package still lacks; with `from_stage` everything from that stage is redone into a new package
 * version copied from the active one, which stays as it was.
 */
export async function startRun(db: Db, r: StartRun): Promise<RunRow> {
  return db.transaction().execute((trx) => startRunIn(trx, r));
}

/** startRun inside the caller's transaction (a project created and started in one commit). */
export async function startRunIn(trx: Transaction<Database>, r: StartRun): Promise<RunRow> {
  if (r.fromStage && r.toStage && STAGES.indexOf(r.toStage) < STAGES.indexOf(r.fromStage)) {
    throw validation([{ path: "/to_stage", message: `"${r.toStage}" comes before from_stage "${r.fromStage}"` }]);
  }
  const project = await trx
    .selectFrom("projects")
    .selectAll()
    .where("id", "=", r.projectId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (!project.has_input) throw conflict("the project has no story yet: give it one with POST /projects/:id/input");
  const busy = await trx
    .selectFrom("runs")
    .select("id")
    .where("project_id", "=", r.projectId)
    .where("episode_id", "is", null)
    .where("status", "in", ["queued", "running"])
    .executeTakeFirst();
  if (busy) throw conflict("the project already has a run in progress", { run_id: busy.id });
  let packageId = project.active_package_id;
  let from: Stage = r.fromStage ?? "storyline";
  if (!packageId) {
    packageId = await newPackageVersion(trx, { projectId: project.id, fromPackageId: null });
    from = "storyline";
  } else if (r.fromStage) {
    packageId = await newPackageVersion(trx, { projectId: project.id, fromPackageId: packageId });
  } else {
    from = await continueFrom(trx, packageId);
  }
  const to = r.toStage ?? "export";
  if (STAGES.indexOf(to) < STAGES.indexOf(from))
    throw conflict(`to_stage "${to}" comes before the first stage to run, "${from}"`);
  const stages: StageState[] = STAGES.map((stage) => ({
    stage,
    status: STAGES.indexOf(stage) < STAGES.indexOf(from) ? "completed" : "pending",
    progress: STAGES.indexOf(stage) < STAGES.indexOf(from) ? 100 : 0,
  }));
  const run = await trx
    .insertInto("runs")
    .values({
      project_id: project.id,
      package_id: packageId,
      created_by: r.userId,
      mode: r.mode,
      from_stage: r.fromStage ?? null,
      to_stage: r.mode === "step" ? to : null,
      stages: JSON.stringify(stages),
      priority: r.priority ?? 0,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .updateTable("projects")
    .set({ status: "generating", active_package_id: packageId, stage: from, progress: 0, updated_at: new Date() })
    .where("id", "=", project.id)
    .execute();
  if (r.pay)
    await r.pay(trx, {
      runId: run.id,
      packageId,
      inputText: project.input_text,
      stages: stagesBetween(from, to),
    });
  await enqueue(trx, stageJob(run, from));
  await appendEvent(trx, "stage", {
    project_id: project.id,
    run_id: run.id,
    stage: from,
    status: "queued",
    progress: 0,
    current_step: null,
  });
  return run;
}

/** Stops a run: its stages are marked cancelled and every job of it still queued or running is cancelled (running ones abort). */
export async function cancelRun(db: Db, runId: string): Promise<RunRow> {
  const run = await getRun(db, runId);
  if (!run) throw new Error("no such run");
  if (!["queued", "running", "paused"].includes(run.status)) throw conflict(`the run is already ${run.status}`);
  const done = await finishRun(db, runId, "cancelled");
  for (const id of await liveRunJobs(db, runId)) await cancelJob(db, id);
  return done;
}

/**
 * Re-opens a failed (or cancelled) run at its failed stage: the stage runs again (shots already
 * made are reused by digest) and the run carries on from there.
 */
export async function retryRun(db: Db, runId: string, pay?: StartRun["pay"]): Promise<RunRow> {
  return reopen(db, { runId, pay }, (stages) => {
    const failed = stages.find((s) => s.status === "failed" || s.status === "cancelled");
    if (!failed) throw conflict("the run has no failed stage to retry");
    return {
      stages: stages.map((s) =>
        STAGES.indexOf(s.stage) >= STAGES.indexOf(failed.stage) && s.status !== "completed" && s.status !== "skipped"
          ? { stage: s.stage, status: "pending", progress: 0 }
          : s,
      ),
      next: failed.stage,
    };
  });
}

/** Skips one stage of a failed or paused run and carries on with the next stage still to do. */
export async function skipStage(db: Db, runId: string, stage: Stage, pay?: StartRun["pay"]): Promise<RunRow> {
  if (stage === "storyboard" || stage === "storyline")
    throw conflict(`the ${stage} stage cannot be skipped: everything after it depends on it`);
  return reopen(db, { runId, pay }, (stages) => {
    const target = stages.find((s) => s.stage === stage)!;
    if (!["failed", "pending", "cancelled"].includes(target.status))
      throw conflict(`the ${stage} stage is ${target.status}`);
    const next = stages.map((s) =>
      s.stage === stage
        ? { stage, status: "skipped" as const, progress: 100 }
        : STAGES.indexOf(s.stage) > STAGES.indexOf(stage) && (s.status === "failed" || s.status === "cancelled")
          ? { stage: s.stage, status: "pending" as const, progress: 0 }
          : s,
    );
    const following = STAGES.find(
      (s) =>
        next.find((x) => x.stage === s)!.status === "pending" || next.find((x) => x.stage === s)!.status === "failed",
    );
    return { stages: next, next: following ?? null };
  });
}

/** Re-queues a stopped run at `next`; `pay` reserves what the stages left to run will cost (a paused run's hold was released). */
async function reopen(
  db: Db,
  { runId, pay }: { runId: string; pay?: StartRun["pay"] },
  plan: (stages: StageState[]) => { stages: StageState[]; next: Stage | null },
): Promise<RunRow> {
  const updated = await db.transaction().execute(async (trx) => {
    const run = await trx.selectFrom("runs").selectAll().where("id", "=", runId).forUpdate().executeTakeFirstOrThrow();
    if (!["failed", "cancelled", "paused"].includes(run.status)) throw conflict(`the run is ${run.status}`);
    // The project's runs exclude each other; an episode's exclude only that episode's.
    const busy = await trx
      .selectFrom("runs")
      .select("id")
      .where("project_id", "=", run.project_id)
      .where((eb) => (run.episode_id ? eb("episode_id", "=", run.episode_id) : eb("episode_id", "is", null)))
      .where("status", "in", ["queued", "running"])
      .executeTakeFirst();
    if (busy)
      throw conflict(`${run.episode_id ? "the episode" : "the project"} already has a run in progress`, {
        run_id: busy.id,
      });
    const { stages, next } = plan(run.stages);
    if (!next) {
      await trx
        .updateTable("runs")
        .set({ stages: JSON.stringify(stages) })
        .where("id", "=", runId)
        .execute();
      return { ...run, stages, next };
    }
    await trx
      .updateTable("runs")
      .set({ status: "running", stages: JSON.stringify(stages), error: null, finished_at: null })
      .where("id", "=", runId)
      .execute();
    if (!run.episode_id)
      await trx
        .updateTable("projects")
        .set({ status: "generating", active_package_id: run.package_id, updated_at: new Date() })
        .where("id", "=", run.project_id)
        .execute();
    if (pay) {
      // What it still holds (a run paused for want of points keeps its hold) gives way to the new estimate.
      await closeChargesOf(trx, runId, "release");
      const project = await trx
        .selectFrom("projects")
        .select("input_text")
        .where("id", "=", run.project_id)
        .executeTakeFirstOrThrow();
      await pay(trx, {
        runId,
        packageId: run.package_id!,
        inputText: project.input_text,
        stages: stages.filter((s) => s.status === "pending").map((s) => s.stage),
      });
    }
    await enqueue(trx, stageJob(run, next));
    await appendEvent(trx, "stage", {
      project_id: run.project_id,
      run_id: runId,
      stage: next,
      status: "queued",
      progress: run.progress,
      current_step: run.current_step,
    });
    return { ...run, stages, next };
  });
  if (!updated.next) return finishRun(db, runId, "completed");
  return (await getRun(db, runId))!;
}
