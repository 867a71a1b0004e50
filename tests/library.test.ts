// The asset library (seed 003 §6): characters, styles, voices and music of a space with presets,
// search across kinds, categories, batch delete in one transaction, space roles, usage counts
// kept exact under concurrent uses, and an ElevenLabs voice clone through its real SDK.
import { afterAll, describe, expect, test } from "bun:test";
import { startFakeElevenLabs } from "./support/fake-elevenlabs.ts";
import { fetchSigned, pipelineContext } from "./support/pipeline.ts";
import { postUpload, solidPng, toneWav } from "./support/upload-file.ts";

const eleven = await startFakeElevenLabs();
afterAll(() => eleven.stop());
const ctx = await pipelineContext({ ELEVENLABS_API_KEY: eleven.apiKey, ELEVENLABS_BASE_URL: eleven.url });
const png = (colour: string) => solidPng(colour, "320x240");
const wav = (hz: number) => toneWav(hz);
async function upload(token: string, name: string, type: string, bytes: Uint8Array<ArrayBuffer>) {
  const res = await postUpload(ctx.app, token, { name, type, bytes });
  expect(res.status).toBe(201);
  return (await res.json()).data as { id: string };
}

/** A team space with an editor and a viewer besides its admin. */
async function team() {
  const admin = await ctx.register("libadm");
  const viewer = await ctx.register("libview");
  const space = (await ctx.call("POST", "/api/v1/spaces", { token: admin.token, body: { name: "画室" } })).json.data;
  const invite = await ctx.call("POST", `/api/v1/spaces/${space.id}/invites`, {
    token: admin.token,
    body: { role: "viewer" },
  });
  await ctx.call("POST", "/api/v1/spaces/join", { token: viewer.token, body: { invite_code: invite.json.data.code } });
  await ctx.call("POST", `/api/v1/spaces/${space.id}/switch`, { token: admin.token });
  return { admin, viewer, space };
}

