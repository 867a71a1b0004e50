import { sql } from "kysely";
import type { ComputeConfig } from "../config.ts";
import { AppError } from "../core/errors.ts";
import type { Db } from "../db/client.ts";
import type { ComputeChargeKind, EstimateLine, LedgerEntryKind, UserTier } from "../db/types.ts";

/**
 * Compute power (算力): the points ledger (compute_accounts, compute_charges, compute_ledger;
 * migrations/20261205090000_compute_power.sql). Every change is one entry appended under its
 * account's row lock in the caller's transaction, keyed by what caused it so that doing it again
 * changes nothing.
 */

/** Whose points: a user's own, or a team space's (members draw from it for the space's work). */
export type AccountOwner = { userId: string } | { spaceId: string };

/** Points, to four decimals (numeric(20,4)): a ten-thousandth of a point. */
export const roundPoints = (p: number) => Math.round(p * 1e4) / 1e4;

/** What `usd` of provider cost is in points: × markup × points per USD. */
export function pointsOf(usd: number, c: ComputeConfig): number {
  return roundPoints(usd * c.markup * c.pointsPerUsd);
}

/** The user's tier as it decides compute power: an ADMIN (or the unlimited tier) is never refused. */
export async function tierOf(db: Db, userId: string): Promise<{ tier: UserTier; unlimited: boolean }> {
  const u = await db.selectFrom("users").select(["role", "tier"]).where("id", "=", userId).executeTakeFirstOrThrow();
  const tier: UserTier = u.role === "ADMIN" ? "unlimited" : u.tier;
  return { tier, unlimited: tier === "unlimited" };
}

