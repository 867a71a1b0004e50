import type { Subprocess } from "bun";

export type StopReason = "timeout" | "aborted";

/**
 * Kills `proc` when `timeoutMs` passes or `signal` aborts, and says which stopped it. Call
 * `release()` once the process has exited (in a finally) to drop the timer and the listener.
 */
export function guard(proc: Subprocess, options: { timeoutMs: number; signal?: AbortSignal }) {
  let stoppedBy: StopReason | null = null;
  const stop = (why: StopReason) => {
    stoppedBy ??= why;
    proc.kill("SIGKILL");
  };
  const timer = setTimeout(() => stop("timeout"), options.timeoutMs);
  const onAbort = () => stop("aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  return {
    stoppedBy: () => stoppedBy,
    release() {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    },
  };
}
