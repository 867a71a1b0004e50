/**
 * Errors of the OpenAI provider: one class for every failure (HTTP status, network, refusal,
 * answers that never fit the schema), with a short message that names the model and never
 * carries the API key, a stack or a request body.
 */

import { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import type { Usage } from "../types.ts";

export const PROVIDER = "openai";

export interface OpenAIProviderErrorInit {
  model: string;
  message: string;
  status?: number;
  code?: string;
  retryable: boolean;
  requestId?: string;
}

export class OpenAIProviderError extends Error {
  override name = "OpenAIProviderError";
  readonly provider = PROVIDER;
  readonly model: string;
  /** The HTTP status, when the endpoint answered with one. */
  readonly status: number | undefined;
  /** The endpoint's error code or type ("invalid_api_key", "rate_limit_exceeded"), or ours ("invalid_output", "length", "refusal"). */
  readonly code: string | undefined;
  /** Whether trying again later may succeed (rate limits, server errors, network). */
  readonly retryable: boolean;
  /** Tokens the failed request had already used (and OpenAI bills). */
  usage: Usage | undefined;
  readonly requestId: string | undefined;

  constructor(init: OpenAIProviderErrorInit) {
    super(init.message);
    this.model = init.model;
    this.status = init.status;
    this.code = init.code;
    this.retryable = init.retryable;
    this.requestId = init.requestId;
  }
}

const MAX_MESSAGE = 300;

/** Removes anything that looks like an API key (OpenAI's own messages echo a masked one). */
export function redact(text: string, apiKey?: string): string {
  let out = text;
  if (apiKey && apiKey.length >= 6) out = out.split(apiKey).join("***");
  out = out.replace(/\b(?:sk|pk|rk)-[\w*.-]+/g, "sk-***");
  out = out.replace(/\bBearer\s+\S+/gi, "Bearer ***");
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE - 1)}…` : out;
}

const retryableStatus = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500;

/**
 * The error to throw for a failed SDK call: the abort reason when the caller aborted, else an
 * OpenAIProviderError. `attempts` is how many tries the SDK made (its retries included).
 */
export function providerError(
  e: unknown,
  ctx: { model: string; apiKey?: string; signal?: AbortSignal; attempts?: number },
): unknown {
  if (ctx.signal?.aborted) return ctx.signal.reason ?? e;
  if (e instanceof OpenAIProviderError) return e;
  const label = `${PROVIDER} ${ctx.model}`;
  if (e instanceof APIConnectionTimeoutError) {
    return new OpenAIProviderError({
      model: ctx.model,
      code: "timeout",
      retryable: true,
      message: `${label}: the request timed out`,
    });
  }
  if (e instanceof APIConnectionError) {
    return new OpenAIProviderError({
      model: ctx.model,
      code: "connection_error",
      retryable: true,
      message: `${label}: could not reach the endpoint`,
    });
  }
  if (e instanceof APIError && typeof e.status === "number") {
    const body = (e.error ?? {}) as { message?: unknown };
    const detail = typeof body.message === "string" && body.message ? body.message : "no error message";
    const code = e.code ?? e.type ?? undefined;
    // A 429 for an exhausted quota will not clear by waiting.
    const retryable = retryableStatus(e.status) && code !== "insufficient_quota";
    const tries = retryable && ctx.attempts && ctx.attempts > 1 ? ` (gave up after ${ctx.attempts} tries)` : "";
    return new OpenAIProviderError({
      model: ctx.model,
      status: e.status,
      code: code ?? undefined,
      retryable,
      requestId: e.requestID ?? undefined,
      message: redact(`${label}: HTTP ${e.status}${code ? ` ${code}` : ""}: ${detail}`, ctx.apiKey) + tries,
    });
  }
  if (e instanceof APIError) {
    // An error event inside a stream: no status.
    return streamFailure(e.error, ctx);
  }
  const detail = e instanceof Error ? e.message : String(e);
  return new OpenAIProviderError({
    model: ctx.model,
    code: "unexpected",
    retryable: false,
    message: redact(`${label}: ${detail}`, ctx.apiKey),
  });
}

/**
 * The error for a failure the endpoint reports inside a 200 answer: an error event of a stream
 * (Chat Completions' `{error}` chunk, the Responses API's `error` event) or the `error` of a
 * failed response (`response.failed`). `body` is `{message, code, type}`, all optional.
 */
export function streamFailure(body: unknown, ctx: { model: string; apiKey?: string }): OpenAIProviderError {
  const b = (body && typeof body === "object" ? body : {}) as { message?: unknown; code?: unknown; type?: unknown };
  // The Responses API's error event has `type: "error"`: not a code.
  const code =
    typeof b.code === "string" ? b.code : typeof b.type === "string" && b.type !== "error" ? b.type : undefined;
  const detail = typeof b.message === "string" && b.message ? b.message : "the stream reported an error";
  return new OpenAIProviderError({
    model: ctx.model,
    code,
    retryable: true,
    message: redact(`${PROVIDER} ${ctx.model}: ${detail}`, ctx.apiKey),
  });
}
