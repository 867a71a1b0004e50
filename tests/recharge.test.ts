// Recharge (issue 19 §5): ADMIN grants, redeem codes (single use under concurrency, brute force
// throttled), payment intents and the HMAC-signed payment webhook (replays, forgeries and stale
// timestamps credit nothing). Balances are read straight from compute_accounts.
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { createTestContext } from "./support/context.ts";

const SECRET = "whsec_test_0123456789abcdef0123456789abcdef";
const ctx = await createTestContext({ PAYMENT_WEBHOOK_SECRET: SECRET, COMPUTE_POINTS_PER_USD: "100" });
// The same API without the webhook's secret.
const bare = await createTestContext();

type Who = Awaited<ReturnType<typeof ctx.register>>;

async function makeAdmin() {
  const admin = await ctx.register("admin");
  await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
  return admin;
}
const admin = await makeAdmin();

/** The user's own account as stored: numeric columns read as strings. */
async function account(userId: string) {
  const row = await ctx.db
    .selectFrom("compute_accounts")
    .select(["balance", "reserved", "gifted", "recharged"])
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return row ?? { balance: "0", reserved: "0", gifted: "0", recharged: "0" };
}
const balanceOf = async (userId: string) => Number((await account(userId)).balance);

async function ledger(userId: string) {
  return ctx.db
    .selectFrom("compute_ledger")
    .innerJoin("compute_accounts", "compute_accounts.id", "compute_ledger.account_id")
    .select([
      "compute_ledger.kind",
      "compute_ledger.ref",
      "compute_ledger.points",
      "compute_ledger.reason",
      "compute_ledger.actor_id",
      "compute_ledger.balance_after",
    ])
    .where("compute_accounts.user_id", "=", userId)
    .orderBy("compute_ledger.id")
    .execute();
}

const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();

async function makeCodes(count: number, points: number) {
  const res = await ctx.call("POST", "/api/v1/admin/redeem-codes", {
    token: admin.token,
    body: { count, points, expires_at: inDays(30), note: "test batch" },
  });
  expect(res.status).toBe(201);
  return res.json.data as {
    batch_id: string;
    codes: Array<{ id: string; code: string }>;
    points: number;
    expires_at: string;
  };
}

const redeem = (who: Who, code: string) => ctx.call("POST", "/api/v1/me/redeem", { token: who.token, body: { code } });

const fieldPaths = (res: { json: { error: { details: { fields?: Array<{ path: string }> } } } }) =>
  (res.json.error.details.fields ?? []).map((f) => f.path);

