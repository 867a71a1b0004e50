import { type Selectable, sql } from "kysely";
import type { TaskError, TaskKind, TaskParams, TaskResult, TaskTarget } from "../core/generation-task.ts";
import type { Db } from "../db/client.ts";
import type { GenerationTasksTable } from "../db/types.ts";
import { closeChargesOf } from "../providers/compute-ledger.ts";
import { type EnqueueInput, enqueueMany } from "../queue/index.ts";
import { appendEvent } from "../realtime/events.ts";
import type { RegenerationWork } from "./estimate.ts";

export type TaskRow = Selectable<GenerationTasksTable>;

/** One thing to make: what, for what, as asked, and the job that makes it (its payload gets `task_id`). */
export interface TaskOrder {
  kind: Exclude<TaskKind, "video_batch">;
  target: TaskTarget;
  params: TaskParams;
  job: Omit<EnqueueInput, "payload"> & { payload: RegenerationWork & Record<string, unknown> };
}

/** What a charge for queued tasks pays for: a batch's children under one charge, else one task. */
export interface TasksToPay {
  packageId: string;
  /** The task whose charge it is (the batch's parent, or the one task); its jobs settle against it. */
  subjectId: string;
  kind: "regenerate" | "batch_video";
  works: RegenerationWork[];
}

/** Reserves what the tasks will cost, in the transaction that queues them (over the balance it throws, and nothing is queued). */
export type TasksPay = (trx: Db, w: TasksToPay) => Promise<void>;

export interface TaskOwner {
  projectId: string;
  packageId: string;
  userId: string;
}

const STEP_NAMES: Record<TaskKind, string> = {
  keyframe: "Painting a new keyframe",
  clip_video: "Making a new clip video",
  video_batch: "Making clip videos",
  character_image: "Drawing a new character sheet",
  scene_image: "Painting a new scene",
  voice: "Speaking the clip's lines again",
  bgm: "Composing background music",
};

async function insertTask(
  trx: Db,
  owner: TaskOwner,
  t: { kind: TaskKind; target: TaskTarget; params: TaskParams; parentId: string | null },
): Promise<TaskRow> {
  return trx
    .insertInto("generation_tasks")
    .values({
      project_id: owner.projectId,
      package_id: owner.packageId,
      user_id: owner.userId,
      parent_id: t.parentId,
      kind: t.kind,
      target: JSON.stringify(t.target),
      params: JSON.stringify(t.params),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function setTaskJob(trx: Db, { taskId, jobId }: { taskId: string; jobId: string }) {
  await trx.updateTable("generation_tasks").set({ job_id: jobId }).where("id", "=", taskId).execute();
}

/**
 * Tasks and their jobs in one transaction (a task without its job, or a job nobody can follow,
 * never exists); with `batch`, a parent task whose children they are. `pay` reserves their cost
 * before any job is queued: one charge for a batch, one per task otherwise. Each job's payload
 * names the task whose charge it settles against (`subject_id`).
 */
export async function queueTasks(
  db: Db,
  owner: TaskOwner,
  orders: TaskOrder[],
  batch?: { target: TaskTarget; params: TaskParams },
  pay?: TasksPay,
): Promise<{ tasks: TaskRow[]; batch: TaskRow | null }> {
  return db.transaction().execute(async (trx) => {
    const parent = batch ? await insertTask(trx, owner, { kind: "video_batch", ...batch, parentId: null }) : null;
    const tasks: TaskRow[] = [];
    for (const o of orders) {
      tasks.push(await insertTask(trx, owner, { ...o, parentId: parent?.id ?? null }));
    }
    const works = orders.map((o) => o.job.payload);
    const { packageId } = owner;
    if (pay && parent) await pay(trx, { packageId, subjectId: parent.id, kind: "batch_video", works });
    else if (pay)
      for (const [i, t] of tasks.entries())
        await pay(trx, { packageId, subjectId: t.id, kind: "regenerate", works: [works[i]!] });
    const jobs = await enqueueMany(
      trx,
      orders.map((o, i) => ({
        ...o.job,
        payload: { ...o.job.payload, task_id: tasks[i]!.id, subject_id: parent?.id ?? tasks[i]!.id },
      })),
    );
    for (const [i, job] of jobs.entries()) {
      await setTaskJob(trx, { taskId: tasks[i]!.id, jobId: job.id });
      tasks[i] = { ...tasks[i]!, job_id: job.id };
    }
    return { tasks, batch: parent };
  });
}

async function logTask(trx: Db, event: "task_progress" | "task_completed" | "task_failed", t: TaskRow) {
  await appendEvent(trx, event, {
    project_id: t.project_id,
    run_id: null,
    status: t.status,
    progress: t.progress,
    current_step: STEP_NAMES[t.kind],
    ...(t.error ? { message: t.error.message } : {}),
    task_id: t.id,
    ...(t.parent_id ? { parent_task_id: t.parent_id } : {}),
    task_kind: t.kind,
    target: t.target,
  });
}

/**
 * The worker took the task's job: processing, with the cost its provider is expected to charge.
 * Null when the task already ended (cancelled, or finished by an earlier attempt): nothing to do.
 */
export async function startTask(
  db: Db,
  { taskId, costEstimateUsd }: { taskId: string; costEstimateUsd: number | null },
): Promise<TaskRow | null> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("generation_tasks")
      .set({
        status: "processing",
        progress: sql<number>`greatest(progress, 5)`,
        started_at: sql<Date>`coalesce(started_at, now())`,
        cost_estimate_usd: costEstimateUsd,
      })
      .where("id", "=", taskId)
      .where("status", "in", ["pending", "processing"])
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await logTask(trx, "task_progress", row);
    if (row.parent_id) await rollUp(trx, row.parent_id);
    return row;
  });
}

