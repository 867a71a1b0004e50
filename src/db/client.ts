import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./types.ts";

// Return int8 and numeric as numbers: counts and sizes here stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Kysely<Database>;

/** Where the pool reports connection errors (the process's logger). */
export interface PoolErrorLog {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** What a pool says about its connections (pg.Pool has these), for the process's metrics. */
export interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options: { max?: number };
}

export interface DbOptions {
  max?: number;
  connectionTimeoutMillis?: number;
  log?: PoolErrorLog;
  /** Receives the pool once it exists (the metrics registry reads its counts at scrape time). */
  onPool?: (pool: PoolCounts) => void;
}

const stderrLog: PoolErrorLog = {
  warn: (msg, fields) => console.error(JSON.stringify({ level: "warn", msg, ...fields })),
};

/** A Kysely instance over a pg pool. Callers own it and call `destroy()` when done. */
export function createDb(connectionString: string, options: DbOptions = {}): Db {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: "inkreel",
  });
  // An idle client losing its server must not crash the process (the next query reconnects), but
  // an operator must see it: a restarted or unreachable database shows here first.
  const log = options.log ?? stderrLog;
  pool.on("error", (err) => {
    // Clients still closing after destroy() see the server go away too: nothing an operator needs.
    if (pool.ending) return;
    const e = err as Error & { code?: string };
    log.warn("database pool: an idle connection failed", {
      application: "inkreel",
      error: e.message,
      code: e.code ?? null,
      pool_total: pool.totalCount,
      pool_idle: pool.idleCount,
    });
  });
  options.onPool?.(pool);
  // The pool listens only to idle clients: a checked-out one (a transaction between statements)
  // whose server goes away would emit an unhandled error and kill the process. Its next
  // statement fails instead, and the pool drops the client when it is released.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** True when `err` is a Postgres unique violation, optionally on the named constraint/index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === "23505" && (constraint === undefined || e.constraint === constraint);
}
