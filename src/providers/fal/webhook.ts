import { createHash, createPublicKey, type KeyObject, verify as verifySignature } from "node:crypto";

/**
 * fal's webhook signatures (https://docs.fal.ai/model-endpoints/webhooks): every delivery carries
 *
 *   X-Fal-Webhook-Request-Id, X-Fal-Webhook-User-Id, X-Fal-Webhook-Timestamp (unix seconds),
 *   X-Fal-Webhook-Signature (hex Ed25519 signature)
 *
 * over the UTF-8 of `request_id \n user_id \n timestamp \n sha256_hex(raw body)`, made with one of
 * the Ed25519 keys fal publishes as a JWKS. The body is covered through its hash, so the exact
 * bytes received must be verified, never a re-serialisation of the parsed JSON.
 */

/** Why a delivery was refused: the route maps these to 400, 401, 401 and 502. */
export type FalWebhookRejection = "missing_headers" | "stale" | "bad_signature" | "keys_unavailable";

export class FalWebhookError extends Error {
  constructor(
    readonly reason: FalWebhookRejection,
    message: string,
  ) {
    super(message);
    this.name = "FalWebhookError";
  }
}

/** A delivery whose signature verified. `signature` is lower-case hex (one spelling per signature: replays are caught by it). */
export interface VerifiedFalWebhook {
  requestId: string;
  userId: string;
  /** Unix seconds, as signed. */
  timestamp: number;
  signature: string;
}

export interface FalWebhookVerifierOptions {
  /** fal's JWKS (config.cloud.fal.jwksUrl). */
  jwksUrl: string;
  fetch?: typeof fetch;
  /** How far the signed timestamp may be from now, either way (default 300 s, fal's recommendation). */
  toleranceS?: number;
  /** The clock, in milliseconds (default Date.now): tests move it. */
  now?: () => number;
  /** How long fetched keys are trusted before they are fetched again (default 24 h). */
  cacheMs?: number;
  /**
   * A signature no cached key verifies triggers one refetch (fal may have rotated its keys), at
   * most this often (default 60 s): forged deliveries must not turn into a flood of JWKS fetches.
   */
  refetchMinMs?: number;
  /** The JWKS fetch's timeout (default 10 s): a hung key server must not hold webhook requests. */
  timeoutMs?: number;
}

export interface FalWebhookVerifier {
  /** The verified delivery, or a FalWebhookError saying why it is refused. */
  verify(headers: Headers, rawBody: Uint8Array): Promise<VerifiedFalWebhook>;
}

const HEADER = {
  requestId: "x-fal-webhook-request-id",
  userId: "x-fal-webhook-user-id",
  timestamp: "x-fal-webhook-timestamp",
  signature: "x-fal-webhook-signature",
} as const;

/** Ids end up in a NOTIFY payload (8000 bytes at most) and a text column: keep them sane. */
const ID = /^[\x21-\x7e]{1,200}$/;
const TIMESTAMP = /^\d{1,12}$/;
/** An Ed25519 signature is 64 bytes. */
const SIGNATURE = /^[0-9a-f]{128}$/;

interface Jwk {
  kty?: unknown;
  crv?: unknown;
  x?: unknown;
}

/** The Ed25519 keys of a JWKS document; other key types and malformed entries are skipped. */
export function ed25519Keys(doc: unknown): KeyObject[] {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return [];
  const out: KeyObject[] = [];
  for (const k of keys as Jwk[]) {
    if (k?.kty !== "OKP" || k.crv !== "Ed25519" || typeof k.x !== "string") continue;
    try {
      out.push(createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: k.x }, format: "jwk" }));
    } catch {
      // A key we cannot read verifies nothing; the others still may.
    }
  }
  return out;
}

