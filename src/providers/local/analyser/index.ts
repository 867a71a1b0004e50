/**
 * The offline story analyser: a deterministic, rule-based reading of a Chinese or English story
 * into the storyline, characters, scenes and storyboard schemas. Chapters are analysed one at a
 * time (`analyseChapters` streams them); `analyseStory` folds them into one analysis.
 */
import {
  type Character,
  CharactersSchema,
  type Scene,
  ScenesSchema,
  type Shot,
  type StoryAnalysis,
  StoryboardSchema,
  StorylineSchema,
  type TimeOfDay,
  validate,
} from "../../../story/schemas.ts";
import { bookTitle, heading, paragraphs, splitChapters, splitScenes } from "./chapters.ts";
import {
  characterRecords,
  createRegistry,
  discoverAliases,
  discoverRecurring,
  expandNames,
  type Person,
} from "./characters.ts";
import { type Beat, createTalk, discoverSpeakers, parseParagraph, scriptScene } from "./dialogue.ts";
import { clip, detectLanguage, joinText, type Lang, splitSentences } from "./language.ts";
import { emptyMoods, locationOf, type MoodScores, moodOf, moodScores, timeOf, unknownPlace } from "./scenes.ts";
import { shotsFor } from "./storyboard.ts";
import { buildStoryline, type GenreScores, genreScores } from "./storyline.ts";

export const MIN_STORY_CHARS = 50;
export const MAX_STORY_CHARS = 200_000;

export interface ChapterResult {
  language: Lang;
  chapter: { index: number; title: string; summary: string };
  scenes: Scene[];
  shots: Shot[];
  /** The characters seen in this chapter, with their counts over the story so far. */
  characters: Character[];
  /** Keyword scores of this chapter, folded into the storyline's tone and genre. */
  moods: MoodScores;
  genres: GenreScores;
}

/** Throws a RangeError unless `text` is a story the analyser can read. */
export function checkStoryText(text: unknown): asserts text is string {
  if (typeof text !== "string") throw new RangeError("the story text must be a string");
  let n = 0;
  for (const _ of text.trim()) n++;
  if (n < MIN_STORY_CHARS)
    throw new RangeError(`the story text is too short: ${n} characters, at least ${MIN_STORY_CHARS} are needed`);
  if (n > MAX_STORY_CHARS)
    throw new RangeError(`the story text is too long: ${n} characters, at most ${MAX_STORY_CHARS} are allowed`);
  if (!/\p{L}/u.test(text)) throw new RangeError("the story text has no letters");
}

const SUMMARY_CHARS: Record<Lang, number> = { zh: 300, en: 500 };

/** The first sentences of some beats: narration if there is any, else the first line. */
function summarise(beats: Beat[], lang: Lang, sentences = 2): string {
  const narration = beats.filter((b) => b.kind === "narration").slice(0, sentences);
  if (narration.length)
    return clip(
      joinText(
        narration.map((b) => b.text),
        lang,
      ),
      SUMMARY_CHARS[lang],
    );
  const line = beats.find((b) => b.kind === "line");
  return line?.kind === "line"
    ? clip(`${line.speaker}${lang === "zh" ? "：" : ": "}${line.text}`, SUMMARY_CHARS[lang])
    : "";
}

