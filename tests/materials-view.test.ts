// Seed 003 §3.3-3.5: a material package as a client needs it (typed, signed URLs, no internals),
// voice candidates, save-new with note and metadata, and the project's conversation log.
import { describe, expect, test } from "bun:test";
import { completedProject, fetchSigned, pipelineContext } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();
const me = await ctx.register("owner");
const { project } = await completedProject(ctx, me.token);
const packageId = (await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token })).json.data
  .active_package_id as string;
const pkgUrl = `/api/v1/material-packages/${packageId}`;

type Candidate = { asset_id: string; url: string; mime_type: string; selected: boolean };

describe("the package view", () => {
  test("every file is a signed URL that serves it; candidates mark the selected one; no storage keys or digests", async () => {
    const res = await ctx.call("GET", pkgUrl, { token: me.token });
    expect(res.status).toBe(200);
    const text = JSON.stringify(res.json);
    for (const internal of ["storage_key", "sha256", "input_digest"]) expect(text).not.toContain(internal);
    const m = res.json.data.materials;
    expect(m.storyline.title.length).toBeGreaterThan(0);
    expect(Date.parse(m.urls_expire_at)).toBeGreaterThan(Date.now());
    const fetchOk = async (url: string, type: string) => {
      const r = await fetchSigned(ctx, url);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type") ?? "").toContain(type);
    };
    expect(m.characters.length).toBeGreaterThan(0);
    for (const c of m.characters) {
      expect(c.images.filter((i: Candidate) => i.selected)).toHaveLength(1);
      expect(c.image_url).not.toBeNull();
      await fetchOk(c.images[0].url, "image/");
      expect(c.voice.voice_id.length).toBeGreaterThan(0);
      expect(c.voice).toHaveProperty("sample_url");
    }
    for (const s of m.scenes) await fetchOk(s.image_url, "image/");
    for (const shot of m.shots) {
      expect(shot.keyframes.filter((k: Candidate) => k.selected)).toHaveLength(1);
      await fetchOk(shot.keyframes[0].url, "image/");
      for (const line of shot.lines) {
        expect(line.audio_duration_s).toBeGreaterThan(0);
        await fetchOk(line.audio_url, "audio/");
      }
    }
    await fetchOk(m.music.url, "audio/");
  });

  test("voice candidates come from the speech provider's library with the current one selected; switching moves the mark", async () => {
    const m = (await ctx.call("GET", pkgUrl, { token: me.token })).json.data.materials;
    const hero = m.characters[0];
    const res = await ctx.call("GET", `${pkgUrl}/voices?character=${encodeURIComponent(hero.name)}`, {
      token: me.token,
    });
    expect(res.status).toBe(200);
    const c = res.json.data;
    expect(c.current_voice_id).toBe(hero.voice.voice_id);
    expect(c.voices[0]).toMatchObject({ voice_id: hero.voice.voice_id, selected: true });
    const other = c.voices.find((v: { selected: boolean }) => !v.selected);
    expect(other).toBeDefined();
    const switched = await ctx.call("POST", `${pkgUrl}/switch-voice`, {
      token: me.token,
      body: { character: hero.name, voice_id: other.voice_id },
    });
    expect(switched.status).toBe(200);
    const again = (
      await ctx.call("GET", `${pkgUrl}/voices?character=${encodeURIComponent(hero.name)}`, { token: me.token })
    ).json.data;
    expect(again.voices.find((v: { selected: boolean }) => v.selected).voice_id).toBe(other.voice_id);
    const narrator = await ctx.call("GET", `${pkgUrl}/voices`, { token: me.token });
    expect(narrator.status).toBe(200);
    expect(narrator.json.data.character).toBeNull();
    expect(narrator.json.data.voices.some((v: { selected: boolean }) => v.selected)).toBe(true);
    expect((await ctx.call("GET", `${pkgUrl}/voices?character=nobody`, { token: me.token })).status).toBe(404);
  });

  test("save-new keeps a note and metadata; metadata must be flat", async () => {
    const saved = await ctx.call("POST", `${pkgUrl}/save-new`, {
      token: me.token,
      body: { package_name: "before the big edit", note: "雨夜版", metadata: { take: 2, approved: false, by: "lin" } },
    });
    expect(saved.status).toBe(201);
    const copy = (
      await ctx.call("GET", `/api/v1/material-packages/${saved.json.data.new_package_id}`, { token: me.token })
    ).json.data;
    expect(copy).toMatchObject({
      package_name: "before the big edit",
      note: "雨夜版",
      metadata: { take: 2, approved: false, by: "lin" },
    });
    for (const metadata of [{ nested: { a: 1 } }, { list: [1] }])
      expect((await ctx.call("POST", `${pkgUrl}/save-new`, { token: me.token, body: { metadata } })).status).toBe(400);
    // Back to the version the other tests use.
    expect((await ctx.call("POST", `${pkgUrl}/switch`, { token: me.token })).status).toBe(200);
  });

  test("the conversation log holds every edit asked and answered, newest first, paged; strangers get 404", async () => {
    const edited = await ctx.call("POST", `${pkgUrl}/modify/text`, {
      token: me.token,
      body: { element: "storyline", field: "logline", value: "一个雨夜，一个陌生人。" },
    });
    expect(edited.status).toBe(200);
    const log = await ctx.call("GET", `/api/v1/projects/${project.id}/conversation?page_size=2`, { token: me.token });
    expect(log.status).toBe(200);
    const [answer, asked] = log.json.data.items;
    expect(asked).toMatchObject({
      role: "user",
      action: { action: "modify_text", element: "storyline", field: "logline" },
    });
    expect(asked.content).toContain("一个雨夜，一个陌生人。");
    expect(answer.role).toBe("system");
    // switch-voice, save-new, switch and this edit: at least four exchanges, eight entries.
    expect(log.json.data.total).toBeGreaterThanOrEqual(8);
    const actions = new Set<string>();
    for (let page = 1; page <= Math.ceil(log.json.data.total / 50); page++) {
      const p = await ctx.call("GET", `/api/v1/projects/${project.id}/conversation?page=${page}&page_size=50`, {
        token: me.token,
      });
      for (const e of p.json.data.items) actions.add(e.action.action);
    }
    expect([...actions]).toEqual(expect.arrayContaining(["switch_voice", "save_new", "switch_package", "modify_text"]));
    const stranger = await ctx.register("stranger");
    expect(
      (await ctx.call("GET", `/api/v1/projects/${project.id}/conversation`, { token: stranger.token })).status,
    ).toBe(404);
    expect((await ctx.call("GET", pkgUrl, { token: stranger.token })).status).toBe(404);
    expect((await ctx.call("GET", `${pkgUrl}/voices`, { token: stranger.token })).status).toBe(404);
  });
});
