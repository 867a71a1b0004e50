import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { type Cue, speechCues } from "../src/media/subtitles.ts";
import { ElevenLabsProviderError } from "../src/providers/elevenlabs/errors.ts";
import { createElevenLabsSpeech } from "../src/providers/elevenlabs/speech.ts";
import { createLocalSpeech, LOCAL_PRESETS, localVoice, sentences } from "../src/providers/local/speech.ts";
import { readWav } from "../src/providers/local/wav.ts";
import type { VoiceInfo } from "../src/providers/types.ts";
import { lineLayout, type ShotMaterial } from "../src/story/material.ts";
import type { SpeechTiming } from "../src/story/timing.ts";
import { assignVoices, type CastCharacter } from "../src/voices/assign.ts";
import { libraryVoices, refreshVoices, voiceAccepted } from "../src/voices/library.ts";
import { createTestContext } from "./support/context.ts";
import {
  DEFAULT_FAKE_VOICES,
  elevenLabsErrors,
  fakeAlignment,
  fakeVoice,
  startFakeElevenLabs,
} from "./support/fake-elevenlabs.ts";
import { completedProject, fetchSigned, pipelineContext } from "./support/pipeline.ts";

const voice = (
  voice_id: string,
  gender: VoiceInfo["gender"],
  age: VoiceInfo["age"] = null,
  more: Partial<VoiceInfo> = {},
): VoiceInfo => ({
  voice_id,
  name: voice_id,
  gender,
  age,
  accent: null,
  language: null,
  description: null,
  preview_url: null,
  labels: {},
  ...more,
});
const person = (name: string, gender: string, age = "unknown", role = "supporting"): CastCharacter => ({
  name,
  gender,
  age,
  role,
});

const LIBRARY: VoiceInfo[] = [
  voice("f-young", "female", "young"),
  voice("f-old", "female", "old"),
  voice("m-middle", "male", "middle_aged"),
  voice("m-old", "male", "old"),
  voice("m-young", "male", "young"),
  voice("kid", "neutral", "child"),
  voice("teller", "male", "middle_aged", { labels: { use_case: "narration" } }),
];

