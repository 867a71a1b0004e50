import type { ErrorCode } from "./errors.ts";

/**
 * A service we call (an AI provider, say) failed after its retries. Not our bug and not the
 * client's: the HTTP layer answers with the status of `code` and `details()` (never a stack
 * trace) and logs a warning, without knowing which layer raised it.
 */
export abstract class UpstreamError extends Error {
  abstract readonly code: ErrorCode;
  /** What the API and the log show about the failed call. */
  abstract details(): Record<string, unknown>;
}
