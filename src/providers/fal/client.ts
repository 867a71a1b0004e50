import { createFalClient, type FalClient, type RequestMiddleware } from "@fal-ai/client";
import { DEFAULT_RETRY, type RetryPolicy, retryingFetch } from "./http.ts";

/** How to reach fal: shared by the image and video factories. */
export interface FalConnectionOptions {
  /** The fal API key ("key_id:key_secret"). Sent only to fal's API hosts, never logged or put in errors. */
  key: string;
  /** The fetch the client and the downloads use (default: global fetch); wrapped with the retry policy. */
  fetch?: typeof fetch;
  /** Rewrites the client's requests (queue.fal.run, rest.fal.ai) — a proxy, or a local fake in tests. */
  requestMiddleware?: RequestMiddleware;
  /** Time between status polls (without a webhook). */
  pollIntervalMs?: number;
  /**
   * Our public webhook route (config.cloud.fal.webhookUrl). With `wait`, submissions carry it
   * (fal calls it when the request ends) and a waiting request is woken by it instead of polled often.
   */
  webhookUrl?: string;
  /** Waits for the webhook of a request, `ms` at most (webhook-waiter.ts: `createFalWakeups().wait`). */
  wait?: (requestId: string, ms: number, signal?: AbortSignal) => Promise<void>;
  /** With a webhook, the safety poll: the longest wait between status polls (default 30 s). */
  webhookPollMs?: number;
  /** Retries of 429/5xx/transport failures, honouring Retry-After (see http.ts). */
  retry?: Partial<RetryPolicy>;
  /**
   * With a webhook, how long a rescued job waits for the webhook of a submission a crash orphaned
   * (accepted, its request id never stored) before submitting again (config.cloud.fal.orphanWaitMs).
   */
  orphanWaitMs?: number;
}

/** A configured client with the fetch it uses. */
export interface FalRuntime {
  client: FalClient;
  /** The retrying fetch: for result downloads too (no credentials are added to it). */
  fetch: typeof fetch;
  pollIntervalMs: number;
  /** Set only together with `wait`: a webhook without a waiter would change nothing but fal's traffic. */
  webhookUrl?: string;
  wait?: (requestId: string, ms: number, signal?: AbortSignal) => Promise<void>;
  webhookPollMs: number;
  orphanWaitMs: number;
}

/** How long a rescued job waits for an orphaned submission's webhook by default (FAL_ORPHAN_WAIT_MS). */
export const DEFAULT_ORPHAN_WAIT_MS = 5_000;

/** The default safety poll while a webhook is expected: a lost delivery costs at most this much. */
export const DEFAULT_WEBHOOK_POLL_MS = 30_000;

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
  const webhook = o.webhookUrl && o.wait ? { webhookUrl: o.webhookUrl, wait: o.wait } : {};
  return {
    client,
    fetch,
    pollIntervalMs: o.pollIntervalMs ?? defaultPollMs,
    ...webhook,
    webhookPollMs: o.webhookPollMs ?? DEFAULT_WEBHOOK_POLL_MS,
    orphanWaitMs: o.orphanWaitMs ?? DEFAULT_ORPHAN_WAIT_MS,
  };
}
