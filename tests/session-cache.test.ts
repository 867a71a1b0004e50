// The session cache behind authenticated requests (src/auth/session-cache.ts): two API "processes"
// (two sets of deps, each with its own cache and LISTEN connection) on one database.
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createApp } from "../src/app.ts";
import { createDb } from "../src/db/client.ts";
import { createDeps } from "../src/deps.ts";
import { createLogger } from "../src/log.ts";
import { createTestContext } from "./support/context.ts";
import { waitFor } from "./support/queue.ts";

const a = await createTestContext();
const dbB = createDb(a.url, { max: 3 });
const depsB = await createDeps(a.config, dbB, createLogger("error"));
await depsB.sessions.start();
const appB = createApp(depsB);
afterAll(async () => {
  await depsB.sessions.close();
  await dbB.destroy();
});

const onB = (path: string, token: string) =>
  appB.handle(new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${token}` } }));
/** A new user whose registration (its users update NOTIFYs) B has already heard of. */
async function registered(prefix: string) {
  const u = await a.register(prefix);
  await depsB.sessions.settled(a.db);
  return u;
}
const me = async (token: string) => {
  const res = await onB("/api/v1/auth/me", token);
  return { status: res.status, body: (await res.json()) as { data: { role: string; current_space_id: string } } };
};

/** Changes rows with this connection's triggers off: what no notification announces. */
async function silently(statement: ReturnType<typeof sql>) {
  await a.db.connection().execute(async (conn) => {
    await sql`set session_replication_role = replica`.execute(conn);
    try {
      await statement.execute(conn);
    } finally {
      await sql`set session_replication_role = origin`.execute(conn);
    }
  });
}

describe("the session cache", () => {
  test("a live listener serves a known session from memory: a change no trigger announced is not seen", async () => {
    expect(depsB.sessions.live).toBe(true);
    const u = await registered("cached");
    expect((await me(u.token)).status).toBe(200);
    expect(depsB.sessions.size).toBeGreaterThan(0);
    // Revoked behind the triggers' back: B still answers from memory, A (never asked) reads the row.
    await silently(sql`update sessions set revoked_at = now() where user_id = ${u.user.id}`);
    expect((await me(u.token)).status).toBe(200);
    expect((await a.call("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(401);
  });

  test("a logout in one process ends the session in the other as soon as the notification arrives", async () => {
    const u = await a.register("logout");
    expect((await me(u.token)).status).toBe(200);
    expect((await a.call("POST", "/api/v1/auth/logout", { token: u.token, body: {} })).status).toBe(200);
    // Waiting on the outcome (the notification is asynchronous), never on a fixed delay.
    await waitFor("B to refuse the revoked session", async () => (await me(u.token)).status === 401);
    expect((await me(u.token)).status).toBe(401);
  });

  test("a role changed by an operator in SQL (triggers on) reaches every process", async () => {
    const u = await a.register("promoted");
    expect((await me(u.token)).body.data.role).toBe("USER");
    expect((await onB("/api/v1/admin/jobs", u.token)).status).toBe(403);
    await a.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", u.user.id).execute();
    await waitFor("B to see the new role", async () => (await me(u.token)).body.data.role === "ADMIN");
    expect((await onB("/api/v1/admin/jobs", u.token)).status).not.toBe(403);
  });

  test("read your writes in one process: switching spaces is seen by the very next request, every time", async () => {
    const u = await a.register("switcher");
    const personal = (await me(u.token)).body.data.current_space_id;
    const created = await a.call("POST", "/api/v1/spaces", { token: u.token, body: { name: "Team" } });
    expect(created.status).toBe(201);
    const teamId = (created.json as { data: { id: string } }).data.id;
    for (let i = 0; i < 10; i++) {
      const target = i % 2 === 0 ? teamId : personal;
      const switched = await appB.handle(
        new Request("http://localhost/api/v1/spaces/switch", {
          method: "POST",
          headers: { authorization: `Bearer ${u.token}`, "content-type": "application/json" },
          body: JSON.stringify({ space_id: target }),
        }),
      );
      expect(switched.status).toBe(200);
      expect((await me(u.token)).body.data.current_space_id).toBe(target);
    }
  });

  test("when the LISTEN connection drops nothing is served from memory, and a reconnection starts empty", async () => {
    const u = await registered("dropped");
    expect((await me(u.token)).status).toBe(200);
    await silently(sql`update sessions set revoked_at = now() where user_id = ${u.user.id}`);
    expect((await me(u.token)).status).toBe(200);
    await sql`select pg_terminate_backend(pid) from pg_stat_activity
              where application_name = 'inkreel-auth-listen' and datname = current_database()`.execute(a.db);
    await waitFor("B's listener to notice", () => !depsB.sessions.live);
    expect((await me(u.token)).status).toBe(401);
    await waitFor("B's listener to come back", () => depsB.sessions.live);
    expect(depsB.sessions.size).toBe(0);
    expect((await me(u.token)).status).toBe(401);
  });
});
