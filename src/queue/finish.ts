import { sql } from "kysely";
import type { Db } from "../db/client.ts";

export interface Completion {
  id: string;
  token: string;
  result: unknown;
}

export interface Failure {
  id: string;
  token: string;
  error: { message: string; name?: string; [k: string]: unknown };
  permanent: boolean;
}

/** Records completions in one round trip; returns the ids accepted (stale attempts are not). */
export async function completeJobs(db: Db, done: Completion[]): Promise<Set<string>> {
  if (done.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    select inkreel_jobs_complete(
      ${done.map((d) => d.id)}::uuid[], ${done.map((d) => d.token)}::uuid[],
      ${done.map((d) => JSON.stringify(d.result ?? null))}::jsonb[]) as id`.execute(db);
  return new Set(rows.map((r) => r.id));
}

/** Records failures (retry with backoff, or dead); returns the ids accepted. */
export async function failJobs(db: Db, failed: Failure[]): Promise<Set<string>> {
  if (failed.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    select inkreel_jobs_fail(
      ${failed.map((f) => f.id)}::uuid[], ${failed.map((f) => f.token)}::uuid[],
      ${failed.map((f) => JSON.stringify(f.error))}::jsonb[], ${failed.map((f) => f.permanent)}::boolean[]) as id`.execute(
    db,
  );
  return new Set(rows.map((r) => r.id));
}

/** Puts leased jobs back to ready after `delayMs` without spending their attempt (snooze, shutdown). */
export async function releaseJobs(db: Db, leases: Lease[], delayMs: number): Promise<number> {
  if (leases.length === 0) return 0;
  const res = await sql`
    update jobs j set state = 'ready', attempt = j.attempt - 1, run_at = now() + make_interval(secs => ${delayMs / 1000}),
      lease_token = null, locked_by = null, locked_until = null
    from unnest(${leases.map((l) => l.id)}::uuid[], ${leases.map((l) => l.token)}::uuid[]) as t(id, token)
    where j.id = any(${leases.map((l) => l.id)}::uuid[]) and j.id = t.id and j.lease_token = t.token`.execute(db);
  return Number(res.numAffectedRows ?? 0);
}

export async function finishCancelled(db: Db, id: string, token: string): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`select inkreel_jobs_finish_cancelled(${id}, ${token}) as ok`.execute(db);
  return rows[0]?.ok ?? false;
}

export interface Lease {
  id: string;
  token: string;
}

/**
 * Extends the leases of running attempts. Returns, per id still held, whether a cancel was
 * requested; an id missing from the answer lost its lease (rescued) and must stop.
 */
export async function heartbeatJobs(db: Db, leases: Lease[], leaseMs: number): Promise<Map<string, boolean>> {
  if (leases.length === 0) return new Map();
  const { rows } = await sql<{ id: string; cancel: boolean }>`
    update jobs j set locked_until = now() + make_interval(secs => ${leaseMs / 1000})
    from unnest(${leases.map((l) => l.id)}::uuid[], ${leases.map((l) => l.token)}::uuid[]) as t(id, token)
    where j.id = any(${leases.map((l) => l.id)}::uuid[]) and j.id = t.id and j.lease_token = t.token
    returning j.id, j.cancel_requested_at is not null as cancel`.execute(db);
  return new Map(rows.map((r) => [r.id, r.cancel]));
}

export async function reportProgress(db: Db, lease: Lease, percent: number, message?: string) {
  await sql`
    update jobs set progress = ${Math.max(0, Math.min(100, Math.round(percent)))}, progress_message = ${message ?? null}
    where id = ${lease.id} and lease_token = ${lease.token}`.execute(db);
}
