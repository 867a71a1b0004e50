import { createHash } from "node:crypto";
import type { QueueStatus } from "@fal-ai/client";
import type { LedgerContext, LedgerEntry } from "../ledger.ts";
import type { Usage } from "../types.ts";
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
 *
 * THE SUBMIT WINDOW. A worker killed after fal accepted a submission but before its request id was
 * stored would leave nothing to resume. With a store that keeps intents (`store.intents`, the
 * submit_intents table) and a queue job behind the call (`ledger.scope.jobId`), every submission
 * is preceded by a committed INTENT (job, attempt, fingerprint, a random nonce) and its request id
 * is stored on it when fal answers. A later attempt of the job that finds:
 *
 *  - an intent with a request id (the ref was dropped once downloaded, but the crash came before
 *    the caller kept the output): resumes that request — fal serves a finished result again, free;
 *  - an intent without one (an orphan): waits, with a webhook, `orphanWaitMs` for it to be adopted
 *    — the submission carried `?nonce=` in our webhook URL, and the route gives a delivery for an
 *    unknown request id to the intent with that nonce (fal looks requests up by id only) — then
 *    resumes the adopted request; else gives up on it and submits again, recording the submission
 *    fal may have billed as `resubmitted_after_crash` in the cost ledger, in the transaction that
 *    writes the new intent. Without a webhook it submits again at once, recorded the same way.
 *
 * What remains is the time between fal accepting and the request id being committed (a few
 * milliseconds: one UPDATE); only a crash inside it, with no webhook to adopt the orphan in time,
 * pays twice, and then it is in the ledger.
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
  /** The chain's ledger context (providers/chain.ts): its scope names the job; a lost submission is billed with it. */
  ledger?: LedgerContext;
}

/** Where refs survive crashes (a database table in production). Keys are hex fingerprints. */
export interface FalRequestStore {
  get(key: string): Promise<FalRequestRef | null | undefined> | FalRequestRef | null | undefined;
  put(key: string, ref: FalRequestRef): Promise<void> | void;
  delete(key: string): Promise<void> | void;
  /** Write-ahead intents of submissions (see THE SUBMIT WINDOW); without them a crash mid-submission is invisible. */
  intents?: FalIntentStore;
}

export type FalIntentState = "pending" | "submitted" | "downloaded" | "dead" | "abandoned";

/** A submission about to be made. */
export interface FalNewIntent {
  nonce: string;
  key: string;
  endpointId: string;
  jobId: string | null;
  attempt: number | null;
}

export interface FalIntent {
  nonce: string;
  endpointId: string;
  attempt: number | null;
  requestId: string | null;
  state: FalIntentState;
}

