/** Inkreel's own queue (src/queue), with its defaults: LISTEN/NOTIFY wake-ups plus polling. */
import { createDb } from "../../src/db/client.ts";
import { migrate } from "../../src/db/migrator.ts";
import { createWorker, enqueue, enqueueMany } from "../../src/queue/index.ts";
import { type BenchPayload, chunks, type QueueAdapter } from "./adapter.ts";

const QUEUE = "bench";
const KIND = "noop";

export function inkreelAdapter(): QueueAdapter {
  return {
    config: "createWorker({queues: [queue], concurrency}), all else default (mode listen)",

    async setup(url) {
      await migrate(url);
    },

    async insertMany(url, n) {
      const db = createDb(url, { max: 1 });
      try {
        for (const size of chunks(n)) {
          await enqueueMany(
            db,
            Array.from({ length: size }, () => ({ kind: KIND, queue: QUEUE, payload: {} })),
          );
        }
      } finally {
        await db.destroy();
      }
    },

    async producer(url) {
      const db = createDb(url, { max: 1 });
      return {
        enqueue: async (payload) => {
          await enqueue(db, { kind: KIND, queue: QUEUE, payload });
        },
        close: () => db.destroy(),
      };
    },

    unfinished: "jobs",
    tablesWhere: "schemaname = 'public' and relname like 'job%'",

    async startWorker(url, concurrency, onJob) {
      const worker = createWorker({
        connectionString: url,
        queues: [QUEUE],
        concurrency,
        handlers: {
          [KIND]: (payload: BenchPayload) => {
            onJob(payload ?? {});
          },
        },
      });
      await worker.start();
      return { stop: () => worker.stop() };
    },
  };
}
