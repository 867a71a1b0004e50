/** Chapters, paragraphs and scene boundaries: the text's structure before any reading of it. */
import { hasLetters, type Lang, splitSentences } from "./language.ts";

export interface RawChapter {
  index: number;
  title: string;
  lines: string[];
}

export interface Heading {
  text: string;
  /** "第三章", "Chapter 3": a position, not a name, so never the story's title. */
  numbered: boolean;
}

const ZH_NUMBER = "0-9０-９零〇一二三四五六七八九十百千万两";
const ZH_HEADING = new RegExp(`^第\\s*[${ZH_NUMBER}]+\\s*[章回节卷部集幕篇](?=$|[\\s:：、.．·\\-—])`, "u");
const EN_NUMBER =
  "\\d+|[ivxlcdm]+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty";
const EN_HEADING = new RegExp(`^(?:chapter|part|book)\\s+(?:${EN_NUMBER})\\b(?![,;])`, "i");
const NAMED_HEADING = /^(?:序章|序幕|楔子|引子|尾声|后记|终章|番外|prologue|epilogue)(?=$|[\s:：、.·—-])/i;
const MARKDOWN = /^#{1,6}\s+(.+?)\s*#*$/;

/** A chapter heading line, or undefined. */
export function heading(line: string): Heading | undefined {
  const t = line.trim();
  if (t.length === 0 || t.length > 80) return undefined;
  const md = MARKDOWN.exec(t);
  if (md) {
    const text = md[1]!.trim();
    return { text, numbered: ZH_HEADING.test(text) || EN_HEADING.test(text) };
  }
  // A heading is a short line, not a sentence.
  if (/[。，,；;]$/.test(t)) return undefined;
  if (ZH_HEADING.test(t) && t.length <= 40) return { text: t, numbered: true };
  if (EN_HEADING.test(t) && t.length <= 60) return { text: t, numbered: true };
  if (NAMED_HEADING.test(t) && t.length <= 40) return { text: t, numbered: false };
  return undefined;
}

/** A scene-break line: "***", "* * *", "---", "——", "◇". */
export function isSceneBreak(line: string): boolean {
  const t = line.trim();
  if (t.length === 0 || t.length > 24) return false;
  return /^(?:[*＊]\s*)+$|^(?:[-－]\s*){3,}$|^(?:[—–]\s*){2,}$|^(?:[◇◆○●□■☆★§※~～=＝·]\s*)+$/u.test(t);
}

/**
 * The story's own title: a first line that is a markdown heading with nothing under it before
 * the next heading, or a short first line that is neither a heading nor a sentence.
 */
export function bookTitle(lines: string[], lang: Lang): { title: string; line: number } | undefined {
  const first = lines.findIndex((l) => l.trim().length > 0);
  if (first < 0) return undefined;
  const t = lines[first]!.trim();
  const md = MARKDOWN.exec(t);
  if (md) {
    const next = lines.findIndex((l, i) => i > first && l.trim().length > 0);
    if (next >= 0 && heading(lines[next]!) && !heading(t)?.numbered) return { title: md[1]!.trim(), line: first };
    return undefined;
  }
  if (heading(t) || isSceneBreak(t)) return undefined;
  const short = lang === "zh" ? t.length <= 25 : t.length <= 60;
  if (short && !/[。！？!?.…,，;；:："“”「」『』]$/.test(t) && !/["“”「」『』]/.test(t))
    return { title: t, line: first };
  return undefined;
}

/** Chapters in order, one at a time; text without headings is one chapter. */
export function* splitChapters(text: string, lang: Lang): Generator<RawChapter> {
  const lines = text.split("\n");
  const skip = bookTitle(lines, lang)?.line ?? -1;
  let index = 0;
  let title = "";
  let body: string[] = [];
  const fill = (t: string, i: number) => t || (lang === "zh" ? `第${i}章` : `Chapter ${i}`);
  for (let i = 0; i < lines.length; i++) {
    if (i === skip) continue;
    const h = heading(lines[i]!);
    if (!h) {
      body.push(lines[i]!);
      continue;
    }
    // A heading with nothing under it ("Part One" before "Chapter 1") is not a chapter.
    if (body.some(hasLetters)) {
      index++;
      yield { index, title: fill(title, index), lines: body };
    }
    title = h.text;
    body = [];
  }
  if (body.some(hasLetters) || index === 0) {
    index++;
    yield { index, title: fill(title, index), lines: body };
  }
}

