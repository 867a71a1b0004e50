import pkg from "../package.json" with { type: "json" };
import type { Config } from "./config.ts";
import { createLru } from "./core/lru.ts";
import { createDb } from "./db/client.ts";
import { MAINTENANCE_QUEUE, MAINTENANCE_SCHEDULES, maintenanceHandlers } from "./jobs/maintenance.ts";
import { storageCleanupHandlers } from "./jobs/storage-cleanup.ts";
import type { Logger } from "./log.ts";
import { createInspectCache } from "./media/inspect.ts";
import { createMetrics, type Metrics } from "./metrics/registry.ts";
import { type MetricsServer, serveMetrics } from "./metrics/serve.ts";
import { noSpans, type SpanRecorder } from "./metrics/spans.ts";
import { PIPELINE_QUEUE, pipelineHandlers } from "./pipeline/jobs.ts";
import { createFalWakeups } from "./providers/fal/webhook-waiter.ts";
import { createProviderResolver } from "./providers/registry.ts";
import { syncBuiltinProviders } from "./providers/settings.ts";
import { createWorker, defineSchedules } from "./queue/index.ts";
import { createRuntimeConfig } from "./services/runtime-config.ts";
import { createStorage } from "./storage/index.ts";

export interface WorkerOptions {
  queues: string[];
  concurrency: number;
  /** Times provider and ffmpeg work (the pipeline benchmark passes one); by default nothing is recorded. */
  spans?: SpanRecorder;
  /**
   * Serves this process's GET /metrics on this port (0: any free one) behind METRICS_TOKEN;
   * absent: not served. `inkreel worker` passes --metrics-port or WORKER_METRICS_PORT.
   */
  metricsPort?: number | null;
  /** This process's registry (tests pass their own); by default a new one. */
  metrics?: Metrics;
  /** The environment `config` was loaded from (default process.env). */
  env?: Record<string, string | undefined>;
}

/**
 * A worker process: every registered handler, the maintenance schedules, until stop(). Pipeline
 * jobs (providers, ffmpeg) are CPU-bound, so their queue gets its own loop with one slot per core
 * (PIPELINE_CONCURRENCY); the other queues share `concurrency` slots.
 */
export async function startWorker(config: Config, databaseUrl: string, log: Logger, options: WorkerOptions) {
  const metrics = options.metrics ?? createMetrics({ process: "worker", version: pkg.version, log });
  const db = createDb(databaseUrl, {
    max: 4,
    log,
    onPool: metrics.watchPool("worker"),
    prepare: config.queue.mode !== "poll-only",
  });
  await syncBuiltinProviders(db);
  await defineSchedules(db, MAINTENANCE_SCHEDULES);
  const { storage } = await createStorage(config);
  // With a public URL, fal calls our webhook when a request finishes; the waiting job wakes at once.
  const wakeups =
    config.cloud.fal.webhookUrl && config.queue.mode === "listen"
      ? createFalWakeups({ connectionString: databaseUrl, log })
      : null;
  const spans = metrics.spans(options.spans ?? noSpans);
  const providers = createProviderResolver({
    config,
    db,
    log,
    falWait: wakeups?.wait,
    spans,
    calls: metrics.providers,
    // Backgrounds, figures and text shaped once per process: most shots reuse a place and a cast.
    paints: createLru(128),
  });
  const inspected = createInspectCache(config.mediaInspectCacheEntries);
  const handlers = {
    ...maintenanceHandlers(db, config),
    ...storageCleanupHandlers(storage),
    ...pipelineHandlers({ config, db, storage, providers, log, spans, inspected }),
  };
  const common = {
    connectionString: databaseUrl,
    handlers,
    mode: config.queue.mode,
    pollIntervalMs: config.queue.pollIntervalMs,
    leaseMs: config.queue.leaseMs,
    log,
    observer: metrics.jobs,
  };
  const others = options.queues.filter((q) => q !== PIPELINE_QUEUE);
  const workers = [
    ...(others.length
      ? [
          createWorker({
            ...common,
            queues: others,
            onPool: metrics.watchPool(`queue:${others.join("+")}`),
            concurrency: options.concurrency,
            schedules: others.includes(MAINTENANCE_QUEUE),
          }),
        ]
      : []),
    ...(options.queues.includes(PIPELINE_QUEUE)
      ? [
          createWorker({
            ...common,
            queues: [PIPELINE_QUEUE],
            onPool: metrics.watchPool(`queue:${PIPELINE_QUEUE}`),
            concurrency: config.pipelineConcurrency,
            schedules: false,
          }),
        ]
      : []),
  ];
  // Before any job is claimed: a port already in use stops the process while it holds nothing.
  let server: MetricsServer | null = null;
  const port = options.metricsPort ?? null;
  if (port !== null) {
    const token = config.metrics.token;
    if (!token) throw new Error("a worker serves metrics only behind METRICS_TOKEN");
    server = serveMetrics({ metrics, token, hostname: config.host, port });
    log.info("worker metrics listening", { url: `http://localhost:${server.port}/metrics` });
  }
  // Tiers, prices and limits an ADMIN changes at run time, applied to this process's config in place.
  const runtime = createRuntimeConfig({
    db,
    config,
    baseEnv: options.env ?? process.env,
    log,
    connectionString: config.queue.mode === "poll-only" ? null : databaseUrl,
  });
  await runtime.start();
  for (const w of workers) await w.start();
  return {
    metrics,
    /** The port of this worker's GET /metrics, or null when it is not served. */
    metricsPort: server?.port ?? null,
    async stop() {
      await server?.stop();
      await Promise.all(workers.map((w) => w.stop()));
      await wakeups?.stop();
      await runtime.close();
      await db.destroy();
      log.info("worker stopped", { peak_rss_mb: process.resourceUsage().maxRSS / 1024 });
    },
  };
}
