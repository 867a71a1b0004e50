// fal.ai webhooks: the signed route (POST /api/v1/webhooks/fal) against a local JWKS server, the
// verifier's key cache, the LISTEN-based wake-ups, and the fal provider woken by a delivery
// instead of polling (through the real @fal-ai/client against tests/support/fake-fal.ts).
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createLogger } from "../src/log.ts";
import { createFalImage } from "../src/providers/fal/index.ts";
import { pgRequestStore } from "../src/providers/fal/pg-store.ts";
import { createFalWebhookVerifier, type FalWebhookError } from "../src/providers/fal/webhook.ts";
import { createFalWakeups } from "../src/providers/fal/webhook-waiter.ts";
import { createTestContext } from "./support/context.ts";
import { startFakeFal } from "./support/fake-fal.ts";
import { delivery, falSigningKey, type SignedDelivery, sign, startJwksServer } from "./support/fal-webhook-signer.ts";
import { rejection } from "./support/rejection.ts";

const PATH = "/api/v1/webhooks/fal";
const k1 = falSigningKey("k1");
const k2 = falSigningKey("k2");
const stranger = falSigningKey("stranger");

const jwks = startJwksServer([k1, k2]);
afterAll(() => jwks.stop());
const ctx = await createTestContext({ FAL_JWKS_URL: jwks.url, PUBLIC_URL: "https://inkreel.example" });
const wakeups = createFalWakeups({ connectionString: ctx.url, log: createLogger("warn", {}, () => {}) });
// Registered after the context: bun runs afterAll last-registered first, so this closes before the drop.
afterAll(() => wakeups.stop());
await wakeups.ready;

const post = (d: SignedDelivery) => ctx.call("POST", PATH, { raw: d.body, headers: d.headers });
const rows = (requestId: string) =>
  ctx.db.selectFrom("fal_webhooks").selectAll().where("request_id", "=", requestId).execute();
// Request ids Inkreel submitted and waits for (deliveries about other requests are dropped).
const submitted = Array.from({ length: 100 }, () => crypto.randomUUID());
await ctx.db
  .insertInto("provider_requests")
  .values(submitted.map((id) => ({ key: `k-${id}`, endpoint_id: "fal-ai/flux/dev", request_id: id })))
  .execute();
const rid = () => submitted.pop()!;
const now = () => Math.floor(Date.now() / 1000);

