// Attachments (seed 003 §2.2): uploads attached to a project with a label, relabelled, listed and
// detached, owner-checked; a picture attached as a character's becomes its reference in the run,
// and style pictures are what the art style follows.
import { describe, expect, test } from "bun:test";
import { pipelineContext, SHORT_STORY } from "./support/pipeline.ts";
import { postUpload, solidPng } from "./support/upload-file.ts";

const ctx = await pipelineContext();
await ctx.startWorker(2);

async function upload(token: string, name: string, bytes: Uint8Array<ArrayBuffer>, type = "image/png") {
  const res = await postUpload(ctx.app, token, { name, type, bytes });
  expect(res.status).toBe(201);
  return (await res.json()).data as { id: string };
}

describe("attachments", () => {
  test("attached, listed, relabelled and detached; another user sees none of it", async () => {
    const me = await ctx.register("attach");
    const project = (await ctx.call("POST", "/api/v1/projects", { token: me.token, body: { name: "附件" } })).json.data;
    const pic = await upload(me.token, "林小雨.png", await solidPng("red"));
    const path = `/api/v1/projects/${project.id}/attachments`;
    const made = await ctx.call("POST", path, {
      token: me.token,
      body: { asset_id: pic.id, label: "character", character: "林小雨" },
    });
    expect(made.status).toBe(201);
    expect(made.json.data).toMatchObject({
      asset_id: pic.id,
      label: "character",
      metadata: { character: "林小雨" },
      file_name: "林小雨.png",
      file_category: "image",
    });
    const id = made.json.data.id;
    expect((await ctx.call("POST", path, { token: me.token, body: { asset_id: pic.id, label: "x" } })).status).toBe(
      409,
    );
    // A character picture names its character.
    const other = await upload(me.token, "b.png", await solidPng("blue"));
    const unnamed = await ctx.call("POST", path, { token: me.token, body: { asset_id: other.id, label: "character" } });
    expect(unnamed.status).toBe(400);

    const relabelled = await ctx.call("PUT", `/api/v1/attachments/${id}`, {
      token: me.token,
      body: { label: "角色设计图", note: "正面" },
    });
    expect(relabelled.status).toBe(200);
    expect(relabelled.json.data).toMatchObject({
      label: "角色设计图",
      metadata: { character: "林小雨", note: "正面" },
    });
    const listed = await ctx.call("GET", `${path}?category=image`, { token: me.token });
    expect(listed.json.data.map((a: { id: string }) => a.id)).toEqual([id]);
    expect((await ctx.call("GET", `${path}?category=audio`, { token: me.token })).json.data).toEqual([]);

    const stranger = await ctx.register("attach2");
    const theirs = await upload(stranger.token, "t.png", await solidPng("green"));
    // Another user's upload cannot be attached; their calls on my attachment are 404.
    expect((await ctx.call("POST", path, { token: me.token, body: { asset_id: theirs.id, label: "x" } })).status).toBe(
      404,
    );
    expect((await ctx.call("GET", path, { token: stranger.token })).status).toBe(404);
    expect(
      (await ctx.call("PUT", `/api/v1/attachments/${id}`, { token: stranger.token, body: { label: "y" } })).status,
    ).toBe(404);
    expect((await ctx.call("DELETE", `/api/v1/attachments/${id}`, { token: stranger.token })).status).toBe(404);

    expect((await ctx.call("DELETE", `/api/v1/attachments/${id}`, { token: me.token })).status).toBe(200);
    expect((await ctx.call("GET", path, { token: me.token })).json.data).toEqual([]);
    expect((await ctx.call("GET", `/api/v1/assets/${pic.id}`, { token: me.token })).status).toBe(200);
  });

  test("a character's attached photo is its reference, and style pictures guide the art style", async () => {
    const me = await ctx.register("attachrun");
    const project = (
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { name: "雨夜", input: { type: "novel", text: SHORT_STORY } },
      })
    ).json.data;
    const photo = await upload(me.token, "zhou.png", await solidPng("gray", "256x256"));
    const look = await upload(me.token, "look.png", await solidPng("navy", "256x256"));
    const path = `/api/v1/projects/${project.id}/attachments`;
    for (const body of [
      { asset_id: photo.id, label: "character", character: "周掌柜" },
      { asset_id: look.id, label: "style" },
    ])
      expect((await ctx.call("POST", path, { token: me.token, body })).status).toBe(201);
    const started = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "step", to_stage: "characters" },
    });
    const run = await ctx.waitForRun(me.token, started.json.data.id, ["paused", "failed", "completed"]);
    expect(run.error).toBeNull();
    const pkg = await ctx.db
      .selectFrom("packages")
      .select(["characters", "art_style"])
      .where("id", "=", run.package_id)
      .executeTakeFirstOrThrow();
    const zhou = pkg.characters.find((c) => c.name === "周掌柜")!;
    expect(zhou.reference?.asset_id).toBe(photo.id);
    expect(zhou.references?.map((r) => r.asset_id)).toEqual([photo.id]);
    expect(zhou.library_item_id).toBeUndefined();
    // The others still get a drawn sheet.
    const lin = pkg.characters.find((c) => c.name === "林小雨")!;
    expect(lin.reference?.asset_id).not.toBe(photo.id);
    expect(pkg.art_style?.references?.map((r) => r.asset_id)).toEqual([look.id]);
  });
});
