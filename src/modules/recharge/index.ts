import { Value } from "@sinclair/typebox/value";
import { Elysia } from "elysia";
import { AppError, validation } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { readLimited } from "../../http/body.ts";
import { Envelope, ErrorEnvelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { idempotent } from "../../http/idempotency.ts";
import { requestInfoOf } from "../../http/request-info.ts";
import {
  CodeBatchSchema,
  CreateCodesBody,
  GrantBody,
  GrantSchema,
  IdempotencyHeaders,
  IntentParams,
  IntentSchema,
  PaymentWebhookBody,
  PaymentWebhookSchema,
  RechargeBody,
  RedeemBody,
  RedeemSchema,
  UserParams,
} from "./model.ts";
import * as recharge from "./service.ts";

const security = [{ bearer: [] }];
const PAYMENTS_PATH = "/api/v1/webhooks/payments";

/** The webhook's body, once its signature verified: JSON matching PaymentWebhookBody, or 400 naming the fields. */
function webhookBody(raw: Uint8Array) {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    throw validation([{ path: "/", message: "not a JSON document" }], "webhook body is not valid JSON");
  }
  if (!Value.Check(PaymentWebhookBody, value)) {
    const seen = new Set<string>();
    const fields = [...Value.Errors(PaymentWebhookBody, value)]
      .map((e) => ({ path: e.path || "/", message: e.message }))
      .filter((f) => !seen.has(f.path) && seen.add(f.path));
    throw validation(fields);
  }
  return value;
}

/**
 * Recharge (issue 19 §5): an ADMIN's grants and redeem codes, a user's redemptions, and payment
 * intents completed by the payment provider's HMAC-signed webhook.
 */
