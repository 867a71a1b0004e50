import { describe, expect, test } from "bun:test";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext({ BODY_LIMIT_BYTES: "4096", CORS_ORIGINS: "http://app.example" });

describe("envelope and errors", () => {
  test("unknown route answers 404 in the failure envelope", async () => {
    const res = await ctx.call("GET", "/api/v1/no-such-thing");
    expect(res.status).toBe(404);
    expect(res.json).toEqual({
      success: false,
      data: null,
      message: "route not found",
      error: { code: "NOT_FOUND", details: {} },
    });
  });

  test("malformed JSON is a 400 VALIDATION_ERROR", async () => {
    const res = await ctx.call("POST", "/api/v1/auth/login", {
      raw: '{"username": "a", ',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(res.json.success).toBe(false);
    expect(res.json.error.code).toBe("VALIDATION_ERROR");
    expect(res.json.message).toBe("request body is not valid JSON");
  });

  test("schema failures list every bad field in details.fields", async () => {
    const res = await ctx.call("POST", "/api/v1/auth/register", { body: { username: 42, email: "not-an-email" } });
    expect(res.status).toBe(400);
    const paths = res.json.error.details.fields.map((f: { path: string }) => f.path).sort();
    expect(paths).toEqual(["/email", "/password", "/username"]);
    for (const f of res.json.error.details.fields) expect(typeof f.message).toBe("string");
  });

  test("a body over the limit is 413, with or without Content-Length", async () => {
    const big = JSON.stringify({ username: "x".repeat(5000), email: "a@b.co", password: "12345678" });
    const withLength = await ctx.call("POST", "/api/v1/auth/register", {
      raw: big,
      headers: { "content-type": "application/json", "content-length": String(big.length) },
    });
    expect(withLength.status).toBe(413);
    expect(withLength.json.error.code).toBe("PAYLOAD_TOO_LARGE");
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const chunked = await ctx.app.handle(
      new Request("http://localhost/api/v1/auth/register", {
        method: "POST",
        body: stream,
        headers: { "content-type": "application/json" },
      }),
    );
    expect(chunked.status).toBe(413);
    expect((await chunked.json()).error.details.limit_bytes).toBe(4096);
  });

  test("every answer carries X-Request-Id; a well-formed incoming one is kept", async () => {
    const fresh = await ctx.call("GET", "/health");
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await ctx.call("GET", "/api/v1/nope", { headers: { "x-request-id": "trace-123" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-123");
    const replaced = await ctx.call("GET", "/health", { headers: { "x-request-id": "bad id with spaces" } });
    expect(replaced.headers.get("x-request-id")).not.toBe("bad id with spaces");
  });

  test("CORS allows a configured origin and not others", async () => {
    const allowed = await ctx.call("OPTIONS", "/api/v1/auth/login", {
      headers: { origin: "http://app.example", "access-control-request-method": "POST" },
    });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://app.example");
    const other = await ctx.call("GET", "/health", { headers: { origin: "http://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("health", () => {
  test("reports database, storage, queue and uptime", async () => {
    const res = await ctx.call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.json.success).toBe(true);
    expect(res.json.data).toMatchObject({
      status: "ok",
      database: "connected",
      storage: "connected",
      queue: { ready: 0, running: 0 },
    });
    expect(res.json.data.uptime_s).toBeGreaterThanOrEqual(0);
  });
});
