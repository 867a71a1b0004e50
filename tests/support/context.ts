import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { createDeps, type DepsOverrides } from "../../src/deps.ts";
import { createLogger } from "../../src/log.ts";
import { syncBuiltinProviders } from "../../src/providers/settings.ts";
import { TEMPLATE_DB, withDatabase } from "./cluster.ts";

export interface CallOptions {
  body?: unknown;
  raw?: BodyInit;
  token?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  // biome-ignore lint: tests read arbitrary JSON
  json: any;
  headers: Headers;
}

/**
 * A fresh database cloned from the migrated template (or from `template`, e.g. "template1" for
 * an empty one); dropped when the file's tests end.
 */
export async function createTestDatabase(template = TEMPLATE_DB, beforeDrop?: () => Promise<void>): Promise<string> {
  const base = process.env.INKREEL_TEST_PG_URL;
  if (!base) throw new Error("INKREEL_TEST_PG_URL is not set; run tests with `bun test` (preload starts Postgres)");
  const name = `t_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name} template ${template}`);
  await admin.end();
  afterAll(async () => {
    // bun runs afterAll hooks last-registered first: whatever uses the database stops here, before the drop.
    await beforeDrop?.();
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(`drop database if exists ${name} with (force)`);
    await c.end();
  });
  return withDatabase(base, name);
}

/**
 * The per-endpoint hourly limits (batches, retries, task lists and status reads) raised out of a
 * test's way, for the tiers tests use; tests/request-limits.test.ts sets its own.
 */
export const GENEROUS_REQUEST_LIMITS = Object.fromEntries(
  ["FREE", "VIP"].flatMap((tier) =>
    ["BATCHES", "RETRIES", "TASK_LISTS", "TASK_POLLS"].map((m) => [`LIMIT_${tier}_${m}_PER_HOUR`, "1000000"]),
  ),
);

/**
 * An app on its own database, with generous rate limits unless `env` says otherwise, and the
 * log lines it wrote (so tests can check that no secret reaches them).
 */
export async function createTestContext(env: Record<string, string> = {}, overrides: DepsOverrides = {}) {
  const url = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "inkreel-test-data-"));
  const fullEnv = {
    DATA_DIR: dataDir,
    RATE_LIMIT_AUTH_PER_MIN: "100000",
    RATE_LIMIT_USER_PER_MIN: "100000",
    ...GENEROUS_REQUEST_LIMITS,
    COOKIE_SECURE: "false",
    TRUST_PROXY: "true",
    LOG_LEVEL: "debug",
    ...env,
    DATABASE_URL: url,
  };
  const config = loadConfig(fullEnv);
  const db = createDb(url, { max: 5 });
  // What every API process does at start (src/server.ts).
  await syncBuiltinProviders(db);
  const logs: string[] = [];
  const log = createLogger("debug", {}, (line) => logs.push(line));
  // PATCH /admin/config applies to this process as it answers; no watcher runs in a test's own app.
  const deps = await createDeps(config, db, log, { env: fullEnv, ...overrides });
  // As src/server.ts does: every test's authenticated requests go through the session cache.
  await deps.sessions.start();
  const app = createApp(deps);

  async function call(method: string, path: string, options: CallOptions = {}): Promise<CallResult> {
    const headers: Record<string, string> = { ...options.headers };
    let body: BodyInit | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const response = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
    const text = await response.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, json, headers: response.headers };
  }

  let counter = 0;
  /** Registers a fresh user and returns their tokens and profile. */
  async function register(prefix = "user", password = "correct horse battery") {
    const username = `${prefix}_${++counter}_${crypto.randomUUID().slice(0, 6)}`;
    const res = await call("POST", "/api/v1/auth/register", {
      body: { username, email: `${username}@example.com`, password },
    });
    if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.json)}`);
    const data = res.json.data as {
      user: { id: string; username: string; email: string; current_space_id: string };
      access_token: string;
      refresh_token: string;
    };
    return { ...data, token: data.access_token, password };
  }

  afterAll(async () => {
    await deps.sessions.close();
    await db.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  return { app, deps, db, config, url, logs, call, register };
}

export type TestContext = Awaited<ReturnType<typeof createTestContext>>;
