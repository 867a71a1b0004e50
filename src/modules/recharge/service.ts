import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { type Selectable, sql } from "kysely";
import type { ComputeConfig } from "../../config.ts";
import { AppError, conflict, notFound, unauthorized, validation } from "../../core/errors.ts";
import { type Db, isUniqueViolation } from "../../db/client.ts";
import type { PaymentIntentsTable } from "../../db/types.ts";
import { resumeFundedJob } from "../../pipeline/funding.ts";
import { accountOf, credit } from "../../providers/compute-ledger.ts";
import { enqueue } from "../../queue/index.ts";

/**
 * Recharge (issue 19 §5): points into a user's compute account from an ADMIN's grant, a redeem
 * code or a payment (migrations/20261205100000_recharge.sql). Each credit is a ledger entry keyed
 * by what caused it (admin-grant:<uuid>, code:<id>, payment:<intent id>), written in the
 * transaction that uses the code up or completes the payment, with the job that resumes the runs
 * of the account that paused for want of points (pipeline/funding.ts).
 */

// ---- ADMIN grants ----

export async function grantPoints(db: Db, g: { actorId: string; userId: string; points: number; reason: string }) {
  const user = await db.selectFrom("users").select("id").where("id", "=", g.userId).executeTakeFirst();
  if (!user) throw notFound("user");
  const ref = `admin-grant:${randomUUID()}`;
  const after = await db.transaction().execute(async (trx) => {
    const accountId = await accountOf(trx, { userId: g.userId });
    const after = await credit(trx, {
      accountId,
      kind: "grant",
      ref,
      points: g.points,
      reason: g.reason,
      actorId: g.actorId,
    });
    await enqueue(trx, resumeFundedJob(accountId));
    return after;
  });
  return { user_id: g.userId, points: g.points, balance: after.balance, reserved: after.reserved, ref };
}

// ---- Redeem codes ----

/** Crockford's base32: no I, L, O or U, so a code read aloud or typed by hand survives. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** 20 symbols of 5 bits: 100 bits of entropy, shown as five groups of four. */
const CODE_LENGTH = 20;
const GROUP = 4;
const MAX_EXPIRY_MS = 10 * 366 * 86_400_000;
/** Failed redemptions a user may make in WINDOW_S before further attempts are refused. */
export const MAX_FAILURES = 10;
export const FAILURE_WINDOW_S = 600;

function newCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(CODE_LENGTH));
  // 256 is a multiple of 32: every symbol is equally likely.
  const symbols = Array.from(bytes, (b) => ALPHABET[b & 31]).join("");
  return symbols.match(new RegExp(`.{${GROUP}}`, "g"))!.join("-");
}

