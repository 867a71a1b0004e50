import { describe, expect, test } from "bun:test";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();

async function makeAdmin() {
  const admin = await ctx.register("admin");
  await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
  return admin;
}

describe("GET /users/:id", () => {
  test("self can read; another user's id is 404; ADMIN can read anyone", async () => {
    const a = await ctx.register("a");
    const b = await ctx.register("b");
    const admin = await makeAdmin();
    const self = await ctx.call("GET", `/api/v1/users/${a.user.id}`, { token: a.token });
    expect(self.status).toBe(200);
    expect(self.json.data.username).toBe(a.user.username);
    const other = await ctx.call("GET", `/api/v1/users/${b.user.id}`, { token: a.token });
    expect(other.status).toBe(404);
    const missing = await ctx.call("GET", `/api/v1/users/${crypto.randomUUID()}`, { token: a.token });
    expect(missing.json).toEqual(other.json);
    expect((await ctx.call("GET", `/api/v1/users/${b.user.id}`, { token: admin.token })).json.data.id).toBe(b.user.id);
  });

  test("a malformed id is 400, no token is 401", async () => {
    const a = await ctx.register("bad");
    const res = await ctx.call("GET", "/api/v1/users/not-a-uuid", { token: a.token });
    expect(res.status).toBe(400);
    expect(res.json.error.details.fields[0].path).toBe("/id");
    expect((await ctx.call("GET", `/api/v1/users/${a.user.id}`)).status).toBe(401);
  });
});

describe("PATCH /users/:id", () => {
  test("self updates email and username; the answer and /me agree", async () => {
    const a = await ctx.register("upd");
    const res = await ctx.call("PATCH", `/api/v1/users/${a.user.id}`, {
      token: a.token,
      body: { email: "fresh@example.com", username: "renamed_一" },
    });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ email: "fresh@example.com", username: "renamed_一" });
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: a.token })).json.data.email).toBe("fresh@example.com");
  });

  test("a user cannot change their own role (403) nor patch someone else (404)", async () => {
    const a = await ctx.register("role");
    const b = await ctx.register("victim");
    const own = await ctx.call("PATCH", `/api/v1/users/${a.user.id}`, { token: a.token, body: { role: "ADMIN" } });
    expect(own.status).toBe(403);
    const other = await ctx.call("PATCH", `/api/v1/users/${b.user.id}`, {
      token: a.token,
      body: { email: "x@example.com" },
    });
    expect(other.status).toBe(404);
    const row = await ctx.db
      .selectFrom("users")
      .select(["role", "email"])
      .where("id", "=", b.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ role: "USER", email: b.user.email });
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: a.token })).json.data.role).toBe("USER");
  });

  test("ADMIN changes a role, and it takes effect at once", async () => {
    const admin = await makeAdmin();
    const b = await ctx.register("promoted");
    const res = await ctx.call("PATCH", `/api/v1/users/${b.user.id}`, { token: admin.token, body: { role: "ADMIN" } });
    expect(res.status).toBe(200);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: b.token })).json.data.role).toBe("ADMIN");
  });

  test("password change: new password works, other sessions are revoked, this one survives", async () => {
    const a = await ctx.register("pw");
    const other = await ctx.call("POST", "/api/v1/auth/login", {
      body: { username: a.user.username, password: a.password },
    });
    const res = await ctx.call("PATCH", `/api/v1/users/${a.user.id}`, {
      token: a.token,
      body: { password: "a brand new secret" },
    });
    expect(res.status).toBe(200);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: a.token })).status).toBe(200);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: other.json.data.access_token })).status).toBe(401);
    expect(
      (await ctx.call("POST", "/api/v1/auth/login", { body: { username: a.user.username, password: a.password } }))
        .status,
    ).toBe(401);
    expect(
      (
        await ctx.call("POST", "/api/v1/auth/login", {
          body: { username: a.user.username, password: "a brand new secret" },
        })
      ).status,
    ).toBe(200);
    expect(ctx.logs.join("\n")).not.toContain("a brand new secret");
  });

  test("duplicates are 409; bad bodies are 400 and change nothing", async () => {
    const a = await ctx.register("dupe");
    const b = await ctx.register("dupe");
    const dup = await ctx.call("PATCH", `/api/v1/users/${a.user.id}`, {
      token: a.token,
      body: { email: b.user.email },
    });
    expect(dup.status).toBe(409);
    for (const body of [
      {},
      { email: "nope" },
      { username: "x" },
      { role: "GOD" },
      { unknown_field: 1 },
      { password: "short" },
    ]) {
      const res = await ctx.call("PATCH", `/api/v1/users/${a.user.id}`, { token: a.token, body });
      expect(res.status).toBe(400);
    }
    const row = await ctx.db
      .selectFrom("users")
      .select(["email", "username"])
      .where("id", "=", a.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ email: a.user.email, username: a.user.username });
  });
});

describe("DELETE /users/:id", () => {
  test("only ADMIN deletes; the user's sessions and personal space go with them", async () => {
    const admin = await makeAdmin();
    const a = await ctx.register("doomed");
    const b = await ctx.register("bystander");
    expect((await ctx.call("DELETE", `/api/v1/users/${a.user.id}`, { token: a.token })).status).toBe(403);
    // Refused before the user is looked up, so a plain USER learns nothing of who exists.
    expect((await ctx.call("DELETE", `/api/v1/users/${a.user.id}`, { token: b.token })).status).toBe(403);
    expect((await ctx.call("DELETE", `/api/v1/users/${crypto.randomUUID()}`, { token: b.token })).status).toBe(403);
    const res = await ctx.call("DELETE", `/api/v1/users/${a.user.id}`, { token: admin.token });
    expect(res.status).toBe(200);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: a.token })).status).toBe(401);
    const space = await ctx.db
      .selectFrom("spaces")
      .select("id")
      .where("id", "=", a.user.current_space_id)
      .executeTakeFirst();
    expect(space).toBeUndefined();
    expect((await ctx.call("DELETE", `/api/v1/users/${a.user.id}`, { token: admin.token })).status).toBe(404);
    expect((await ctx.call("DELETE", `/api/v1/users/${admin.user.id}`, { token: admin.token })).status).toBe(409);
  });

  test("a team space outlives a deleted admin; its next member becomes admin", async () => {
    const admin = await makeAdmin();
    const owner = await ctx.register("owner");
    const member = await ctx.register("member");
    const team = await ctx.call("POST", "/api/v1/spaces", { token: owner.token, body: { name: "Studio" } });
    const invite = await ctx.call("POST", `/api/v1/spaces/${team.json.data.id}/invites`, {
      token: owner.token,
      body: { role: "viewer" },
    });
    await ctx.call("POST", "/api/v1/spaces/join", {
      token: member.token,
      body: { invite_code: invite.json.data.code },
    });
    expect((await ctx.call("DELETE", `/api/v1/users/${owner.user.id}`, { token: admin.token })).status).toBe(200);
    const space = await ctx.call("GET", `/api/v1/spaces/${team.json.data.id}`, { token: member.token });
    expect(space.status).toBe(200);
    expect(space.json.data).toMatchObject({ role: "admin", owner_id: null });
  });
});