describe("POST /api/v1/webhooks/fal", () => {
  test("a valid delivery: 200, recorded, and the waiting request is woken through NOTIFY", async () => {
    const id = rid();
    const started = performance.now();
    const woken = wakeups.wait(id, 20_000);
    const res = await post(delivery(k1, id));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true, data: { received: true }, message: "ok" });
    await woken;
    expect(performance.now() - started).toBeLessThan(5_000);
    const [row, ...more] = await rows(id);
    expect(more).toHaveLength(0);
    expect(row).toMatchObject({ request_id: id, status: "OK" });
    expect(row!.signature).toMatch(/^[0-9a-f]{128}$/);
  });

  test("a delivery about a request Inkreel is not waiting for (another fal customer's): 200, nothing stored, nobody woken", async () => {
    const foreign = crypto.randomUUID();
    const sentinel = rid();
    const stop = new AbortController();
    let woken = false;
    const waiting = wakeups.wait(foreign, 20_000, stop.signal).then(
      () => {
        woken = true;
      },
      () => {},
    );
    const res = await post(delivery(k1, foreign));
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ received: false });
    expect(await rows(foreign)).toEqual([]);
    // Notifications arrive in commit order: once the sentinel's wakes its wait, one about the
    // foreign request would have been heard — none was sent.
    const heard = wakeups.wait(sentinel, 20_000);
    expect((await post(delivery(k1, sentinel))).status).toBe(200);
    await heard;
    expect(woken).toBe(false);
    stop.abort();
    await waiting;
  });

  test("fal's ERROR deliveries are recorded with their status", async () => {
    const id = rid();
    expect((await post(delivery(k1, id, { status: "ERROR" }))).status).toBe(200);
    expect((await rows(id))[0]?.status).toBe("ERROR");
  });

  test("a key that is not fal's: 401, nothing recorded", async () => {
    const id = rid();
    const res = await post(delivery(stranger, id));
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ success: false, data: null, error: { code: "UNAUTHORIZED" } });
    expect(await rows(id)).toHaveLength(0);
  });

  test("a tampered body (the signature covers its exact bytes): 401", async () => {
    const id = rid();
    const d = delivery(k1, id);
    expect((await post({ ...d, body: d.body.replace('"OK"', '"ERROR"') })).status).toBe(401);
    // Same JSON, other bytes: a re-serialisation would not verify either.
    expect((await post({ ...d, body: JSON.stringify(JSON.parse(d.body)) })).status).toBe(401);
    // Headers signed for another request id.
    expect((await post({ body: d.body, headers: { ...d.headers, "x-fal-webhook-request-id": rid() } })).status).toBe(
      401,
    );
    expect(await rows(id)).toHaveLength(0);
  });

  test("a timestamp more than 300 s away, either way: 401; within the window: 200", async () => {
    for (const skew of [-301, 301, -3600]) {
      const id = rid();
      const res = await post(delivery(k1, id, { timestamp: now() + skew }));
      expect(res.status, `skew ${skew}`).toBe(401);
      expect(res.json.error.code).toBe("UNAUTHORIZED");
      expect(res.json.message).toContain("timestamp");
      expect(await rows(id)).toHaveLength(0);
    }
    expect((await post(delivery(k1, rid(), { timestamp: now() - 290 }))).status).toBe(200);
    expect((await post(delivery(k1, rid(), { timestamp: now() + 290 }))).status).toBe(200);
  });

  test("a replay of the same signed delivery: 409 CONFLICT and one row", async () => {
    const id = rid();
    const d = delivery(k1, id);
    expect((await post(d)).status).toBe(200);
    const again = await post(d);
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ success: false, error: { code: "CONFLICT" } });
    // The same signature spelt in upper case is the same signature.
    const upper = await post({
      ...d,
      headers: { ...d.headers, "x-fal-webhook-signature": d.headers["x-fal-webhook-signature"]!.toUpperCase() },
    });
    expect(upper.status).toBe(409);
    expect(await rows(id)).toHaveLength(1);
  });

  test("a missing (or malformed) header: 400 VALIDATION_ERROR", async () => {
    const d = delivery(k1, rid());
    for (const name of [
      "x-fal-webhook-request-id",
      "x-fal-webhook-user-id",
      "x-fal-webhook-timestamp",
      "x-fal-webhook-signature",
    ]) {
      const headers = { ...d.headers };
      delete headers[name];
      const res = await post({ body: d.body, headers });
      expect(res.status, name).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
    const res = await post({ body: d.body, headers: { ...d.headers, "x-fal-webhook-timestamp": "yesterday" } });
    expect(res.status).toBe(400);
    // No headers at all, and no body: still our envelope.
    const bare = await ctx.call("POST", PATH, { body: {} });
    expect(bare.status).toBe(400);
    expect(bare.json).toMatchObject({ success: false, data: null, error: { code: "VALIDATION_ERROR" } });
  });

  test("key rotation: a signature by the second key of the set verifies", async () => {
    const id = rid();
    expect((await post(delivery(k2, id))).status).toBe(200);
    expect(await rows(id)).toHaveLength(1);
  });

  test("rejections are logged with their reason, never with the signature", async () => {
    const d = delivery(stranger, rid());
    await post(d);
    const lines = ctx.logs.filter((l) => l.includes("fal webhook rejected"));
    expect(lines.some((l) => l.includes('"reason":"bad_signature"'))).toBe(true);
    expect(lines.some((l) => l.includes('"reason":"stale"'))).toBe(true);
    expect(lines.some((l) => l.includes('"reason":"replay"'))).toBe(true);
    expect(ctx.logs.some((l) => l.includes(d.headers["x-fal-webhook-signature"]!))).toBe(false);
  });

  test("fal's key server down (and no cached keys): 502 AI_SERVICE_ERROR with Retry-After; back up: 200", async () => {
    const down = startJwksServer([k1]);
    down.state.down = true;
    const other = await createTestContext({ FAL_JWKS_URL: down.url });
    afterAll(() => down.stop());
    const d = delivery(k1, rid());
    const res = await other.call("POST", PATH, { raw: d.body, headers: d.headers });
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({ success: false, data: null, error: { code: "AI_SERVICE_ERROR" } });
    expect(res.headers.get("retry-after")).toBe("60");
    expect(other.logs.some((l) => l.includes('"reason":"keys_unavailable"'))).toBe(true);
    // No negative caching: the next delivery fetches the keys again.
    down.state.down = false;
    expect((await other.call("POST", PATH, { raw: d.body, headers: d.headers })).status).toBe(200);
  });
});

