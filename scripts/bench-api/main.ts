/**
 * `bun run bench:api`: one API process (`bun src/cli.ts api` on a free loopback port) on a fresh
 * embedded PostgreSQL (opened the way `inkreel dev` opens it), loaded with autocannon.
 *
 * Setup: a user, a project and one pipeline run on the local providers (a worker process runs it
 * and is stopped before measuring), then a login over HTTP for the access token. The per-user rate
 * limit is raised out of the way (RATE_LIMIT_USER_PER_MIN=1000000) but still counted on every
 * request. Phases, one after another:
 *   health        GET /health, 50 connections, BENCH_DURATION_S (20) seconds: the floor of the stack;
 *   project       authenticated GET /api/v1/projects/:id, same load;
 *   timeline      authenticated GET /api/v1/projects/:id/timeline (the finished run's package);
 *   sse           BENCH_SSE_CLIENTS (1000) subscribers of the project's event stream on that API
 *                 process while this process appends BENCH_SSE_RATE (100) events/s for
 *                 BENCH_SSE_S (20) s through appendEvent (the pipeline's log + NOTIFY path). Each
 *                 event carries the time it was appended (stamped just before the INSERT … NOTIFY
 *                 statement) and the subscriber process (sse-clients.ts) records receipt − stamp.
 * For each HTTP phase: requests/s (mean), latency p50/p99 (ms, autocannon's histogram, whole ms),
 * non-2xx and socket errors (both must be 0), and the CPU time per request of the API process and
 * of PostgreSQL (from /proc: unlike throughput, it hardly depends on what else runs on the
 * machine). For the SSE phase: delivery latency p50/p99 over every (subscriber, event) pair and
 * the API process's CPU use (cores). The API process's RSS is sampled from /proc every 100 ms: at
 * start, after the HTTP phases, with the subscribers connected, and its peak while events flow.
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem, type } from "node:os";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { sql } from "kysely";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { createLogger } from "../../src/log.ts";
import { createProject } from "../../src/modules/projects/service.ts";
import { startRun } from "../../src/pipeline/orchestrate.ts";
import { getRun } from "../../src/pipeline/run-state.ts";
import { appendEvent } from "../../src/realtime/events.ts";
import { createUser } from "../../src/services/users.ts";
import { accessToken, cpuMs, listeningPort, rssMb, tearDown, treeCpuMs } from "./proc.ts";

const ROOT = resolve(import.meta.dir, "../..");
const STORY = resolve(ROOT, process.env.BENCH_STORY ?? "examples/the-lighthouse-keeper.txt");
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 20);
const CONNECTIONS = 50;
const SSE_CLIENTS = Number(process.env.BENCH_SSE_CLIENTS ?? 1000);
const SSE_RATE = Number(process.env.BENCH_SSE_RATE ?? 100);
const SSE_S = Number(process.env.BENCH_SSE_S ?? 20);
const PIPELINE_TIMEOUT_MS = 10 * 60_000;
const say = (...a: unknown[]) => console.error("[bench:api]", ...a);
const round = (n: number, d = 2) => Number(n.toFixed(d));
const load1 = () => round(loadavg()[0] ?? 0);
const pkgVersion = (path: string) => JSON.parse(readFileSync(resolve(ROOT, path), "utf8")).version as string;

/** Lines of a child's stdout as they come. */
async function* lines(stream: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
    }
  }
}

/** Reads lines until `pick` finds something; `next()`, not for-await, so the stream stays open. */
async function untilLine<T>(it: AsyncGenerator<string>, pick: (line: string) => T | undefined, what: string) {
  for (let line = await it.next(); !line.done; line = await it.next()) {
    const found = pick(line.value);
    if (found !== undefined) return found;
  }
  throw new Error(`${what}: the process ended first`);
}

interface HttpFigures {
  requests_per_s: number;
  requests: number;
  latency_ms: { p50: number; p99: number; max: number };
  non_2xx: number;
  errors: number;
  /** CPU time per request of the API process and of PostgreSQL (server and backends). */
  cpu_ms_per_request: { api: number; postgres: number };
  load_avg_1m: number;
}

/** The processes whose CPU time is charged to the requests. */
interface Charged {
  api: number;
  postgres: number;
}

