import { describe, expect, test } from "bun:test";
import { generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();
const PASSWORD = "correct horse battery";

function claimsOf(token: string) {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));
}

describe("register", () => {
  test("creates the user, a personal space and a token pair", async () => {
    const res = await ctx.call("POST", "/api/v1/auth/register", {
      body: { username: "lin_xiao", email: "Lin@Example.com", password: PASSWORD },
    });
    expect(res.status).toBe(201);
    const { user, access_token, refresh_token, token_type, expires_in } = res.json.data;
    expect(user).toMatchObject({ username: "lin_xiao", email: "Lin@Example.com", role: "USER" });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(user.created_at)).not.toBeNaN();
    expect(user).not.toHaveProperty("password_hash");
    expect(token_type).toBe("bearer");
    expect(expires_in).toBe(900);
    expect(refresh_token.length).toBeGreaterThanOrEqual(40);
    const space = await ctx.call("GET", `/api/v1/spaces/${user.current_space_id}`, { token: access_token });
    expect(space.json.data).toMatchObject({ type: "personal", role: "admin", owner_id: user.id });
    const stored = await ctx.db
      .selectFrom("users")
      .select("password_hash")
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    expect(stored.password_hash).toStartWith("$argon2id$");
  });

  test("access token has Supabase's claim shape and a 15-minute life", async () => {
    const u = await ctx.register();
    const c = claimsOf(u.token);
    expect(c).toMatchObject({
      iss: "inkreel",
      sub: u.user.id,
      aud: "authenticated",
      role: "authenticated",
      email: u.user.email,
    });
    expect(typeof c.session_id).toBe("string");
    expect(c.exp - c.iat).toBe(900);
    const header = JSON.parse(Buffer.from(u.token.split(".")[0]!, "base64url").toString("utf8"));
    expect(header.alg).toBe("ES256");
    const jwks = await ctx.call("GET", "/.well-known/jwks.json");
    expect(jwks.json.keys.map((k: { kid: string }) => k.kid)).toContain(header.kid);
    expect(jwks.json.keys[0]).not.toHaveProperty("d");
  });

  test("duplicate username or email (any case) is 409 naming the field", async () => {
    const u = await ctx.register("dup");
    const sameName = await ctx.call("POST", "/api/v1/auth/register", {
      body: { username: u.user.username.toUpperCase(), email: "other@example.com", password: PASSWORD },
    });
    expect(sameName.status).toBe(409);
    expect(sameName.json.error.details.fields[0].path).toBe("/username");
    const sameEmail = await ctx.call("POST", "/api/v1/auth/register", {
      body: { username: "someone_else", email: u.user.email.toUpperCase(), password: PASSWORD },
    });
    expect(sameEmail.status).toBe(409);
    expect(sameEmail.json.error.details.fields[0].path).toBe("/email");
  });

  test("bad inputs are 400 with the field named", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ username: "ab", email: "a@b.co", password: PASSWORD }, "/username"],
      [{ username: "x".repeat(51), email: "a@b.co", password: PASSWORD }, "/username"],
      [{ username: "has space", email: "a@b.co", password: PASSWORD }, "/username"],
      [{ username: "emoji😀name", email: "a@b.co", password: PASSWORD }, "/username"],
      [{ username: "valid_name", email: "not-an-email", password: PASSWORD }, "/email"],
      [{ username: "valid_name", email: "a@b.co", password: "short" }, "/password"],
      [{ username: "valid_name", email: "a@b.co", password: "p".repeat(129) }, "/password"],
      [{ username: "valid_name", email: "a@b.co", password: 12345678 }, "/password"],
      [{ username: "valid_name", email: "a@b.co" }, "/password"],
    ];
    for (const [body, path] of cases) {
      const res = await ctx.call("POST", "/api/v1/auth/register", { body });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
      expect(res.json.error.details.fields.map((f: { path: string }) => f.path)).toContain(path);
    }
  });

  test("unicode names and SQL metacharacters are stored as given", async () => {
    const name = "林小_ünï";
    const res = await ctx.call("POST", "/api/v1/auth/register", {
      body: { username: name, email: "o'brien+tag@example.com", password: "'; drop table users; --" },
    });
    expect(res.status).toBe(201);
    expect(res.json.data.user.username).toBe(name);
    const login = await ctx.call("POST", "/api/v1/auth/login", {
      body: { username: name, password: "'; drop table users; --" },
    });
    expect(login.status).toBe(200);
    const users = await ctx.db.selectFrom("users").select("id").execute();
    expect(users.length).toBeGreaterThan(0);
  });
});

