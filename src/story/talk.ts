import type { TalkTrack } from "./hints.ts";
import { lineLayout, type ShotMaterial } from "./material.ts";
import type { SpeechTiming } from "./timing.ts";

/** A mouth opens and closes no faster than this (seconds per beat): faster reads as a flicker at 24 fps. */
const MIN_BEAT_S = 0.16;
/** The share of each beat the mouth is open. */
const OPEN_SHARE = 0.6;

/** The syllables of a sentence as a reader counts them: each Han character, each other word. */
function syllables(text: string): number {
  const han = (text.match(/\p{Script=Han}/gu) ?? []).length;
  const words = (text.replace(/\p{Script=Han}/gu, " ").match(/[\p{L}\p{N}]+/gu) ?? []).length;
  return han + words;
}

/**
 * When the mouth is open while one recording plays, `offsetS` into the clip: each sentence's
 * time (its speech timing) is cut into beats, one per syllable (merged to at least MIN_BEAT_S),
 * and the mouth is open for the first part of each.
 */
export function mouthOpenings(timings: SpeechTiming[], offsetS: number): Array<[number, number]> {
  const open: Array<[number, number]> = [];
  for (const t of timings) {
    const length = t.endS - t.startS;
    if (!(length > 0)) continue;
    const beats = Math.max(1, Math.min(syllables(t.text), Math.floor(length / MIN_BEAT_S)));
    const beat = length / beats;
    for (let i = 0; i < beats; i++) {
      const start = offsetS + t.startS + i * beat;
      open.push([round(start), round(start + beat * OPEN_SHARE)]);
    }
  }
  return open;
}

const round = (s: number) => Math.round(s * 1000) / 1000;

/**
 * Whose mouth is open when during a shot's clip: each dialogue line with its recording, placed
 * where the shot's audio puts it (lineLayout), as its speaker's beats. Narration moves no mouth.
 */
export function talkTracks(shot: ShotMaterial): TalkTrack[] {
  const { offsets } = lineLayout(shot);
  const bySpeaker = new Map<string, Array<[number, number]>>();
  for (const [i, line] of shot.lines.entries()) {
    if (line.kind !== "dialogue" || !line.speaker || !line.audio) continue;
    // A recording without timings (an upload) moves the mouth for its whole length.
    const timings = line.audio.timings.length
      ? line.audio.timings
      : [{ text: line.text, startS: 0, endS: line.audio.duration_s }];
    const open = mouthOpenings(timings, offsets[i]!);
    bySpeaker.set(line.speaker, [...(bySpeaker.get(line.speaker) ?? []), ...open]);
  }
  return [...bySpeaker].map(([name, open]) => ({ name, open }));
}

/** The shot's first speaker: drawn in front. */
export const firstSpeaker = (shot: Pick<ShotMaterial, "lines">): string | undefined =>
  shot.lines.find((l) => l.kind === "dialogue" && l.speaker)?.speaker ?? undefined;
