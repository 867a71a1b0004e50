import { createHash } from "node:crypto";
import type { LedgerContext } from "../ledger.ts";
import {
  type ComfyConnection,
  type ComfyHistoryEntry,
  dropPrompt,
  historyOf,
  openSocket,
  placeInQueue,
  queuePrompt,
  uploadImage,
} from "./client.ts";
import { abortReason, ComfyUIProviderError, isAbort } from "./errors.ts";
import type { JobAttempt } from "./job-progress.ts";
import { type ProgressSink, progressTracker } from "./progress.ts";
import type { ComfyPromptOwner, ComfyPromptStore } from "./prompt-store.ts";
import { fillWorkflow, type PlaceholderValues } from "./workflow.ts";
import type { ComfyWorkflow } from "./workflow-store.ts";

/**
 * One generation on a ComfyUI server, run once even across crashes.
 *
 * THE PROMPT ID IS OURS. ComfyUI takes the prompt's id from POST /prompt's body, so the id is
 * chosen here and committed to Postgres (the prompt store: provider_requests + submit_intents)
 * BEFORE the prompt is sent, under a fingerprint of the filled workflow and the server. A job
 * rescued from a dead worker makes the same call, finds the id and polls that prompt — GET
 * /history/{id}, GET /queue — instead of queueing a second one. Only a prompt the server does not
 * know at all (the worker died before sending it, or the server restarted and lost its queue) is
 * sent again, under the same id, with a warning. The stored ref is dropped once the output is
 * downloaded (the job's later attempt can still find it, and ComfyUI serves it again), or when the
 * prompt is dead: refused (400), failed while running (`execution_error`), or cancelled.
 *
 * Waiting: a socket on /ws?clientId=<prompt id> (the client id the prompt was queued with, so a
 * rescued attempt hears the same prompt) reports the queue position and each node's progress, and
 * wakes the poll when the prompt ends; /history is polled every `pollIntervalMs` regardless, so a
 * lost socket costs latency only.
 *
 * Aborts: unless the worker is only going away ("lease-lost", "shutdown": the job will be rescued
 * and resume the prompt), the prompt is deleted from the queue, or interrupted if it is running.
 */
export interface ComfyRuntime {
  connection: ComfyConnection;
  prompts?: ComfyPromptStore;
  pollIntervalMs: number;
  /** Writes a job's progress (job-progress.ts); without it only `onProgress` hears. */
  jobProgress?: (job: JobAttempt, percent: number, message: string) => Promise<void>;
  cancelOnAbort: (reason: unknown) => boolean;
}

/** What to run: a workflow, the values of its placeholders, and the image for `{{image}}`. */
export interface ComfyPlan {
  workflow: ComfyWorkflow;
  values: PlaceholderValues;
  image?: { bytes: Uint8Array; mimeType: string };
}

export interface ComfyRunOptions {
  signal?: AbortSignal;
  /** The chain's ledger context: its scope names the job whose progress is reported and who owns the prompt. */
  ledger?: LedgerContext;
  onProgress?: ProgressSink;
}

export const defaultCancelOnAbort = (reason: unknown) => reason !== "lease-lost" && reason !== "shutdown";

const EXT: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

/** The name an image is uploaded under: its digest, so the same bytes are the same file. */
function imageName(image: { bytes: Uint8Array; mimeType: string }): string {
  const digest = createHash("sha256").update(image.bytes).digest("hex").slice(0, 32);
  return `inkreel-${digest}.${EXT[image.mimeType] ?? "png"}`;
}

/** The prompt's fingerprint: same server, same filled workflow → same key. */
export function fingerprint(server: string, graph: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify({ provider: "comfyui", server, graph }))
    .digest("hex");
}

