import {
  type CryptoKey,
  createRemoteJWKSet,
  customFetch,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from "jose";
import type { Config } from "../config.ts";
import { createLru } from "../core/lru.ts";
import type { Db } from "../db/client.ts";

export const AUDIENCE = "authenticated";

/** Claims of an access token, in Supabase Auth's shape. */
export interface AccessClaims extends JWTPayload {
  sub: string;
  email?: string;
  role?: string;
  session_id?: string;
  user_metadata?: Record<string, unknown>;
}

export interface TokenIssuer {
  alg: "ES256" | "HS256";
  sign(claims: { sub: string; email: string; session_id: string; username: string }): Promise<string>;
  verify(token: string): Promise<AccessClaims>;
  /** Public keys for /.well-known/jwks.json (empty with HS256: a shared secret is never published). */
  jwks(): { keys: JWK[] };
}

interface StoredKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** The current ES256 key, created on first start and shared by every API process through the DB. */
async function loadSigningKey(db: Db): Promise<StoredKey> {
  const oldest = () =>
    db
      .selectFrom("signing_keys")
      .selectAll()
      .where("alg", "=", "ES256")
      .orderBy("created_at")
      .orderBy("kid")
      .limit(1)
      .executeTakeFirst();
  let row = await oldest();
  if (!row) {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const kid = crypto.randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "ES256" };
    await db
      .insertInto("signing_keys")
      .values({ kid, alg: "ES256", private_jwk: JSON.stringify(privateJwk), public_jwk: JSON.stringify(publicJwk) })
      .execute();
    // Another process may have created one at the same moment: everyone uses the oldest.
    row = (await oldest())!;
  }
  return {
    kid: row.kid,
    privateKey: (await importJWK(row.private_jwk, "ES256")) as CryptoKey,
    publicJwk: row.public_jwk,
  };
}

/** Verified tokens an issuer remembers (about 1 KB each). */
const VERIFIED_CACHE_ENTRIES = 10_000;

/**
 * Remembers the claims of tokens `verify` accepted, until their `exp`: checking an ES256
 * signature costs about as much CPU as the rest of a simple authenticated request. Equivalent to
 * verifying again only because the key never changes for the issuer's lifetime and the claims are
 * those of the exact token text; a token is never accepted after its expiry. Rejections are not
 * remembered (they are cheap to repeat and an attacker could fill the cache with them).
 * Revocation is not a matter of the signature: the caller checks the session on every request.
 */
export function rememberVerified(verify: (token: string) => Promise<AccessClaims>, capacity = VERIFIED_CACHE_ENTRIES) {
  const verified = createLru<string, { claims: AccessClaims; expiresAt: number }>(capacity);
  return async (token: string): Promise<AccessClaims> => {
    const hit = verified.get(token);
    if (hit && Date.now() < hit.expiresAt) return hit.claims;
    const claims = await verify(token);
    // requiredClaims makes `exp` present; a token without one is not remembered.
    if (typeof claims.exp === "number") verified.set(token, { claims, expiresAt: claims.exp * 1000 });
    return claims;
  };
}

/** Our own issuer: ES256 with a stored key, or HS256 when JWT_SECRET is set. */
export async function createIssuer(config: Config, db: Db): Promise<TokenIssuer> {
  const { issuer, accessTtlS } = config.jwt;
  const verifyOptions = { issuer, audience: AUDIENCE, requiredClaims: ["sub", "exp", "iat"] };
  const build = (c: Parameters<TokenIssuer["sign"]>[0]) =>
    new SignJWT({
      email: c.email,
      role: "authenticated",
      session_id: c.session_id,
      aal: "aal1",
      is_anonymous: false,
      app_metadata: { provider: "inkreel" },
      user_metadata: { username: c.username },
    })
      .setSubject(c.sub)
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${accessTtlS}s`);

  if (config.jwt.secret) {
    const secret = new TextEncoder().encode(config.jwt.secret);
    return {
      alg: "HS256",
      sign: (c) => build(c).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret),
      verify: rememberVerified(
        async (token) =>
          (await jwtVerify<AccessClaims>(token, secret, { ...verifyOptions, algorithms: ["HS256"] })).payload,
      ),
      jwks: () => ({ keys: [] }),
    };
  }
  const key = await loadSigningKey(db);
  const publicKey = await importJWK(key.publicJwk, "ES256");
  return {
    alg: "ES256",
    sign: (c) => build(c).setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" }).sign(key.privateKey),
    verify: rememberVerified(
      async (token) =>
        (await jwtVerify<AccessClaims>(token, publicKey, { ...verifyOptions, algorithms: ["ES256"] })).payload,
    ),
    jwks: () => ({ keys: [key.publicJwk] }),
  };
}

/**
 * Verifies Supabase Auth access tokens: asymmetric keys from the project's JWKS (cached, and
 * refetched on an unknown `kid` at most every 30 s), or the legacy HS256 secret when configured.
 */
export function createSupabaseVerifier(supabase: NonNullable<Config["supabase"]>, fetchImpl?: typeof fetch) {
  const issuer = `${supabase.url}/auth/v1`;
  const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), {
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
    ...(fetchImpl ? { [customFetch]: (url: string, options: RequestInit) => fetchImpl(url, options) } : {}),
  });
  const secret = supabase.jwtSecret ? new TextEncoder().encode(supabase.jwtSecret) : null;
  const options = { issuer, audience: AUDIENCE, requiredClaims: ["sub", "exp"] };
  return async (token: string): Promise<AccessClaims> => {
    const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8") || "{}") as {
      alg?: string;
    };
    if (header.alg === "HS256") {
      if (!secret) throw new Error("HS256 token but no SUPABASE_JWT_SECRET configured");
      return (await jwtVerify<AccessClaims>(token, secret, { ...options, algorithms: ["HS256"] })).payload;
    }
    return (await jwtVerify<AccessClaims>(token, jwks, { ...options, algorithms: ["ES256", "RS256"] })).payload;
  };
}