export function rechargeModule(deps: Deps) {
  const { db, log } = deps;
  const secret = deps.config.payments.webhookSecret;
  const limit = deps.config.limits.bodyBytes;
  // As the fal webhook does (modules/webhooks): the signature is over the exact bytes, which the
  // global parser consumes, so a copy is teed off before parsing for this one route.
  const rawBodies = new WeakMap<Request, Request>();

  return new Elysia({ name: "recharge", prefix: "/api/v1", tags: ["recharge"] })
    .use(authGuard(deps))
    .onRequest(({ request }) => {
      if (secret && request.method === "POST" && new URL(request.url).pathname === PAYMENTS_PATH)
        rawBodies.set(request, request.clone());
    })
    .post(
      "/admin/users/:id/grant",
      async ({ params, body, caller, headers, set }) =>
        idempotent(db, caller.user.id, headers["idempotency-key"], `admin-grant:${params.id}`, body, set, async () =>
          ok(
            await recharge.grantPoints(db, {
              actorId: caller.user.id,
              userId: params.id,
              points: body.points,
              reason: body.reason,
            }),
          ),
        ),
      {
        admin: true,
        params: UserParams,
        headers: IdempotencyHeaders,
        body: GrantBody,
        response: { 200: Envelope(GrantSchema), ...ErrorResponses },
        detail: {
          summary: "Give a user points (ADMIN)",
          description:
            "Credits the user's own compute account (ledger kind grant, ref admin-grant:<uuid>, the ADMIN as actor, the reason stored) and answers the new balance. An `Idempotency-Key` header makes a retried request return the first answer instead of granting again.",
          security,
        },
      },
    )
    .post(
      "/admin/redeem-codes",
      async ({ body, caller, set }) => {
        set.status = 201;
        return ok(
          await recharge.createRedeemCodes(db, {
            actorId: caller.user.id,
            count: body.count,
            points: body.points,
            expiresAt: body.expires_at,
            note: body.note,
          }),
        );
      },
      {
        admin: true,
        body: CreateCodesBody,
        response: { 201: Envelope(CodeBatchSchema), ...ErrorResponses },
        detail: {
          summary: "Make single-use redeem codes (ADMIN)",
          description:
            "Makes `count` codes worth `points` each until `expires_at`. The codes (100 random bits, Crockford base32 in five groups of four) are in this answer only: just their SHA-256 is stored.",
          security,
        },
      },
    )
    .post(
      "/me/redeem",
      async ({ body, caller }) => ok(await recharge.redeemCode(db, { userId: caller.user.id, code: body.code })),
      {
        auth: true,
        body: RedeemBody,
        response: { 200: Envelope(RedeemSchema), ...ErrorResponses },
        detail: {
          summary: "Redeem a code for points",
          description: `Credits the code's points to my account, once: of concurrent redemptions of one code exactly one succeeds. An unknown code, or one someone else redeemed, is 404; one I redeemed already, or an expired one, is 409. After ${recharge.MAX_FAILURES} failed attempts in ${recharge.FAILURE_WINDOW_S / 60} minutes further attempts are 429 RATE_LIMITED with Retry-After.`,
          security,
        },
      },
    )
    .post(
      "/user/recharge",
      async ({ body, caller, set }) => {
        set.status = 201;
        return ok(
          await recharge.createIntent(db, deps.config.compute, {
            userId: caller.user.id,
            points: body.points,
            amountUsd: body.amount_usd,
            provider: body.provider,
          }),
        );
      },
      {
        auth: true,
        body: RechargeBody,
        response: { 201: Envelope(IntentSchema), ...ErrorResponses },
        detail: {
          summary: "Start a recharge: a pending payment intent",
          description:
            "Give `points` (priced at COMPUTE_POINTS_PER_USD, rounded up to the cent) or `amount_usd` (whole cents; buys the points it covers, rounded down), not both. The intent stays pending until the payment provider's webhook completes it; the points are credited then.",
          security,
        },
      },
    )
    .get(
      "/user/recharge/:id",
      async ({ params, caller }) => ok(await recharge.getIntent(db, { userId: caller.user.id, intentId: params.id })),
      {
        auth: true,
        params: IntentParams,
        response: { 200: Envelope(IntentSchema), ...ErrorResponses },
        detail: { summary: "One of my payment intents", security },
      },
    )
    .post(
      PAYMENTS_PATH.slice("/api/v1".length),
      async ({ request }) => {
        const copy = rawBodies.get(request);
        rawBodies.delete(request);
        if (!secret) throw new AppError("NOT_FOUND", "payment webhooks are not configured");
        const raw = copy ? await readLimited(copy, limit) : new Uint8Array();
        try {
          recharge.verifyPaymentSignature(secret, request.headers.get(recharge.SIGNATURE_HEADER), raw);
        } catch (err) {
          // What was refused and why, never the signature or the body.
          log.warn("payment webhook rejected", {
            request_id: requestInfoOf(request)?.id,
            reason: (err as Error).message,
          });
          throw err;
        }
        const delivery = webhookBody(raw);
        const done = await recharge.completePayment(db, {
          intentId: delivery.intent_id,
          status: delivery.status,
          providerPaymentId: delivery.provider_payment_id,
        });
        log.info("payment webhook received", { intent_id: done.intent_id, status: done.status });
        return ok(done);
      },
      {
        response: {
          200: Envelope(PaymentWebhookSchema),
          400: ErrorEnvelope,
          401: ErrorEnvelope,
          404: ErrorEnvelope,
          409: ErrorEnvelope,
        },
        detail: {
          tags: ["operations"],
          summary: "Payment provider webhook: a payment intent succeeded or failed (HMAC-signed, no token)",
          description:
            'Called by the payment provider, not by clients. Header `X-Inkreel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with PAYMENT_WEBHOOK_SECRET>`. 400 without the header or with a body not matching the schema, 401 when the signature is malformed or forged or t is more than 300 s from now, 404 for an unknown intent (or when PAYMENT_WEBHOOK_SECRET is not configured), 409 when the intent was already completed or the provider payment id was already reported (nothing is credited). `succeeded` credits the intent\'s points once (ledger kind recharge, ref payment:<intent id>) in the transaction that marks it.',
          requestBody: { required: true, content: { "application/json": { schema: PaymentWebhookBody } } },
        },
      },
    );
}
