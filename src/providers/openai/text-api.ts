/**
 * The one difference between OpenAI's two text APIs, behind a small adapter: Chat Completions
 * (chat-api.ts; what OpenAI-compatible endpoints speak) and the Responses API (responses-api.ts).
 * Each turns a request into a normalised reply; the repairs, retries and parts of a structured
 * answer (structured.ts) and the streaming loop (stream.ts) are written once, above them.
 * Adapters throw the SDK's errors as they come; the callers map them through errors.ts.
 */
import type OpenAI from "openai";
import type { TextFormat } from "./response-format.ts";

export type TextApiName = "chat" | "responses";

export interface ApiSettings {
  client: OpenAI;
  model: string;
  apiKey: string;
  /** The output limit of every request; unset: the model's own. */
  maxOutputTokens?: number;
}

/** A turn of the conversation after the system message. */
export interface Turn {
  role: "user" | "assistant";
  content: string;
}

export interface StructuredCall {
  system: string;
  turns: Turn[];
  format: TextFormat;
  /** Sent only where the API takes one (`takesSeed`). */
  seed?: number;
  signal?: AbortSignal;
}

export interface StructuredReply {
  /** The answer's text; null when there is none (a refusal). */
  text: string | null;
  refusal: string | null;
  /** Cut off at the output limit (`finish_reason: "length"`, or an incomplete response). */
  truncated: boolean;
  /** Stopped by the content filter. */
  filtered: boolean;
  /** As the endpoint reports it; a missing count is estimated by the caller. */
  usage: { inputTokens?: number; outputTokens?: number };
  id: string | undefined;
}

export interface StreamCall {
  system: string;
  prompt: string;
  signal?: AbortSignal;
}

/** What a stream gives: text as it is produced, and the usage once it is reported. */
export type StreamPiece = { text: string } | { usage: { inputTokens: number; outputTokens: number } };

export interface TextApi {
  readonly name: TextApiName;
  /** Whether a structured request can carry a seed. */
  readonly takesSeed: boolean;
  structured(call: StructuredCall): Promise<StructuredReply>;
  /** Closing the generator early (`return()`) closes the request. */
  stream(call: StreamCall): AsyncGenerator<StreamPiece, void, undefined>;
}
