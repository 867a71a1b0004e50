import { createHash } from "node:crypto";
import type { QueueStatus } from "@fal-ai/client";
import type { FalRuntime } from "./client.ts";
import { FalProviderError, isAbort, relabel } from "./errors.ts";
import { abortReason, sleep } from "./http.ts";

/**
 * fal's queue, paid once per generation even across crashes.
 *
 * THE CONTRACT. A generation is one queue request: `submitFal` (one POST, the paid part) returns
 * a `FalRequestRef` — the endpoint and fal's request id — and `resumeFal` polls that request until
 * it is COMPLETED and fetches its result, as often as needed, for free. Between the two the ref
 * is handed to whoever must survive a crash, BEFORE any waiting:
 *
 *  - per call: `onSubmitted(ref)` is awaited right after the submission (if it throws, the request
 *    is cancelled and the error propagates: nothing runs that nobody tracks); a later attempt passes
 *    the stored ref (or just its request id: the endpoint is then derived from the same options) as
 *    `resume`, and `generate` polls that request instead of submitting — no new charge;
 *  - per model: a `FalRequestStore` given to the factory is keyed by a fingerprint of the request
 *    (endpoint + input, uploaded files by their sha256), so a rescued job that calls `generate`
 *    with the same options finds its request without any change to the caller.
 *
 * The stored ref is forgotten (`store.delete`) once the output is downloaded, and when the request
 * is known dead: a failed result (422 …), a non-retryable error, or a cancellation. Retryable
 * failures (a 503 storm while polling) keep it, so the next attempt resumes. A resumed id fal no
 * longer knows (404: expired, or another endpoint) is submitted anew, with a warning.
 *
 * Waiting: without a webhook, `resumeFal` sleeps `pollIntervalMs` between status polls. With one
 * (`webhookUrl` and `wait` on the runtime), the submission carries `?fal_webhook=<url>`, and between
 * polls `resumeFal` waits for that request's webhook (`wait`, woken through our webhook route's
 * NOTIFY), `webhookPollMs` at most — a slow safety poll, so a lost delivery only costs latency.
 * Either way the status poll decides: the webhook only says when to look. A request resumed after
 * a crash is waited for the same way: its webhook still arrives (or, for one submitted before a
 * webhook was configured, the safety poll finds it done).
 *
 * Aborts: `cancelOnAbort(signal.reason)` decides whether the fal request is cancelled (PUT
 * …/cancel) — by default yes, except for the worker's "lease-lost" and "shutdown" reasons: then
 * the job will be rescued, and its next attempt resumes the request the crash left running.
 */
export interface FalRequestRef {
  endpointId: string;
  requestId: string;
}

/** Per-call idempotency controls, accepted by the fal models' `generate` next to the usual options. */
export interface FalRequestControls {
  /** Awaited once the request is queued, before waiting for it: persist the ref here. */
  onSubmitted?: (ref: FalRequestRef) => void | Promise<void>;
  /** A request an earlier attempt submitted: poll it instead of submitting again. */
  resume?: FalRequestRef | string;
  /** Every status seen while waiting (queue position, progress). */
  onStatus?: (status: QueueStatus) => void;
}

/** Where refs survive crashes (a database table in production). Keys are hex fingerprints. */
export interface FalRequestStore {
  get(key: string): Promise<FalRequestRef | null | undefined> | FalRequestRef | null | undefined;
  put(key: string, ref: FalRequestRef): Promise<void> | void;
  delete(key: string): Promise<void> | void;
}

/** A store in memory: survives nothing, for tests and one-process use. */
export function memoryRequestStore(): FalRequestStore & { entries: Map<string, FalRequestRef> } {
  const entries = new Map<string, FalRequestRef>();
  return {
    entries,
    get: (k) => entries.get(k),
    put: (k, ref) => void entries.set(k, ref),
    delete: (k) => void entries.delete(k),
  };
}

/** By default an abort cancels the fal request, unless the worker is only going away. */
export const defaultCancelOnAbort = (reason: unknown) => reason !== "lease-lost" && reason !== "shutdown";

