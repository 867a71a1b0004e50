import { sql } from "kysely";
import type { Config } from "../../config.ts";
import { notFound } from "../../core/errors.ts";
import { FINISHED_TASK, type TaskKind, type TaskStatus } from "../../core/generation-task.ts";
import { page } from "../../core/page.ts";
import type { Db } from "../../db/client.ts";
import type { TaskRow } from "../../pipeline/tasks.ts";
import { requireProject } from "../../services/project-access.ts";
import { limitRequest } from "../../services/usage-limits.ts";
import type { Storage } from "../../storage/types.ts";

const LINK_TTL_S = 3600;

/** What a limited read needs: the database, links to sign, and the tiers' limits (seed 001's task limits). */
type LimitDeps = { db: Db; storage: Storage; config: Config };

/** A task with how its job ended, when the queue finished the job without the task knowing (an admin cancel, lost leases). */
type TaskWithJob = TaskRow & { job_state: string | null; job_error: unknown };

function tasks(db: Db) {
  return db
    .selectFrom("generation_tasks")
    .leftJoin("job_history", "job_history.id", "generation_tasks.job_id")
    .selectAll("generation_tasks")
    .select(["job_history.state as job_state", "job_history.last_error as job_error"]);
}

/**
 * What the creator is told: the task's own state, except that a task whose job the queue ended
 * as failed or cancelled (so no handler could say so) shows that ending.
 */
function effective(row: TaskWithJob): { status: TaskStatus; error: { code: string; message: string } | null } {
  if (FINISHED_TASK.includes(row.status) || (row.job_state !== "failed" && row.job_state !== "cancelled"))
    return { status: row.status, error: row.error };
  if (row.job_state === "cancelled") return { status: "cancelled", error: null };
  // The queue records `{message, name?}` (queue/finish.ts).
  const recorded = (row.job_error as { message?: unknown } | null)?.message;
  const message = typeof recorded === "string" ? recorded : "the job failed";
  return { status: "failed", error: { code: "GENERATION_FAILED", message: message.slice(0, 500) } };
}

async function taskView(storage: Storage, row: TaskWithJob) {
  const { status, error } = effective(row);
  const assets = row.result
    ? await Promise.all(
        row.result.assets.map(async (a) => {
          const { url, expiresAt } = await storage.signedUrl(a.storage_key, LINK_TTL_S);
          return { asset_id: a.asset_id, mime_type: a.mime_type, url, expires_at: expiresAt.toISOString() };
        }),
      )
    : null;
  return {
    id: row.id,
    project_id: row.project_id,
    package_id: row.package_id,
    parent_id: row.parent_id,
    job_id: row.job_id,
    kind: row.kind,
    target: row.target,
    params: row.params,
    status,
    progress: status === "completed" ? 100 : row.progress,
    result: assets ? { assets } : null,
    error,
    cost_estimate_usd: row.cost_estimate_usd === null ? null : Number(row.cost_estimate_usd),
    created_at: row.created_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    finished_at: row.finished_at?.toISOString() ?? null,
  };
}

export interface TaskFilter {
  status?: TaskStatus;
  kind?: TaskKind;
  page?: number;
  page_size?: number;
}

/** A project's generation tasks, latest first (a batch's children are listed under it, not here). */
export async function listTasks(
  deps: LimitDeps,
  { userId, projectId }: { userId: string; projectId: string },
  f: TaskFilter,
) {
  const { db, storage } = deps;
  await requireProject(db, { userId, projectId }, "viewer");
  await limitRequest(deps, { userId, metric: "task_lists_per_hour" });
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  let base = db
    .selectFrom("generation_tasks")
    .where("generation_tasks.project_id", "=", projectId)
    .where("generation_tasks.parent_id", "is", null);
  if (f.status) base = base.where("generation_tasks.status", "=", f.status);
  if (f.kind) base = base.where("generation_tasks.kind", "=", f.kind);
  const ids = base.select("generation_tasks.id");
  const [rows, count] = await Promise.all([
    tasks(db)
      .where("generation_tasks.id", "in", ids)
      .orderBy("generation_tasks.created_at", "desc")
      .orderBy("generation_tasks.id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    base.select(sql<number>`count(*)::int`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(await Promise.all(rows.map((r) => taskView(storage, r))), count.n, pageNo, size);
}

/** One task, if the caller may see its project (404 otherwise); a batch comes with its per-clip tasks. */
export async function getTask(deps: LimitDeps, { userId, taskId }: { userId: string; taskId: string }) {
  const { db, storage } = deps;
  const row = await tasks(db).where("generation_tasks.id", "=", taskId).executeTakeFirst();
  if (!row) throw notFound("task");
  await requireProject(db, { userId, projectId: row.project_id }, "viewer").catch(() => {
    throw notFound("task");
  });
  await limitRequest(deps, { userId, metric: "task_polls_per_hour" });
  const children =
    row.kind === "video_batch"
      ? await tasks(db)
          .where("generation_tasks.parent_id", "=", row.id)
          .orderBy("generation_tasks.created_at")
          .orderBy("generation_tasks.id")
          .execute()
      : [];
  const views = await Promise.all(children.map((c) => taskView(storage, c)));
  return {
    ...(await taskView(storage, row)),
    children: views,
    total_clips: views.length,
    completed_clips: views.filter((v) => v.status === "completed").length,
    failed_clips: views.filter((v) => v.status === "failed" || v.status === "cancelled").length,
  };
}
