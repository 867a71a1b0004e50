import { ElevenLabsClient } from "@elevenlabs/elevenlabs-js";
import { toProviderError } from "./errors.ts";

export interface ElevenLabsConnection {
  apiKey: string;
  /** Another API host (a residency region, a proxy, a test server); default https://api.elevenlabs.io. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Retries of 408/429/5xx answers by the SDK (Retry-After honoured, else 1 s, 2 s, …); default 2. */
  maxRetries?: number;
  /** Per request; default 240 s (the SDK's). */
  timeoutInSeconds?: number;
}

export function elevenLabsClient(c: ElevenLabsConnection): ElevenLabsClient {
  // The SDK would fall back to ELEVENLABS_API_KEY; a provider takes its key from the config only.
  if (!c.apiKey) throw new Error("ElevenLabs needs an API key (ELEVENLABS_API_KEY)");
  return new ElevenLabsClient({
    apiKey: c.apiKey,
    ...(c.baseUrl ? { baseUrl: c.baseUrl.replace(/\/+$/, "") } : {}),
    ...(c.fetch ? { fetch: c.fetch } : {}),
    ...(c.maxRetries !== undefined ? { maxRetries: c.maxRetries } : {}),
    ...(c.timeoutInSeconds !== undefined ? { timeoutInSeconds: c.timeoutInSeconds } : {}),
  });
}

/**
 * Runs an SDK call with the caller's abort signal. The SDK passes the signal to fetch but not to
 * its wait between retries, so the call is also raced against the signal: an abort settles at
 * once, with the signal's reason. Every other failure becomes an ElevenLabsProviderError.
 */
export async function call<T>(
  context: { model: string; action: string; apiKey: string; signal?: AbortSignal },
  run: (abortSignal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  const { signal } = context;
  if (signal?.aborted) throw signal.reason ?? new Error("aborted");
  const work = (async () => run(signal))();
  try {
    if (!signal) return await work;
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason ?? new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([work, aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
      work.catch(() => {}); // settles later, after the abort; nobody is waiting for it
    }
  } catch (error) {
    throw toProviderError(error, context);
  }
}
