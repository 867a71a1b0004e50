import { type EnqueueInput, type Handler, PermanentJobError } from "../queue/index.ts";
import type { Storage } from "../storage/types.ts";
import { MAINTENANCE_QUEUE } from "./maintenance.ts";

export const DELETE_PREFIX = "storage.delete_prefix";

export interface DeletePrefixPayload {
  /** Ends with "/", so "projects/<id>/" never matches another project's folder. */
  prefix: string;
}

// A storage outage can last a while: doubling from a second (capped at an hour) for 15 attempts
// keeps retrying for about four hours before the job is left failed for an operator to re-drive.
const RETRY = { queue: MAINTENANCE_QUEUE, maxAttempts: 15, backoffMs: 1000, timeoutMs: 10 * 60_000 } as const;

/**
 * The removal of every stored object under `prefix`, to enqueue in the transaction that deletes
 * the rows pointing at them. With `after`, it waits for those jobs to end (however they end), so
 * a job still writing files when it was cancelled cannot leave one behind.
 */
export function deletePrefixJob(prefix: string, after: string[] = []): EnqueueInput {
  if (!prefix.endsWith("/") || prefix === "/") throw new Error(`refusing to delete the storage prefix "${prefix}"`);
  const payload: DeletePrefixPayload = { prefix };
  return { ...RETRY, kind: DELETE_PREFIX, payload, parents: after, onParentFailure: "proceed" };
}

/**
 * Idempotent: an object already gone counts as deleted, so a redelivered or retried job just
 * finishes what is left. A storage error fails the attempt and the queue retries with backoff.
 */
export function storageCleanupHandlers(storage: Storage): Record<string, Handler> {
  return {
    [DELETE_PREFIX]: async (payload: DeletePrefixPayload, ctx) => {
      if (typeof payload?.prefix !== "string" || !payload.prefix.endsWith("/") || payload.prefix === "/")
        throw new PermanentJobError("storage.delete_prefix needs a prefix ending with /");
      const objects = await storage.list(payload.prefix);
      for (const o of objects) {
        ctx.signal.throwIfAborted();
        await storage.delete(o.key);
      }
      return { deleted: objects.length };
    },
  };
}