describe("library items", () => {
  test("a character with reference pictures: created, read with signed links, changed, searched, deleted", async () => {
    const me = await ctx.register("libchar");
    const front = await upload(me.token, "front.png", "image/png", await png("red"));
    const side = await upload(me.token, "side.png", "image/png", await png("blue"));
    const made = await ctx.call("POST", "/api/v1/library/characters", {
      token: me.token,
      body: {
        name: "林小雨",
        description: "茶馆常客",
        tags: ["主角", "女"],
        gender: "female",
        age: "young",
        appearance: "long black hair, blue qipao",
        reference_asset_ids: [front.id, side.id],
        voice: { provider: "local", voice_id: "zh-female-1" },
      },
    });
    expect(made.status).toBe(201);
    const c = made.json.data;
    expect(c).toMatchObject({
      kind: "character",
      name: "林小雨",
      gender: "female",
      age: "young",
      personality: "",
      usage_count: 0,
      is_preset: false,
      space_id: me.user.current_space_id,
    });
    expect(c.reference_images.map((r: { asset_id: string }) => r.asset_id)).toEqual([front.id, side.id]);
    const bytes = new Uint8Array(await (await fetchSigned(ctx, c.reference_images[0].url)).arrayBuffer());
    expect(bytes.length).toBeGreaterThan(0);

    const changed = await ctx.call("PATCH", `/api/v1/library/characters/${c.id}`, {
      token: me.token,
      body: { appearance: "short hair", reference_asset_ids: [side.id] },
    });
    expect(changed.status).toBe(200);
    expect(changed.json.data).toMatchObject({
      appearance: "short hair",
      name: "林小雨",
      reference_asset_ids: [side.id],
    });

    const found = await ctx.call("GET", `/api/v1/library/search?q=${encodeURIComponent("主角")}&types=character`, {
      token: me.token,
    });
    expect(found.status).toBe(200);
    expect(found.json.data.results.characters.items.map((x: { id: string }) => x.id)).toEqual([c.id]);
    expect(found.json.data.results.styles).toBeUndefined();

    // A picture of another type, or another user's upload, cannot be a reference.
    const tone = await upload(me.token, "tone.wav", "audio/wav", await wav(440));
    const other = await ctx.register("libother");
    const theirs = await upload(other.token, "theirs.png", "image/png", await png("green"));
    for (const id of [tone.id, theirs.id]) {
      const bad = await ctx.call("POST", "/api/v1/library/characters", {
        token: me.token,
        body: { name: "x", reference_asset_ids: [id] },
      });
      expect(bad.status).toBe(id === tone.id ? 400 : 404);
    }
    // Another user's item is 404 everywhere.
    expect((await ctx.call("GET", `/api/v1/library/characters/${c.id}`, { token: other.token })).status).toBe(404);
    expect((await ctx.call("DELETE", `/api/v1/library/characters/${c.id}`, { token: other.token })).status).toBe(404);
    // The wrong kind's route does not see it either.
    expect((await ctx.call("GET", `/api/v1/library/styles/${c.id}`, { token: me.token })).status).toBe(404);

    expect((await ctx.call("DELETE", `/api/v1/library/characters/${c.id}`, { token: me.token })).status).toBe(200);
    expect((await ctx.call("GET", `/api/v1/library/characters/${c.id}`, { token: me.token })).status).toBe(404);
  });

  test("styles, voices and music; presets are listed after the space's own; categories count both", async () => {
    const me = await ctx.register("libkinds");
    const preview = await upload(me.token, "look.png", "image/png", await png("yellow"));
    const track = await upload(me.token, "theme.wav", "audio/wav", await wav(330));
    const style = await ctx.call("POST", "/api/v1/library/styles", {
      token: me.token,
      body: { name: "水彩", prompt_template: "soft watercolour", palette: ["#aabbcc"], preview_asset_id: preview.id },
    });
    expect(style.status).toBe(201);
    expect(style.json.data.preview.asset_id).toBe(preview.id);
    const music = await ctx.call("POST", "/api/v1/library/music", {
      token: me.token,
      body: { name: "主题曲", asset_id: track.id, mood: "calm", bpm: 90, tags: ["calm"] },
    });
    expect(music.status).toBe(201);
    expect(music.json.data.duration_s).toBeCloseTo(2, 1);
    expect(music.json.data.audio_url).toContain("http");
    const voice = await ctx.call("POST", "/api/v1/library/voices", {
      token: me.token,
      body: { name: "旁白", provider: "local", voice_id: "narrator-deep", voice_type: "narration" },
    });
    expect(voice.status).toBe(201);
    expect(voice.json.data).toMatchObject({ cloned: false, voice_type: "narration", sample_url: null });

    const styles = (await ctx.call("GET", "/api/v1/library/styles?page_size=100", { token: me.token })).json.data;
    expect(styles.items[0].id).toBe(style.json.data.id);
    const presets = styles.items.filter((s: { is_preset: boolean }) => s.is_preset);
    expect(presets.map((s: { id: string }) => s.id)).toContain("preset:style:ink");
    expect(presets.every((s: { usage_count: number | null }) => s.usage_count === null)).toBe(true);
    expect(styles.total).toBe(1 + presets.length);
    const own = await ctx.call("GET", "/api/v1/library/styles?is_preset=false", { token: me.token });
    expect(own.json.data.total).toBe(1);
    const calm = await ctx.call("GET", "/api/v1/library/music?mood=calm", { token: me.token });
    expect(calm.json.data.items.map((m: { name: string }) => m.name)).toEqual(["主题曲"]);

    const cats = (await ctx.call("GET", "/api/v1/library/categories", { token: me.token })).json.data;
    const of = (k: string) => cats.find((c: { kind: string }) => c.kind === k);
    expect(of("style")).toMatchObject({ own: 1, presets: presets.length, count: 1 + presets.length });
    expect(of("music")).toMatchObject({ own: 1, tags: [{ tag: "calm", count: 1 }] });
    expect(of("character")).toMatchObject({ own: 0, count: 0 });
  });

  test("a viewer reads the space's library but cannot add, change or delete", async () => {
    const { admin, viewer, space } = await team();
    const made = await ctx.call("POST", "/api/v1/library/styles", {
      token: admin.token,
      body: { name: "墨", prompt_template: "ink", space_id: space.id },
    });
    expect(made.status).toBe(201);
    const id = made.json.data.id;
    const listed = await ctx.call("GET", `/api/v1/library/styles?space_id=${space.id}&is_preset=false`, {
      token: viewer.token,
    });
    expect(listed.json.data.items.map((s: { id: string }) => s.id)).toEqual([id]);
    const add = await ctx.call("POST", "/api/v1/library/styles", {
      token: viewer.token,
      body: { name: "x", prompt_template: "y", space_id: space.id },
    });
    expect(add.status).toBe(403);
    expect(
      (await ctx.call("PATCH", `/api/v1/library/styles/${id}`, { token: viewer.token, body: { name: "z" } })).status,
    ).toBe(403);
    expect((await ctx.call("DELETE", `/api/v1/library/styles/${id}`, { token: viewer.token })).status).toBe(403);
    const batch = await ctx.call("POST", "/api/v1/library/batch-delete", {
      token: viewer.token,
      body: { ids: [id], space_id: space.id },
    });
    expect(batch.status).toBe(403);
    expect((await ctx.call("GET", `/api/v1/library/styles/${id}`, { token: viewer.token })).json.data.name).toBe("墨");
  });

  test("batch delete of 100 items is one transaction: a bad id in the middle keeps all of them", async () => {
    const me = await ctx.register("libbatch");
    const other = await ctx.register("libbatch2");
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await ctx.call("POST", "/api/v1/library/voices", {
        token: me.token,
        body: { name: `v${i}`, provider: "local", voice_id: `v${i}` },
      });
      ids.push(r.json.data.id);
    }
    const theirs = (
      await ctx.call("POST", "/api/v1/library/voices", {
        token: other.token,
        body: { name: "theirs", provider: "local", voice_id: "t" },
      })
    ).json.data.id;
    const count = async () =>
      (await ctx.call("GET", "/api/v1/library/voices?is_preset=false", { token: me.token })).json.data.total;
    for (const bad of [theirs, crypto.randomUUID()]) {
      const mixed = [...ids.slice(0, 50), bad, ...ids.slice(50)];
      const res = await ctx.call("POST", "/api/v1/library/batch-delete", { token: me.token, body: { ids: mixed } });
      expect(res.status).toBe(404);
      expect(res.json.error.details.id).toBe(bad);
      expect(await count()).toBe(100);
    }
    const wrongKind = await ctx.call("POST", "/api/v1/library/batch-delete", {
      token: me.token,
      body: { ids, kind: "style" },
    });
    expect(wrongKind.status).toBe(404);
    const ok = await ctx.call("POST", "/api/v1/library/batch-delete", {
      token: me.token,
      body: { ids, kind: "voice" },
    });
    expect(ok.json.data).toEqual({ deleted: 100 });
    expect(await count()).toBe(0);
    expect((await ctx.call("GET", `/api/v1/library/voices/${theirs}`, { token: other.token })).status).toBe(200);
  });

  test("usage counts stay exact under 20 concurrent uses, and a project counts once", async () => {
    const me = await ctx.register("libuse");
    const c = (await ctx.call("POST", "/api/v1/library/characters", { token: me.token, body: { name: "陈默" } })).json
      .data;
    const s = (
      await ctx.call("POST", "/api/v1/library/styles", {
        token: me.token,
        body: { name: "夜", prompt_template: "night" },
      })
    ).json.data;
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        ctx.call("POST", "/api/v1/projects", {
          token: me.token,
          body: { name: `p${i}`, options: { subject_ids: [c.id], style_id: s.id } },
        }),
      ),
    );
    expect(made.map((r) => r.status)).toEqual(Array(20).fill(201));
    const usage = async (kind: string, id: string) =>
      (await ctx.call("GET", `/api/v1/library/${kind}/${id}`, { token: me.token })).json.data.usage_count;
    expect(await usage("characters", c.id)).toBe(20);
    expect(await usage("styles", s.id)).toBe(20);
    // The same project casting the item again (concurrently) does not count again.
    const first = made[0]!.json.data.id;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        ctx.call("PATCH", `/api/v1/projects/${first}`, {
          token: me.token,
          body: { options: { subject_map: { 陈默: c.id } } },
        }),
      ),
    );
    expect(await usage("characters", c.id)).toBe(20);
    // A deleted project's uses go with it.
    expect((await ctx.call("DELETE", `/api/v1/projects/${first}`, { token: me.token })).status).toBe(200);
    expect(await usage("characters", c.id)).toBe(19);

    // Options naming another user's item, or an item of the wrong kind, store nothing.
    const other = await ctx.register("libuse2");
    const wrongSpace = await ctx.call("POST", "/api/v1/projects", {
      token: other.token,
      body: { name: "x", options: { subject_ids: [c.id] } },
    });
    expect(wrongSpace.status).toBe(404);
    const wrongKind = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      body: { name: "y", options: { style_id: c.id } },
    });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.json.error.details.fields[0].path).toBe("/options/style_id");
    const names = (await ctx.call("GET", "/api/v1/projects?page_size=100", { token: me.token })).json.data.items.map(
      (p: { name: string }) => p.name,
    );
    expect(names).not.toContain("y");
    expect(await usage("characters", c.id)).toBe(19);
  });

  test("a voice cloned from the space's recordings through the ElevenLabs SDK", async () => {
    const me = await ctx.register("libclone");
    const a = await upload(me.token, "take1.wav", "audio/wav", await wav(200));
    const b = await upload(me.token, "take2.wav", "audio/wav", await wav(250));
    const res = await ctx.call("POST", "/api/v1/library/voices/clone", {
      token: me.token,
      body: { name: "我的声音", sample_asset_ids: [a.id, b.id], gender: "female", language: "zh" },
    });
    expect(res.status).toBe(201);
    expect(res.json.data).toMatchObject({
      provider: "elevenlabs",
      cloned: true,
      gender: "female",
      sample_asset_id: a.id,
    });
    const sent = eleven.requests.find((r) => r.route === "clone")!;
    const body = sent.body as { name: string; files: Array<{ name: string; size: number }>; labels: string };
    expect(body.name).toBe("我的声音");
    expect(body.files.map((f) => f.name)).toEqual(["take1.wav", "take2.wav"]);
    expect(body.files.every((f) => f.size > 1000)).toBe(true);
    expect(eleven.voices.map((v) => v.voice_id)).toContain(res.json.data.voice_id);
    // A picture is not a recording.
    const pic = await upload(me.token, "p.png", "image/png", await png("white"));
    const bad = await ctx.call("POST", "/api/v1/library/voices/clone", {
      token: me.token,
      body: { name: "x", sample_asset_ids: [pic.id] },
    });
    expect(bad.status).toBe(400);
  });
});
