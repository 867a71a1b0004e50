import { describe, expect, test } from "bun:test";
import { createApp } from "../src/app.ts";
import { AppError } from "../src/core/errors.ts";
import { createDeps } from "../src/deps.ts";
import { createRateLimiter, reservationCap } from "../src/services/rate-limit.ts";
import { createTestContext } from "./support/context.ts";

// 200 a minute per user: reservations of up to 4 requests.
const LIMIT = 200;
const ctx = await createTestContext({ RATE_LIMIT_USER_PER_MIN: String(LIMIT) });

/**
 * Windows are whole minutes of Postgres's clock (not injectable); start a burst early in one so
 * it cannot straddle two. This waits only in the last fifteen seconds of a minute.
 */
async function awayFromWindowEdge() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 45_000) await Bun.sleep(60_000 - intoMinute + 50);
}

/** Outcomes of `n` concurrent calls of `hit`: how many passed, and the 429s. */
async function burst(n: number, hit: () => Promise<void>) {
  const outcomes = await Promise.all(
    Array.from({ length: n }, () =>
      hit().then(
        () => "passed" as const,
        (e: unknown) => e,
      ),
    ),
  );
  const refused = outcomes.filter((o): o is AppError => o instanceof AppError && o.code === "RATE_LIMITED");
  expect(outcomes.length).toBe(outcomes.filter((o) => o === "passed").length + refused.length);
  return { passed: n - refused.length, refused };
}

describe("rate limits shared by API processes", () => {
  test("two app instances on one database let through at most the limit in a window, together", async () => {
    expect(reservationCap(LIMIT)).toBe(4);
    const second = createApp(await createDeps(ctx.config, ctx.db, ctx.deps.log));
    const reg = await ctx.call("POST", "/api/v1/auth/register", {
      body: { username: "two_apps", email: "two_apps@example.com", password: "correct horse battery" },
    });
    const token = reg.json.data.access_token as string;
    const userId = reg.json.data.user.id as string;
    const me = (app: typeof ctx.app) =>
      app.handle(new Request("http://localhost/api/v1/auth/me", { headers: { authorization: `Bearer ${token}` } }));
    await awayFromWindowEdge();
    const responses = await Promise.all(Array.from({ length: 300 }, (_, i) => me(i % 2 ? second : ctx.app)));
    const statuses = responses.map((r) => r.status);
    const passed = statuses.filter((s) => s === 200).length;
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    // Each instance may lose the unspent rest of its last reservation (4 at most), never more.
    expect(passed).toBeLessThanOrEqual(LIMIT);
    expect(passed).toBeGreaterThanOrEqual(LIMIT - reservationCap(LIMIT));
    for (const r of responses.filter((x) => x.status === 429)) {
      const retryAfter = Number(r.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Both instances now refuse, and the count is in Postgres, where every instance sees it.
    expect((await me(ctx.app)).status).toBe(429);
    expect((await me(second)).status).toBe(429);
    const row = await ctx.db
      .selectFrom("rate_limits")
      .select("count")
      .where("key", "=", `user:${userId}`)
      .orderBy("window_start", "desc")
      .executeTakeFirstOrThrow();
    expect(row.count).toBeGreaterThanOrEqual(LIMIT);
  });

  test("one process spends every request it reserved: exactly the limit passes", async () => {
    const limiter = createRateLimiter(ctx.db);
    await awayFromWindowEdge();
    const { passed, refused } = await burst(400, () => limiter.hit("test:one-process", 300));
    expect(passed).toBe(300);
    expect(refused.length).toBe(100);
    const retryAfter = refused[0]!.details as { retry_after_s: number; limit: number };
    expect(retryAfter.limit).toBe(300);
    expect(retryAfter.retry_after_s).toBeGreaterThanOrEqual(1);
    expect(retryAfter.retry_after_s).toBeLessThanOrEqual(60);
  });

  test("three processes hammering one key: at most the limit, at least the limit less two reservations", async () => {
    const limit = 1000;
    const limiters = [createRateLimiter(ctx.db), createRateLimiter(ctx.db), createRateLimiter(ctx.db)];
    await awayFromWindowEdge();
    let i = 0;
    const { passed } = await burst(1500, () => limiters[i++ % 3]!.hit("test:three-processes", limit));
    expect(passed).toBeLessThanOrEqual(limit);
    expect(passed).toBeGreaterThanOrEqual(limit - 2 * reservationCap(limit));
  });

  test("keys are counted apart", async () => {
    const limiter = createRateLimiter(ctx.db);
    await awayFromWindowEdge();
    const a = await burst(8, () => limiter.hit("test:key-a", 5));
    const b = await burst(3, () => limiter.hit("test:key-b", 5));
    expect([a.passed, b.passed]).toEqual([5, 3]);
  });
});
