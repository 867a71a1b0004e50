import { DELETE_PREFIX, type DeletePrefixPayload } from "../pipeline/project-removal.ts";
import { type Handler, PermanentJobError } from "../queue/index.ts";
import type { Storage } from "../storage/types.ts";

/**
 * Removes what deleted rows pointed at (enqueued by pipeline/project-removal.ts). Idempotent: an
 * object already gone counts as deleted, so a redelivered or retried job just finishes what is
 * left. A storage error fails the attempt and the queue retries it with backoff.
 */
export function storageCleanupHandlers(storage: Storage): Record<string, Handler> {
  return {
    [DELETE_PREFIX]: async (payload: DeletePrefixPayload, ctx) => {
      if (typeof payload?.prefix !== "string" || !payload.prefix.endsWith("/") || payload.prefix === "/")
        throw new PermanentJobError(`${DELETE_PREFIX} needs a prefix ending with /`);
      const objects = await storage.list(payload.prefix);
      for (const o of objects) {
        ctx.signal.throwIfAborted();
        await storage.delete(o.key);
      }
      return { deleted: objects.length };
    },
  };
}
