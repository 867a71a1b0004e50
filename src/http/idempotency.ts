import { createHash } from "node:crypto";
import { sql } from "kysely";
import { AppError, conflict, validation } from "../core/errors.ts";
import type { Db } from "../db/client.ts";

/** A claim whose request never answered (its process died) may be taken over after this long. */
const ABANDONED_AFTER_S = 600;

interface KeyRef {
  userId: string;
  key: string;
}

/**
 * Claims the key for this request: a new row without an answer, or the row of an earlier claim
 * that was abandoned. Concurrent claims of one key serialise on its primary key, so exactly one
 * of them gets a row back.
 */
async function claimKey(db: Db, ref: KeyRef, route: string, bodyHash: string): Promise<boolean> {
  const row = await db
    .insertInto("idempotency_keys")
    .values({ user_id: ref.userId, key: ref.key, route, body_hash: bodyHash, status: null, response: null })
    .onConflict((oc) =>
      oc
        .columns(["user_id", "key"])
        .doUpdateSet({ route, body_hash: bodyHash, created_at: sql<Date>`now()` })
        .where("idempotency_keys.status", "is", null)
        .where(sql<boolean>`idempotency_keys.created_at < now() - make_interval(secs => ${ABANDONED_AFTER_S})`),
    )
    .returning("key")
    .executeTakeFirst();
  return row !== undefined;
}

async function findKey(db: Db, ref: KeyRef) {
  return db
    .selectFrom("idempotency_keys")
    .select(["body_hash", "status", "response"])
    .where("user_id", "=", ref.userId)
    .where("key", "=", ref.key)
    .executeTakeFirst();
}

async function answerKey(db: Db, ref: KeyRef, status: number, response: unknown) {
  await db
    .updateTable("idempotency_keys")
    .set({ status, response: JSON.stringify(response) })
    .where("user_id", "=", ref.userId)
    .where("key", "=", ref.key)
    .where("status", "is", null)
    .execute();
}

/** A request whose work failed leaves no claim behind: the client may retry with the same key. */
async function releaseKey(db: Db, ref: KeyRef) {
  await db
    .deleteFrom("idempotency_keys")
    .where("user_id", "=", ref.userId)
    .where("key", "=", ref.key)
    .where("status", "is", null)
    .execute();
}

/**
 * Runs `work` once per Idempotency-Key (per user): a repeat with the same route and body gets the
 * first answer again, with its status; the same key with another body is 409; a repeat while the
 * first is still working is 409 with Retry-After (it never runs the work a second time). A failed
 * `work` releases the key. Without a key, `work` simply runs.
 */
export async function idempotent<T>(
  db: Db,
  userId: string,
  key: string | null | undefined,
  route: string,
  body: unknown,
  set: { status?: number | string },
  work: () => Promise<T>,
): Promise<T> {
  if (!key) return work();
  if (!/^[\x21-\x7e]{1,200}$/.test(key))
    throw validation([{ path: "/headers/idempotency-key", message: "1 to 200 visible ASCII characters" }]);
  const ref = { userId, key };
  const hash = createHash("sha256")
    .update(JSON.stringify([route, body ?? null]))
    .digest("hex");
  // Twice at most: a claim released by a failed first request between our claim and our read.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await claimKey(db, ref, route, hash)) {
      let result: T;
      try {
        result = await work();
      } catch (e) {
        await releaseKey(db, ref);
        throw e;
      }
      await answerKey(db, ref, Number(set.status ?? 200), result);
      return result;
    }
    const seen = await findKey(db, ref);
    if (!seen) continue;
    if (seen.body_hash !== hash) throw conflict("this Idempotency-Key was used with another request");
    if (seen.status === null)
      throw new AppError(
        "CONFLICT",
        "a request with this Idempotency-Key is still in progress; retry shortly",
        {},
        { "retry-after": "1" },
      );
    set.status = seen.status;
    return seen.response as T;
  }
  throw new AppError(
    "CONFLICT",
    "this Idempotency-Key is being claimed by another request; retry shortly",
    {},
    {
      "retry-after": "1",
    },
  );
}
