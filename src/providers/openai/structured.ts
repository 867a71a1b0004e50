/**
 * Structured answers (TextModel.generateObject): an answer constrained by the schema (through
 * Chat Completions or the Responses API: see text-api.ts), parsed and validated here too. An answer that is not JSON, breaks the schema or is cut off at
 * the output limit is asked for again with the problem fed back. A story longer than the part
 * budget, or one whose answer stays cut off, is read in parts whose answers are merged, each
 * part's prompt carrying a digest of what the earlier parts gave.
 */
import type { Static, TSchema } from "@sinclair/typebox";
import { SchemaViolation, validate } from "../../story/schemas.ts";
import type { GenerateResult, ObjectRequest } from "../types.ts";
import { OpenAIProviderError, PROVIDER, providerError, redact } from "./errors.ts";
import { MERGERS, type PartAnswer } from "./merge-parts.ts";
import { readAnswer, repairRequest, SHORTER_REQUEST } from "./read-answer.ts";
import { type StructuredMode, schemaInstructions, type TextFormat, textFormat } from "./response-format.ts";
import { type SourcePart, splitSource } from "./split-source.ts";
import type { TextApi, Turn } from "./text-api.ts";

export interface StructuredSettings {
  /** The API the requests go through. */
  api: TextApi;
  model: string;
  apiKey: string;
  /** Tries per part, repairs included. */
  maxAttempts: number;
  /** The SDK's retries of one request, for error messages. */
  maxRetries: number;
  /** Stories longer than this many characters are read in parts. */
  sourceBudget: number;
  /** At most this many characters of earlier parts' digest go into a part's prompt. */
  summaryBudget: number;
  mode: StructuredMode;
}

/** Parts shorter than this are not cut again when their answer does not fit. */
const MIN_PART = 500;
const MAX_PARTS = 64;
/** A bad answer fed back is clipped to this many characters. */
const MAX_ECHO = 12_000;

/** About four characters a token, when an endpoint reports no usage. */
const estimate = (chars: number) => Math.ceil(chars / 4);

class Truncated extends Error {}

