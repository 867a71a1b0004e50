/**
 * Answers for the parts of a long story, merged into one answer for the whole: chapters and
 * summaries joined, characters met again merged by name, scenes and shots concatenated and
 * renumbered so their ids stay unique and keep the schema's shape (c{n}s{m}, c{n}s{m}h{k}).
 * Each merger also digests what the parts so far gave, for the next part's prompt.
 */
import type { Character, Scene, Shot, Storyline } from "../../story/schemas.ts";
import { clip } from "../local/analyser/language.ts";
import type { SourcePart } from "./split-source.ts";

export interface PartAnswer<T = unknown> {
  data: T;
  part: SourcePart;
}

export interface Merger {
  merge(answers: PartAnswer[]): unknown;
  /** What earlier parts gave, in at most `max` characters. */
  digest(merged: unknown, max: number): string;
}

/**
 * A chapter number as the model gave it, placed in the part's chapters: taken as is when it is
 * one of them, as counted from the part's first chapter when it is small enough, else clamped.
 */
export function chapterIn(n: number, part: SourcePart): number {
  if (n >= part.firstChapter && n <= part.lastChapter) return n;
  const span = part.lastChapter - part.firstChapter + 1;
  if (n >= 1 && n <= span) return part.firstChapter + n - 1;
  return Math.min(part.lastChapter, Math.max(part.firstChapter, n));
}

/** Sequential numbers per key, in order of first request. */
function counter() {
  const next = new Map<number, number>();
  return (key: number) => {
    const n = (next.get(key) ?? 0) + 1;
    next.set(key, n);
    return n;
  };
}

const joinText = (texts: string[]) => {
  const parts = texts.map((t) => t.trim()).filter(Boolean);
  // No space between CJK sentences, one between others.
  return parts.reduce((acc, t) => (!acc ? t : /[\u3000-\u9fff\uff00-\uffef]$/.test(acc) ? acc + t : `${acc} ${t}`), "");
};

/** The last lines that fit in `max` characters (the most recent context matters most). */
function tail(lines: string[], max: number): string {
  const out: string[] = [];
  let size = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (size + line.length + 1 > max) break;
    out.unshift(line);
    size += line.length + 1;
  }
  return out.join("\n");
}

const storyline: Merger = {
  merge(answers) {
    const all = answers as PartAnswer<Storyline>[];
    const first = all[0]!.data;
    const pick = (f: (s: Storyline) => string) => all.map((a) => f(a.data)).find((v) => v.trim()) ?? f(first);
    const chapters = new Map<number, { index: number; title: string; summaries: string[] }>();
    for (const { data, part } of all) {
      for (const c of data.chapters) {
        const index = chapterIn(c.index, part);
        const entry = chapters.get(index) ?? { index, title: "", summaries: [] };
        if (!entry.title.trim()) entry.title = c.title;
        entry.summaries.push(c.summary);
        chapters.set(index, entry);
      }
    }
    const languages = all.map((a) => a.data.language);
    const zh = languages.filter((l) => l === "zh").length;
    return {
      title: pick((s) => s.title),
      logline: pick((s) => s.logline),
      summary: clip(joinText(all.map((a) => a.data.summary)), 4000),
      tone: pick((s) => s.tone),
      genre: pick((s) => s.genre),
      language: zh * 2 > languages.length ? "zh" : zh * 2 < languages.length ? "en" : first.language,
      chapters: [...chapters.values()]
        .sort((a, b) => a.index - b.index)
        .map((c) => ({ index: c.index, title: clip(c.title, 200), summary: clip(joinText(c.summaries), 2000) })),
    } satisfies Storyline;
  },
  digest(merged, max) {
    const s = merged as Storyline;
    const chapters = s.chapters.map((c) => `Chapter ${c.index}${c.title ? ` "${c.title}"` : ""}: ${c.summary}`);
    return clip(tail([`Title: ${s.title}`, `Story so far: ${s.summary}`, ...chapters], max) || s.summary, max);
  },
};

