import { sql } from "kysely";
import type { Db } from "../db/client.ts";

/** Returns expired leases to ready (or failed); returns how many. */
export async function rescueExpired(db: Db): Promise<number> {
  const { rows } = await sql<{ n: number }>`select inkreel_jobs_rescue() as n`.execute(db);
  return rows[0]?.n ?? 0;
}

/** 'cancelled' (was not running), 'cancelling' (running: its handler is being aborted), or null. */
export async function cancelJob(db: Db, id: string): Promise<"cancelled" | "cancelling" | null> {
  const { rows } = await sql<{ r: "cancelled" | "cancelling" | null }>`select inkreel_jobs_cancel(${id}) as r`.execute(
    db,
  );
  return rows[0]?.r ?? null;
}

/** Re-drives a failed or cancelled job; false when it is not in one of those states. */
export async function retryJob(db: Db, id: string): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`select inkreel_jobs_retry(${id}) as ok`.execute(db);
  return rows[0]?.ok ?? false;
}

/**
 * Deletes finished jobs older than `retentionMs`, in bounded batches, and the parent links of
 * children that finished (completion leaves them, to stay one statement); returns how many jobs.
 */
export async function pruneHistory(db: Db, retentionMs: number, batch = 5000): Promise<number> {
  await sql`delete from job_parents p where not exists (select 1 from jobs j where j.id = p.child_id)`.execute(db);
  let total = 0;
  for (;;) {
    const res = await sql`
      delete from job_history where id in (
        select id from job_history where finished_at < now() - make_interval(secs => ${retentionMs / 1000}) limit ${batch})`.execute(
      db,
    );
    const n = Number(res.numAffectedRows ?? 0);
    total += n;
    if (n < batch) return total;
  }
}

export async function queueDepth(db: Db) {
  const { rows } = await sql<{ ready: number; running: number; waiting: number }>`
    select count(*) filter (where state = 'ready')::int as ready,
           count(*) filter (where state = 'running')::int as running,
           count(*) filter (where state = 'waiting')::int as waiting
    from jobs`.execute(db);
  return rows[0]!;
}
