import { describe, expect, test } from "bun:test";
import { AppError } from "../src/core/errors.ts";
import { requireSpaceRole } from "../src/services/spaces.ts";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();

/** A team space owned by a fresh user, with an editor and a viewer who joined by invite. */
async function team() {
  const admin = await ctx.register("adm");
  const editor = await ctx.register("ed");
  const viewer = await ctx.register("vw");
  const outsider = await ctx.register("out");
  const created = await ctx.call("POST", "/api/v1/spaces", { token: admin.token, body: { name: "月光工作室 🌙" } });
  expect(created.status).toBe(201);
  const space = created.json.data;
  for (const [user, role] of [
    [editor, "editor"],
    [viewer, "viewer"],
  ] as const) {
    const invite = await ctx.call("POST", `/api/v1/spaces/${space.id}/invites`, { token: admin.token, body: { role } });
    expect(invite.status).toBe(201);
    const joined = await ctx.call("POST", "/api/v1/spaces/join", {
      token: user.token,
      body: { invite_code: invite.json.data.code },
    });
    expect(joined.status).toBe(201);
    expect(joined.json.data.role).toBe(role);
  }
  return { admin, editor, viewer, outsider, space };
}

describe("spaces", () => {
  test("a personal space exists from registration and lists first", async () => {
    const u = await ctx.register("p");
    await ctx.call("POST", "/api/v1/spaces", { token: u.token, body: { name: "Team A" } });
    const list = await ctx.call("GET", "/api/v1/spaces", { token: u.token });
    expect(list.status).toBe(200);
    expect(list.json.data).toMatchObject({ total: 2, page: 1, page_size: 20, total_pages: 1 });
    expect(list.json.data.items.map((s: { type: string }) => s.type)).toEqual(["personal", "team"]);
    const current = await ctx.call("GET", "/api/v1/spaces/current", { token: u.token });
    expect(current.json.data.type).toBe("personal");
  });

  test("create keeps unicode and emoji names; bad bodies are 400", async () => {
    const { space } = await team();
    expect(space.name).toBe("月光工作室 🌙");
    const u = await ctx.register("bad");
    for (const body of [
      {},
      { name: "" },
      { name: "x".repeat(101) },
      { name: 5 },
      { name: "ok", logo_url: "not a url" },
    ]) {
      expect((await ctx.call("POST", "/api/v1/spaces", { token: u.token, body })).status).toBe(400);
    }
  });

  test("non-members get 404 on every space route, exactly as for a missing space", async () => {
    const { space, outsider } = await team();
    const missing = await ctx.call("GET", `/api/v1/spaces/${crypto.randomUUID()}`, { token: outsider.token });
    expect(missing.status).toBe(404);
    const routes: Array<[string, string, unknown?]> = [
      ["GET", `/api/v1/spaces/${space.id}`],
      ["PATCH", `/api/v1/spaces/${space.id}`, { name: "mine now" }],
      ["DELETE", `/api/v1/spaces/${space.id}`],
      ["GET", `/api/v1/spaces/${space.id}/members`],
      ["GET", `/api/v1/spaces/${space.id}/invites`],
      ["POST", `/api/v1/spaces/${space.id}/invites`, {}],
      ["POST", `/api/v1/spaces/${space.id}/leave`],
      ["POST", "/api/v1/spaces/switch", { space_id: space.id }],
    ];
    for (const [method, path, body] of routes) {
      const res = await ctx.call(method, path, { token: outsider.token, body });
      expect(res.status).toBe(404);
      expect(res.json).toEqual(missing.json);
    }
  });

  test("roles: viewer and editor cannot administer (403); admin can", async () => {
    const { space, editor, viewer, admin } = await team();
    for (const who of [viewer, editor]) {
      const rename = await ctx.call("PATCH", `/api/v1/spaces/${space.id}`, { token: who.token, body: { name: "x" } });
      expect(rename.status).toBe(403);
      expect(rename.json.error.code).toBe("FORBIDDEN");
      expect((await ctx.call("POST", `/api/v1/spaces/${space.id}/invites`, { token: who.token })).status).toBe(403);
      expect((await ctx.call("DELETE", `/api/v1/spaces/${space.id}`, { token: who.token })).status).toBe(403);
    }
    const renamed = await ctx.call("PATCH", `/api/v1/spaces/${space.id}`, {
      token: admin.token,
      body: { name: "Renamed" },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.json.data.name).toBe("Renamed");
    // Viewers can still read.
    expect((await ctx.call("GET", `/api/v1/spaces/${space.id}/members`, { token: viewer.token })).json.data.total).toBe(
      3,
    );
  });

  test("requireSpaceRole: viewer below editor is 403, editor passes, outsider 404", async () => {
    const { space, editor, viewer, outsider } = await team();
    const passed = await requireSpaceRole(ctx.db, { userId: editor.user.id, spaceId: space.id }, "editor");
    expect(passed.role).toBe("editor");
    const denied = await requireSpaceRole(ctx.db, { userId: viewer.user.id, spaceId: space.id }, "editor").catch(
      (e) => e,
    );
    expect(denied).toBeInstanceOf(AppError);
    expect(denied.status).toBe(403);
    const hidden = await requireSpaceRole(ctx.db, { userId: outsider.user.id, spaceId: space.id }, "viewer").catch(
      (e) => e,
    );
    expect(hidden.status).toBe(404);
  });

  test("switch sets the current space and records the access", async () => {
    const { space, viewer } = await team();
    const res = await ctx.call("POST", "/api/v1/spaces/switch", { token: viewer.token, body: { space_id: space.id } });
    expect(res.status).toBe(200);
    expect(res.json.data.last_accessed_at).not.toBeNull();
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: viewer.token })).json.data.current_space_id).toBe(
      space.id,
    );
    expect((await ctx.call("GET", "/api/v1/spaces/current", { token: viewer.token })).json.data.id).toBe(space.id);
  });
});

