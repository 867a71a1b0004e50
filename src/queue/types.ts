import type { Logger } from "../log.ts";

export interface EnqueueInput {
  kind: string;
  queue?: string;
  payload?: unknown;
  /** Lower runs first. */
  priority?: number;
  /** Not before this time (delayed job). */
  runAt?: Date;
  maxAttempts?: number;
  /** The handler is aborted after this long (and the attempt fails). */
  timeoutMs?: number;
  /** First retry delay; doubled per attempt, capped at an hour, ±25% jitter. */
  backoffMs?: number;
  /** Enqueue is idempotent on this key: the live or completed job with it is returned. */
  uniqueKey?: string;
  /** At most `concurrencyLimit` jobs with this key run at once, across all workers. */
  concurrencyKey?: string;
  concurrencyLimit?: number;
  /** The job becomes ready only when all of these completed. */
  parents?: string[];
  /** When a parent fails or is cancelled: fail too (default), or run anyway. */
  onParentFailure?: "fail" | "proceed";
}

/** A job as a worker holds it for one attempt. */
export interface ClaimedJob {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  attempt: number;
  max_attempts: number;
  timeout_ms: number;
  lease_token: string;
  priority: number;
  /** UTC text with microseconds (see ClaimKey). */
  run_at: string;
}

export interface JobContext {
  id: string;
  kind: string;
  attempt: number;
  /** Aborted on cancel, timeout, lost lease or shutdown deadline; `signal.reason` says which. */
  signal: AbortSignal;
  progress(percent: number, message?: string): Promise<void>;
  heartbeat(): Promise<void>;
  log: Logger;
}

// biome-ignore lint/suspicious/noExplicitAny: each handler declares its own payload type; `unknown` would refuse them (parameters are contravariant)
export type Handler = (payload: any, ctx: JobContext) => unknown | Promise<unknown>;

/** Thrown by a handler: fail now without retrying. */
export class PermanentJobError extends Error {
  override name = "PermanentJobError";
}

/** Thrown by a handler: run again after `delayMs`, without spending an attempt. */
export class SnoozeJob extends Error {
  override name = "SnoozeJob";
  constructor(readonly delayMs: number) {
    super(`snoozed for ${delayMs} ms`);
  }
}