/** The code as stored (hashed): upper case, no separators, O → 0 and I, L → 1; null if it cannot be one. */
export function normaliseCode(input: string): string | null {
  const s = input.toUpperCase().replace(/[\s-]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
  return s.length === CODE_LENGTH && [...s].every((c) => ALPHABET.includes(c)) ? s : null;
}

const hashCode = (normalised: string) => createHash("sha256").update(normalised).digest("hex");

export async function createRedeemCodes(
  db: Db,
  r: { actorId: string; count: number; points: number; expiresAt: string; note?: string },
) {
  const expires = new Date(r.expiresAt);
  const now = Date.now();
  if (Number.isNaN(expires.getTime()) || expires.getTime() <= now)
    throw validation([{ path: "/expires_at", message: "must be a time in the future" }]);
  if (expires.getTime() > now + MAX_EXPIRY_MS)
    throw validation([{ path: "/expires_at", message: "may be at most 10 years ahead" }]);
  const batchId = randomUUID();
  // A collision of 100-bit codes does not happen; if one did, the batch is made again.
  for (let attempt = 0; ; attempt++) {
    const codes = Array.from({ length: r.count }, newCode);
    try {
      const rows = await db
        .insertInto("redeem_codes")
        .values(
          codes.map((code) => ({
            code_hash: hashCode(normaliseCode(code)!),
            batch_id: batchId,
            points: r.points,
            note: r.note ?? null,
            created_by: r.actorId,
            expires_at: expires,
          })),
        )
        .returning(["id", "code_hash"])
        .execute();
      const idOf = new Map(rows.map((row) => [row.code_hash, row.id]));
      return {
        batch_id: batchId,
        count: codes.length,
        points: r.points,
        expires_at: expires.toISOString(),
        note: r.note ?? null,
        codes: codes.map((code) => ({ id: idOf.get(hashCode(normaliseCode(code)!))!, code })),
      };
    } catch (e) {
      if (attempt < 2 && isUniqueViolation(e, "redeem_codes_code_hash_key")) continue;
      throw e;
    }
  }
}

type RedeemOutcome =
  | { kind: "redeemed"; codeId: string; points: number; balance: number; reserved: number }
  | { kind: "limited"; retryAfterS: number }
  | { kind: "failed"; why: "invalid" | "expired" | "already_yours" };

/**
 * Redeems a code for the caller. Attempts of one user run one at a time under an advisory lock:
 * past MAX_FAILURES failures in the last FAILURE_WINDOW_S the attempt is refused (429) before any
 * code is looked at. The code is taken by one conditional UPDATE and credited in the same
 * transaction, so of concurrent redemptions of a code exactly one credits. Unknown codes and
 * codes someone else redeemed answer the same 404; the caller's own redeemed code and an expired
 * one say so (409).
 */
export async function redeemCode(db: Db, r: { userId: string; code: string }) {
  const normalised = normaliseCode(r.code);
  const outcome = await db.transaction().execute(async (trx): Promise<RedeemOutcome> => {
    await sql`select pg_advisory_xact_lock(hashtext('redeem_failures'), hashtext(${r.userId}))`.execute(trx);
    const window = sql<Date>`clock_timestamp() - make_interval(secs => ${FAILURE_WINDOW_S})`;
    await trx.deleteFrom("redeem_failures").where("user_id", "=", r.userId).where("at", "<=", window).execute();
    const { rows } = await sql<{ n: number; retry_s: number | null }>`
      select count(*)::int as n,
        extract(epoch from (min(at) + make_interval(secs => ${FAILURE_WINDOW_S}) - clock_timestamp()))::float8 as retry_s
      from redeem_failures where user_id = ${r.userId}`.execute(trx);
    const seen = rows[0]!;
    if (seen.n >= MAX_FAILURES) return { kind: "limited", retryAfterS: Number(seen.retry_s ?? FAILURE_WINDOW_S) };

    const hash = normalised ? hashCode(normalised) : null;
    if (hash) {
      const taken = await trx
        .updateTable("redeem_codes")
        .set({ redeemed_by: r.userId, redeemed_at: sql<Date>`clock_timestamp()` })
        .where("code_hash", "=", hash)
        .where("redeemed_at", "is", null)
        .where("expires_at", ">", sql<Date>`clock_timestamp()`)
        .returning(["id", "points", "batch_id"])
        .executeTakeFirst();
      if (taken) {
        const accountId = await accountOf(trx, { userId: r.userId });
        const after = await credit(trx, {
          accountId,
          kind: "grant",
          ref: `code:${taken.id}`,
          points: taken.points,
          reason: `redeem code of batch ${taken.batch_id}`,
        });
        await enqueue(trx, resumeFundedJob(accountId));
        return { kind: "redeemed", codeId: taken.id, points: taken.points, ...after };
      }
    }
    const code = hash
      ? await trx
          .selectFrom("redeem_codes")
          .select(["redeemed_by", "redeemed_at"])
          .where("code_hash", "=", hash)
          .executeTakeFirst()
      : undefined;
    await trx.insertInto("redeem_failures").values({ user_id: r.userId, at: sql<Date>`clock_timestamp()` }).execute();
    if (code && code.redeemed_by === r.userId) return { kind: "failed", why: "already_yours" };
    if (code && code.redeemed_at === null) return { kind: "failed", why: "expired" };
    return { kind: "failed", why: "invalid" };
  });

  if (outcome.kind === "redeemed")
    return { code_id: outcome.codeId, points: outcome.points, balance: outcome.balance, reserved: outcome.reserved };
  if (outcome.kind === "limited") {
    const retryAfter = Math.max(1, Math.ceil(outcome.retryAfterS));
    throw new AppError(
      "RATE_LIMITED",
      `too many failed redemptions; try again in ${retryAfter} s`,
      { retry_after_s: retryAfter, limit: MAX_FAILURES, window_s: FAILURE_WINDOW_S },
      { "retry-after": String(retryAfter) },
    );
  }
  if (outcome.why === "already_yours") throw conflict("you have already redeemed this code");
  if (outcome.why === "expired") throw conflict("this code has expired");
  throw new AppError("NOT_FOUND", "this is not a valid redeem code (unknown or already used)");
}

// ---- Payments ----

type IntentRow = Selectable<PaymentIntentsTable>;

export const toIntent = (i: IntentRow) => ({
  id: i.id,
  user_id: i.user_id,
  points: i.points,
  amount_usd: Number(i.amount),
  currency: i.currency,
  provider: i.provider,
  status: i.status,
  provider_payment_id: i.provider_payment_id,
  created_at: i.created_at.toISOString(),
  completed_at: i.completed_at?.toISOString() ?? null,
});

/** Whole cents, within float noise. */
const isCents = (usd: number) => Math.abs(Math.round(usd * 100) - usd * 100) < 1e-6;

/**
 * Records a recharge the user means to pay for, pending until the payment webhook completes it.
 * Either `points` (the price is points ÷ COMPUTE_POINTS_PER_USD, rounded up to the cent) or
 * `amount_usd` (the points are what it buys, rounded down).
 */
export async function createIntent(
  db: Db,
  compute: ComputeConfig,
  r: { userId: string; points?: number; amountUsd?: number; provider?: string },
) {
  if ((r.points === undefined) === (r.amountUsd === undefined))
    throw validation(
      [
        { path: "/points", message: "give either points or amount_usd" },
        { path: "/amount_usd", message: "give either points or amount_usd" },
      ],
      "give either points or amount_usd",
    );
  let points: number;
  let amount: number;
  if (r.points !== undefined) {
    points = r.points;
    amount = Math.max(1, Math.ceil((points / compute.pointsPerUsd) * 100 - 1e-9)) / 100;
  } else {
    amount = r.amountUsd!;
    if (!isCents(amount)) throw validation([{ path: "/amount_usd", message: "must be whole cents" }]);
    amount = Math.round(amount * 100) / 100;
    points = Math.floor(amount * compute.pointsPerUsd + 1e-9);
    if (points < 1 || points > 10_000_000)
      throw validation([{ path: "/amount_usd", message: "must buy between 1 and 10,000,000 points" }]);
  }
  const row = await db
    .insertInto("payment_intents")
    .values({ user_id: r.userId, points, amount, provider: r.provider ?? null })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toIntent(row);
}

/** The caller's own intent; anyone else's is 404, as a made-up id is. */
export async function getIntent(db: Db, r: { userId: string; intentId: string }) {
  const row = await db
    .selectFrom("payment_intents")
    .selectAll()
    .where("id", "=", r.intentId)
    .where("user_id", "=", r.userId)
    .executeTakeFirst();
  if (!row) throw notFound("payment intent");
  return toIntent(row);
}

/** How far a delivery's timestamp may be from now, either way. */
export const SIGNATURE_TOLERANCE_S = 300;
export const SIGNATURE_HEADER = "x-inkreel-signature";

/**
 * Checks `X-Inkreel-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (several v1
 * are allowed, for a secret being rotated). Missing: 400; malformed, forged or more than
 * SIGNATURE_TOLERANCE_S from now: 401.
 */
export function verifyPaymentSignature(
  secret: string,
  header: string | null,
  raw: Uint8Array,
  nowS = Date.now() / 1000,
) {
  if (!header)
    throw validation(
      [{ path: `/headers/${SIGNATURE_HEADER}`, message: "required" }],
      "missing X-Inkreel-Signature header",
    );
  let timestamp: string | null = null;
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const at = part.indexOf("=");
    if (at < 0) continue;
    const k = part.slice(0, at).trim();
    const v = part.slice(at + 1).trim();
    if (k === "t" && /^\d{1,12}$/.test(v)) timestamp = v;
    if (k === "v1" && /^[0-9a-fA-F]{64}$/.test(v)) signatures.push(Buffer.from(v, "hex"));
  }
  if (timestamp === null || signatures.length === 0) throw unauthorized("webhook signature is malformed");
  const expected = createHmac("sha256", secret).update(`${timestamp}.`).update(raw).digest();
  if (!signatures.some((s) => timingSafeEqual(s, expected))) throw unauthorized("webhook signature does not verify");
  if (Math.abs(nowS - Number(timestamp)) > SIGNATURE_TOLERANCE_S)
    throw unauthorized("webhook timestamp outside the accepted window");
}

