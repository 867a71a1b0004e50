import type { Selectable } from "kysely";
import { sql } from "kysely";
import type { ProjectEventName, SeriesProgress } from "../core/project-event.ts";
import { STAGES, type Stage, type StageState, type StepFailure, WEIGHT } from "../core/stages.ts";
import type { Db } from "../db/client.ts";
import type { RunStatus, RunsTable } from "../db/types.ts";
import { closeChargesOf } from "../providers/compute-ledger.ts";
import { enqueue } from "../queue/index.ts";
import { appendEvent } from "../realtime/events.ts";
import { stageJob } from "./stage-job.ts";

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
    // An episode's run writes its own package: the project's status is the season's, not the episode's.
    if (!run.episode_id)
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
      ...(await episodeOfRun(trx, run)),
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
  /** A run paused for want of compute power keeps what it holds: it goes on when points arrive (funding.ts). */
  opts: { keepHold?: boolean } = {},
) {
  // Inside a caller's transaction (deleting a project cancels its runs in the delete's own), join it.
  const atomically = <T>(body: (trx: Db) => Promise<T>) =>
    db.isTransaction ? body(db) : db.transaction().execute(body);
  return atomically(async (trx) => {
    // A batch's row before its run's, the order releaseHeld takes them in (which updates other runs of the batch).
    const { batch_id } = await trx
      .selectFrom("runs")
      .select("batch_id")
      .where("id", "=", runId)
      .executeTakeFirstOrThrow();
    if (batch_id) await trx.selectFrom("series_batches").select("id").where("id", "=", batch_id).forUpdate().execute();
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
    if (!run.episode_id)
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
      ...(await episodeOfRun(trx, run)),
    });
    // What the run reserved and did not use goes back in the same commit; a paused run reserves again when it goes on.
    if (!opts.keepHold)
      await closeChargesOf(trx, runId, status === "failed" || status === "cancelled" ? "refund" : "release");
    // A place in the batch is free (a paused run holds none): the next waiting episode starts, in this commit.
    if (run.batch_id) await releaseHeld(trx, run.batch_id);
    return { ...run, status, stages, progress };
  });
}

/**
 * A queued run becomes running as its stage job starts; false when it is neither (a cancel or a
 * pause committed after the job read it). One conditional UPDATE, so it cannot undo that end.
 */
export async function markRunning(db: Db, runId: string): Promise<boolean> {
  const row = await db
    .updateTable("runs")
    .set({ status: "running" })
    .where("id", "=", runId)
    .where("status", "in", ["queued", "running"])
    .returning("id")
    .executeTakeFirst();
  return !!row;
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

/** An episode run's event fields: its episode and its batch's progress (nothing for the project's own runs). */
async function episodeOfRun(db: Db, run: RunRow): Promise<{ episode_id?: string; series?: SeriesProgress }> {
  if (!run.episode_id) return {};
  return { episode_id: run.episode_id, ...(run.batch_id ? { series: await seriesProgress(db, run.batch_id) } : {}) };
}

/** How far a batch of episode runs has come. */
export async function seriesProgress(db: Db, batchId: string): Promise<SeriesProgress> {
  const rows = await db
    .selectFrom("runs")
    .select(["status", "progress", "held"])
    .where("batch_id", "=", batchId)
    .execute();
  const count = (f: (r: (typeof rows)[number]) => boolean) => rows.filter(f).length;
  const sum = rows.reduce(
    (s, r) => s + (["completed", "failed", "cancelled"].includes(r.status) ? 100 : r.progress),
    0,
  );
  return {
    batch_id: batchId,
    total: rows.length,
    completed: count((r) => r.status === "completed"),
    failed: count((r) => r.status === "failed"),
    in_flight: count((r) => !r.held && (r.status === "queued" || r.status === "running")),
    progress: rows.length ? Math.floor(sum / rows.length) : 100,
  };
}

/**
 * Starts the batch's waiting runs while it has fewer than `parallelism` in flight, in episode
 * order, each at its first pending stage. The batch's row is locked: two runs ending at once
 * would otherwise each count the other as still in flight and leave a place empty, or both take
 * the same one.
 */
export async function releaseHeld(db: Db, batchId: string): Promise<string[]> {
  const batch = await db
    .selectFrom("series_batches")
    .select("parallelism")
    .where("id", "=", batchId)
    .forUpdate()
    .executeTakeFirst();
  if (!batch) return [];
  const flying = await db
    .selectFrom("runs")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("batch_id", "=", batchId)
    .where("held", "=", false)
    .where("status", "in", ["queued", "running"])
    .executeTakeFirstOrThrow();
  const room = batch.parallelism - Number(flying.n);
  if (room <= 0) return [];
  const next = await db
    .selectFrom("runs")
    .innerJoin("episodes", "episodes.id", "runs.episode_id")
    .select(["runs.id", "runs.stages", "runs.priority", "runs.project_id", "episodes.id as episode_id"])
    .where("runs.batch_id", "=", batchId)
    .where("runs.held", "=", true)
    .where("runs.status", "=", "queued")
    .orderBy("episodes.n")
    .limit(room)
    .execute();
  const firsts = [];
  for (const r of next) {
    const first = STAGES.find((s) => r.stages.find((x) => x.stage === s)?.status === "pending") ?? "export";
    await db.updateTable("runs").set({ held: false }).where("id", "=", r.id).execute();
    await enqueue(db, stageJob(r, first));
    firsts.push(first);
  }
  if (next.length === 0) return [];
  const series = await seriesProgress(db, batchId);
  for (const [i, r] of next.entries())
    await appendEvent(db, "stage", {
      project_id: r.project_id,
      run_id: r.id,
      stage: firsts[i],
      status: "queued",
      progress: 0,
      current_step: null,
      episode_id: r.episode_id,
      series,
    });
  return next.map((r) => r.id);
}