/** An execution that ended in error, from the history's status messages. */
function executionFailure(rt: ComfyRuntime, entry: ComfyHistoryEntry, promptId: string): ComfyUIProviderError | null {
  if (entry.status?.status_str !== "error") return null;
  const messages = entry.status.messages ?? [];
  const found = messages.find((m) => m[0] === "execution_error" || m[0] === "execution_interrupted");
  const d = (found?.[1] ?? {}) as { node_id?: unknown; node_type?: unknown; exception_message?: unknown };
  const where = d.node_id ? ` at node ${String(d.node_id)}${d.node_type ? ` (${String(d.node_type)})` : ""}` : "";
  const why =
    found?.[0] === "execution_interrupted"
      ? "interrupted"
      : typeof d.exception_message === "string"
        ? d.exception_message.trim().slice(0, 300)
        : "failed";
  return new ComfyUIProviderError({
    model: rt.connection.model,
    retryable: true,
    phase: "execution",
    message: `comfyui ${rt.connection.model}: prompt ${promptId} ${found?.[0] === "execution_interrupted" ? "was" : "failed"}${where}: ${why}`,
  });
}

/**
 * The socket of a prompt: /ws?clientId=<the id reserved for it>, the client id it is queued with,
 * so ComfyUI sends it the prompt's messages — even to a rescued attempt. Progress goes to the
 * tracker; the prompt's end and every queue change wake `nap`.
 */
async function watch(rt: ComfyRuntime, clientId: string, progress: ReturnType<typeof progressTracker>) {
  let wake: (() => void) | null = null;
  const state = { promptId: clientId };
  const wakeUp = () => wake?.();
  const socket = await openSocket(rt.connection, clientId, (m) => {
    const d = m.data;
    if (m.type === "status") return wakeUp();
    if (d.prompt_id !== undefined && d.prompt_id !== state.promptId) return;
    if (m.type === "progress") progress.step(String(d.node ?? ""), Number(d.value), Number(d.max));
    else if (m.type === "executing") d.node == null ? wakeUp() : progress.executing(String(d.node));
    else if (m.type === "execution_cached" && Array.isArray(d.nodes)) progress.cached(d.nodes.map(String));
    else if (["execution_success", "execution_error", "execution_interrupted"].includes(m.type)) wakeUp();
  });
  return {
    state,
    close: () => socket.close(),
    /** Waits `ms`, or less when the socket says something changed. */
    nap(ms: number, signal?: AbortSignal) {
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", aborted);
          wake = null;
          resolve();
        };
        const aborted = () => {
          clearTimeout(timer);
          wake = null;
          reject(abortReason(signal!));
        };
        const timer = setTimeout(done, ms);
        wake = done;
        if (signal?.aborted) aborted();
        else signal?.addEventListener("abort", aborted, { once: true });
      });
    },
  };
}

/** Polls the prompt until its history entry exists (woken early by the socket); "lost" when the server knows nothing of it. */
async function waitFor(
  rt: ComfyRuntime,
  promptId: string,
  progress: ReturnType<typeof progressTracker>,
  socket: Awaited<ReturnType<typeof watch>>,
  signal?: AbortSignal,
): Promise<ComfyHistoryEntry | "lost"> {
  const c = rt.connection;
  socket.state.promptId = promptId;
  for (;;) {
    const entry = await historyOf(c, promptId, signal);
    if (entry) return entry;
    const place = await placeInQueue(c, promptId, signal);
    if (!place) return (await historyOf(c, promptId, signal)) ?? "lost";
    if (place.state === "pending") progress.queued(place.ahead);
    else progress.running();
    await socket.nap(rt.pollIntervalMs, signal);
  }
}

/** Uploads the image and sends the prompt under `promptId`; returns the id the server answered. */
async function send(rt: ComfyRuntime, plan: ComfyPlan, promptId: string, signal?: AbortSignal): Promise<string> {
  const c = rt.connection;
  if (plan.image) await uploadImage(c, { ...plan.image, name: imageName(plan.image) }, signal);
  const graph = fillWorkflow(plan.workflow.graph, {
    ...plan.values,
    ...(plan.image ? { image: imageName(plan.image) } : {}),
  });
  try {
    return await queuePrompt(c, { graph, promptId, clientId: promptId, signal });
  } catch (err) {
    // Not answered (a 5xx, a lost connection): it may have been queued all the same.
    if (signal?.aborted || !(err instanceof ComfyUIProviderError) || err.status === 400) throw err;
    const seen = await Promise.all([placeInQueue(c, promptId, signal), historyOf(c, promptId, signal)]).catch(
      () => [null, null] as const,
    );
    if (seen[0] || seen[1]) return promptId;
    throw new ComfyUIProviderError({
      model: c.model,
      status: err.status,
      retryable: err.retryable,
      phase: "submit",
      message: err.message,
      cause: err,
    });
  }
}