/**
 * Completes a pending intent as the verified webhook says: succeeded credits its points (kind
 * recharge, ref payment:<intent id>) in the transaction that marks it. An intent already completed,
 * or a provider payment id already reported, is 409 and changes nothing.
 */
export async function completePayment(
  db: Db,
  p: { intentId: string; status: "succeeded" | "failed"; providerPaymentId: string },
) {
  try {
    return await db.transaction().execute(async (trx) => {
      const intent = await trx
        .selectFrom("payment_intents")
        .selectAll()
        .where("id", "=", p.intentId)
        .forUpdate()
        .executeTakeFirst();
      if (!intent) throw notFound("payment intent");
      if (intent.status !== "pending")
        throw conflict(`this payment intent is already ${intent.status}`, { status: intent.status });
      await trx
        .updateTable("payment_intents")
        .set({ status: p.status, provider_payment_id: p.providerPaymentId, completed_at: sql<Date>`now()` })
        .where("id", "=", p.intentId)
        .where("status", "=", "pending")
        .execute();
      let credited = 0;
      if (p.status === "succeeded") {
        const accountId = await accountOf(trx, { userId: intent.user_id });
        const done = await credit(trx, {
          accountId,
          kind: "recharge",
          ref: `payment:${intent.id}`,
          points: intent.points,
          reason: `payment ${p.providerPaymentId}`,
        });
        if (!done.applied) throw conflict("this payment was already credited");
        await enqueue(trx, resumeFundedJob(accountId));
        credited = intent.points;
      }
      return { received: true as const, intent_id: intent.id, status: p.status, credited_points: credited };
    });
  } catch (e) {
    if (isUniqueViolation(e, "payment_intents_provider_payment_id_key"))
      throw conflict("this provider payment id was already reported");
    throw e;
  }
}
