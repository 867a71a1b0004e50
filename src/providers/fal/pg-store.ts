import { sql } from "kysely";
import type { Db } from "../../db/client.ts";
import type { SubmitIntentState } from "../../db/types.ts";
import { recordUsage } from "../ledger.ts";
import type { FalIntent, FalIntentStore, FalRequestRef, FalRequestStore } from "./queue.ts";
import { FAL_WAKE_CHANNEL } from "./webhook-waiter.ts";

type IntentRow = {
  nonce: string;
  endpoint_id: string;
  attempt: number | null;
  request_id: string | null;
  state: SubmitIntentState;
};
const INTENT_COLUMNS = ["nonce", "endpoint_id", "attempt", "request_id", "state"] as const;
const intentOf = (r: IntentRow): FalIntent => ({
  nonce: r.nonce,
  endpointId: r.endpoint_id,
  attempt: r.attempt,
  requestId: r.request_id,
  state: r.state,
});

/** The ref kept for resuming, written or replaced under its fingerprint. */
async function putRef(db: Db, key: string, ref: FalRequestRef) {
  await db
    .insertInto("provider_requests")
    .values({ key, endpoint_id: ref.endpointId, request_id: ref.requestId })
    .onConflict((oc) =>
      oc.column("key").doUpdateSet({ endpoint_id: ref.endpointId, request_id: ref.requestId, created_at: new Date() }),
    )
    .execute();
}

/**
 * Submission intents in submit_intents (see queue.ts, THE SUBMIT WINDOW). Each write is its own
 * committed statement or transaction: an intent must be durable before the submission it
 * announces is sent. Storing a request id also NOTIFYs the nonce, waking a rescued attempt that
 * waits on the intent (webhook-waiter.ts: waits are keyed by request id or nonce alike).
 */
export function pgIntentStore(db: Db): FalIntentStore {
  return {
    async intend(i) {
      await db
        .insertInto("submit_intents")
        .values({
          nonce: i.nonce,
          key: i.key,
          provider: "fal",
          endpoint_id: i.endpointId,
          job_id: i.jobId,
          attempt: i.attempt,
        })
        .execute();
    },
    async submitted(nonce, key, ref) {
      await db.transaction().execute(async (trx) => {
        // Already adopted by its webhook (same id): the answer changes nothing.
        await trx
          .updateTable("submit_intents")
          .set({
            request_id: ref.requestId,
            state: "submitted",
            adopted_by: "answer",
            submitted_at: sql<Date>`clock_timestamp()`,
          })
          .where("nonce", "=", nonce)
          .where("request_id", "is", null)
          .execute();
        await putRef(trx, key, ref);
        await sql`select pg_notify(${FAL_WAKE_CHANNEL}, ${nonce})`.execute(trx);
      });
    },
    async latest(key, owner) {
      const row = await db
        .selectFrom("submit_intents")
        .select(INTENT_COLUMNS)
        .where("key", "=", key)
        .where("job_id", "=", owner.jobId)
        .where((eb) =>
          eb.or([
            eb("state", "in", ["pending", "submitted"]),
            ...(owner.attempt === null
              ? []
              : [eb.and([eb("state", "=", "downloaded"), eb("attempt", "<", owner.attempt)])]),
          ]),
        )
        .orderBy("created_at", "desc")
        .limit(1)
        .executeTakeFirst();
      return row ? intentOf(row) : null;
    },
    async byNonce(nonce) {
      const row = await db
        .selectFrom("submit_intents")
        .select(INTENT_COLUMNS)
        .where("nonce", "=", nonce)
        .executeTakeFirst();
      return row ? intentOf(row) : null;
    },
    async refused(nonce) {
      await db
        .updateTable("submit_intents")
        .set({ state: "dead", closed_at: sql<Date>`clock_timestamp()` })
        .where("nonce", "=", nonce)
        .where("state", "=", "pending")
        .execute();
    },
    async close(key, requestId, state) {
      await db
        .updateTable("submit_intents")
        .set({ state, closed_at: sql<Date>`clock_timestamp()` })
        .where("key", "=", key)
        .where("request_id", "=", requestId)
        .where("state", "in", ["pending", "submitted", "downloaded"])
        .execute();
    },
    async abandon(orphan, next, charge) {
      return db.transaction().execute(async (trx) => {
        const gaveUp = await trx
          .updateTable("submit_intents")
          .set({ state: "abandoned", closed_at: sql<Date>`clock_timestamp()` })
          .where("nonce", "=", orphan)
          .where("state", "=", "pending")
          .returning("nonce")
          .executeTakeFirst();
        if (!gaveUp) {
          const row = await trx
            .selectFrom("submit_intents")
            .select(INTENT_COLUMNS)
            .where("nonce", "=", orphan)
            .executeTakeFirst();
          return row
            ? intentOf(row)
            : { nonce: orphan, endpointId: next.endpointId, attempt: null, requestId: null, state: "dead" };
        }
        if (charge) await recordUsage(trx, charge);
        await trx
          .insertInto("submit_intents")
          .values({
            nonce: next.nonce,
            key: next.key,
            provider: "fal",
            endpoint_id: next.endpointId,
            job_id: next.jobId,
            attempt: next.attempt,
          })
          .execute();
        return null;
      });
    },
  };
}

/**
 * What the webhook route does with a delivery for a request id we never stored: gives it to the
 * pending intent whose nonce our webhook URL carried (the submitting worker died before storing
 * fal's answer), so the job's next attempt resumes that request instead of paying for another.
 * An intent already abandoned (the job submitted again) only gets the id, for the record.
 * Returns what became of it; null when no intent has that nonce (not ours).
 */
export async function adoptOrphan(
  db: Db,
  nonce: string,
  requestId: string,
): Promise<{ adopted: boolean; key: string } | null> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("submit_intents")
      .set({
        request_id: requestId,
        adopted_by: "webhook",
        submitted_at: sql<Date>`clock_timestamp()`,
        state: sql<SubmitIntentState>`case when state = 'pending' then 'submitted' else state end`,
      })
      .where("nonce", "=", nonce)
      .where("request_id", "is", null)
      .where("state", "in", ["pending", "abandoned"])
      .returning(["key", "endpoint_id", "state"])
      .executeTakeFirst();
    if (!row) return null;
    const adopted = row.state === "submitted";
    if (adopted)
      await trx
        .insertInto("provider_requests")
        .values({ key: row.key, endpoint_id: row.endpoint_id, request_id: requestId })
        .onConflict((oc) => oc.column("key").doNothing())
        .execute();
    return { adopted, key: row.key };
  });
}

/**
 * fal requests survive crashes in Postgres (provider_requests): the ref is written right after
 * the paid submission and before any waiting, so a job rescued from a dead worker finds it by the
 * request's fingerprint and polls the same request instead of submitting (and paying) again.
 * The submission itself is announced beforehand in submit_intents (`intents`).
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
    put: (key, ref) => putRef(db, key, ref),
    async delete(key) {
      await db.deleteFrom("provider_requests").where("key", "=", key).execute();
    },
    intents: pgIntentStore(db),
  };
}
