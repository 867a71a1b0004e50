/**
 * The worker process of `bench:pipeline`: `startWorker` on the pipeline queue, as `inkreel worker
 * --queues pipeline` runs it, but with a span recorder. On SIGTERM it stops the worker and prints
 * one JSON line: the busy time (see busy.ts) and this process's peak RSS.
 * Usage: DATABASE_URL=… bun scripts/bench-pipeline/worker.ts
 */
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { startWorker } from "../../src/worker.ts";
import { createBusyRecorder } from "./busy.ts";

const config = loadConfig();
if (!config.databaseUrl) throw new Error("DATABASE_URL is not set");
const log = createLogger(config.logLevel, { process: "worker", pid: process.pid });
const busy = createBusyRecorder();
const worker = await startWorker(config, config.databaseUrl, log, {
  queues: ["pipeline"],
  concurrency: 10,
  spans: busy,
});
process.on("SIGTERM", async () => {
  await worker.stop();
  // ru_maxrss is in kilobytes on Linux.
  console.log(JSON.stringify({ busy: { ...busy.summary(), peak_rss_mb: process.resourceUsage().maxRSS / 1024 } }));
  process.exit(0);
});
