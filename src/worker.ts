import type { Config } from "./config.ts";
import { createDb } from "./db/client.ts";
import { MAINTENANCE_QUEUE, MAINTENANCE_SCHEDULES, maintenanceHandlers } from "./jobs/maintenance.ts";
import type { Logger } from "./log.ts";
import { createWorker, defineSchedules } from "./queue/index.ts";

export interface WorkerCliOptions {
  queues: string[];
  concurrency: number;
}

/** A worker process: every registered handler, the maintenance schedules, until stop(). */
export async function startWorker(config: Config, databaseUrl: string, log: Logger, options: WorkerCliOptions) {
  const db = createDb(databaseUrl, { max: 2 });
  await defineSchedules(db, MAINTENANCE_SCHEDULES);
  const handlers = { ...maintenanceHandlers(db, config) };
  const worker = createWorker({
    connectionString: databaseUrl,
    handlers,
    queues: options.queues,
    concurrency: options.concurrency,
    mode: config.queue.mode,
    pollIntervalMs: config.queue.pollIntervalMs,
    leaseMs: config.queue.leaseMs,
    schedules: options.queues.includes(MAINTENANCE_QUEUE),
    log,
  });
  await worker.start();
  return {
    async stop() {
      await worker.stop();
      await db.destroy();
    },
  };
}
