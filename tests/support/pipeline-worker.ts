// A real pipeline worker process for the crash tests (tests/pipeline-crash.test.ts). Configured by
// the environment:
//   PIPELINE_WORKER_DATABASE_URL  the test database
//   DATA_DIR                      the test app's data directory (same local storage and caches)
//   QUEUE_LEASE_MS                lease of a claimed job (short, so a killed worker's jobs expire soon)
//   PIPELINE_WORKER_ENV           JSON: more configuration (providers, their keys and base URLs)
//   PIPELINE_WORKER_OPTIONS       JSON: concurrency, pollIntervalMs, rescueIntervalMs, dieAfter
//                                 dieAfter {kind, stage}: once a job of that kind and stage has done
//                                 its work, the process SIGKILLs itself before the queue records the
//                                 completion (a crash in the narrowest window, made deterministic)
// Builds the pipeline handlers like tests/support/pipeline.ts and prints READY once claiming.
// SIGTERM stops it gracefully; the tests mostly kill it with -9.
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { createLogger } from "../../src/log.ts";
import { createInspectCache } from "../../src/media/inspect.ts";
import { noSpans } from "../../src/metrics/spans.ts";
import { PIPELINE_QUEUE, pipelineHandlers } from "../../src/pipeline/jobs.ts";
import { createProviderResolver } from "../../src/providers/registry.ts";
import { syncBuiltinProviders } from "../../src/providers/settings.ts";
import { createWorker } from "../../src/queue/index.ts";
import { createStorage } from "../../src/storage/index.ts";

const url = process.env.PIPELINE_WORKER_DATABASE_URL;
if (!url) throw new Error("PIPELINE_WORKER_DATABASE_URL is not set");
if (!process.env.DATA_DIR) throw new Error("DATA_DIR is not set");
const options = JSON.parse(process.env.PIPELINE_WORKER_OPTIONS ?? "{}") as {
  concurrency?: number;
  pollIntervalMs?: number;
  rescueIntervalMs?: number;
  dieAfter?: { kind: string; stage: string };
};

const config = loadConfig({
  DATA_DIR: process.env.DATA_DIR,
  DATABASE_URL: url,
  QUEUE_LEASE_MS: process.env.QUEUE_LEASE_MS ?? "2000",
  LOG_LEVEL: "warn",
  ...JSON.parse(process.env.PIPELINE_WORKER_ENV ?? "{}"),
});
const log = createLogger("warn", { pid: process.pid }, (line) => process.stderr.write(`${line}\n`));
const db = createDb(url, { max: 6 });
// What every worker process does at start (src/worker.ts).
await syncBuiltinProviders(db);
const { storage } = await createStorage(config);
const handlers = pipelineHandlers({
  config,
  db,
  storage,
  providers: createProviderResolver({ config, db, log }),
  log,
  spans: noSpans,
  inspected: createInspectCache(config.mediaInspectCacheEntries),
});
const die = options.dieAfter;
if (die) {
  const real = handlers[die.kind]!;
  handlers[die.kind] = async (payload: { stage?: string }, ctx) => {
    const result = await real(payload, ctx);
    if (payload.stage === die.stage) process.kill(process.pid, "SIGKILL");
    return result;
  };
}
const worker = createWorker({
  connectionString: url,
  handlers,
  queues: [PIPELINE_QUEUE],
  concurrency: options.concurrency ?? 2,
  pollIntervalMs: options.pollIntervalMs ?? 200,
  leaseMs: config.queue.leaseMs,
  rescueIntervalMs: options.rescueIntervalMs ?? 500,
  shutdownDeadlineMs: 2000,
  log,
});

let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  await db.destroy();
  process.exit(0);
});

await worker.start();
process.stdout.write(`READY ${worker.id}\n`);