describe("login", () => {
  test("by username, by email, and by an email in the username field", async () => {
    const u = await ctx.register("login");
    for (const body of [
      { username: u.user.username, password: PASSWORD },
      { email: u.user.email, password: PASSWORD },
      { username: u.user.email.toUpperCase(), password: PASSWORD },
    ]) {
      const res = await ctx.call("POST", "/api/v1/auth/login", { body });
      expect(res.status).toBe(200);
      expect(res.json.data.user.id).toBe(u.user.id);
      const cookie = res.headers.get("set-cookie") ?? "";
      expect(cookie).toContain(`inkreel_refresh=${res.json.data.refresh_token}`);
      expect(cookie).toContain("HttpOnly");
      expect(cookie).toContain("SameSite=Strict");
      expect(cookie).toContain("Path=/api/v1/auth");
    }
  });

  test("wrong password and unknown user are the same 401", async () => {
    const u = await ctx.register("wrongpw");
    const wrong = await ctx.call("POST", "/api/v1/auth/login", {
      body: { username: u.user.username, password: "not the password" },
    });
    const unknown = await ctx.call("POST", "/api/v1/auth/login", {
      body: { username: "nobody_here", password: PASSWORD },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json).toEqual(unknown.json);
    expect(wrong.json.error.code).toBe("UNAUTHORIZED");
  });

  test("neither username nor email is 400", async () => {
    const res = await ctx.call("POST", "/api/v1/auth/login", { body: { password: PASSWORD } });
    expect(res.status).toBe(400);
    expect(res.json.error.details.fields[0].path).toBe("/username");
  });
});

describe("refresh", () => {
  test("rotates: the new pair works, the old refresh token does not", async () => {
    const u = await ctx.register("rot");
    const first = await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh_token } });
    expect(first.status).toBe(200);
    expect(first.json.data.refresh_token).not.toBe(u.refresh_token);
    const me = await ctx.call("GET", "/api/v1/auth/me", { token: first.json.data.access_token });
    expect(me.json.data.id).toBe(u.user.id);
    const second = await ctx.call("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: first.json.data.refresh_token },
    });
    expect(second.status).toBe(200);
  });

  test("reusing a refresh token revokes the whole family", async () => {
    const u = await ctx.register("reuse");
    const next = await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh_token } });
    expect(next.status).toBe(200);
    const replay = await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh_token } });
    expect(replay.status).toBe(401);
    // The legitimate successor and the access tokens of the family are dead too.
    const successor = await ctx.call("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: next.json.data.refresh_token },
    });
    expect(successor.status).toBe(401);
    const me = await ctx.call("GET", "/api/v1/auth/me", { token: next.json.data.access_token });
    expect(me.status).toBe(401);
    // Other sessions of the same user are untouched.
    const other = await ctx.call("POST", "/api/v1/auth/login", {
      body: { username: u.user.username, password: PASSWORD },
    });
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: other.json.data.access_token })).status).toBe(200);
  });

  test("the HttpOnly cookie works in place of the body", async () => {
    const u = await ctx.register("cookie");
    const res = await ctx.call("POST", "/api/v1/auth/refresh", {
      headers: { cookie: `inkreel_refresh=${u.refresh_token}` },
    });
    expect(res.status).toBe(200);
    expect(res.json.data.user.id).toBe(u.user.id);
  });

  test("missing, unknown or absurd refresh tokens are 401/400", async () => {
    expect((await ctx.call("POST", "/api/v1/auth/refresh", { body: {} })).status).toBe(401);
    expect((await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: "nope" } })).status).toBe(401);
    expect((await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: "x".repeat(600) } })).status).toBe(
      400,
    );
    expect((await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: 5 } })).status).toBe(400);
  });

  test("concurrent refreshes with one token: exactly one wins", async () => {
    const u = await ctx.register("race");
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh_token } }),
      ),
    );
    expect(results.filter((r) => r.status === 200).length).toBe(1);
    expect(results.filter((r) => r.status === 401).length).toBe(3);
  });
});

describe("logout and me", () => {
  test("logout revokes the session: access and refresh tokens stop working", async () => {
    const u = await ctx.register("bye");
    const res = await ctx.call("POST", "/api/v1/auth/logout", { token: u.token });
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(401);
    expect((await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh_token } })).status).toBe(
      401,
    );
  });

  test("logout with only the refresh token works; with nothing is 401", async () => {
    const u = await ctx.register("byeref");
    expect((await ctx.call("POST", "/api/v1/auth/logout", { body: { refresh_token: u.refresh_token } })).status).toBe(
      200,
    );
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(401);
    expect((await ctx.call("POST", "/api/v1/auth/logout")).status).toBe(401);
  });

  test("me returns the user; no token is 401", async () => {
    const u = await ctx.register("me");
    const me = await ctx.call("GET", "/api/v1/auth/me", { token: u.token });
    expect(me.status).toBe(200);
    // The user as registration answered it, with their compute power (seed 003's quota_info): this month's free grant.
    const { quota_info, ...user } = me.json.data;
    expect(user).toEqual(u.user);
    expect(quota_info).toEqual({
      total: 500,
      used: 0,
      remaining: 500,
      reserved: 0,
      gifted: 500,
      recharged: 0,
      tier: "free",
    });
    const none = await ctx.call("GET", "/api/v1/auth/me");
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe("UNAUTHORIZED");
  });
});

