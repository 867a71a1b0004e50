/**
 * Provider interfaces, one per capability, shaped like the Vercel AI SDK's: a model names its
 * provider and model id, and `generate` returns the data with warnings, usage (for the cost
 * ledger) and response metadata. Local, OpenAI, fal and ElevenLabs implementations plug in here.
 */

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  images?: number;
  audioSeconds?: number;
  videoSeconds?: number;
}

export interface GenerateResult<T> {
  data: T;
  warnings: string[];
  usage: Usage;
  response: { provider: string; modelId: string; timestamp: Date; id?: string };
}

export interface AudioOutput {
  bytes: Uint8Array;
  mimeType: "audio/wav" | "audio/mpeg";
  durationS: number;
  sampleRate: number;
}

export const MOODS = ["calm", "happy", "sad", "tense", "epic", "mysterious"] as const;
export type Mood = (typeof MOODS)[number];

export interface MusicOptions {
  mood: Mood;
  durationS: number;
  prompt?: string;
  /** Same seed, same options: same track. */
  seed?: number;
  signal?: AbortSignal;
}

/** Background music: prompt + mood + length → a loopable track. */
export interface MusicModel {
  readonly provider: string;
  readonly modelId: string;
  generate(options: MusicOptions): Promise<GenerateResult<AudioOutput>>;
}

export interface SpeechTiming {
  text: string;
  startS: number;
  endS: number;
}

export interface SpeechOutput extends AudioOutput {
  /** Per-sentence timings, for subtitles. */
  timings: SpeechTiming[];
}

export interface SpeechOptions {
  text: string;
  language: "zh" | "en";
  /** A voice id of the provider; local: any name, mapped to a stable espeak variant and pitch. */
  voice: string;
  /** 0.5 to 2.0 (1 = normal). */
  speed?: number;
  signal?: AbortSignal;
}

/** Text + voice + speed → audio with timings. */
export interface SpeechModel {
  readonly provider: string;
  readonly modelId: string;
  generate(options: SpeechOptions): Promise<GenerateResult<SpeechOutput>>;
}
