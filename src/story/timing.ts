/** When one sentence of spoken audio starts and ends, in seconds from the audio's start. */
export interface SpeechTiming {
  text: string;
  startS: number;
  endS: number;
}

/**
 * How long spoken text takes: Mandarin at about 4.6 syllables (characters) a second and English
 * at about 2.9 words a second at normal speed (espeak-ng's 175 wpm, close to a calm narrator),
 * plus a short pause per sentence. Used to size shots before any audio exists.
 */
export function estimateSpeechS(text: string, speed = 1): number {
  const han = (text.match(/\p{Script=Han}/gu) ?? []).length;
  const words = (text.replace(/\p{Script=Han}/gu, " ").match(/[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu) ?? []).length;
  const pauses = (text.match(/[。！？!?；;…]|\.(?=\s|$)/g) ?? []).length;
  return (han / 4.6 + words / 2.9 + pauses * 0.15) / speed;
}

/** A shot lasts as long as its narration and dialogue take to say, with air around them. */
export function shotDurationS(spoken: string[], speed = 1): number {
  const speech = spoken.reduce((s, t) => s + estimateSpeechS(t, speed), 0) + Math.max(0, spoken.length - 1) * 0.3;
  const seconds = speech === 0 ? 3 : speech + 0.8;
  return Math.min(60, Math.max(2, Math.round(seconds * 10) / 10));
}

/**
 * Shot lengths fitted to what the project asks (`duration_seconds` for the whole video, else
 * `duration_per_scene` for each scene), in proportion to the storyboard's own lengths, to a tenth
 * of a second, then raised to `shot_duration_s`. Each shot keeps at least a second, and the voice
 * stage later lengthens a shot whose speech needs more (so a target is a target, not a cut).
 */
export function fitDurations<T extends { sceneId: string; durationS: number }>(
  shots: T[],
  options: { duration_seconds?: number; duration_per_scene?: number; shot_duration_s?: number },
): T[] {
  const scaled = (group: T[], target: number) => {
    const total = group.reduce((sum, s) => sum + s.durationS, 0);
    return new Map(group.map((s) => [s, total > 0 ? (s.durationS * target) / total : target / group.length]));
  };
  let lengths = new Map(shots.map((s) => [s, s.durationS]));
  if (options.duration_seconds) lengths = scaled(shots, options.duration_seconds);
  else if (options.duration_per_scene) {
    lengths = new Map();
    const scenes = new Map<string, T[]>();
    for (const s of shots) scenes.set(s.sceneId, [...(scenes.get(s.sceneId) ?? []), s]);
    for (const group of scenes.values())
      for (const [s, d] of scaled(group, options.duration_per_scene!)) lengths.set(s, d);
  }
  const floor = Math.max(1, options.shot_duration_s ?? 1);
  return shots.map((s) => ({ ...s, durationS: Math.max(floor, Math.round(lengths.get(s)! * 10) / 10) }));
}
