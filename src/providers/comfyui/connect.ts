import type { ComfyConnection } from "./client.ts";
import type { JobAttempt } from "./job-progress.ts";
import type { ComfyPromptStore } from "./prompt-store.ts";
import { type ComfyRuntime, defaultCancelOnAbort } from "./run.ts";
import type { ComfyWorkflow } from "./workflow-store.ts";

/** How to reach a ComfyUI server: shared by the image and video factories. */
export interface ComfyConnectionOptions {
  /** The server's base URL (COMFYUI_URL, or a custom provider's), e.g. http://127.0.0.1:8188. */
  url: string;
  /** A bearer token for a server behind an authenticating proxy; plain ComfyUI needs none. */
  apiKey?: string | null;
  /** The fetch of every HTTP call (default: global fetch; the registry passes the SSRF-guarded one for an ADMIN's URL). */
  fetch?: typeof fetch;
  /** Checks the WebSocket's URL before it is opened (the SSRF rules); default: accept. */
  checkUrl?: (url: string) => Promise<void>;
  /** How long one HTTP call may take (default 60 s). */
  requestTimeoutMs?: number;
  /** Retries of idempotent calls after a 5xx or transport failure (default 3, from 250 ms doubling). */
  retries?: number;
  retryDelayMs?: number;
  /** The safety poll of /history while the socket is quiet (default 2 s). */
  pollIntervalMs?: number;
  /** Keeps prompt ids across crashes (pg-store.ts); without it a rescued job queues a new prompt. */
  prompts?: ComfyPromptStore;
  /** The workflow of a name (uploaded or shipped: workflow-store.ts `findWorkflow`). */
  workflows: (name: string) => Promise<ComfyWorkflow | null>;
  /** Writes queue position and node progress on the calling job (job-progress.ts). */
  jobProgress?: (job: JobAttempt, percent: number, message: string) => Promise<void>;
  /** Whether an abort with this reason drops the prompt (default: unless "lease-lost"/"shutdown"). */
  cancelOnAbort?: (reason: unknown) => boolean;
}

export function connectComfy(o: ComfyConnectionOptions, model: string): ComfyRuntime {
  if (!/^https?:\/\//.test(o.url)) throw new RangeError("the ComfyUI provider needs an http(s) URL (COMFYUI_URL)");
  const connection: ComfyConnection = {
    url: o.url.replace(/\/+$/, ""),
    apiKey: o.apiKey || null,
    fetch: o.fetch ?? globalThis.fetch,
    checkUrl: o.checkUrl ?? (async () => {}),
    requestTimeoutMs: o.requestTimeoutMs ?? 60_000,
    retries: o.retries ?? 3,
    retryDelayMs: o.retryDelayMs ?? 250,
    model,
  };
  return {
    connection,
    prompts: o.prompts,
    pollIntervalMs: o.pollIntervalMs ?? 2000,
    jobProgress: o.jobProgress,
    cancelOnAbort: o.cancelOnAbort ?? defaultCancelOnAbort,
  };
}
