// Replace from the library (seed 003 §3.4.5) and save to the library: a package's character, art
// style, voice or music swapped for a library item marks stale exactly what was made from the old
// one (that character's keyframes and lines, every keyframe for a style, the narrator's lines for
// the narrator's voice), counts the use, and is refused for another space's items; a project's
// own character, style, voice and track saved to the library point at its stored files and play
// the same character in another project.
import { describe, expect, test } from "bun:test";
import type { ShotMaterial } from "../src/story/material.ts";
import { pipelineContext, SHORT_STORY } from "./support/pipeline.ts";
import { postUpload, solidPng, toneWav } from "./support/upload-file.ts";

const ctx = await pipelineContext();
await ctx.startWorker(2);

async function upload(token: string, name: string, type: string, bytes: Uint8Array<ArrayBuffer>) {
  const res = await postUpload(ctx.app, token, { name, type, bytes });
  expect(res.status).toBe(201);
  return (await res.json()).data as { id: string };
}

/** A project of the example story with keyframes and spoken lines (stopped before the clips). */
async function voicedProject(token: string, name: string) {
  const created = await ctx.call("POST", "/api/v1/projects", {
    token,
    body: { name, input: { type: "novel", text: SHORT_STORY } },
  });
  expect(created.status).toBe(201);
  const started = await ctx.call("POST", `/api/v1/projects/${created.json.data.id}/runs`, {
    token,
    body: { mode: "step", to_stage: "voices" },
  });
  const run = await ctx.waitForRun(token, started.json.data.id, ["paused", "failed", "completed"]);
  expect(run.error).toBeNull();
  return { projectId: created.json.data.id as string, packageId: run.package_id as string };
}

const shotsOf = async (packageId: string): Promise<ShotMaterial[]> =>
  (
    await ctx.db
      .selectFrom("package_shots")
      .select("data")
      .where("package_id", "=", packageId)
      .orderBy("position")
      .execute()
  ).map((r) => r.data);
const packageOf = (packageId: string) =>
  ctx.db.selectFrom("packages").selectAll().where("id", "=", packageId).executeTakeFirstOrThrow();

/** Clears every stale mark, as an export that remade everything would. */
async function freshen(packageId: string) {
  for (const s of await shotsOf(packageId))
    await ctx.db
      .updateTable("package_shots")
      .set({ data: JSON.stringify({ ...s, stale: [] }) })
      .where("package_id", "=", packageId)
      .where("shot_id", "=", s.id)
      .execute();
}

const replace = (token: string, packageId: string, body: Record<string, unknown>) =>
  ctx.call("POST", `/api/v1/material-packages/${packageId}/replace-from-asset`, { token, body });