describe("POST /api/v1/admin/users/:id/grant", () => {
  test("an ADMIN's grant credits the user's account, with the ADMIN as actor and the reason in the ledger", async () => {
    const u = await ctx.register("granted");
    const before = await balanceOf(u.user.id);
    const res = await ctx.call("POST", `/api/v1/admin/users/${u.user.id}/grant`, {
      token: admin.token,
      body: { points: 750, reason: "beta tester thanks" },
    });
    expect(res.status).toBe(200);
    expect(res.json.success).toBe(true);
    expect(res.json.data).toMatchObject({ user_id: u.user.id, points: 750, balance: before + 750, reserved: 0 });
    expect(res.json.data.ref).toMatch(/^admin-grant:[0-9a-f-]{36}$/);
    expect(await balanceOf(u.user.id)).toBe(before + 750);
    expect((await account(u.user.id)).gifted).toBe("750.0000");
    const entries = await ledger(u.user.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      kind: "grant",
      ref: res.json.data.ref,
      points: "750.0000",
      reason: "beta tester thanks",
      actor_id: admin.user.id,
    });

    // Each request is its own grant (a fresh ref)…
    const again = await ctx.call("POST", `/api/v1/admin/users/${u.user.id}/grant`, {
      token: admin.token,
      body: { points: 250, reason: "second" },
    });
    expect(again.json.data.balance).toBe(before + 1000);
    expect(again.json.data.ref).not.toBe(res.json.data.ref);
  });

  test("an Idempotency-Key makes a retried grant answer the first result without granting again", async () => {
    const u = await ctx.register("idem");
    const send = (body: object) =>
      ctx.call("POST", `/api/v1/admin/users/${u.user.id}/grant`, {
        token: admin.token,
        body,
        headers: { "idempotency-key": "grant-once-1" },
      });
    const first = await send({ points: 100, reason: "once" });
    const second = await send({ points: 100, reason: "once" });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.json).toEqual(first.json);
    expect(await balanceOf(u.user.id)).toBe(100);
    const other = await send({ points: 999, reason: "another body" });
    expect(other.status).toBe(409);
    expect(await balanceOf(u.user.id)).toBe(100);
  });

  test("a non-ADMIN is refused (403) and nothing is credited; an unknown user is 404", async () => {
    const plain = await ctx.register("plain");
    const target = await ctx.register("target");
    const res = await ctx.call("POST", `/api/v1/admin/users/${target.user.id}/grant`, {
      token: plain.token,
      body: { points: 100, reason: "self-dealing" },
    });
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ success: false, data: null, error: { code: "FORBIDDEN" } });
    expect(await ledger(target.user.id)).toEqual([]);
    const missing = await ctx.call("POST", `/api/v1/admin/users/${crypto.randomUUID()}/grant`, {
      token: admin.token,
      body: { points: 100, reason: "nobody" },
    });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("NOT_FOUND");
    const anonymous = await ctx.call("POST", `/api/v1/admin/users/${target.user.id}/grant`, {
      body: { points: 100, reason: "no token" },
    });
    expect(anonymous.status).toBe(401);
    expect(await ledger(target.user.id)).toEqual([]);
  });

  test("bad bodies and ids are 400 naming the field", async () => {
    const u = await ctx.register("badgrant");
    const grant = (body: unknown, id = u.user.id) =>
      ctx.call("POST", `/api/v1/admin/users/${id}/grant`, { token: admin.token, body });
    for (const [body, path] of [
      [{ points: 1.5, reason: "x" }, "/points"],
      [{ points: 0, reason: "x" }, "/points"],
      [{ points: -5, reason: "x" }, "/points"],
      [{ points: 10_000_001, reason: "x" }, "/points"],
      [{ points: 1e300, reason: "x" }, "/points"],
      [{ points: "1.5", reason: "x" }, "/points"],
      [{ points: 100 }, "/reason"],
      [{ points: 100, reason: "" }, "/reason"],
    ] as const) {
      const res = await grant(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
      expect(fieldPaths(res), JSON.stringify(body)).toContain(path);
    }
    const badId = await grant({ points: 1, reason: "x" }, "not-a-uuid");
    expect(badId.status).toBe(400);
    expect(fieldPaths(badId)).toContain("/id");
    const huge = await ctx.call("POST", `/api/v1/admin/users/${u.user.id}/grant`, {
      token: admin.token,
      raw: '{"points": 1e309, "reason": "x"}',
      headers: { "content-type": "application/json" },
    });
    expect(huge.status).toBe(400);
    expect(await ledger(u.user.id)).toEqual([]);
  });
});

