import { prng } from "../../core/prng.ts";
import {
  type AudioOutput,
  type GenerateResult,
  MOODS,
  type Mood,
  type MusicModel,
  type MusicOptions,
} from "../types.ts";
import { encodeWav } from "./wav.ts";

const SAMPLE_RATE = 44_100;
const MAJOR = [0, 2, 4, 5, 7, 9, 11];
const MINOR = [0, 2, 3, 5, 7, 8, 10];

interface Style {
  bpm: number;
  /** MIDI note of the key's tonic. */
  root: number;
  scale: number[];
  /** One chord per bar, as scale degrees (0 = tonic triad). */
  progression: number[];
  drums: "none" | "light" | "full";
  arpeggio: boolean;
}

const STYLES: Record<Mood, Style> = {
  calm: { bpm: 72, root: 60, scale: MAJOR, progression: [0, 5, 3, 4], drums: "light", arpeggio: true },
  happy: { bpm: 112, root: 62, scale: MAJOR, progression: [0, 4, 5, 3], drums: "full", arpeggio: true },
  sad: { bpm: 66, root: 57, scale: MINOR, progression: [0, 5, 2, 6], drums: "none", arpeggio: true },
  tense: { bpm: 96, root: 52, scale: MINOR, progression: [0, 0, 5, 4], drums: "full", arpeggio: false },
  epic: { bpm: 90, root: 50, scale: MINOR, progression: [0, 5, 2, 6], drums: "full", arpeggio: true },
  mysterious: { bpm: 60, root: 59, scale: MINOR, progression: [0, 3, 6, 5], drums: "light", arpeggio: true },
};

const hz = (midi: number) => 440 * 2 ** ((midi - 69) / 12);

/** Scale degree → MIDI note, wrapping into higher octaves. */
function degree(style: Style, d: number): number {
  const n = style.scale.length;
  return style.root + 12 * Math.floor(d / n) + style.scale[((d % n) + n) % n]!;
}

/** Adds a note to `out` from `start` for `length` samples with `shape` as its envelope. */
function addTone(
  out: Float32Array,
  start: number,
  length: number,
  freq: number,
  gain: number,
  shape: (x: number) => number,
  harmonics = [1],
) {
  const end = Math.min(out.length, start + length);
  const w = (2 * Math.PI * freq) / SAMPLE_RATE;
  for (let i = start; i < end; i++) {
    const t = i - start;
    let v = 0;
    for (let h = 0; h < harmonics.length; h++) v += harmonics[h]! * Math.sin(w * (h + 1) * t);
    out[i] = out[i]! + gain * shape(t / length) * v;
  }
}

const pad = (x: number) => Math.min(1, x / 0.15) * Math.min(1, (1 - x) / 0.25);
/** 2 ms onset ramp for percussion: a hit never starts with a jump (no click, also at the loop point). */
const ONSET = 0.002 * SAMPLE_RATE;
const pluck = (x: number) => Math.exp(-6 * x) * Math.min(1, (1 - x) / 0.05);

function kick(out: Float32Array, start: number, gain: number) {
  const length = Math.floor(0.18 * SAMPLE_RATE);
  let phase = 0;
  for (let t = 0; t < length && start + t < out.length; t++) {
    const x = t / length;
    phase += (2 * Math.PI * (45 + 75 * Math.exp(-12 * x))) / SAMPLE_RATE;
    out[start + t] = out[start + t]! + gain * Math.min(1, t / ONSET) * Math.exp(-5 * x) * (1 - x) * Math.sin(phase);
  }
}

function hat(out: Float32Array, start: number, gain: number, random: () => number) {
  const length = Math.floor(0.035 * SAMPLE_RATE);
  let last = 0;
  for (let t = 0; t < length && start + t < out.length; t++) {
    const noise = random() * 2 - 1;
    // A crude high-pass: the difference of successive noise samples.
    out[start + t] = out[start + t]! + gain * Math.min(1, t / ONSET) * Math.exp((-6 * t) / length) * (noise - last);
    last = noise;
  }
}