describe("replace from the library", () => {
  test("each target marks exactly its dependents stale and counts the use", async () => {
    const me = await ctx.register("replace");
    const { packageId } = await voicedProject(me.token, "替换");
    const before = await packageOf(packageId);
    const shots = await shotsOf(packageId);
    // The character in the fewest shots who still speaks: some shots show them, some do not.
    const speaking = before.characters.filter((c) => shots.some((s) => s.lines.some((l) => l.speaker === c.name)));
    const who = speaking.sort(
      (a, b) =>
        shots.filter((s) => s.characters.includes(a.name)).length -
        shots.filter((s) => s.characters.includes(b.name)).length,
    )[0]!;
    const theirs = shots.filter((s) => s.characters.includes(who.name) && s.keyframe.selected !== null);
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.length).toBeLessThan(shots.length);
    await freshen(packageId);

    const front = await upload(me.token, "front.png", "image/png", await solidPng("red", "256x256"));
    const item = await ctx.call("POST", "/api/v1/library/characters", {
      token: me.token,
      body: {
        name: "替身",
        appearance: "a red scarf",
        reference_asset_ids: [front.id],
        voice: { provider: "local", voice_id: "lib-voice-1" },
      },
    });
    expect(item.status).toBe(201);
    const cast = await replace(me.token, packageId, {
      target: "character",
      element_id: who.name,
      library_item_id: item.json.data.id,
    });
    expect(cast.status).toBe(200);
    const spoken = shots.flatMap((s) => s.lines).filter((l) => l.speaker === who.name);
    expect(cast.json.data).toMatchObject({
      target: "character",
      element_id: who.name,
      library_item_id: item.json.data.id,
      stale: { keyframes: theirs.length, lines: spoken.length, soundtrack: false },
    });
    const after = await shotsOf(packageId);
    for (const s of after) {
      const shows = theirs.some((t) => t.id === s.id);
      expect(s.stale.includes("keyframe")).toBe(shows);
      const speaks = s.lines.some((l) => l.speaker === who.name);
      expect(s.stale.includes("voice")).toBe(speaks);
      for (const l of s.lines)
        if (l.speaker === who.name) expect(l.voice.voice_id).toBe("lib-voice-1");
        else expect(l.voice).toEqual(shots.flatMap((x) => x.lines).find((o) => o.id === l.id)!.voice);
    }
    const played = (await packageOf(packageId)).characters.find((c) => c.name === who.name)!;
    expect(played).toMatchObject({
      library_item_id: item.json.data.id,
      description: "a red scarf",
      reference: { asset_id: front.id },
      voice: { provider: "local", voice_id: "lib-voice-1" },
    });
    expect(played.references?.map((r) => r.asset_id)).toEqual([front.id]);
    const counted = await ctx.call("GET", `/api/v1/library/characters/${item.json.data.id}`, { token: me.token });
    expect(counted.json.data.usage_count).toBe(1);

    // A style: every drawn keyframe is stale, no voice is.
    await freshen(packageId);
    const style = await ctx.call("POST", "/api/v1/library/styles", {
      token: me.token,
      body: { name: "水墨", prompt_template: "ink wash painting", palette: ["#112233"], preview_asset_id: front.id },
    });
    const styled = await replace(me.token, packageId, { target: "style", library_item_id: style.json.data.id });
    expect(styled.status).toBe(200);
    const drawn = after.filter((s) => s.keyframe.selected !== null).length;
    expect(styled.json.data.stale).toEqual({ keyframes: drawn, lines: 0, soundtrack: false });
    expect(
      (await shotsOf(packageId)).every((s) => s.stale.join() === (s.keyframe.selected === null ? "" : "keyframe")),
    ).toBe(true);
    expect((await packageOf(packageId)).art_style).toMatchObject({
      name: "水墨",
      prompt: "ink wash painting",
      library_item_id: style.json.data.id,
      references: [{ asset_id: front.id }],
    });

    // The narrator's voice: narration lines only.
    await freshen(packageId);
    const voice = await ctx.call("POST", "/api/v1/library/voices", {
      token: me.token,
      body: { name: "旁白", provider: "local", voice_id: "lib-narrator" },
    });
    const voiced = await replace(me.token, packageId, { target: "voice", library_item_id: voice.json.data.id });
    expect(voiced.status).toBe(200);
    const narration = after.flatMap((s) => s.lines).filter((l) => l.kind === "narration");
    expect(voiced.json.data.stale).toEqual({ keyframes: 0, lines: narration.length, soundtrack: false });
    for (const s of await shotsOf(packageId)) {
      expect(s.stale.includes("voice")).toBe(s.lines.some((l) => l.kind === "narration"));
      for (const l of s.lines) if (l.kind === "narration") expect(l.voice.voice_id).toBe("lib-narrator");
    }

    // Music: the track in use, nothing in the shots stale.
    await freshen(packageId);
    const tone = await upload(me.token, "theme.wav", "audio/wav", await toneWav(330));
    const music = await ctx.call("POST", "/api/v1/library/music", {
      token: me.token,
      body: { name: "主题", asset_id: tone.id, mood: "calm" },
    });
    const scored = await replace(me.token, packageId, { target: "bgm", library_item_id: music.json.data.id });
    expect(scored.status).toBe(200);
    expect(scored.json.data.stale).toEqual({ keyframes: 0, lines: 0, soundtrack: true });
    expect((await packageOf(packageId)).music?.asset?.asset_id).toBe(tone.id);
    expect((await shotsOf(packageId)).every((s) => s.stale.length === 0)).toBe(true);
    const bgm = await ctx.call("GET", `/api/v1/projects/${(await packageOf(packageId)).project_id}/timeline/bgm`, {
      token: me.token,
    });
    expect(bgm.json.data.track.asset_id).toBe(tone.id);
  });

  test("bad targets are 4xx and change nothing; another space's item is 404", async () => {
    const me = await ctx.register("replbad");
    const { packageId } = await voicedProject(me.token, "拒绝");
    const pkg = await packageOf(packageId);
    const shots = await shotsOf(packageId);
    const style = await ctx.call("POST", "/api/v1/library/styles", {
      token: me.token,
      body: { name: "s", prompt_template: "p" },
    });
    const character = await ctx.call("POST", "/api/v1/library/characters", { token: me.token, body: { name: "c" } });
    const stranger = await ctx.register("replother");
    const theirs = await ctx.call("POST", "/api/v1/library/styles", {
      token: stranger.token,
      body: { name: "t", prompt_template: "p" },
    });
    const who = pkg.characters[0]!.name;
    const cases: Array<[Record<string, unknown>, number]> = [
      [{ target: "style", library_item_id: theirs.json.data.id }, 404],
      [{ target: "style", library_item_id: character.json.data.id }, 404],
      [{ target: "character", library_item_id: character.json.data.id }, 400],
      [{ target: "character", element_id: "没有这个人", library_item_id: character.json.data.id }, 404],
      [{ target: "voice", element_id: "没有这个人", library_item_id: style.json.data.id }, 404],
      [{ target: "style", element_id: who, library_item_id: style.json.data.id }, 400],
      [{ target: "scene", library_item_id: style.json.data.id }, 400],
      [{ target: "style", library_item_id: "not-a-uuid" }, 400],
    ];
    for (const [body, status] of cases) {
      const res = await replace(me.token, packageId, body);
      expect({ body, status: res.status }).toEqual({ body, status });
      expect(res.json).toMatchObject({ success: false, data: null });
    }
    // The stranger cannot touch my package even with their own item.
    expect(
      (await replace(stranger.token, packageId, { target: "style", library_item_id: theirs.json.data.id })).status,
    ).toBe(404);
    expect(await packageOf(packageId)).toEqual(pkg);
    expect(await shotsOf(packageId)).toEqual(shots);
    const unused = await ctx.call("GET", `/api/v1/library/styles/${style.json.data.id}`, { token: me.token });
    expect(unused.json.data.usage_count).toBe(0);
  });
});

