import { Counter, Gauge, Registry } from "prom-client";
import type { Db, PoolCounts } from "../db/client.ts";
import type { Logger } from "../log.ts";
import { ffmpegSeconds } from "./ffmpeg.ts";
import { type HttpRequestMetrics, httpRequestMetrics } from "./http-requests.ts";
import { jobMetrics } from "./jobs.ts";
import type { JobObserver, ProviderCallObserver } from "./observers.ts";
import { poolGauges } from "./pools.ts";
import { processGauges } from "./process.ts";
import { providerCallMetrics } from "./provider-calls.ts";
import { queueDepthGauge } from "./queue-depth.ts";
import { noSpans, type SpanRecorder } from "./spans.ts";

/** What the realtime hub says about its subscribers. */
export interface SubscriberCounts {
  /** Project subscriptions (an SSE stream has one; a WebSocket one per subscribed project). */
  subscriptions: number;
  /** Open SSE streams and WebSockets. */
  connections: number;
}

/**
 * One process's metrics: its own prom-client registry (never prom-client's global one) and the
 * instruments and observers that feed it. Created at start-up and passed through the process's
 * dependency objects; `watch…` connects the sources that exist only in some processes.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  render(): Promise<string>;
  readonly http: HttpRequestMetrics;
  readonly jobs: JobObserver;
  readonly providers: ProviderCallObserver;
  /** A span recorder that times ffmpeg runs and passes every span on to `inner`. */
  spans(inner?: SpanRecorder): SpanRecorder;
  /** The `onPool` hook of createDb, for a pool reported under `name`. */
  watchPool(name: string): (pool: PoolCounts) => void;
  /** Reports live jobs per queue and state, read from Postgres at scrape time (the API does). */
  watchQueues(db: Db): void;
  watchRealtime(read: () => SubscriberCounts): void;
}

export interface MetricsOptions {
  process: "api" | "worker";
  version: string;
  log: Logger;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  // A counter, not a 0/1 gauge: collectors run concurrently, so a flag would describe the scrape before.
  const collectErrors = new Counter({
    name: "inkreel_metrics_collect_errors_total",
    help: "Scrapes at which a collector failed (its series were missing from that scrape)",
    labelNames: ["collector"] as const,
    registers: [registry],
  });
  const failed = (collector: string) => (error: unknown) => {
    collectErrors.inc({ collector });
    options.log.warn("metrics: a collector failed", { collector, error: error as Error });
  };
  processGauges(registry, { process: options.process, version: options.version });
  const pools = poolGauges(registry);
  const timeFfmpeg = ffmpegSeconds(registry);
  const http = httpRequestMetrics(registry);
  const jobs = jobMetrics(registry);
  const providers = providerCallMetrics(registry);
  let realtime: (() => SubscriberCounts) | null = null;
  const gaugeOf = (name: string, help: string, read: (c: SubscriberCounts) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(realtime ? read(realtime()) : 0);
      },
    });
  gaugeOf("inkreel_realtime_subscriptions", "Project event subscriptions (SSE and WebSocket)", (c) => c.subscriptions);
  gaugeOf("inkreel_realtime_connections", "Open SSE streams and WebSockets", (c) => c.connections);
  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    http,
    jobs,
    providers,
    spans: (inner = noSpans) => timeFfmpeg(inner),
    watchPool: (name) => pools.watch(name),
    watchQueues(db) {
      collectErrors.inc({ collector: "queue_depth" }, 0);
      queueDepthGauge(registry, db, failed("queue_depth"));
    },
    watchRealtime(read) {
      realtime = read;
    },
  };
}