/**
 * A background track by mood: chords (pad), bass, an arpeggio and drums over a looping
 * progression. The length is split into whole bars (tempo nudged to fit) and every note ends
 * inside its bar, so the track loops without a click.
 */
export function synthesizeMusic(options: MusicOptions): { samples: Float32Array; bars: number; bpm: number } {
  if (!MOODS.includes(options.mood)) throw new RangeError(`unknown mood "${options.mood}"`);
  if (!(options.durationS >= 1 && options.durationS <= 900))
    throw new RangeError("music length must be 1 to 900 seconds");
  const style = STYLES[options.mood];
  const random = prng(options.seed ?? 1);
  const total = Math.round(options.durationS * SAMPLE_RATE);
  const nominalBar = (4 * 60) / style.bpm;
  const loop = style.progression.length;
  let bars = Math.max(1, Math.round(options.durationS / nominalBar));
  // Whole progressions when there is room for one, so the loop point is also the cadence.
  if (bars >= loop) bars = Math.max(loop, Math.round(bars / loop) * loop);
  const barLen = total / bars;
  const beat = barLen / 4;
  const out = new Float32Array(total);
  for (let bar = 0; bar < bars; bar++) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
    const start = Math.floor(bar * barLen);
    const length = Math.floor((bar + 1) * barLen) - start;
    const d = style.progression[bar % loop]!;
    const chord = [degree(style, d), degree(style, d + 2), degree(style, d + 4)];
    for (const note of chord) {
      addTone(out, start, length, hz(note), 0.11, pad, [1, 0.35, 0.12]);
      addTone(out, start, length, hz(note) * 1.004, 0.06, pad, [1, 0.2]);
    }
    for (const b of [0, 2])
      addTone(
        out,
        start + Math.floor(b * beat),
        Math.floor(beat * 1.6),
        hz(chord[0]! - 24),
        0.22,
        pluck,
        [1, 0.5, 0.25],
      );
    if (style.arpeggio) {
      for (let step = 0; step < 8; step++) {
        const note = chord[step % 3]! + (random() < 0.3 ? 12 : 0);
        addTone(out, start + Math.floor((step * beat) / 2), Math.floor(beat / 2), hz(note + 12), 0.07, pluck);
      }
    }
    if (style.drums !== "none") {
      for (let b = 0; b < 4; b++) {
        if (b === 0 || (b === 2 && style.drums === "full")) kick(out, start + Math.floor(b * beat), 0.5);
      }
      for (let e = 0; e < 8; e++) {
        if (style.drums === "full" || e % 2 === 1) hat(out, start + Math.floor((e * beat) / 2), 0.12, random);
      }
    }
  }
  let peak = 0;
  for (const v of out) peak = Math.max(peak, Math.abs(v));
  if (peak > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i]! / peak) * 0.8;
  return { samples: out, bars, bpm: (4 * 60 * bars) / options.durationS };
}

/** The offline music provider: a WAV synthesised on this machine, honestly labelled local. */
export function createLocalMusic(): MusicModel {
  return {
    provider: "local",
    modelId: "inkreel-synth-1",
    async generate(options): Promise<GenerateResult<AudioOutput>> {
      const { samples } = synthesizeMusic(options);
      return {
        data: {
          bytes: encodeWav(samples, SAMPLE_RATE, 1),
          mimeType: "audio/wav",
          durationS: samples.length / SAMPLE_RATE,
          sampleRate: SAMPLE_RATE,
        },
        warnings: options.prompt ? ["the local synthesiser follows the mood; the prompt text is not interpreted"] : [],
        usage: { audioSeconds: samples.length / SAMPLE_RATE },
        response: { provider: "local", modelId: "inkreel-synth-1", timestamp: new Date() },
      };
    },
  };
}