describe("invites", () => {
  test("an invite is used up after max_uses; a second join by a member is 409 and costs no use", async () => {
    const { space, admin, editor } = await team();
    const invite = await ctx.call("POST", `/api/v1/spaces/${space.id}/invites`, {
      token: admin.token,
      body: { role: "viewer", max_uses: 1 },
    });
    const again = await ctx.call("POST", "/api/v1/spaces/join", {
      token: editor.token,
      body: { invite_code: invite.json.data.code },
    });
    expect(again.status).toBe(409);
    const first = await ctx.register("first");
    const second = await ctx.register("second");
    expect(
      (
        await ctx.call("POST", "/api/v1/spaces/join", {
          token: first.token,
          body: { invite_code: invite.json.data.code.toLowerCase() },
        })
      ).status,
    ).toBe(201);
    const late = await ctx.call("POST", "/api/v1/spaces/join", {
      token: second.token,
      body: { invite_code: invite.json.data.code },
    });
    expect(late.status).toBe(404);
  });

  test("expired and revoked codes are 404; listing shows uses", async () => {
    const { space, admin } = await team();
    const joiner = await ctx.register("late");
    const expired = await ctx.call("POST", `/api/v1/spaces/${space.id}/invites`, {
      token: admin.token,
      body: { expires_in_s: 60 },
    });
    await ctx.db
      .updateTable("space_invites")
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where("id", "=", expired.json.data.id)
      .execute();
    expect(
      (
        await ctx.call("POST", "/api/v1/spaces/join", {
          token: joiner.token,
          body: { invite_code: expired.json.data.code },
        })
      ).status,
    ).toBe(404);
    const revoked = await ctx.call("POST", `/api/v1/spaces/${space.id}/invites`, { token: admin.token });
    const del = await ctx.call("DELETE", `/api/v1/spaces/${space.id}/invites/${revoked.json.data.id}`, {
      token: admin.token,
    });
    expect(del.json.data.revoked_at).not.toBeNull();
    expect(
      (
        await ctx.call("POST", "/api/v1/spaces/join", {
          token: joiner.token,
          body: { invite_code: revoked.json.data.code },
        })
      ).status,
    ).toBe(404);
    const list = await ctx.call("GET", `/api/v1/spaces/${space.id}/invites`, { token: admin.token });
    expect(list.json.data.length).toBe(4);
    expect(list.json.data.filter((i: { uses: number }) => i.uses === 1).length).toBe(2);
    expect(
      (
        await ctx.call("POST", "/api/v1/spaces/join", {
          token: joiner.token,
          body: { invite_code: "'; drop table spaces; --" },
        })
      ).status,
    ).toBe(404);
    expect(
      (await ctx.call("POST", "/api/v1/spaces/join", { token: joiner.token, body: { invite_code: 12 } })).status,
    ).toBe(400);
  });

  test("concurrent joins never exceed max_uses", async () => {
    const { space, admin } = await team();
    const invite = await ctx.call("POST", `/api/v1/spaces/${space.id}/invites`, {
      token: admin.token,
      body: { max_uses: 2 },
    });
    const users = await Promise.all(Array.from({ length: 5 }, (_, i) => ctx.register(`rush${i}`)));
    const results = await Promise.all(
      users.map((u) =>
        ctx.call("POST", "/api/v1/spaces/join", { token: u.token, body: { invite_code: invite.json.data.code } }),
      ),
    );
    expect(results.filter((r) => r.status === 201).length).toBe(2);
    expect(results.filter((r) => r.status === 404).length).toBe(3);
  });

  test("a personal space cannot hand out invites", async () => {
    const u = await ctx.register("solo");
    const res = await ctx.call("POST", `/api/v1/spaces/${u.user.current_space_id}/invites`, { token: u.token });
    expect(res.status).toBe(409);
  });
});

