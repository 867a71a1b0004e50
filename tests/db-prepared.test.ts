// Named prepared statements (src/db/client.ts): which queries get one, and that nothing else changes.
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createDb, type Db } from "../src/db/client.ts";
import { createTestDatabase } from "./support/context.ts";

const url = await createTestDatabase();
const prepared = createDb(url, { max: 1 });
const plain = createDb(url, { max: 1, prepare: false });
afterAll(async () => {
  await prepared.destroy();
  await plain.destroy();
});

/** Runs `work` and then lists the statements prepared on that same connection. */
async function preparedAfter(db: Db, work: (conn: Db) => Promise<unknown>) {
  return db.connection().execute(async (conn) => {
    await work(conn);
    const { rows } = await sql<{
      name: string;
      statement: string;
    }>`select name, statement from pg_prepared_statements`.execute(conn);
    return rows;
  });
}

describe("prepared statements", () => {
  test("a query with parameters is prepared once per connection under a name of its own", async () => {
    const rows = await preparedAfter(prepared, async (conn) => {
      for (let i = 0; i < 3; i++) await conn.selectFrom("users").select("id").where("username", "=", `u${i}`).execute();
      await conn.selectFrom("users").select("email").where("username", "=", "x").execute();
    });
    const ours = rows.filter((r) => r.statement.includes('from "users"'));
    expect(ours.map((r) => r.statement).sort()).toEqual([
      'select "email" from "users" where "username" = $1',
      'select "id" from "users" where "username" = $1',
    ]);
    expect(new Set(ours.map((r) => r.name)).size).toBe(2);
    for (const r of ours) expect(r.name).toMatch(/^ink_\d+$/);
  });

  test("a text without parameters keeps the simple protocol: several statements in one run", async () => {
    const rows = await preparedAfter(prepared, async (conn) => {
      await sql`create temporary table t_multi (n int); insert into t_multi values (1), (2)`.execute(conn);
      const { rows: count } = await sql<{ n: number }>`select count(*)::int as n from t_multi`.execute(conn);
      expect(count[0]!.n).toBe(2);
    });
    expect(rows.some((r) => r.statement.includes("t_multi"))).toBe(false);
  });

  test("long parameter lists are sent unnamed, so varying lists cannot pile up statements", async () => {
    const ids = Array.from({ length: 40 }, () => crypto.randomUUID());
    const rows = await preparedAfter(prepared, (conn) =>
      conn.selectFrom("users").select("id").where("id", "in", ids).execute(),
    );
    expect(rows.some((r) => r.statement.includes("$40"))).toBe(false);
  });

  test("prepare: false (transaction-mode poolers) prepares nothing and answers the same", async () => {
    const rows = await preparedAfter(plain, async (conn) => {
      const found = await conn.selectFrom("users").select("id").where("username", "=", "nobody").execute();
      expect(found).toEqual([]);
    });
    expect(rows).toEqual([]);
  });
});