describe("orphaned submissions (submit_intents): adoption by the nonce in our webhook URL", () => {
  /** A submission intent as a worker writes it before sending (queue.ts), its request id not stored yet. */
  async function intent(state: "pending" | "abandoned" = "pending") {
    const nonce = crypto.randomUUID();
    const key = `k-${nonce}`;
    await ctx.db
      .insertInto("submit_intents")
      .values({
        nonce,
        key,
        provider: "fal",
        endpoint_id: "fal-ai/flux/dev",
        job_id: crypto.randomUUID(),
        attempt: 1,
        state,
      })
      .execute();
    return { nonce, key };
  }
  const intentRow = (nonce: string) =>
    ctx.db.selectFrom("submit_intents").selectAll().where("nonce", "=", nonce).executeTakeFirstOrThrow();
  const postTo = (query: string, d: SignedDelivery) =>
    ctx.call("POST", `${PATH}?${query}`, { raw: d.body, headers: d.headers });

  test("a delivery for a request id we never stored, with the nonce of a pending intent: adopted, recorded, and the waiter on the nonce woken", async () => {
    const { nonce, key } = await intent();
    const id = crypto.randomUUID();
    const woken = wakeups.wait(nonce, 20_000);
    const d = delivery(k1, id);
    const res = await postTo(`nonce=${nonce}`, d);
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ received: true });
    await woken;
    expect(await intentRow(nonce)).toMatchObject({ request_id: id, state: "submitted", adopted_by: "webhook" });
    expect(
      await ctx.db.selectFrom("provider_requests").select(["key", "request_id"]).where("key", "=", key).execute(),
    ).toEqual([{ key, request_id: id }]);
    expect(await rows(id)).toHaveLength(1);
    expect(ctx.logs.some((l) => l.includes("adopted a submission whose request id its worker never stored"))).toBe(
      true,
    );
    // Its replay is a replay (the request is ours now).
    expect((await postTo(`nonce=${nonce}`, d)).status).toBe(409);
  });

  test("an intent that already has its request id is not adopted again by another request's delivery", async () => {
    const { nonce } = await intent();
    const first = crypto.randomUUID();
    expect((await postTo(`nonce=${nonce}`, delivery(k1, first))).json.data).toEqual({ received: true });
    const other = crypto.randomUUID();
    expect((await postTo(`nonce=${nonce}`, delivery(k1, other))).json.data).toEqual({ received: false });
    expect((await intentRow(nonce)).request_id).toBe(first);
    expect(await rows(other)).toEqual([]);
  });

  test("an abandoned intent (the job submitted again) only records the id: nothing is resumed", async () => {
    const { nonce, key } = await intent("abandoned");
    const id = crypto.randomUUID();
    expect((await postTo(`nonce=${nonce}`, delivery(k1, id))).json.data).toEqual({ received: true });
    expect(await intentRow(nonce)).toMatchObject({ request_id: id, state: "abandoned", adopted_by: "webhook" });
    expect(await ctx.db.selectFrom("provider_requests").selectAll().where("key", "=", key).execute()).toEqual([]);
  });

  test("an unknown or malformed nonce adopts nothing: 200 received false, nothing stored", async () => {
    for (const query of [`nonce=${crypto.randomUUID()}`, "nonce=x'%3B--", "nonce="]) {
      const id = crypto.randomUUID();
      const res = await postTo(query, delivery(k1, id));
      expect(res.status, query).toBe(200);
      expect(res.json.data).toEqual({ received: false });
      expect(await rows(id)).toEqual([]);
    }
  });

  test("a forged delivery with a real nonce adopts nothing (401)", async () => {
    const { nonce } = await intent();
    expect((await postTo(`nonce=${nonce}`, delivery(stranger, crypto.randomUUID()))).status).toBe(401);
    expect((await intentRow(nonce)).request_id).toBeNull();
  });
});