describe("redeem codes", () => {
  test("an ADMIN makes codes, shown once and stored hashed; redeeming one credits it once", async () => {
    const batch = await makeCodes(3, 400);
    expect(batch.codes).toHaveLength(3);
    for (const c of batch.codes) expect(c.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$/);
    expect(new Set(batch.codes.map((c) => c.code)).size).toBe(3);
    const stored = await ctx.db
      .selectFrom("redeem_codes")
      .selectAll()
      .where("batch_id", "=", batch.batch_id)
      .orderBy("id")
      .execute();
    expect(stored).toHaveLength(3);
    const clear = batch.codes.map((c) => c.code.replaceAll("-", ""));
    for (const row of stored) {
      expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(clear.some((c) => JSON.stringify(row).includes(c))).toBe(false);
      expect(row).toMatchObject({ points: 400, note: "test batch", created_by: admin.user.id, redeemed_at: null });
    }

    const u = await ctx.register("redeemer");
    const before = await balanceOf(u.user.id);
    const code = batch.codes[0]!;
    // Case and dashes do not matter.
    const res = await redeem(u, code.code.toLowerCase().replaceAll("-", " "));
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ code_id: code.id, points: 400, balance: before + 400 });
    expect(await balanceOf(u.user.id)).toBe(before + 400);
    expect(await ledger(u.user.id)).toEqual([
      expect.objectContaining({ kind: "grant", ref: `code:${code.id}`, points: "400.0000" }),
    ]);
    const row = await ctx.db
      .selectFrom("redeem_codes")
      .select(["redeemed_by", "redeemed_at"])
      .where("id", "=", code.id)
      .executeTakeFirstOrThrow();
    expect(row.redeemed_by).toBe(u.user.id);
    expect(row.redeemed_at).toBeInstanceOf(Date);

    // Again by the same user: 409, says so; by someone else: 404, like an unknown code.
    const twice = await redeem(u, code.code);
    expect(twice.status).toBe(409);
    expect(twice.json.message).toContain("already redeemed");
    const other = await ctx.register("latecomer");
    const taken = await redeem(other, code.code);
    const unknown = await redeem(other, "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ");
    expect(taken.status).toBe(404);
    expect(taken.json).toEqual(unknown.json);
    expect(await balanceOf(u.user.id)).toBe(before + 400);
    expect(await balanceOf(other.user.id)).toBe(0);
  });

  test("an expired code is refused and credits nothing", async () => {
    const batch = await makeCodes(1, 300);
    const code = batch.codes[0]!;
    await ctx.db
      .updateTable("redeem_codes")
      .set({ expires_at: new Date(Date.now() - 60_000) })
      .where("id", "=", code.id)
      .execute();
    const u = await ctx.register("tooLate");
    const res = await redeem(u, code.code);
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe("CONFLICT");
    expect(res.json.message).toContain("expired");
    expect(await ledger(u.user.id)).toEqual([]);
    const row = await ctx.db
      .selectFrom("redeem_codes")
      .select("redeemed_at")
      .where("id", "=", code.id)
      .executeTakeFirstOrThrow();
    expect(row.redeemed_at).toBeNull();
  });

  test("10 users redeeming one code at once: exactly one is credited", async () => {
    const batch = await makeCodes(1, 1000);
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => ctx.register(`race${i}`)));
    const answers = await Promise.all(users.map((u) => redeem(u, batch.codes[0]!.code)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 404)).toHaveLength(9);
    const balances = await Promise.all(users.map((u) => balanceOf(u.user.id)));
    expect(balances.filter((b) => b === 1000)).toHaveLength(1);
    expect(balances.filter((b) => b === 0)).toHaveLength(9);
    const entries = await ctx.db
      .selectFrom("compute_ledger")
      .selectAll()
      .where("ref", "=", `code:${batch.codes[0]!.id}`)
      .execute();
    expect(entries).toHaveLength(1);
  });

  test("brute force: after 10 failed attempts the next is 429 with Retry-After, even with a valid code", async () => {
    const u = await ctx.register("guesser");
    const guesses = Array.from({ length: 10 }, (_, i) => `AAAA-BBBB-CCCC-DDDD-${String(i).padStart(4, "0")}`);
    // Concurrent guesses are counted one at a time: none of them slips past the limit.
    const tries = await Promise.all(guesses.map((g) => redeem(u, g)));
    expect(tries.map((t) => t.status)).toEqual(Array(10).fill(404));
    const batch = await makeCodes(1, 500);
    const limited = await redeem(u, batch.codes[0]!.code);
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ success: false, data: null, error: { code: "RATE_LIMITED" } });
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(600);
    expect(limited.json.error.details.retry_after_s).toBe(retryAfter);
    expect(await balanceOf(u.user.id)).toBe(0);
    // Malformed input is a failed guess too, and refused the same way.
    expect((await redeem(u, "nonsense")).status).toBe(429);
    // Someone else is not throttled by it, and the code is still good.
    const other = await ctx.register("honest");
    expect((await redeem(other, batch.codes[0]!.code)).status).toBe(200);
    // Once the failures are older than the window, the user may try again.
    await ctx.db
      .updateTable("redeem_failures")
      .set({ at: new Date(Date.now() - 11 * 60_000) })
      .where("user_id", "=", u.user.id)
      .execute();
    expect((await redeem(u, "AAAA-BBBB-CCCC-DDDD-EEEE")).status).toBe(404);
  });

  test("only an ADMIN makes codes; bad bodies are 400 naming the field", async () => {
    const plain = await ctx.register("codeless");
    const refused = await ctx.call("POST", "/api/v1/admin/redeem-codes", {
      token: plain.token,
      body: { count: 1, points: 10, expires_at: inDays(1) },
    });
    expect(refused.status).toBe(403);
    const create = (body: unknown) => ctx.call("POST", "/api/v1/admin/redeem-codes", { token: admin.token, body });
    for (const [body, path] of [
      [{ count: 0, points: 10, expires_at: inDays(1) }, "/count"],
      [{ count: 1001, points: 10, expires_at: inDays(1) }, "/count"],
      [{ count: 1, points: 0.5, expires_at: inDays(1) }, "/points"],
      [{ count: 1, points: 20_000_000, expires_at: inDays(1) }, "/points"],
      [{ count: 1, points: 10, expires_at: "tomorrow" }, "/expires_at"],
      [{ count: 1, points: 10, expires_at: inDays(-1) }, "/expires_at"],
      [{ count: 1, points: 10, expires_at: inDays(365 * 20) }, "/expires_at"],
      [{ count: 1, points: 10 }, "/expires_at"],
    ] as const) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(fieldPaths(res), JSON.stringify(body)).toContain(path);
    }
    const u = await ctx.register("emptycode");
    const empty = await redeem(u, "");
    expect(empty.status).toBe(400);
    expect(fieldPaths(empty)).toContain("/code");
    const missing = await ctx.call("POST", "/api/v1/me/redeem", { token: u.token, body: {} });
    expect(fieldPaths(missing)).toContain("/code");
    expect((await ctx.call("POST", "/api/v1/me/redeem", { body: { code: "x" } })).status).toBe(401);
  });
});

