import { sql } from "kysely";
import type { Config } from "../config.ts";
import { type Page, page as pageOf } from "../core/page.ts";
import type { Db } from "../db/client.ts";
import type { ComputeChargeKind, LedgerEntryKind, UserTier } from "../db/types.ts";
import { estimateRegenerations, estimateRun } from "../pipeline/estimate.ts";
import type { RunWorkToPay } from "../pipeline/orchestrate.ts";
import type { TasksToPay } from "../pipeline/tasks.ts";
import {
  accountOf,
  type Estimate,
  grantMonthly,
  payingAccount,
  reserve as reservePoints,
  tierOf,
} from "../providers/compute-ledger.ts";
import type { ModelPin, ProviderResolver } from "../providers/registry.ts";

/**
 * Compute power as the routes use it: who pays (a team space's account or the user's), their tier
 * (an ADMIN is unlimited), the month's free grant, reserving an estimate, and what the API shows.
 */

export interface Payer {
  userId: string;
  /** The space the work belongs to: a team space pays for its own work. */
  spaceId?: string | null;
}

/** Where the user's work queues: their tier's priority (lower is claimed first). */
export async function queuePriority(db: Db, config: Config, userId: string): Promise<number> {
  return config.tiers[(await tierOf(db, userId)).tier].queuePriority;
}

/** This month's free points of the tier into the account, in the caller's transaction or a new one. */
async function grantTierMonthly(db: Db, config: Config, g: { accountId: string; tier: UserTier }) {
  const grant = (trx: Db) => grantMonthly(trx, g.accountId, config.tiers[g.tier].monthlyPoints);
  await (db.isTransaction ? grant(db) : db.transaction().execute(grant));
}

/** The user's own account with this month's free grant of their tier in it. */
export async function userAccount(db: Db, config: Config, userId: string): Promise<string> {
  const accountId = await accountOf(db, { userId });
  const { tier } = await tierOf(db, userId);
  await grantTierMonthly(db, config, { accountId, tier });
  return accountId;
}

/** A team space's account with this month's free grant of its owner's tier in it (a space has no tier of its own). */
export async function spaceAccount(db: Db, config: Config, spaceId: string): Promise<string> {
  const accountId = await accountOf(db, { spaceId });
  const space = await db.selectFrom("spaces").select("owner_id").where("id", "=", spaceId).executeTakeFirst();
  if (!space?.owner_id) return accountId;
  const { tier } = await tierOf(db, space.owner_id);
  await grantTierMonthly(db, config, { accountId, tier });
  return accountId;
}

/** What a paid request reserved: shown in its answer. */
export interface ChargeView {
  charge_id: string;
  points: number;
  usd: number;
  breakdown: Estimate["breakdown"];
}

/**
 * Reserves the estimate of the work `subjectId` for the payer, in the caller's transaction (the one
 * that enqueues the work): over the balance it throws 402 QUOTA_EXCEEDED and nothing is queued.
 */
export async function reserveFor(
  trx: Db,
  config: Config,
  r: Payer & { kind: ComputeChargeKind; subjectId: string; estimate: Estimate },
): Promise<ChargeView> {
  const accountId = await payingAccount(trx, r);
  const own = await accountOf(trx, { userId: r.userId });
  if (accountId === own) await userAccount(trx, config, r.userId);
  else if (r.spaceId) await spaceAccount(trx, config, r.spaceId);
  const { unlimited } = await tierOf(trx, r.userId);
  const chargeId = await reservePoints(trx, {
    accountId,
    userId: r.userId,
    kind: r.kind,
    subjectId: r.subjectId,
    estimate: r.estimate,
    unlimited,
    ttlS: config.compute.reservationTtlS,
  });
  return { charge_id: chargeId, points: r.estimate.points, usd: r.estimate.usd, breakdown: r.estimate.breakdown };
}

export interface ComputeSummary {
  total: number;
  used: number;
  remaining: number;
  reserved: number;
  gifted: number;
  recharged: number;
  /** The user's tier; null for a team space's account. */
  tier: UserTier | null;
}

