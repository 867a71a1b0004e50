/**
 * The OpenAI text model: structured answers (strict json_schema Structured Outputs) and
 * streamed text over the Chat Completions API (the default) or the Responses API (`api:
 * "responses"`, which OpenAI recommends for new work). Any OpenAI-compatible endpoint works
 * through `baseUrl` (DeepSeek, Qwen, vLLM) on Chat Completions, the one API they all speak; set
 * `structuredOutputs: "json_object"` for endpoints that offer JSON mode but not json_schema.
 */
import type { Static, TSchema } from "@sinclair/typebox";
import type { GenerateResult, ObjectRequest, TextModel, TextRequest, TextStream } from "../types.ts";
import { chatApi } from "./chat-api.ts";
import { createClient, DEFAULT_MAX_RETRIES, type OpenAIConnectionOptions } from "./client.ts";
import { PROVIDER } from "./errors.ts";
import type { StructuredMode } from "./response-format.ts";
import { responsesApi } from "./responses-api.ts";
import { streamText } from "./stream.ts";
import { generateStructured } from "./structured.ts";
import type { TextApiName } from "./text-api.ts";

export interface OpenAITextOptions extends OpenAIConnectionOptions {
  /** The model id, e.g. "gpt-4o-mini", "deepseek-chat", "qwen-plus". */
  model: string;
  /** Tries per structured answer (and per part of a long story), repairs included; default 3. */
  maxAttempts?: number;
  /** Stories longer than this many characters are read in parts; default 12,000. */
  sourceBudget?: number;
  /** Characters of earlier parts' digest carried into a part's prompt; default 2,000. */
  summaryBudget?: number;
  /** Default "json_schema" (strict); "json_object" puts the schema in the system message. */
  structuredOutputs?: StructuredMode;
  /** `max_completion_tokens` (chat) or `max_output_tokens` (responses) of every request; default unset (the model's own limit). */
  maxOutputTokens?: number;
  /** Default "chat" (Chat Completions); "responses": OpenAI's Responses API, which compatible endpoints mostly lack. */
  api?: TextApiName;
}

export const DEFAULT_SOURCE_BUDGET = 12_000;

export function createOpenAIText(options: OpenAITextOptions): TextModel {
  if (!options.model) throw new RangeError("the OpenAI text provider needs a model id");
  const apiName = options.api ?? "chat";
  if (apiName !== "chat" && apiName !== "responses")
    throw new RangeError(`the OpenAI text provider's api is "chat" or "responses", not "${String(apiName)}"`);
  const client = createClient(options);
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 3));
  const settings = { client, model: options.model, apiKey: options.apiKey, maxOutputTokens: options.maxOutputTokens };
  const api = apiName === "responses" ? responsesApi(settings) : chatApi(settings);
  const structured = {
    api,
    model: options.model,
    apiKey: options.apiKey,
    maxAttempts,
    maxRetries,
    sourceBudget: Math.max(1_000, options.sourceBudget ?? DEFAULT_SOURCE_BUDGET),
    summaryBudget: Math.max(200, options.summaryBudget ?? 2_000),
    mode: options.structuredOutputs ?? "json_schema",
  };
  return {
    provider: PROVIDER,
    modelId: options.model,
    generateObject<S extends TSchema>(request: ObjectRequest<S>): Promise<GenerateResult<Static<S>>> {
      return generateStructured(structured, request);
    },
    streamText(request: TextRequest): TextStream {
      return streamText(structured, request);
    },
  };
}
