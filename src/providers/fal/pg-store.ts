import type { Db } from "../../db/client.ts";
import type { FalRequestRef, FalRequestStore } from "./queue.ts";

/**
 * fal requests survive crashes in Postgres (provider_requests): the ref is written right after
 * the paid submission and before any waiting, so a job rescued from a dead worker finds it by the
 * request's fingerprint and polls the same request instead of submitting (and paying) again.
 */
export function pgRequestStore(db: Db): FalRequestStore {
  return {
    async get(key) {
      const row = await db
        .selectFrom("provider_requests")
        .select(["endpoint_id", "request_id"])
        .where("key", "=", key)
        .executeTakeFirst();
      return row ? ({ endpointId: row.endpoint_id, requestId: row.request_id } satisfies FalRequestRef) : null;
    },
    async put(key, ref) {
      await db
        .insertInto("provider_requests")
        .values({ key, endpoint_id: ref.endpointId, request_id: ref.requestId })
        .onConflict((oc) =>
          oc
            .column("key")
            .doUpdateSet({ endpoint_id: ref.endpointId, request_id: ref.requestId, created_at: new Date() }),
        )
        .execute();
    },
    async delete(key) {
      await db.deleteFrom("provider_requests").where("key", "=", key).execute();
    },
  };
}
