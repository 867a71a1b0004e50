/** The measurements, each against one system on its own database. */
import pg from "pg";
import { nowMs, type QueueAdapter, type SystemName } from "./adapter.ts";
import { spawnWorkers } from "./processes.ts";

export interface BenchContext {
  system: SystemName;
  adapter: QueueAdapter;
  url: string;
  /** A connection to the system's database, for counts, VACUUM and statistics. */
  admin: pg.Client;
  workers: number;
  concurrency: number;
  log: (line: string) => void;
}

/** How often the orchestrator checks for unfinished jobs while a drain runs. */
const POLL_MS = 10;
/** Pickup probes: how long to wait for one to start before enqueuing the next anyway. */
const PICKUP_WAIT_CAP_MS = 50;
/** Pause after each probe's pickup, so the previous job's completion is done and the queue idle. */
const PICKUP_GAP_MS = 10;
/** Untimed probes first: connections warm, code paths compiled. */
const PICKUP_WARMUP = 20;
const PICKUP_STRAGGLER_TIMEOUT_MS = 30_000;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function remaining(ctx: BenchContext): Promise<number> {
  const { rows } = await ctx.admin.query<{ n: number }>(`select count(*)::int as n from ${ctx.adapter.unfinished}`);
  return Number(rows[0]?.n ?? 0);
}

/** Cheaper than a count while polling: stops at the first unfinished job. */
async function anyUnfinished(ctx: BenchContext): Promise<boolean> {
  const { rows } = await ctx.admin.query<{ any: boolean }>(
    `select exists (select 1 from ${ctx.adapter.unfinished}) as any`,
  );
  return rows[0]?.any ?? false;
}

export interface DrainResult {
  jobs: number;
  completed: number;
  /** From the first handler start to the poll that saw every job finished. */
  elapsedMs: number;
  jobsPerS: number;
  /** From telling the processes to start to the first handler start: the systems' own start-up. */
  startupMs: number;
  timedOut: boolean;
  /** Handlers run across the worker processes (more than `jobs` would mean a job ran twice). */
  handled: number;
}

/**
 * Pre-inserts `jobs` no-op jobs, starts the worker processes, and times from the first handler
 * start until the database shows every job finished (committed). The systems' start-up (pool,
 * schema checks, LISTEN) before their first job is measured apart, as `startupMs`.
 */
export async function drainRun(ctx: BenchContext, jobs: number, timeoutMs: number): Promise<DrainResult> {
  const insertStart = nowMs();
  await ctx.adapter.insertMany(ctx.url, jobs);
  const queued = await remaining(ctx);
  if (queued !== jobs) throw new Error(`expected ${jobs} queued jobs, found ${queued}`);
  ctx.log(`  inserted ${jobs} jobs in ${((nowMs() - insertStart) / 1000).toFixed(2)} s`);
  // Same starting point for everyone: earlier runs' dead rows reclaimed (where no snapshot holds
  // them), planner statistics current, no checkpoint due from earlier writes.
  await ctx.admin.query("vacuum analyze");
  await ctx.admin.query("checkpoint");

  const group = await spawnWorkers(ctx.system, ctx.url, ctx.workers, ctx.concurrency);
  let left = queued;
  let goAt = 0;
  let doneAt = 0;
  let timedOut = false;
  try {
    goAt = nowMs();
    group.go();
    for (;;) {
      await Promise.race([sleep(POLL_MS), group.failure]);
      const any = await anyUnfinished(ctx);
      doneAt = nowMs();
      if (!any) break;
      if (doneAt - goAt > timeoutMs) {
        timedOut = true;
        break;
      }
    }
    left = await remaining(ctx);
  } catch (err) {
    group.kill();
    throw err;
  }
  const firstAt = await Promise.race([group.firstJob(), group.failure]);
  const handled = await group.stop();
  const completed = queued - left;
  const elapsedMs = doneAt - firstAt;
  return {
    jobs,
    completed,
    elapsedMs,
    jobsPerS: completed / (elapsedMs / 1000),
    startupMs: firstAt - goAt,
    timedOut,
    handled,
  };
}

/** A drain shorter than this is noise-prone (start-up jitter, poll granularity): repeat it. */
const MIN_MEASURED_MS = 3000;
const MAX_REPEATS = 3;

