// GET /metrics of the API and of a worker process: the token rule, what each registry shows after
// real work (requests, queued jobs, job attempts, a local provider call, ffmpeg, subscribers, pools),
// and that the text is well-formed Prometheus exposition from a registry that is not the global one.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { register as globalRegistry } from "prom-client";
import { createApp } from "../src/app.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/client.ts";
import { createDeps } from "../src/deps.ts";
import { createLogger } from "../src/log.ts";
import { runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import type { JobAttempt, JobObserver } from "../src/metrics/observers.ts";
import { createMetrics, type Metrics } from "../src/metrics/registry.ts";
import { syncBuiltinProviders } from "../src/providers/settings.ts";
import { createWorker, enqueue } from "../src/queue/index.ts";
import { startWorker } from "../src/worker.ts";
import { createTestDatabase } from "./support/context.ts";

const TOKEN = "metrics-token-for-tests-0123";
// Whatever uses the database stops before it is dropped.
const url = await createTestDatabase(undefined, async () => {
  await deps.realtime.close();
  await db.destroy();
});
const dataDir = mkdtempSync(join(tmpdir(), "inkreel-metrics-"));
const config = loadConfig({
  DATA_DIR: dataDir,
  DATABASE_URL: url,
  HOST: "127.0.0.1",
  METRICS_TOKEN: TOKEN,
  RATE_LIMIT_AUTH_PER_MIN: "100000",
  RATE_LIMIT_USER_PER_MIN: "100000",
  COOKIE_SECURE: "false",
});
const log = createLogger("warn", {}, () => {});
// What src/server.ts does: the registry first, so the API's pool is watched from its creation.
const metrics = createMetrics({ process: "api", version: "test", log });
const db = createDb(url, { max: 5, log, onPool: metrics.watchPool("api") });
await syncBuiltinProviders(db);
const deps = await createDeps(config, db, log, { metrics, databaseUrl: url });
const app = createApp(deps);

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function call(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  const res = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

/** Scrapes the API; first lets pending after-response hooks run (Elysia defers them by one setImmediate). */
async function scrape(): Promise<string> {
  await new Promise((resolve) => setImmediate(resolve));
  const res = await call("GET", "/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text;
}

// ---- a strict reader of the text exposition format (version 0.0.4, what prom-client writes) ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (\\S+)(?: (-?\\d+))?$`);
const VALUE = /^(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|NaN|[-+]Inf)$/;

/** Parses exposition text; throws on any line that is not a comment, a sample or blank, or breaks a rule. */
function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
    if (m) continue;
    m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (m) {
      if (types.has(m[1]!)) throw new Error(`TYPE given twice: ${line}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    if (line.startsWith("#")) throw new Error(`unknown comment line: ${line}`);
    m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText = "", , , , , raw] = m;
    if (!VALUE.test(raw!)) throw new Error(`bad value: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of labelText.matchAll(new RegExp(LABEL, "g"))) {
      if (l[1]! in labels) throw new Error(`label given twice: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    }
    const family = [name!, name!.replace(/_(bucket|sum|count)$/, "")].find((n) => types.has(n));
    if (!family) throw new Error(`sample without a TYPE line before it: ${line}`);
    if (name !== family && types.get(family) !== "histogram" && types.get(family) !== "summary")
      throw new Error(`suffixed sample of a ${types.get(family)}: ${line}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series given twice: ${line}`);
    seen.add(key);
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    samples.push({ name: name!, labels, value });
  }
  // Histograms: cumulative buckets ending in +Inf, which equals _count.
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${family}: a bucket without le`);
      const key = JSON.stringify(Object.entries(rest).sort());
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      let last = 0;
      for (const b of buckets) {
        if (b.value < last) throw new Error(`${family}${key}: buckets are not cumulative`);
        last = b.value;
      }
      if (buckets.at(-1)?.labels.le !== "+Inf") throw new Error(`${family}${key}: no +Inf bucket`);
      const count = samples.find(
        (s) => s.name === `${family}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key,
      );
      if (count?.value !== last) throw new Error(`${family}${key}: _count is not the +Inf bucket`);
    }
  }
  return samples;
}

/** The value of the one series of `name` whose labels include `labels`; 0 when there is none. */
function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const matching = parseExposition(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matching.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${matching.length} series`);
  return matching[0]?.value ?? 0;
}

/** A job observer feeding `metrics` that also lets a test wait for an attempt of a kind. */
function watchedJobs(target: Metrics) {
  const attempts: JobAttempt[] = [];
  const waiting = new Map<string, Array<(a: JobAttempt) => void>>();
  const observer: JobObserver = {
    attempted(a) {
      target.jobs.attempted(a);
      attempts.push(a);
      for (const resolve of waiting.get(a.kind) ?? []) resolve(a);
      waiting.delete(a.kind);
    },
    rescued: (n) => target.jobs.rescued(n),
  };
  const attemptOf = (kind: string) =>
    new Promise<JobAttempt>((resolve) => {
      const done = attempts.find((a) => a.kind === kind);
      if (done) return resolve(done);
      waiting.set(kind, [...(waiting.get(kind) ?? []), resolve]);
    });
  return { observer, attemptOf };
}

describe("metrics configuration", () => {
  test("METRICS_TOKEN is at least 16 characters; WORKER_METRICS_PORT needs it", () => {
    const fails = (env: Record<string, string>, variable: string) => {
      expect(() => loadConfig({ DATA_DIR: dataDir, ...env })).toThrow(ConfigError);
      try {
        loadConfig({ DATA_DIR: dataDir, ...env });
      } catch (e) {
        expect((e as ConfigError).variable).toBe(variable);
      }
    };
    fails({ METRICS_TOKEN: "too-short" }, "METRICS_TOKEN");
    fails({ METRICS_TOKEN: "has a space in the middle" }, "METRICS_TOKEN");
    fails({ WORKER_METRICS_PORT: "9464" }, "METRICS_TOKEN");
    fails({ METRICS_TOKEN: TOKEN, WORKER_METRICS_PORT: "70000" }, "WORKER_METRICS_PORT");
    expect(loadConfig({ DATA_DIR: dataDir }).metrics).toEqual({ token: null, workerPort: null });
    expect(loadConfig({ DATA_DIR: dataDir, METRICS_TOKEN: TOKEN, WORKER_METRICS_PORT: "9464" }).metrics).toEqual({
      token: TOKEN,
      workerPort: 9464,
    });
  });
});

describe("GET /metrics on the API", () => {
  test("without METRICS_TOKEN the route does not exist: 404 in the envelope", async () => {
    const tokenless = createApp(await createDeps({ ...config, metrics: { token: null, workerPort: null } }, db, log));
    const res = await tokenless.handle(
      new Request("http://localhost/metrics", { headers: { authorization: `Bearer ${TOKEN}` } }),
    );
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      success: false,
      data: null,
      message: "route not found",
      error: { code: "NOT_FOUND", details: {} },
    });
  });

  test("refuses a request without the token, with a wrong one or another scheme", async () => {
    for (const authorization of [undefined, `Bearer ${TOKEN}x`, "Bearer short", `Basic ${TOKEN}`]) {
      const res = await call("GET", "/metrics", { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      expect(JSON.parse(res.text)).toMatchObject({ success: false, data: null, error: { code: "UNAUTHORIZED" } });
      expect(res.text).not.toContain("inkreel_");
    }
    const ok = await call("GET", "/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(seriesValue(ok.text, "inkreel_info", { process: "api", version: "test" })).toBe(1);
  });

  test("is not in the public OpenAPI document", async () => {
    const spec = JSON.parse((await call("GET", "/openapi.json")).text) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).not.toContain("/metrics");
    expect(Object.keys(spec.paths)).toContain("/api/v1/projects/{id}");
  });

  test("counts requests by route template, method and status, with a latency histogram", async () => {
    const route = "/api/v1/projects/:id";
    const before = await scrape();
    const user = await call("POST", "/api/v1/auth/register", {
      body: {
        username: `m_${crypto.randomUUID().slice(0, 8)}`,
        email: `${crypto.randomUUID()}@example.com`,
        password: "correct horse battery",
      },
    });
    expect(user.status).toBe(201);
    const token = JSON.parse(user.text).data.access_token as string;
    const ids = [crypto.randomUUID(), crypto.randomUUID()];
    for (const id of ids)
      expect(
        (await call("GET", `/api/v1/projects/${id}`, { headers: { authorization: `Bearer ${token}` } })).status,
      ).toBe(404);
    expect((await call("GET", `/api/v1/projects/${ids[0]}`)).status).toBe(401);
    expect((await call("GET", `/no/such/route/${ids[0]}`)).status).toBe(404);
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string>) =>
      seriesValue(after, name, labels) - seriesValue(before, name, labels);
    expect(delta("inkreel_http_requests_total", { method: "GET", route, status: "404" })).toBe(2);
    expect(delta("inkreel_http_requests_total", { method: "GET", route, status: "401" })).toBe(1);
    expect(
      delta("inkreel_http_requests_total", { method: "POST", route: "/api/v1/auth/register", status: "201" }),
    ).toBe(1);
    expect(delta("inkreel_http_request_duration_seconds_count", { method: "GET", route })).toBe(3);
    expect(delta("inkreel_http_request_duration_seconds_bucket", { method: "GET", route, le: "+Inf" })).toBe(3);
    expect(seriesValue(after, "inkreel_http_request_duration_seconds_sum", { method: "GET", route })).toBeGreaterThan(
      0,
    );
    // Unknown paths collapse to one label; no raw path (with its id) is a label.
    expect(delta("inkreel_http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1);
    for (const id of ids) expect(after).not.toContain(id);
    // The scrape before this one was counted too.
    expect(
      seriesValue(after, "inkreel_http_requests_total", { method: "GET", route: "/metrics", status: "200" }),
    ).toBeGreaterThan(0);
  });

  test("queue depth by queue and state reflects the jobs enqueued", async () => {
    const queue = `metrics-depth-${crypto.randomUUID().slice(0, 8)}`;
    const first = await enqueue(db, { queue, kind: "metrics.noop" });
    await enqueue(db, { queue, kind: "metrics.noop" });
    await enqueue(db, { queue, kind: "metrics.noop", concurrencyKey: "k" });
    await enqueue(db, { queue, kind: "metrics.child", parents: [first.id] });
    const text = await scrape();
    expect(seriesValue(text, "inkreel_queue_jobs", { queue, state: "ready" })).toBe(3);
    expect(seriesValue(text, "inkreel_queue_jobs", { queue, state: "waiting" })).toBe(1);
    expect(seriesValue(text, "inkreel_queue_jobs", { queue, state: "running" })).toBe(0);
  });

  test("provider calls, cost and latency after a local-provider call", async () => {
    const labels = { capability: "music", provider: "local", model: "inkreel-synth-1" };
    const before = await scrape();
    const music = (await deps.providers.forScope({})).music;
    const result = await music.generate({ mood: "calm", durationS: 1, seed: 1 });
    expect(result.response.provider).toBe("local");
    const after = await scrape();
    const delta = (name: string, l: Record<string, string>) =>
      seriesValue(after, name, l) - seriesValue(before, name, l);
    expect(delta("inkreel_provider_calls_total", { ...labels, outcome: "ok" })).toBe(1);
    expect(delta("inkreel_provider_call_duration_seconds_count", { ...labels, outcome: "ok" })).toBe(1);
    expect(delta("inkreel_provider_failovers_total", labels)).toBe(0);
    // Local models are free: no cost is added.
    expect(delta("inkreel_provider_cost_usd_total", labels)).toBe(0);
  });

  test("realtime subscribers and database pool use", async () => {
    const sub = await deps.realtime.subscribe(crypto.randomUUID(), "live", () => {});
    const open = await scrape();
    expect(seriesValue(open, "inkreel_realtime_subscriptions")).toBe(1);
    sub.close();
    expect(seriesValue(await scrape(), "inkreel_realtime_subscriptions")).toBe(0);
    expect(seriesValue(open, "inkreel_db_pool_max_connections", { pool: "api" })).toBe(5);
    expect(seriesValue(open, "inkreel_db_pool_connections", { pool: "api" })).toBeGreaterThanOrEqual(1);
    expect(seriesValue(open, "inkreel_db_pool_waiting_clients", { pool: "api" })).toBe(0);
  });

  test("the text is Prometheus exposition from this process's registry, not prom-client's global one", async () => {
    const text = await scrape();
    const names = new Set(parseExposition(text).map((s) => s.name));
    for (const name of [
      "inkreel_http_requests_total",
      "inkreel_http_request_duration_seconds_bucket",
      "inkreel_queue_jobs",
      "inkreel_provider_calls_total",
      "inkreel_db_pool_connections",
      "process_resident_memory_bytes",
      "process_cpu_seconds_total",
    ])
      expect(names).toContain(name);
    expect(globalRegistry.getMetricsAsArray()).toHaveLength(0);
    // Each process has its own: a second registry starts from nothing.
    const other = createMetrics({ process: "api", version: "test", log });
    expect(seriesValue(await other.render(), "inkreel_http_requests_total", { route: "/metrics" })).toBe(0);
  });
});

describe("worker metrics", () => {
  test("a worker run records a job duration sample and counts a failing job", async () => {
    const workerMetrics = createMetrics({ process: "worker", version: "test", log });
    const { observer, attemptOf } = watchedJobs(workerMetrics);
    const queue = `metrics-jobs-${crypto.randomUUID().slice(0, 8)}`;
    const worker = createWorker({
      connectionString: url,
      queues: [queue],
      handlers: {
        "metrics.noop": () => null,
        "metrics.boom": async () => {
          throw new Error("boom");
        },
      },
      log,
      observer,
      onPool: workerMetrics.watchPool(`queue:${queue}`),
      shutdownDeadlineMs: 1000,
    });
    await worker.start();
    try {
      await enqueue(db, { queue, kind: "metrics.noop" });
      await enqueue(db, { queue, kind: "metrics.boom", maxAttempts: 1 });
      await enqueue(db, { queue, kind: "metrics.nobody" });
      const [done, failed, unknown] = await Promise.all([
        attemptOf("metrics.noop"),
        attemptOf("metrics.boom"),
        attemptOf("unregistered"),
      ]);
      expect(done.outcome).toBe("completed");
      expect(failed).toMatchObject({ outcome: "failed", reason: "error" });
      expect(unknown).toMatchObject({ outcome: "failed", reason: "permanent" });
    } finally {
      await worker.stop();
    }
    const text = await workerMetrics.render();
    parseExposition(text);
    const noop = { queue, kind: "metrics.noop", outcome: "completed" };
    expect(seriesValue(text, "inkreel_job_duration_seconds_count", noop)).toBe(1);
    expect(seriesValue(text, "inkreel_job_duration_seconds_bucket", { ...noop, le: "+Inf" })).toBe(1);
    expect(seriesValue(text, "inkreel_job_failures_total", { queue, kind: "metrics.boom", reason: "error" })).toBe(1);
    expect(seriesValue(text, "inkreel_job_failures_total", { queue, kind: "unregistered", reason: "permanent" })).toBe(
      1,
    );
    expect(seriesValue(text, "inkreel_job_failures_total", { queue, kind: "metrics.noop" })).toBe(0);
    expect(seriesValue(text, "inkreel_db_pool_max_connections", { pool: `queue:${queue}` })).toBe(4);
    expect(text).not.toContain("inkreel_queue_jobs{");
  });

  test("inkreel worker serves its own metrics on its port, behind the same token", async () => {
    const workerMetrics = createMetrics({ process: "worker", version: "test", log });
    const { observer, attemptOf } = watchedJobs(workerMetrics);
    const running = await startWorker(config, url, log, {
      queues: ["maintenance"],
      concurrency: 1,
      metricsPort: 0,
      metrics: { ...workerMetrics, jobs: observer },
    });
    try {
      expect(running.metricsPort).toBeGreaterThan(0);
      const kind = "maintenance.prune_idempotency_keys";
      await enqueue(db, { queue: "maintenance", kind });
      expect((await attemptOf(kind)).outcome).toBe("completed");
      const at = `http://127.0.0.1:${running.metricsPort}`;
      const refused = await fetch(`${at}/metrics`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get("www-authenticate")).toBe("Bearer");
      expect(await refused.json()).toMatchObject({ success: false, data: null, error: { code: "UNAUTHORIZED" } });
      const elsewhere = await fetch(`${at}/other`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(elsewhere.status).toBe(404);
      expect(await elsewhere.json()).toMatchObject({ success: false, error: { code: "NOT_FOUND" } });
      const res = await fetch(`${at}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(seriesValue(text, "inkreel_info", { process: "worker" })).toBe(1);
      expect(
        seriesValue(text, "inkreel_job_duration_seconds_count", { queue: "maintenance", kind, outcome: "completed" }),
      ).toBe(1);
      expect(seriesValue(text, "inkreel_db_pool_max_connections", { pool: "worker" })).toBe(4);
      expect(seriesValue(text, "inkreel_db_pool_max_connections", { pool: "queue:maintenance" })).toBe(4);
    } finally {
      await running.stop();
    }
  });

  test("ffmpeg runs are timed into a histogram by outcome", async () => {
    const m = createMetrics({ process: "worker", version: "test", log });
    const spans = m.spans();
    await withTempDir(async (dir) => {
      await runFfmpeg(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "0.1", join(dir, "a.wav")], { spans });
      await expect(runFfmpeg(["-i", join(dir, "missing.wav"), join(dir, "b.wav")], { spans })).rejects.toThrow();
    });
    const text = await m.render();
    expect(seriesValue(text, "inkreel_ffmpeg_duration_seconds_count", { outcome: "ok" })).toBe(1);
    expect(seriesValue(text, "inkreel_ffmpeg_duration_seconds_count", { outcome: "failed" })).toBe(1);
  });
});
