/**
 * The offline text model: answers the story-analysis schemas with the rule-based analyser and
 * says honestly, when asked for free text, that it is a local model that can only summarise
 * stories. No network, no randomness: the same source gives the same answer.
 */
import type { Static, TSchema } from "@sinclair/typebox";
import { type StoryAnalysis, validate } from "../../story/schemas.ts";
import type { GenerateResult, ObjectRequest, TextModel, TextRequest, TextStream, Usage } from "../types.ts";
import { analyseStory } from "./analyser/index.ts";
import { detectLanguage } from "./analyser/language.ts";

const PROVIDER = "local";
const MODEL_ID = "inkreel-analyser-1";

/** About four characters a token: the usual estimate, for the cost ledger. */
const tokens = (chars: number) => Math.ceil(chars / 4);

const throwIfAborted = (signal: AbortSignal | undefined) => {
  if (signal?.aborted) throw signal.reason ?? new Error("aborted");
};

const SCHEMA_IDS = ["inkreel.storyline", "inkreel.characters", "inkreel.scenes", "inkreel.storyboard"];

function partFor(id: string | undefined, a: StoryAnalysis): unknown {
  switch (id) {
    case "inkreel.storyline":
      return a.storyline;
    case "inkreel.characters":
      return { characters: a.characters };
    case "inkreel.scenes":
      return { scenes: a.scenes };
    case "inkreel.storyboard":
      return { shots: a.shots };
    default:
      throw unknownSchema(id);
  }
}

const unknownSchema = (id: string | undefined) =>
  new Error(
    `the local model answers story-analysis schemas only (${SCHEMA_IDS.join(", ")}), not ${id ? `"${id}"` : "a schema without an $id"}`,
  );

/** The honest offline reply to a free-text request. */
export function localReply(prompt: string): string {
  const zh = detectLanguage(prompt) === "zh";
  const intro = zh
    ? `这是本地离线模型（${MODEL_ID}）的回答：它不联网，只能按规则分析故事。`
    : `This is the local offline model (${MODEL_ID}): it runs without a network and can only analyse stories by rules.`;
  let a: StoryAnalysis | undefined;
  try {
    a = analyseStory(prompt);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
  }
  if (!a) {
    return zh
      ? `${intro}它只能总结至少 50 个字、至多 20 万字的故事，请把故事原文发给它。`
      : `${intro} It can only summarise a story of 50 to 200,000 characters; send it the story's text.`;
  }
  const s = a.storyline;
  const cast = a.characters.slice(0, 3).map((c) => c.name);
  if (zh) {
    return (
      `${intro}故事《${s.title}》：${s.logline}` +
      `共${s.chapters.length}章、${a.scenes.length}个场景、${a.shots.length}个镜头，` +
      `${cast.length ? `主要人物：${cast.join("、")}，` : ""}基调${s.tone}，类型${s.genre}。`
    );
  }
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  return (
    `${intro} Story "${s.title}": ${s.logline} ` +
    `It has ${plural(s.chapters.length, "chapter")}, ${plural(a.scenes.length, "scene")} and ${plural(a.shots.length, "shot")}` +
    `${cast.length ? `; main characters: ${cast.join(", ")}` : ""}; tone ${s.tone}, genre ${s.genre}.`
  );
}

/** Chunks as a model would stream them: English word by word, Chinese clause by clause. */
export function replyChunks(text: string): string[] {
  return text.match(/[^\s，。！？；：、]+[，。！？；：、]*\s*|\s+/gu) ?? [];
}

export function createLocalText(): TextModel {
  // The last analysis, by source: a pipeline asks for the four parts of one story in a row.
  let last: { source: string; analysis: StoryAnalysis } | undefined;
  const analysisOf = (source: string): StoryAnalysis => {
    if (last?.source !== source) last = { source, analysis: analyseStory(source) };
    return last.analysis;
  };
  return {
    provider: PROVIDER,
    modelId: MODEL_ID,

    async generateObject<S extends TSchema>(req: ObjectRequest<S>): Promise<GenerateResult<Static<S>>> {
      throwIfAborted(req.signal);
      if (typeof req.source !== "string")
        throw new RangeError("the local model reads the story itself: pass the story text as `source`");
      const id = req.schema.$id;
      if (!id || !SCHEMA_IDS.includes(id)) throw unknownSchema(id);
      const analysis = analysisOf(req.source);
      throwIfAborted(req.signal);
      const data = validate(req.schema, structuredClone(partFor(id, analysis)));
      return {
        data,
        warnings: ["the local analyser reads the source text by rules; the prompt and system text are not interpreted"],
        usage: { inputTokens: tokens(req.source.length), outputTokens: tokens(JSON.stringify(data).length) },
        response: { provider: PROVIDER, modelId: MODEL_ID, timestamp: new Date() },
      };
    },

    streamText(req: TextRequest): TextStream {
      let settle!: (u: Usage) => void;
      const usage = new Promise<Usage>((resolve) => {
        settle = resolve;
      });
      const inputTokens = tokens(req.system.length + req.prompt.length);
      async function* stream(): AsyncGenerator<string> {
        let sent = 0;
        try {
          throwIfAborted(req.signal);
          const reply = localReply(req.prompt);
          for (const chunk of replyChunks(reply)) {
            // Yield to the event loop between chunks, as a real stream would.
            await Promise.resolve();
            throwIfAborted(req.signal);
            sent += chunk.length;
            yield chunk;
          }
        } finally {
          settle({ inputTokens, outputTokens: tokens(sent) });
        }
      }
      return { textStream: stream(), usage };
    },
  };
}
