import { errorFromResponse, FalProviderError, isAbort } from "./errors.ts";

/**
 * Retries of fal calls. The fal client retries by itself (3-5 times, 1 s base, jitter) but ignores
 * Retry-After and its queue policy cannot be configured, so the provider hands the client a fetch
 * that retries on its own terms and never lets a retryable answer through: it either returns a
 * success or throws a FalProviderError, which the client does not retry (not an ApiError, not a
 * network error). One policy, one place, Retry-After honoured.
 */
export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  /** First backoff; doubled per attempt, ±20% jitter. */
  baseDelayMs: number;
  /** No single wait is longer; a Retry-After beyond it ends the retries (the job queue takes over). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value == null || value.trim() === "") return null;
  const s = Number(value.trim());
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** Waits, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const done = () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** What to throw for an aborted signal: its reason when that is an Error, else an AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  const r = signal.reason;
  if (r instanceof Error) return r;
  return new DOMException(typeof r === "string" ? `aborted: ${r}` : "aborted", "AbortError");
}

/** Which fal call a URL is, for messages: submit, status, result, cancel, upload, download. */
export function callName(method: string, url: string): string {
  const path = new URL(url).pathname;
  if (path.startsWith("/storage/upload")) return "storage upload (initiate)";
  if (method === "POST") return "submit";
  if (method === "PUT" && path.endsWith("/cancel")) return "cancel";
  if (method === "PUT") return "storage upload";
  if (/\/requests\/[^/]+\/status$/.test(path)) return "status";
  if (/\/requests\/[^/]+$/.test(path)) return "result";
  return "download";
}

const urlOf = (input: RequestInfo | URL) =>
  typeof input === "string" ? input : input instanceof URL ? input.href : input.url;

/**
 * A fetch that retries what is safe to retry: any call on 408/429/500/502/503/504 and transport
 * errors, except a POST (the queue submission, which costs money), which is retried only on 429
 * and 503 — answers saying the request was not taken. Non-success answers become FalProviderError.
 */
export function retryingFetch(base: typeof fetch, policy: RetryPolicy): typeof fetch {
  const wrapped = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = urlOf(input);
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const what = callName(method, url);
    const signal = init?.signal ?? undefined;
    const idempotent = method !== "POST" || what === "storage upload (initiate)";
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await base(input, init);
      } catch (err) {
        if (isAbort(err, signal)) throw signal?.aborted ? abortReason(signal) : err;
        const failure = new FalProviderError({
          model: "",
          retryable: true,
          message: `${what} failed: ${err instanceof Error ? err.message : String(err)}${idempotent ? "" : " (the submission may or may not have been queued)"}`,
          cause: err,
        });
        if (!idempotent || attempt >= policy.retries) throw failure;
        await sleep(backoff(policy, attempt), signal ?? undefined);
        continue;
      }
      if (res.ok) return res;
      const retryable = idempotent
        ? [408, 429, 500, 502, 503, 504].includes(res.status)
        : res.status === 429 || res.status === 503;
      const after = retryAfterMs(res.headers.get("retry-after"));
      if (!retryable || attempt >= policy.retries || (after != null && after > policy.maxDelayMs)) {
        throw await errorFromResponse(res, what);
      }
      await res.body?.cancel().catch(() => {});
      await sleep(Math.min(policy.maxDelayMs, Math.max(after ?? 0, backoff(policy, attempt))), signal ?? undefined);
    }
  };
  return Object.assign(wrapped, { preconnect: base.preconnect?.bind(base) }) as typeof fetch;
}

function backoff(p: RetryPolicy, attempt: number): number {
  const d = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** attempt);
  return Math.round(d * (0.8 + Math.random() * 0.4));
}
