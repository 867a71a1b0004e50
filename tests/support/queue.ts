// Helpers for the queue tests: a fresh database with a `test_runs` side table, in-process
// workers, and real worker processes (tests/support/queue-worker.ts) that are always stopped.
import { afterAll } from "bun:test";
import { join } from "node:path";
import { sql } from "kysely";
import { createDb, type Db } from "../../src/db/client.ts";
import { createLogger } from "../../src/log.ts";
import { createWorker, type Worker, type WorkerOptions } from "../../src/queue/index.ts";
import { createTestDatabase } from "./context.ts";

export const WORKER_SCRIPT = join(import.meta.dir, "queue-worker.ts");

/** What a worker process is told through QUEUE_WORKER_OPTIONS. */
export interface ProcessWorkerOptions {
  queues?: string[];
  concurrency?: number;
  mode?: "listen" | "poll-only";
  pollIntervalMs?: number;
  leaseMs?: number;
  heartbeatMs?: number;
  rescueIntervalMs?: number;
  shutdownDeadlineMs?: number;
}

export interface RunRow {
  id: number;
  job_id: string;
  attempt: number;
  pid: number;
  started_at: Date;
  finished_at: Date | null;
  note: string | null;
}

/** Every spawned process of this test run: the module-level afterAll kills any left over. */
const allProcesses = new Set<Bun.Subprocess>();
afterAll(() => {
  for (const p of allProcesses) if (p.exitCode === null && p.signalCode === null) p.kill(9);
});

/** Polls `check` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 120_000,
  everyMs = 25,
): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

/** A handler sleep that ends early, throwing the signal's reason, when the signal aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class WorkerProcess {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  readonly ready: Promise<void>;
  stdout = "";
  stderr = "";

  constructor(url: string, options: ProcessWorkerOptions) {
    this.proc = Bun.spawn([process.execPath, WORKER_SCRIPT], {
      env: { ...process.env, QUEUE_WORKER_URL: url, QUEUE_WORKER_OPTIONS: JSON.stringify(options) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    allProcesses.add(this.proc);
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    void this.drain(this.proc.stdout, (s) => {
      this.stdout += s;
      if (this.stdout.includes("READY")) markReady();
    });
    void this.drain(this.proc.stderr, (s) => {
      this.stderr += s;
    });
    void this.proc.exited.then((code) =>
      failReady(new Error(`worker ${this.pid} exited (${code}) before READY:\n${this.stderr}`)),
    );
  }

  get pid() {
    return this.proc.pid;
  }

  get alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async drain(stream: ReadableStream<Uint8Array>, onText: (s: string) => void) {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onText(decoder.decode(value, { stream: true }));
    }
  }

  kill9() {
    this.proc.kill(9);
    return this.proc.exited;
  }

  /** SIGTERM (graceful stop), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5000) {
    if (!this.alive) return this.proc.exitCode;
    this.proc.kill("SIGTERM");
    // A deadline, not a wait: the exit is what is awaited.
    const exited = await Promise.race([this.proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!exited) this.proc.kill(9);
    return this.proc.exited;
  }
}

/**
 * One test's world: a fresh migrated database with `test_runs`, and everything started on it
 * (in-process workers, worker processes, extra pools) stopped when the test ends. Call inside a
 * test: bun runs an afterAll registered there right after that test; the database is dropped only
 * after the cleanup (a drop WITH (FORCE) under live workers kills their connections mid-use).
 */
export async function queueTest() {
  const workers: Worker[] = [];
  const processes: WorkerProcess[] = [];
  const pools: Db[] = [];
  const logs: string[] = [];

  async function cleanup() {
    await Promise.all(processes.map((p) => p.stop(3000)));
    await Promise.all(workers.splice(0).map((w) => w.stop().catch(() => {})));
    await Promise.all(pools.splice(0).map((p) => p.destroy().catch(() => {})));
  }
  const url = await createTestDatabase(undefined, cleanup);
  const db = createDb(url, { max: 10 });
  pools.push(db);
  await sql`
    create table test_runs (
      id bigserial primary key,
      job_id uuid not null,
      attempt integer not null,
      pid integer not null,
      started_at timestamptz not null default clock_timestamp(),
      finished_at timestamptz,
      note text
    )`.execute(db);

  return {
    url,
    db,
    logs,
    cleanup,
    /** Another pool on the same database (true concurrency between callers). */
    pool(max = 10) {
      const p = createDb(url, { max });
      pools.push(p);
      return p;
    },
    /** Starts an in-process worker; logs (warn and up) are kept in `logs`. */
    async worker(options: Omit<WorkerOptions, "connectionString">) {
      const w = createWorker({
        connectionString: url,
        log: createLogger("warn", {}, (line) => logs.push(line)),
        shutdownDeadlineMs: 1000,
        ...options,
      });
      await w.start();
      workers.push(w);
      return w;
    },
    /** Stops one in-process worker now (and forgets it). */
    async stopWorker(w: Worker) {
      workers.splice(workers.indexOf(w), 1);
      await w.stop();
    },
    /** Spawns a worker process and waits until it is claiming. */
    async spawn(options: ProcessWorkerOptions) {
      const p = new WorkerProcess(url, options);
      processes.push(p);
      await p.ready;
      return p;
    },
    async runs(jobId?: string): Promise<RunRow[]> {
      const { rows } = jobId
        ? await sql<RunRow>`select * from test_runs where job_id = ${jobId} order by id`.execute(db)
        : await sql<RunRow>`select * from test_runs order by id`.execute(db);
      return rows;
    },
    /** Records one handler run (for in-process handlers); returns the row id. */
    async recordStart(jobId: string, attempt: number, note?: string): Promise<number> {
      const { rows } = await sql<{ id: number }>`
        insert into test_runs (job_id, attempt, pid, note) values (${jobId}, ${attempt}, ${process.pid}, ${note ?? null})
        returning id`.execute(db);
      return rows[0]!.id;
    },
    async recordEnd(runId: number) {
      await sql`update test_runs set finished_at = clock_timestamp() where id = ${runId}`.execute(db);
    },
    async history(id: string) {
      return db.selectFrom("job_history").selectAll().where("id", "=", id).executeTakeFirst();
    },
    async live(id: string) {
      return db.selectFrom("jobs").selectAll().where("id", "=", id).executeTakeFirst();
    },
    /** Waits until the job is in history, and returns that row. */
    async finished(id: string, timeoutMs = 5000) {
      return waitFor(
        `job ${id} to finish`,
        () => db.selectFrom("job_history").selectAll().where("id", "=", id).executeTakeFirst(),
        timeoutMs,
      );
    },
  };
}

export type QueueTest = Awaited<ReturnType<typeof queueTest>>;