/**
 * Finds or sends the prompt, waits for it, and turns its history entry into the output with
 * `finish` (downloads happen there). See the contract above.
 */
export async function runComfy<T>(
  rt: ComfyRuntime,
  plan: ComfyPlan,
  o: ComfyRunOptions,
  finish: (entry: ComfyHistoryEntry, promptId: string) => Promise<T>,
): Promise<{ value: T; promptId: string; resumed: boolean; warnings: string[] }> {
  const c = rt.connection;
  const warnings: string[] = [];
  const scope = o.ledger?.scope;
  const owner: ComfyPromptOwner = { jobId: scope?.jobId ?? null, attempt: scope?.attempt ?? null };
  const job = owner.jobId && owner.attempt !== null ? { jobId: owner.jobId, attempt: owner.attempt } : null;
  const progress = progressTracker(
    plan.workflow.graph,
    rt.jobProgress && job ? (p, m) => rt.jobProgress!(job, p, m) : null,
    o.onProgress,
  );
  // The fingerprint names the image by its digest-derived upload name: the same bytes, the same key.
  const key = fingerprint(
    c.url,
    fillWorkflow(plan.workflow.graph, { ...plan.values, ...(plan.image ? { image: imageName(plan.image) } : {}) }),
  );
  const store = rt.prompts;
  const found = store ? await store.find(key, owner) : null;
  let promptId = found?.promptId ?? crypto.randomUUID();
  const resumed = found !== null;
  const forget = async (state: "downloaded" | "dead") => {
    if (store) await store.close(key, promptId, state).catch(() => {});
  };
  let socket: Awaited<ReturnType<typeof watch>> | null = null;
  try {
    let entry: ComfyHistoryEntry | "lost";
    if (found) {
      socket = await watch(rt, promptId, progress);
      entry = await waitFor(rt, promptId, progress, socket, o.signal);
      if (entry === "lost") {
        warnings.push(
          `comfyui prompt ${promptId} is unknown to the server (never sent, or the server restarted): sent again under the same id`,
        );
        promptId = await send(rt, plan, promptId, o.signal);
        entry = await waitFor(rt, promptId, progress, socket, o.signal);
      } else warnings.push(`resumed comfyui prompt ${promptId}: not queued again`);
    } else {
      if (store) await store.reserve(key, { server: c.url, promptId }, owner);
      const reserved = promptId;
      // Listening before the prompt is sent: its first messages are not missed.
      socket = await watch(rt, reserved, progress);
      promptId = await send(rt, plan, reserved, o.signal);
      if (store) await store.accepted(key, reserved, promptId);
      entry = await waitFor(rt, promptId, progress, socket, o.signal);
    }
    if (entry === "lost")
      throw new ComfyUIProviderError({
        model: c.model,
        retryable: true,
        phase: "execution",
        message: `comfyui ${c.model}: prompt ${promptId} vanished from the server's queue without a history entry`,
      });
    const failed = executionFailure(rt, entry, promptId);
    if (failed) throw failed;
    const value = await finish(entry, promptId);
    await forget("downloaded");
    await progress.flush();
    return { value, promptId, resumed, warnings };
  } catch (err) {
    if (o.signal?.aborted || isAbort(err)) {
      if (rt.cancelOnAbort(o.signal?.reason)) {
        await dropPrompt(c, promptId);
        await forget("dead");
      }
      throw o.signal?.aborted ? abortReason(o.signal) : err;
    }
    // A prompt whose status could not be read is still in flight: the next attempt polls it.
    if (!(err instanceof ComfyUIProviderError && err.retryable && err.phase === "status")) await forget("dead");
    throw err;
  } finally {
    socket?.close();
  }
}
