import { sql } from "kysely";
import { AppError } from "../core/errors.ts";
import type { Db } from "../db/client.ts";

const WINDOW_S = 60;

/**
 * Counts one request against `key` in the current fixed one-minute window, shared by every API
 * process through Postgres; over `limit` it throws 429 with the seconds left in the window.
 */
export async function hitRateLimit(db: Db, key: string, limit: number): Promise<void> {
  const row = await sql<{ count: number; retry_after: number }>`
    insert into rate_limits (key, window_start, count)
    values (${key}, date_bin(${`${WINDOW_S} seconds`}::interval, now(), timestamptz 'epoch'), 1)
    on conflict (key, window_start) do update set count = rate_limits.count + 1
    returning count, ceil(extract(epoch from (window_start + ${`${WINDOW_S} seconds`}::interval - now())))::int as retry_after
  `.execute(db);
  const { count, retry_after } = row.rows[0]!;
  if (count > limit) {
    const retryAfter = Math.max(1, retry_after);
    throw new AppError(
      "RATE_LIMITED",
      "too many requests; try again later",
      { retry_after_s: retryAfter, limit },
      {
        "retry-after": String(retryAfter),
      },
    );
  }
}

/** Drops windows that ended; run now and then (any process may). */
export async function pruneRateLimits(db: Db): Promise<void> {
  await db.deleteFrom("rate_limits").where("window_start", "<", sql<Date>`now() - interval '2 minutes'`).execute();
}
