/**
 * `bun run bench:square`: the public square's feed (`GET /api/v1/square/feeds`) over real HTTP on
 * loopback, on BENCH_SQUARE_WORKS (100,000) works with BENCH_SQUARE_LIKES (1,000,000) likes from
 * BENCH_SQUARE_USERS (1,000) users, with the plans of the SQL it runs.
 *
 * A fresh embedded PostgreSQL (opened the way `inkreel dev` opens it, migrated), seeded by SQL
 * (seed.ts), then:
 *   plans    an API process (`bun src/cli.ts api` on a free loopback port) whose database sessions
 *            preload auto_explain (plans.ts): each feed is requested BENCH_SQUARE_PROBES (9) times
 *            one after another (the first answer's envelope is checked), and every statement it
 *            sent is logged with the plan it ran (ANALYZE, BUFFERS, JSON); each SELECT on the
 *            square's tables is then EXPLAINed again here with its parameters, custom and generic
 *            plan. The process is stopped and auto_explain turned off.
 *   load     a fresh API process; each feed in turn gets BENCH_SQUARE_CLIENTS (20) concurrent
 *            clients (autocannon connections) for BENCH_SQUARE_SECONDS (30) s, after a warm-up.
 * Feeds (page_size 20): hot page 1 and 50, latest page 1 and 50, type=video hot page 1. For each:
 * requests/s, latency p50/p99 (ms, autocannon's histogram, whole ms), errors (a non-200 answer, a
 * socket error or a timeout; must be 0), CPU time per request of the API and of PostgreSQL, and
 * whether any plan has a Seq Scan on works or work_likes. Goals: p99 ≤ 50 ms on every feed, no
 * such Seq Scan. The per-user and per-IP rate limits are raised out of the way. The plans'
 * summaries are in the JSON; BENCH_SQUARE_PLANS_FILE names a file for the plans in full.
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem, type } from "node:os";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { loadConfig } from "../../src/config.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { cpuMs, listeningPort, tearDown, treeCpuMs } from "../bench-api/proc.ts";
import {
  AutoExplainLog,
  autoExplainOff,
  autoExplainOn,
  type ExplainOutput,
  explain,
  type PlanSummary,
  parameterLiterals,
  readsSquare,
  summarise,
} from "./plans.ts";
import { seed } from "./seed.ts";

const ROOT = resolve(import.meta.dir, "../..");
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = num("BENCH_SQUARE_SECONDS", 30);
const CLIENTS = num("BENCH_SQUARE_CLIENTS", 20);
const WARMUP_S = num("BENCH_SQUARE_WARMUP_S", 3);
const PROBES = num("BENCH_SQUARE_PROBES", 9);
const PLANS_FILE = process.env.BENCH_SQUARE_PLANS_FILE;
const SIZES = {
  users: num("BENCH_SQUARE_USERS", 1_000),
  works: num("BENCH_SQUARE_WORKS", 100_000),
  likes: num("BENCH_SQUARE_LIKES", 1_000_000),
};
const PAGE_SIZE = 20;
const GOAL_P99_MS = 50;
const say = (...a: unknown[]) => console.error("[bench:square]", ...a);
const round = (n: number, d = 2) => Number(n.toFixed(d));
const pkgVersion = (path: string) => JSON.parse(readFileSync(resolve(ROOT, path), "utf8")).version as string;

const FEEDS = {
  hot_p1: { sort: "hot", page: 1 },
  hot_p50: { sort: "hot", page: 50 },
  latest_p1: { sort: "latest", page: 1 },
  latest_p50: { sort: "latest", page: 50 },
  video_hot_p1: { type: "video", sort: "hot", page: 1 },
} as const satisfies Record<string, { type?: "image" | "video"; sort: "hot" | "latest"; page: number }>;
type FeedName = keyof typeof FEEDS;
/** Feeds measured again with no page kept by the API (every request reads its page). */
const UNCACHED: FeedName[] = ["hot_p1", "hot_p50"];
const feedPath = (f: { type?: string; sort: string; page: number }) =>
  `/api/v1/square/feeds?${f.type ? `type=${f.type}&` : ""}sort=${f.sort}&page=${f.page}&page_size=${PAGE_SIZE}`;

interface Envelope {
  success: boolean;
  data?: {
    items: Array<Record<string, unknown>>;
    total: number;
    page: number;
    page_size: number;
    total_pages: number;
  };
}

