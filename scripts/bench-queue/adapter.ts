/**
 * The one interface every benchmarked queue sits behind. Adapters are loaded by name with a
 * dynamic import, so a system whose code is missing (Inkreel's queue before it lands) fails on
 * its own without stopping the others.
 */

export const SYSTEMS = ["inkreel", "graphile_worker", "graphile_worker_tuned", "pg_boss"] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** What every benchmark job carries: nothing, or the sequence number of a pickup probe. */
export interface BenchPayload {
  probe?: number;
}

/** Called at the start of every handler, before it returns. */
export type OnJob = (payload: BenchPayload) => void;

export interface Producer {
  /** Enqueues one job; resolves once the job is committed. */
  enqueue(payload: BenchPayload): Promise<void>;
  close(): Promise<void>;
}

export interface RunningWorker {
  /** Stops claiming, lets in-flight jobs finish, releases connections. */
  stop(): Promise<void>;
}

export interface QueueAdapter {
  /** Human-readable settings, recorded in the report. */
  config: string;
  /** Installs the system's schema (and queue) on a fresh, empty database. */
  setup(url: string): Promise<void>;
  /** Inserts `n` no-op jobs in bulk (a few large statements). */
  insertMany(url: string, n: number): Promise<void>;
  /** A producer that enqueues one job per call. */
  producer(url: string): Promise<Producer>;
  /** SQL `FROM` clause (relation, optional `WHERE`) of the jobs not finished yet (committed as done). */
  unfinished: string;
  /** SQL predicate on pg_stat_user_tables selecting this system's queue tables. */
  tablesWhere: string;
  /** In a worker process: starts consuming with `concurrency`, calling `onJob` as each handler starts. */
  startWorker(url: string, concurrency: number, onJob: OnJob): Promise<RunningWorker>;
}

/** Size of each bulk INSERT: small enough for any system's bind-parameter limit. */
export const INSERT_CHUNK = 2000;

export function chunks(n: number, size = INSERT_CHUNK): number[] {
  const out: number[] = [];
  for (let left = n; left > 0; left -= size) out.push(Math.min(size, left));
  return out;
}

export async function loadAdapter(system: SystemName): Promise<QueueAdapter> {
  switch (system) {
    case "inkreel":
      return (await import("./inkreel.ts")).inkreelAdapter();
    case "graphile_worker":
      return (await import("./graphile.ts")).graphileAdapter(false);
    case "graphile_worker_tuned":
      return (await import("./graphile.ts")).graphileAdapter(true);
    case "pg_boss":
      return (await import("./pgboss.ts")).pgBossAdapter();
  }
}

export function isSystem(name: string): name is SystemName {
  return (SYSTEMS as readonly string[]).includes(name);
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
