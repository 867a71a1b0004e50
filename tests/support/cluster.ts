import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrator.ts";

export const TEMPLATE_DB = "inkreel_template";

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * Starts a throwaway embedded PostgreSQL for a test run and migrates a template database that
 * every test file clones (CREATE DATABASE … TEMPLATE is a file copy: milliseconds).
 */
export async function startTestCluster() {
  const dir = mkdtempSync(join(tmpdir(), "inkreel-test-pg-"));
  chmodSync(dir, 0o777);
  const server = await startEmbeddedPostgres(dir, { ephemeral: true });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`create database ${TEMPLATE_DB}`);
  await admin.end();
  await migrate(withDatabase(server.url, TEMPLATE_DB));
  return {
    url: server.url,
    /** For exit handlers, which cannot wait. */
    killNow() {
      server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