describe("forged tokens", () => {
  async function sign(
    claims: Record<string, unknown>,
    options: { alg?: string; key?: CryptoKey | Uint8Array; exp?: number } = {},
  ) {
    const u = await ctx.register("forge");
    const base = claimsOf(u.token);
    const alg = options.alg ?? "ES256";
    const key = options.key ?? (await generateKeyPair("ES256")).privateKey;
    const jwt = new SignJWT({ ...base, ...claims }).setProtectedHeader({
      alg,
      kid: JSON.parse(Buffer.from(u.token.split(".")[0]!, "base64url").toString()).kid,
    });
    if (options.exp !== undefined) jwt.setExpirationTime(options.exp);
    return { user: u, token: await jwt.sign(key) };
  }

  test("alg none is 401", async () => {
    const u = await ctx.register("none");
    const token = new UnsecuredJWT(claimsOf(u.token)).encode();
    expect((await ctx.call("GET", "/api/v1/auth/me", { token })).status).toBe(401);
  });

  test("a token signed by another key is 401", async () => {
    const { token } = await sign({});
    expect((await ctx.call("GET", "/api/v1/auth/me", { token })).status).toBe(401);
  });

  test("HS256 is refused when the issuer is configured for ES256", async () => {
    const { token } = await sign({}, { alg: "HS256", key: new TextEncoder().encode("a".repeat(32)) });
    expect((await ctx.call("GET", "/api/v1/auth/me", { token })).status).toBe(401);
  });

  test("a payload altered under the real signature is 401", async () => {
    const u = await ctx.register("tamper");
    const [h, , s] = u.token.split(".");
    const payload = Buffer.from(JSON.stringify({ ...claimsOf(u.token), role: "service_role" })).toString("base64url");
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: `${h}.${payload}.${s}` })).status).toBe(401);
  });

  test("wrong audience, wrong issuer and expired tokens are 401 (signed with the real key)", async () => {
    const u = await ctx.register("claims");
    const c = claimsOf(u.token);
    const now = Math.floor(Date.now() / 1000);
    // Craft tokens with the issuer's own stored key, so only the claims are wrong.
    const row = await ctx.db.selectFrom("signing_keys").selectAll().executeTakeFirstOrThrow();
    const { importJWK } = await import("jose");
    const key = await importJWK(row.private_jwk as Record<string, string>, "ES256");
    const make = (over: Record<string, unknown>) =>
      new SignJWT({ ...c, ...over }).setProtectedHeader({ alg: "ES256", kid: row.kid }).sign(key);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: await make({}) })).status).toBe(200);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: await make({ aud: "anon" }) })).status).toBe(401);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: await make({ iss: "someone-else" }) })).status).toBe(401);
    expect(
      (await ctx.call("GET", "/api/v1/auth/me", { token: await make({ iat: now - 3600, exp: now - 60 }) })).status,
    ).toBe(401);
  });

  test("malformed Authorization headers are 401", async () => {
    for (const authorization of [
      "Bearer",
      "Bearer not.a.jwt",
      "Basic dXNlcjpwYXNz",
      "Bearer a.b",
      `Bearer ${"a".repeat(5000)}`,
    ]) {
      const res = await ctx.call("GET", "/api/v1/auth/me", { headers: { authorization } });
      expect(res.status).toBe(401);
    }
  });
});

describe("HS256 mode", async () => {
  const hs = await createTestContext({ JWT_SECRET: "s".repeat(40) });
  test("tokens are HS256 and verify; the JWKS publishes no secret", async () => {
    const u = await hs.register("hs");
    expect(JSON.parse(Buffer.from(u.token.split(".")[0]!, "base64url").toString()).alg).toBe("HS256");
    expect((await hs.call("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(200);
    expect((await hs.call("GET", "/.well-known/jwks.json")).json).toEqual({ keys: [] });
    const forged = await new SignJWT(claimsOf(u.token))
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode("t".repeat(40)));
    expect((await hs.call("GET", "/api/v1/auth/me", { token: forged })).status).toBe(401);
  });
});

describe("logs", () => {
  test("no password, token or refresh token ever reaches a log line", async () => {
    const u = await ctx.register("logs");
    await ctx.call("POST", "/api/v1/auth/login", { body: { username: u.user.username, password: PASSWORD } });
    await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh_token } });
    const all = ctx.logs.join("\n");
    expect(ctx.logs.length).toBeGreaterThan(5);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(u.token);
    expect(all).not.toContain(u.refresh_token);
  });
});
