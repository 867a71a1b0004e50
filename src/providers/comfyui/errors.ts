/**
 * The one error the ComfyUI provider throws (aborts aside), shaped like the other providers' so
 * the chain can decide (ai-error.ts): a refused prompt (400 with ComfyUI's `node_errors`) is our
 * workflow's fault and is not failed over; a server that is down (5xx, unreachable) or a prompt
 * that failed while running (`execution_error`: out of memory, a missing model file) is, and the
 * next link of the chain answers instead. A prompt still queued or running whose status could not
 * be read (phase "status", its id set) is still in flight: the job's next attempt polls it again.
 */
export class ComfyUIProviderError extends Error {
  override name = "ComfyUIProviderError";
  readonly provider = "comfyui";
  readonly model: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** The prompt this concerns, when one was queued (as `requestId`, the name the chain reads). */
  readonly requestId: string | undefined;
  readonly phase: ComfyPhase | undefined;
  /** ComfyUI's own validation answer: node id → {class_type, errors}. */
  readonly nodeErrors: Record<string, ComfyNodeError>;

  constructor(init: {
    model: string;
    message: string;
    status?: number;
    retryable: boolean;
    promptId?: string;
    phase?: ComfyPhase;
    nodeErrors?: Record<string, ComfyNodeError>;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.model = init.model;
    this.status = init.status;
    this.retryable = init.retryable;
    this.requestId = init.promptId;
    this.phase = init.phase;
    this.nodeErrors = init.nodeErrors ?? {};
  }
}

export type ComfyPhase = "upload" | "submit" | "status" | "execution" | "result" | "download";

/** One entry of POST /prompt's `node_errors` (execution.py, validate_prompt). */
export interface ComfyNodeError {
  class_type: string;
  errors: Array<{ type?: string; message?: string; details?: string }>;
  dependent_outputs?: string[];
}

/** Statuses worth trying again on an idempotent call. */
export const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}

/** What to throw for an aborted signal: its reason when that is an Error, else an AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  const r = signal.reason;
  if (r instanceof Error) return r;
  return new DOMException(typeof r === "string" ? `aborted: ${r}` : "aborted", "AbortError");
}

/** "node 3 (KSampler): Value not in list: ckpt_name: 'x' not in [...]; …" from `node_errors`. */
export function describeNodeErrors(nodeErrors: Record<string, ComfyNodeError>): string {
  return Object.entries(nodeErrors)
    .map(([id, e]) => {
      const what = (e.errors ?? [])
        .map((x) => [x.message, x.details].filter(Boolean).join(": "))
        .filter(Boolean)
        .join("; ");
      return `node ${id} (${e.class_type})${what ? `: ${what}` : ""}`;
    })
    .join("; ")
    .slice(0, 600);
}

/** The explanation of a refused prompt: `error` is an object ({type, message, details}) or a string. */
export function promptRefusal(body: unknown): { message: string; nodeErrors: Record<string, ComfyNodeError> } {
  const b = (body ?? {}) as { error?: unknown; node_errors?: unknown };
  const nodeErrors =
    b.node_errors && typeof b.node_errors === "object" && !Array.isArray(b.node_errors)
      ? (b.node_errors as Record<string, ComfyNodeError>)
      : {};
  const e = b.error as { message?: unknown; details?: unknown } | string | undefined;
  const head =
    typeof e === "string"
      ? e
      : [e?.message, e?.details].filter((x): x is string => typeof x === "string" && x !== "").join(": ");
  const nodes = describeNodeErrors(nodeErrors);
  return { message: [head || "the prompt was refused", nodes].filter(Boolean).join(" — "), nodeErrors };
}
