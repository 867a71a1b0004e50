// Supabase Auth mode (SUPABASE_URL + SUPABASE_ANON_KEY), against a local fake of GoTrue that
// speaks its wire format: Inkreel's real code, supabase-js and jose talk to it over HTTP.
import { afterAll, describe, expect, setSystemTime, test } from "bun:test";
import { decodeJwt, decodeProtectedHeader, generateKeyPair } from "jose";
import { createTestContext, type TestContext } from "./support/context.ts";
import { type FakeGoTrue, startFakeGoTrue } from "./support/fake-gotrue.ts";

const PASSWORD = "correct horse battery";
/** Every token and password seen here; none may reach a log line. */
const secrets = new Set<string>([PASSWORD]);

async function supabaseContext(extraEnv: Record<string, string> = {}) {
  const fake = await startFakeGoTrue();
  afterAll(() => fake.stop());
  const ctx = await createTestContext({ SUPABASE_URL: fake.url, SUPABASE_ANON_KEY: fake.anonKey, ...extraEnv });
  return { fake, ctx };
}

const { fake, ctx } = await supabaseContext();
const { fake: rotating, ctx: rctx } = await supabaseContext();
const LEGACY_SECRET = "legacy-supabase-jwt-secret-0123456789abcdef";
const { fake: legacy, ctx: lctx } = await supabaseContext({ SUPABASE_JWT_SECRET: LEGACY_SECRET });

let counter = 0;
const newAccount = () => {
  const username = `sb_${++counter}_${crypto.randomUUID().slice(0, 6)}`;
  return { username, email: `${username}@example.com`, password: PASSWORD };
};

async function register(account = newAccount()) {
  const res = await ctx.call("POST", "/api/v1/auth/register", { body: account });
  expect(res.status).toBe(201);
  const data = res.json.data as {
    user: { id: string; current_space_id: string };
    access_token: string;
    refresh_token: string;
  };
  secrets.add(data.access_token).add(data.refresh_token);
  return { ...account, ...data };
}

async function mint(f: FakeGoTrue, ...args: Parameters<FakeGoTrue["mint"]>) {
  const token = await f.mint(...args);
  secrets.add(token);
  return token;
}

const me = (c: TestContext, token: string) => c.call("GET", "/api/v1/auth/me", { token });
const userRow = (c: TestContext, id: string) =>
  c.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();

