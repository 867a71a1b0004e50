import { t } from "elysia";
import { literals } from "../core/schema.ts";

// Compute power as the API shows it: an estimate's lines, what a paid request reserved, an
// account's totals and its ledger. The compute, projects and generate modules answer with them.

const points = t.Number({ description: "Points of compute power (to four decimals)" });

export const EstimateLineSchema = t.Object({
  stage: t.String({ description: "The stage (or generation kind) the units are for" }),
  capability: t.String(),
  provider: t.String(),
  model: t.String(),
  units: t.Object({
    images: t.Optional(t.Number()),
    audio_seconds: t.Optional(t.Number()),
    video_seconds: t.Optional(t.Number()),
    input_tokens: t.Optional(t.Number()),
    output_tokens: t.Optional(t.Number()),
  }),
  usd: t.Number({ description: "Provider list price of the units (US dollars, before the markup)" }),
  points,
});

export const EstimateSchema = t.Object({
  points,
  usd: t.Number(),
  breakdown: t.Array(EstimateLineSchema),
});

export const ReservedSchema = t.Object(
  {
    charge_id: t.String({ format: "uuid" }),
    points,
    usd: t.Number(),
    breakdown: t.Array(EstimateLineSchema),
  },
  { description: "The estimate this request reserved: settled call by call, the rest released when the work ends" },
);

export const ComputeSummarySchema = t.Object({
  total: t.Number({ description: "Points ever granted and bought" }),
  used: t.Number({ description: "Points settled by provider calls" }),
  remaining: t.Number({ description: "Points free to spend now" }),
  reserved: t.Number({ description: "Points held by work in progress" }),
  gifted: t.Number(),
  recharged: t.Number(),
  tier: t.Nullable(literals(["free", "vip", "unlimited"])),
});

export const LedgerEntrySchema = t.Object({
  id: t.String(),
  kind: literals(["grant", "recharge", "reserve", "settle", "release", "refund", "expire"]),
  points: t.Number({ description: "Change to the free balance" }),
  reserved_change: t.Number(),
  balance_after: t.Number(),
  reserved_after: t.Number(),
  charge_id: t.Nullable(t.String({ format: "uuid" })),
  usd: t.Nullable(t.Number()),
  reason: t.Nullable(t.String()),
  created_at: t.String({ format: "date-time" }),
});
