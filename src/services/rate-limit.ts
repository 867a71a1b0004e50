import { sql } from "kysely";
import { AppError } from "../core/errors.ts";
import type { Db } from "../db/client.ts";

const WINDOW_S = 60;
/** The most requests one reservation takes from a key's window. */
const MAX_BLOCK = 256;
/** A reservation takes at most this share of the limit (at least 1 request). */
const BLOCK_SHARE = 0.02;
/**
 * Taken off the window Postgres reports as left, so a lease ends before the window does even if
 * this process's clock and Postgres's drift apart by 1,000 ppm over the minute.
 */
const CLOCK_MARGIN_MS = 100;
/** How often leases of ended windows are dropped. */
const SWEEP_EVERY_MS = 10_000;

export interface RateLimiter {
  /** Counts one request against `key` in the current one-minute window; over `limit` it throws 429. */
  hit(key: string, limit: number): Promise<void>;
}

function limited(retryAfterS: number, limit: number) {
  const retryAfter = Math.max(1, Math.ceil(retryAfterS));
  return new AppError(
    "RATE_LIMITED",
    "too many requests; try again later",
    { retry_after_s: retryAfter, limit },
    { "retry-after": String(retryAfter) },
  );
}

/** The most a process reserves at once for a key with this limit. */
export const reservationCap = (limit: number) => Math.max(1, Math.min(MAX_BLOCK, Math.floor(limit * BLOCK_SHARE)));

/**
 * Adds `want` to `key`'s counter in the current fixed one-minute window of Postgres's clock and
 * says how many of them fit under `limit` (the counter may pass the limit; what is above it was
 * never granted), with the milliseconds left in that window.
 */
async function reserve(db: Db, key: string, want: number, limit: number) {
  const { rows } = await sql<{ count: number; window_start: Date; remaining_ms: number }>`
    insert into rate_limits (key, window_start, count)
    values (${key}, date_bin(${`${WINDOW_S} seconds`}::interval, now(), timestamptz 'epoch'), ${want})
    on conflict (key, window_start) do update set count = rate_limits.count + excluded.count
    returning count, window_start,
      extract(epoch from (window_start + ${`${WINDOW_S} seconds`}::interval - now())) * 1000 as remaining_ms
  `.execute(db);
  const row = rows[0]!;
  const before = row.count - want;
  return {
    granted: Math.max(0, Math.min(want, limit - before)),
    window: row.window_start.getTime(),
    remainingMs: Number(row.remaining_ms),
  };
}

interface Lease {
  /** The requests of the window this process may still let through without asking Postgres. */
  tokens: number;
  /** performance.now() before which the window surely has not ended (see below). */
  endsAt: number;
  /** Postgres's counter reached the limit: nothing more is granted in this window. */
  exhausted: boolean;
  /** Size of the next reservation: doubles while a key stays busy (so an idle key costs one request's worth). */
  next: number;
  reserving: Promise<void> | null;
  waiting: number;
}

/**
 * Fixed one-minute windows shared by every API process through Postgres (`rate_limits`), without
 * a Postgres write per request: a process reserves a block of a key's window (one upsert adding
 * the block to the counter) and lets that many requests through locally, then reserves again.
 * Blocks start at 1 and double while the key stays busy, up to `reservationCap(limit)`.
 *
 * Why no more than `limit` requests of a window ever get through, across any number of
 * processes: a request passes only by spending a token, and every token was granted by an upsert
 * that raised the shared counter first; an upsert grants only what lies under the limit given the
 * counter before it (`limit − before`, the row lock orders concurrent upserts), so the tokens of a
 * window add up to at most `limit`. Tokens are spent only inside the window that granted them:
 * a lease ends at (local time the upsert was sent) + (time Postgres said was left) − a margin for
 * clock drift, which is never later than the real end, since Postgres read its clock after the
 * upsert was sent.
 *
 * The price is the other way: tokens a process reserved but did not spend before the window
 * ended are lost, at most one block per process, so a key whose requests are spread over P
 * processes may be refused after `limit − (P − 1) × reservationCap(limit)` of them. At the
 * defaults (60 a minute per user, 10 per IP) a block is one request: one upsert per request, exact.
 * Once Postgres says the window is full, this process answers 429 itself until the window ends.
 */
export function createRateLimiter(db: Db): RateLimiter {
  const leases = new Map<string, Lease>();
  let sweptAt = performance.now();

  function sweep(now: number) {
    sweptAt = now;
    for (const [key, lease] of leases) if (lease.endsAt <= now && !lease.reserving) leases.delete(key);
  }

  async function refill(key: string, lease: Lease, limit: number) {
    const cap = reservationCap(limit);
    const want = Math.min(cap, Math.max(lease.next, lease.waiting));
    const sentAt = performance.now();
    const { granted, remainingMs } = await reserve(db, key, want, limit);
    lease.endsAt = sentAt + remainingMs - CLOCK_MARGIN_MS;
    lease.tokens = granted;
    lease.exhausted = granted < want;
    lease.next = Math.min(cap, want * 2);
  }

  return {
    async hit(key, limit) {
      for (;;) {
        const now = performance.now();
        if (now - sweptAt > SWEEP_EVERY_MS) sweep(now);
        let lease = leases.get(key);
        if (!lease) {
          lease = { tokens: 0, endsAt: 0, exhausted: false, next: 1, reserving: null, waiting: 0 };
          leases.set(key, lease);
        }
        if (now >= lease.endsAt && !lease.reserving) {
          // A new window: whatever was left of the last one is gone.
          lease.tokens = 0;
          lease.exhausted = false;
          lease.next = 1;
        }
        if (now < lease.endsAt && lease.tokens > 0) {
          lease.tokens--;
          return;
        }
        if (now < lease.endsAt && lease.exhausted && !lease.reserving) {
          throw limited((lease.endsAt - now) / 1000, limit);
        }
        // One reservation at a time per key; requests arriving meanwhile wait for it and take
        // from what it granted (their number sizes the block), or ask again.
        lease.waiting++;
        const current = lease;
        current.reserving ??= refill(key, current, limit).finally(() => {
          current.reserving = null;
        });
        try {
          await current.reserving;
        } finally {
          current.waiting--;
        }
      }
    },
  };
}

/** Drops windows that ended; run now and then (any process may). */
export async function pruneRateLimits(db: Db): Promise<void> {
  await db.deleteFrom("rate_limits").where("window_start", "<", sql<Date>`now() - interval '2 minutes'`).execute();
}
