// Plays fal's side of webhooks: Ed25519 signing keys, the JWKS server publishing them, and signed
// deliveries (headers + exact body bytes) as fal sends them.
import { createHash, generateKeyPairSync, type KeyObject, sign as signBytes } from "node:crypto";

export interface FalSigningKey {
  privateKey: KeyObject;
  /** The public key as fal's JWKS lists it. */
  jwk: { kty: "OKP"; crv: "Ed25519"; x: string; kid: string };
}

export function falSigningKey(kid: string = crypto.randomUUID()): FalSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { x } = publicKey.export({ format: "jwk" }) as { x: string };
  return { privateKey, jwk: { kty: "OKP", crv: "Ed25519", x, kid } };
}

export interface SignedDelivery {
  body: string;
  headers: Record<string, string>;
}

/**
 * fal's headers for `body`: hex Ed25519 over `request_id \n user_id \n timestamp \n sha256_hex(body)`.
 * `timestamp` is unix seconds (default now).
 */
export function sign(
  key: FalSigningKey,
  body: string | Uint8Array,
  o: { requestId: string; userId?: string; timestamp?: number },
): Record<string, string> {
  const userId = o.userId ?? "user-42";
  const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
  const hash = createHash("sha256").update(body).digest("hex");
  const signature = signBytes(
    null,
    Buffer.from(`${o.requestId}\n${userId}\n${timestamp}\n${hash}`, "utf8"),
    key.privateKey,
  ).toString("hex");
  return {
    "content-type": "application/json",
    "x-fal-webhook-request-id": o.requestId,
    "x-fal-webhook-user-id": userId,
    "x-fal-webhook-timestamp": timestamp,
    "x-fal-webhook-signature": signature,
  };
}

/** A delivery of fal's payload shape, signed with `key`. */
export function delivery(
  key: FalSigningKey,
  requestId: string,
  o: { status?: "OK" | "ERROR"; timestamp?: number; userId?: string } = {},
): SignedDelivery {
  const status = o.status ?? "OK";
  // fal's Python serialiser: spaces after separators, so a re-serialisation would not match.
  const body = `{"request_id": "${requestId}", "gateway_request_id": "${requestId}", "status": "${status}", "payload": ${status === "OK" ? '{"images": [{"url": "https://v3.fal.media/files/x.png"}]}' : "null"}, "error": ${status === "OK" ? "null" : '"boom"'}}`;
  return { body, headers: sign(key, body, { requestId, userId: o.userId, timestamp: o.timestamp }) };
}

/** A local JWKS endpoint; `keys` and `down` can change between requests. */
export function startJwksServer(keys: FalSigningKey[]) {
  const state = { keys, down: false, fetches: 0 };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch() {
      state.fetches++;
      if (state.down) return new Response("unavailable", { status: 503 });
      return Response.json({ keys: state.keys.map((k) => k.jwk) });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/.well-known/jwks.json`,
    state,
    stop: () => server.stop(true),
  };
}
