/**
 * Long stories in parts: the text is cut at chapter headings (the local analyser's heading
 * rules), chapters longer than the budget at paragraph, line and sentence boundaries, and the
 * pieces packed into parts of at most `budget` characters. Every part knows which chapters of
 * the whole story it covers, so answers can be numbered as in the whole story.
 */
import { bookTitle, heading } from "../local/analyser/chapters.ts";
import { detectLanguage, hasLetters } from "../local/analyser/language.ts";

export interface SourcePart {
  text: string;
  firstChapter: number;
  lastChapter: number;
}

interface Chapter {
  index: number;
  text: string;
}

/** Chapters verbatim (heading lines included); a heading with nothing under it joins the next chapter. */
export function chaptersOf(source: string, options: { firstChapter?: number; detectTitle?: boolean } = {}): Chapter[] {
  const text = source.replace(/\r\n?/g, "\n");
  const lines = text.split("\n");
  const titleLine = options.detectTitle === false ? -1 : (bookTitle(lines, detectLanguage(text))?.line ?? -1);
  const out: Chapter[] = [];
  let current: string[] = [];
  let hasBody = false;
  let index = (options.firstChapter ?? 1) - 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const isHeading = heading(line) !== undefined;
    if (isHeading && hasBody) {
      out.push({ index: ++index, text: current.join("\n") });
      current = [];
      hasBody = false;
    }
    current.push(line);
    if (!isHeading && i !== titleLine && hasLetters(line)) hasBody = true;
  }
  if (current.some(hasLetters) || out.length === 0) out.push({ index: ++index, text: current.join("\n") });
  return out;
}

/** Boundaries to cut at, from the most to the least natural; the separator stays with the text before it. */
const BOUNDARIES = [/(?<=\n[ \t\u3000]*\n)/, /(?<=\n)/, /(?<=[。！？!?…][”"」』’)）]*\s*|\.[”"’)]*\s+)/u];

/** Pieces of at most `budget` characters, each cut at the most natural boundary that makes it fit. */
function atoms(text: string, budget: number, level: number): string[] {
  if (text.length <= budget) return [text];
  const boundary = BOUNDARIES[level];
  if (!boundary) {
    const out: string[] = [];
    let i = 0;
    while (i < text.length) {
      let end = Math.min(text.length, i + budget);
      // Never split a surrogate pair.
      if (end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
      out.push(text.slice(i, end));
      i = end;
    }
    return out;
  }
  return text
    .split(boundary)
    .filter((u) => u.length > 0)
    .flatMap((u) => atoms(u, budget, level + 1));
}

/** Cuts `text` into as few pieces of at most `budget` characters as its boundaries allow; joined, they are `text`. */
export function cutText(text: string, budget: number): string[] {
  const out: string[] = [];
  let current = "";
  for (const unit of atoms(text, budget, 0)) {
    if (current && current.length + unit.length > budget) {
      out.push(current);
      current = "";
    }
    current += unit;
  }
  if (current) out.push(current);
  return out;
}

/** Parts of at most `budget` characters (whitespace-only parts dropped). */
export function splitSource(
  source: string,
  budget: number,
  options: { firstChapter?: number; detectTitle?: boolean } = {},
): SourcePart[] {
  if (!(budget > 0)) throw new RangeError("the part budget must be positive");
  // A chapter's pieces join back as they were; chapters join with the newline the split removed.
  const pieces = chaptersOf(source, options).flatMap((c) =>
    cutText(c.text, budget).map((text, i) => ({ text, chapter: c.index, sep: i === 0 ? "\n" : "" })),
  );
  const parts: SourcePart[] = [];
  let current: SourcePart | undefined;
  for (const piece of pieces) {
    if (current && current.text.length + piece.sep.length + piece.text.length <= budget) {
      current.text += piece.sep + piece.text;
      current.lastChapter = piece.chapter;
      continue;
    }
    if (current) parts.push(current);
    current = { text: piece.text, firstChapter: piece.chapter, lastChapter: piece.chapter };
  }
  if (current) parts.push(current);
  return parts.filter((p) => p.text.trim().length > 0);
}
