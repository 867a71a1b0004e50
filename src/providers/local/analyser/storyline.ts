/** The storyline: title, logline, summary, tone and genre of the whole story. */
import type { Storyline } from "../../../story/schemas.ts";
import type { Mood } from "../../types.ts";
import { clip, joinText, type Lang } from "./language.ts";
import { type MoodScores, moodOf } from "./scenes.ts";

const GENRES: Array<{ zh: string; en: string; re: Record<Lang, RegExp> }> = [
  {
    zh: "爱情",
    en: "romance",
    re: { zh: /爱|喜欢|心动|吻|恋|婚/gu, en: /\b(?:love\w*|kiss\w*|romance|romantic|married|wedding)\b/gi },
  },
  {
    zh: "武侠",
    en: "martial arts",
    re: { zh: /江湖|剑|武功|掌门|侠|内力/gu, en: /\b(?:swords?|swordsman|martial|kung fu)\b/gi },
  },
  {
    zh: "奇幻",
    en: "fantasy",
    re: {
      zh: /魔法|法术|龙|仙|修炼|妖|精灵|咒/gu,
      en: /\b(?:magic\w*|dragons?|spells?|wizards?|witch\w*|elves|elf|fairy)\b/gi,
    },
  },
  {
    zh: "科幻",
    en: "science fiction",
    re: {
      zh: /飞船|星球|机器人|外星|宇宙|星际|人工智能/gu,
      en: /\b(?:spaceships?|planets?|robots?|aliens?|galax\w*|starships?)\b/gi,
    },
  },
  {
    zh: "悬疑",
    en: "mystery",
    re: { zh: /案|侦探|线索|凶手|警察|失踪/gu, en: /\b(?:detective|murder\w*|clues?|police|suspects?|missing)\b/gi },
  },
  {
    zh: "恐怖",
    en: "horror",
    re: { zh: /鬼|恐怖|尸|幽灵|诅咒/gu, en: /\b(?:ghosts?|horror|corpses?|haunt\w*|curse[sd]?)\b/gi },
  },
  {
    zh: "历史",
    en: "historical",
    re: { zh: /皇帝|将军|朝廷|士兵|王朝|战争/gu, en: /\b(?:emperor|kings?|queens?|soldiers?|generals?|war)\b/gi },
  },
];
const DEFAULT_GENRE: Record<Lang, string> = { zh: "生活", en: "slice of life" };

export type GenreScores = Record<string, number>;

/** Keyword counts per genre (keyed by the English label). */
export function genreScores(text: string, lang: Lang): GenreScores {
  return Object.fromEntries(GENRES.map((g) => [g.en, text.match(g.re[lang])?.length ?? 0]));
}

/** The genre with the most keywords, if it has at least two; else everyday life. */
export function genreOf(scores: GenreScores, lang: Lang): string {
  let best: (typeof GENRES)[number] | undefined;
  for (const g of GENRES) if ((scores[g.en] ?? 0) >= 2 && (!best || scores[g.en]! > scores[best.en]!)) best = g;
  return best ? best[lang] : DEFAULT_GENRE[lang];
}

const TONES: Record<Lang, Record<Mood, string>> = {
  zh: { calm: "平静", happy: "温暖明快", sad: "忧伤", tense: "紧张", epic: "壮阔", mysterious: "神秘" },
  en: {
    calm: "calm",
    happy: "warm and light",
    sad: "melancholic",
    tense: "tense",
    epic: "epic",
    mysterious: "mysterious",
  },
};

export interface StorylineInput {
  lang: Lang;
  /** The story's own title line, if any. */
  title?: string;
  protagonist?: { name: string; first: string };
  firstLocation?: string;
  firstSentence: string;
  chapters: Storyline["chapters"];
  moods: MoodScores;
  genres: GenreScores;
}

const SUMMARY_MAX = 4000;

/** Chapter summaries in order; with many chapters, every k-th so the summary spans the whole story. */
function summaryOf(chapters: Storyline["chapters"], lang: Lang): string {
  const parts = chapters.map((c) => c.summary).filter(Boolean);
  const total = parts.reduce((n, p) => n + p.length + 1, 0);
  const stride = Math.max(1, Math.ceil(total / (SUMMARY_MAX - 200)));
  return clip(
    joinText(
      parts.filter((_, i) => i % stride === 0),
      lang,
    ),
    SUMMARY_MAX,
  );
}

export function buildStoryline(input: StorylineInput): Storyline {
  const { lang } = input;
  const derived = input.protagonist
    ? lang === "zh"
      ? `${input.protagonist.name}的故事`
      : `The Story of ${input.protagonist.name}`
    : input.firstLocation
      ? lang === "zh"
        ? `${input.firstLocation}的故事`
        : `The ${input.firstLocation.replace(/\b\w/g, (c) => c.toUpperCase())}`
      : lang === "zh"
        ? "无题"
        : "Untitled";
  return {
    title: clip(input.title || derived, 200),
    logline: clip(input.protagonist?.first || input.firstSentence, 500),
    summary: summaryOf(input.chapters, lang),
    tone: clip(TONES[lang][moodOf(input.moods)], 100),
    genre: clip(genreOf(input.genres, lang), 100),
    language: lang,
    chapters: input.chapters,
  };
}
