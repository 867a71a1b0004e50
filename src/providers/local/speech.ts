import { createHash } from "node:crypto";
import { join } from "node:path";
import { withTempDir } from "../../media/ffmpeg.ts";
import { guard } from "../../media/process.ts";
import type { SpeechTiming } from "../../story/timing.ts";
import type { GenerateResult, SpeechModel, SpeechOptions, SpeechOutput, VoiceInfo } from "../types.ts";
import { encodeWav, readWav } from "./wav.ts";

const SCRIPT = join(import.meta.dir, "espeak-process.ts");
const GAP_S = 0.12;
const VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4"];

const ENDS = new Set(["。", "！", "？", "!", "?", "；", ";", "…"]);
const CLOSERS = new Set(["”", '"', "」", "』", "’", ")", "）"]);

/**
 * Splits text into sentences, keeping their end punctuation and closing quotes. A Western "."
 * ends a sentence only before whitespace or the end, so "3.14" stays whole.
 */
export function sentences(text: string): string[] {
  const chars = [...text];
  const out: string[] = [];
  let current = "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "\n") {
      out.push(current);
      current = "";
      continue;
    }
    current += c;
    const next = chars[i + 1];
    if (ENDS.has(c) || (c === "." && (next === undefined || /\s/.test(next)))) {
      while (i + 1 < chars.length && (ENDS.has(chars[i + 1]!) || CLOSERS.has(chars[i + 1]!))) current += chars[++i];
      out.push(current);
      current = "";
    }
  }
  out.push(current);
  return out.map((s) => s.trim()).filter((s) => /[\p{L}\p{N}]/u.test(s));
}

interface LocalPreset extends VoiceInfo {
  /** espeak-ng voice variant (m1…m7 male, f1…f4 female) and base pitch (0-99). */
  variant: string;
  pitch: number;
}

const preset = (
  voice_id: string,
  name: string,
  variant: string,
  pitch: number,
  gender: VoiceInfo["gender"],
  age: VoiceInfo["age"],
  description: string,
  useCase: string,
): LocalPreset => ({
  voice_id,
  name,
  variant,
  pitch,
  gender,
  age,
  accent: null,
  // espeak-ng speaks Mandarin and English with every preset.
  language: null,
  description: `${description} (espeak-ng variant ${variant}, pitch ${pitch})`,
  preview_url: null,
  labels: { engine: "espeak-ng", variant, pitch: String(pitch), use_case: useCase },
});

/**
 * The voices the local speech offers: each an espeak-ng variant and pitch of its own, so each
 * sounds different (median pitch from about 70 Hz for the deep male voice to 275 Hz for the
 * child's). "narrator" is the variant and pitch the name "narrator" has always had.
 */
export const LOCAL_PRESETS: readonly LocalPreset[] = [
  preset("narrator", "Narrator", "m3", 51, "male", null, "Steady mid-pitched voice for narration", "narration"),
  preset("local-male-deep", "Deep male", "m1", 28, "male", "middle_aged", "Low, deep male voice", "characters"),
  preset("local-male-old", "Older male", "m7", 40, "male", "old", "Low, rough older male voice", "characters"),
  preset("local-male-young", "Young male", "m2", 66, "male", "young", "Higher, lighter male voice", "characters"),
  preset(
    "local-female-mature",
    "Mature female",
    "f1",
    35,
    "female",
    "middle_aged",
    "Low, calm female voice",
    "characters",
  ),
  preset("local-female", "Female", "f2", 55, "female", null, "Mid-pitched female voice", "characters"),
  preset("local-female-young", "Young female", "f4", 72, "female", "young", "Bright, high female voice", "characters"),
  preset("local-child", "Child", "f3", 92, "neutral", "child", "Very high, child-like voice", "characters"),
];
const PRESETS = new Map(LOCAL_PRESETS.map((p) => [p.voice_id, p]));

/**
 * The espeak voice for a voice name: a preset's own variant and pitch, else a stable variant and
 * pitch derived from the name (any name works, and one name always sounds the same).
 */
export function localVoice(name: string, language: "zh" | "en") {
  const prefix = language === "zh" ? "cmn" : "en-us";
  const p = PRESETS.get(name);
  if (p) return { voice: `${prefix}+${p.variant}`, pitch: p.pitch };
  const h = createHash("sha256").update(name).digest();
  return { voice: `${prefix}+${VARIANTS[h[0]! % VARIANTS.length]}`, pitch: 30 + (h[1]! % 41) };
}

/** The local presets as voice-library entries. */
export function localVoices(): VoiceInfo[] {
  return LOCAL_PRESETS.map(({ variant: _v, pitch: _p, ...v }) => ({ ...v, labels: { ...v.labels } }));
}

/**
 * Offline speech: espeak-ng (Mandarin or English) in a separate process, one sentence at a time
 * so each sentence's start and end are known exactly; the sentences are joined with short pauses.
 * `voices()` lists the presets (LOCAL_PRESETS); `generate` also takes any other name.
 */
export function createLocalSpeech(options: { timeoutMs?: number } = {}): SpeechModel {
  return {
    provider: "local",
    modelId: "espeak-ng",
    async generate(o: SpeechOptions): Promise<GenerateResult<SpeechOutput>> {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
      const speed = o.speed ?? 1;
      if (!(speed >= 0.5 && speed <= 2)) throw new RangeError("speed must be between 0.5 and 2.0");
      const parts = sentences(o.text);
      if (parts.length === 0) throw new RangeError("there is no text to speak");
      const { voice, pitch } = localVoice(o.voice, o.language);
      const wavs = await withTempDir(async (dir) => {
        const proc = Bun.spawn([process.execPath, SCRIPT, dir], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
        proc.stdin.write(JSON.stringify({ sentences: parts, voice, speed: Math.round(175 * speed), pitch }));
        await proc.stdin.end();
        const timeoutMs = options.timeoutMs ?? 120_000;
        const guarded = guard(proc, { timeoutMs, signal: o.signal });
        try {
          const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
          if (guarded.stoppedBy() === "aborted") throw o.signal?.reason ?? new Error("aborted");
          if (guarded.stoppedBy() === "timeout") throw new Error(`espeak-ng timed out after ${timeoutMs} ms`);
          if (code !== 0) throw new Error(`espeak-ng failed (exit ${code}): ${err.trim().split("\n").pop() ?? ""}`);
        } finally {
          guarded.release();
        }
        return Promise.all(parts.map(async (_, i) => readWav(await Bun.file(join(dir, `${i}.wav`)).bytes())));
      });
      const rate = wavs[0]!.rate;
      const gap = Math.round(GAP_S * rate);
      const total = wavs.reduce((n, w) => n + w.samples.length, 0) + gap * (wavs.length - 1);
      const out = new Float32Array(total);
      const timings: SpeechTiming[] = [];
      let at = 0;
      wavs.forEach((w, i) => {
        for (let j = 0; j < w.samples.length; j++) out[at + j] = w.samples[j]! / 32768;
        timings.push({ text: parts[i]!, startS: at / rate, endS: (at + w.samples.length) / rate });
        at += w.samples.length + gap;
      });
      const durationS = total / rate;
      return {
        data: { bytes: encodeWav(out, rate, 1), mimeType: "audio/wav", durationS, sampleRate: rate, timings },
        warnings: [],
        usage: { audioSeconds: durationS },
        response: { provider: "local", modelId: "espeak-ng", timestamp: new Date() },
      };
    },
    async voices(signal?: AbortSignal): Promise<VoiceInfo[]> {
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      return localVoices();
    },
  };
}
