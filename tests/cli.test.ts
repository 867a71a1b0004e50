// The real `inkreel` CLI as subprocesses: migrate, admin create, config validation, the API and
// worker processes, and the `dev` launcher on its own embedded PostgreSQL.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/client.ts";
import { freePort } from "../src/db/embedded.ts";
import { readMigrations } from "../src/db/migrator.ts";
import { createDeps } from "../src/deps.ts";
import { createLogger } from "../src/log.ts";
import { createTestDatabase } from "./support/context.ts";

const ROOT = resolve(import.meta.dir, "..");
const SLOW = 60_000;

// ---------------------------------------------------------------------------------------------
// Subprocess helpers

type Proc = ReturnType<typeof spawnCli>;
const started = new Set<Proc>();
const tempDirs: string[] = [];

/** Only what a process needs from our environment: no DATABASE_URL, PORT, … leaks in. */
function cliEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG"]) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  return { ...env, ...extra };
}

function spawnCli(args: string[], env: Record<string, string>, stdin?: string) {
  const proc = Bun.spawn([process.execPath, "src/cli.ts", ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  started.add(proc);
  return proc;
}

/** Runs a command to completion. */
async function runCli(args: string[], env: Record<string, string>, stdin?: string) {
  const proc = spawnCli(args, env, stdin);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** A long-running command whose output is collected as it comes. */
function startCli(args: string[], env: Record<string, string>) {
  const proc = spawnCli(args, env);
  let output = "";
  // Waiters re-check on every chunk of output and when the process exits.
  const watchers = new Set<() => void>();
  const changed = () => {
    for (const check of [...watchers]) check();
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      output += decoder.decode(value, { stream: true });
      changed();
    }
  };
  void pump(proc.stdout).catch(() => {});
  void pump(proc.stderr).catch(() => {});
  void proc.exited.then(changed);

  const waitForOutput = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        watchers.delete(check);
      };
      const check = () => {
        const match = pattern.exec(output);
        if (match) {
          done();
          resolve(match);
        } else if (proc.exitCode !== null || proc.signalCode !== null) {
          done();
          reject(
            new Error(`process exited (${proc.exitCode ?? proc.signalCode}) before printing ${pattern}:\n${output}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${pattern}:\n${output}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    });

  return {
    proc,
    get output() {
      return output;
    },
    /** Waits until the output matches, failing early if the process exits. */
    waitForOutput,
    /** The answer from `url` once the API has said it listens, whatever its status. */
    async firstResponse(url: string, timeoutMs = 30_000) {
      await waitForOutput(/"msg":"api listening"/, timeoutMs);
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      // biome-ignore lint: tests read arbitrary JSON
      const json: any = await res.json();
      return { status: res.status, json };
    },
    /** Sends SIGTERM and returns the exit code; SIGKILLs and throws when it does not exit in time. */
    async terminate(timeoutMs = 20_000) {
      proc.kill("SIGTERM");
      // A deadline, not a wait: the exit is what is awaited.
      const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => "timeout" as const)]);
      if (code === "timeout") {
        proc.kill("SIGKILL");
        throw new Error(`process did not exit within ${timeoutMs} ms of SIGTERM:\n${output}`);
      }
      return code;
    },
  };
}

/** The JSON result a command prints on stdout: the one JSON line that is not a log record. */
// biome-ignore lint: tests read arbitrary JSON
function resultOf(stdout: string): any {
  const results = stdout
    .split("\n")
    .filter((line) => line.trim().startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => !("level" in record && "msg" in record));
  expect(results).toHaveLength(1);
  return results[0];
}

/** Processes whose command line or DATA_DIR mentions `dir` (Postgres runs with -D under it). */
function processesUsing(dir: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      if (cmd.includes(`${dir}/`) || environ.includes(`DATA_DIR=${dir}`)) found.push({ pid: Number(entry), cmd });
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found;
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o777);
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const proc of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  for (const dir of tempDirs) {
    // Whatever a failed test left running on its DATA_DIR was started by this file.
    for (const { pid } of processesUsing(dir)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The app in this process on `url`, to check what the CLI wrote. */
async function appOn(url: string) {
  const db = createDb(url, { max: 2 });
  const config = loadConfig({
    DATABASE_URL: url,
    DATA_DIR: tempDir("inkreel-cli-app-"),
    COOKIE_SECURE: "false",
    RATE_LIMIT_AUTH_PER_MIN: "100000",
  });
  const app = createApp(await createDeps(config, db, createLogger("error")));
  afterAll(() => db.destroy());
  const login = async (username: string, password: string) => {
    const res = await app.handle(
      new Request("http://localhost/api/v1/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username, password }),
      }),
    );
    // biome-ignore lint: tests read arbitrary JSON
    return { status: res.status, json: (await res.json()) as any };
  };
  return { db, login };
}

// ---------------------------------------------------------------------------------------------

describe("inkreel migrate", () => {
  test(
    "applies the migrations to an empty database, and nothing on a second run",
    async () => {
      const url = await createTestDatabase("template1");
      const versions = (await readMigrations()).map((m) => m.version);
      expect(versions.length).toBeGreaterThan(0);

      const first = await runCli(["migrate"], { DATABASE_URL: url });
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(resultOf(first.stdout)).toEqual({ applied: versions, status: "up to date" });

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ version: string }>(
        "select version from inkreel_migrations order by version",
      );
      const { rows: tables } = await client.query(
        "select 1 from pg_tables where schemaname = 'public' and tablename = 'users'",
      );
      await client.end();
      expect(rows.map((r) => r.version)).toEqual(versions);
      expect(tables).toHaveLength(1);

      const second = await runCli(["migrate"], { DATABASE_URL: url });
      expect(second.code).toBe(0);
      expect(resultOf(second.stdout)).toEqual({ applied: [], status: "up to date" });
    },
    SLOW,
  );
});

describe("inkreel admin create", () => {
  test(
    "creates an ADMIN from INKREEL_ADMIN_PASSWORD who can log in; the password never reaches the output",
    async () => {
      const url = await createTestDatabase();
      const password = "admin password 123";
      const res = await runCli(["admin", "create", "--username", "chief_admin", "--email", "chief@example.com"], {
        DATABASE_URL: url,
        INKREEL_ADMIN_PASSWORD: password,
      });
      expect(res.code).toBe(0);
      const created = resultOf(res.stdout);
      expect(created).toEqual({
        id: expect.any(String),
        username: "chief_admin",
        email: "chief@example.com",
        role: "ADMIN",
      });
      expect(res.stdout + res.stderr).not.toContain(password);

      const { db, login } = await appOn(url);
      const row = await db.selectFrom("users").selectAll().where("id", "=", created.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        username: "chief_admin",
        email: "chief@example.com",
        role: "ADMIN",
        auth_provider: "local",
      });
      expect(row.password_hash).toStartWith("$argon2id$");
      expect(row.current_space_id).not.toBeNull();

      const ok = await login("chief_admin", password);
      expect(ok.status).toBe(200);
      expect(ok.json.data.user).toMatchObject({ id: created.id, role: "ADMIN" });
      expect(typeof ok.json.data.access_token).toBe("string");
      expect((await login("chief_admin", "not the password")).status).toBe(401);

      // The same username again is refused, and nothing changes.
      const again = await runCli(["admin", "create", "--username", "chief_admin", "--email", "other@example.com"], {
        DATABASE_URL: url,
        INKREEL_ADMIN_PASSWORD: password,
      });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("username is already taken");
      const count = await db
        .selectFrom("users")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(1);
    },
    SLOW,
  );

  test(
    "reads the password from stdin when neither --password nor INKREEL_ADMIN_PASSWORD is given",
    async () => {
      const url = await createTestDatabase();
      const res = await runCli(
        ["admin", "create", "--username", "stdin_admin", "--email", "stdin@example.com"],
        { DATABASE_URL: url },
        "from stdin 456\n",
      );
      expect(res.code).toBe(0);
      expect(resultOf(res.stdout)).toMatchObject({ username: "stdin_admin", role: "ADMIN" });
      const { login } = await appOn(url);
      expect((await login("stdin@example.com", "from stdin 456")).status).toBe(200);
    },
    SLOW,
  );

  test(
    "refuses a too-short password or missing arguments with exit code 2 and a clear message",
    async () => {
      const url = await createTestDatabase();
      const short = await runCli(["admin", "create", "--username", "short_pw", "--email", "short@example.com"], {
        DATABASE_URL: url,
        INKREEL_ADMIN_PASSWORD: "short",
      });
      expect(short.code).toBe(2);
      expect(short.stderr).toContain("inkreel: the password must be 8 to 128 characters");

      const noEmail = await runCli(["admin", "create", "--username", "no_email"], {
        DATABASE_URL: url,
        INKREEL_ADMIN_PASSWORD: "long enough 123",
      });
      expect(noEmail.code).toBe(2);
      expect(noEmail.stderr).toContain("inkreel: admin create needs --username and --email");
      expect(noEmail.stderr).toContain("admin create --username <name> --email <email>");

      const nothing = await runCli(["admin", "create"], {
        DATABASE_URL: url,
        INKREEL_ADMIN_PASSWORD: "long enough 123",
      });
      expect(nothing.code).toBe(2);
      expect(nothing.stderr).toContain("admin create needs --username and --email");

      const db = createDb(url, { max: 1 });
      const rows = await db.selectFrom("users").select("username").execute();
      await db.destroy();
      expect(rows).toEqual([]);
    },
    SLOW,
  );
});

describe("configuration and usage errors", () => {
  const cases: [string, string, RegExp][] = [
    ["PORT", "abc", /Invalid configuration: PORT must be a whole number, got "abc"/],
    ["PORT", "70000", /Invalid configuration: PORT must be between 0 and 65535/],
    ["JWT_SECRET", "short", /Invalid configuration: JWT_SECRET must be at least 32 characters/],
    ["DATABASE_URL", "not-a-url", /Invalid configuration: DATABASE_URL must be a URL/],
    ["DATABASE_URL", "mysql://db.example/app", /Invalid configuration: DATABASE_URL must use postgres: or postgresql:/],
    ["LOG_LEVEL", "loud", /Invalid configuration: LOG_LEVEL must be one of debug, info, warn, error, got "loud"/],
  ];

  test.each(cases)("%s=%s stops start-up with exit code 2 naming the variable", async (name, value, message) => {
    const env: Record<string, string> = { DATABASE_URL: "postgres://nobody@127.0.0.1:1/none", [name]: value };
    const res = await runCli(["api"], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
    expect(res.stdout).toBe("");
  });

  test("an unknown or missing command exits 2 with the usage", async () => {
    const unknown = await runCli(["serve"], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('inkreel: unknown command "serve"');
    expect(unknown.stderr).toContain("inkreel <command>");
    const none = await runCli([], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("inkreel: no command given");
  });
});

describe("inkreel api and worker", () => {
  test(
    "api serves /health 200 on its port and exits 0 on SIGTERM",
    async () => {
      const url = await createTestDatabase();
      const port = await freePort();
      const api = startCli(["api"], {
        DATABASE_URL: url,
        PORT: String(port),
        HOST: "127.0.0.1",
        DATA_DIR: tempDir("inkreel-cli-api-"),
      });
      const health = await api.firstResponse(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      expect(health.json.data).toMatchObject({ status: "ok", database: "connected", storage: "connected" });
      await api.waitForOutput(/"msg":"api listening"/);
      expect(await api.terminate()).toBe(0);
      expect(api.output).toContain('"signal":"SIGTERM"');
    },
    SLOW,
  );

  test(
    "api creates a DATA_DIR that does not exist yet, so /health reports storage connected",
    async () => {
      const url = await createTestDatabase();
      const port = await freePort();
      const dataDir = join(tempDir("inkreel-cli-api-"), "not-yet");
      const api = startCli(["api"], { DATABASE_URL: url, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir });
      try {
        const health = await api.firstResponse(`http://127.0.0.1:${port}/health`);
        expect(health.json.data).toMatchObject({ database: "connected", storage: "connected" });
        expect(health.status).toBe(200);
        expect(existsSync(dataDir)).toBe(true);
      } finally {
        await api.terminate();
      }
    },
    SLOW,
  );

  test(
    "worker starts and exits 0 on SIGTERM",
    async () => {
      const url = await createTestDatabase();
      const worker = startCli(["worker"], { DATABASE_URL: url, DATA_DIR: tempDir("inkreel-cli-worker-") });
      await worker.waitForOutput(/"msg":"worker started"/);
      expect(await worker.terminate()).toBe(0);
    },
    SLOW,
  );
});

describe("inkreel dev (embedded PostgreSQL)", () => {
  test("starts Postgres, migrates, serves, stops cleanly on SIGTERM, and keeps the data for the next start", async () => {
    const dataDir = tempDir("inkreel-cli-dev-");
    const username = `dev_${crypto.randomUUID().slice(0, 8)}`;
    const password = "persisted password 1";

    // First run: a fresh cluster under DATA_DIR.
    const port1 = await freePort();
    const first = startCli(["dev"], { DATA_DIR: dataDir, PORT: String(port1), HOST: "127.0.0.1" });
    await first.waitForOutput(/Press Ctrl\+C to stop\./, 60_000);
    expect(first.output).toContain("Inkreel is running (embedded PostgreSQL)");
    const base1 = `http://localhost:${port1}`;
    expect(first.output).toMatch(new RegExp(`API\\s+${base1}/api/v1\\n`));
    expect(first.output).toMatch(new RegExp(`Swagger\\s+${base1}/swagger\\n`));
    expect(first.output).toMatch(new RegExp(`OpenAPI\\s+${base1}/openapi\\.json\\n`));
    expect(first.output).toMatch(new RegExp(`Health\\s+${base1}/health\\n`));
    expect(first.output).toContain('"msg":"migrations applied"');

    const health1 = await first.firstResponse(`http://127.0.0.1:${port1}/health`);
    expect(health1.status).toBe(200);
    expect(health1.json.data).toMatchObject({ status: "ok", database: "connected", storage: "connected" });
    const register = await fetch(`http://127.0.0.1:${port1}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, email: `${username}@example.com`, password }),
    });
    expect(register.status).toBe(201);
    const userId = ((await register.json()) as { data: { user: { id: string } } }).data.user.id;
    expect(processesUsing(dataDir).some((p) => p.cmd.includes("postgres"))).toBe(true);

    expect(await first.terminate()).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, "db", "postgres", "postmaster.pid"))).toBe(false);

    // Second run on the same DATA_DIR: same cluster, nothing to migrate, the user is still there.
    const port2 = await freePort();
    const second = startCli(["dev"], { DATA_DIR: dataDir, PORT: String(port2), HOST: "127.0.0.1" });
    await second.waitForOutput(/Press Ctrl\+C to stop\./, 60_000);
    const health2 = await second.firstResponse(`http://127.0.0.1:${port2}/health`);
    expect(health2.status).toBe(200);
    expect(health2.json.data.database).toBe("connected");
    expect(second.output).toContain('"msg":"embedded postgres started"');
    expect(second.output).not.toContain('"msg":"migrations applied"');
    const login = await fetch(`http://127.0.0.1:${port2}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    expect(login.status).toBe(200);
    expect(((await login.json()) as { data: { user: { id: string } } }).data.user.id).toBe(userId);

    expect(await second.terminate()).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
  });
});
