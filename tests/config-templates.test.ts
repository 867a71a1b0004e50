// Config templates (seed 003 §2.3): a space's saved project options, saved from options or from a
// project, listed, and used by POST /projects with template_id (the request's options win).
import { describe, expect, test } from "bun:test";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();

describe("config templates", () => {
  test("saved, listed, and used to create a project; names are unique per space; other spaces see none", async () => {
    const me = await ctx.register("maker");
    const spaceId = me.user.current_space_id;
    const url = `/api/v1/spaces/${spaceId}/config-templates`;
    const saved = await ctx.call("POST", url, {
      token: me.token,
      body: { name: "竖屏水墨", description: "抖音用", options: { style: "ink", aspect_ratio: "9:16", fps: 30 } },
    });
    expect(saved.status).toBe(201);
    expect(saved.json.data).toMatchObject({
      name: "竖屏水墨",
      options: { style: "ink", aspect_ratio: "9:16", fps: 30 },
    });
    expect((await ctx.call("POST", url, { token: me.token, body: { name: "竖屏水墨" } })).status).toBe(409);
    expect(
      (await ctx.call("POST", url, { token: me.token, body: { name: "bad", options: { style: "oil" } } })).status,
    ).toBe(400);

    const project = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      body: { name: "从模板", template_id: saved.json.data.id, options: { fps: 24 } },
    });
    expect(project.status).toBe(201);
    expect(project.json.data.options).toEqual({ style: "ink", aspect_ratio: "9:16", fps: 24 });

    const fromProject = await ctx.call("POST", url, {
      token: me.token,
      body: { name: "照这个项目", project_id: project.json.data.id },
    });
    expect(fromProject.status).toBe(201);
    expect(fromProject.json.data.options).toEqual({ style: "ink", aspect_ratio: "9:16", fps: 24 });

    const list = await ctx.call("GET", url, { token: me.token });
    expect(list.json.data.map((t: { name: string }) => t.name).sort()).toEqual(["照这个项目", "竖屏水墨"].sort());

    const other = await ctx.register("other");
    expect((await ctx.call("GET", url, { token: other.token })).status).toBe(404);
    expect((await ctx.call("POST", url, { token: other.token, body: { name: "x" } })).status).toBe(404);
    const foreign = await ctx.call("POST", "/api/v1/projects", {
      token: other.token,
      body: { name: "借用", template_id: saved.json.data.id },
    });
    expect(foreign.status).toBe(404);
    const missing = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      body: { name: "没有", template_id: crypto.randomUUID() },
    });
    expect(missing.status).toBe(404);
  });
});
