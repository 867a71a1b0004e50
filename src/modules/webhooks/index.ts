import { Elysia, t } from "elysia";
import { sql } from "kysely";
import { AppError, conflict, unauthorized } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import { readLimited } from "../../http/body.ts";
import { Envelope, ErrorEnvelope, failure, ok } from "../../http/envelope.ts";
import { requestInfoOf } from "../../http/request-info.ts";
import { adoptOrphan } from "../../providers/fal/pg-store.ts";
import { createFalWebhookVerifier, FalWebhookError, type VerifiedFalWebhook } from "../../providers/fal/webhook.ts";
import { FAL_WAKE_CHANNEL } from "../../providers/fal/webhook-waiter.ts";

const FAL_PATH = "/api/v1/webhooks/fal";

/** fal's delivery body, for the docs only: the route verifies the raw bytes and reads just `status`. */
const FAL_DELIVERY_DOC = {
  type: "object" as const,
  required: ["request_id", "status"],
  properties: {
    request_id: { type: "string" as const },
    gateway_request_id: { type: "string" as const },
    status: { type: "string" as const, enum: ["OK", "ERROR"] },
    payload: { description: "the model's output (not trusted: the job fetches the result from fal)" },
    error: { type: "string" as const, description: "why it failed (null when OK)" },
  },
  additionalProperties: true,
};

/** fal's `status` ("OK" | "ERROR"), if the body says (the status is informative; the job reads fal's own). */
function deliveryStatus(raw: Uint8Array): string | null {
  try {
    const status = (JSON.parse(new TextDecoder().decode(raw)) as { status?: unknown } | null)?.status;
    return typeof status === "string" ? status.slice(0, 32) : null;
  } catch {
    return null;
  }
}

/** The intent nonce our webhook URL carries (providers/fal/queue.ts: a random UUID), if well-formed. */
function nonceOf(url: string): string | null {
  const nonce = new URL(url).searchParams.get("nonce");
  return nonce && /^[0-9a-f-]{36}$/.test(nonce) ? nonce : null;
}

/**
 * Webhooks from providers. `POST /api/v1/webhooks/fal` takes fal's "request finished" deliveries:
 * no bearer token (fal calls it), but an Ed25519 signature over the exact body (providers/fal/webhook.ts).
 * A valid delivery is recorded in fal_webhooks — its signature is the key, so a replay inside the
 * timestamp window is a 409 — and NOTIFYs `inkreel_fal` with the request id in the same
 * transaction, waking the job waiting on that request (providers/fal/webhook-waiter.ts). The job
 * then asks fal for the status and result itself: the payload is not trusted as the output.
 *
 * A delivery for a request id we never stored, whose URL carries the nonce of a pending submit
 * intent, is an orphan's: the worker that submitted it died before storing fal's answer. The
 * intent adopts it (providers/fal/pg-store.ts: adoptOrphan), so the job's next attempt resumes it
 * instead of paying again; the NOTIFY of the nonce ends that attempt's wait for it.
 *
 * The route verifies even when no PUBLIC_URL is configured (config.cloud.fal.webhookUrl null, so we
 * never ask fal for webhooks): a delivery that verifies is fal's own, recording it is harmless, and
 * a forged one is refused all the same.
 */
