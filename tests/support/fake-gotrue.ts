// A small local stand-in for Supabase Auth (GoTrue), speaking its wire format at the paths
// supabase-js calls. It signs ES256 access tokens with GoTrue's claims and a `kid`, publishes
// its keys at /.well-known/jwks.json, rotates opaque refresh tokens, and records every request.
import { type CryptoKey, createLocalJWKSet, exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from "jose";

export interface RecordedRequest {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: unknown;
}

interface FakeUser {
  id: string;
  email: string;
  password: string;
  user_metadata: Record<string, unknown>;
  created_at: string;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

const ACCESS_TTL_S = 3600;
const API_VERSION = "2024-01-01";

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const kid = crypto.randomUUID();
  return {
    kid,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig", key_ops: ["verify"] },
  };
}

export async function startFakeGoTrue(options: { anonKey?: string } = {}) {
  const anonKey = options.anonKey ?? "sb_publishable_fake_anon_key";
  const users = new Map<string, FakeUser>(); // by lower-cased email
  const sessions = new Map<string, { userId: string; revoked: boolean }>();
  const refreshTokens = new Map<string, { sessionId: string; used: boolean }>();
  const keys: SigningKey[] = [await newKey()];
  const requests: RecordedRequest[] = [];
  /** GoTrue's "autoconfirm": when false, signup answers the user only (email confirmation pending). */
  const settings = {
    autoconfirm: true,
    minPasswordLength: 6,
    signupDisabled: false,
    rejectedEmailDomain: null as string | null,
  };

  const current = () => keys[keys.length - 1]!;
  const byId = (id: string) => [...users.values()].find((u) => u.id === id);

  // GoTrue's two error shapes: `{code, message}` when the client asks for API version
  // 2024-01-01 (supabase-js does), the legacy `{code: status, error_code, msg}` otherwise.
  function fail(req: Request, status: number, code: string, msg: string, extra: object = {}) {
    if (req.headers.get("x-supabase-api-version") === API_VERSION) {
      return Response.json(
        { code, message: msg, ...extra },
        { status, headers: { "x-supabase-api-version": API_VERSION } },
      );
    }
    return Response.json({ code: status, error_code: code, msg, ...extra }, { status });
  }

  function userJson(u: FakeUser) {
    return {
      id: u.id,
      aud: "authenticated",
      role: "authenticated",
      email: u.email,
      email_confirmed_at: settings.autoconfirm ? u.created_at : null,
      phone: "",
      confirmed_at: settings.autoconfirm ? u.created_at : null,
      last_sign_in_at: new Date().toISOString(),
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: {
        ...u.user_metadata,
        email: u.email,
        email_verified: settings.autoconfirm,
        phone_verified: false,
        sub: u.id,
      },
      identities: [],
      created_at: u.created_at,
      updated_at: new Date().toISOString(),
      is_anonymous: false,
    };
  }

  /** Signs a token with GoTrue's claims; `claims` overrides or adds any of them. */
  async function mint(
    claims: Record<string, unknown> = {},
    opts: { key?: CryptoKey; kid?: string; alg?: "ES256" | "HS256"; secret?: string } = {},
  ): Promise<string> {
    const sub = (claims.sub as string | undefined) ?? crypto.randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      iss: `${url}/auth/v1`,
      sub,
      aud: "authenticated",
      exp: now + ACCESS_TTL_S,
      iat: now,
      email: `${sub.slice(0, 8)}@example.com`,
      phone: "",
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: {},
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "password", timestamp: now }],
      session_id: crypto.randomUUID(),
      is_anonymous: false,
      ...claims,
    };
    if (opts.alg === "HS256") {
      return new SignJWT(payload)
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .sign(new TextEncoder().encode(opts.secret));
    }
    const key = current();
    return new SignJWT(payload)
      .setProtectedHeader({ alg: "ES256", kid: opts.kid ?? key.kid, typ: "JWT" })
      .sign(opts.key ?? key.privateKey);
  }

  async function session(u: FakeUser, sessionId: string = crypto.randomUUID()) {
    sessions.set(sessionId, { userId: u.id, revoked: false });
    const refresh_token = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    refreshTokens.set(refresh_token, { sessionId, used: false });
    const access_token = await mint({
      sub: u.id,
      email: u.email,
      user_metadata: userJson(u).user_metadata,
      session_id: sessionId,
    });
    const { exp } = JSON.parse(Buffer.from(access_token.split(".")[1]!, "base64url").toString()) as { exp: number };
    return {
      access_token,
      token_type: "bearer",
      expires_in: ACCESS_TTL_S,
      expires_at: exp,
      refresh_token,
      user: userJson(u),
    };
  }

  /** The bearer's claims if the token is one of ours and its session is live. */
  async function bearer(req: Request) {
    const token = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
    if (!token) return null;
    const verified = await jwtVerify(token, createLocalJWKSet({ keys: keys.map((k) => k.publicJwk) }), {
      issuer: `${url}/auth/v1`,
      audience: "authenticated",
    }).catch(() => null);
    const claims = verified?.payload as { sub: string; session_id: string } | undefined;
    return claims && !sessions.get(claims.session_id)?.revoked ? claims : null;
  }

  async function handle(req: Request, body: Record<string, string | undefined>): Promise<Response> {
    const { pathname, searchParams } = new URL(req.url);
    const route = `${req.method} ${pathname}`;
    if (route === "GET /auth/v1/.well-known/jwks.json") return Response.json({ keys: keys.map((k) => k.publicJwk) });
    // Supabase's API gateway refuses calls without the project's API key.
    if (req.headers.get("apikey") !== anonKey) return Response.json({ message: "Invalid API key" }, { status: 401 });

    if (route === "POST /auth/v1/signup") {
      const email = body.email?.toLowerCase() ?? "";
      if (!/^[^@\s]+@[^@\s]+$/.test(email))
        return fail(req, 400, "validation_failed", "Unable to validate email address: invalid format");
      if (settings.signupDisabled) return fail(req, 422, "signup_disabled", "Signups not allowed for this instance");
      if (settings.rejectedEmailDomain && email.endsWith(`@${settings.rejectedEmailDomain}`)) {
        return fail(req, 400, "email_address_invalid", `Email address "${email}" is invalid`);
      }
      if ((body.password ?? "").length < settings.minPasswordLength) {
        return fail(
          req,
          422,
          "weak_password",
          `Password should be at least ${settings.minPasswordLength} characters.`,
          {
            weak_password: { reasons: ["length"] },
          },
        );
      }
      if (users.has(email)) return fail(req, 422, "user_already_exists", "User already registered");
      const data = (body as { data?: Record<string, unknown> }).data ?? {};
      const u = {
        id: crypto.randomUUID(),
        email,
        password: body.password!,
        user_metadata: data,
        created_at: new Date().toISOString(),
      };
      users.set(email, u);
      return Response.json(settings.autoconfirm ? await session(u) : userJson(u));
    }
    if (route === "POST /auth/v1/token" && searchParams.get("grant_type") === "password") {
      const u = users.get(body.email?.toLowerCase() ?? "");
      if (!u || u.password !== body.password) return fail(req, 400, "invalid_credentials", "Invalid login credentials");
      return Response.json(await session(u));
    }
    if (route === "POST /auth/v1/token" && searchParams.get("grant_type") === "refresh_token") {
      const entry = refreshTokens.get(body.refresh_token ?? "");
      const s = entry && sessions.get(entry.sessionId);
      if (!entry || !s || s.revoked)
        return fail(req, 400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
      if (entry.used) {
        s.revoked = true; // reuse of a rotated token ends the whole session
        return fail(req, 400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
      }
      entry.used = true;
      return Response.json(await session(byId(s.userId)!, entry.sessionId));
    }
    if (route === "GET /auth/v1/user") {
      const claims = await bearer(req);
      if (!claims) return fail(req, 403, "bad_jwt", "invalid JWT: unable to parse or verify signature");
      return Response.json(userJson(byId(claims.sub)!));
    }
    if (route === "POST /auth/v1/logout") {
      const claims = await bearer(req);
      if (!claims) return fail(req, 403, "bad_jwt", "invalid JWT: unable to parse or verify signature");
      const scope = searchParams.get("scope") ?? "global";
      for (const [id, s] of sessions) {
        if (scope === "local" ? id === claims.session_id : s.userId === claims.sub) s.revoked = true;
      }
      return new Response(null, { status: 204 });
    }
    return fail(req, 404, "not_found", "Not Found");
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const text = req.method === "GET" ? "" : await req.text();
      let body: Record<string, string | undefined> = {};
      try {
        body = text ? JSON.parse(text) : {};
      } catch {
        return fail(req, 400, "bad_json", "Could not parse request body as JSON");
      }
      const { pathname, search } = new URL(req.url);
      const headers: Record<string, string> = {};
      req.headers.forEach((value, name) => {
        headers[name] = value;
      });
      requests.push({ method: req.method, path: pathname, search, headers, body });
      return handle(req, body);
    },
  });
  const url = `http://127.0.0.1:${server.port}`;

  return {
    url,
    anonKey,
    settings,
    requests,
    /** Requests to one path (e.g. "/auth/v1/logout"). */
    calls: (path: string) => requests.filter((r) => r.path === path),
    jwksHits: () => requests.filter((r) => r.path === "/auth/v1/.well-known/jwks.json").length,
    currentKid: () => current().kid,
    /** Starts signing with a new key; the old one stays published, as Supabase keeps previous keys. */
    async rotateKey() {
      keys.push(await newKey());
      return current().kid;
    },
    mint,
    /** A user created directly in Supabase (e.g. by a front end calling supabase-js itself). */
    addUser(email: string, password: string, user_metadata: Record<string, unknown> = {}) {
      const u = {
        id: crypto.randomUUID(),
        email: email.toLowerCase(),
        password,
        user_metadata,
        created_at: new Date().toISOString(),
      };
      users.set(u.email, u);
      return u;
    },
    isSessionRevoked: (sessionId: string) => sessions.get(sessionId)?.revoked ?? null,
    stop: () => server.stop(true),
  };
}

export type FakeGoTrue = Awaited<ReturnType<typeof startFakeGoTrue>>;
