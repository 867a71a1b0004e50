import type { Capability } from "../core/capabilities.ts";
import { UpstreamError } from "../core/upstream-error.ts";

/** Where a provider call was made from, for the ledger and for error messages. */
export interface CallScope {
  userId?: string | null;
  spaceId?: string | null;
  projectId?: string | null;
  runId?: string | null;
  stage?: string | null;
  shotId?: string | null;
  /** The run, generation or export whose compute-power charge pays for the call (default: the run). */
  subjectId?: string | null;
  /** The queue job and attempt making the call: a paid submission's intent names them (fal/queue.ts). */
  jobId?: string | null;
  attempt?: number | null;
}

/** The shape every provider's error class shares (OpenAIProviderError, FalProviderError, ElevenLabsProviderError). */
export interface ProviderFailure {
  provider: string;
  model: string;
  status?: number | null;
  retryable: boolean;
  message: string;
}

export function isProviderFailure(e: unknown): e is ProviderFailure & Error {
  return (
    e instanceof Error &&
    typeof (e as Partial<ProviderFailure>).retryable === "boolean" &&
    typeof (e as Partial<ProviderFailure>).provider === "string"
  );
}

/**
 * A paid request still running at the provider (a fal queue request whose status or result could
 * not be read): the job's next attempt resumes it, so handing over to another model would pay twice.
 */
export function stillInFlight(e: unknown): boolean {
  const f = e as { requestId?: unknown; phase?: unknown; retryable?: unknown };
  return (
    isProviderFailure(e) &&
    f.retryable === true &&
    typeof f.requestId === "string" &&
    (f.phase === "status" || f.phase === "result")
  );
}

/** The key or the account was refused (401/403): another provider, with its own key, may still answer. */
export const refusedCredentials = (e: unknown) => isProviderFailure(e) && (e.status === 401 || e.status === 403);

/**
 * Worth trying the next model of the chain: the provider is down (5xx), timed out or unreachable
 * (no status, retryable), or kept rate-limiting us (429, after the SDK's own retries). A 4xx that
 * says our input is wrong is not: the next model would be asked the same. Nor is a request still
 * in flight (see stillInFlight).
 */
export function warrantsFailover(e: unknown): boolean {
  if (!isProviderFailure(e) || stillInFlight(e)) return false;
  const status = e.status ?? undefined;
  if (status === 429 || status === 408) return true;
  if (status !== undefined) return status >= 500;
  return e.retryable;
}

/**
 * A provider failed after its retries (and the chain's fallbacks): the API answers
 * AI_SERVICE_ERROR (502) with these details, the run records them; never a stack trace.
 */
export class AiServiceError extends UpstreamError {
  override name = "AiServiceError";
  override readonly code = "AI_SERVICE_ERROR";
  readonly retryable: boolean;
  readonly status: number | null;
  constructor(
    readonly capability: Capability,
    readonly provider: string,
    readonly model: string,
    readonly scope: CallScope,
    cause: unknown,
  ) {
    const where = [scope.stage ? `stage ${scope.stage}` : "", scope.shotId ? `shot ${scope.shotId}` : ""]
      .filter(Boolean)
      .join(", ");
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`${capability} by ${provider} (${model}) failed${where ? ` at ${where}` : ""}: ${why}`.slice(0, 800), {
      cause,
    });
    this.retryable = isProviderFailure(cause) ? cause.retryable : false;
    this.status = isProviderFailure(cause) ? (cause.status ?? null) : null;
  }

  /** What the API and the run show. */
  override details() {
    return {
      provider: this.provider,
      model: this.model,
      capability: this.capability,
      stage: this.scope.stage ?? null,
      shot_id: this.scope.shotId ?? null,
    };
  }
}
