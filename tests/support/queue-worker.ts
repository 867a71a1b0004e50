// A real worker process for the queue tests. Configured by the environment:
//   QUEUE_WORKER_URL      the test database
//   QUEUE_WORKER_OPTIONS  JSON: queues, concurrency, mode, pollIntervalMs, leaseMs, heartbeatMs,
//                         rescueIntervalMs, shutdownDeadlineMs
// Prints READY on stdout once claiming; logs (warn and up) go to stderr. SIGTERM stops it
// gracefully. Every handler run is reported in the database's `test_runs` table, so the tests
// count in Postgres what each process ran:
//   record   one row per run, written at its end (started_at from this process's clock)
//   tracked  a row at the start (server clock), finished_at set at the end; sleeps
//            payload.sleepMs (payload.firstSleepMs on attempt 1, when given), aborted by the signal
import { sql } from "kysely";
import { createDb } from "../../src/db/client.ts";
import { createLogger } from "../../src/log.ts";
import { createWorker, type Handler } from "../../src/queue/index.ts";
// Types only: queue.ts imports bun:test, which a plain `bun` process must not load.
import type { ProcessWorkerOptions } from "./queue.ts";

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

const url = process.env.QUEUE_WORKER_URL;
if (!url) throw new Error("QUEUE_WORKER_URL is not set");
const options = JSON.parse(process.env.QUEUE_WORKER_OPTIONS ?? "{}") as ProcessWorkerOptions;
const concurrency = options.concurrency ?? 10;
const pid = process.pid;
const side = createDb(url, { max: concurrency + 2 });

const handlers: Record<string, Handler> = {
  async record(_payload, ctx) {
    const started = new Date();
    await sql`insert into test_runs (job_id, attempt, pid, started_at, finished_at)
              values (${ctx.id}, ${ctx.attempt}, ${pid}, ${started}, clock_timestamp())`.execute(side);
    return { pid };
  },
  async tracked(payload: { sleepMs?: number; firstSleepMs?: number }, ctx) {
    const { rows } = await sql<{ id: number }>`
      insert into test_runs (job_id, attempt, pid) values (${ctx.id}, ${ctx.attempt}, ${pid}) returning id`.execute(
      side,
    );
    const runId = rows[0]!.id;
    const ms = ctx.attempt === 1 && payload.firstSleepMs !== undefined ? payload.firstSleepMs : (payload.sleepMs ?? 0);
    try {
      await abortableSleep(ms, ctx.signal);
    } catch (reason) {
      await sql`update test_runs set note = ${`aborted: ${String(reason)}`} where id = ${runId}`.execute(side);
      throw reason instanceof Error ? reason : new Error(String(reason));
    }
    await sql`update test_runs set finished_at = clock_timestamp() where id = ${runId}`.execute(side);
    return { pid };
  },
};

const worker = createWorker({
  connectionString: url,
  handlers,
  queues: options.queues,
  concurrency,
  mode: options.mode,
  pollIntervalMs: options.pollIntervalMs,
  leaseMs: options.leaseMs,
  heartbeatMs: options.heartbeatMs,
  rescueIntervalMs: options.rescueIntervalMs,
  shutdownDeadlineMs: options.shutdownDeadlineMs,
  log: createLogger("warn", { pid }, (line) => process.stderr.write(`${line}\n`)),
});

let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  await side.destroy();
  process.exit(0);
});

await worker.start();
process.stdout.write("READY\n");
