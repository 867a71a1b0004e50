import type { ComputeConfig } from "../config.ts";
import type { Capability } from "../core/capabilities.ts";
import type { Db } from "../db/client.ts";
import type { CallScope } from "./ai-error.ts";
import { openChargeOf, payingAccount, pointsOf, settle } from "./compute-ledger.ts";
import { costOf, type Price } from "./pricing.ts";
import type { Usage } from "./types.ts";

/**
 * What a ledger row records: a provider call ("call"), or a paid submission a crash may have
 * orphaned — an earlier attempt's request the provider may have accepted (and billed) whose id
 * was never stored, so the job submitted again ("resubmitted_after_crash").
 */
export type LedgerKind = "call" | "resubmitted_after_crash";

/** The chain's side of a call (who, which provider and model, at what price): what a provider needs to record a charge itself. */
export interface LedgerContext {
  scope: CallScope;
  capability: Capability;
  provider: string;
  model: string;
  price: Price;
  /** A local provider: billed at the operator's nominal price (COMPUTE_LOCAL_USD_*), not its list price. */
  local?: boolean;
  /** How the call is billed in compute power; without it the call is only in the cost ledger. */
  compute?: ComputeConfig;
}

export interface LedgerEntry extends LedgerContext {
  kind?: LedgerKind;
  outcome: "ok" | "failed";
  failedOver?: boolean;
  error?: string;
  requestId?: string;
  usage?: Usage;
  durationMs: number;
}

/**
 * One provider call into the cost ledger (provider_usage). A `resubmitted_after_crash` entry is a
 * failed call (nothing came of it) with the usage of the lost submission: the cost report counts
 * the charge fal may have made, and its error starts with the kind, so the report's calls show it.
 */
export async function recordUsage(db: Db, e: LedgerEntry): Promise<void> {
  // The cost row and its settlement commit together: a worker killed between them cannot leave one without the other.
  if (!db.isTransaction) return db.transaction().execute((trx) => recordUsage(trx, e));
  const u = e.usage ?? {};
  const lost = e.kind === "resubmitted_after_crash";
  const error = lost ? `resubmitted_after_crash: ${e.error ?? ""}` : e.error;
  const row = await db
    .insertInto("provider_usage")
    .values({
      user_id: e.scope.userId ?? null,
      space_id: e.scope.spaceId ?? null,
      project_id: e.scope.projectId ?? null,
      run_id: e.scope.runId ?? null,
      stage: e.scope.stage ?? null,
      shot_id: e.scope.shotId ?? null,
      capability: e.capability,
      provider: e.provider,
      model: e.model,
      outcome: lost ? "failed" : e.outcome,
      failed_over: e.failedOver ?? false,
      error: error?.slice(0, 1000) ?? null,
      request_id: e.requestId ?? null,
      input_tokens: Math.round(u.inputTokens ?? 0),
      output_tokens: Math.round(u.outputTokens ?? 0),
      images: Math.round(u.images ?? 0),
      audio_seconds: u.audioSeconds ?? 0,
      video_seconds: u.videoSeconds ?? 0,
      cost_usd: costOf(e.price, u),
      duration_ms: Math.round(e.durationMs),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  await settleCall(db, e, row.id);
}

/**
 * The call's cost in compute power, settled against the charge of the work it was made for
 * (else straight from the paying account). A submission lost in our own crash is not billed to
 * the user: the operator carries it.
 */
async function settleCall(trx: Db, e: LedgerEntry, usageId: string): Promise<void> {
  const userId = e.scope.userId;
  if (!e.compute || !userId || e.kind === "resubmitted_after_crash") return;
  const { localUsd } = e.compute;
  const usd = costOf(e.local ? localUsd : e.price, e.usage ?? {});
  const points = pointsOf(usd, e.compute);
  if (points <= 0) return;
  const subject = e.scope.subjectId ?? e.scope.runId;
  const charge = subject ? await openChargeOf(trx, subject) : undefined;
  const accountId = charge?.account_id ?? (await payingAccount(trx, { userId, spaceId: e.scope.spaceId }));
  await settle(trx, { accountId, chargeId: charge?.id ?? null, usageId, points, usd });
}
