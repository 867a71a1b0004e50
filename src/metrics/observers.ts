import type { Capability } from "../core/capabilities.ts";

/**
 * What the queue worker and the provider chain report as they go. Each process passes the
 * observers of its metrics registry; everything else gets the no-op ones below, so code that
 * runs jobs or calls providers never depends on metrics being collected.
 */

/** How one attempt of a job ended in this worker. */
export type JobOutcome = "completed" | "failed" | "cancelled" | "released" | "lost";

export interface JobAttempt {
  queue: string;
  /** The job's kind, or "unregistered" when this worker has no handler for it. */
  kind: string;
  outcome: JobOutcome;
  /** Set when the outcome is "failed": a thrown error, the job's timeout, or a PermanentJobError. */
  reason?: "error" | "timeout" | "permanent";
  seconds: number;
}

export interface JobObserver {
  attempted(attempt: JobAttempt): void;
  /** Expired leases this worker's sweep returned to ready (or failed). */
  rescued(count: number): void;
}

export const noJobObserver: JobObserver = Object.freeze({ attempted() {}, rescued() {} });

/** One provider call as the cost ledger records it. */
export interface ProviderCall {
  capability: Capability;
  provider: string;
  model: string;
  outcome: "ok" | "failed";
  /** The chain moved on to its next link after this failure. */
  failedOver: boolean;
  costUsd: number;
  seconds: number;
}

export interface ProviderCallObserver {
  called(call: ProviderCall): void;
}

export const noProviderCalls: ProviderCallObserver = Object.freeze({ called() {} });