describe("save to the library", () => {
  test("a project's character, style, voice and track become library items that play in another project", async () => {
    const me = await ctx.register("savelib");
    const { packageId } = await voicedProject(me.token, "原作");
    const pkg = await packageOf(packageId);
    const save = (body: Record<string, unknown>) =>
      ctx.call("POST", `/api/v1/material-packages/${packageId}/save-to-library`, { token: me.token, body });
    const hero = pkg.characters.find((c) => c.reference)!;

    const character = await save({ target: "character", element_id: hero.name, tags: ["主角"] });
    expect(character.status).toBe(201);
    expect(character.json.data).toMatchObject({
      kind: "character",
      name: hero.name,
      description: hero.description,
      gender: hero.gender,
      tags: ["主角"],
      reference_asset_ids: [hero.reference!.asset_id],
      voice: { provider: hero.voice.provider, voice_id: hero.voice.voice_id },
    });
    expect(character.json.data.reference_images[0].url).toBeString();

    const style = await save({ target: "style", name: "原作画风" });
    expect(style.status).toBe(201);
    const firstKeyframe = (await shotsOf(packageId)).find((s) => s.keyframe.selected !== null)!;
    expect(style.json.data).toMatchObject({
      kind: "style",
      name: "原作画风",
      prompt_template: pkg.art_style!.prompt,
      preview_asset_id: firstKeyframe.keyframe.candidates[firstKeyframe.keyframe.selected!]!.asset_id,
    });

    const narrator = await save({ target: "voice" });
    expect(narrator.status).toBe(201);
    expect(narrator.json.data).toMatchObject({ kind: "voice", voice_type: "narration", cloned: false });
    // Its sample is one of the narrator's lines as already spoken.
    const sample = await ctx.db
      .selectFrom("assets")
      .select(["kind", "mime_type"])
      .where("id", "=", narrator.json.data.sample_asset_id)
      .executeTakeFirstOrThrow();
    expect(sample).toMatchObject({ kind: "voice" });
    expect(sample.mime_type).toStartWith("audio/");

    // No music before the music stage: 409, nothing saved.
    const noTrack = await save({ target: "bgm" });
    expect(noTrack.status).toBe(409);
    expect((await save({ target: "character", element_id: "没有这个人" })).status).toBe(404);
    expect((await save({ target: "character" })).status).toBe(400);
    const stranger = await ctx.register("saveother");
    const refused = await ctx.call("POST", `/api/v1/material-packages/${packageId}/save-to-library`, {
      token: stranger.token,
      body: { target: "style" },
    });
    expect(refused.status).toBe(404);
    const kept = await ctx.call("GET", "/api/v1/library/search", { token: me.token });
    expect(kept.json.data.results.characters.items.filter((i: { is_preset: boolean }) => !i.is_preset)).toHaveLength(1);

    // The saved character plays the same part in a second project, drawn from the same picture.
    const second = await voicedProject(me.token, "续集");
    const cast = await replace(me.token, second.packageId, {
      target: "character",
      element_id: hero.name,
      library_item_id: character.json.data.id,
    });
    expect(cast.status).toBe(200);
    const played = (await packageOf(second.packageId)).characters.find((c) => c.name === hero.name)!;
    expect(played.reference?.asset_id).toBe(hero.reference!.asset_id);
    expect(played.library_item_id).toBe(character.json.data.id);
  });
});