export interface ThroughputResult {
  /** Median over the runs. */
  jobsPerS: number;
  runs: DrainResult[];
  /** After the last run, with its snapshot still held (held runs only). */
  deadTuples: number | null;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The throughput measurement: one drain of `jobs`, repeated (up to MAX_REPEATS, median kept)
 * while runs finish in under MIN_MEASURED_MS. With `held`, each run has its own snapshot held
 * open from before the insert until after the dead tuples are counted.
 */
export async function throughputRuns(
  ctx: BenchContext,
  jobs: number,
  held: boolean,
  timeoutMs: number,
): Promise<ThroughputResult> {
  const runs: DrainResult[] = [];
  let deadTuplesAfter: number | null = null;
  do {
    let run: DrainResult;
    if (held) {
      const holder = await holdSnapshot(ctx.url);
      try {
        ctx.log(`  (snapshot held, backend_xmin ${holder.xmin})`);
        run = await drainRun(ctx, jobs, timeoutMs);
        deadTuplesAfter = await deadTuples(ctx);
      } finally {
        await holder.release();
      }
    } else {
      run = await drainRun(ctx, jobs, timeoutMs);
    }
    runs.push(run);
    ctx.log(
      `  → ${Math.round(run.jobsPerS)} jobs/s (${(run.elapsedMs / 1000).toFixed(2)} s after the first job; ` +
        `start-up ${Math.round(run.startupMs)} ms; handlers run: ${run.handled}` +
        (held ? `; dead tuples ${deadTuplesAfter}` : "") +
        ")",
    );
  } while (runs.length < MAX_REPEATS && runs[runs.length - 1]!.elapsedMs < MIN_MEASURED_MS);
  return { jobsPerS: median(runs.map((r) => r.jobsPerS)), runs, deadTuples: deadTuplesAfter };
}

export interface PickupResult {
  probes: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** Probes not started within PICKUP_WAIT_CAP_MS, so the next one was enqueued before they were. */
  overCap: number;
  duplicates: number;
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/**
 * With the worker processes running and idle, enqueues probes one at a time (each awaited) and
 * measures from the moment the enqueue resolved (committed) to the moment a handler started.
 */
export async function pickupRun(ctx: BenchContext, probes: number): Promise<PickupResult> {
  const group = await spawnWorkers(ctx.system, ctx.url, ctx.workers, ctx.concurrency);
  const producer = await ctx.adapter.producer(ctx.url).catch((err) => {
    group.kill();
    throw err;
  });
  const commits = new Map<number, number>();
  const pickups = new Map<number, number>();
  const waiters = new Map<number, () => void>();
  let duplicates = 0;
  let overCap = 0;
  group.onPickup((probe, t) => {
    if (pickups.has(probe)) duplicates++;
    else pickups.set(probe, t);
    waiters.get(probe)?.();
  });
  try {
    group.go();
    await Promise.race([group.started(), group.failure]);
    await Promise.race([sleep(1000), group.failure]); // listeners up, first polls done: idle
    for (let i = -PICKUP_WARMUP; i < probes; i++) {
      const picked = new Promise<void>((resolve) => waiters.set(i, resolve));
      await producer.enqueue({ probe: i });
      commits.set(i, nowMs());
      const inTime = await Promise.race([
        picked.then(() => true),
        sleep(PICKUP_WAIT_CAP_MS).then(() => false),
        group.failure,
      ]);
      waiters.delete(i);
      if (!inTime && i >= 0) overCap++;
      await sleep(PICKUP_GAP_MS);
    }
    const deadline = nowMs() + PICKUP_STRAGGLER_TIMEOUT_MS;
    while (pickups.size < probes + PICKUP_WARMUP && nowMs() < deadline)
      await Promise.race([sleep(POLL_MS), group.failure]);
  } catch (err) {
    group.kill();
    throw err;
  } finally {
    await producer.close().catch(() => {});
  }
  await group.stop();

  const latencies: number[] = [];
  for (let i = 0; i < probes; i++) {
    const picked = pickups.get(i);
    if (picked === undefined) throw new Error(`probe ${i} was never picked up`);
    latencies.push(picked - commits.get(i)!);
  }
  latencies.sort((a, b) => a - b);
  return {
    probes,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    meanMs: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    maxMs: latencies[latencies.length - 1]!,
    overCap,
    duplicates,
  };
}

/** Sum of n_dead_tup over the system's queue tables, once the stopped workers' statistics are in. */
export async function deadTuples(ctx: BenchContext): Promise<number> {
  // Backends flush their statistics when they exit and at most once a second while running.
  await ctx.admin.query("select pg_stat_force_next_flush()");
  await sleep(1200);
  await ctx.admin.query("select pg_stat_clear_snapshot()");
  const { rows } = await ctx.admin.query<{ n: number }>(
    `select coalesce(sum(n_dead_tup), 0)::bigint as n from pg_stat_user_tables where ${ctx.adapter.tablesWhere}`,
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Opens a connection holding an old snapshot (REPEATABLE READ, one query, left open), which
 * keeps vacuum from removing any row version that dies after it.
 */
export async function holdSnapshot(url: string): Promise<{ xmin: string | null; release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: url, application_name: "bench-held-snapshot" });
  await holder.connect();
  await holder.query("begin isolation level repeatable read");
  await holder.query("select 1");
  const { rows } = await holder.query<{ xmin: string | null }>(
    "select backend_xmin::text as xmin from pg_stat_activity where pid = pg_backend_pid()",
  );
  return {
    xmin: rows[0]?.xmin ?? null,
    async release() {
      await holder.query("rollback").catch(() => {});
      await holder.end().catch(() => {});
    },
  };
}