export interface FalIntentStore {
  /** Committed before the submission is sent. */
  intend(intent: FalNewIntent): Promise<void>;
  /** fal answered: the request id on the intent and the ref kept for resuming (as `put`), in one transaction. */
  submitted(nonce: string, key: string, ref: FalRequestRef): Promise<void>;
  /**
   * The job's latest intent for this fingerprint still worth something: pending or submitted, or
   * downloaded by an EARLIER attempt (a same-attempt repeat of a call is a new generation, as before).
   */
  latest(key: string, owner: { jobId: string; attempt: number | null }): Promise<FalIntent | null>;
  byNonce(nonce: string): Promise<FalIntent | null>;
  /** Nothing came of the submission: fal refused it (an HTTP error answer). */
  refused(nonce: string): Promise<void>;
  /** The request is done with: its output downloaded, or dead (failed for good, cancelled). */
  close(key: string, requestId: string, state: "downloaded" | "dead"): Promise<void>;
  /**
   * Gives up on a pending orphan: marks it abandoned, records `charge` (if any) and writes `next`,
   * in one transaction. Returns the orphan as it was found when it is no longer pending (adopted
   * meanwhile, or refused): then nothing is written.
   */
  abandon(orphan: string, next: FalNewIntent, charge: LedgerEntry | null): Promise<FalIntent | null>;
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

/** Our webhook URL for one submission: with the intent's nonce, by which a delivery for an unknown request id is adopted. */
export function webhookUrlFor(base: string, nonce?: string): string {
  if (!nonce) return base;
  const u = new URL(base);
  u.searchParams.set("nonce", nonce);
  return u.href;
}

/** Queues one request: the one call that costs money. */
export async function submitFal(
  rt: FalRuntime,
  endpointId: string,
  input: Record<string, unknown>,
  signal?: AbortSignal,
  nonce?: string,
): Promise<FalRequestRef> {
  try {
    // The client appends `?fal_webhook=<url>` to the submission: fal POSTs there when the request ends.
    const webhookUrl = rt.webhookUrl && rt.wait ? webhookUrlFor(rt.webhookUrl, nonce) : undefined;
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
  /** What the generation bills (one image, the clip's seconds): the charge of a submission lost to a crash. */
  usage?: Usage;
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

/** fal answered the submission with an error: it was not queued (a 500/502/504 or a lost answer may have been). */
const refusedSubmission = (err: unknown) =>
  err instanceof FalProviderError && err.status !== undefined && (err.status < 500 || err.status === 503);

const refOf = (i: FalIntent): FalRequestRef => ({ endpointId: i.endpointId, requestId: i.requestId! });

/** An orphan's wait: its webhook (woken through NOTIFY by the adoption) for `orphanWaitMs` at most; none without a webhook. */
async function awaitAdoption(
  rt: FalRuntime,
  intents: FalIntentStore,
  orphan: FalIntent,
  signal?: AbortSignal,
): Promise<FalIntent | null> {
  if (rt.webhookUrl && rt.wait && rt.orphanWaitMs > 0) await rt.wait(orphan.nonce, rt.orphanWaitMs, signal);
  return intents.byNonce(orphan.nonce);
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
  const jobId = o.ledger?.scope.jobId ?? null;
  const attempt = o.ledger?.scope.attempt ?? null;
  // Intents are kept for queue jobs only: outside one, no later attempt would come looking.
  const intents = key && jobId ? o.store!.intents : undefined;
  let ref: FalRequestRef | undefined;
  const forget = async (state: "downloaded" | "dead") => {
    if (!key) return;
    await Promise.resolve(o.store!.delete(key)).catch(() => {});
    if (intents && ref) await intents.close(key, ref.requestId, state).catch(() => {});
  };
  ref =
    typeof o.resume === "string"
      ? { endpointId: plan.endpointId, requestId: o.resume }
      : (o.resume ?? (key ? ((await o.store!.get(key)) ?? undefined) : undefined));
  let orphan: FalIntent | undefined;
  if (!ref && intents) {
    const prior = await intents.latest(key!, { jobId: jobId!, attempt });
    if (prior?.requestId) {
      ref = refOf(prior);
      warnings.push(
        `fal request ${prior.requestId}: an earlier attempt of this job submitted it (${prior.state}); fetched again, not submitted`,
      );
    } else if (prior) orphan = prior;
  }
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
        await forget("dead");
        ref = undefined;
        resumed = false;
      }
    }
    if (!ref && orphan) {
      const now = await awaitAdoption(rt, intents!, orphan, o.signal);
      if (now?.requestId) {
        ref = refOf(now);
        resumed = true;
        warnings.push(
          `fal request ${now.requestId}: submitted by an earlier attempt that died before storing its id; adopted, not submitted again`,
        );
        result = await resumeFal(rt, ref, o);
      } else if (now?.state !== "pending") orphan = undefined;
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
      const next: FalNewIntent = { nonce: crypto.randomUUID(), key: key!, endpointId: plan.endpointId, jobId, attempt };
      let adopted: FalIntent | null = null;
      if (intents && orphan) {
        const charge: LedgerEntry | null = o.ledger
          ? {
              ...o.ledger,
              kind: "resubmitted_after_crash",
              outcome: "failed",
              usage: plan.usage,
              durationMs: 0,
              error: `attempt ${orphan.attempt ?? "?"} of job ${jobId} died after sending its submission (intent ${orphan.nonce}) and before storing fal's request id; fal may have accepted and billed it; attempt ${attempt ?? "?"} submitted again`,
            }
          : null;
        const found = await intents.abandon(orphan.nonce, next, charge);
        if (!found)
          warnings.push(
            `fal: an earlier attempt's submission (intent ${orphan.nonce}) never got its request id stored; submitted again (resubmitted_after_crash in the ledger)`,
          );
        // Adopted at the last moment: that request is resumed after all.
        else if (found.requestId) adopted = found;
        else await intents.intend(next);
      } else if (intents) await intents.intend(next);
      if (adopted) {
        ref = refOf(adopted);
        resumed = true;
        result = await resumeFal(rt, ref, o);
      } else {
        try {
          ref = await submitFal(rt, plan.endpointId, plan.input(urls), o.signal, intents ? next.nonce : undefined);
        } catch (err) {
          if (intents && refusedSubmission(err)) await intents.refused(next.nonce).catch(() => {});
          throw err;
        }
        try {
          if (intents) await intents.submitted(next.nonce, key!, ref);
          else if (key) await o.store!.put(key, ref);
          await o.onSubmitted?.(ref);
        } catch (err) {
          await cancelFal(rt, ref);
          await forget("dead");
          throw err;
        }
        result = await resumeFal(rt, ref, o);
      }
    }
    const value = await finish(result, ref!);
    await forget("downloaded");
    return { value, ref: ref!, resumed, warnings };
  } catch (err) {
    if (o.signal?.aborted || isAbort(err)) {
      const reason = o.signal?.reason;
      if (ref && (o.cancelOnAbort ?? defaultCancelOnAbort)(reason)) {
        await cancelFal(rt, ref);
        await forget("dead");
      }
      throw o.signal?.aborted ? abortReason(o.signal) : err;
    }
    if (ref && !stillAlive(err)) await forget("dead");
    throw err;
  }
}