/** The task ended: what it made, or why it failed; its batch (if any) is brought up to date. */
export async function finishTask(
  db: Db,
  taskId: string,
  outcome: { result: TaskResult } | { error: TaskError },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const done = "result" in outcome;
    const row = await trx
      .updateTable("generation_tasks")
      .set({
        status: done ? "completed" : "failed",
        progress: done ? 100 : sql<number>`progress`,
        result: done ? JSON.stringify(outcome.result) : null,
        error: done ? null : JSON.stringify(outcome.error),
        finished_at: new Date(),
      })
      .where("id", "=", taskId)
      .where("status", "in", ["pending", "processing"])
      .returningAll()
      .executeTakeFirst();
    if (!row) return;
    await logTask(trx, done ? "task_completed" : "task_failed", row);
    if (row.parent_id) await rollUp(trx, row.parent_id);
    // What the task's hold did not spend goes back (a batch's, when the batch ends).
    else await closeChargesOf(trx, row.id, done ? "release" : "refund");
  });
}

/**
 * A batch's progress is its children's mean; it ends when they all have (failed if any failed,
 * saying how many). The parent row is locked first: two children finishing at once would each
 * count the other as unfinished and the batch would never end. Under READ COMMITTED the count,
 * a later statement than the lock, sees every child committed before the lock was granted.
 */
async function rollUp(trx: Db, parentId: string) {
  const parent = await trx
    .selectFrom("generation_tasks")
    .selectAll()
    .where("id", "=", parentId)
    .forUpdate()
    .executeTakeFirst();
  if (!parent || parent.status === "completed" || parent.status === "failed" || parent.status === "cancelled") return;
  const c = await trx
    .selectFrom("generation_tasks")
    .select([
      sql<number>`count(*)::int`.as("total"),
      sql<number>`count(*) filter (where status = 'completed')::int`.as("completed"),
      sql<number>`count(*) filter (where status in ('failed', 'cancelled'))::int`.as("failed"),
      sql<number>`coalesce(round(avg(case when status in ('completed', 'failed', 'cancelled') then 100 else progress end)), 0)::int`.as(
        "progress",
      ),
    ])
    .where("parent_id", "=", parentId)
    .executeTakeFirstOrThrow();
  const ended = c.completed + c.failed === c.total;
  const status = !ended ? "processing" : c.failed > 0 ? "failed" : "completed";
  const error: TaskError | null =
    ended && c.failed > 0 ? { code: "BATCH_INCOMPLETE", message: `${c.failed} of ${c.total} clips failed` } : null;
  const row = await trx
    .updateTable("generation_tasks")
    .set({
      status,
      progress: c.progress,
      error: error ? JSON.stringify(error) : null,
      started_at: sql<Date>`coalesce(started_at, now())`,
      finished_at: ended ? new Date() : null,
    })
    .where("id", "=", parentId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await logTask(trx, !ended ? "task_progress" : c.failed > 0 ? "task_failed" : "task_completed", row);
  if (ended) await closeChargesOf(trx, parentId, c.failed > 0 ? "refund" : "release");
}