// ---- Payments ----

function signed(body: object | string, opts: { secret?: string; t?: number } = {}) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const t = opts.t ?? Math.floor(Date.now() / 1000);
  const v1 = createHmac("sha256", opts.secret ?? SECRET)
    .update(`${t}.${raw}`)
    .digest("hex");
  return { raw, headers: { "content-type": "application/json", "x-inkreel-signature": `t=${t},v1=${v1}` } };
}
const deliver = (d: { raw: string; headers: Record<string, string> }) =>
  ctx.call("POST", "/api/v1/webhooks/payments", { raw: d.raw, headers: d.headers });

async function startRecharge(who: Who, body: object = { points: 1200 }) {
  const res = await ctx.call("POST", "/api/v1/user/recharge", { token: who.token, body });
  expect(res.status).toBe(201);
  return res.json.data as { id: string; status: string; points: number; amount_usd: number };
}

describe("recharge intents and the payment webhook", () => {
  test("an intent, then a signed 'succeeded' webhook: credited once; the replay is 409 and changes nothing", async () => {
    const u = await ctx.register("payer");
    const intent = await startRecharge(u, { points: 1200, provider: "stripe" });
    expect(intent).toMatchObject({
      status: "pending",
      points: 1200,
      amount_usd: 12,
      currency: "USD",
      provider: "stripe",
    });
    const shown = await ctx.call("GET", `/api/v1/user/recharge/${intent.id}`, { token: u.token });
    expect(shown.status).toBe(200);
    expect(shown.json.data).toEqual(intent);
    expect(await balanceOf(u.user.id)).toBe(0);

    const body = { intent_id: intent.id, status: "succeeded", provider_payment_id: `pi_${crypto.randomUUID()}` };
    const d = signed(body);
    const res = await deliver(d);
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ received: true, intent_id: intent.id, status: "succeeded", credited_points: 1200 });
    expect(await balanceOf(u.user.id)).toBe(1200);
    expect((await account(u.user.id)).recharged).toBe("1200.0000");
    expect(await ledger(u.user.id)).toEqual([
      expect.objectContaining({ kind: "recharge", ref: `payment:${intent.id}`, points: "1200.0000" }),
    ]);
    const after = await ctx.call("GET", `/api/v1/user/recharge/${intent.id}`, { token: u.token });
    expect(after.json.data).toMatchObject({ status: "succeeded", provider_payment_id: body.provider_payment_id });
    expect(after.json.data.completed_at).toBeTruthy();

    // The same delivery again, and a fresh signature over the same body: 409, nothing more.
    const replay = await deliver(d);
    expect(replay.status).toBe(409);
    expect(replay.json.error.code).toBe("CONFLICT");
    expect((await deliver(signed(body))).status).toBe(409);
    expect((await deliver(signed({ ...body, provider_payment_id: "pi_other" }))).status).toBe(409);
    expect(await balanceOf(u.user.id)).toBe(1200);
    expect(await ledger(u.user.id)).toHaveLength(1);
  });

  test("a provider payment id already reported for another intent is 409 and credits nothing", async () => {
    const u = await ctx.register("double");
    const first = await startRecharge(u, { points: 100 });
    const second = await startRecharge(u, { points: 100 });
    const pid = `pi_${crypto.randomUUID()}`;
    expect((await deliver(signed({ intent_id: first.id, status: "succeeded", provider_payment_id: pid }))).status).toBe(
      200,
    );
    const reused = await deliver(signed({ intent_id: second.id, status: "succeeded", provider_payment_id: pid }));
    expect(reused.status).toBe(409);
    expect(await balanceOf(u.user.id)).toBe(100);
    const row = await ctx.db
      .selectFrom("payment_intents")
      .select("status")
      .where("id", "=", second.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe("pending");
  });

  test("a 'failed' payment marks the intent failed and credits nothing", async () => {
    const u = await ctx.register("declined");
    const intent = await startRecharge(u, { amount_usd: 7.5 });
    expect(intent).toMatchObject({ points: 750, amount_usd: 7.5 });
    const res = await deliver(signed({ intent_id: intent.id, status: "failed", provider_payment_id: "pi_declined1" }));
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ status: "failed", credited_points: 0 });
    expect(await balanceOf(u.user.id)).toBe(0);
    // A later "succeeded" for a failed intent is refused.
    const late = await deliver(signed({ intent_id: intent.id, status: "succeeded", provider_payment_id: "pi_late1" }));
    expect(late.status).toBe(409);
    expect(await balanceOf(u.user.id)).toBe(0);
  });

  test("a forged signature, a stale or future timestamp, a missing or malformed header: refused, nothing credited", async () => {
    const u = await ctx.register("victim");
    const intent = await startRecharge(u);
    const body = { intent_id: intent.id, status: "succeeded", provider_payment_id: `pi_${crypto.randomUUID()}` };
    const now = Math.floor(Date.now() / 1000);

    const forged = await deliver(signed(body, { secret: "not-the-secret" }));
    expect(forged.status).toBe(401);
    expect(forged.json).toMatchObject({ success: false, data: null, error: { code: "UNAUTHORIZED" } });
    // A valid signature over other bytes (the body changed in transit).
    const good = signed(body);
    const tampered = await deliver({ raw: good.raw.replace("succeeded", "succeeded "), headers: good.headers });
    expect(tampered.status).toBe(401);
    const stale = await deliver(signed(body, { t: now - 301 }));
    expect(stale.status).toBe(401);
    expect(stale.json.message).toContain("timestamp");
    expect((await deliver(signed(body, { t: now + 600 }))).status).toBe(401);
    expect(
      (await deliver({ raw: good.raw, headers: { ...good.headers, "x-inkreel-signature": "garbage" } })).status,
    ).toBe(401);
    const missing = await ctx.call("POST", "/api/v1/webhooks/payments", {
      raw: good.raw,
      headers: { "content-type": "application/json" },
    });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe("VALIDATION_ERROR");

    expect(await balanceOf(u.user.id)).toBe(0);
    const row = await ctx.db
      .selectFrom("payment_intents")
      .select("status")
      .where("id", "=", intent.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe("pending");
    // Still payable by the real provider.
    expect((await deliver(signed(body))).status).toBe(200);
    expect(await balanceOf(u.user.id)).toBe(1200);
  });

  test("signed but bad webhook bodies are 400 naming the field; an unknown intent is 404", async () => {
    const bad = await deliver(signed({ intent_id: "nope", status: "paid", provider_payment_id: "" }));
    expect(bad.status).toBe(400);
    expect(fieldPaths(bad)).toEqual(expect.arrayContaining(["/intent_id", "/status", "/provider_payment_id"]));
    expect((await deliver(signed("{not json"))).status).toBe(400);
    const unknown = await deliver(
      signed({ intent_id: crypto.randomUUID(), status: "succeeded", provider_payment_id: "pi_ghost" }),
    );
    expect(unknown.status).toBe(404);
  });

  test("another user's intent is 404, exactly like a made-up id", async () => {
    const owner = await ctx.register("owner");
    const snoop = await ctx.register("snoop");
    const intent = await startRecharge(owner);
    const theirs = await ctx.call("GET", `/api/v1/user/recharge/${intent.id}`, { token: snoop.token });
    const madeUp = await ctx.call("GET", `/api/v1/user/recharge/${crypto.randomUUID()}`, { token: snoop.token });
    expect(theirs.status).toBe(404);
    expect(theirs.json).toEqual(madeUp.json);
    const badId = await ctx.call("GET", "/api/v1/user/recharge/not-a-uuid", { token: snoop.token });
    expect(badId.status).toBe(400);
    expect(fieldPaths(badId)).toContain("/id");
    expect((await ctx.call("GET", `/api/v1/user/recharge/${intent.id}`)).status).toBe(401);
  });

  test("bad recharge bodies are 400 naming the field", async () => {
    const u = await ctx.register("badrecharge");
    const start = (body: unknown) => ctx.call("POST", "/api/v1/user/recharge", { token: u.token, body });
    for (const [body, path] of [
      [{}, "/points"],
      [{ points: 100, amount_usd: 1 }, "/amount_usd"],
      [{ points: 2.5 }, "/points"],
      [{ points: 0 }, "/points"],
      [{ points: 10_000_001 }, "/points"],
      [{ points: 1e308 }, "/points"],
      [{ amount_usd: 0 }, "/amount_usd"],
      [{ amount_usd: 1.005 }, "/amount_usd"],
      [{ amount_usd: 500_000 }, "/amount_usd"],
      [{ amount_usd: -3 }, "/amount_usd"],
      [{ points: 10, provider: "Not A Provider!" }, "/provider"],
    ] as const) {
      const res = await start(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
      expect(fieldPaths(res), JSON.stringify(body)).toContain(path);
    }
    const rows = await ctx.db.selectFrom("payment_intents").select("id").where("user_id", "=", u.user.id).execute();
    expect(rows).toEqual([]);
  });
});