describe("register", () => {
  test("creates the Supabase user and a local user with the same id", async () => {
    const account = newAccount();
    const res = await ctx.call("POST", "/api/v1/auth/register", { body: account });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ success: true, message: "registered" });
    const data = res.json.data;
    secrets.add(data.access_token).add(data.refresh_token);
    expect(data).toMatchObject({
      token_type: "bearer",
      expires_in: 3600,
      user: { username: account.username, email: account.email, role: "USER" },
    });

    // The tokens are the fake's: its key, its issuer, its user id.
    const claims = decodeJwt(data.access_token);
    expect(decodeProtectedHeader(data.access_token).kid).toBe(fake.currentKid());
    expect(claims).toMatchObject({
      iss: `${fake.url}/auth/v1`,
      sub: data.user.id,
      email: account.email,
      user_metadata: { username: account.username },
    });
    const [signup] = fake.calls("/auth/v1/signup").filter((r) => (r.body as { email: string }).email === account.email);
    expect(signup?.headers.apikey).toBe(fake.anonKey);
    expect(signup?.body).toMatchObject({ password: account.password, data: { username: account.username } });

    const row = await userRow(ctx, data.user.id);
    expect(row).toMatchObject({
      id: data.user.id,
      email: account.email,
      auth_provider: "supabase",
      password_hash: null,
    });
    expect(row?.current_space_id).toBe(data.user.current_space_id);
    expect(res.headers.get("set-cookie")).toContain("HttpOnly");

    const who = await me(ctx, data.access_token);
    expect(who.status).toBe(200);
    expect(who.json.data.id).toBe(data.user.id);
    // The access token handed back is a live Supabase session (GET /auth/v1/user).
    const live = await ctx.deps.supabaseClient!().auth.getUser(data.access_token);
    expect(live.data.user?.id).toBe(data.user.id);
  });

  test("a duplicate email is 409 CONFLICT (Supabase's 422 user_already_exists)", async () => {
    const first = await register();
    const again = await ctx.call("POST", "/api/v1/auth/register", { body: { ...newAccount(), email: first.email } });
    expect(again.status).toBe(409);
    expect(again.json.error).toEqual({
      code: "CONFLICT",
      details: { fields: [{ path: "/email", message: "already registered" }] },
    });
    expect(
      fake.calls("/auth/v1/signup").filter((r) => (r.body as { email: string }).email === first.email),
    ).toHaveLength(2);
  });

  test("a duplicate username is 409 CONFLICT without asking Supabase", async () => {
    const first = await register();
    const before = fake.calls("/auth/v1/signup").length;
    const again = await ctx.call("POST", "/api/v1/auth/register", {
      body: { ...newAccount(), username: first.username },
    });
    expect(again.status).toBe(409);
    expect(again.json.error.details.fields[0].path).toBe("/username");
    expect(fake.calls("/auth/v1/signup").length).toBe(before);
  });

  test("a password Supabase finds too weak is 400 VALIDATION_ERROR on /password", async () => {
    fake.settings.minPasswordLength = 30;
    try {
      const res = await ctx.call("POST", "/api/v1/auth/register", { body: newAccount() });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
      expect(res.json.error.details.fields[0].path).toBe("/password");
    } finally {
      fake.settings.minPasswordLength = 6;
    }
  });

  test("an email Supabase refuses is 400 on /email; disabled sign-ups are 403", async () => {
    const account = newAccount();
    fake.settings.rejectedEmailDomain = account.email.split("@")[1]!;
    try {
      const res = await ctx.call("POST", "/api/v1/auth/register", { body: account });
      expect(res.status).toBe(400);
      expect(res.json.error.details.fields[0].path).toBe("/email");
    } finally {
      fake.settings.rejectedEmailDomain = null;
    }
    fake.settings.signupDisabled = true;
    try {
      const res = await ctx.call("POST", "/api/v1/auth/register", { body: newAccount() });
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe("FORBIDDEN");
    } finally {
      fake.settings.signupDisabled = false;
    }
  });

  test("with email confirmation on, answers 202 and creates the local user", async () => {
    fake.settings.autoconfirm = false;
    try {
      const account = newAccount();
      const res = await ctx.call("POST", "/api/v1/auth/register", { body: account });
      expect(res.status).toBe(202);
      expect(res.json.data.confirmation_required).toBe(true);
      expect(res.json.data).not.toHaveProperty("access_token");
      expect((await userRow(ctx, res.json.data.user.id))?.username).toBe(account.username);
    } finally {
      fake.settings.autoconfirm = true;
    }
  });
});

