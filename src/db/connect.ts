import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { startEmbeddedPostgres } from "./embedded.ts";
import { migrate } from "./migrator.ts";

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  /** Migration versions this call applied. */
  applied: string[];
  /** Stops the embedded server if this process started it. */
  stop(): Promise<void>;
}

/**
 * The database this process uses: DATABASE_URL, or else the embedded PostgreSQL under DATA_DIR
 * (attached to when another Inkreel process already runs it). Pending migrations are applied.
 */
export async function openDatabase(config: Config, log: Logger): Promise<DatabaseHandle> {
  // Local files live here whichever database is used.
  await mkdir(config.dataDir, { recursive: true });
  let handle: Omit<DatabaseHandle, "applied">;
  if (config.databaseUrl) {
    handle = { url: config.databaseUrl, embedded: false, stop: async () => {} };
  } else {
    const dir = join(config.dataDir, "db");
    const server = await startEmbeddedPostgres(dir, { log: (line) => log.debug("postgres", { line }) });
    log.info(server.owned ? "embedded postgres started" : "attached to running embedded postgres", {
      dir,
      port: server.port,
    });
    handle = { url: server.url, embedded: true, stop: () => server.stop() };
  }
  const applied = await migrate(handle.url);
  if (applied.length) log.info("migrations applied", { versions: applied });
  return { ...handle, applied };
}
