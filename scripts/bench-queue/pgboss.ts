/**
 * pg-boss with its defaults (2 s polling; LISTEN/NOTIFY is opt-in and left off), except how the
 * worker expresses "concurrency C": one `work()` fetching batches of C jobs, run together, with
 * `burstWhenBatchFull` so a full batch is followed by the next fetch at once. pg-boss's other
 * route to concurrency, `localConcurrency: C` with `batchSize: 1`, sleeps the 2 s polling
 * interval after every job even with a backlog (C / 2 jobs/s per process), which no one would
 * run a backlog with and which could not finish 20,000 jobs in this benchmark's time.
 */
import { type ConstructorOptions, PgBoss } from "pg-boss";
import { type BenchPayload, chunks, type QueueAdapter } from "./adapter.ts";

const QUEUE = "bench";

async function open(url: string, options: Partial<ConstructorOptions> = {}): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, ...options });
  boss.on("error", (err) => console.error(`[pg-boss error] ${err.message}`));
  await boss.start();
  return boss;
}

/** For the orchestrator's own instances: no maintenance or cron timers beside the measurement. */
const QUIET: Partial<ConstructorOptions> = { supervise: false, schedule: false, migrate: false };

export function pgBossAdapter(): QueueAdapter {
  return {
    config:
      "work(queue, {batchSize: concurrency, burstWhenBatchFull: true}), all else default (pollingIntervalSeconds 2, no LISTEN/NOTIFY)",

    async setup(url) {
      const boss = await open(url, { supervise: false, schedule: false });
      try {
        await boss.createQueue(QUEUE);
      } finally {
        await boss.stop({ graceful: false });
      }
    },

    async insertMany(url, n) {
      const boss = await open(url, QUIET);
      try {
        for (const size of chunks(n)) {
          await boss.insert(
            QUEUE,
            Array.from({ length: size }, () => ({ data: {} })),
          );
        }
      } finally {
        await boss.stop({ graceful: false });
      }
    },

    async producer(url) {
      const boss = await open(url, QUIET);
      return {
        enqueue: async (payload) => {
          await boss.send(QUEUE, payload);
        },
        close: () => boss.stop({ graceful: false }),
      };
    },

    unfinished: `pgboss.job where name = '${QUEUE}' and state in ('created', 'retry', 'active')`,
    tablesWhere: "schemaname = 'pgboss'",

    async startWorker(url, concurrency, onJob) {
      const boss = await open(url);
      await boss.work<BenchPayload>(QUEUE, { batchSize: concurrency, burstWhenBatchFull: true }, async (jobs) => {
        for (const job of jobs) onJob(job.data);
      });
      return { stop: () => boss.stop({ graceful: true, timeout: 10_000 }) };
    },
  };
}
