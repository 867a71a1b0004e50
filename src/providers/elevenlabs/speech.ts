import type { ElevenLabs } from "@elevenlabs/elevenlabs-js";
import type { SpeechTiming } from "../../story/timing.ts";
import { sentences } from "../local/speech.ts";
import type { GenerateResult, SpeechModel, SpeechOptions, SpeechOutput, VoiceInfo } from "../types.ts";
import { call, type ElevenLabsConnection, elevenLabsClient } from "./client.ts";
import { ElevenLabsProviderError } from "./errors.ts";
import { mp3Info } from "./mp3.ts";
import { listElevenLabsVoices, toVoiceInfo } from "./voices.ts";

/** The speed ElevenLabs accepts in voice settings; SpeechOptions allows 0.5 to 2. */
export const SPEED_RANGE = [0.7, 1.2] as const;
/** Models that take `language_code`; the others (multilingual v2, …) answer it with an error. */
const LANGUAGE_CODE_MODELS = /_v2_5$|^eleven_v3/;
const OUTPUT_FORMAT = "mp3_44100_128";

export interface Alignment {
  characters: string[];
  characterStartTimesSeconds: number[];
  characterEndTimesSeconds: number[];
}

const isSpace = (c: string) => /^\s*$/u.test(c);
/** Cells of the longest-common-subsequence table for one stretch of unmatched text; larger stretches are estimated. */
const LCS_MAX_CELLS = 250_000;

/** Where `needle` occurs in `hay` at or after `from`, or -1. */
function find(hay: string[], needle: string[], from: number): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

/** Pairs (index in a, index in b) of a longest common subsequence of a and b. */
function lcs(a: string[], b: string[]): Array<[number, number]> {
  const w = b.length + 1;
  const t = new Uint16Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      t[i * w + j] = a[i] === b[j] ? t[(i + 1) * w + j + 1]! + 1 : Math.max(t[(i + 1) * w + j]!, t[i * w + j + 1]!);
    }
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    if (a[i] === b[j]) pairs.push([i++, j++]);
    else if (t[(i + 1) * w + j]! >= t[i * w + j + 1]!) i++;
    else j++;
  }
  return pairs;
}

/**
 * Per-sentence timings (the sentences of `sentences(text)`, as the local speech model splits them)
 * from ElevenLabs' character alignment: a sentence runs from its first spoken character's start
 * to its last character's end, so subtitles follow the voice. The alignment normally repeats the
 * text exactly; whitespace is ignored in matching (it may be dropped or collapsed), a sentence not
 * found as a whole is matched character by character (a longest common subsequence) within the
 * stretch between its found neighbours, and a sentence none of whose characters can be found is
 * placed between its neighbours by length, with a warning.
 */
export function sentenceTimings(
  text: string,
  alignment: Alignment | undefined,
  durationS: number,
): { timings: SpeechTiming[]; warnings: string[] } {
  const parts = sentences(text);
  const n = alignment
    ? Math.min(
        alignment.characters.length,
        alignment.characterStartTimesSeconds.length,
        alignment.characterEndTimesSeconds.length,
      )
    : 0;
  // The spoken (non-space) characters of the alignment, with their alignment index.
  const spokenAt: number[] = [];
  for (let i = 0; i < n; i++) if (!isSpace(alignment!.characters[i]!)) spokenAt.push(i);
  const spoken = spokenAt.map((i) => alignment!.characters[i]!);
  const needles = parts.map((p) => [...p].filter((c) => !isSpace(c)));
  // Each sentence's first and last character, as indices into `spoken`; null while unmatched.
  const span: Array<[number, number] | null> = parts.map(() => null);
  let cursor = 0;
  needles.forEach((needle, s) => {
    const at = needle.length ? find(spoken, needle, cursor) : -1;
    if (at < 0) return;
    span[s] = [at, at + needle.length - 1];
    cursor = at + needle.length;
  });
  for (let s = 0; s < parts.length; ) {
    if (span[s]) {
      s++;
      continue;
    }
    let e = s;
    while (e < parts.length && !span[e]) e++;
    const from = s > 0 ? span[s - 1]![1] + 1 : 0;
    const to = e < parts.length ? span[e]![0] : spoken.length;
    const chars = needles.slice(s, e).flatMap((needle, k) => needle.map((c) => ({ c, sentence: s + k })));
    if (to > from && chars.length * (to - from) <= LCS_MAX_CELLS) {
      for (const [i, j] of lcs(
        chars.map((x) => x.c),
        spoken.slice(from, to),
      )) {
        const sentence = chars[i]!.sentence;
        const prev = span[sentence];
        span[sentence] = prev ? [prev[0], from + j] : [from + j, from + j];
      }
    }
    s = e;
  }
  const warnings: string[] = [];
  const found: Array<SpeechTiming | null> = parts.map((part, s) => {
    const sp = span[s];
    if (!sp) return null;
    const startS = alignment!.characterStartTimesSeconds[spokenAt[sp[0]]!]!;
    return { text: part, startS, endS: Math.max(startS, alignment!.characterEndTimesSeconds[spokenAt[sp[1]]!]!) };
  });
  const missing = found.filter((t) => t === null).length;
  if (missing > 0) {
    warnings.push(
      alignment
        ? `${missing} of ${parts.length} sentences could not be found in ElevenLabs' character alignment; their times are estimated`
        : "ElevenLabs sent no character alignment; sentence times are estimated from their length",
    );
  }
  // Unplaced sentences share the gap between their placed neighbours, by length.
  const timings: SpeechTiming[] = [];
  for (let s = 0; s < parts.length; ) {
    if (found[s]) {
      timings.push(found[s]!);
      s++;
      continue;
    }
    let e = s;
    while (e < parts.length && !found[e]) e++;
    const from = s > 0 ? timings[s - 1]!.endS : 0;
    const to = Math.max(from, e < parts.length ? found[e]!.startS : durationS);
    const lengths = parts.slice(s, e).map((p) => [...p].length);
    const total = lengths.reduce((a, b) => a + b, 0);
    let at = from;
    for (let k = s; k < e; k++) {
      const endS = at + ((to - from) * lengths[k - s]!) / total;
      timings.push({ text: parts[k]!, startS: at, endS });
      at = endS;
    }
    s = e;
  }
  return { timings, warnings };
}