export type Block = { kind: "para"; text: string } | { kind: "break" };

const PARAGRAPH_END = /[。！？!?…”"」』’.)）\]]$/;
/** Longer paragraphs are cut at sentence ends so that scenes can be capped. */
const MAX_PARAGRAPH = 600;

/**
 * Paragraphs from lines: a blank line or a line ending a sentence closes a paragraph, so
 * hard-wrapped English (Project Gutenberg) is joined back while one-line Chinese paragraphs stay.
 */
export function paragraphs(lines: string[], lang: Lang): Block[] {
  const out: Block[] = [];
  let current = "";
  const flush = () => {
    if (hasLetters(current)) {
      for (const piece of cutLong(current, lang)) out.push({ kind: "para", text: piece });
    }
    current = "";
  };
  for (const line of lines) {
    const t = line.replace(/^[\s\u3000]+|[\s\u3000]+$/g, "");
    if (!t) {
      flush();
      continue;
    }
    if (isSceneBreak(t)) {
      flush();
      out.push({ kind: "break" });
      continue;
    }
    current = current ? current + (lang === "en" ? " " : "") + t : t;
    if (PARAGRAPH_END.test(t)) flush();
  }
  flush();
  return out;
}

/** A run-on "sentence" without end punctuation is cut at a comma or space, else anywhere. */
function hardCut(sentence: string): string[] {
  const out: string[] = [];
  let rest = sentence;
  while (rest.length > MAX_PARAGRAPH) {
    const head = rest.slice(0, MAX_PARAGRAPH);
    const at = Math.max(head.lastIndexOf("，"), head.lastIndexOf(","), head.lastIndexOf("；"), head.lastIndexOf(" "));
    const cut = at > MAX_PARAGRAPH / 2 ? at + 1 : MAX_PARAGRAPH;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  out.push(rest);
  return out;
}

function cutLong(text: string, lang: Lang): string[] {
  if (text.length <= MAX_PARAGRAPH) return [text];
  const out: string[] = [];
  let current = "";
  for (const s of splitSentences(text).flatMap(hardCut)) {
    if (current && current.length + s.length > MAX_PARAGRAPH) {
      out.push(current);
      current = "";
    }
    current = current ? current + (lang === "en" ? " " : "") + s : s;
  }
  if (current) out.push(current);
  return out;
}

const ZH_SCENE_START = new RegExp(
  "^(?:第二天|次日|翌日|隔天|夜深了|天黑了|天亮了|夜幕降临|当晚|当天晚上|那天晚上|那天夜里|这天晚上|深夜|半夜|傍晚|黄昏|清晨|黎明|与此同时|同一时间|同一时刻|另一边|" +
    `[${ZH_NUMBER}几数]+(?:个)?(?:天|日|周|星期|月|年|小时)(?:后|以后|之后|过去了)|不久后|回到|来到|走进)` +
    '|^[^。！？，,“「"]{1,6}(?:回到|来到|走进|赶到|到了)',
  "u",
);
const EN_SCENE_START =
  /^(?:the next (?:morning|day|evening|night)|the following (?:morning|day|evening)|next morning|that (?:night|evening|afternoon|morning)|later that (?:day|night|evening|morning)|meanwhile|at dawn|at dusk|by nightfall|(?:\w+ )?(?:hours|days|weeks|months|years) later|back (?:at|in) )|^[^.!?"“]{0,40}\b(?:arrived at|walked into|stepped into|entered the|returned to)\b/i;

/** Does this paragraph open a new scene (a change of time or place)? */
export function opensScene(text: string, lang: Lang): boolean {
  return lang === "zh" ? ZH_SCENE_START.test(text) : EN_SCENE_START.test(text);
}

/** No scene grows past about this many characters. */
export const SCENE_CAP = 1500;

/** Scenes as lists of paragraph texts: at break lines, time or place changes and the size cap. */
export function splitScenes(blocks: Block[], lang: Lang): string[][] {
  const scenes: string[][] = [];
  let current: string[] = [];
  let size = 0;
  const flush = () => {
    if (current.length) scenes.push(current);
    current = [];
    size = 0;
  };
  for (const b of blocks) {
    if (b.kind === "break") {
      flush();
      continue;
    }
    if (current.length && (opensScene(b.text, lang) || size + b.text.length > SCENE_CAP)) flush();
    current.push(b.text);
    size += b.text.length;
  }
  flush();
  return scenes;
}