/** The exact message fal signs. */
export function falSignedMessage(requestId: string, userId: string, timestamp: string, rawBody: Uint8Array): Buffer {
  const bodyHash = createHash("sha256").update(rawBody).digest("hex");
  return Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${bodyHash}`, "utf8");
}

export function createFalWebhookVerifier(o: FalWebhookVerifierOptions): FalWebhookVerifier {
  const fetchFn = o.fetch ?? globalThis.fetch;
  const toleranceS = o.toleranceS ?? 300;
  const now = o.now ?? Date.now;
  const cacheMs = o.cacheMs ?? 24 * 60 * 60 * 1000;
  const refetchMinMs = o.refetchMinMs ?? 60_000;
  const timeoutMs = o.timeoutMs ?? 10_000;

  let cached: { keys: KeyObject[]; fetchedAt: number } | null = null;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  // One fetch at a time: a burst of deliveries shares it.
  let inflight: Promise<KeyObject[]> | null = null;

  async function fetchKeys(): Promise<KeyObject[]> {
    lastAttempt = now();
    const res = await fetchFn(o.jwksUrl, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`JWKS answered HTTP ${res.status}`);
    const keys = ed25519Keys(await res.json());
    if (!keys.length) throw new Error("JWKS holds no Ed25519 key");
    cached = { keys, fetchedAt: now() };
    return keys;
  }

  function refresh(): Promise<KeyObject[]> {
    inflight ??= fetchKeys().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  /** Cached keys while fresh; else fetched, falling back to stale keys when fal's server is down. */
  async function currentKeys(): Promise<KeyObject[]> {
    if (cached && now() - cached.fetchedAt < cacheMs) return cached.keys;
    try {
      return await refresh();
    } catch (err) {
      if (cached) return cached.keys;
      throw new FalWebhookError(
        "keys_unavailable",
        `fal's webhook keys could not be fetched: ${(err as Error).message}`,
      );
    }
  }

  const anyVerifies = (keys: KeyObject[], message: Buffer, signature: Buffer) =>
    keys.some((key) => {
      try {
        return verifySignature(null, message, key, signature);
      } catch {
        return false;
      }
    });

  return {
    async verify(headers, rawBody) {
      const requestId = headers.get(HEADER.requestId)?.trim() ?? "";
      const userId = headers.get(HEADER.userId)?.trim() ?? "";
      const timestamp = headers.get(HEADER.timestamp)?.trim() ?? "";
      const signatureHex = headers.get(HEADER.signature)?.trim().toLowerCase() ?? "";
      if (!ID.test(requestId) || !ID.test(userId) || !TIMESTAMP.test(timestamp) || !signatureHex) {
        throw new FalWebhookError(
          "missing_headers",
          "the X-Fal-Webhook-Request-Id, -User-Id, -Timestamp and -Signature headers are required",
        );
      }
      // Before any key lookup: an old delivery is refused cheaply, and a captured one cannot be
      // replayed once the window has passed (within it, the stored signature catches it).
      const ts = Number(timestamp);
      if (Math.abs(now() / 1000 - ts) > toleranceS)
        throw new FalWebhookError("stale", `the webhook timestamp is more than ${toleranceS} s from now`);
      if (!SIGNATURE.test(signatureHex))
        throw new FalWebhookError("bad_signature", "the webhook signature is not 64 bytes of hex");

      const message = falSignedMessage(requestId, userId, timestamp, rawBody);
      const signature = Buffer.from(signatureHex, "hex");
      const verified = { requestId, userId, timestamp: ts, signature: signatureHex };
      if (anyVerifies(await currentKeys(), message, signature)) return verified;
      // fal may have rotated its keys since we fetched them: look again, but not on every forgery.
      if (now() - lastAttempt < refetchMinMs)
        throw new FalWebhookError("bad_signature", "the webhook signature does not verify");
      let fresh: KeyObject[];
      try {
        fresh = await refresh();
      } catch (err) {
        throw new FalWebhookError(
          "keys_unavailable",
          `fal's webhook keys could not be refetched: ${(err as Error).message}`,
        );
      }
      if (anyVerifies(fresh, message, signature)) return verified;
      throw new FalWebhookError("bad_signature", "the webhook signature does not verify");
    },
  };
}
