import {
  DELETE_KEYS,
  DELETE_PREFIX,
  type DeleteKeysPayload,
  type DeletePrefixPayload,
} from "../pipeline/project-removal.ts";
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
    [DELETE_KEYS]: async (payload: DeleteKeysPayload, ctx) => {
      if (!Array.isArray(payload?.keys) || payload.keys.some((k) => typeof k !== "string"))
        throw new PermanentJobError(`${DELETE_KEYS} needs a list of keys`);
      for (const key of payload.keys) {
        ctx.signal.throwIfAborted();
        await storage.delete(key);
      }
      return { deleted: payload.keys.length };
    },
  };
}
