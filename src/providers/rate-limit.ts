import { sql } from "kysely";
import type { Db } from "../db/client.ts";
import { sleep } from "./fal/http.ts";

const WINDOW_MS = 60_000;

/**
 * Waits for a slot of a provider's per-minute limit, shared by every worker through Postgres: the
 * calls started in the last minute are counted under a per-provider advisory lock, and a call that
 * fits is recorded in the same transaction. When the minute is full, it sleeps until the oldest
 * call leaves the window.
 */
export async function takeRateSlot(db: Db, provider: string, perMinute: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const waitMs = await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`inkreel:rate:${provider}`}))`.execute(trx);
      await sql`delete from provider_calls where provider = ${provider} and at < clock_timestamp() - interval '2 minutes'`.execute(
        trx,
      );
      // The wait is computed by the database's clock, the one that stamped the calls.
      const { rows } = await sql<{ n: number; wait_ms: number | null }>`
        select count(*)::int as n, ceil(extract(epoch from min(at) + interval '1 minute' - clock_timestamp()) * 1000)::int as wait_ms from provider_calls
        where provider = ${provider} and at > clock_timestamp() - interval '1 minute'`.execute(trx);
      const { n, wait_ms } = rows[0]!;
      if (n < perMinute) {
        await trx.insertInto("provider_calls").values({ provider }).execute();
        return 0;
      }
      return Math.max(10, wait_ms ?? 10);
    });
    if (waitMs === 0) return;
    await sleep(Math.min(waitMs, WINDOW_MS), signal);
  }
}