interface QueueItem {
  part: SourcePart;
  /** The request's own prompt, unchanged (the story in one piece). */
  whole: boolean;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export async function generateStructured<S extends TSchema>(
  cfg: StructuredSettings,
  req: ObjectRequest<S>,
): Promise<GenerateResult<Static<S>>> {
  if (req.signal?.aborted) throw req.signal.reason ?? new Error("aborted");
  const label = `${PROVIDER} ${cfg.model}`;
  const schemaId = typeof req.schema.$id === "string" ? req.schema.$id : "answer";
  let format: TextFormat;
  let system: string;
  try {
    format = textFormat(req.schema, cfg.mode);
    system = req.system + schemaInstructions(req.schema, cfg.mode);
  } catch (e) {
    throw new OpenAIProviderError({
      model: cfg.model,
      code: "unsupported_schema",
      retryable: false,
      message: `${label}: the schema ${schemaId} cannot be used with structured outputs: ${e instanceof Error ? e.message : String(e)}`,
    });
  }
  const merger = MERGERS[schemaId];
  const source = typeof req.source === "string" && req.source.trim() ? req.source : undefined;
  const splittable = Boolean(merger && source);
  const stats = { inputTokens: 0, outputTokens: 0, invalid: 0, truncated: 0, id: undefined as string | undefined };

  async function complete(turns: Turn[]) {
    if (req.signal?.aborted) throw req.signal.reason ?? new Error("aborted");
    try {
      const reply = await cfg.api.structured({
        system,
        turns,
        format,
        ...(req.seed !== undefined && cfg.api.takesSeed ? { seed: req.seed } : {}),
        signal: req.signal,
      });
      stats.id = reply.id ?? stats.id;
      stats.inputTokens +=
        reply.usage.inputTokens ?? estimate(turns.reduce((n, t) => n + t.content.length, system.length));
      stats.outputTokens += reply.usage.outputTokens ?? estimate((reply.text ?? "").length);
      return reply;
    } catch (e) {
      throw providerError(e, {
        model: cfg.model,
        apiKey: cfg.apiKey,
        signal: req.signal,
        attempts: cfg.maxRetries + 1,
      });
    }
  }

  /** One part's answer, repaired as needed; throws Truncated when it keeps not fitting and `canSplit`. */
  async function solve(prompt: string, canSplit: boolean): Promise<unknown> {
    const turns: Turn[] = [{ role: "user", content: prompt }];
    let cutOff = 0;
    let last: string[] = [];
    for (let attempt = 1; attempt <= cfg.maxAttempts; attempt++) {
      const reply = await complete(turns);
      if (reply.refusal) {
        throw new OpenAIProviderError({
          model: cfg.model,
          code: "refusal",
          retryable: false,
          message: redact(`${label}: the model refused to answer: ${reply.refusal}`, cfg.apiKey),
        });
      }
      if (reply.filtered) {
        throw new OpenAIProviderError({
          model: cfg.model,
          code: "content_filter",
          retryable: false,
          message: `${label}: the answer was stopped by the content filter`,
        });
      }
      if (reply.truncated) {
        stats.truncated++;
        cutOff++;
        last = ["the answer was cut off at the output limit"];
        if (cutOff >= 2 && canSplit) throw new Truncated();
        if (cutOff === 1) turns.push({ role: "user", content: SHORTER_REQUEST });
        continue;
      }
      const answer = readAnswer(req.schema, reply.text);
      if (answer.ok) return answer.data;
      stats.invalid++;
      cutOff = 0;
      last = answer.problems;
      if (answer.kind !== "empty") {
        const content = reply.text ?? "";
        turns.push({
          role: "assistant",
          content: content.length > MAX_ECHO ? `${content.slice(0, MAX_ECHO)}…` : content,
        });
      }
      turns.push({ role: "user", content: repairRequest(answer) });
    }
    if (cutOff > 0) {
      if (canSplit) throw new Truncated();
      throw new OpenAIProviderError({
        model: cfg.model,
        code: "length",
        retryable: false,
        message: `${label}: the ${schemaId} answer was still cut off at the output limit after ${plural(cfg.maxAttempts, "attempt")}`,
      });
    }
    throw new OpenAIProviderError({
      model: cfg.model,
      code: "invalid_output",
      retryable: false,
      message: redact(
        `${label}: no valid ${schemaId} answer after ${plural(cfg.maxAttempts, "attempt")}: ${last.slice(0, 3).join("; ")}`,
        cfg.apiKey,
      ),
    });
  }

  function partPrompt(part: SourcePart, i: number, n: number, digest: string): string {
    const range =
      part.firstChapter === part.lastChapter
        ? `chapter ${part.firstChapter}`
        : `chapters ${part.firstChapter} to ${part.lastChapter}`;
    const intro =
      `The story is long, so it comes in ${n} parts. This is part ${i + 1}; it is from ${range} of the whole story. ` +
      "Answer for this part only, and number chapters as in the whole story.";
    const context = digest ? `\n\nWhat the earlier parts gave, for continuity (do not repeat it):\n${digest}` : "";
    // A function replacement: the story may contain "$&" and other replacement patterns.
    const body =
      source && req.prompt.includes(source)
        ? req.prompt.replace(source, () => part.text)
        : `${req.prompt}\n\nStory (this part):\n${part.text}`;
    return `${intro}${context}\n\n${body}`;
  }

  const initial = splittable && source!.length > cfg.sourceBudget ? splitSource(source!, cfg.sourceBudget) : [];
  const queue: QueueItem[] =
    initial.length > 1
      ? initial.map((part) => ({ part, whole: false }))
      : [{ part: { text: source ?? "", firstChapter: 1, lastChapter: 1 }, whole: true }];
  const answers: PartAnswer[] = [];
  let data: unknown;
  // Tokens already spent are paid for even when the answer fails: they go with the error to the ledger.
  const spent = (e: unknown) => {
    if (e instanceof OpenAIProviderError && (stats.inputTokens || stats.outputTokens))
      e.usage = { inputTokens: stats.inputTokens, outputTokens: stats.outputTokens };
    return e;
  };
  try {
    for (let i = 0; i < queue.length; i++) {
      const item = queue[i]!;
      const canSplit = splittable && item.part.text.length >= 2 * MIN_PART && queue.length < MAX_PARTS;
      try {
        const prompt = item.whole
          ? req.prompt
          : partPrompt(
              item.part,
              i,
              queue.length,
              answers.length ? merger!.digest(merger!.merge(answers), cfg.summaryBudget) : "",
            );
        answers.push({ data: await solve(prompt, canSplit), part: item.part });
      } catch (e) {
        if (!(e instanceof Truncated)) throw e;
        const text = item.part.text;
        const halves = item.whole
          ? splitSource(text, Math.ceil(text.length / 2))
          : splitSource(text, Math.ceil(text.length / 2), { firstChapter: item.part.firstChapter, detectTitle: false });
        queue.splice(i, 1, ...halves.map((part) => ({ part, whole: false })));
        i--;
      }
    }

    data = answers[0]!.data;
    if (answers.length > 1) {
      try {
        data = validate(req.schema, merger!.merge(answers));
      } catch (e) {
        if (!(e instanceof SchemaViolation)) throw e;
        throw new OpenAIProviderError({
          model: cfg.model,
          code: "merge_failed",
          retryable: false,
          message: `${label}: the merged ${schemaId} answer breaks the schema: ${e.message}`,
        });
      }
    }
  } catch (e) {
    throw spent(e);
  }

  const warnings: string[] = [];
  if (req.seed !== undefined && !cfg.api.takesSeed)
    warnings.push(`the ${cfg.api.name} API takes no seed: it was not sent`);
  if (stats.invalid) warnings.push(`repaired after ${plural(stats.invalid, "invalid answer")}`);
  if (stats.truncated)
    warnings.push(
      `the answer was cut off at the output limit ${stats.truncated === 1 ? "once" : `${stats.truncated} times`} and asked for again`,
    );
  if (answers.length > 1)
    warnings.push(`read the story (${source!.length} characters) in ${answers.length} parts and merged their answers`);
  return {
    data: data as Static<S>,
    warnings,
    usage: { inputTokens: stats.inputTokens, outputTokens: stats.outputTokens },
    response: { provider: PROVIDER, modelId: cfg.model, timestamp: new Date(), ...(stats.id ? { id: stats.id } : {}) },
  };
}