/** One answer of a feed, checked: the envelope, a full page, the total of what the square shows. */
async function checkFeed(base: string, name: FeedName, expectedTotal: number) {
  const feed = FEEDS[name];
  const res = await fetch(`${base}${feedPath(feed)}`);
  const text = await res.text();
  if (res.status === 404 && !text.includes('"success"'))
    throw new Error(`${feedPath(feed)} answered 404: is the square's route (src/modules/works) there yet?`);
  if (res.status !== 200) throw new Error(`${feedPath(feed)} answered ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as Envelope;
  const d = body.data;
  if (!body.success || !d || !Array.isArray(d.items))
    throw new Error(`${name}: not the envelope: ${text.slice(0, 300)}`);
  const problems: string[] = [];
  if (d.items.length !== PAGE_SIZE) problems.push(`${d.items.length} items, not ${PAGE_SIZE}`);
  if (d.page !== feed.page || d.page_size !== PAGE_SIZE) problems.push(`page ${d.page}/${d.page_size}`);
  if (d.total !== expectedTotal) problems.push(`total ${d.total}, not the ${expectedTotal} published works`);
  if (d.total_pages !== Math.ceil(d.total / PAGE_SIZE)) problems.push(`total_pages ${d.total_pages}`);
  if (new Set(d.items.map((i) => i.id)).size !== d.items.length) problems.push("repeated ids");
  if ("type" in feed && d.items.some((i) => i.type !== undefined && i.type !== feed.type)) problems.push("other types");
  const times = d.items.map((i) => (typeof i.published_at === "string" ? Date.parse(i.published_at) : Number.NaN));
  if (feed.sort === "latest" && times.every(Number.isFinite) && times.some((t, i) => i > 0 && t > times[i - 1]!))
    problems.push("latest is not newest first");
  if (problems.length) say(`${name}: ${problems.join("; ")}`);
  return {
    status: res.status,
    items: d.items.length,
    total: d.total,
    item_keys: Object.keys(d.items[0] ?? {}),
    problems,
  };
}

interface LoadFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  requests: number;
  errors: number;
  cpu_ms_per_request: { api: number; postgres: number };
  load_avg_1m: number;
}

async function load(url: string, seconds: number, charged: { api: number; postgres: number }): Promise<LoadFigures> {
  const api0 = cpuMs(charged.api);
  const pg0 = treeCpuMs(charged.postgres);
  const r = await autocannon({ url, connections: CLIENTS, duration: seconds });
  const codes = (r as typeof r & { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  const non200 = Object.entries(codes).reduce((s, [code, { count }]) => s + (code === "200" ? 0 : count), 0);
  const n = Math.max(1, r.requests.total);
  return {
    rps: round(r.requests.average, 1),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    max_ms: r.latency.max,
    requests: r.requests.total,
    errors: Math.max(non200, r.non2xx) + r.errors + r.timeouts,
    cpu_ms_per_request: {
      api: round((cpuMs(charged.api) - api0) / n, 3),
      postgres: round((treeCpuMs(charged.postgres) - pg0) / n, 3),
    },
    load_avg_1m: round(loadavg()[0] ?? 0),
  };
}

interface StatementPlans {
  sql: string;
  params: string[];
  /** How often the probes ran it, and whether its plan's shape changed between runs. */
  executions: number;
  plan_changed: boolean;
  /** The plan the API's session ran (auto_explain), its last execution. */
  route: PlanSummary;
  /** EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE here, custom and generic plan. */
  custom?: PlanSummary;
  generic?: PlanSummary;
  explain_error?: string;
  /** The three plans in full (EXPLAIN's JSON), for BENCH_SQUARE_PLANS_FILE. */
  full: { route: ExplainOutput; custom?: ExplainOutput; generic?: ExplainOutput };
}

/**
 * The square's reads a feed's probes logged, each once (its last execution). Other statements
 * (a pool's `select 1`) are counted only: they come from the API process, not from the route.
 */
function statementsOf(logged: ExplainOutput[]) {
  const byText = new Map<string, { last: ExplainOutput; count: number; shapes: Set<string> }>();
  for (const p of logged) {
    const text = p["Query Text"] ?? "";
    if (!readsSquare(text)) continue;
    const entry = byText.get(text) ?? { last: p, count: 0, shapes: new Set<string>() };
    entry.last = p;
    entry.count++;
    entry.shapes.add(
      summarise(p)
        .nodes.map((l) => l.replace(/ \(.*$/, ""))
        .join("|"),
    );
    byText.set(text, entry);
  }
  return [...byText.entries()];
}

const dataDir = mkdtempSync(join(tmpdir(), "inkreel-bench-square-"));
// As root the embedded server runs as the postgres user, which must reach its data directory.
chmodSync(dataDir, 0o755);
const loadAtStart = loadavg();
const env = {
  ...process.env,
  DATA_DIR: dataDir,
  LOG_LEVEL: "info",
  RATE_LIMIT_USER_PER_MIN: "1000000",
  RATE_LIMIT_AUTH_PER_MIN: "1000000",
};
const config = loadConfig(env);
// The embedded server's output (auto_explain's plans among it) reaches its start-up logger at debug.
const serverLog = new AutoExplainLog();
const base = createLogger("warn", { process: "bench" });
const logger: Logger = {
  level: base.level,
  debug: (msg, fields) => {
    if (msg === "postgres" && typeof fields?.line === "string") serverLog.add(fields.line);
  },
  info: (msg, fields) => base.info(msg, fields),
  warn: (msg, fields) => base.warn(msg, fields),
  error: (msg, fields) => base.error(msg, fields),
  child: (fields) => base.child(fields),
};
const database = await openDatabase(config, logger);
const client = new pg.Client({ connectionString: database.url });
await client.connect();
const childEnv = { ...env, DATABASE_URL: database.url, HOST: "127.0.0.1", PORT: "0" };
const children: Array<ReturnType<typeof Bun.spawn>> = [];
let apis = 0;
/** An API process with its log (stdout) in a file under the data directory, and its base URL. */
const startApi = async (extraEnv: Record<string, string> = {}) => {
  const logFile = join(dataDir, `api-${++apis}.log`);
  const child = Bun.spawn([process.execPath, join(ROOT, "src/cli.ts"), "api"], {
    env: { ...childEnv, ...extraEnv },
    stdout: Bun.file(logFile),
    stderr: "inherit",
  });
  children.push(child);
  const port = await listeningPort(logFile, child);
  say(`api (pid ${child.pid}) listening on http://127.0.0.1:${port}`);
  return { child, base: `http://127.0.0.1:${port}` };
};
const stopApi = async (child: ReturnType<typeof Bun.spawn>) => {
  child.kill("SIGTERM");
  await child.exited;
  children.splice(children.indexOf(child), 1);
};
try {
  // ---- seed -------------------------------------------------------------------------------------
  say(`seeding ${SIZES.users} users, ${SIZES.works} works, ${SIZES.likes} likes…`);
  const seeded = await seed(client, SIZES, say);
  say(`seed: ${JSON.stringify(seeded)}`);
  const totals: Record<FeedName, number> = {
    hot_p1: seeded.published,
    hot_p50: seeded.published,
    latest_p1: seeded.published,
    latest_p50: seeded.published,
    video_hot_p1: seeded.published_video,
  };
  const dbName = (await client.query<{ d: string }>("select current_database() as d")).rows[0]!.d;

  // ---- plans: the route's statements under auto_explain -------------------------------------------
  for (const s of autoExplainOn(dbName)) await client.query(s);
  const probeApi = await startApi();
  const checks = {} as Record<FeedName, Awaited<ReturnType<typeof checkFeed>>>;
  const logged = {} as Record<FeedName, ExplainOutput[]>;
  for (const name of Object.keys(FEEDS) as FeedName[]) {
    const mark = serverLog.mark();
    checks[name] = await checkFeed(probeApi.base, name, totals[name]);
    for (let i = 1; i < PROBES; i++) {
      const res = await fetch(`${probeApi.base}${feedPath(FEEDS[name])}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${name}: probe ${i} answered ${res.status}`);
    }
    await Bun.sleep(300); // the server's stderr reaches this process a little later
    logged[name] = serverLog.since(mark);
    say(`plans: ${name}: ${logged[name].length} statements logged over ${PROBES} requests`);
  }
  await stopApi(probeApi.child);
  for (const s of autoExplainOff(dbName)) await client.query(s);

  const plans = {} as Record<FeedName, StatementPlans[]>;
  for (const name of Object.keys(FEEDS) as FeedName[]) {
    plans[name] = [];
    for (const [text, { last, count, shapes }] of statementsOf(logged[name])) {
      const params = parameterLiterals(last["Query Parameters"]);
      const entry: StatementPlans = {
        sql: text,
        params,
        executions: count,
        plan_changed: shapes.size > 1,
        route: summarise(last),
        full: { route: last },
      };
      try {
        entry.full.custom = await explain(client, text, params, "force_custom_plan");
        entry.full.generic = await explain(client, text, params, "force_generic_plan");
        entry.custom = summarise(entry.full.custom);
        entry.generic = summarise(entry.full.generic);
      } catch (err) {
        entry.explain_error = (err as Error).message;
      }
      plans[name].push(entry);
    }
  }

  if (PLANS_FILE) {
    const full = Object.fromEntries(
      Object.entries(plans).map(([name, list]) => [
        name,
        list.map((e) => ({ sql: e.sql, params: e.params, ...e.full })),
      ]),
    );
    writeFileSync(PLANS_FILE, JSON.stringify(full, null, 2));
    say(`plans: written in full to ${PLANS_FILE}`);
  }

  // ---- load ---------------------------------------------------------------------------------------
  const api = await startApi();
  const postmaster = Number(readFileSync(join(dataDir, "db/postgres/postmaster.pid"), "utf8").split("\n")[0]);
  const charged = { api: api.child.pid, postgres: postmaster };
  say(`warm-up: ${CLIENTS} clients for ${WARMUP_S} s on each feed…`);
  for (const name of Object.keys(FEEDS) as FeedName[])
    await load(`${api.base}${feedPath(FEEDS[name])}`, WARMUP_S, charged);
  const measured = {} as Record<FeedName, LoadFigures>;
  for (const name of Object.keys(FEEDS) as FeedName[]) {
    say(`${name}: ${CLIENTS} clients for ${SECONDS} s on ${feedPath(FEEDS[name])}…`);
    measured[name] = await load(`${api.base}${feedPath(FEEDS[name])}`, SECONDS, charged);
    say(`${name}: ${JSON.stringify(measured[name])}`);
  }
  await stopApi(api.child);
  // The same read path with no page kept (SQUARE_FEED_CACHE_MS=0): every request reads the page.
  const uncachedApi = await startApi({ SQUARE_FEED_CACHE_MS: "0" });
  const uncachedCharged = { api: uncachedApi.child.pid, postgres: postmaster };
  const uncached = {} as Record<string, LoadFigures>;
  for (const name of UNCACHED) {
    await load(`${uncachedApi.base}${feedPath(FEEDS[name])}`, WARMUP_S, uncachedCharged);
    say(`uncached ${name}: ${CLIENTS} clients for ${SECONDS} s…`);
    uncached[name] = await load(`${uncachedApi.base}${feedPath(FEEDS[name])}`, SECONDS, uncachedCharged);
    say(`uncached ${name}: ${JSON.stringify(uncached[name])}`);
  }
  await stopApi(uncachedApi.child);

  // ---- report -------------------------------------------------------------------------------------
  const feedSeqScan = (name: FeedName) =>
    plans[name].length === 0
      ? null
      : plans[name].some((s) => s.route.seq_scan || s.custom?.seq_scan || s.generic?.seq_scan);
  const feeds = Object.fromEntries(
    (Object.keys(FEEDS) as FeedName[]).map((name) => {
      const m = measured[name];
      return [
        name,
        {
          rps: m.rps,
          p50_ms: m.p50_ms,
          p99_ms: m.p99_ms,
          errors: m.errors,
          seq_scan: feedSeqScan(name),
          path: feedPath(FEEDS[name]),
          requests: m.requests,
          max_ms: m.max_ms,
          cpu_ms_per_request: m.cpu_ms_per_request,
          load_avg_1m: m.load_avg_1m,
        },
      ];
    }),
  );
  const planReport = Object.fromEntries(
    (Object.keys(FEEDS) as FeedName[]).map((name) => [name, plans[name].map(({ full: _full, ...rest }) => rest)]),
  );
  const pgVersion = (await client.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v;
  const cpu = cpus();
  console.log(
    JSON.stringify({
      works: seeded.works,
      likes: seeded.likes,
      seed_s: seeded.seed_s,
      feeds,
      uncached: Object.fromEntries(
        Object.entries(uncached).map(([name, m]) => [
          name,
          {
            rps: m.rps,
            p50_ms: m.p50_ms,
            p99_ms: m.p99_ms,
            errors: m.errors,
            cpu_ms_per_request: m.cpu_ms_per_request,
          },
        ]),
      ),
      goals: {
        p99_le_50ms: Object.values(measured).every((m) => m.p99_ms <= GOAL_P99_MS),
        no_seq_scan: (Object.keys(FEEDS) as FeedName[]).every((name) => feedSeqScan(name) === false),
        no_errors: Object.values(measured).every((m) => m.errors === 0),
      },
      plans: planReport,
      checks,
      seed: seeded,
      setup: {
        clients: CLIENTS,
        duration_s: SECONDS,
        warmup_s: WARMUP_S,
        page_size: PAGE_SIZE,
        probes: PROBES,
        rate_limits_per_min: 1_000_000,
      },
      versions: {
        bun: Bun.version,
        autocannon: pkgVersion("node_modules/autocannon/package.json"),
        elysia: pkgVersion("node_modules/elysia/package.json"),
        postgres: pgVersion,
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
  await tearDown({ children, db: { destroy: () => client.end() }, database, dataDir });
}