describe("login", () => {
  test("by email answers 200 with Supabase's tokens", async () => {
    const user = await register();
    const res = await ctx.call("POST", "/api/v1/auth/login", { body: { email: user.email, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ token_type: "bearer", user: { id: user.user.id } });
    secrets.add(res.json.data.access_token).add(res.json.data.refresh_token);
    expect(decodeJwt(res.json.data.access_token).sub).toBe(user.user.id);
    expect(res.json.data.refresh_token).not.toBe(user.refresh_token);
    const call = fake.requests.at(-1)!;
    expect(`${call.method} ${call.path}${call.search}`).toBe("POST /auth/v1/token?grant_type=password");
    expect(res.headers.get("set-cookie")).toContain(`inkreel_refresh=${res.json.data.refresh_token}`);
  });

  test("by username sends the stored email to Supabase", async () => {
    const user = await register();
    const res = await ctx.call("POST", "/api/v1/auth/login", {
      body: { username: user.username.toUpperCase(), password: PASSWORD },
    });
    expect(res.status).toBe(200);
    secrets.add(res.json.data.access_token).add(res.json.data.refresh_token);
    expect(res.json.data.user.id).toBe(user.user.id);
    expect(fake.requests.at(-1)?.body).toMatchObject({ email: user.email, password: PASSWORD });
  });

  test("a wrong password is 401 (Supabase's 400 invalid_credentials)", async () => {
    const user = await register();
    const res = await ctx.call("POST", "/api/v1/auth/login", {
      body: { email: user.email, password: "wrong password!" },
    });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({
      success: false,
      message: "invalid username/email or password",
      error: { code: "UNAUTHORIZED" },
    });
    expect(fake.requests.at(-1)?.path).toBe("/auth/v1/token");
  });

  test("an unknown username is 401 without asking Supabase", async () => {
    const before = fake.requests.length;
    const res = await ctx.call("POST", "/api/v1/auth/login", { body: { username: "nobody_here", password: PASSWORD } });
    expect(res.status).toBe(401);
    expect(fake.requests.length).toBe(before);
  });

  test("a user created directly in Supabase keeps their username on first login", async () => {
    const { username } = newAccount();
    const email = `direct.${crypto.randomUUID().slice(0, 8)}@example.com`;
    const created = fake.addUser(email, PASSWORD, { username });
    const res = await ctx.call("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } });
    expect(res.status).toBe(200);
    secrets.add(res.json.data.access_token).add(res.json.data.refresh_token);
    expect(res.json.data.user).toMatchObject({ id: created.id, username, email });
  });
});

describe("refresh and logout", () => {
  test("refresh goes through supabase-js and answers a new pair; the old refresh token then fails", async () => {
    const user = await register();
    const res = await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: user.refresh_token } });
    expect(res.status).toBe(200);
    const pair = res.json.data;
    secrets.add(pair.access_token).add(pair.refresh_token);
    expect(pair.refresh_token).not.toBe(user.refresh_token);
    expect(pair.access_token).not.toBe(user.access_token);
    expect(pair.user.id).toBe(user.user.id);
    const call = fake.requests.at(-1)!;
    expect(`${call.path}${call.search}`).toBe("/auth/v1/token?grant_type=refresh_token");
    expect(call.body).toEqual({ refresh_token: user.refresh_token });
    expect(call.headers["x-client-info"]).toStartWith("supabase-js/");
    expect((await me(ctx, pair.access_token)).status).toBe(200);

    const reused = await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: user.refresh_token } });
    expect(reused.status).toBe(401);
    expect(reused.json.error.code).toBe("UNAUTHORIZED");
    // Supabase ended the whole session on reuse, so the newest token fails too.
    const newest = await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: pair.refresh_token } });
    expect(newest.status).toBe(401);
  });

  test("refresh also takes the token from the cookie", async () => {
    const user = await register();
    const res = await ctx.call("POST", "/api/v1/auth/refresh", {
      headers: { cookie: `inkreel_refresh=${user.refresh_token}` },
    });
    expect(res.status).toBe(200);
    secrets.add(res.json.data.access_token).add(res.json.data.refresh_token);
    expect((fake.requests.at(-1)?.body as { refresh_token?: string } | undefined)?.refresh_token).toBe(
      user.refresh_token,
    );
  });

  test("logout answers 200 and ends the session at Supabase", async () => {
    const user = await register();
    const res = await ctx.call("POST", "/api/v1/auth/logout", { token: user.access_token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true, data: null, message: "logged out" });
    const call = fake.calls("/auth/v1/logout").at(-1)!;
    expect(call.search).toBe("?scope=local");
    expect(call.headers.authorization).toBe(`Bearer ${user.access_token}`);
    expect(call.headers.apikey).toBe(fake.anonKey);
    expect(fake.isSessionRevoked(decodeJwt(user.access_token).session_id as string)).toBe(true);
    const after = await ctx.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: user.refresh_token } });
    expect(after.status).toBe(401);
  });
});

describe("Supabase access tokens", () => {
  test("one signed by the Supabase key is accepted on /auth/me", async () => {
    const user = await register();
    const token = await mint(fake, { sub: user.user.id, email: user.email });
    const res = await me(ctx, token);
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ id: user.user.id, username: user.username });
  });

  test("a first-seen user gets a local user with that id and a personal space", async () => {
    const sub = crypto.randomUUID();
    const token = await mint(fake, {
      sub,
      email: `first_${sub.slice(0, 8)}@example.com`,
      user_metadata: { username: `first_${sub.slice(0, 8)}` },
    });
    expect(await userRow(ctx, sub)).toBeUndefined();
    const res = await me(ctx, token);
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ id: sub, username: `first_${sub.slice(0, 8)}`, role: "USER" });
    const row = await userRow(ctx, sub);
    expect(row?.auth_provider).toBe("supabase");
    const space = await ctx.db.selectFrom("spaces").selectAll().where("owner_id", "=", sub).executeTakeFirstOrThrow();
    expect(space).toMatchObject({ type: "personal", id: row!.current_space_id! });
    const member = await ctx.db.selectFrom("space_members").selectAll().where("space_id", "=", space.id).execute();
    expect(member).toMatchObject([{ user_id: sub, role: "admin" }]);
    // Seen again: the same row, no second one.
    expect((await me(ctx, token)).json.data.id).toBe(sub);
    expect(await ctx.db.selectFrom("users").select("id").where("id", "=", sub).execute()).toHaveLength(1);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const rejected: [string, () => Promise<string>][] = [
    [
      "signed by another key under the same kid",
      async () => mint(fake, {}, { key: (await generateKeyPair("ES256")).privateKey }),
    ],
    ["with another issuer", () => mint(fake, { iss: "https://other.supabase.co/auth/v1" })],
    ["with another audience", () => mint(fake, { aud: "anon" })],
    ["expired", () => mint(fake, { iat: now() - 7200, exp: now() - 60 })],
    [
      "with alg none",
      async () => {
        const [, payload] = (await mint(fake)).split(".");
        return `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${payload}.`;
      },
    ],
    ["HS256 when no SUPABASE_JWT_SECRET is set", () => mint(fake, {}, { alg: "HS256", secret: "a".repeat(40) })],
  ];
  for (const [name, make] of rejected) {
    test(`one ${name} is 401 and creates no user`, async () => {
      const token = await make();
      const res = await me(ctx, token);
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe("UNAUTHORIZED");
      expect(await userRow(ctx, decodeJwt(token).sub!)).toBeUndefined();
    });
  }
});