describe("assignVoices", () => {
  test("each character gets a voice of its gender and age, all distinct, and the narrator one of its own", () => {
    const cast = assignVoices(
      [
        person("Mei", "female", "young", "protagonist"),
        person("Grandpa", "male", "elder"),
        person("Tom", "male", "adult"),
        person("Pip", "unknown", "child", "minor"),
        person("Ann", "female", "elder"),
      ],
      LIBRARY,
    );
    expect(cast.byCharacter).toEqual({ Mei: "f-young", Grandpa: "m-old", Tom: "m-middle", Pip: "kid", Ann: "f-old" });
    expect(new Set(Object.values(cast.byCharacter)).size).toBe(5);
    // A narration voice is left for the narrator.
    expect(cast.narrator).toBe("teller");
    expect(Object.values(cast.byCharacter)).not.toContain(cast.narrator);
  });

  test("gender decides before distinctness; another gender only when the library has nothing else", () => {
    const cast = assignVoices(
      [person("A", "female"), person("B", "female"), person("C", "male")],
      [voice("f1", "female"), voice("m1", "male"), voice("m2", "male"), voice("n1", null)],
    );
    expect(cast.byCharacter.A).toBe("f1");
    // The second woman: an unlabelled voice rather than a man's.
    expect(cast.byCharacter.B).toBe("n1");
    expect(cast.byCharacter.C).toBe("m1");
    expect(cast.narrator).toBe("m2");
    // Characters of unknown gender are spread over the genders rather than given the first voices by id.
    const unknown = assignVoices(
      [person("A", "unknown"), person("B", "unknown"), person("C", "unknown")],
      [voice("f1", "female"), voice("f2", "female"), voice("m1", "male"), voice("m2", "male")],
    );
    expect(unknown.byCharacter).toEqual({ A: "f1", B: "m1", C: "f2" });
    expect(unknown.narrator).toBe("m2");
    const onlyMen = assignVoices([person("A", "female")], [voice("m1", "male")]);
    expect(onlyMen).toEqual({ byCharacter: { A: "m1" }, narrator: "m1" });
  });

  test("the same input gives the same cast whatever the library's order", () => {
    const chars = [
      person("林小雨", "female", "young", "protagonist"),
      person("周掌柜", "male", "adult"),
      person("陈默", "male", "unknown"),
      person("路人", "unknown", "unknown", "minor"),
    ];
    const first = assignVoices(chars, LIBRARY);
    for (let i = 0; i < 10; i++) {
      const shuffled = [...LIBRARY].sort(() => Math.random() - 0.5);
      expect(assignVoices(chars, shuffled)).toEqual(first);
    }
    // The protagonist chooses first, wherever it comes in the list.
    const reordered = assignVoices([...chars].reverse(), LIBRARY);
    expect(reordered.byCharacter.林小雨).toBe(first.byCharacter.林小雨!);
    expect(assignVoices([...chars].reverse(), [...LIBRARY].reverse())).toEqual(reordered);
  });

  test("a small library is reused round-robin, the least used voice first, the narrator included", () => {
    const cast = assignVoices(
      [1, 2, 3, 4, 5].map((i) => person(`c${i}`, "unknown")),
      [voice("b", null), voice("a", null)],
    );
    expect(cast.byCharacter).toEqual({ c1: "a", c2: "b", c3: "a", c4: "b", c5: "a" });
    expect(cast.narrator).toBe("b");
    const tight = assignVoices(
      [person("x", "male"), person("y", "female")],
      [voice("m", "male"), voice("f", "female")],
    );
    expect(tight.byCharacter).toEqual({ x: "m", y: "f" });
    expect(["m", "f"]).toContain(tight.narrator);
  });

  test("voices already chosen are kept and count as used; the story's language is preferred among equals", () => {
    const cast = assignVoices([person("A", "male"), person("B", "male")], LIBRARY, {
      byCharacter: { A: "m-young" },
      narrator: "m-middle",
    });
    expect(cast.byCharacter.A).toBe("m-young");
    expect(cast.narrator).toBe("m-middle");
    expect(["m-young", "m-middle"]).not.toContain(cast.byCharacter.B);
    const zh = assignVoices(
      [person("A", "male")],
      [voice("en-man", "male", null, { language: "en" }), voice("zh-man", "male", null, { language: "zh" })],
      {},
      { language: "zh" },
    );
    expect(zh.byCharacter.A).toBe("zh-man");
    expect(() => assignVoices([person("A", "male")], [])).toThrow(RangeError);
    // Names are data, never object keys with a meaning.
    const odd = assignVoices([person("constructor", "male"), person("__proto__", "female")], LIBRARY);
    expect(Object.keys(odd.byCharacter).sort()).toEqual(["__proto__", "constructor"]);
    expect(
      Object.hasOwn(odd.byCharacter, "__proto__") &&
        Object.getOwnPropertyDescriptor(odd.byCharacter, "__proto__")?.value,
    ).toBe("f-young");
    expect(assignVoices([person("A", "male")], [], { byCharacter: { A: "kept" }, narrator: "n" })).toEqual({
      byCharacter: { A: "kept" },
      narrator: "n",
    });
  });
});

// ---------------------------------------------------------------------------------------------

const ctx = await createTestContext();
const fake = await startFakeElevenLabs();
afterAll(() => fake.stop());
const elevenlabs = createElevenLabsSpeech({ apiKey: fake.apiKey, baseUrl: fake.url, maxRetries: 0 });