/** Queues one request: the one call that costs money. */
export async function submitFal(
  rt: FalRuntime,
  endpointId: string,
  input: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<FalRequestRef> {
  try {
    // The client appends `?fal_webhook=<url>` to the submission: fal POSTs there when the request ends.
    const webhookUrl = rt.webhookUrl && rt.wait ? rt.webhookUrl : undefined;
    const queued = await rt.client.queue.submit(endpointId, {
      input,
      abortSignal: signal,
      ...(webhookUrl ? { webhookUrl } : {}),
    });
    if (!queued?.request_id)
      throw new FalProviderError({
        model: endpointId,
        retryable: false,
        message: `fal ${endpointId}: the submission answered no request_id`,
      });
    return { endpointId, requestId: queued.request_id };
  } catch (err) {
    throw relabel(err, endpointId, "submit");
  }
}

/** Polls a queued request until COMPLETED (between polls: a sleep, or a wait for its webhook), then fetches its result (the output JSON). */
export async function resumeFal(
  rt: FalRuntime,
  ref: FalRequestRef,
  o: { signal?: AbortSignal; onStatus?: (s: QueueStatus) => void } = {},
): Promise<unknown> {
  const { endpointId, requestId } = ref;
  try {
    for (;;) {
      const status = await rt.client.queue.status(endpointId, { requestId, logs: false, abortSignal: o.signal });
      o.onStatus?.(status);
      if (status.status === "COMPLETED") break;
      if (rt.webhookUrl && rt.wait) await rt.wait(requestId, rt.webhookPollMs, o.signal);
      else await sleep(rt.pollIntervalMs, o.signal);
    }
  } catch (err) {
    throw relabel(err, endpointId, "status", requestId);
  }
  try {
    const { data } = await rt.client.queue.result(endpointId, { requestId, abortSignal: o.signal });
    return data;
  } catch (err) {
    throw relabel(err, endpointId, "result", requestId);
  }
}

/** Asks fal to drop a request; best effort (a running one may finish anyway). */
export async function cancelFal(rt: FalRuntime, ref: FalRequestRef): Promise<boolean> {
  try {
    await rt.client.queue.cancel(ref.endpointId, {
      requestId: ref.requestId,
      abortSignal: AbortSignal.timeout(15_000),
    });
    return true;
  } catch {
    return false;
  }
}

/** One generation to run: the endpoint, the files to upload, and the input given their URLs. */
export interface FalPlan {
  endpointId: string;
  files: Array<{ bytes: Uint8Array; mimeType: string; name: string }>;
  /** The input, given one URL per file (in order). */
  input(urls: string[]): Record<string, unknown>;
}

export interface FalRunOptions extends FalRequestControls {
  signal?: AbortSignal;
  store?: FalRequestStore;
  cancelOnAbort?: (reason: unknown) => boolean;
}

/** A request's fingerprint: same endpoint, same input, same file bytes → same key. */
export function fingerprint(plan: FalPlan): string {
  const hashes = plan.files.map((f) => `sha256:${createHash("sha256").update(f.bytes).digest("hex")}`);
  return createHash("sha256")
    .update(JSON.stringify({ endpoint: plan.endpointId, input: plan.input(hashes) }))
    .digest("hex");
}

/** Whether a failure leaves the request worth resuming (else the stored ref is dropped). */
function stillAlive(err: unknown): boolean {
  if (!(err instanceof FalProviderError) || !err.retryable) return false;
  // A result that failed for good (the model's own 500) is dead; the gateway's hiccups are not.
  if (err.phase === "result") return err.status === undefined || [429, 502, 503, 504].includes(err.status);
  return true;
}

/**
 * Resumes or submits (uploading files first), persists the ref, waits, and turns the result into
 * the output with `finish` (downloads happen there, at once: fal's URLs expire). See the contract above.
 */
export async function runFal<T>(
  rt: FalRuntime,
  plan: FalPlan,
  o: FalRunOptions,
  finish: (result: unknown, ref: FalRequestRef) => Promise<T>,
): Promise<{ value: T; ref: FalRequestRef; resumed: boolean; warnings: string[] }> {
  const warnings: string[] = [];
  const key = o.store ? fingerprint(plan) : undefined;
  const forget = async () => {
    if (key) await Promise.resolve(o.store!.delete(key)).catch(() => {});
  };
  let ref: FalRequestRef | undefined =
    typeof o.resume === "string"
      ? { endpointId: plan.endpointId, requestId: o.resume }
      : (o.resume ?? (key ? ((await o.store!.get(key)) ?? undefined) : undefined));
  let resumed = ref !== undefined;
  let result: unknown;
  try {
    if (ref) {
      try {
        result = await resumeFal(rt, ref, o);
      } catch (err) {
        if (!(err instanceof FalProviderError && (err.status === 404 || err.status === 410) && err.phase !== "result"))
          throw err;
        warnings.push(`fal request ${ref.requestId} of ${ref.endpointId} is unknown to fal (expired?): submitted anew`);
        await forget();
        ref = undefined;
        resumed = false;
      }
    }
    if (!ref) {
      const urls: string[] = [];
      for (const f of plan.files) {
        try {
          urls.push(
            await rt.client.storage.upload(
              new File([f.bytes as Uint8Array<ArrayBuffer>], f.name, { type: f.mimeType }),
            ),
          );
        } catch (err) {
          throw relabel(err, plan.endpointId, "upload");
        }
      }
      ref = await submitFal(rt, plan.endpointId, plan.input(urls), o.signal);
      try {
        if (key) await o.store!.put(key, ref);
        await o.onSubmitted?.(ref);
      } catch (err) {
        await cancelFal(rt, ref);
        await forget();
        throw err;
      }
      result = await resumeFal(rt, ref, o);
    }
    const value = await finish(result, ref!);
    await forget();
    return { value, ref: ref!, resumed, warnings };
  } catch (err) {
    if (o.signal?.aborted || isAbort(err)) {
      const reason = o.signal?.reason;
      if (ref && (o.cancelOnAbort ?? defaultCancelOnAbort)(reason)) {
        await cancelFal(rt, ref);
        await forget();
      }
      throw o.signal?.aborted ? abortReason(o.signal) : err;
    }
    if (ref && !stillAlive(err)) await forget();
    throw err;
  }
}