async function hammer(
  label: string,
  url: string,
  headers: Record<string, string>,
  charged: Charged,
  seconds = DURATION_S,
) {
  say(`${label}: ${CONNECTIONS} connections for ${seconds} s on ${new URL(url).pathname}…`);
  const api0 = cpuMs(charged.api);
  const pg0 = treeCpuMs(charged.postgres);
  const r = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers });
  const n = Math.max(1, r.requests.total);
  const figures: HttpFigures = {
    requests_per_s: round(r.requests.average, 1),
    requests: r.requests.total,
    latency_ms: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
    non_2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    cpu_ms_per_request: {
      api: round((cpuMs(charged.api) - api0) / n, 3),
      postgres: round((treeCpuMs(charged.postgres) - pg0) / n, 3),
    },
    load_avg_1m: load1(),
  };
  say(`${label}: ${JSON.stringify(figures)}`);
  return figures;
}

const dataDir = mkdtempSync(join(tmpdir(), "inkreel-bench-api-"));
// As root the embedded server runs as the postgres user, which must reach its data directory.
chmodSync(dataDir, 0o755);
const loadAtStart = loadavg();
const env = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "info", RATE_LIMIT_USER_PER_MIN: "1000000" };
const config = loadConfig(env);
const database = await openDatabase(config, createLogger("warn", { process: "bench" }));
const db = createDb(database.url, { max: 2 });
const childEnv = { ...env, DATABASE_URL: database.url, HOST: "127.0.0.1", PORT: "0" };
const children: Array<ReturnType<typeof Bun.spawn>> = [];
/** A CLI process with its log (stdout) in a file under the data directory. */
const spawnCli = (part: string) => {
  const logFile = join(dataDir, `${part}.log`);
  const child = Bun.spawn([process.execPath, join(ROOT, "src/cli.ts"), part], {
    env: childEnv,
    stdout: Bun.file(logFile),
    stderr: "inherit",
  });
  children.push(child);
  return child;
};
try {
  // ---- setup: a finished run --------------------------------------------------------------
  const password = crypto.randomUUID();
  const user = await createUser(db, { username: "bench", email: "bench@inkreel.local", password });
  const text = (await Bun.file(STORY).text()).trim();
  const project = await createProject(
    db,
    { userId: user.id, currentSpaceId: user.current_space_id },
    { name: "bench", input: { type: "novel", text } },
  );
  const run = await startRun(db, { projectId: project.id, userId: user.id, mode: "auto" });
  say(`running the pipeline once on ${STORY} (local providers)…`);
  const worker = spawnCli("worker");
  const deadline = Date.now() + PIPELINE_TIMEOUT_MS;
  for (let last = ""; ; await Bun.sleep(200)) {
    const now = (await getRun(db, run.id))!;
    const line = `${now.status} ${now.progress}%`;
    if (line !== last) say(`pipeline: ${line}`);
    last = line;
    if (now.status === "completed") break;
    if (["failed", "cancelled"].includes(now.status) || Date.now() > deadline)
      throw new Error(`the run did not complete: ${now.status} ${JSON.stringify(now.error)}`);
  }
  worker.kill("SIGTERM");
  await worker.exited;

  // ---- the API process ---------------------------------------------------------------------
  const api = spawnCli("api");
  const port = await listeningPort(join(dataDir, "api.log"), api);
  const base = `http://127.0.0.1:${port}`;
  say(`api (pid ${api.pid}) listening on ${base}`);
  const token = await accessToken(base, { username: "bench", password });
  const auth = { authorization: `Bearer ${token}` };
  for (const path of [`/api/v1/projects/${project.id}`, `/api/v1/projects/${project.id}/timeline`]) {
    const res = await fetch(`${base}${path}`, { headers: auth });
    const body = (await res.json()) as { success: boolean };
    if (res.status !== 200 || !body.success) throw new Error(`${path} answered ${res.status}`);
  }
  const postmaster = Number(readFileSync(join(dataDir, "db/postgres/postmaster.pid"), "utf8").split("\n")[0]);
  const charged = { api: api.pid, postgres: postmaster };
  const rssAtStart = rssMb(api.pid);
  let peakRss = rssAtStart;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(api.pid))), 100);

  // ---- HTTP ---------------------------------------------------------------------------------
  await hammer("warm-up", `${base}/api/v1/projects/${project.id}`, auth, charged, 3);
  const health = await hammer("health", `${base}/health`, {}, charged);
  const projectRead = await hammer("project", `${base}/api/v1/projects/${project.id}`, auth, charged);
  const timeline = await hammer("timeline", `${base}/api/v1/projects/${project.id}/timeline`, auth, charged);
  const rssAfterHttp = rssMb(api.pid);
  const peakRssHttp = peakRss;

  // ---- SSE ------------------------------------------------------------------------------------
  const { rows } = await sql<{ id: number | null }>`
    select max(id)::int8 as id from project_events where project_id = ${project.id}
  `.execute(db);
  say(`sse: opening ${SSE_CLIENTS} subscribers…`);
  const subscribers = Bun.spawn([process.execPath, join(import.meta.dir, "sse-clients.ts")], {
    env: {
      ...process.env,
      BENCH_PORT: String(port),
      BENCH_TOKEN: token,
      BENCH_PROJECT: project.id,
      BENCH_AFTER: String(rows[0]?.id ?? 0),
      BENCH_SSE_CLIENTS: String(SSE_CLIENTS),
    },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  children.push(subscribers);
  const subLines = lines(subscribers.stdout as ReadableStream<Uint8Array>);
  const ready = await untilLine(
    subLines,
    (l) => (l.startsWith('{"ready"') ? (JSON.parse(l).ready as { connected: number }) : undefined),
    "the subscribers did not connect",
  );
  say(`sse: ${JSON.stringify(ready)}`);
  const rssIdleSubscribers = rssMb(api.pid);
  peakRss = rssIdleSubscribers;
  const events = SSE_RATE * SSE_S;
  say(`sse: appending ${events} events at ${SSE_RATE}/s…`);
  const started = performance.now();
  const apiCpuBefore = cpuMs(api.pid);
  for (let i = 0; i < events; i++) {
    const wait = started + (i * 1000) / SSE_RATE - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    await appendEvent(db, "progress", {
      project_id: project.id,
      run_id: null,
      status: "running",
      progress: i % 100,
      current_step: "bench",
      message: String(performance.timeOrigin + performance.now()),
    });
  }
  const appendS = (performance.now() - started) / 1000;
  subscribers.stdin.write(`stop ${events}\n`);
  await subscribers.stdin.flush();
  const sse = await untilLine(
    subLines,
    (l) =>
      l.startsWith('{"result"')
        ? (JSON.parse(l).result as { latency_ms: { p50: number; p99: number; max: number } } & Record<string, unknown>)
        : undefined,
    "the subscribers did not report",
  );
  clearInterval(sampler);
  const apiCores = (cpuMs(api.pid) - apiCpuBefore) / (performance.now() - started);
  const peakRssSse = Math.max(peakRss, rssMb(api.pid));
  say(`sse: ${JSON.stringify(sse)}`);
  await subscribers.exited;

  const pg = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(db);
  const cpu = cpus();
  console.log(
    JSON.stringify({
      health,
      project_read: projectRead,
      timeline,
      sse: {
        subscribers: SSE_CLIENTS,
        events_appended: events,
        append_rate_per_s: round(events / appendS, 1),
        ...sse,
        api_cpu_cores: round(apiCores),
        load_avg_1m: load1(),
      },
      api_rss_mb: {
        at_start: round(rssAtStart, 1),
        after_http: round(rssAfterHttp, 1),
        peak_http: round(peakRssHttp, 1),
        idle_subscribers: round(rssIdleSubscribers, 1),
        peak_sse: round(peakRssSse, 1),
      },
      setup: { connections: CONNECTIONS, duration_s: DURATION_S, rate_limit_user_per_min: 1_000_000 },
      versions: {
        bun: Bun.version,
        autocannon: pkgVersion("node_modules/autocannon/package.json"),
        elysia: pkgVersion("node_modules/elysia/package.json"),
        postgres: pg.rows[0]?.v,
        inkreel: pkgVersion("package.json"),
      },
      machine: {
        cpu: cpu[0]?.model,
        cores: cpu.length,
        memory_gib: round(totalmem() / 1024 ** 3, 1),
        os: `${type()} ${release()}`,
        load_avg_at_start: loadAtStart.map((x) => round(x)),
        load_avg_at_end: loadavg().map((x) => round(x)),
      },
    }),
  );
} finally {
  await tearDown({ children, db, database, dataDir });
}
