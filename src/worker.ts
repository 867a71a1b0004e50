import type { Config } from "./config.ts";
import { createDb } from "./db/client.ts";
import { pruneRateLimits } from "./http/rate-limit.ts";
import type { Logger } from "./log.ts";

const MAINTENANCE_EVERY_MS = 60_000;

/**
 * A worker process. Today it runs the periodic maintenance (expired rate-limit windows); job
 * handlers join it as the queue lands.
 */
export async function startWorker(config: Config, databaseUrl: string, log: Logger) {
  const db = createDb(databaseUrl, { max: 4 });
  const maintain = async () => {
    try {
      await pruneRateLimits(db);
    } catch (err) {
      log.warn("maintenance failed", { error: err as Error });
    }
  };
  await maintain();
  const timer = setInterval(maintain, MAINTENANCE_EVERY_MS);
  log.info("worker started", { tasks: ["prune-rate-limits"] });
  return {
    async stop() {
      clearInterval(timer);
      await db.destroy();
    },
  };
}
