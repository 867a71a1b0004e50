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
  /**
   * Named prepared statements for the queries Kysely sends (default true). Off behind
   * transaction-mode poolers, where a statement prepared on one server connection is unknown on
   * the next.
   */
  prepare?: boolean;
}

/** Longer texts or more parameters than this are sent unnamed (see preparedNames). */
const PREPARE_MAX_TEXT = 4000;
const PREPARE_MAX_PARAMS = 32;

/**
 * The statement name for a query text, per pool. Parsing and planning a statement costs Postgres
 * about as much as running a simple one, and pg sends a named statement's Parse only the first
 * time on each connection. Only texts with parameters are named (see below). Kysely's texts come
 * from the code, so their number is bounded; the
 * exceptions are lists whose length varies (`in ($1, …, $n)`), hence the parameter cap, which
 * bounds the variants of each to a few dozen. Names come from a counter, never a hash: two texts
 * can never share one.
 */
function preparedNames() {
  const names = new Map<string, string>();
  return (text: string, params: number): string | undefined => {
    // Without parameters pg sends the simple query protocol, which allows several statements in
    // one text (raw scripts); a prepared statement would refuse them.
    if (params === 0 || text.length > PREPARE_MAX_TEXT || params > PREPARE_MAX_PARAMS) return undefined;
    let name = names.get(text);
    if (!name) {
      name = `ink_${names.size + 1}`;
      names.set(text, name);
    }
    return name;
  };
}

type QueryFn = (...args: unknown[]) => unknown;

/** Makes `client.query(text, values)` (Kysely's only form besides cursors) use a named statement. */
function prepareQueries(client: pg.PoolClient, nameFor: ReturnType<typeof preparedNames>) {
  const query = client.query.bind(client) as QueryFn;
  (client as unknown as { query: QueryFn }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (typeof text !== "string" || !Array.isArray(values) || args.length !== 2) return query(...args);
    const name = nameFor(text, values.length);
    return name ? query({ name, text, values }) : query(text, values);
  };
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
  const nameFor = options.prepare === false ? null : preparedNames();
  pool.on("connect", (client) => {
    client.on("error", () => {});
    if (nameFor) prepareQueries(client, nameFor);
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** True when `err` is a Postgres unique violation, optionally on the named constraint/index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === "23505" && (constraint === undefined || e.constraint === constraint);
}