export interface ElevenLabsSpeechOptions extends ElevenLabsConnection {
  /** Default eleven_multilingual_v2 (Mandarin and English). */
  modelId?: string;
}

/**
 * ElevenLabs text to speech with character timestamps (POST /v1/text-to-speech/{voice_id}/with-timestamps):
 * `voice` is an ElevenLabs voice id; the audio is MP3 (44.1 kHz, 128 kbit/s); sentence timings
 * come from the character alignment. `voices()` lists the account's voices (GET /v1/voices) with
 * their labels read out, for the voice library.
 */
export function createElevenLabsSpeech(options: ElevenLabsSpeechOptions): SpeechModel {
  const modelId = options.modelId ?? "eleven_multilingual_v2";
  const client = elevenLabsClient(options);
  return {
    provider: "elevenlabs",
    modelId,
    async generate(o: SpeechOptions): Promise<GenerateResult<SpeechOutput>> {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
      const speed = o.speed ?? 1;
      if (!(speed >= 0.5 && speed <= 2)) throw new RangeError("speed must be between 0.5 and 2.0");
      if (sentences(o.text).length === 0) throw new RangeError("there is no text to speak");
      if (!o.voice.trim()) throw new RangeError("an ElevenLabs voice id is needed");
      const warnings: string[] = [];
      const sent = Math.min(SPEED_RANGE[1], Math.max(SPEED_RANGE[0], speed));
      if (sent !== speed)
        warnings.push(
          `ElevenLabs speaks at ${SPEED_RANGE[0]} to ${SPEED_RANGE[1]} times the normal speed; speed ${speed} was sent as ${sent}`,
        );
      const request: ElevenLabs.BodyTextToSpeechFullWithTimestamps = {
        text: o.text,
        modelId,
        outputFormat: OUTPUT_FORMAT,
        // Only when asked: voice settings sent override the voice's stored ones.
        ...(sent !== 1 ? { voiceSettings: { speed: sent } } : {}),
        ...(LANGUAGE_CODE_MODELS.test(modelId) ? { languageCode: o.language } : {}),
      };
      const context = { model: modelId, action: "speech", apiKey: options.apiKey, signal: o.signal };
      const { data, rawResponse } = await call(context, (abortSignal) =>
        client.textToSpeech.convertWithTimestamps(o.voice, request, { abortSignal }).withRawResponse(),
      );
      const bytes = new Uint8Array(Buffer.from(data.audioBase64 ?? "", "base64"));
      const info = mp3Info(bytes);
      if (!info)
        throw new ElevenLabsProviderError("ElevenLabs speech failed: the audio it sent is not MP3", {
          model: modelId,
          status: rawResponse.status,
          retryable: false,
        });
      const alignment = data.alignment ?? data.normalizedAlignment;
      if (!data.alignment && data.normalizedAlignment)
        warnings.push("ElevenLabs sent only the normalised alignment; sentence times follow it");
      const lastEndS = alignment?.characterEndTimesSeconds.reduce((a, b) => Math.max(a, b), 0) ?? 0;
      // The audio may run on past the last character (a breath, silence): the length is the longer of the two.
      const durationS = Math.max(lastEndS, info.durationS);
      const { timings, warnings: timingWarnings } = sentenceTimings(o.text, alignment, durationS);
      return {
        data: { bytes, mimeType: "audio/mpeg", durationS, sampleRate: info.sampleRate, timings },
        warnings: [...warnings, ...timingWarnings],
        usage: { audioSeconds: durationS },
        response: {
          provider: "elevenlabs",
          modelId,
          timestamp: new Date(),
          id: rawResponse.headers.get("request-id") ?? undefined,
        },
      };
    },
    async voices(signal?: AbortSignal): Promise<VoiceInfo[]> {
      return (await listElevenLabsVoices({ ...options, signal })).map(toVoiceInfo);
    },
  };
}
