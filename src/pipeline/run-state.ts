import type { Selectable } from "kysely";
import { sql } from "kysely";
import type { ProjectEventName } from "../core/project-event.ts";
import { STAGES, type Stage, type StageState, type StepFailure, WEIGHT } from "../core/stages.ts";
import type { Db } from "../db/client.ts";
import type { RunStatus, RunsTable } from "../db/types.ts";
import { appendEvent } from "../realtime/events.ts";

/** A run as stored. */
export type RunRow = Selectable<RunsTable>;

export async function getRun(db: Db, runId: string): Promise<RunRow | undefined> {
  return db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirst();
}

/** Overall progress: completed stages by weight, plus the running ones' share. */
export function runProgress(stages: StageState[]): number {
  const total = stages.reduce((s, x) => s + WEIGHT[x.stage], 0);
  const done = stages.reduce(
    (s, x) =>
      s +
      (["completed", "skipped"].includes(x.status)
        ? WEIGHT[x.stage]
        : x.status === "running"
          ? (WEIGHT[x.stage] * x.progress) / 100
          : 0),
    0,
  );
  return Math.min(100, Math.floor((done / total) * 100));
}

const STEP_NAMES: Record<Stage, string> = {
  storyline: "Reading the story",
  art_style: "Choosing the art style",
  characters: "Creating characters",
  scenes: "Building scenes",
  storyboard: "Drawing up the storyboard",
  keyframes: "Painting keyframes",
  voices: "Recording voices",
  clips: "Animating shots",
  music: "Composing music",
  export: "Rendering the video",
};

type StagePatch = Partial<Omit<StageState, "stage">>;

/**
 * Changes one stage of a run (row-locked, so concurrent shot jobs never lose each other's
 * updates), recomputes the run's progress, mirrors it on the project and appends the event.
 * `change` may return null to leave the run as it is (`applied: false`): how a redelivered job
 * finds its work already done. `inside` runs in the same transaction once the change is known
 * (to enqueue what the change starts) and may add to the patch.
 */
export async function updateStage(
  db: Db,
  runId: string,
  stage: Stage,
  change: StagePatch | ((s: StageState) => StagePatch | null),
  message?: string,
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks that only act (enqueue) return nothing
  inside?: (trx: Db, stages: StageState[]) => Promise<StagePatch | void>,
): Promise<RunRow & { applied: boolean }> {
  return db.transaction().execute(async (trx) => {
    const run = await trx.selectFrom("runs").selectAll().where("id", "=", runId).forUpdate().executeTakeFirstOrThrow();
    const before = run.stages.find((s) => s.stage === stage)!;
    let patch = typeof change === "function" ? change(before) : change;
    if (patch === null) return { ...run, applied: false };
    const planned = run.stages.map((s) => (s.stage === stage ? { ...s, ...patch } : s));
    const extra = inside ? await inside(trx, planned) : undefined;
    if (extra) patch = { ...patch, ...extra };
    const event: ProjectEventName = patch.status && patch.status !== before.status ? "stage" : "progress";
    const stages = run.stages.map((s) => (s.stage === stage ? { ...s, ...patch } : s));
    const progress = runProgress(stages);
    const current = STEP_NAMES[stage];
    await trx
      .updateTable("runs")
      .set({ stages: JSON.stringify(stages), progress, current_step: current })
      .where("id", "=", runId)
      .execute();
    await trx
      .updateTable("projects")
      .set({ stage, progress, current_step: current, updated_at: new Date() })
      .where("id", "=", run.project_id)
      .execute();
    const s = stages.find((x) => x.stage === stage)!;
    // Last in the transaction: appendEvent holds the project's event lock until commit.
    await appendEvent(trx, event, {
      project_id: run.project_id,
      run_id: runId,
      stage,
      status: s.status,
      progress,
      current_step: current,
      message,
    });
    return { ...run, stages, progress, current_step: current, applied: true };
  });
}

/** Ends a run (completed, failed or cancelled) or pauses it, with the project's status to match. */
export async function finishRun(
  db: Db,
  runId: string,
  status: Exclude<RunStatus, "queued" | "running">,
  error?: StepFailure & { stage?: string },
) {
  // Inside a caller's transaction (deleting a project cancels its runs in the delete's own), join it.
  const atomically = <T>(body: (trx: Db) => Promise<T>) =>
    db.isTransaction ? body(db) : db.transaction().execute(body);
  return atomically(async (trx) => {
    const run = await trx.selectFrom("runs").selectAll().where("id", "=", runId).forUpdate().executeTakeFirstOrThrow();
    if (["completed", "failed", "cancelled"].includes(run.status)) return run;
    const stages =
      status === "cancelled"
        ? run.stages.map((s) =>
            s.status === "running" || s.status === "pending" ? { ...s, status: "cancelled" as const } : s,
          )
        : run.stages;
    const progress = status === "completed" ? 100 : runProgress(stages);
    await trx
      .updateTable("runs")
      .set({
        status,
        stages: JSON.stringify(stages),
        progress,
        error: error ? JSON.stringify(error) : null,
        finished_at: status === "paused" ? null : new Date(),
      })
      .where("id", "=", runId)
      .execute();
    const projectStatus = status === "completed" ? "completed" : status === "failed" ? "failed" : "editing";
    await trx
      .updateTable("projects")
      .set({ status: projectStatus, progress, updated_at: new Date() })
      .where("id", "=", run.project_id)
      .execute();
    const event: ProjectEventName =
      status === "completed"
        ? "completed"
        : status === "failed"
          ? "failed"
          : status === "cancelled"
            ? "cancelled"
            : "stage";
    await appendEvent(trx, event, {
      project_id: run.project_id,
      run_id: runId,
      stage: error?.stage,
      status,
      progress,
      current_step: run.current_step,
      message: error?.message,
    });
    return { ...run, status, stages, progress };
  });
}

/** The stage after `stage` that still has to run, if any. */
export function nextStage(stages: StageState[], stage: Stage): Stage | null {
  const i = STAGES.indexOf(stage);
  for (const s of STAGES.slice(i + 1)) {
    if (stages.find((x) => x.stage === s)?.status === "pending") return s;
  }
  return null;
}

/** Ids of the run's jobs still queued or running. */
export async function liveRunJobs(db: Db, runId: string): Promise<string[]> {
  const rows = await sql<{ id: string }>`select id from jobs where payload->>'run_id' = ${runId}`.execute(db);
  return rows.rows.map((r) => r.id);
}
