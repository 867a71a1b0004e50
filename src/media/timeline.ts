import type { EditConfig } from "../story/edit.ts";
import type { Transition } from "../story/schemas.ts";
import type { SpeechTiming } from "../story/timing.ts";

/** What the composer renders: shots in order, background music, subtitles, cover and output. */
export interface Timeline {
  output: OutputSpec;
  shots: TimelineShot[];
  bgm?: BgmSpec | null;
  subtitles?: SubtitleSpec | null;
  cover?: CoverSpec | null;
  /** Keep the mixed soundtrack as a file of its own (`audio.m4a`). */
  soundtrack?: boolean;
}

export const RESOLUTIONS = { "720p": 720, "1080p": 1080, "4k": 2160 } as const;
export const ASPECT_RATIOS = {
  "16:9": [16, 9],
  "9:16": [9, 16],
  "1:1": [1, 1],
  "4:3": [4, 3],
  "3:4": [3, 4],
  "2.35:1": [47, 20],
} as const;
export const FRAME_RATES = [24, 25, 30, 50, 60] as const;

export interface OutputSpec {
  resolution: keyof typeof RESOLUTIONS;
  aspectRatio: keyof typeof ASPECT_RATIOS;
  fps: (typeof FRAME_RATES)[number];
  format: "mp4" | "mov";
  /** An exact frame size (both even), instead of the resolution's short side at the aspect ratio. */
  size?: { width: number; height: number };
}

export interface AudioLine {
  path: string;
  /** Seconds from the start of the shot. */
  offsetS: number;
  /** 0 to 2 (1 = as recorded). */
  volume?: number;
  /** The spoken text with its timings (relative to this audio), for subtitles. */
  text?: string;
  timings?: SpeechTiming[];
}

export interface TimelineShot {
  id: string;
  visual: { kind: "still" | "clip"; path: string };
  durationS: number;
  /** How this shot begins after the previous one. */
  transition?: Transition;
  transitionS?: number;
  edit?: EditConfig | null;
  audio?: AudioLine[];
}

export interface BgmSpec {
  path: string;
  /** 0 to 1 of the track's level. */
  volume?: number;
  loop?: boolean;
  fadeInS?: number;
  fadeOutS?: number;
  /** Lowered under narration and dialogue. */
  duck?: boolean;
}

export interface SubtitleStyle {
  font?: string;
  /** Pixels at the output height. */
  size?: number;
  colour?: string;
  position?: "bottom" | "middle" | "top";
  box?: boolean;
  boxColour?: string;
  boxOpacity?: number;
}

export interface SubtitleSpec {
  burnIn: boolean;
  style?: SubtitleStyle;
}

export interface CoverSpec {
  /** The shot whose picture is used; the first by default. */
  shotId?: string;
  /** A picture of its own (scaled and cropped to the frame), instead of a shot's. */
  imagePath?: string;
  /** The title alone on a plain dark card, no picture. */
  plain?: boolean;
  title?: string;
}

/** Output width and height: the resolution names the short side, both even. */
export function frameSize(output: OutputSpec): { width: number; height: number } {
  if (output.size) return { width: output.size.width, height: output.size.height };
  const short = RESOLUTIONS[output.resolution];
  const [a, b] = ASPECT_RATIOS[output.aspectRatio];
  const long = Math.round((short * Math.max(a, b)) / Math.min(a, b) / 2) * 2;
  return a >= b ? { width: long, height: short } : { width: short, height: long };
}

/** Each shot lasts a whole number of frames: its duration rounded to the nearest frame. */
export const shotFrames = (shot: TimelineShot, fps: number) => Math.max(1, Math.round(shot.durationS * fps));
