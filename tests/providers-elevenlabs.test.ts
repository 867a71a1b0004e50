// The ElevenLabs provider against a local fake of the API (tests/support/fake-elevenlabs.ts),
// through the real @elevenlabs/elevenlabs-js SDK: speech with character timestamps → MP3 and
// per-sentence timings, the voice list, music, error mapping, the SDK's 429 retry, and aborts.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { probe, runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import { errorDetail } from "../src/providers/elevenlabs/errors.ts";
import {
  createElevenLabsMusic,
  createElevenLabsSpeech,
  ElevenLabsProviderError,
  listElevenLabsVoices,
  sentenceTimings,
} from "../src/providers/elevenlabs/index.ts";
import { mp3Info } from "../src/providers/elevenlabs/mp3.ts";
import { sentences } from "../src/providers/local/speech.ts";
import {
  elevenLabsErrors,
  type FakeElevenLabs,
  fakeAlignment,
  startFakeElevenLabs,
} from "./support/fake-elevenlabs.ts";
import { rmsDb } from "./support/media.ts";

const RACHEL = "21m00Tcm4TlvDq8ikWAM";
const FRAME_S = 1152 / 44_100;
const EN = "Hello there. How are you?";
const ZH = "雨夜，茶馆里坐满了人。“你来了？”老板问。\n他点点头。";

let fake: FakeElevenLabs;
beforeAll(async () => {
  fake = await startFakeElevenLabs();
});
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

const connection = (extra: Record<string, unknown> = {}) => ({ apiKey: fake.apiKey, baseUrl: fake.url, ...extra });

/** ffprobe's view of the bytes, and their RMS level. */
async function probeBytes(bytes: Uint8Array) {
  return withTempDir(async (dir) => {
    const path = join(dir, "audio.mp3");
    await Bun.write(path, bytes);
    const info = await probe(path);
    return {
      info,
      audio: info.streams.find((s) => s.codec_type === "audio")!,
      rms: await rmsDb(path, 0, info.durationS),
    };
  });
}

