import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { purgeTrash } from "../pipeline/asset-removal.ts";
import { expireCharges } from "../providers/compute-ledger.ts";
import { type Handler, pruneHistory, rescueExpired, type Schedule } from "../queue/index.ts";
import { pruneRateLimits } from "../services/rate-limit.ts";
import { pruneUsageCounters } from "../services/usage-limits.ts";

export const MAINTENANCE_QUEUE = "maintenance";

/** Recurring upkeep, enqueued by whichever worker finds it due. */
export const MAINTENANCE_SCHEDULES: Schedule[] = [
  { name: "prune-job-history", cron: "17 * * * *", kind: "maintenance.prune_history", queue: MAINTENANCE_QUEUE },
  { name: "prune-rate-limits", cron: "*/5 * * * *", kind: "maintenance.prune_rate_limits", queue: MAINTENANCE_QUEUE },
  { name: "rescue-sweep", cron: "* * * * *", kind: "maintenance.rescue", queue: MAINTENANCE_QUEUE },
  {
    name: "prune-idempotency-keys",
    cron: "41 * * * *",
    kind: "maintenance.prune_idempotency_keys",
    queue: MAINTENANCE_QUEUE,
  },
  // Reservations a crashed request or worker left open: released once their work is over and their TTL past.
  {
    name: "expire-compute-charges",
    cron: "*/5 * * * *",
    kind: "maintenance.expire_charges",
    queue: MAINTENANCE_QUEUE,
  },
  { name: "purge-trash", cron: "23 * * * *", kind: "maintenance.purge_trash", queue: MAINTENANCE_QUEUE },
  {
    name: "prune-provider-rows",
    cron: "53 * * * *",
    kind: "maintenance.prune_provider_rows",
    queue: MAINTENANCE_QUEUE,
  },
];

export function maintenanceHandlers(db: Db, config: Config): Record<string, Handler> {
  return {
    "maintenance.prune_history": async () => ({
      deleted: await pruneHistory(db, config.queue.retentionHours * 3_600_000),
    }),
    "maintenance.prune_rate_limits": async () => {
      await pruneRateLimits(db);
      await pruneUsageCounters(db);
      return { ok: true };
    },
    "maintenance.rescue": async () => ({ rescued: await rescueExpired(db) }),
    "maintenance.expire_charges": async () => ({ expired: await expireCharges(db) }),
    // Trashed assets past ASSET_TRASH_RETENTION_DAYS that nothing uses: rows go, files are queued for removal.
    "maintenance.purge_trash": async () => purgeTrash(db, config.uploads.trashRetentionDays),
    // An Idempotency-Key protects retries of one request, not forever: a day is plenty.
    "maintenance.prune_idempotency_keys": async () => {
      const r = await db
        .deleteFrom("idempotency_keys")
        .where("created_at", "<", new Date(Date.now() - 86_400_000))
        .executeTakeFirst();
      return { deleted: Number(r.numDeletedRows) };
    },
    // Replays are refused inside the 300 s signature window; after a day a delivery is history.
    // Rate-limit slots older than their minute are dead weight. A submitted request no job came
    // back for in a week (its run deleted, say) will not be resumed: fal has dropped it too.
    "maintenance.prune_provider_rows": async () => {
      const hooks = await db
        .deleteFrom("fal_webhooks")
        .where("received_at", "<", new Date(Date.now() - 86_400_000))
        .executeTakeFirst();
      const calls = await db
        .deleteFrom("provider_calls")
        .where("at", "<", new Date(Date.now() - 120_000))
        .executeTakeFirst();
      const requests = await db
        .deleteFrom("provider_requests")
        .where("created_at", "<", new Date(Date.now() - 7 * 86_400_000))
        .executeTakeFirst();
      // An intent matters while a rescued attempt may still come back for it: the same week.
      const intents = await db
        .deleteFrom("submit_intents")
        .where("created_at", "<", new Date(Date.now() - 7 * 86_400_000))
        .executeTakeFirst();
      return {
        webhooks: Number(hooks.numDeletedRows),
        rate_slots: Number(calls.numDeletedRows),
        requests: Number(requests.numDeletedRows),
        intents: Number(intents.numDeletedRows),
      };
    },
  };
}