describe("signing key rotation", () => {
  test("the JWKS is fetched once and then cached", async () => {
    const token = await mint(rotating);
    for (let i = 0; i < 5; i++) expect((await me(rctx, token)).status).toBe(200);
    expect(rotating.jwksHits()).toBe(1);
    expect(rotating.requests.every((r) => r.path === "/auth/v1/.well-known/jwks.json")).toBe(true);
  });

  test("a token with a new kid is accepted after one refetch; an unknown kid is not refetched again at once", async () => {
    const oldToken = await mint(rotating);
    const kid = await rotating.rotateKey();
    // jose refetches on an unknown kid only outside its 30 s cooldown since the last fetch.
    setSystemTime(new Date(Date.now() + 31_000));
    try {
      const newToken = await mint(rotating);
      expect(decodeProtectedHeader(newToken).kid).toBe(kid);
      expect((await me(rctx, newToken)).status).toBe(200);
      expect(rotating.jwksHits()).toBe(2);
      expect((await me(rctx, newToken)).status).toBe(200);
      expect((await me(rctx, oldToken)).status).toBe(200);
      const stranger = await mint(
        rotating,
        {},
        { key: (await generateKeyPair("ES256")).privateKey, kid: "unknown-kid" },
      );
      expect((await me(rctx, stranger)).status).toBe(401);
      expect((await me(rctx, stranger)).status).toBe(401);
      expect(rotating.jwksHits()).toBe(2);
    } finally {
      setSystemTime();
    }
  });

  test("Supabase unreachable: register is 502 AUTH_SERVICE_ERROR", async () => {
    rotating.stop();
    const res = await rctx.call("POST", "/api/v1/auth/register", { body: newAccount() });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe("AUTH_SERVICE_ERROR");
    expect(JSON.stringify(res.json)).not.toContain("127.0.0.1");
  });
});

describe("legacy HS256 secret", () => {
  test("an HS256 token signed with SUPABASE_JWT_SECRET is accepted", async () => {
    const sub = crypto.randomUUID();
    const res = await me(
      lctx,
      await mint(
        legacy,
        { sub, user_metadata: { username: `legacy_${sub.slice(0, 6)}` } },
        { alg: "HS256", secret: LEGACY_SECRET },
      ),
    );
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ id: sub, username: `legacy_${sub.slice(0, 6)}` });
  });

  test("an HS256 token signed with another secret is 401", async () => {
    const token = await mint(legacy, {}, { alg: "HS256", secret: `${LEGACY_SECRET}-but-wrong` });
    const res = await me(lctx, token);
    expect(res.status).toBe(401);
    expect(await userRow(lctx, decodeJwt(token).sub!)).toBeUndefined();
  });

  test("ES256 tokens from the JWKS still work alongside the secret", async () => {
    expect((await me(lctx, await mint(legacy))).status).toBe(200);
  });
});

describe("logs", () => {
  test("no log line of any app here holds a token or a password", () => {
    const lines = [...ctx.logs, ...rctx.logs, ...lctx.logs];
    expect(lines.length).toBeGreaterThan(20);
    expect(secrets.size).toBeGreaterThan(20);
    const leaks = lines.filter((line) => [...secrets].some((s) => line.includes(s)));
    expect(leaks).toEqual([]);
  });
});