/** The error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

async function providerError(p: Promise<unknown>): Promise<ElevenLabsProviderError> {
  const e = await failure(p);
  expect(e).toBeInstanceOf(ElevenLabsProviderError);
  return e as ElevenLabsProviderError;
}

const expectTimings = (
  actual: Array<{ text: string; startS: number; endS: number }>,
  expected: Array<[string, number, number]>,
) => {
  expect(actual.map((t) => t.text)).toEqual(expected.map((e) => e[0]));
  actual.forEach((t, i) => {
    expect(t.startS).toBeCloseTo(expected[i]![1], 3);
    expect(t.endS).toBeCloseTo(expected[i]![2], 3);
  });
};

describe("ElevenLabs speech", () => {
  test("English: the request on the wire, MP3 that ffprobe reads, and sentence timings from the character times", async () => {
    const speech = createElevenLabsSpeech(connection());
    expect(speech).toMatchObject({ provider: "elevenlabs", modelId: "eleven_multilingual_v2" });
    const r = await speech.generate({ text: EN, language: "en", voice: RACHEL });

    const [req] = fake.calls("tts");
    expect(fake.requests).toHaveLength(1);
    expect(req).toMatchObject({
      method: "POST",
      path: `/v1/text-to-speech/${RACHEL}/with-timestamps`,
      query: { output_format: "mp3_44100_128" },
    });
    expect(req!.headers["xi-api-key"]).toBe(fake.apiKey);
    expect(req!.headers["content-type"]).toBe("application/json");
    // Speed 1 sends no voice settings (they would override the voice's stored ones); multilingual v2 takes no language_code.
    expect(req!.body).toEqual({ text: EN, model_id: "eleven_multilingual_v2" });

    // "Hello" 5 × 0.08, " " 0.04, "there" 0.4, "." 0.2 → 1.04; then " " and "How are you?" (1.0 s).
    expectTimings(r.data.timings, [
      ["Hello there.", 0, 1.04],
      ["How are you?", 1.08, 2.08],
    ]);
    expect(r.data.mimeType).toBe("audio/mpeg");
    expect(r.data.sampleRate).toBe(44_100);
    // The length: the last character's end, in whole MP3 frames.
    expect(r.data.durationS).toBeGreaterThanOrEqual(2.08);
    expect(r.data.durationS - 2.08).toBeLessThan(FRAME_S);
    expect(r.usage).toEqual({ audioSeconds: r.data.durationS });
    expect(r.warnings).toEqual([]);
    expect(r.response).toMatchObject({ provider: "elevenlabs", modelId: "eleven_multilingual_v2", id: "req_1" });
    expect(r.response.timestamp).toBeInstanceOf(Date);

    // The bytes are the audio the API sent, and real MP3: ffprobe agrees on format and length, and it is not silence.
    expect(Buffer.from(r.data.bytes).toString("base64")).toBe(fake.speeches[0]!.audio_base64);
    const { info, audio, rms } = await probeBytes(r.data.bytes);
    expect(info.formatName).toBe("mp3");
    expect(audio).toMatchObject({ codec_name: "mp3", sample_rate: "44100", channels: 1 });
    expect(Math.abs(info.durationS - r.data.durationS)).toBeLessThan(0.03);
    expect(rms).toBeGreaterThan(-30); // a tone, not silence
  });

  test("Chinese: sentences with quotes and a line break are timed from their first to their last character", async () => {
    const r = await createElevenLabsSpeech(connection()).generate({ text: ZH, language: "zh", voice: RACHEL });
    expect(r.data.timings.map((t) => t.text)).toEqual(sentences(ZH));
    // By hand from the fake's pace: CJK 0.08, "，" "“" "”" 0.1, "。" "？" 0.2, "\n" 0.04.
    expectTimings(r.data.timings, [
      ["雨夜，茶馆里坐满了人。", 0, 1.02],
      ["“你来了？”", 1.02, 1.66],
      ["老板问。", 1.66, 2.1],
      ["他点点头。", 2.14, 2.66],
    ]);
    // And the same against the alignment the fake sent: each sentence's first and last character.
    const sent = fake.speeches[0]!.alignment;
    expect(sent.characters.join("")).toBe(ZH);
    const chars = [...ZH];
    let from = 0;
    for (const t of r.data.timings) {
      const first = chars.indexOf([...t.text][0]!, from);
      const last = first + [...t.text].length - 1;
      expect(t.startS).toBe(sent.character_start_times_seconds[first]!);
      expect(t.endS).toBe(sent.character_end_times_seconds[last]!);
      from = last + 1;
    }
    expect(r.data.durationS - 2.66).toBeGreaterThanOrEqual(0);
    expect(r.data.durationS - 2.66).toBeLessThan(FRAME_S);
    const { info } = await probeBytes(r.data.bytes);
    expect(Math.abs(info.durationS - r.data.durationS)).toBeLessThan(0.03);
    expect(fake.calls("tts")[0]!.body).toEqual({ text: ZH, model_id: "eleven_multilingual_v2" });
  });

  test("speed goes in voice_settings, clamped to ElevenLabs' 0.7–1.2 with a warning; v2.5 models get language_code", async () => {
    const speech = createElevenLabsSpeech(connection());
    const fast = await speech.generate({ text: EN, language: "en", voice: RACHEL, speed: 1.1 });
    expect(fake.calls("tts")[0]!.body).toEqual({
      text: EN,
      model_id: "eleven_multilingual_v2",
      voice_settings: { speed: 1.1 },
    });
    expect(fast.data.timings[0]!.endS).toBeCloseTo(1.04 / 1.1, 2);
    expect(fast.warnings).toEqual([]);

    const fastest = await speech.generate({ text: EN, language: "en", voice: RACHEL, speed: 1.8 });
    expect(fake.calls("tts")[1]!.body).toMatchObject({ voice_settings: { speed: 1.2 } });
    expect(fastest.warnings).toEqual([
      "ElevenLabs speaks at 0.7 to 1.2 times the normal speed; speed 1.8 was sent as 1.2",
    ]);
    const slowest = await speech.generate({ text: EN, language: "en", voice: RACHEL, speed: 0.5 });
    expect(fake.calls("tts")[2]!.body).toMatchObject({ voice_settings: { speed: 0.7 } });
    expect(slowest.data.durationS).toBeGreaterThan(2.08 / 0.7 - 0.01);

    const flash = createElevenLabsSpeech(connection({ modelId: "eleven_flash_v2_5" }));
    expect(flash.modelId).toBe("eleven_flash_v2_5");
    await flash.generate({ text: ZH, language: "zh", voice: RACHEL });
    expect(fake.calls("tts")[3]!.body).toEqual({ text: ZH, model_id: "eleven_flash_v2_5", language_code: "zh" });
  });

  test("audio that runs on past the last character: the length covers all of it, the timings do not move", async () => {
    const tail = await startFakeElevenLabs({ tailS: 0.5 });
    try {
      const r = await createElevenLabsSpeech({ apiKey: tail.apiKey, baseUrl: tail.url }).generate({
        text: EN,
        language: "en",
        voice: RACHEL,
      });
      expect(r.data.durationS).toBeGreaterThanOrEqual(2.58);
      expect(r.data.durationS - 2.58).toBeLessThan(FRAME_S);
      expect(r.data.timings.at(-1)!.endS).toBeCloseTo(2.08, 3);
      const { info } = await probeBytes(r.data.bytes);
      expect(Math.abs(info.durationS - r.data.durationS)).toBeLessThan(0.03);
    } finally {
      tail.stop();
    }
  });

  test("an answer without the original-text alignment falls back to the normalised one; no alignment at all is estimated", async () => {
    const speech = createElevenLabsSpeech(connection());
    const real = await speech.generate({ text: EN, language: "en", voice: RACHEL });
    const { audio_base64, normalized_alignment } = fake.speeches[0]!;
    fake.fail("tts", { status: 200, body: { audio_base64, alignment: null, normalized_alignment } });
    const normalised = await speech.generate({ text: EN, language: "en", voice: RACHEL });
    expect(normalised.data.timings).toEqual(real.data.timings);
    expect(normalised.warnings).toEqual(["ElevenLabs sent only the normalised alignment; sentence times follow it"]);
    fake.fail("tts", { status: 200, body: { audio_base64 } });
    const none = await speech.generate({ text: EN, language: "en", voice: RACHEL });
    expect(none.data.durationS).toBe(real.data.durationS); // from the MP3 frames
    expect(none.data.timings.map((t) => t.text)).toEqual(["Hello there.", "How are you?"]);
    expect(none.data.timings.at(-1)!.endS).toBe(none.data.durationS);
    expect(none.warnings).toEqual([
      "ElevenLabs sent no character alignment; sentence times are estimated from their length",
    ]);
  });

  test("audio that is not MP3 is an error, not a file the composer chokes on later", async () => {
    fake.fail("tts", {
      status: 200,
      body: { audio_base64: Buffer.from("RIFF....WAVEfmt ").toString("base64"), alignment: fakeAlignment(EN) },
    });
    const e = await providerError(
      createElevenLabsSpeech(connection()).generate({ text: EN, language: "en", voice: RACHEL }),
    );
    expect(e).toMatchObject({
      status: 200,
      retryable: false,
      message: "ElevenLabs speech failed: the audio it sent is not MP3",
    });
  });

  test("bad options are refused before any request", async () => {
    const speech = createElevenLabsSpeech(connection());
    await expect(speech.generate({ text: EN, language: "en", voice: RACHEL, speed: 3 })).rejects.toThrow(RangeError);
    await expect(speech.generate({ text: " …… ", language: "en", voice: RACHEL })).rejects.toThrow("no text to speak");
    await expect(speech.generate({ text: EN, language: "en", voice: " " })).rejects.toThrow("voice id");
    expect(fake.requests).toHaveLength(0);
    expect(() => createElevenLabsSpeech({ apiKey: "" })).toThrow("API key");
  });
});

describe("sentence timings from a character alignment", () => {
  const align = (text: string) => {
    const a = fakeAlignment(text);
    return {
      characters: a.characters,
      characterStartTimesSeconds: a.character_start_times_seconds,
      characterEndTimesSeconds: a.character_end_times_seconds,
    };
  };

  test("an alignment without the line breaks and doubled spaces still places every sentence", () => {
    const text = "First one.\n\nSecond  one!";
    const exact = sentenceTimings(text, align(text), 3);
    const collapsed = sentenceTimings(text, align("First one. Second one!"), 3);
    expect(collapsed.warnings).toEqual([]);
    expect(collapsed.timings.map((t) => t.text)).toEqual(["First one.", "Second  one!"]);
    expect(collapsed.timings[0]).toEqual(exact.timings[0]!);
    expect(collapsed.timings[1]!.startS).toBeCloseTo(0.92, 3); // after "First one." (0.88) and one space
  });

  test("characters outside the Basic Multilingual Plane count once, as ElevenLabs counts them", () => {
    const text = "Hi 😀. Bye.";
    const { timings, warnings } = sentenceTimings(text, align(text), 2);
    expect(warnings).toEqual([]);
    expectTimings(timings, [
      ["Hi 😀.", 0, 0.08 * 3 + 0.04 + 0.2],
      ["Bye.", 0.08 * 3 + 0.04 + 0.2 + 0.04, 0.08 * 6 + 0.08 + 0.4],
    ]);
  });

  test("a sentence missing from the alignment is placed between its neighbours, with a warning", () => {
    const text = "One. Two. Three.";
    const a = align("One. Three.");
    const { timings, warnings } = sentenceTimings(text, a, 2);
    expect(timings.map((t) => t.text)).toEqual(["One.", "Two.", "Three."]);
    expect(timings[1]!.startS).toBe(timings[0]!.endS);
    expect(timings[1]!.endS).toBe(timings[2]!.startS);
    expect(warnings[0]).toContain("1 of 3 sentences");
  });

  test("a sentence the alignment spells differently (normalised numbers) is matched character by character", () => {
    const text = "I have 3 cats. They sleep.";
    const spoken = "I have three cats. They sleep.";
    const a = align(spoken);
    const { timings, warnings } = sentenceTimings(text, a, 3);
    expect(warnings).toEqual([]);
    const endOfFirst = a.characterEndTimesSeconds[spoken.indexOf(".")]!;
    expectTimings(timings, [
      ["I have 3 cats.", 0, endOfFirst],
      ["They sleep.", a.characterStartTimesSeconds[spoken.indexOf("T")]!, a.characterEndTimesSeconds.at(-1)!],
    ]);
  });

  test("no alignment at all: the sentences share the length in proportion to their characters", () => {
    const { timings, warnings } = sentenceTimings("Aaaa. Bb.", undefined, 3);
    expect(warnings).toEqual([
      "ElevenLabs sent no character alignment; sentence times are estimated from their length",
    ]);
    expectTimings(timings, [
      ["Aaaa.", 0, 1.875],
      ["Bb.", 1.875, 3],
    ]);
  });
});

describe("MP3 length from frame headers", () => {
  test("agrees with ffprobe on tagged files (ID3v2, Info frame) of several rates and channel counts; not-MP3 is null", async () => {
    await withTempDir(async (dir) => {
      for (const [rate, channels, bitrate] of [
        [44_100, 1, "128k"],
        [22_050, 2, "64k"],
        [48_000, 2, "192k"],
      ] as const) {
        const path = join(dir, `${rate}.mp3`);
        await runFfmpeg([
          "-f",
          "lavfi",
          "-i",
          `sine=frequency=440:sample_rate=${rate}:duration=1.5`,
          "-ac",
          String(channels),
          "-c:a",
          "libmp3lame",
          "-b:a",
          bitrate,
          "-metadata",
          "title=tagged",
          path,
        ]);
        const bytes = await Bun.file(path).bytes();
        expect(String.fromCharCode(...bytes.subarray(0, 3))).toBe("ID3");
        const info = mp3Info(bytes)!;
        expect(info).toMatchObject({ sampleRate: rate, channels });
        expect(Math.abs(info.durationS - (await probe(path)).durationS)).toBeLessThan(0.03);
      }
    });
    expect(mp3Info(new Uint8Array(1000).fill(0xff))).toBeNull();
    expect(mp3Info(new TextEncoder().encode('{"detail": "not audio"}'))).toBeNull();
  });

  test("a long Xing-less CBR stream (ElevenLabs' kind) is measured by its frames, not estimated from its size", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "stream.mp3");
      await runFfmpeg([
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:sample_rate=44100:duration=60",
        "-ac",
        "1",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        "-write_xing",
        "0",
        "-id3v2_version",
        "0",
        "-f",
        "mp3",
        path,
      ]);
      const whole = await Bun.file(path).bytes();
      // 128 kbit/s at 44.1 kHz: 417 bytes a frame, 418 when padded.
      const starts: number[] = [];
      for (let at = 0; at + 4 <= whole.length && whole[at] === 0xff; at += 417 + ((whole[at + 2]! >> 1) & 1))
        starts.push(at);
      // Start three frames before an unpadded one: music-metadata 12.1.0's estimate from the size and the 4th frame is 131 ms long here.
      const unpadded = starts.findIndex((at, i) => i >= 3 && ((whole[at + 2]! >> 1) & 1) === 0);
      const bytes = whole.subarray(starts[unpadded - 3]!);
      const cut = join(dir, "cut.mp3");
      await Bun.write(cut, bytes);
      const info = mp3Info(bytes)!;
      expect(info.frames).toBe(starts.length - (unpadded - 3));
      expect(info.durationS).toBeCloseTo((info.frames * 1152) / 44_100, 9);
      expect(Math.abs(info.durationS - (await probe(cut)).durationS)).toBeLessThan(0.03);
    });
  });
});

describe("ElevenLabs voices", () => {
  test("the account's voices for the voice library", async () => {
    const voices = await listElevenLabsVoices(connection());
    expect(fake.calls("voices")).toHaveLength(1);
    expect(fake.calls("voices")[0]).toMatchObject({ method: "GET", path: "/v1/voices" });
    expect(fake.calls("voices")[0]!.headers["xi-api-key"]).toBe(fake.apiKey);
    expect(voices).toHaveLength(3);
    expect(voices[0]).toEqual({
      voice_id: RACHEL,
      name: "Rachel",
      labels: { accent: "american", description: "calm", age: "young", gender: "female", use_case: "narration" },
      preview_url: fake.voices[0]!.preview_url,
    });
    expect(voices[2]).toEqual({
      voice_id: "zhNarrator0000000001",
      name: "茶馆说书人",
      labels: { language: "zh", accent: "standard", gender: "male" },
      preview_url: null,
    });
  });

  test("a wrong key is a non-retryable error", async () => {
    const e = await providerError(listElevenLabsVoices({ apiKey: "sk_wrong_voices_key", baseUrl: fake.url }));
    expect(e).toMatchObject({
      provider: "elevenlabs",
      model: "voices",
      status: 401,
      code: "invalid_api_key",
      retryable: false,
    });
    expect(e.message).not.toContain("sk_wrong_voices_key");
  });
});

describe("ElevenLabs music", () => {
  test("a prompt from the mood and the story's tone, the length in ms → MP3 whose length ffprobe measures", async () => {
    const music = createElevenLabsMusic(connection());
    expect(music).toMatchObject({ provider: "elevenlabs", modelId: "music_v2_5" });
    const r = await music.generate({
      mood: "mysterious",
      durationS: 12,
      prompt: "rain on a teahouse roof,\n lanterns",
      seed: 1,
    });
    const [req] = fake.calls("music");
    expect(req).toMatchObject({ method: "POST", path: "/v1/music", query: {} });
    expect(req!.headers["xi-api-key"]).toBe(fake.apiKey);
    const body = req!.body as Record<string, unknown>;
    expect(body).toMatchObject({ music_length_ms: 12_000, model_id: "music_v2_5", force_instrumental: true });
    expect(body.seed).toBeUndefined(); // the API refuses a seed together with a prompt
    expect(body.prompt).toContain("mysterious");
    expect(body.prompt).toContain("rain on a teahouse roof, lanterns");
    expect(r.warnings).toEqual(["ElevenLabs Music takes no seed with a prompt; the seed was not sent"]);

    expect(r.data.mimeType).toBe("audio/mpeg");
    expect(r.data.sampleRate).toBe(44_100);
    expect(r.data.durationS).toBeGreaterThanOrEqual(11.99);
    expect(r.data.durationS).toBeLessThan(12 + 2 * FRAME_S);
    expect(r.usage).toEqual({ audioSeconds: r.data.durationS });
    expect(r.response).toMatchObject({ provider: "elevenlabs", modelId: "music_v2_5", id: "song_1" });
    const { audio, rms } = await probeBytes(r.data.bytes);
    expect(audio).toMatchObject({ codec_name: "mp3", sample_rate: "44100" });
    expect(rms).toBeGreaterThan(-30); // a tone, not silence
    expect(Math.abs(mp3Info(r.data.bytes)!.durationS - r.data.durationS)).toBeLessThan(0.03);
  });

  test("lengths outside 3–600 s are clamped with a warning; unknown moods are refused", async () => {
    const music = createElevenLabsMusic(connection({ modelId: "music_v1" }));
    const r = await music.generate({ mood: "calm", durationS: 1 });
    expect(fake.calls("music")[0]!.body).toMatchObject({ music_length_ms: 3000, model_id: "music_v1" });
    expect(r.warnings).toEqual(["ElevenLabs composes 3 to 600 s of music; 1 s was asked as 3 s"]);
    expect(r.data.durationS).toBeGreaterThanOrEqual(3 - 0.01);
    await expect(music.generate({ mood: "jolly" as never, durationS: 10 })).rejects.toThrow("unknown mood");
    expect(fake.calls("music")).toHaveLength(1);
  });

  test("a 422 with {detail: {status, message}} keeps ElevenLabs' message", async () => {
    fake.fail("music", {
      status: 422,
      body: {
        detail: {
          status: "bad_prompt",
          message: "The prompt names a copyrighted work; try describing its style instead.",
        },
      },
    });
    const e = await providerError(createElevenLabsMusic(connection()).generate({ mood: "epic", durationS: 10 }));
    expect(e).toMatchObject({ model: "music_v2_5", status: 422, code: "bad_prompt", retryable: false });
    expect(e.message).toBe(
      "ElevenLabs music failed: The prompt names a copyrighted work; try describing its style instead. (HTTP 422, bad_prompt)",
    );
  });
});

describe("ElevenLabs errors", () => {
  test("401 invalid key: not retryable, ElevenLabs' message, the key nowhere in the error", async () => {
    const key = "sk_wrong_0123456789abcdef_secret";
    const e = await providerError(
      createElevenLabsSpeech({ apiKey: key, baseUrl: fake.url }).generate({ text: EN, language: "en", voice: RACHEL }),
    );
    expect(e).toMatchObject({
      name: "ElevenLabsProviderError",
      provider: "elevenlabs",
      model: "eleven_multilingual_v2",
      status: 401,
      code: "invalid_api_key",
      retryable: false,
    });
    expect(e.message).toBe("ElevenLabs speech failed: Invalid API key (HTTP 401, invalid_api_key)");
    for (const text of [e.message, String(e.stack), JSON.stringify(e), Bun.inspect(e)]) expect(text).not.toContain(key);
    expect(fake.calls("tts")).toHaveLength(1); // the SDK does not retry a 401
  });

  test("401 quota exceeded is not retryable either", async () => {
    fake.fail("tts", elevenLabsErrors.quotaExceeded());
    const e = await providerError(
      createElevenLabsSpeech(connection()).generate({ text: EN, language: "en", voice: RACHEL }),
    );
    expect(e).toMatchObject({ status: 401, code: "quota_exceeded", retryable: false });
    expect(e.message).toContain("This request exceeds your quota of 10000.");
  });

  test("422 validation errors ({detail: [{loc, msg}]}) name the field", async () => {
    fake.fail(
      "tts",
      elevenLabsErrors.validation(
        ["body", "voice_settings", "speed"],
        "Input should be less than or equal to 1.2",
        "less_than_equal",
        1.5,
      ),
    );
    const e = await providerError(
      createElevenLabsSpeech(connection()).generate({ text: EN, language: "en", voice: RACHEL, speed: 1.2 }),
    );
    expect(e).toMatchObject({ status: 422, code: "validation_error", retryable: false });
    expect(e.message).toBe(
      "ElevenLabs speech failed: voice_settings.speed: Input should be less than or equal to 1.2 (HTTP 422, validation_error)",
    );
  });

  test("an unknown voice id: 404 voice_not_found", async () => {
    const e = await providerError(
      createElevenLabsSpeech(connection()).generate({ text: EN, language: "en", voice: "no-such-voice" }),
    );
    expect(e).toMatchObject({ status: 404, code: "voice_not_found", retryable: false });
    expect(e.message).toContain("A voice with the voice_id no-such-voice was not found.");
    expect(fake.calls("tts")[0]!.path).toBe("/v1/text-to-speech/no-such-voice/with-timestamps");
  });

  test("429 then success: the SDK waits Retry-After and retries on its own", async () => {
    fake.fail("tts", elevenLabsErrors.tooManyRequests(1));
    const started = performance.now();
    const r = await createElevenLabsSpeech(connection()).generate({ text: EN, language: "en", voice: RACHEL });
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.calls("tts")).toHaveLength(2);
    expect(fake.calls("tts")[1]!.body).toEqual(fake.calls("tts")[0]!.body);
    expect(r.data.timings).toHaveLength(2);
  });

  test("429 with retries used up: a retryable error with ElevenLabs' message", async () => {
    fake.fail("tts", elevenLabsErrors.tooManyRequests(1));
    const e = await providerError(
      createElevenLabsSpeech(connection({ maxRetries: 0 })).generate({ text: EN, language: "en", voice: RACHEL }),
    );
    expect(e).toMatchObject({ status: 429, code: "too_many_concurrent_requests", retryable: true });
    expect(e.message).toStartWith("ElevenLabs speech failed: Too many concurrent requests.");
    expect(fake.calls("tts")).toHaveLength(1);
  });

  test("no answer at all (nothing listening): retryable, without a status", async () => {
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}`;
    closed.stop(true);
    const e = await providerError(
      createElevenLabsSpeech({ apiKey: fake.apiKey, baseUrl: url }).generate({
        text: EN,
        language: "en",
        voice: RACHEL,
      }),
    );
    expect(e).toMatchObject({ status: null, retryable: true });
    expect(e.message).toStartWith("ElevenLabs speech failed: ");
  });

  test("error bodies: ElevenLabs' detail object, FastAPI's list, plain text", () => {
    expect(errorDetail({ detail: { status: "system_busy", message: "Busy." } })).toEqual({
      code: "system_busy",
      message: "Busy.",
    });
    expect(
      errorDetail({
        detail: [
          { loc: ["body", "text"], msg: "Field required", type: "missing" },
          { loc: ["query", "output_format"], msg: "Bad" },
        ],
      }),
    ).toEqual({
      code: "validation_error",
      message: "text: Field required; query.output_format: Bad",
    });
    expect(errorDetail('{"detail":"Not Found"}')).toEqual({ code: null, message: "Not Found" });
    expect(errorDetail("<html>Bad gateway</html>")).toEqual({ code: null, message: "<html>Bad gateway</html>" });
  });
});

describe("aborting", () => {
  const reason = () => new Error("the job was cancelled");

  test("an aborted signal: no request, the signal's reason", async () => {
    const controller = new AbortController();
    const why = reason();
    controller.abort(why);
    expect(
      await failure(
        createElevenLabsSpeech(connection()).generate({
          text: EN,
          language: "en",
          voice: RACHEL,
          signal: controller.signal,
        }),
      ),
    ).toBe(why);
    expect(
      await failure(
        createElevenLabsMusic(connection()).generate({ mood: "calm", durationS: 10, signal: controller.signal }),
      ),
    ).toBe(why);
    expect(await failure(listElevenLabsVoices({ ...connection(), signal: controller.signal }))).toBe(why);
    expect(fake.requests).toHaveLength(0);
  });

  test("an abort while ElevenLabs is working ends the request at once", async () => {
    fake.delay("tts", 10_000);
    const controller = new AbortController();
    const why = reason();
    void fake.arrived("tts").then(() => controller.abort(why));
    const started = performance.now();
    expect(
      await failure(
        createElevenLabsSpeech(connection()).generate({
          text: EN,
          language: "en",
          voice: RACHEL,
          signal: controller.signal,
        }),
      ),
    ).toBe(why);
    expect(performance.now() - started).toBeLessThan(2000);
    // The connection was closed, not left running: the fake sees its client go away.
    await fake.closed(fake.calls("tts")[0]!);
    expect(fake.calls("tts")[0]!.aborted).toBe(true);
  });

  test("an abort while the SDK waits to retry a 429 settles at once", async () => {
    fake.fail("tts", elevenLabsErrors.tooManyRequests(5));
    const controller = new AbortController();
    const why = reason();
    setTimeout(() => controller.abort(why), 150);
    const started = performance.now();
    expect(
      await failure(
        createElevenLabsSpeech(connection()).generate({
          text: EN,
          language: "en",
          voice: RACHEL,
          signal: controller.signal,
        }),
      ),
    ).toBe(why);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(fake.calls("tts")).toHaveLength(1);
  });

  test("an abort while music is composed", async () => {
    fake.delay("music", 10_000);
    const controller = new AbortController();
    const why = reason();
    void fake.arrived("music").then(() => controller.abort(why));
    expect(
      await failure(
        createElevenLabsMusic(connection()).generate({ mood: "sad", durationS: 20, signal: controller.signal }),
      ),
    ).toBe(why);
  });
});
