/** Language detection, sentence splitting and clipping shared by the analyser's stages. */

export type Lang = "zh" | "en";

function isHanCode(c: number): boolean {
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0xf900 && c <= 0xfaff);
}

/**
 * "zh" when Han characters dominate. One Han character carries about as much as one English word
 * (about five letters), so Han characters are weighed five times a Latin letter.
 */
export function detectLanguage(text: string): Lang {
  let han = 0;
  let latin = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isHanCode(c)) han++;
    else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 0xc0 && c <= 0x24f)) latin++;
  }
  return han > 0 && han * 5 >= latin ? "zh" : "en";
}

export const hasLetters = (s: string) => /[\p{L}\p{N}]/u.test(s);

/** Trims and cuts to `max` UTF-16 units (what the JSON schemas count), marking a cut with "…". */
export function clip(s: string, max: number): string {
  const t = s.trim();
  if (t.length <= max) return t;
  let cut = t.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut.trimEnd()}…`;
}

const OPENERS: Record<string, string> = {
  "「": "」",
  "『": "』",
  "“": "”",
  "‘": "’",
  "《": "》",
  "（": "）",
  "(": ")",
};
const ENDS = new Set(["。", "！", "？", "!", "?", "…"]);
const CLOSERS = new Set(["”", '"', "」", "』", "’", ")", "）", "》"]);
/** A "." after these does not end an English sentence. */
const ABBREVIATION = /(?:^|[\s(])(?:Mr|Mrs|Ms|Dr|St|Mt|Jr|Sr|Prof|Capt|Lt|Col|Gen|Sgt|Rev|vs)$/;

/**
 * Splits text into sentences, never inside a quotation (a quote and its attribution stay one
 * sentence), keeping end punctuation and closing quotes. "." ends an English sentence only before
 * whitespace or the end and not after a title such as "Mr".
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  let start = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i]!;
    if (c === "\n") {
      out.push(text.slice(start, i));
      start = i + 1;
      stack.length = 0;
      continue;
    }
    if (stack.length > 0 && c === stack[stack.length - 1]) {
      stack.pop();
      continue;
    }
    if (c === '"') {
      if (stack[stack.length - 1] === '"') stack.pop();
      else stack.push('"');
      continue;
    }
    const closer = OPENERS[c];
    if (closer !== undefined) {
      stack.push(closer);
      continue;
    }
    // An unclosed quotation must not swallow a whole chapter.
    if (stack.length > 0 && i - start < 1000) continue;
    const next = text[i + 1];
    const isEnd =
      ENDS.has(c) ||
      (c === "." &&
        (next === undefined || /\s/.test(next)) &&
        !ABBREVIATION.test(text.slice(Math.max(start, i - 6), i)));
    if (!isEnd) continue;
    while (i + 1 < n && (ENDS.has(text[i + 1]!) || text[i + 1] === "." || CLOSERS.has(text[i + 1]!))) {
      i++;
      if (stack.length > 0 && text[i] === stack[stack.length - 1]) stack.pop();
    }
    out.push(text.slice(start, i + 1));
    start = i + 1;
    stack.length = 0;
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter(hasLetters);
}

/** Joins sentences the way the language writes them. */
export const joinText = (parts: string[], lang: Lang) => parts.join(lang === "zh" ? "" : " ");