describe("members", () => {
  test("admin changes roles; the last admin can neither be demoted nor leave", async () => {
    const { space, admin, editor } = await team();
    const demoteSelf = await ctx.call("PATCH", `/api/v1/spaces/${space.id}/members/${admin.user.id}`, {
      token: admin.token,
      body: { role: "viewer" },
    });
    expect(demoteSelf.status).toBe(409);
    expect((await ctx.call("POST", `/api/v1/spaces/${space.id}/leave`, { token: admin.token })).status).toBe(409);
    const promote = await ctx.call("PATCH", `/api/v1/spaces/${space.id}/members/${editor.user.id}`, {
      token: admin.token,
      body: { role: "admin" },
    });
    expect(promote.json.data).toEqual({ user_id: editor.user.id, role: "admin" });
    expect((await ctx.call("POST", `/api/v1/spaces/${space.id}/leave`, { token: admin.token })).status).toBe(200);
    expect((await ctx.call("GET", `/api/v1/spaces/${space.id}`, { token: admin.token })).status).toBe(404);
    expect(
      (
        await ctx.call("PATCH", `/api/v1/spaces/${space.id}/members/${editor.user.id}`, {
          token: editor.token,
          body: { role: "owner" },
        })
      ).status,
    ).toBe(400);
  });

  test("removing a member takes away access and their current-space pointer", async () => {
    const { space, admin, viewer } = await team();
    await ctx.call("POST", "/api/v1/spaces/switch", { token: viewer.token, body: { space_id: space.id } });
    expect(
      (await ctx.call("DELETE", `/api/v1/spaces/${space.id}/members/${viewer.user.id}`, { token: viewer.token }))
        .status,
    ).toBe(403);
    const res = await ctx.call("DELETE", `/api/v1/spaces/${space.id}/members/${viewer.user.id}`, {
      token: admin.token,
    });
    expect(res.status).toBe(200);
    expect((await ctx.call("GET", `/api/v1/spaces/${space.id}`, { token: viewer.token })).status).toBe(404);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: viewer.token })).json.data.current_space_id).toBeNull();
    expect(
      (await ctx.call("DELETE", `/api/v1/spaces/${space.id}/members/${viewer.user.id}`, { token: admin.token })).status,
    ).toBe(404);
  });

  test("nobody leaves or deletes a personal space", async () => {
    const u = await ctx.register("mine");
    expect((await ctx.call("POST", `/api/v1/spaces/${u.user.current_space_id}/leave`, { token: u.token })).status).toBe(
      409,
    );
    expect((await ctx.call("DELETE", `/api/v1/spaces/${u.user.current_space_id}`, { token: u.token })).status).toBe(
      409,
    );
  });

  test("deleting a team space removes it for everyone", async () => {
    const { space, admin, editor } = await team();
    expect((await ctx.call("DELETE", `/api/v1/spaces/${space.id}`, { token: admin.token })).status).toBe(200);
    expect((await ctx.call("GET", `/api/v1/spaces/${space.id}`, { token: editor.token })).status).toBe(404);
  });

  test("members list paginates", async () => {
    const { space, admin } = await team();
    const page = await ctx.call("GET", `/api/v1/spaces/${space.id}/members?page=2&page_size=2`, { token: admin.token });
    expect(page.json.data).toMatchObject({ total: 3, page: 2, page_size: 2, total_pages: 2 });
    expect(page.json.data.items.length).toBe(1);
    expect(
      (await ctx.call("GET", `/api/v1/spaces/${space.id}/members?page_size=101`, { token: admin.token })).status,
    ).toBe(400);
    expect((await ctx.call("GET", `/api/v1/spaces/${space.id}/members?page=0`, { token: admin.token })).status).toBe(
      400,
    );
    expect((await ctx.call("GET", `/api/v1/spaces/${space.id}/members?page=abc`, { token: admin.token })).status).toBe(
      400,
    );
  });
});