/** One run over a story: chapters stream out while the cast and setting carry over. */
function createAnalysis(source: string) {
  const text = source.replace(/\r\n?/g, "\n");
  const lang = detectLanguage(text);
  const reg = createRegistry(lang);
  const talk = createTalk();
  let location: string | undefined;
  let time: TimeOfDay | undefined;
  let firstSentence = "";
  let firstLocation: string | undefined;

  function* chapters(): Generator<ChapterResult> {
    for (const raw of splitChapters(text, lang)) {
      const scenesText = splitScenes(paragraphs(raw.lines, lang), lang);
      const parsed = scenesText.map((s) => s.map(parseParagraph));
      const all = parsed.flat();
      // Find the cast first, so pronouns and bare quotes can resolve against the whole chapter.
      discoverSpeakers(all, reg, lang);
      discoverRecurring(
        reg,
        all.flatMap((p) => p.pieces.filter((x) => x.kind === "text").flatMap((x) => splitSentences(x.text))),
      );
      const chapterText = raw.lines.join("\n");
      expandNames(reg, chapterText);
      discoverAliases(reg, chapterText);

      const scenes: Scene[] = [];
      const shots: Shot[] = [];
      const chapterBeats: Beat[] = [];
      const seen = new Set<string>();
      const moods = emptyMoods();
      parsed.forEach((paras, k) => {
        const whole = scenesText[k]!.join("\n");
        const narration = paras.flatMap((p) => p.pieces.filter((x) => x.kind === "text").map((x) => x.text)).join("\n");
        const place = locationOf(narration, lang);
        location = place ?? location;
        firstLocation ??= place;
        time = timeOf(whole, lang) ?? time ?? "day";
        const scores = moodScores(whole, lang);
        for (const m of Object.keys(moods) as Array<keyof MoodScores>) moods[m] += scores[m];
        const beats = scriptScene(paras, reg, talk, lang);
        if (beats.length === 0) return;
        const id = `c${raw.index}s${scenes.length + 1}`;
        const mood = moodOf(scores);
        const present = [...new Set(beats.flatMap((b) => b.names))];
        for (const n of present) seen.add(n);
        scenes.push({
          id,
          chapter: raw.index,
          location: clip(location ?? unknownPlace(lang), 200),
          timeOfDay: time,
          mood,
          summary: summarise(beats, lang),
          characters: present.map((n) => clip(n, 60)),
        });
        shots.push(
          ...shotsFor({ id, opensChapter: scenes.length === 1, location, timeOfDay: time, mood }, beats, lang),
        );
        chapterBeats.push(...beats);
      });
      firstSentence ||= chapterBeats.find((b) => b.kind === "narration")?.text ?? "";
      const characters = characterRecords(people(), lang).filter((c) => seen.has(c.name));
      validate(ScenesSchema, { scenes });
      validate(StoryboardSchema, { shots });
      validate(CharactersSchema, { characters });
      yield {
        language: lang,
        chapter: { index: raw.index, title: clip(raw.title, 200), summary: clip(summarise(chapterBeats, lang), 2000) },
        scenes,
        shots,
        characters,
        moods,
        genres: genreScores(chapterText, lang),
      };
    }
  }

  /** Everyone who was mentioned or spoke. */
  const people = (): Person[] => [...reg.people.values()].filter((p) => p.lines + p.mentions > 0);

  /** The title: the story's own title line, else its first heading if that is a name, not a number. */
  function title(): string | undefined {
    const lines = text.split("\n");
    const own = bookTitle(lines, lang)?.title;
    if (own) return own;
    for (const line of lines) {
      const h = heading(line);
      if (h) return h.numbered ? undefined : h.text;
    }
    return undefined;
  }

  return { lang, chapters, people, title, firstSentence: () => firstSentence, firstLocation: () => firstLocation };
}

/** Analyses a story chapter by chapter; each result can be used (or stored) before the next is read. */
export function analyseChapters(text: string): Generator<ChapterResult> {
  checkStoryText(text);
  return createAnalysis(text).chapters();
}

/** The whole analysis of a story, each part checked against its schema. */
export function analyseStory(text: string): StoryAnalysis {
  checkStoryText(text);
  const run = createAnalysis(text);
  const chapters: ChapterResult["chapter"][] = [];
  const scenes: Scene[] = [];
  const shots: Shot[] = [];
  const moods = emptyMoods();
  const genres: GenreScores = {};
  for (const r of run.chapters()) {
    chapters.push(r.chapter);
    scenes.push(...r.scenes);
    shots.push(...r.shots);
    for (const m of Object.keys(moods) as Array<keyof MoodScores>) moods[m] += r.moods[m];
    for (const [g, n] of Object.entries(r.genres)) genres[g] = (genres[g] ?? 0) + n;
  }
  const people = run.people();
  const characters = characterRecords(people, run.lang);
  const lead = characters[0] && people.find((p) => p.name === characters[0]!.name);
  const storyline = buildStoryline({
    lang: run.lang,
    title: run.title(),
    protagonist: lead && { name: lead.name, first: lead.first },
    firstLocation: run.firstLocation(),
    firstSentence: run.firstSentence(),
    chapters,
    moods,
    genres,
  });
  return {
    storyline: validate(StorylineSchema, storyline),
    characters: validate(CharactersSchema, { characters }).characters,
    scenes: validate(ScenesSchema, { scenes }).scenes,
    shots: validate(StoryboardSchema, { shots }).shots,
  };
}
