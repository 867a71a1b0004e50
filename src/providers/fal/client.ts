import { createFalClient, type FalClient, type RequestMiddleware } from "@fal-ai/client";
import { DEFAULT_RETRY, retryingFetch, type RetryPolicy } from "./http.ts";

/** How to reach fal: shared by the image and video factories. */
export interface FalConnectionOptions {
  /** The fal API key ("key_id:key_secret"). Sent only to fal's API hosts, never logged or put in errors. */
  key: string;
  /** The fetch the client and the downloads use (default: global fetch); wrapped with the retry policy. */
  fetch?: typeof fetch;
  /** Rewrites the client's requests (queue.fal.run, rest.fal.ai) — a proxy, or a local fake in tests. */
  requestMiddleware?: RequestMiddleware;
  /** Time between status polls. */
  pollIntervalMs?: number;
  /** Retries of 429/5xx/transport failures, honouring Retry-After (see http.ts). */
  retry?: Partial<RetryPolicy>;
}

/** A configured client with the fetch it uses. */
export interface FalRuntime {
  client: FalClient;
  /** The retrying fetch: for result downloads too (no credentials are added to it). */
  fetch: typeof fetch;
  pollIntervalMs: number;
}

export function connectFal(o: FalConnectionOptions, defaultPollMs: number): FalRuntime {
  if (!o.key) throw new RangeError("the fal provider needs an API key (FAL_KEY)");
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...o.retry };
  const base = o.fetch ?? globalThis.fetch;
  const fetch = retryingFetch(base, policy);
  const client = createFalClient({
    credentials: o.key,
    fetch,
    requestMiddleware: o.requestMiddleware,
    // Our fetch already retried, and throws what the client must not retry; this covers the
    // calls whose retry settings the client takes from here (storage), the queue's are fixed.
    retry: { maxRetries: 0 },
  });
  return { client, fetch, pollIntervalMs: o.pollIntervalMs ?? defaultPollMs };
}
