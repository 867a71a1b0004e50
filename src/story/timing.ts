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