describe("without PAYMENT_WEBHOOK_SECRET", () => {
  test("the webhook answers 404 and recharge intents still record", async () => {
    const u = await bare.register("unconfigured");
    const res = await bare.call("POST", "/api/v1/user/recharge", { token: u.token, body: { points: 300 } });
    expect(res.status).toBe(201);
    expect(res.json.data).toMatchObject({ status: "pending", points: 300, amount_usd: 3 });
    const d = signed({ intent_id: res.json.data.id, status: "succeeded", provider_payment_id: "pi_nowhere" });
    const hook = await bare.call("POST", "/api/v1/webhooks/payments", { raw: d.raw, headers: d.headers });
    expect(hook.status).toBe(404);
    expect(hook.json).toMatchObject({ success: false, data: null, error: { code: "NOT_FOUND" } });
    const row = await bare.db
      .selectFrom("payment_intents")
      .select("status")
      .where("id", "=", res.json.data.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe("pending");
  });
});

describe("OpenAPI", () => {
  test("every recharge route is documented with typed request and response schemas", async () => {
    const spec = (await ctx.call("GET", "/openapi.json")).json;
    const ops: Array<[string, string]> = [
      ["/api/v1/admin/users/{id}/grant", "post"],
      ["/api/v1/admin/redeem-codes", "post"],
      ["/api/v1/me/redeem", "post"],
      ["/api/v1/user/recharge", "post"],
      ["/api/v1/user/recharge/{id}", "get"],
      ["/api/v1/webhooks/payments", "post"],
    ];
    for (const [path, method] of ops) {
      const op = spec.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.summary).toBeTruthy();
      const success = Object.entries(op.responses).find(([code]) => code.startsWith("2"))![1] as {
        content: Record<string, { schema: { properties?: unknown } }>;
      };
      expect(JSON.stringify(success.content["application/json"]!.schema)).toContain("success");
      if (method === "post") {
        const schema = op.requestBody.content["application/json"].schema;
        expect(Object.keys(schema.properties ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
      }
    }
  });
});
