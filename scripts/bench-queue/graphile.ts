/**
 * graphile-worker, with its defaults or tuned as its performance page recommends for throughput:
 * a local queue that locks and pulls jobs in batches (`preset.worker.localQueue.size`) and
 * batched completion (`completeJobBatchDelay` / `failJobBatchDelay` >= 0), pool sized
 * concurrency + 1 (the page's 24 jobs / 25 connections).
 */
import { Logger, makeWorkerUtils, type RunnerOptions, run, runMigrations } from "graphile-worker";
import { type BenchPayload, chunks, type QueueAdapter } from "./adapter.ts";

const TASK = "noop";
/** The local queue size graphile-worker's performance page benchmarks with. */
const LOCAL_QUEUE_SIZE = 500;

/** Per-job "Completed task" info lines to the console are not a queue cost: keep warnings and errors. */
const quietLogger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[graphile-worker ${level}] ${message}`);
});

export function graphileAdapter(tuned: boolean): QueueAdapter {
  return {
    config: tuned
      ? `run({concurrency}), maxPoolSize concurrency+1, preset.worker.localQueue.size ${LOCAL_QUEUE_SIZE}, completeJobBatchDelay 0, failJobBatchDelay 0`
      : "run({concurrency}), all else default (LISTEN/NOTIFY, pollInterval 2000, maxPoolSize 10)",

    async setup(url) {
      await runMigrations({ connectionString: url, logger: quietLogger });
    },

    async insertMany(url, n) {
      const utils = await makeWorkerUtils({ connectionString: url, logger: quietLogger });
      try {
        for (const size of chunks(n)) {
          await utils.addJobs(Array.from({ length: size }, () => ({ identifier: TASK, payload: {} })));
        }
      } finally {
        await utils.release();
      }
    },

    async producer(url) {
      const utils = await makeWorkerUtils({ connectionString: url, logger: quietLogger });
      return {
        enqueue: async (payload) => {
          await utils.addJob(TASK, payload);
        },
        close: async () => {
          await utils.release();
        },
      };
    },

    unfinished: "graphile_worker._private_jobs",
    tablesWhere: "schemaname = 'graphile_worker'",

    async startWorker(url, concurrency, onJob) {
      const options: RunnerOptions = {
        connectionString: url,
        concurrency,
        noHandleSignals: true,
        logger: quietLogger,
        taskList: {
          [TASK]: async (payload) => {
            onJob(payload as BenchPayload);
          },
        },
      };
      if (tuned) {
        options.maxPoolSize = concurrency + 1;
        options.preset = {
          worker: { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
        };
      }
      const runner = await run(options);
      return { stop: () => runner.stop() };
    },
  };
}
