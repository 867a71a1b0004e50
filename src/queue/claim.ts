import { sql } from "kysely";
import type { Db } from "../db/client.ts";
import type { ClaimedJob } from "./types.ts";

/** A position in a queue's claim order. */
export interface ClaimKey {
  priority: number;
  /** UTC, fixed width with microseconds ("2026-11-21T14:00:00.123456Z"): sorts as it compares. */
  run_at: string;
  id: string;
}

export interface ClaimOptions {
  queues: string[];
  limit: number;
  workerId: string;
  leaseMs: number;
  /**
   * Per queue, start the scan after this key (the last one this worker claimed). Rows before it
   * were claimed already; under a long-held snapshot their dead index entries cannot be cleaned,
   * and starting after them keeps a claim from wading through all of them again.
   */
  after?: ReadonlyMap<string, ClaimKey>;
}

/** Before every job: the scan from the start of a queue. */
const START: ClaimKey = { priority: -2147483648, run_at: "-infinity", id: "00000000-0000-0000-0000-000000000000" };

/** Plain jobs (no concurrency key): see inkreel_jobs_claim in the queue migration. */
async function claimPlain(db: Db, o: ClaimOptions): Promise<ClaimedJob[]> {
  const from = o.queues.map((q) => o.after?.get(q) ?? START);
  const { rows } = await sql<ClaimedJob>`
    select * from inkreel_jobs_claim(
      ${o.queues}::text[], ${from.map((k) => k.priority)}::int[],
      ${from.map((k) => k.run_at)}::timestamptz[], ${from.map((k) => k.id)}::uuid[],
      ${o.limit}, ${o.workerId}, ${o.leaseMs})`.execute(db);
  return rows;
}

/**
 * Claims keyed jobs without ever exceeding a key's limit: candidates are locked, then per key
 * (in key order, so claimers cannot deadlock) a transaction-scoped advisory lock serialises
 * claimers while they count what is running and take only the free slots.
 */
async function claimKeyed(db: Db, o: ClaimOptions): Promise<ClaimedJob[]> {
  const probe = await sql<{ one: number }>`
    select 1 as one from jobs
    where state = 'ready' and concurrency_key is not null and queue = any(${o.queues}::text[]) and run_at <= now()
    limit 1`.execute(db);
  if (probe.rows.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    const { rows: candidates } = await sql<{ id: string; concurrency_key: string; concurrency_limit: number }>`
      select id, concurrency_key, concurrency_limit from jobs j
      where state = 'ready' and concurrency_key is not null and queue = any(${o.queues}::text[]) and run_at <= now()
        and (select count(*) from jobs r where r.state = 'running' and r.concurrency_key = j.concurrency_key) < j.concurrency_limit
      order by priority, run_at, id
      limit ${o.limit * 4}
      for update skip locked`.execute(trx);
    const byKey = new Map<string, typeof candidates>();
    for (const c of candidates) byKey.set(c.concurrency_key, [...(byKey.get(c.concurrency_key) ?? []), c]);
    const chosen: string[] = [];
    for (const key of [...byKey.keys()].sort()) {
      if (chosen.length >= o.limit) break;
      const group = byKey.get(key)!;
      await sql`select pg_advisory_xact_lock(hashtextextended(${`inkreel.jobs:${key}`}, 0))`.execute(trx);
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from jobs where state = 'running' and concurrency_key = ${key}`.execute(trx);
      const free = Math.max(0, group[0]!.concurrency_limit - rows[0]!.n);
      chosen.push(...group.slice(0, Math.min(free, o.limit - chosen.length)).map((c) => c.id));
    }
    if (chosen.length === 0) return [];
    const { rows } = await sql<ClaimedJob>`
      select * from inkreel_jobs_lease(${chosen}::uuid[], ${o.workerId}, ${o.leaseMs})`.execute(trx);
    return rows;
  });
}

/** Claims up to `limit` jobs for one worker, plain ones first. */
export async function claimJobs(db: Db, o: ClaimOptions): Promise<ClaimedJob[]> {
  const plain = await claimPlain(db, o);
  if (plain.length >= o.limit) return plain;
  const keyed = await claimKeyed(db, { ...o, limit: o.limit - plain.length });
  return keyed.length ? [...plain, ...keyed] : plain;
}
