import type { SpeechTiming } from "../story/timing.ts";
import { assFontName } from "./fonts.ts";
import type { SubtitleStyle } from "./timeline.ts";

/** One subtitle on screen, in seconds of the video it belongs to. */
export interface Cue {
  startS: number;
  endS: number;
  text: string;
}

const MAX_HAN = 18;
const MAX_LATIN = 48;

/** Splits a long sentence into pieces that fit one subtitle line, at punctuation or spaces. */
function pieces(text: string): string[] {
  const han = /\p{Script=Han}/u.test(text);
  const max = han ? MAX_HAN : MAX_LATIN;
  if ([...text].length <= max) return [text];
  const parts = han ? text.split(/(?<=[，、：；,;:])/u) : text.split(/(?<=[,;:]\s|\s)/u);
  const out: string[] = [];
  let line = "";
  for (const part of parts) {
    if (line && [...(line + part)].length > max) {
      out.push(line.trim());
      line = "";
    }
    line += part;
    while ([...line].length > max * 1.5) {
      out.push([...line].slice(0, max).join("").trim());
      line = [...line].slice(max).join("");
    }
  }
  if (line.trim()) out.push(line.trim());
  return out;
}

/**
 * Cues for one piece of speech placed at `atS` of the video: a cue per sentence timing, long
 * sentences split with their time shared by length. Without timings the whole text is one span.
 */
export function speechCues(
  atS: number,
  text: string,
  timings: SpeechTiming[] | undefined,
  spokenS: number,
  untilS: number,
): Cue[] {
  const spans = timings?.length ? timings : [{ text, startS: 0, endS: spokenS }];
  const cues: Cue[] = [];
  for (const span of spans) {
    const parts = pieces(span.text.trim());
    const total = parts.reduce((n, p) => n + [...p].length, 0) || 1;
    let t = span.startS;
    for (const part of parts) {
      const d = ((span.endS - span.startS) * [...part].length) / total;
      const startS = atS + t;
      const endS = Math.min(untilS, atS + t + d);
      if (endS - startS >= 0.05 && part) cues.push({ startS, endS, text: part });
      t += d;
    }
  }
  return cues;
}

const pad = (n: number | string, w = 2) => String(n).padStart(w, "0");

function clock(s: number, sep: "," | ".", msDigits: 2 | 3) {
  const cs = Math.round(s * (msDigits === 3 ? 1000 : 100));
  const unit = msDigits === 3 ? 1000 : 100;
  const frac = cs % unit;
  const whole = Math.floor(cs / unit);
  return `${pad(Math.floor(whole / 3600), msDigits === 3 ? 2 : 1)}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}${sep}${pad(frac, msDigits)}`;
}

export function toSrt(cues: Cue[]): string {
  return cues
    .map((c, i) => `${i + 1}\n${clock(c.startS, ",", 3)} --> ${clock(c.endS, ",", 3)}\n${c.text}\n`)
    .join("\n");
}

export function toVtt(cues: Cue[]): string {
  return `WEBVTT\n\n${cues.map((c) => `${clock(c.startS, ".", 3)} --> ${clock(c.endS, ".", 3)}\n${c.text.replace(/&/g, "&amp;").replace(/</g, "&lt;")}\n`).join("\n")}`;
}

/** #RRGGBB and opacity as ASS's &HAABBGGRR (alpha 00 is opaque). */
function assColour(hex: string, opacity = 1) {
  const [r, g, b] = [1, 3, 5].map((i) => hex.slice(i, i + 2).toUpperCase());
  return `&H${pad(
    Math.round((1 - opacity) * 255)
      .toString(16)
      .toUpperCase(),
  )}${b}${g}${r}`;
}

/** The resolved style: size in pixels of the output height, colours, position, box. */
export function resolveStyle(style: SubtitleStyle | undefined, height: number): Required<SubtitleStyle> {
  return {
    font: style?.font ?? "Noto Sans SC",
    size: style?.size ?? Math.round(height * 0.055),
    colour: style?.colour ?? "#FFFFFF",
    position: style?.position ?? "bottom",
    box: style?.box ?? true,
    boxColour: style?.boxColour ?? "#000000",
    boxOpacity: style?.boxOpacity ?? 0.55,
  };
}

/** An ASS script whose coordinates are the output's pixels, so sizes mean what they say. */
export function toAss(cues: Cue[], size: { width: number; height: number }, style: SubtitleStyle | undefined): string {
  const s = resolveStyle(style, size.height);
  const alignment = { bottom: 2, middle: 5, top: 8 }[s.position];
  // BorderStyle 3 draws an opaque box behind the text (its colour is OutlineColour); 1 outlines the glyphs.
  const border = s.box ? `3,${Math.round(s.size * 0.2)},0` : `1,${Math.max(1, Math.round(s.size * 0.06))},0`;
  const outline = s.box ? assColour(s.boxColour, s.boxOpacity) : assColour("#000000", 1);
  const margin = Math.round(size.height * 0.06);
  // libass has no escape for "\" ("\\" shows both, and "\N", "\n", "\h" still act): a word joiner
  // (zero-width) after each backslash keeps it literal. "{" would open an override block: "\{".
  const escapeAss = (t: string) => t.replace(/\\/g, "\\\u2060").replace(/\{/g, "\\{").replace(/\n/g, "\\N");
  return [
    "[Script Info]",
    "ScriptType: v4.00+",
    `PlayResX: ${size.width}`,
    `PlayResY: ${size.height}`,
    "WrapStyle: 0",
    "ScaledBorderAndShadow: yes",
    "",
    "[V4+ Styles]",
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
    `Style: Default,${assFontName(s.font)},${s.size},${assColour(s.colour)},${assColour(s.colour)},${outline},${outline},0,0,0,0,100,100,0,0,${border},${alignment},${margin},${margin},${margin},1`,
    "",
    "[Events]",
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ...cues.map(
      (c) => `Dialogue: 0,${clock(c.startS, ".", 2)},${clock(c.endS, ".", 2)},Default,,0,0,0,,${escapeAss(c.text)}`,
    ),
    "",
  ].join("\n");
}
