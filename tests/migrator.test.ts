import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { MIGRATIONS_DIR, migrate, readMigrations } from "../src/db/migrator.ts";
import { createTestDatabase } from "./support/context.ts";

async function query(url: string, sql: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe("migrator", () => {
  test("the repository's migrations follow the Supabase CLI naming and sort by time", async () => {
    const migrations = await readMigrations(MIGRATIONS_DIR);
    expect(migrations.length).toBeGreaterThan(0);
    const versions = migrations.map((m) => m.version);
    expect([...versions].sort()).toEqual(versions);
  });

  test("applies in order, records each, and is a no-op the second time", async () => {
    const url = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), "inkreel-mig-"));
    writeFileSync(join(dir, "20260101000000_first.sql"), "create table m_one (id int);");
    writeFileSync(
      join(dir, "20260102000000_second.sql"),
      "alter table m_one add column name text; insert into m_one values (1, 'a');",
    );
    expect(await migrate(url, dir)).toEqual(["20260101000000", "20260102000000"]);
    expect(await migrate(url, dir)).toEqual([]);
    expect(await query(url, "select * from m_one")).toEqual([{ id: 1, name: "a" }]);
    const recorded = await query(
      url,
      "select version, name from inkreel_migrations where version like '2026010%' order by version",
    );
    expect(recorded).toEqual([
      { version: "20260101000000", name: "first" },
      { version: "20260102000000", name: "second" },
    ]);
  });

  test("a failing migration rolls back entirely and is not recorded", async () => {
    const url = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), "inkreel-mig-"));
    writeFileSync(
      join(dir, "20260201000000_half.sql"),
      "create table half_done (id int); select * from no_such_table;",
    );
    await expect(migrate(url, dir)).rejects.toThrow(/20260201000000_half failed/);
    expect(await query(url, "select to_regclass('half_done') as t")).toEqual([{ t: null }]);
    expect(
      await query(url, "select count(*)::int as n from inkreel_migrations where version = '20260201000000'"),
    ).toEqual([{ n: 0 }]);
  });

  test("an applied migration that was edited afterwards stops the migrator", async () => {
    const url = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), "inkreel-mig-"));
    const file = join(dir, "20260301000000_edit.sql");
    writeFileSync(file, "create table edited (id int);");
    await migrate(url, dir);
    writeFileSync(file, "create table edited (id bigint);");
    await expect(migrate(url, dir)).rejects.toThrow(/was changed after it was applied/);
  });

  test("badly named files are refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "inkreel-mig-"));
    writeFileSync(join(dir, "001_init.sql"), "select 1;");
    await expect(readMigrations(dir)).rejects.toThrow(/does not match/);
  });

  test("concurrent migrators take turns: each file applied once", async () => {
    const url = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), "inkreel-mig-"));
    writeFileSync(join(dir, "20260401000000_once.sql"), "create table once_only (id int);");
    const results = await Promise.all([migrate(url, dir), migrate(url, dir), migrate(url, dir)]);
    expect(results.flat()).toEqual(["20260401000000"]);
  });
});
