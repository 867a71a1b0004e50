import { describe, expect, test } from "bun:test";
import { createApp } from "../src/app.ts";
import { createDeps } from "../src/deps.ts";
import { pruneRateLimits } from "../src/services/rate-limit.ts";
import { createTestContext } from "./support/context.ts";

// The defaults: 10/min per IP on login and register.
const ctx = await createTestContext({ RATE_LIMIT_AUTH_PER_MIN: "10", RATE_LIMIT_USER_PER_MIN: "5" });

const login = (ip: string, app = ctx.app) =>
  app.handle(
    new Request("http://localhost/api/v1/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": ip },
      body: JSON.stringify({ username: "nobody", password: "whatever1" }),
    }),
  );

/**
 * Windows are whole minutes of Postgres's clock (not injectable); start a burst early in one so
 * it cannot straddle two. This waits only in the last ten seconds of a minute.
 */
async function awayFromWindowEdge() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await Bun.sleep(60_000 - intoMinute + 50);
}

describe("rate limits", () => {
  test("the 11th login from one IP in a minute is 429 with Retry-After; other IPs are unaffected", async () => {
    await awayFromWindowEdge();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login("203.0.113.7")).status);
    expect(statuses).toEqual(Array(10).fill(401));
    const limited = await login("203.0.113.7");
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await limited.json();
    expect(body.error.code).toBe("RATE_LIMITED");
    expect(body.error.details.retry_after_s).toBe(retryAfter);
    expect((await login("203.0.113.8")).status).toBe(401);
  });

  test("the limit holds across two API processes sharing Postgres", async () => {
    const second = createApp(await createDeps(ctx.config, ctx.db, ctx.deps.log));
    await awayFromWindowEdge();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await login("198.51.100.1")).status);
    for (let i = 0; i < 4; i++) statuses.push((await login("198.51.100.1", second)).status);
    expect(statuses.every((s) => s === 401)).toBe(true);
    expect((await login("198.51.100.1", second)).status).toBe(429);
    expect((await login("198.51.100.1")).status).toBe(429);
  });

  test("authenticated routes are limited per user", async () => {
    const a = await ctx.call("POST", "/api/v1/auth/register", {
      headers: { "x-forwarded-for": "192.0.2.50" },
      body: { username: "busy_user", email: "busy@example.com", password: "correct horse battery" },
    });
    const token = a.json.data.access_token;
    await awayFromWindowEdge();
    for (let i = 0; i < 5; i++) expect((await ctx.call("GET", "/api/v1/auth/me", { token })).status).toBe(200);
    const limited = await ctx.call("GET", "/api/v1/auth/me", { token });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).not.toBeNull();
    // Health is never limited.
    expect((await ctx.call("GET", "/health")).status).toBe(200);
  });

  test("pruning drops only windows that ended", async () => {
    await ctx.db.insertInto("rate_limits").values({ key: "ip:current", window_start: new Date(), count: 1 }).execute();
    await ctx.db
      .insertInto("rate_limits")
      .values({ key: "ip:old", window_start: new Date(Date.now() - 10 * 60_000), count: 3 })
      .execute();
    await pruneRateLimits(ctx.db);
    const keys = (await ctx.db.selectFrom("rate_limits").select("key").execute()).map((r) => r.key);
    expect(keys).not.toContain("ip:old");
    expect(keys).toContain("ip:current");
  });
});