describe("the voice library", () => {
  test("ElevenLabs voices are fetched through the SDK, stored with their labels read out, and not fetched again while fresh", async () => {
    fake.reset();
    const first = await refreshVoices(ctx.db, elevenlabs);
    expect(first.refreshed).toBe(true);
    expect(fake.calls("voices")).toHaveLength(1);
    expect(fake.calls("voices")[0]!.headers["xi-api-key"]).toBe(fake.apiKey);
    expect(first.voices.map((v) => v.voice_id)).toEqual(DEFAULT_FAKE_VOICES.map((v) => v.voice_id).sort());
    const rows = await ctx.db
      .selectFrom("voices")
      .selectAll()
      .where("provider", "=", "elevenlabs")
      .orderBy("voice_id")
      .execute();
    expect(rows).toHaveLength(3);
    const adam = rows.find((r) => r.voice_id === "pNInz6obpgDQGcFmaJgB")!;
    expect(adam).toMatchObject({
      name: "Adam",
      gender: "male",
      age: "middle_aged",
      accent: "american",
      description: "deep",
      language: null,
      labels: { use_case: "narration", age: "middle aged" },
    });
    expect(adam.preview_url).toContain("pNInz6obpgDQGcFmaJgB");
    expect(rows.find((r) => r.voice_id === "21m00Tcm4TlvDq8ikWAM")).toMatchObject({ gender: "female", age: "young" });
    expect(rows.find((r) => r.voice_id === "zhNarrator0000000001")).toMatchObject({
      name: "茶馆说书人",
      gender: "male",
      age: null,
      language: "zh",
      preview_url: null,
    });

    const again = await refreshVoices(ctx.db, elevenlabs);
    expect(again.refreshed).toBe(false);
    expect(again.voices).toEqual(first.voices);
    expect(fake.calls("voices")).toHaveLength(1);
  });

  test("a stale library is fetched again; voices that are gone are removed, new ones added", async () => {
    fake.reset();
    await ctx.db
      .updateTable("voices")
      .set({ synced_at: new Date(Date.now() - 25 * 3600_000) })
      .where("provider", "=", "elevenlabs")
      .execute();
    const stale = await refreshVoices(ctx.db, elevenlabs);
    expect(stale.refreshed).toBe(true);
    expect(fake.calls("voices")).toHaveLength(1);
    const synced = await ctx.db.selectFrom("voices").select("synced_at").where("provider", "=", "elevenlabs").execute();
    expect(synced.every((r) => Date.now() - new Date(r.synced_at).getTime() < 60_000)).toBe(true);

    const rachel = DEFAULT_FAKE_VOICES[0]!;
    fake.setVoices([
      { ...rachel, name: "Rachel (renamed)" },
      fakeVoice("newVoice000000000001", "Nova", { gender: "female", age: "old", accent: "british" }),
    ]);
    try {
      const changed = await refreshVoices(ctx.db, elevenlabs, { maxAgeMs: 0 });
      expect(changed.refreshed).toBe(true);
      expect(changed.voices.map((v) => v.voice_id)).toEqual(["21m00Tcm4TlvDq8ikWAM", "newVoice000000000001"]);
      const rows = await ctx.db
        .selectFrom("voices")
        .selectAll()
        .where("provider", "=", "elevenlabs")
        .orderBy("voice_id")
        .execute();
      expect(rows.map((r) => [r.voice_id, r.name, r.age])).toEqual([
        ["21m00Tcm4TlvDq8ikWAM", "Rachel (renamed)", "young"],
        ["newVoice000000000001", "Nova", "old"],
      ]);
      expect(await voiceAccepted(ctx.db, { provider: "elevenlabs", voiceId: "pNInz6obpgDQGcFmaJgB" })).toBe(false);
      expect(await voiceAccepted(ctx.db, { provider: "elevenlabs", voiceId: "newVoice000000000001" })).toBe(true);
    } finally {
      fake.setVoices(DEFAULT_FAKE_VOICES);
    }
  });

  test("when the provider cannot be asked, stored voices are kept with a warning; with none stored the failure is thrown", async () => {
    fake.reset();
    fake.fail("voices", elevenLabsErrors.invalidKey());
    const kept = await refreshVoices(ctx.db, elevenlabs, { maxAgeMs: 0 });
    expect(kept.refreshed).toBe(false);
    expect(kept.warning).toContain("Invalid API key");
    expect(kept.voices.length).toBeGreaterThan(0);
    await ctx.db.deleteFrom("voices").where("provider", "=", "elevenlabs").execute();
    fake.fail("voices", elevenLabsErrors.invalidKey());
    await expect(refreshVoices(ctx.db, elevenlabs)).rejects.toBeInstanceOf(ElevenLabsProviderError);
    // Restored for the route tests.
    expect((await refreshVoices(ctx.db, elevenlabs)).voices).toHaveLength(3);
    expect(await voiceAccepted(ctx.db, { provider: "no-such-provider", voiceId: "anything" })).toBe(true);
  });

  test("local speech lists its presets; the library stores them without any network", async () => {
    const local = createLocalSpeech();
    const listed = await local.voices();
    expect(listed.map((v) => v.voice_id)).toEqual(LOCAL_PRESETS.map((p) => p.voice_id));
    expect(listed.map((v) => v.voice_id)).toContain("narrator");
    const { voices } = await refreshVoices(ctx.db, local);
    expect(voices).toHaveLength(LOCAL_PRESETS.length);
    expect(await libraryVoices(ctx.db, "local")).toEqual(voices);
    // Local speech speaks with any name, listed or not.
    expect(await voiceAccepted(ctx.db, { provider: "local", voiceId: "older-narrator" })).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

/** The median fundamental frequency of the voiced 40 ms frames, by autocorrelation (60-500 Hz). */
function medianF0(bytes: Uint8Array): number {
  const { rate, samples } = readWav(bytes);
  const frame = Math.round(rate * 0.04);
  const minLag = Math.floor(rate / 500);
  const maxLag = Math.ceil(rate / 60);
  const found: number[] = [];
  for (let s = 0; s + frame + maxLag < samples.length; s += Math.round(rate * 0.01)) {
    let energy = 0;
    for (let i = 0; i < frame; i++) energy += samples[s + i]! ** 2;
    if (energy / frame < 500 ** 2) continue;
    let best = 0;
    let bestLag = 0;
    for (let lag = minLag; lag <= maxLag; lag++) {
      let c = 0;
      let e = 0;
      for (let i = 0; i < frame; i++) {
        c += samples[s + i]! * samples[s + i + lag]!;
        e += samples[s + i + lag]! ** 2;
      }
      const r = c / Math.sqrt(energy * e + 1);
      if (r > best) [best, bestLag] = [r, lag];
    }
    if (best > 0.8) found.push(rate / bestLag);
  }
  found.sort((a, b) => a - b);
  if (found.length < 20) throw new Error(`only ${found.length} voiced frames`);
  return found[Math.floor(found.length / 2)]!;
}

describe("local voice presets", () => {
  test("each preset is its own espeak variant and pitch, and they sound different: women higher than men, the child highest", async () => {
    // "narrator" keeps the voice the name always had.
    expect(localVoice("narrator", "zh")).toEqual({ voice: "cmn+m3", pitch: 51 });
    const settings = LOCAL_PRESETS.map((p) => JSON.stringify(localVoice(p.voice_id, "zh")));
    expect(new Set(settings).size).toBe(LOCAL_PRESETS.length);
    for (const p of LOCAL_PRESETS) expect(localVoice(p.voice_id, "en").voice).toBe(`en-us+${p.variant}`);

    const speech = createLocalSpeech();
    const text = "今天天气很好，我们一起去公园散步吧。";
    const rendered = await Promise.all(
      LOCAL_PRESETS.map(async (p) => ({
        p,
        bytes: (await speech.generate({ text, language: "zh", voice: p.voice_id })).data.bytes,
      })),
    );
    const hashes = new Set(rendered.map((r) => createHash("sha256").update(r.bytes).digest("hex")));
    expect(hashes.size).toBe(LOCAL_PRESETS.length);
    const f0 = rendered.map((r) => ({ id: r.p.voice_id, gender: r.p.gender, age: r.p.age, hz: medianF0(r.bytes) }));
    const women = f0.filter((v) => v.gender === "female").map((v) => v.hz);
    const men = f0.filter((v) => v.gender === "male").map((v) => v.hz);
    expect(women.length).toBeGreaterThanOrEqual(2);
    expect(men.length).toBeGreaterThanOrEqual(3);
    expect(Math.min(...women)).toBeGreaterThan(Math.max(...men) * 1.15);
    const child = f0.find((v) => v.age === "child")!;
    expect(child.hz).toBe(Math.max(...f0.map((v) => v.hz)));
    // Neighbours in pitch are still at least 8 % apart: no two presets sound alike.
    const sorted = f0.map((v) => v.hz).sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i]! / sorted[i - 1]!, JSON.stringify(f0)).toBeGreaterThan(1.08);
  });
});

// ---------------------------------------------------------------------------------------------

describe("GET /api/v1/voices", () => {
  test("needs a token; lists the library by provider, gender and language, a page at a time", async () => {
    await refreshVoices(ctx.db, elevenlabs);
    await refreshVoices(ctx.db, createLocalSpeech());
    const anonymous = await ctx.call("GET", "/api/v1/voices");
    expect(anonymous.status).toBe(401);
    expect(anonymous.json).toMatchObject({ success: false, data: null, error: { code: "UNAUTHORIZED" } });

    const me = await ctx.register();
    const all = await ctx.call("GET", "/api/v1/voices?page_size=100", { token: me.token });
    expect(all.status).toBe(200);
    expect(all.json).toMatchObject({
      success: true,
      message: "ok",
      data: { total: 3 + LOCAL_PRESETS.length, page: 1, page_size: 100, total_pages: 1 },
    });
    const adam = all.json.data.items.find((v: { voice_id: string }) => v.voice_id === "pNInz6obpgDQGcFmaJgB");
    expect(adam).toMatchObject({
      provider: "elevenlabs",
      name: "Adam",
      gender: "male",
      age: "middle_aged",
      accent: "american",
      language: null,
      labels: { use_case: "narration" },
    });
    expect(Number.isNaN(Date.parse(adam.synced_at))).toBe(false);

    const local = await ctx.call("GET", "/api/v1/voices?provider=local", { token: me.token });
    expect(local.json.data.total).toBe(LOCAL_PRESETS.length);
    expect(local.json.data.items.every((v: { provider: string }) => v.provider === "local")).toBe(true);
    const women = await ctx.call("GET", "/api/v1/voices?provider=local&gender=female", { token: me.token });
    expect(women.json.data.items.map((v: { voice_id: string }) => v.voice_id).sort()).toEqual(
      LOCAL_PRESETS.filter((p) => p.gender === "female")
        .map((p) => p.voice_id)
        .sort(),
    );
    const men = await ctx.call("GET", "/api/v1/voices?gender=male&page_size=100", { token: me.token });
    expect(
      men.json.data.items.map((v: { provider: string; voice_id: string }) => `${v.provider}/${v.voice_id}`).sort(),
    ).toEqual(
      [
        ...LOCAL_PRESETS.filter((p) => p.gender === "male").map((p) => `local/${p.voice_id}`),
        "elevenlabs/pNInz6obpgDQGcFmaJgB",
        "elevenlabs/zhNarrator0000000001",
      ].sort(),
    );
    const zh = await ctx.call("GET", "/api/v1/voices?language=ZH", { token: me.token });
    expect(zh.json.data.items.map((v: { voice_id: string }) => v.voice_id)).toEqual(["zhNarrator0000000001"]);

    // Pages: together they are the whole list, in a stable order.
    const pages = [];
    for (let page = 1; page <= 3; page++) {
      const res = await ctx.call("GET", `/api/v1/voices?provider=local&page=${page}&page_size=3`, { token: me.token });
      expect(res.json.data).toMatchObject({
        total: LOCAL_PRESETS.length,
        page,
        page_size: 3,
        total_pages: Math.ceil(LOCAL_PRESETS.length / 3),
      });
      pages.push(...res.json.data.items);
    }
    expect(pages).toEqual(local.json.data.items);
    expect(
      (await ctx.call("GET", "/api/v1/voices?provider=local&page=9", { token: me.token })).json.data.items,
    ).toEqual([]);

    for (const bad of ["gender=robot", "page_size=101", "page=0", "provider=Bad%20Name", "language=%00"]) {
      const res = await ctx.call("GET", `/api/v1/voices?${bad}`, { token: me.token });
      expect(res.status, bad).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
  });
});

// ---------------------------------------------------------------------------------------------

const extraVoices = [
  fakeVoice("lilyYoungFemale00001", "Lily", { gender: "female", age: "young", accent: "british" }),
  fakeVoice("oldManVoice000000001", "Elder", { gender: "male", age: "old" }),
];
const pipeFake = await startFakeElevenLabs({ voices: [...DEFAULT_FAKE_VOICES, ...extraVoices] });
afterAll(() => pipeFake.stop());
const pipe = await pipelineContext({
  SPEECH_PROVIDER: "elevenlabs",
  ELEVENLABS_API_KEY: pipeFake.apiKey,
  ELEVENLABS_BASE_URL: pipeFake.url,
});
await pipe.startWorker();

/** Per-sentence times of `text` read from the fake's character alignment (independently of the provider code). */
function fakeTimings(text: string): SpeechTiming[] {
  const a = fakeAlignment(text);
  const chars = a.characters;
  let cursor = 0;
  return sentences(text).map((s) => {
    const needle = [...s];
    let at = cursor;
    while (at < chars.length && needle.some((c, k) => chars[at + k] !== c)) at++;
    cursor = at + needle.length;
    return {
      text: s,
      startS: a.character_start_times_seconds[at]!,
      endS: a.character_end_times_seconds[at + needle.length - 1]!,
    };
  });
}

function parseSrt(srt: string): Cue[] {
  const time = (t: string) => {
    const [h, m, rest] = t.split(":");
    const [s, ms] = rest!.split(",");
    return Number(h) * 3600 + Number(m) * 60 + Number(s) + Number(ms) / 1000;
  };
  return srt
    .trim()
    .split(/\n\s*\n/)
    .map((block) => {
      const lines = block.split("\n");
      const [from, to] = lines[1]!.split(" --> ");
      return { startS: time(from!), endS: time(to!), text: lines.slice(2).join("\n") };
    });
}

describe("a run with ElevenLabs speech", () => {
  test("characters get distinct ElevenLabs voices from the library, the fake speaks them, and the subtitles follow its alignment", async () => {
    const me = await pipe.register();
    const { run } = await completedProject(pipe, me.token);
    const libraryIds = new Set(pipeFake.voices.map((v) => v.voice_id));
    expect(pipeFake.calls("voices").length).toBeGreaterThanOrEqual(1);
    const stored = await pipe.db.selectFrom("voices").select("voice_id").where("provider", "=", "elevenlabs").execute();
    expect(new Set(stored.map((r) => r.voice_id))).toEqual(libraryIds);

    const shots = (
      await pipe.db
        .selectFrom("package_shots")
        .select("data")
        .where("package_id", "=", run.package_id)
        .orderBy("position")
        .execute()
    ).map((r) => r.data as ShotMaterial);
    const lines = shots.flatMap((s) => s.lines);
    const dialogue = lines.filter((l) => l.kind === "dialogue");
    const narration = lines.filter((l) => l.kind === "narration");
    expect(dialogue.length).toBeGreaterThan(0);
    expect(narration.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(l.voice.provider).toBe("elevenlabs");
      expect(libraryIds.has(l.voice.voice_id), `${l.id}: ${l.voice.voice_id}`).toBe(true);
    }
    // One voice per speaker, a different one for each, and the narrator's differs from them all.
    const bySpeaker = new Map<string, Set<string>>();
    for (const l of dialogue) bySpeaker.set(l.speaker!, (bySpeaker.get(l.speaker!) ?? new Set()).add(l.voice.voice_id));
    expect(bySpeaker.size).toBeGreaterThanOrEqual(2);
    for (const ids of bySpeaker.values()) expect(ids.size).toBe(1);
    const speakerVoices = [...bySpeaker.values()].map((s) => [...s][0]!);
    expect(new Set(speakerVoices).size).toBe(speakerVoices.length);
    const narrators = new Set(narration.map((l) => l.voice.voice_id));
    expect(narrators.size).toBe(1);
    const narrator = [...narrators][0]!;
    expect(speakerVoices).not.toContain(narrator);
    // The package keeps the narrator's voice and the characters' voices.
    const pkg = await pipe.db
      .selectFrom("packages")
      .select(["storyline", "characters"])
      .where("id", "=", run.package_id)
      .executeTakeFirstOrThrow();
    expect((pkg.storyline as { narrator_voice: { provider: string; voice_id: string } }).narrator_voice).toMatchObject({
      provider: "elevenlabs",
      voice_id: narrator,
    });
    for (const c of pkg.characters as Array<{ name: string; voice: { provider: string; voice_id: string } }>)
      expect(libraryIds.has(c.voice.voice_id)).toBe(true);

    // The fake was asked to speak with exactly these voices, each line's text.
    const spoken = pipeFake.calls("tts").map((r) => ({
      voice: decodeURIComponent(/text-to-speech\/([^/]+)\//.exec(r.path)![1]!),
      text: (r.body as { text: string }).text,
    }));
    expect(new Set(spoken.map((s) => s.voice))).toEqual(new Set(lines.map((l) => l.voice.voice_id)));
    for (const l of lines)
      expect(
        spoken.some((s) => s.voice === l.voice.voice_id && s.text === l.text),
        l.id,
      ).toBe(true);

    // Subtitles: every cue where the fake's alignment puts its sentence.
    const ex = (await pipe.call("GET", `/api/v1/exports/${run.export_id}`, { token: me.token })).json.data;
    expect(ex.status).toBe("completed");
    const srtFile = ex.files.find((f: { file_type: string }) => f.file_type === "subtitle");
    const cues = parseSrt(await (await fetchSigned(pipe, srtFile.download_url)).text());
    const expected: Cue[] = [];
    let at = 0;
    for (const shot of shots) {
      const lengthS = Math.max(1, Math.round(shot.durationS * 24)) / 24;
      const { offsets } = lineLayout(shot);
      shot.lines.forEach((l, i) => {
        const timings = fakeTimings(l.text);
        expect(l.audio!.timings).toEqual(timings);
        expected.push(
          ...speechCues(offsets[i]!, l.text, timings, l.audio!.duration_s, lengthS).map((c) => ({
            ...c,
            startS: c.startS + at,
            endS: c.endS + at,
          })),
        );
      });
      at += lengthS;
    }
    expect(cues.map((c) => c.text)).toEqual(expected.map((c) => c.text));
    cues.forEach((c, i) => {
      expect(Math.abs(c.startS - expected[i]!.startS), `cue ${i + 1} start`).toBeLessThanOrEqual(0.0015);
      expect(Math.abs(c.endS - expected[i]!.endS), `cue ${i + 1} end`).toBeLessThanOrEqual(0.0015);
    });

    // Switching to a voice ElevenLabs does not offer is refused; one of the library is taken, by the package too.
    const switchVoice = (body: unknown) =>
      pipe.call("POST", `/api/v1/material-packages/${run.package_id}/switch-voice`, { token: me.token, body });
    const unknown = await switchVoice({ character: null, voice_id: "no-such-voice" });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({
      code: "VALIDATION_ERROR",
      details: { fields: [{ path: "/voice_id" }] },
    });
    const speaker = [...bySpeaker.keys()].find((n) =>
      (pkg.characters as Array<{ name: string }>).some((c) => c.name === n),
    )!;
    expect((await switchVoice({ character: speaker, voice_id: "no-such-voice" })).status).toBe(400);
    const other = [...libraryIds].find((id) => id !== narrator)!;
    const switched = await switchVoice({ character: null, voice_id: other });
    expect(switched.status).toBe(200);
    const after = await pipe.db
      .selectFrom("packages")
      .select("storyline")
      .where("id", "=", run.package_id)
      .executeTakeFirstOrThrow();
    expect((after.storyline as { narrator_voice: { voice_id: string } }).narrator_voice.voice_id).toBe(other);
    const projectId = (
      await pipe.db.selectFrom("runs").select("project_id").where("id", "=", run.id).executeTakeFirstOrThrow()
    ).project_id;
    const narrated = shots.find((s) => s.lines.some((l) => l.kind === "narration"))!;
    const edit = (voice_id: string) =>
      pipe.call("PUT", `/api/v1/projects/${projectId}/timeline/clips/${narrated.id}/narration`, {
        token: me.token,
        body: { text_content: "雨夜。", voice_id },
      });
    expect((await edit("no-such-voice")).json.error?.code).toBe("VALIDATION_ERROR");
    expect((await edit(narrator)).status).toBe(200);
  });
});