describe("the verifier's key cache", () => {
  /** A JWKS behind an injected fetch, counting fetches; `keys` can change. */
  function keyServer(keys: ReturnType<typeof falSigningKey>[]) {
    const s = { keys, fetches: 0, down: false };
    const fetchFn = (async () => {
      s.fetches++;
      if (s.down) throw new TypeError("fetch failed");
      return Response.json({ keys: [{ kty: "RSA", n: "x", e: "AQAB" }, ...s.keys.map((k) => k.jwk)] });
    }) as unknown as typeof fetch;
    return { s, fetchFn };
  }
  const signed = (key: ReturnType<typeof falSigningKey>, t: number) => {
    const body = new TextEncoder().encode(`{"request_id": "r", "status": "OK"}`);
    return { body, headers: new Headers(sign(key, body, { requestId: "r", timestamp: t })) };
  };

  test("keys are cached; a new key is fetched on its first signature (rotation), but forgeries refetch at most once a minute", async () => {
    let clock = 1_700_000_000_000;
    const { s, fetchFn } = keyServer([k1]);
    const v = createFalWebhookVerifier({ jwksUrl: "https://fal.example/jwks.json", fetch: fetchFn, now: () => clock });
    const t = () => Math.floor(clock / 1000);
    let d = signed(k1, t());
    expect(await v.verify(d.headers, d.body)).toMatchObject({ requestId: "r", userId: "user-42", timestamp: t() });
    d = signed(k1, t());
    await v.verify(d.headers, d.body);
    expect(s.fetches).toBe(1);

    // fal rotates to k2: within a minute of the last fetch, no refetch (a forgery costs nothing).
    s.keys = [k1, k2];
    d = signed(k2, t());
    expect(((await rejection(v.verify(d.headers, d.body))) as FalWebhookError).reason).toBe("bad_signature");
    expect(s.fetches).toBe(1);
    clock += 61_000;
    d = signed(k2, t());
    expect((await v.verify(d.headers, d.body)).requestId).toBe("r");
    expect(s.fetches).toBe(2);
    // Forgeries right after: refused without fetching again.
    for (let i = 0; i < 5; i++) {
      d = signed(stranger, t());
      expect(((await rejection(v.verify(d.headers, d.body))) as FalWebhookError).reason).toBe("bad_signature");
    }
    expect(s.fetches).toBe(2);

    // After 24 h the keys are fetched again; if fal is down then, the old keys still serve.
    clock += 24 * 3600_000 + 1;
    s.down = true;
    d = signed(k1, t());
    expect((await v.verify(d.headers, d.body)).requestId).toBe("r");
    expect(s.fetches).toBe(3);
  });

  test("stale is decided before any key is fetched; an empty or unreachable JWKS is keys_unavailable", async () => {
    const { s, fetchFn } = keyServer([]);
    const v = createFalWebhookVerifier({ jwksUrl: "https://fal.example/jwks.json", fetch: fetchFn });
    let d = signed(k1, Math.floor(Date.now() / 1000) - 1000);
    expect(((await rejection(v.verify(d.headers, d.body))) as FalWebhookError).reason).toBe("stale");
    expect(s.fetches).toBe(0);
    d = signed(k1, Math.floor(Date.now() / 1000));
    expect(((await rejection(v.verify(d.headers, d.body))) as FalWebhookError).reason).toBe("keys_unavailable");
    s.down = true;
    expect(((await rejection(v.verify(d.headers, d.body))) as FalWebhookError).reason).toBe("keys_unavailable");
  });

  test("the JWKS fetch times out", async () => {
    const hanging = ((_url: string, init?: RequestInit) =>
      new Promise((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)),
      )) as unknown as typeof fetch;
    const v = createFalWebhookVerifier({ jwksUrl: "https://fal.example/jwks.json", fetch: hanging, timeoutMs: 100 });
    const d = signed(k1, Math.floor(Date.now() / 1000));
    const started = performance.now();
    expect(((await rejection(v.verify(d.headers, d.body))) as FalWebhookError).reason).toBe("keys_unavailable");
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("wake-ups", () => {
  test("a wait ends by its timeout without a delivery, and rejects on abort", async () => {
    const started = performance.now();
    await wakeups.wait(rid(), 50);
    expect(performance.now() - started).toBeGreaterThanOrEqual(40);
    const ac = new AbortController();
    const waiting = wakeups.wait(rid(), 20_000, ac.signal);
    ac.abort(new Error("stop"));
    expect(((await rejection(waiting)) as Error).message).toBe("stop");
  });

  test("a delivery that lands before the wait starts ends that wait at once (once)", async () => {
    const early = rid();
    const sentinel = rid();
    expect((await post(delivery(k1, early))).status).toBe(200);
    // Notifications arrive in commit order: once the sentinel's wakes its wait, the early one was heard.
    const heard = wakeups.wait(sentinel, 20_000);
    expect((await post(delivery(k1, sentinel))).status).toBe(200);
    await heard;
    let started = performance.now();
    await wakeups.wait(early, 20_000);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Consumed: the next wait for it is a plain timer.
    started = performance.now();
    await wakeups.wait(early, 100);
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  test("deliveries missed while not listening are found in fal_webhooks when the connection comes up", async () => {
    const id = rid();
    expect((await post(delivery(k1, id))).status).toBe(200);
    const late = createFalWakeups({ connectionString: ctx.url, log: createLogger("warn", {}, () => {}) });
    try {
      const started = performance.now();
      await late.wait(id, 20_000);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await late.stop();
    }
  });
});

const fake = await startFakeFal();
afterAll(() => fake.stop());

describe("the fal provider with a webhook", () => {
  beforeEach(() => fake.reset());
  const connection = () => ({
    key: fake.key,
    requestMiddleware: fake.middleware,
    pollIntervalMs: 5,
    retry: { retries: 2, baseDelayMs: 5, maxDelayMs: 2000 },
  });
  const webhookUrl = ctx.config.cloud.fal.webhookUrl!;

  test("submits with ?fal_webhook=<url>, waits instead of polling, and is woken by the delivery", async () => {
    expect(webhookUrl).toBe("https://inkreel.example/api/v1/webhooks/fal");
    fake.script(["IN_QUEUE", "COMPLETED"]);
    // Refs kept in Postgres as in production: the route only wakes requests it finds there.
    let delivered: Promise<{ status: number }> | undefined;
    const model = createFalImage({
      ...connection(),
      webhookUrl,
      // fal finishes the request and calls us back once the provider waits for it (after the first
      // poll): the waiter is registered before the delivery is posted, so the delivery wakes it.
      wait: (id, ms, signal) => {
        const waiting = wakeups.wait(id, ms, signal);
        delivered ??= post(delivery(k1, id));
        return waiting;
      },
      webhookPollMs: 60_000,
      requests: pgRequestStore(ctx.db),
    });
    let requestId = "";
    const started = performance.now();
    const r = await model.generate({
      prompt: "a tea house in the rain",
      width: 1280,
      height: 720,
      onSubmitted: (ref) => {
        requestId = ref.requestId;
      },
    });
    // Far below the 60 s safety poll: the delivery woke the wait.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect((await delivered!).status).toBe(200);
    const [submit] = fake.calls("submit");
    expect(new URLSearchParams(submit!.search).get("fal_webhook")).toBe(webhookUrl);
    expect(fake.calls("status", requestId)).toHaveLength(2);
    expect(r.response.id).toBe(requestId);
    expect(r.data.mimeType).toBe("image/png");
    expect(
      await ctx.db.selectFrom("provider_requests").selectAll().where("request_id", "=", requestId).execute(),
    ).toEqual([]);
  });

  test("without a waiter the webhook is not requested and polling is unchanged", async () => {
    const model = createFalImage({ ...connection(), webhookUrl });
    await model.generate({ prompt: "p", width: 1280, height: 720 });
    const [submit] = fake.calls("submit");
    expect(submit!.search).toBe("");
    expect(fake.calls("status")).toHaveLength(3);
  });

  test("an abort while waiting for the webhook ends the wait (and cancels the request)", async () => {
    fake.script(["IN_QUEUE"]);
    const ac = new AbortController();
    const model = createFalImage({ ...connection(), webhookUrl, wait: wakeups.wait, webhookPollMs: 60_000 });
    const started = performance.now();
    const err = await rejection(
      model.generate({
        prompt: "p",
        width: 1280,
        height: 720,
        signal: ac.signal,
        onStatus: () => setTimeout(() => ac.abort(new Error("user cancelled")), 50),
      }),
    );
    expect((err as Error).message).toBe("user cancelled");
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(fake.calls("cancel")).toHaveLength(1);
  });
});