/** An account's totals (seed 004's compute-power view): granted and bought, used, held, free to spend. */
export async function accountSummary(db: Db, accountId: string, tier: UserTier | null): Promise<ComputeSummary> {
  const a = await db.selectFrom("compute_accounts").selectAll().where("id", "=", accountId).executeTakeFirstOrThrow();
  const gifted = Number(a.gifted);
  const recharged = Number(a.recharged);
  return {
    total: gifted + recharged,
    used: Number(a.used),
    remaining: Number(a.balance),
    reserved: Number(a.reserved),
    gifted,
    recharged,
    tier,
  };
}

/** The caller's own compute power (GET /me/compute-power, /auth/me's quota_info). */
export async function mySummary(db: Db, config: Config, userId: string): Promise<ComputeSummary> {
  const accountId = await userAccount(db, config, userId);
  return accountSummary(db, accountId, (await tierOf(db, userId)).tier);
}

export interface LedgerEntryView {
  id: string;
  kind: LedgerEntryKind;
  points: number;
  reserved_change: number;
  balance_after: number;
  reserved_after: number;
  charge_id: string | null;
  usd: number | null;
  reason: string | null;
  created_at: string;
}

/** An account's ledger, newest first, a page at a time. */
export async function ledgerPage(
  db: Db,
  accountId: string,
  q: { page?: number; page_size?: number },
): Promise<Page<LedgerEntryView>> {
  const pageNo = q.page ?? 1;
  const size = q.page_size ?? 20;
  const [rows, count] = await Promise.all([
    db
      .selectFrom("compute_ledger")
      .selectAll()
      .where("account_id", "=", accountId)
      .orderBy("id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    db
      .selectFrom("compute_ledger")
      .select(sql<number>`count(*)::int`.as("n"))
      .where("account_id", "=", accountId)
      .executeTakeFirstOrThrow(),
  ]);
  return pageOf(
    rows.map((r) => ({
      id: String(r.id),
      kind: r.kind,
      points: Number(r.points),
      reserved_change: Number(r.reserved_change),
      balance_after: Number(r.balance_after),
      reserved_after: Number(r.reserved_after),
      charge_id: r.charge_id,
      usd: r.usd === null ? null : Number(r.usd),
      reason: r.reason,
      created_at: r.created_at.toISOString(),
    })),
    count.n,
    pageNo,
    size,
  );
}

/**
 * The `pay` of runs about to start (StartRun.pay): each one's estimate on the payer's chains,
 * reserved in the run's own transaction. `reserved()` is what the last one held, `byRun` every
 * run's (an episode batch pays run by run), for the answer.
 */
export async function runPayer(deps: { config: Config; providers: ProviderResolver }, payer: Payer) {
  const providers = await deps.providers.forScope({ userId: payer.userId, spaceId: payer.spaceId ?? null });
  const byRun = new Map<string, ChargeView>();
  return {
    pay: async (trx: Db, w: RunWorkToPay) => {
      const estimate = await estimateRun(trx, deps.config.compute, providers, {
        packageId: w.packageId,
        inputText: w.inputText,
        stages: w.stages,
      });
      byRun.set(w.runId, await reserveFor(trx, deps.config, { ...payer, kind: "run", subjectId: w.runId, estimate }));
    },
    reserved: () => [...byRun.values()].at(-1) ?? null,
    byRun,
  };
}

/**
 * The `pay` of generation tasks about to be queued (queueTasks' `pay`): their estimate on the
 * payer's chains — or on the model the creator pinned — reserved in the transaction that queues
 * them. `reserved()` is the charge it opened (a batch's one, or the one task's), for the answer.
 */
export async function tasksPayer(
  deps: { config: Config; providers: ProviderResolver },
  payer: Payer & { pin?: ModelPin },
) {
  const providers = await deps.providers.forScope({ userId: payer.userId, spaceId: payer.spaceId ?? null }, payer.pin);
  let reserved: ChargeView | null = null;
  return {
    pay: async (trx: Db, w: TasksToPay) => {
      const estimate = await estimateRegenerations(trx, deps.config.compute, providers, {
        packageId: w.packageId,
        works: w.works,
      });
      reserved = await reserveFor(trx, deps.config, { ...payer, kind: w.kind, subjectId: w.subjectId, estimate });
    },
    reserved: () => reserved,
  };
}
