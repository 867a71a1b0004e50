import { sql } from "kysely";
import { conflict, notFound } from "../../core/errors.ts";
import { page } from "../../core/page.ts";
import { type Db, isUniqueViolation } from "../../db/client.ts";
import { cancelJob, retryJob } from "../../queue/index.ts";

export const LIVE_STATES = ["waiting", "ready", "running"] as const;
export const FINISHED_STATES = ["completed", "failed", "cancelled"] as const;
export type AnyJobState = (typeof LIVE_STATES)[number] | (typeof FINISHED_STATES)[number];

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

type JobRow = {
  id: string;
  queue: string;
  kind: string;
  state: AnyJobState;
  payload: unknown;
  priority: number;
  attempt: number;
  max_attempts: number;
  progress: number;
  progress_message: string | null;
  last_error: unknown;
  unique_key: string | null;
  concurrency_key: string | null;
  created_at: Date;
  started_at: Date | null;
  run_at: Date | null;
  result: unknown;
  finished_at: Date | null;
};

const COLUMNS = sql`id, queue, kind, state, payload, priority, attempt, max_attempts, progress, progress_message,
  last_error, unique_key, concurrency_key, created_at, started_at`;

/** Live and finished jobs in one shape; a state filter reads only the table that holds it. */
function allJobs(state?: AnyJobState) {
  const live = sql`select ${COLUMNS}, run_at, null::jsonb as result, null::timestamptz as finished_at from jobs`;
  const finished = sql`select ${COLUMNS}, null::timestamptz as run_at, result, finished_at from job_history`;
  if (!state) return sql`(${live} union all ${finished})`;
  return (LIVE_STATES as readonly string[]).includes(state)
    ? sql`(${live} where state = ${state})`
    : sql`(${finished} where state = ${state})`;
}

const toPublicJob = (j: JobRow) => ({
  ...j,
  last_error: j.last_error ?? null,
  result: j.result ?? null,
  created_at: j.created_at.toISOString(),
  started_at: iso(j.started_at),
  run_at: iso(j.run_at),
  finished_at: iso(j.finished_at),
});

export interface JobFilter {
  state?: AnyJobState;
  queue?: string;
  kind?: string;
}

export async function listJobs(db: Db, filter: JobFilter, pageNo: number, pageSize: number) {
  const where = sql`where (${filter.queue ?? null}::text is null or queue = ${filter.queue ?? null})
    and (${filter.kind ?? null}::text is null or kind = ${filter.kind ?? null})`;
  const [rows, count] = await Promise.all([
    sql<JobRow>`select * from ${allJobs(filter.state)} j ${where}
      order by created_at desc, id desc limit ${pageSize} offset ${(pageNo - 1) * pageSize}`.execute(db),
    sql<{ n: number }>`select count(*)::int as n from ${allJobs(filter.state)} j ${where}`.execute(db),
  ]);
  return page(rows.rows.map(toPublicJob), count.rows[0]!.n, pageNo, pageSize);
}

export async function getJob(db: Db, id: string) {
  const { rows } = await sql<JobRow>`select * from ${allJobs()} j where id = ${id}`.execute(db);
  if (!rows[0]) throw notFound("job");
  return toPublicJob(rows[0]);
}

export async function retry(db: Db, id: string) {
  const job = await getJob(db, id);
  let redriven: boolean;
  try {
    redriven = await retryJob(db, id);
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict("a live job already holds this job's unique key");
    throw err;
  }
  if (!redriven) throw conflict(`only failed or cancelled jobs can be retried; this one is ${job.state}`);
  return getJob(db, id);
}

export async function cancel(db: Db, id: string) {
  const job = await getJob(db, id);
  const outcome = await cancelJob(db, id);
  if (!outcome) throw conflict(`the job already finished (${job.state})`);
  return { ...(await getJob(db, id)), cancellation: outcome };
}