const ROLE_RANK: Record<Character["role"], number> = { protagonist: 3, antagonist: 2, supporting: 1, minor: 0 };
const key = (name: string) => name.normalize("NFKC").trim().toLowerCase();

const characters: Merger = {
  merge(answers) {
    const out: Character[] = [];
    const find = (c: Character) => {
      const names = new Set([c.name, ...c.aliases].map(key));
      return out.find((o) => [o.name, ...o.aliases].some((n) => names.has(key(n))));
    };
    for (const { data } of answers as PartAnswer<{ characters: Character[] }>[]) {
      for (const c of data.characters) {
        const known = find(c);
        if (!known) {
          out.push(structuredClone(c));
          continue;
        }
        const aliases = new Map(known.aliases.map((a) => [key(a), a]));
        for (const a of [c.name, ...c.aliases])
          if (key(a) !== key(known.name) && !aliases.has(key(a))) aliases.set(key(a), a);
        known.aliases = [...aliases.values()];
        if (ROLE_RANK[c.role] > ROLE_RANK[known.role]) known.role = c.role;
        if (known.gender === "unknown") known.gender = c.gender;
        if (known.age === "unknown") known.age = c.age;
        if (!known.description.trim()) known.description = c.description;
        if (!known.personality.trim()) known.personality = c.personality;
        known.lines += c.lines;
      }
    }
    return { characters: out };
  },
  digest(merged, max) {
    const list = (merged as { characters: Character[] }).characters;
    const lines = list.map((c) => `${c.name}${c.aliases.length ? ` (also ${c.aliases.join(", ")})` : ""}: ${c.role}`);
    return clip(`Characters found so far (use these exact names again):\n${lines.join("\n")}`, max);
  },
};

const SCENE_ID = /^c([0-9]+)s([0-9]+)$/;

const scenes: Merger = {
  merge(answers) {
    const next = counter();
    const out: Scene[] = [];
    for (const { data, part } of answers as PartAnswer<{ scenes: Scene[] }>[]) {
      for (const s of data.scenes) {
        const chapter = chapterIn(s.chapter, part);
        out.push({ ...s, id: `c${chapter}s${next(chapter)}`, chapter });
      }
    }
    return { scenes: out };
  },
  digest(merged, max) {
    const list = (merged as { scenes: Scene[] }).scenes;
    return tail(
      [
        "Scenes so far (continue after them):",
        ...list.map((s) => `${s.id} (chapter ${s.chapter}) ${s.location}, ${s.timeOfDay}: ${clip(s.summary, 200)}`),
      ],
      max,
    );
  },
};

const storyboard: Merger = {
  merge(answers) {
    const nextScene = counter();
    const shotsIn = new Map<string, number>();
    const out: Shot[] = [];
    for (const { data, part } of answers as PartAnswer<{ shots: Shot[] }>[]) {
      // A part's own scene ids, renamed into the whole story's.
      const renamed = new Map<string, string>();
      for (const shot of data.shots) {
        let sceneId = renamed.get(shot.sceneId);
        if (!sceneId) {
          const chapter = chapterIn(Number(SCENE_ID.exec(shot.sceneId)?.[1] ?? part.firstChapter), part);
          sceneId = `c${chapter}s${nextScene(chapter)}`;
          renamed.set(shot.sceneId, sceneId);
        }
        const k = (shotsIn.get(sceneId) ?? 0) + 1;
        shotsIn.set(sceneId, k);
        out.push({ ...shot, id: `${sceneId}h${k}`, sceneId });
      }
    }
    return { shots: out };
  },
  digest(merged, max) {
    const list = (merged as { shots: Shot[] }).shots;
    return tail(
      [
        "Shots so far (continue after them):",
        ...list.map((s) => `${s.id}: ${clip(s.description, 160)}${s.narration ? ` / ${clip(s.narration, 120)}` : ""}`),
      ],
      max,
    );
  },
};

/** Schemas whose answers can be merged across parts, by `$id`. */
export const MERGERS: Record<string, Merger> = {
  "inkreel.storyline": storyline,
  "inkreel.characters": characters,
  "inkreel.scenes": scenes,
  "inkreel.storyboard": storyboard,
};
