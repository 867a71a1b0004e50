import type { Capability } from "../core/capabilities.ts";
import type { Db } from "../db/client.ts";
import type { CallScope } from "./ai-error.ts";
import { costOf, type Price } from "./pricing.ts";
import type { Usage } from "./types.ts";

export interface LedgerEntry {
  scope: CallScope;
  capability: Capability;
  provider: string;
  model: string;
  outcome: "ok" | "failed";
  failedOver?: boolean;
  error?: string;
  requestId?: string;
  usage?: Usage;
  price: Price;
  durationMs: number;
}

/** One provider call into the cost ledger (provider_usage). */
export async function recordUsage(db: Db, e: LedgerEntry): Promise<void> {
  const u = e.usage ?? {};
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
      outcome: e.outcome,
      failed_over: e.failedOver ?? false,
      error: e.error?.slice(0, 1000) ?? null,
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