export function webhooksModule(deps: Deps) {
  const { db, log } = deps;
  const limit = deps.config.limits.bodyBytes;
  const verifier = createFalWebhookVerifier({ jwksUrl: deps.config.cloud.fal.jwksUrl });
  // The http plugin's global parser consumes every body (as JSON here, within the body limit, a
  // malformed one answering 400) before a handler runs, and a route's `parse: "none"` does not
  // switch a global parser off. The signature is over the exact bytes, so a copy of the body is
  // taken before parsing (Request.clone tees the stream: no extra read), for this one route only.
  const rawBodies = new WeakMap<Request, Request>();

  return new Elysia({ name: "webhooks" })
    .onRequest(({ request }) => {
      if (request.method === "POST" && new URL(request.url).pathname === FAL_PATH)
        rawBodies.set(request, request.clone());
    })
    .post(
      FAL_PATH,
      async ({ request, set }) => {
        const copy = rawBodies.get(request);
        rawBodies.delete(request);
        const raw = copy ? await readLimited(copy, limit) : new Uint8Array();
        let delivery: VerifiedFalWebhook;
        try {
          delivery = await verifier.verify(request.headers, raw);
        } catch (err) {
          if (!(err instanceof FalWebhookError)) throw err;
          // What was refused and why, never the signature or the body.
          log.warn("fal webhook rejected", {
            request_id: requestInfoOf(request)?.id,
            reason: err.reason,
            detail: err.message,
            fal_request_id: request.headers.get("x-fal-webhook-request-id")?.slice(0, 200) ?? null,
          });
          if (err.reason === "missing_headers")
            throw new AppError("VALIDATION_ERROR", err.message, {
              fields: [{ path: "headers", message: err.message }],
            });
          if (err.reason === "keys_unavailable") {
            // fal's own service failed (AI_SERVICE_ERROR, 502): a 5xx, so fal delivers again later.
            set.status = 502;
            set.headers["retry-after"] = "60";
            return failure("AI_SERVICE_ERROR", "fal's webhook signing keys are unavailable; retry later");
          }
          throw unauthorized(
            err.reason === "stale"
              ? "webhook timestamp outside the accepted window"
              : "webhook signature does not verify",
          );
        }
        const status = deliveryStatus(raw);
        // fal signs every customer's webhooks with the same keys: only requests we submitted (and
        // still wait for) are recorded and wake a worker; anyone else's are acknowledged and dropped.
        const ours = await db
          .selectFrom("provider_requests")
          .select("key")
          .where("request_id", "=", delivery.requestId)
          .executeTakeFirst();
        const nonce = ours ? null : nonceOf(request.url);
        if (!ours) {
          const orphan = nonce ? await adoptOrphan(db, nonce, delivery.requestId) : null;
          if (!orphan) {
            log.info("fal webhook for a request we are not waiting for: ignored", {
              fal_request_id: delivery.requestId,
            });
            return ok({ received: false });
          }
          log.warn(
            orphan.adopted
              ? "fal webhook adopted a submission whose request id its worker never stored"
              : "fal webhook for a submission given up on after a crash (it was submitted again)",
            { fal_request_id: delivery.requestId, nonce },
          );
        }
        await db.transaction().execute(async (trx) => {
          const inserted = await trx
            .insertInto("fal_webhooks")
            .values({ signature: delivery.signature, request_id: delivery.requestId, status })
            .onConflict((oc) => oc.column("signature").doNothing())
            .returning("signature")
            .executeTakeFirst();
          if (!inserted) {
            log.warn("fal webhook rejected", {
              request_id: requestInfoOf(request)?.id,
              reason: "replay",
              fal_request_id: delivery.requestId,
            });
            throw conflict("this webhook delivery was already received");
          }
          // Delivered at commit: a waiter woken by it finds the row (and fal's finished request).
          await sql`select pg_notify(${FAL_WAKE_CHANNEL}, ${delivery.requestId})`.execute(trx);
          if (nonce) await sql`select pg_notify(${FAL_WAKE_CHANNEL}, ${nonce})`.execute(trx);
        });
        log.info("fal webhook received", { fal_request_id: delivery.requestId, status });
        return ok({ received: true });
      },
      {
        response: {
          200: Envelope(t.Object({ received: t.Boolean() })),
          400: ErrorEnvelope,
          401: ErrorEnvelope,
          409: ErrorEnvelope,
          502: ErrorEnvelope,
        },
        detail: {
          tags: ["operations"],
          summary: "fal.ai webhook: a queued request finished (Ed25519-signed, no token)",
          description:
            "Called by fal.ai, not by clients. Headers X-Fal-Webhook-Request-Id, -User-Id, -Timestamp (unix s, within 300 s) and -Signature (hex Ed25519 over request id, user id, timestamp and the body's SHA-256, checked against fal's JWKS). 400 without them, 401 when stale or forged, 409 for a replay, 200 with received false for a request Inkreel is not waiting for (a delivery for an unknown request id whose URL carries the `nonce` of a submission Inkreel sent but never stored the id of is adopted by it), 502 AI_SERVICE_ERROR when fal's keys cannot be fetched.",
          requestBody: { required: true, content: { "application/json": { schema: FAL_DELIVERY_DOC } } },
        },
      },
    );
}
