import { t } from "elysia";

const iso = t.String({ format: "date-time" });
const uuid = t.String({ format: "uuid" });

/** Points a request may move at once: a positive whole number, at most ten million. */
export const MAX_POINTS = 10_000_000;
const Points = t.Integer({ minimum: 1, maximum: MAX_POINTS, description: "a whole number of points, 1 to 10,000,000" });

export const UserParams = t.Object({ id: uuid });
export const IntentParams = t.Object({ id: uuid });

export const IdempotencyHeaders = t.Object({
  "idempotency-key": t.Optional(
    t.String({ description: "A retried request with the same key and body gets the first answer" }),
  ),
});

export const GrantBody = t.Object(
  {
    points: Points,
    reason: t.String({ minLength: 1, maxLength: 500, description: "why: stored with the ledger entry" }),
  },
  { examples: [{ points: 500, reason: "compensation for the outage of 2026-12-01" }] },
);

export const GrantSchema = t.Object({
  user_id: uuid,
  points: t.Integer(),
  /** The account's points after the grant. */
  balance: t.Number(),
  reserved: t.Number(),
  ref: t.String({ examples: ["admin-grant:3f0c2a4e-8a51-4d7e-9d3b-0c1e2f3a4b5c"] }),
});

export const CreateCodesBody = t.Object(
  {
    count: t.Integer({ minimum: 1, maximum: 1000 }),
    points: Points,
    expires_at: t.String({ format: "date-time", description: "in the future, at most 10 years ahead" }),
    note: t.Optional(t.String({ maxLength: 500 })),
  },
  { examples: [{ count: 10, points: 1000, expires_at: "2027-06-30T23:59:59Z", note: "launch promotion" }] },
);

export const CodeBatchSchema = t.Object({
  batch_id: uuid,
  count: t.Integer(),
  points: t.Integer(),
  expires_at: iso,
  note: t.Nullable(t.String()),
  /** In clear, this once: only their SHA-256 is stored. */
  codes: t.Array(t.Object({ id: uuid, code: t.String({ examples: ["7K2M-Q9XD-4HTB-W1RN-C8VE"] }) })),
});

export const RedeemBody = t.Object(
  {
    code: t.String({
      minLength: 1,
      maxLength: 64,
      description: "case and dashes do not matter; O reads as 0, I and L as 1",
    }),
  },
  { examples: [{ code: "7K2M-Q9XD-4HTB-W1RN-C8VE" }] },
);

export const RedeemSchema = t.Object({
  code_id: uuid,
  points: t.Integer(),
  balance: t.Number(),
  reserved: t.Number(),
});

export const RechargeBody = t.Object(
  {
    points: t.Optional(Points),
    amount_usd: t.Optional(
      t.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: "whole cents; instead of points" }),
    ),
    provider: t.Optional(
      t.String({ minLength: 1, maxLength: 32, pattern: "^[a-z0-9][a-z0-9_-]*$", examples: ["stripe"] }),
    ),
  },
  { examples: [{ points: 1000, provider: "stripe" }] },
);

export const IntentSchema = t.Object({
  id: uuid,
  user_id: uuid,
  points: t.Integer(),
  amount_usd: t.Number(),
  currency: t.Literal("USD"),
  provider: t.Nullable(t.String()),
  status: t.Union([t.Literal("pending"), t.Literal("succeeded"), t.Literal("failed")]),
  provider_payment_id: t.Nullable(t.String()),
  created_at: iso,
  completed_at: t.Nullable(iso),
});

/** What the payment provider posts; checked only once its signature verifies. */
export const PaymentWebhookBody = t.Object(
  {
    intent_id: uuid,
    status: t.Union([t.Literal("succeeded"), t.Literal("failed")]),
    provider_payment_id: t.String({ minLength: 1, maxLength: 200 }),
  },
  {
    examples: [
      { intent_id: "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", status: "succeeded", provider_payment_id: "pi_3QhX2a" },
    ],
  },
);

export const PaymentWebhookSchema = t.Object({
  received: t.Literal(true),
  intent_id: uuid,
  status: t.Union([t.Literal("succeeded"), t.Literal("failed")]),
  /** Points credited by this delivery (0 for a failed payment). */
  credited_points: t.Integer(),
});
