/** The SDK client shared by the OpenAI text and image models. */
import OpenAI, { type ClientOptions } from "openai";

export interface OpenAIConnectionOptions {
  apiKey: string;
  /** Any OpenAI-compatible endpoint (DeepSeek, Qwen, vLLM…); default https://api.openai.com/v1. */
  baseUrl?: string;
  /** For tests and proxies; default the global fetch. */
  fetch?: typeof fetch;
  /** Retries of 408/409/429/5xx and network errors by the SDK, honouring Retry-After; default 2. */
  maxRetries?: number;
  /** Per request, in milliseconds; default 300,000. */
  timeoutMs?: number;
}

export const DEFAULT_BASE_URL = "https://api.openai.com/v1";
export const DEFAULT_MAX_RETRIES = 2;

export function createClient(o: OpenAIConnectionOptions): OpenAI {
  if (!o.apiKey) throw new RangeError("the OpenAI provider needs an API key");
  return new OpenAI({
    apiKey: o.apiKey,
    baseURL: o.baseUrl ?? DEFAULT_BASE_URL,
    fetch: o.fetch as ClientOptions["fetch"],
    maxRetries: o.maxRetries ?? DEFAULT_MAX_RETRIES,
    timeout: o.timeoutMs ?? 300_000,
    // Settings come from Inkreel's config, not from OPENAI_* variables of the process.
    organization: null,
    project: null,
  });
}
