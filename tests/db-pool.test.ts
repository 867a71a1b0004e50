// The pool reports a connection the server dropped (a restart, an admin's pg_terminate_backend)
// to the process's log with context, instead of swallowing it, and the next query reconnects.
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createDb } from "../src/db/client.ts";
import { createTestDatabase } from "./support/context.ts";

const url = await createTestDatabase();
const pools: Array<ReturnType<typeof createDb>> = [];
afterAll(() => Promise.all(pools.map((p) => p.destroy())));

describe("database pool errors", () => {
  test("an idle connection killed by the server is logged with its code, and the pool recovers", async () => {
    let logged!: (entry: { msg: string; fields?: Record<string, unknown> }) => void;
    const entry = new Promise<{ msg: string; fields?: Record<string, unknown> }>((resolve) => {
      logged = resolve;
    });
    const db = createDb(url, { max: 1, log: { warn: (msg, fields) => logged({ msg, fields }) } });
    pools.push(db);
    const admin = createDb(url, { max: 1 });
    pools.push(admin);
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
    const pid = rows[0]!.pid;
    await sql`select pg_terminate_backend(${pid})`.execute(admin);
    const { msg, fields } = await entry;
    expect(msg).toContain("database pool");
    expect(fields).toMatchObject({ code: "57P01", application: "inkreel" });
    expect(String(fields?.error)).toContain("terminat");
    const again = await sql<{ one: number }>`select 1 as one`.execute(db);
    expect(again.rows).toEqual([{ one: 1 }]);
  });
});