/** The account's id, made on first use. */
export async function accountOf(db: Db, owner: AccountOwner): Promise<string> {
  const column = "userId" in owner ? "user_id" : "space_id";
  const id = "userId" in owner ? owner.userId : owner.spaceId;
  const found = await db.selectFrom("compute_accounts").select("id").where(column, "=", id).executeTakeFirst();
  if (found) return found.id;
  // Two first uses at once: one insert wins, the other reads the winner's row.
  await db
    .insertInto("compute_accounts")
    .values({ [column]: id })
    .onConflict((oc) => oc.column(column).doNothing())
    .execute();
  const row = await db.selectFrom("compute_accounts").select("id").where(column, "=", id).executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Which account pays for work in a space: a team space's own, the user's for their personal space
 * (or for work in no space).
 */
export async function payingAccount(db: Db, w: { userId: string; spaceId?: string | null }): Promise<string> {
  if (w.spaceId) {
    const space = await db.selectFrom("spaces").select("type").where("id", "=", w.spaceId).executeTakeFirst();
    if (space?.type === "team") return accountOf(db, { spaceId: w.spaceId });
  }
  return accountOf(db, { userId: w.userId });
}

export interface Entry {
  accountId: string;
  kind: LedgerEntryKind;
  /** What caused it (charge:<id>, usage:<id>, monthly:<yyyy-mm>, code:<id>, …): unique with the kind. */
  ref: string;
  /** Change to the free balance and to the reserved points. */
  balance: number;
  reserved?: number;
  /** Counted as used (settled), gifted (grants) or bought (recharges). */
  used?: number;
  gifted?: number;
  recharged?: number;
  chargeId?: string | null;
  usageId?: string | null;
  usd?: number | null;
  reason?: string | null;
  actorId?: string | null;
}

export interface Balance {
  balance: number;
  reserved: number;
}

const toBalance = (r: { balance: string; reserved: string }): Balance => ({
  balance: Number(r.balance),
  reserved: Number(r.reserved),
});

/** The account's row, locked until the transaction ends: every entry of it is written under this lock. */
async function lockAccount(trx: Db, accountId: string) {
  return trx
    .selectFrom("compute_accounts")
    .select(["balance", "reserved"])
    .where("id", "=", accountId)
    .forUpdate()
    .executeTakeFirstOrThrow();
}

/**
 * Appends an entry and moves the account by it, unless an entry of that (ref, kind) exists (then
 * nothing changes and `applied` is false). `guard` sees the locked balance first and may refuse.
 */
export async function appendEntry(
  trx: Db,
  e: Entry,
  guard?: (now: Balance) => void,
): Promise<Balance & { applied: boolean }> {
  if (!trx.isTransaction) throw new Error("appendEntry runs inside the caller's transaction");
  const now = toBalance(await lockAccount(trx, e.accountId));
  const seen = await trx
    .selectFrom("compute_ledger")
    .select("id")
    .where("ref", "=", e.ref)
    .where("kind", "=", e.kind)
    .executeTakeFirst();
  if (seen) return { ...now, applied: false };
  guard?.(now);
  const after = {
    balance: roundPoints(now.balance + e.balance),
    reserved: roundPoints(now.reserved + (e.reserved ?? 0)),
  };
  await trx
    .insertInto("compute_ledger")
    .values({
      account_id: e.accountId,
      kind: e.kind,
      ref: e.ref,
      points: e.balance,
      reserved_change: e.reserved ?? 0,
      balance_after: after.balance,
      reserved_after: after.reserved,
      charge_id: e.chargeId ?? null,
      usage_id: e.usageId ?? null,
      usd: e.usd ?? null,
      reason: e.reason ?? null,
      actor_id: e.actorId ?? null,
    })
    .execute();
  await trx
    .updateTable("compute_accounts")
    .set({
      balance: sql`balance + ${e.balance}`,
      reserved: sql`reserved + ${e.reserved ?? 0}`,
      used: sql`used + ${e.used ?? 0}`,
      gifted: sql`gifted + ${e.gifted ?? 0}`,
      recharged: sql`recharged + ${e.recharged ?? 0}`,
      updated_at: new Date(),
    })
    .where("id", "=", e.accountId)
    .execute();
  return { ...after, applied: true };
}

/** Points given: a grant (free: monthly, an ADMIN's gift) or a recharge (bought). */
export async function credit(
  trx: Db,
  c: { accountId: string; kind: "grant" | "recharge"; ref: string; points: number; reason?: string; actorId?: string },
) {
  if (!(c.points > 0)) throw new Error("a credit is a positive number of points");
  return appendEntry(trx, {
    accountId: c.accountId,
    kind: c.kind,
    ref: c.ref,
    balance: c.points,
    ...(c.kind === "grant" ? { gifted: c.points } : { recharged: c.points }),
    reason: c.reason ?? null,
    actorId: c.actorId ?? null,
  });
}

/** This UTC month's free points of the tier, granted once per account and month. */
export async function grantMonthly(trx: Db, accountId: string, points: number, at = new Date()) {
  if (points <= 0) return;
  const month = at.toISOString().slice(0, 7);
  await credit(trx, {
    accountId,
    kind: "grant",
    ref: `monthly:${accountId}:${month}`,
    points,
    reason: `${month} free grant`,
  });
}

export interface Estimate {
  points: number;
  usd: number;
  breakdown: EstimateLine[];
}

export interface Reservation {
  accountId: string;
  userId: string;
  kind: ComputeChargeKind;
  subjectId: string;
  estimate: Estimate;
  /** The unlimited tier: metered, never refused. */
  unlimited: boolean;
  ttlS: number;
}

/**
 * Opens a charge for the work and holds its estimate out of the balance. Over the balance →
 * 402 QUOTA_EXCEEDED with what it needs and what there is; the caller's transaction (which
 * enqueues the work) then rolls back with it, so a refused request leaves nothing behind.
 */
export async function reserve(trx: Db, r: Reservation): Promise<string> {
  const charge = await trx
    .insertInto("compute_charges")
    .values({
      account_id: r.accountId,
      user_id: r.userId,
      kind: r.kind,
      subject_id: r.subjectId,
      estimate_points: r.estimate.points,
      estimate_usd: r.estimate.usd,
      held: r.estimate.points,
      breakdown: JSON.stringify(r.estimate.breakdown),
      expires_at: new Date(Date.now() + r.ttlS * 1000),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  await appendEntry(
    trx,
    {
      accountId: r.accountId,
      kind: "reserve",
      ref: `charge:${charge.id}`,
      balance: -r.estimate.points,
      reserved: r.estimate.points,
      chargeId: charge.id,
      usd: r.estimate.usd,
    },
    (now) => {
      // Work that costs nothing is never refused, even on an account a settlement took below zero.
      if (r.unlimited || r.estimate.points <= 0 || now.balance >= r.estimate.points) return;
      throw new AppError(
        "QUOTA_EXCEEDED",
        `this needs ${r.estimate.points} points of compute power; ${Math.max(0, now.balance)} are free to spend`,
        { needed: r.estimate.points, balance: now.balance },
      );
    },
  );
  return charge.id;
}

/** A top-up the free balance could not cover (thrown by its guard before anything is written). */
class Short extends Error {}

/**
 * Raises an open charge's hold by `points` from the free balance: the work needs more than the
 * charge still holds (prices rose, the storyboard has more shots than the story suggested). Keyed
 * by `ref` (the step that asked), so a redelivered step tops up once. False, and nothing changes,
 * when the balance cannot cover it (the unlimited tier is never short).
 */
export async function topUp(
  trx: Db,
  t: { chargeId: string; ref: string; points: number; usd: number; unlimited: boolean },
): Promise<boolean> {
  // The charge's row before the account's, as settle and closeCharge take them.
  const charge = await trx
    .selectFrom("compute_charges")
    .select(["account_id", "status"])
    .where("id", "=", t.chargeId)
    .forUpdate()
    .executeTakeFirst();
  if (charge?.status !== "open") return false;
  try {
    const done = await appendEntry(
      trx,
      {
        accountId: charge.account_id,
        kind: "reserve",
        ref: `charge:${t.chargeId}:${t.ref}`,
        balance: -t.points,
        reserved: t.points,
        chargeId: t.chargeId,
        usd: t.usd,
      },
      (now) => {
        if (!t.unlimited && now.balance < t.points) throw new Short();
      },
    );
    if (done.applied)
      await trx
        .updateTable("compute_charges")
        .set({
          held: sql`held + ${t.points}`,
          estimate_points: sql`estimate_points + ${t.points}`,
          estimate_usd: sql`estimate_usd + ${t.usd}`,
        })
        .where("id", "=", t.chargeId)
        .execute();
    return true;
  } catch (e) {
    if (e instanceof Short) return false;
    throw e;
  }
}

/** The open charge paying for a run, generation, export or batch, if any. */
export async function openChargeOf(db: Db, subjectId: string) {
  return db
    .selectFrom("compute_charges")
    .selectAll()
    .where("subject_id", "=", subjectId)
    .where("status", "=", "open")
    .orderBy("created_at", "desc")
    .executeTakeFirst();
}

/**
 * Settles one provider call: its cost in points comes out of the charge's hold (and out of the
 * free balance past it). Keyed by the provider_usage row, so a call is settled once.
 */
export async function settle(
  trx: Db,
  s: { accountId: string; chargeId: string | null; usageId: string; points: number; usd: number },
) {
  let fromHold = 0;
  if (s.chargeId) {
    // The charge's row is locked before the account's, as release takes them.
    const charge = await trx
      .selectFrom("compute_charges")
      .select(["held", "status"])
      .where("id", "=", s.chargeId)
      .forUpdate()
      .executeTakeFirst();
    if (charge?.status === "open") fromHold = Math.min(s.points, Number(charge.held));
  }
  const done = await appendEntry(trx, {
    accountId: s.accountId,
    kind: "settle",
    ref: `usage:${s.usageId}`,
    balance: -roundPoints(s.points - fromHold),
    reserved: -fromHold,
    used: s.points,
    chargeId: s.chargeId,
    usageId: s.usageId,
    usd: s.usd,
  });
  if (done.applied && s.chargeId)
    await trx
      .updateTable("compute_charges")
      .set({ held: sql`held - ${fromHold}`, settled: sql`settled + ${s.points}` })
      .where("id", "=", s.chargeId)
      .execute();
  return done;
}

/**
 * Closes a charge: what is still held goes back to the balance — `release` when its work ended
 * as planned, `refund` when it failed or was cancelled, `expire` when the sweep found it abandoned.
 * Idempotent: a closed charge is left as it is.
 */
export async function closeCharge(trx: Db, chargeId: string, kind: "release" | "refund" | "expire") {
  const charge = await trx
    .selectFrom("compute_charges")
    .select(["account_id", "held", "status"])
    .where("id", "=", chargeId)
    .forUpdate()
    .executeTakeFirst();
  if (charge?.status !== "open") return false;
  const held = Number(charge.held);
  await appendEntry(trx, {
    accountId: charge.account_id,
    kind,
    ref: `charge:${chargeId}`,
    balance: held,
    reserved: -held,
    chargeId,
  });
  await trx
    .updateTable("compute_charges")
    .set({ held: 0, status: "closed", closed_at: new Date() })
    .where("id", "=", chargeId)
    .execute();
  return true;
}

/** Closes the open charges paying for a subject (a run's end, a generation's). */
export async function closeChargesOf(trx: Db, subjectId: string, kind: "release" | "refund") {
  const open = await trx
    .selectFrom("compute_charges")
    .select("id")
    .where("subject_id", "=", subjectId)
    .where("status", "=", "open")
    .execute();
  for (const c of open) await closeCharge(trx, c.id, kind);
}

/**
 * Open charges past their TTL whose work is no longer live — a run or export ended (or gone), a
 * generation finished, a task (or every task of a batch) without a job on the queue any more —
 * released as `expire`: what a crashed worker or a lost end left held.
 */
export async function expireCharges(db: Db): Promise<number> {
  const stale = await sql<{ id: string }>`
    select c.id from compute_charges c
    where c.status = 'open' and c.expires_at < now()
      and not exists (select 1 from runs r where r.id = c.subject_id and r.status in ('queued', 'running', 'paused'))
      and not exists (select 1 from exports e where e.id = c.subject_id and e.status in ('queued', 'running'))
      and not exists (select 1 from generations g where g.id = c.subject_id and g.status in ('pending', 'processing'))
      and not exists (select 1 from series_batches b join runs r on r.batch_id = b.id
                      where b.id = c.subject_id and r.status in ('queued', 'running', 'paused'))
      and not exists (select 1 from generation_tasks t join jobs j on j.id = t.job_id
                      where (t.id = c.subject_id or t.parent_id = c.subject_id) and t.status in ('pending', 'processing'))
    order by c.id
    limit 1000`.execute(db);
  let n = 0;
  for (const c of stale.rows) if (await db.transaction().execute((trx) => closeCharge(trx, c.id, "expire"))) n++;
  return n;
}
