import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { probe, runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import { createLocalMusic, synthesizeMusic } from "../src/providers/local/music.ts";

const music = createLocalMusic();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Magnitude of one frequency in a window (Goertzel). */
function power(samples: Float32Array, from: number, length: number, freq: number, rate = 44_100): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = from; i < from + length; i++) {
    const s0 = samples[i]! + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return Math.sqrt(s1 * s1 + s2 * s2 - k * s1 * s2) / length;
}

const rms = (samples: Float32Array, from: number, length: number) => {
  let sum = 0;
  for (let i = from; i < from + length; i++) sum += samples[i]! ** 2;
  return Math.sqrt(sum / length);
};

describe("local music synthesiser", () => {
  test("a WAV of exactly the asked length that ffprobe reads", async () => {
    const result = await music.generate({ mood: "calm", durationS: 12.5, seed: 7 });
    expect(result.response).toMatchObject({ provider: "local", modelId: "inkreel-synth-1" });
    expect(result.usage.audioSeconds).toBeCloseTo(12.5, 3);
    expect(result.data.mimeType).toBe("audio/wav");
    await withTempDir(async (dir) => {
      const path = join(dir, "bgm.wav");
      await Bun.write(path, result.data.bytes);
      const info = await probe(path);
      expect(Math.abs(info.durationS - 12.5)).toBeLessThanOrEqual(0.01);
      expect(info.streams[0]).toMatchObject({
        codec_type: "audio",
        codec_name: "pcm_s16le",
        sample_rate: "44100",
        channels: 1,
      });
      // And ffmpeg can use it as a looped background track.
      await runFfmpeg(["-stream_loop", "2", "-i", path, "-t", "30", "-c:a", "aac", join(dir, "loop.m4a")]);
      expect(Math.abs((await probe(join(dir, "loop.m4a"))).durationS - 30)).toBeLessThanOrEqual(0.1);
    });
  });

  test("deterministic for a seed; moods and seeds differ", async () => {
    const a = await music.generate({ mood: "happy", durationS: 8, seed: 1 });
    const b = await music.generate({ mood: "happy", durationS: 8, seed: 1 });
    const c = await music.generate({ mood: "happy", durationS: 8, seed: 2 });
    const d = await music.generate({ mood: "sad", durationS: 8, seed: 1 });
    expect(sha(a.data.bytes)).toBe(sha(b.data.bytes));
    expect(sha(a.data.bytes)).not.toBe(sha(c.data.bytes));
    expect(sha(a.data.bytes)).not.toBe(sha(d.data.bytes));
  });

  test("chords, not a sine: the bar's three chord tones sound together, and the chord changes", () => {
    // Calm: C major, progression I vi IV V; bar 1 is C-E-G (MIDI 60, 64, 67).
    const { samples, bars, bpm } = synthesizeMusic({ mood: "calm", durationS: 16, seed: 1 });
    expect(bars).toBe(4);
    const bar = Math.round((4 * 60 * 44_100) / bpm);
    const mid = Math.round(bar * 0.3);
    const window = 8192;
    const tone = (midi: number, barIndex: number) =>
      power(samples, barIndex * bar + mid, window, 440 * 2 ** ((midi - 69) / 12));
    const offKey = tone(61, 0); // C#, not in the chord
    for (const note of [60, 64, 67]) expect(tone(note, 0)).toBeGreaterThan(offKey * 4);
    // Bar 2 is A minor (A-C-E): A (69) is strong there, weak in bar 1.
    expect(tone(69, 1)).toBeGreaterThan(tone(69, 0) * 4);
  });

  test("rhythm: loudness pulses with the beat when there are drums", () => {
    const { samples, bpm } = synthesizeMusic({ mood: "happy", durationS: 8, seed: 1 });
    const beat = Math.round((60 * 44_100) / bpm);
    const win = Math.round(0.03 * 44_100);
    const onBeat: number[] = [];
    const offBeat: number[] = [];
    for (let b = 1; b < 12; b++) {
      onBeat.push(rms(samples, b * beat, win));
      offBeat.push(rms(samples, b * beat + Math.round(beat * 0.35), win));
    }
    const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
    expect(mean(onBeat)).toBeGreaterThan(mean(offBeat) * 1.2);
  });

  test("loopable: it starts and ends at silence, so looping does not click", () => {
    for (const mood of ["calm", "happy", "sad", "tense", "epic", "mysterious"] as const) {
      const { samples } = synthesizeMusic({ mood, durationS: 10, seed: 3 });
      expect(Math.abs(samples[0]!)).toBeLessThan(0.01);
      expect(Math.abs(samples[samples.length - 1]!)).toBeLessThan(0.01);
      // The jump across the loop point is no bigger than ordinary sample-to-sample steps.
      let maxStep = 0;
      for (let i = 1; i < samples.length; i++) maxStep = Math.max(maxStep, Math.abs(samples[i]! - samples[i - 1]!));
      expect(Math.abs(samples[0]! - samples[samples.length - 1]!)).toBeLessThanOrEqual(maxStep);
    }
  });

  test("bad requests are refused clearly", async () => {
    await expect(music.generate({ mood: "angry" as never, durationS: 5 })).rejects.toThrow(/unknown mood/);
    await expect(music.generate({ mood: "calm", durationS: 0 })).rejects.toThrow(/1 to 900 seconds/);
    await expect(music.generate({ mood: "calm", durationS: Number.NaN })).rejects.toThrow(/1 to 900 seconds/);
    await expect(music.generate({ mood: "calm", durationS: 5000 })).rejects.toThrow(/1 to 900 seconds/);
  });
});
