import { sql } from "kysely";
import type { Db } from "../db/client.ts";
import { cancelJob, type EnqueueInput, enqueue } from "../queue/index.ts";
import { cancelRun } from "./orchestrate.ts";

export const DELETE_PREFIX = "storage.delete_prefix";

export interface DeletePrefixPayload {
  /** Ends with "/", so "projects/<id>/" never matches another project's folder. */
  prefix: string;
}

// The maintenance workers' queue (jobs/maintenance.ts sits above this layer; a test checks the two agree).
const FILES_QUEUE = "maintenance";

/**
 * The removal of every stored object under `prefix`, to enqueue in the transaction that deletes
 * the rows pointing at them. With `after`, it waits for those jobs to end (however they end), so
 * a job still writing files when it was cancelled cannot leave one behind. A storage outage can
 * last a while: doubling from a second (capped at an hour) for 15 attempts keeps retrying for
 * about four hours before the job is left failed for an operator to re-drive.
 */
export function deletePrefixJob(prefix: string, after: string[] = []): EnqueueInput {
  if (!prefix.endsWith("/") || prefix === "/") throw new Error(`refusing to delete the storage prefix "${prefix}"`);
  const payload: DeletePrefixPayload = { prefix };
  return {
    kind: DELETE_PREFIX,
    queue: FILES_QUEUE,
    payload,
    maxAttempts: 15,
    backoffMs: 1000,
    timeoutMs: 10 * 60_000,
    parents: after,
    onParentFailure: "proceed",
  };
}

export const DELETE_KEYS = "storage.delete_keys";

export interface DeleteKeysPayload {
  keys: string[];
}

/** The removal of named stored objects (a purged asset's file and thumbnail), to enqueue with the rows' deletion. */
export function deleteKeysJob(keys: string[]): EnqueueInput {
  const payload: DeleteKeysPayload = { keys };
  return { kind: DELETE_KEYS, queue: FILES_QUEUE, payload, maxAttempts: 15, backoffMs: 1000, timeoutMs: 10 * 60_000 };
}

const LIVE_RUN = ["queued", "running", "paused"] as const;

/**
 * Deletes projects with everything they made, inside the caller's transaction: their live runs
 * and standalone exports are cancelled (a run that cannot be cancelled fails the transaction),
 * their rows go, and the removal of their files is enqueued. Whenever the process dies, either
 * all of that happened or none of it did; the files go once every job that might still write
 * one has ended. Returns the ids of the projects it found (and deleted).
 */
export async function removeProjects(trx: Db, projectIds: string[]): Promise<string[]> {
  if (!trx.isTransaction) throw new Error("removeProjects runs inside the caller's transaction");
  if (projectIds.length === 0) return [];
  const liveRuns = () =>
    trx
      .selectFrom("runs")
      .select("id")
      .where("project_id", "in", projectIds)
      .where("status", "in", LIVE_RUN)
      .orderBy("id")
      .forUpdate()
      .execute();
  // Batches before runs before projects: the order a run's end (finishRun) and a stage update take them in.
  await trx
    .selectFrom("series_batches")
    .select("id")
    .where("project_id", "in", projectIds)
    .orderBy("id")
    .forUpdate()
    .execute();
  await liveRuns();
  const found = await trx
    .selectFrom("projects")
    .select("id")
    .where("id", "in", projectIds)
    .orderBy("id")
    .forUpdate()
    .execute();
  if (found.length === 0) return [];
  const ids = found.map((p) => p.id);
  // Starting a run locks its project, so none can start now; one started just before is seen here.
  const runs = await liveRuns();
  for (const r of runs) await cancelRun(trx, r.id);
  const exportJobs = await sql<{ id: string }>`
    select j.id from jobs j join exports e on e.id::text = j.payload->>'export_id'
    where j.kind = 'pipeline.export' and e.project_id = any(${ids}::uuid[]) and e.run_id is null`.execute(trx);
  for (const j of exportJobs.rows) await cancelJob(trx, j.id);
  // Running jobs stay until their handler stops; the files wait for them.
  const running = await sql<{ id: string; project_id: string }>`
    select j.id, coalesce(r.project_id, e.project_id) as project_id
    from jobs j
    left join runs r on r.id::text = j.payload->>'run_id'
    left join exports e on e.id::text = j.payload->>'export_id'
    where coalesce(r.project_id, e.project_id) = any(${ids}::uuid[])`.execute(trx);
  for (const id of ids) {
    const after = running.rows.filter((j) => j.project_id === id).map((j) => j.id);
    await enqueue(trx, deletePrefixJob(`projects/${id}/`, after));
  }
  await trx.deleteFrom("projects").where("id", "in", ids).execute();
  return ids;
}
