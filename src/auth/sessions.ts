import { createHash, randomBytes } from "node:crypto";
import { unauthorized } from "../core/errors.ts";
import type { Db } from "../db/client.ts";

export const hashToken = (token: string) => createHash("sha256").update(token).digest();
const newToken = () => randomBytes(32).toString("base64url");

/** Starts a session (a refresh-token family) and returns its id and first refresh token. */
export async function startSession(db: Db, userId: string, ttlS: number) {
  const expiresAt = new Date(Date.now() + ttlS * 1000);
  return db.transaction().execute(async (trx) => {
    const session = await trx
      .insertInto("sessions")
      .values({ user_id: userId, expires_at: expiresAt })
      .returning("id")
      .executeTakeFirstOrThrow();
    const refreshToken = newToken();
    await trx
      .insertInto("refresh_tokens")
      .values({ session_id: session.id, token_hash: hashToken(refreshToken), expires_at: expiresAt })
      .execute();
    return { sessionId: session.id, refreshToken };
  });
}

export async function revokeSession(db: Db, sessionId: string, reason: string) {
  await db
    .updateTable("sessions")
    .set({ revoked_at: new Date(), revoked_reason: reason })
    .where("id", "=", sessionId)
    .where("revoked_at", "is", null)
    .execute();
}

/** Revokes every live session of a user, except `keep` (the caller's own, on a password change). */
export async function revokeUserSessions(db: Db, userId: string, reason: string, keep?: string) {
  let q = db
    .updateTable("sessions")
    .set({ revoked_at: new Date(), revoked_reason: reason })
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null);
  if (keep) q = q.where("id", "!=", keep);
  await q.execute();
}

/**
 * Exchanges a refresh token for the next one of its family. A token presented a second time
 * means it leaked: the whole family (session) is revoked and the caller gets 401.
 */
export async function rotateRefreshToken(db: Db, token: string, ttlS: number) {
  const hash = hashToken(token);
  const outcome = await db.transaction().execute(async (trx) => {
    const claimed = await trx
      .updateTable("refresh_tokens")
      .set({ used_at: new Date() })
      .where("token_hash", "=", hash)
      .where("used_at", "is", null)
      .returning(["session_id", "expires_at"])
      .executeTakeFirst();
    if (!claimed) {
      const known = await trx
        .selectFrom("refresh_tokens")
        .select("session_id")
        .where("token_hash", "=", hash)
        .executeTakeFirst();
      return known ? ({ kind: "reused", sessionId: known.session_id } as const) : ({ kind: "unknown" } as const);
    }
    const session = await trx
      .selectFrom("sessions")
      .select(["id", "user_id"])
      .where("id", "=", claimed.session_id)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", new Date())
      .executeTakeFirst();
    if (!session || claimed.expires_at <= new Date()) return { kind: "expired" } as const;
    const refreshToken = newToken();
    await trx
      .insertInto("refresh_tokens")
      .values({
        session_id: session.id,
        token_hash: hashToken(refreshToken),
        expires_at: new Date(Date.now() + ttlS * 1000),
      })
      .execute();
    return { kind: "rotated", sessionId: session.id, userId: session.user_id, refreshToken } as const;
  });
  if (outcome.kind === "reused") {
    // Outside the transaction above, so the revocation commits although the caller gets 401.
    await revokeSession(db, outcome.sessionId, "refresh_token_reuse");
    throw unauthorized("refresh token was already used; the session has been revoked");
  }
  if (outcome.kind !== "rotated") throw unauthorized("refresh token is invalid or expired");
  return outcome;
}

/** The session a refresh token belongs to, if the token is known. */
export async function sessionOfRefreshToken(db: Db, token: string): Promise<string | null> {
  const row = await db
    .selectFrom("refresh_tokens")
    .select("session_id")
    .where("token_hash", "=", hashToken(token))
    .executeTakeFirst();
  return row?.session_id ?? null;
}
