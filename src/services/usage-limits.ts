import { sql } from "kysely";
import type { Config, TierLimits } from "../config.ts";
import { AppError } from "../core/errors.ts";
import type { Db } from "../db/client.ts";
import type { UsageMetric } from "../db/types.ts";
import { tierOf } from "../providers/compute-ledger.ts";

/** The fixed window each metric counts in (UTC). */
const WINDOW: Record<UsageMetric, "day" | "hour"> = {
  images_per_day: "day",
  videos_per_day: "day",
  api_calls_per_hour: "hour",
  batches_per_hour: "hour",
  retries_per_hour: "hour",
  task_lists_per_hour: "hour",
  task_polls_per_hour: "hour",
};

const LIMIT_OF: Record<UsageMetric, keyof TierLimits> = {
  images_per_day: "imagesPerDay",
  videos_per_day: "videosPerDay",
  api_calls_per_hour: "apiCallsPerHour",
  batches_per_hour: "batchesPerHour",
  retries_per_hour: "retriesPerHour",
  task_lists_per_hour: "taskListsPerHour",
  task_polls_per_hour: "taskPollsPerHour",
};

const WHAT: Record<UsageMetric, string> = {
  images_per_day: "pictures a day",
  videos_per_day: "videos a day",
  api_calls_per_hour: "generation API calls an hour",
  batches_per_hour: "batch generations an hour",
  retries_per_hour: "retries and regenerations an hour",
  task_lists_per_hour: "task lists an hour",
  task_polls_per_hour: "task status reads an hour",
};

export interface Charge {
  userId: string;
  metric: UsageMetric;
  amount: number;
}

/**
 * Adds `amount` to the user's counter of the current window if it stays within `limit`: one
 * upsert whose conflict arm only updates under the limit, so concurrent requests serialise on
 * the counter's row and never overshoot. Null when it would go over.
 */
async function addWithin(db: Db, c: Charge, limit: number): Promise<number | null> {
  if (c.amount > limit) return null;
  const row = await sql<{ count: number }>`
    insert into usage_counters (user_id, metric, window_start, count)
    values (${c.userId}, ${c.metric}, date_trunc(${WINDOW[c.metric]}, now(), 'UTC'), ${c.amount})
    on conflict (user_id, metric, window_start) do update set count = usage_counters.count + excluded.count
    where usage_counters.count + excluded.count <= ${limit}
    returning count
  `.execute(db);
  return row.rows[0]?.count ?? null;
}

/** Whole seconds until the metric's current window ends (at least 1). */
async function secondsToReset(db: Db, metric: UsageMetric): Promise<number> {
  const unit = WINDOW[metric];
  const row = await sql<{ s: number }>`
    select ceil(extract(epoch from (date_trunc(${unit}, now(), 'UTC') + ${`1 ${unit}`}::interval - now())))::int as s
  `.execute(db);
  return Math.max(1, row.rows[0]!.s);
}

/**
 * Counts work against the user's tier (seed 004's daily and hourly limits); over a limit → 429
 * RATE_LIMITED with Retry-After until the window resets. Run it in the transaction that records
 * the work: a request that fails afterwards gives its count back with the rollback.
 */
export async function chargeUsage(db: Db, limits: TierLimits, c: Charge): Promise<void> {
  const limit = limits[LIMIT_OF[c.metric]];
  if ((await addWithin(db, c, limit)) !== null) return;
  const retryAfter = await secondsToReset(db, c.metric);
  throw new AppError(
    "RATE_LIMITED",
    `over your limit of ${limit} ${WHAT[c.metric]}; it resets in ${retryAfter} s`,
    { metric: c.metric, limit, retry_after_s: retryAfter },
    { "retry-after": String(retryAfter) },
  );
}

/**
 * Counts one request to a limited endpoint (seed 000's batches and retries, seed 001's task lists
 * and status reads) against the caller's tier, in its own statement: a request counts once it is
 * allowed to act, whatever it then answers. Over the limit → 429 RATE_LIMITED with Retry-After.
 */
export async function limitRequest(
  { db, config }: { db: Db; config: Config },
  r: { userId: string; metric: UsageMetric },
): Promise<void> {
  const { tier } = await tierOf(db, r.userId);
  await chargeUsage(db, config.tiers[tier], { userId: r.userId, metric: r.metric, amount: 1 });
}

/** What the user has used in the current windows, per metric. */
export async function usageNow(db: Db, userId: string): Promise<Record<UsageMetric, number>> {
  const rows = await db
    .selectFrom("usage_counters")
    .select(["metric", "count"])
    .where("user_id", "=", userId)
    .where(
      sql<boolean>`window_start = date_trunc(case when metric like '%\_per\_hour' then 'hour' else 'day' end, now(), 'UTC')`,
    )
    .execute();
  const out = Object.fromEntries(Object.keys(WINDOW).map((m) => [m, 0])) as Record<UsageMetric, number>;
  for (const r of rows) out[r.metric] = r.count;
  return out;
}

/** Counters of windows that ended before yesterday (maintenance). */
export async function pruneUsageCounters(db: Db): Promise<void> {
  await db.deleteFrom("usage_counters").where("window_start", "<", sql<Date>`now() - interval '2 days'`).execute();
}
