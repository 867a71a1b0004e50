/**
 * Provider interfaces, one per capability, shaped like the Vercel AI SDK's: a model names its
 * provider and model id, and `generate` returns the data with warnings, usage (for the cost
 * ledger) and response metadata. Local, OpenAI, fal and ElevenLabs implementations plug in here.
 */

import type { Static, TSchema } from "@sinclair/typebox";
import type { PaintedLayout, SceneHint, TalkTrack } from "../story/hints.ts";
import type { Camera, MOOD_VALUES } from "../story/schemas.ts";
import type { SpeechTiming } from "../story/timing.ts";

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

export type { Box, FigureHint, PaintedLayout, SceneHint, TalkTrack } from "../story/hints.ts";
export { MOOD_VALUES as MOODS } from "../story/schemas.ts";
export type Mood = (typeof MOOD_VALUES)[number];

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
  /** A chain's head: the price its calls are billed at (and whether it is a local provider). */
  readonly billing?: Billing;
  generate(options: MusicOptions): Promise<GenerateResult<AudioOutput>>;
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

/** A voice a speech provider offers, as the voice library (table `voices`) stores it. */
export interface VoiceInfo {
  /** What `SpeechOptions.voice` takes. */
  voice_id: string;
  name: string;
  gender: "female" | "male" | "neutral" | null;
  age: "child" | "young" | "middle_aged" | "old" | null;
  accent: string | null;
  /** A language code ("zh", "en") when the voice is meant for one language; null when it is not said. */
  language: string | null;
  description: string | null;
  preview_url: string | null;
  /** The provider's own labels (ElevenLabs: accent, gender, age, description, use_case, …). */
  labels: Record<string, string>;
}

/** Text + voice + speed → audio with timings; and the voices it can speak with. */
export interface SpeechModel {
  readonly provider: string;
  readonly modelId: string;
  /** A chain's head: the price its calls are billed at (and whether it is a local provider). */
  readonly billing?: Billing;
  generate(options: SpeechOptions): Promise<GenerateResult<SpeechOutput>>;
  /** The voices `generate` accepts (ElevenLabs: the account's voices; local: its presets). */
  voices(signal?: AbortSignal): Promise<VoiceInfo[]>;
}

export interface ObjectRequest<S extends TSchema> {
  /** The answer's JSON schema (one of src/story/schemas.ts for analysis); it carries an `$id`. */
  schema: S;
  system: string;
  prompt: string;
  /** The story text the prompt is about, for models that read it directly (the local analyser). */
  source?: string;
  seed?: number;
  signal?: AbortSignal;
}

export interface TextRequest {
  system: string;
  prompt: string;
  signal?: AbortSignal;
}

export interface TextStream {
  /** The answer as it is produced. */
  textStream: AsyncIterable<string>;
  /** Settles once the stream ends. */
  usage: Promise<Usage>;
}

/** Text: JSON output validated against a schema, and streamed text. */
export interface TextModel {
  readonly provider: string;
  readonly modelId: string;
  /** A chain's head: the price its calls are billed at (and whether it is a local provider). */
  readonly billing?: Billing;
  generateObject<S extends TSchema>(request: ObjectRequest<S>): Promise<GenerateResult<Static<S>>>;
  streamText(request: TextRequest): TextStream;
}

export interface ImageOutput {
  bytes: Uint8Array;
  mimeType: "image/png" | "image/jpeg" | "image/webp";
  width: number;
  height: number;
  /** How a painter that draws from structure laid the picture out (the local painter only). */
  layout?: PaintedLayout;
}

export interface ImageOptions {
  prompt: string;
  width: number;
  height: number;
  /** Image-to-image: reference images (a character's sheet) the result must stay consistent with. */
  references?: Array<{ bytes: Uint8Array; mimeType: string; label?: string }>;
  scene?: SceneHint;
  seed?: number;
  signal?: AbortSignal;
}

/** Images: text-to-image, and image-to-image with reference images. */
export interface ImageModel {
  readonly provider: string;
  readonly modelId: string;
  /** A chain's head: the price its calls are billed at (and whether it is a local provider). */
  readonly billing?: Billing;
  /**
   * False for a painter that draws a picture given a scene hint from the hint alone (the local
   * one): two prompts over the same hint make the same picture, so the prompt is not part of its
   * input digest. Unset: the prompt is read.
   */
  readonly readsPrompt?: boolean;
  generate(options: ImageOptions): Promise<GenerateResult<ImageOutput>>;
}

export interface VideoOutput {
  bytes: Uint8Array;
  mimeType: "video/mp4";
  width: number;
  height: number;
  durationS: number;
}

export interface VideoOptions {
  prompt: string;
  /** Image-to-video when present; text-to-video otherwise. */
  image?: { bytes: Uint8Array; mimeType: string };
  durationS: number;
  width: number;
  height: number;
  fps?: number;
  camera?: Camera;
  scene?: SceneHint;
  /** How the image was laid out by the painter that drew it, when it says (see PaintedLayout). */
  layout?: PaintedLayout;
  /** Whose mouth is open when, for models that animate speech over the image. */
  talk?: TalkTrack[];
  seed?: number;
  signal?: AbortSignal;
}

/** Video: image-to-video and text-to-video. */
export interface VideoModel {
  readonly provider: string;
  readonly modelId: string;
  /** A chain's head: the price its calls are billed at (and whether it is a local provider). */
  readonly billing?: Billing;
  /** It opens the characters' mouths from `talk`: its clip changes when the lines' timings do. */
  readonly animatesSpeech?: boolean;
  /**
   * The seconds a clip asked to last `durationS` is billed: a model that makes only some lengths
   * makes (and bills) the shortest that covers it. Absent: the length asked.
   */
  billedSeconds?(durationS: number): number;
  generate(options: VideoOptions): Promise<GenerateResult<VideoOutput>>;
}

/** One model per capability; each one runs its capability's chain (see chain.ts). */
export interface Providers {
  text: TextModel;
  image: ImageModel;
  video: VideoModel;
  speech: SpeechModel;
  music: MusicModel;
}

/** What one unit of usage costs, in US dollars. */
export interface Price {
  input_per_mtok?: number;
  output_per_mtok?: number;
  per_image?: number;
  per_audio_second?: number;
  per_video_second?: number;
}

/** How a model's calls are billed: its price, and local providers at the operator's nominal price. */
export interface Billing {
  price: Price;
  local: boolean;
}
