import pkg from "../package.json" with { type: "json" };
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { createDb } from "./db/client.ts";
import { createDeps } from "./deps.ts";
import { streamedBodyLimit } from "./http/plugin.ts";
import type { Logger } from "./log.ts";
import { createMetrics } from "./metrics/registry.ts";
import { syncBuiltinProviders } from "./providers/settings.ts";

/** Serves the API until `stop()`; used by `inkreel api`. */
export async function startApi(config: Config, databaseUrl: string, log: Logger) {
  const metrics = createMetrics({ process: "api", version: pkg.version, log });
  const db = createDb(databaseUrl, {
    log,
    onPool: metrics.watchPool("api"),
    prepare: config.queue.mode !== "poll-only",
  });
  await syncBuiltinProviders(db);
  const deps = await createDeps(config, db, log, { databaseUrl, metrics });
  // Eagerly, so this process takes part in the Supabase broadcast leader election.
  await deps.realtime.start();
  await deps.sessions.start();
  await deps.runtime.start();
  const app = createApp(deps).listen({
    hostname: config.host,
    port: config.port,
    // The HTTP layer answers oversize bodies with 413 itself; this only caps what Bun buffers.
    maxRequestBodySize: Math.max(
      config.limits.bodyBytes + 1024,
      10 * 1024 * 1024 + 64 * 1024,
      streamedBodyLimit(config),
    ),
  });
  const port = app.server?.port ?? config.port;
  log.info("api listening", { url: `http://localhost:${port}`, swagger: `http://localhost:${port}/swagger` });
  return {
    port,
    async stop() {
      // First: ends SSE streams and WebSockets, which app.stop() would otherwise wait for.
      await deps.realtime.close();
      await app.stop();
      await deps.sessions.close();
      await deps.runtime.close();
      await db.destroy();
    },
  };
}
