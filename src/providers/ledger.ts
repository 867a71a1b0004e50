import type { Capability } from "../core/capabilities.ts";
import type { Db } from "../db/client.ts";
import type { CallScope } from "./ai-error.ts";
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
  const u = e.usage ?? {};
  const lost = e.kind === "resubmitted_after_crash";
  const error = lost ? `resubmitted_after_crash: ${e.error ?? ""}` : e.error;
  await db
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
    .execute();
}
