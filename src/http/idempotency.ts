import { createHash } from "node:crypto";
import { conflict, validation } from "../core/errors.ts";
import type { Db } from "../db/client.ts";

/**
 * Runs `work` once per Idempotency-Key (per user): a repeat with the same route and body gets the
 * first answer again, with its status; the same key with another body is 409. Without a key,
 * `work` simply runs.
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
  const hash = createHash("sha256")
    .update(JSON.stringify([route, body ?? null]))
    .digest("hex");
  const seen = await db
    .selectFrom("idempotency_keys")
    .selectAll()
    .where("user_id", "=", userId)
    .where("key", "=", key)
    .executeTakeFirst();
  if (seen) {
    if (seen.body_hash !== hash) throw conflict("this Idempotency-Key was used with another request");
    set.status = seen.status;
    return seen.response as T;
  }
  const result = await work();
  await db
    .insertInto("idempotency_keys")
    .values({
      user_id: userId,
      key,
      route,
      body_hash: hash,
      status: Number(set.status ?? 200),
      response: JSON.stringify(result),
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
  return result;
}
