import { describe, expect, test } from "bun:test";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();
const spec = (await ctx.call("GET", "/openapi.json")).json;

type Operation = {
  summary?: string;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
  security?: unknown[];
};

const operations = Object.entries(spec.paths as Record<string, Record<string, Operation>>).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method, op })),
);

describe("OpenAPI", () => {
  test("is 3.1 and names the API", () => {
    expect(spec.openapi).toStartWith("3.1");
    expect(spec.info.title).toBe("Inkreel API");
    expect(spec.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
  });

  test("describes every route the app serves", () => {
    const documented = new Set(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`));
    for (const route of [
      "GET /health",
      "POST /api/v1/auth/register",
      "POST /api/v1/auth/login",
      "POST /api/v1/auth/refresh",
      "POST /api/v1/auth/logout",
      "GET /api/v1/auth/me",
      "GET /api/v1/users/{id}",
      "PATCH /api/v1/users/{id}",
      "DELETE /api/v1/users/{id}",
      "GET /api/v1/spaces",
      "POST /api/v1/spaces",
      "GET /api/v1/spaces/current",
      "POST /api/v1/spaces/switch",
      "POST /api/v1/spaces/join",
      "GET /api/v1/spaces/{id}",
      "PATCH /api/v1/spaces/{id}",
      "DELETE /api/v1/spaces/{id}",
      "POST /api/v1/spaces/{id}/invites",
      "GET /api/v1/spaces/{id}/invites",
      "DELETE /api/v1/spaces/{id}/invites/{inviteId}",
      "GET /api/v1/spaces/{id}/members",
      "PATCH /api/v1/spaces/{id}/members/{userId}",
      "DELETE /api/v1/spaces/{id}/members/{userId}",
      "POST /api/v1/spaces/{id}/leave",
    ]) {
      expect(documented).toContain(route);
    }
  });

  test("every operation has a summary and a success response schema; bodies have request schemas", () => {
    for (const { path, method, op } of operations) {
      // Raw payloads: the JWKS document and file downloads (binary, any content type).
      if (path === "/.well-known/jwks.json" || path.startsWith("/files/")) continue;
      expect(op.summary, `${method} ${path}`).toBeTruthy();
      const success = Object.entries(op.responses ?? {}).find(([code]) => code.startsWith("2"));
      // Live events stream as text/event-stream; everything else answers JSON.
      const content = success?.[1].content;
      expect(
        content?.["application/json"]?.schema ?? content?.["text/event-stream"]?.schema,
        `${method} ${path}`,
      ).toBeDefined();
      // Action routes (leave, retry, cancel, switch, sync, trash, restore, unpublish, like, favorite, play) take no body.
      if (
        ["post", "patch"].includes(method) &&
        !/\/(leave|retry|cancel|switch|sync|trash|restore|unpublish|like|favorite|play)$/.test(path)
      ) {
        expect(op.requestBody?.content, `${method} ${path}`).toBeDefined();
      }
    }
  });

  test("request bodies carry examples", () => {
    const register = spec.paths["/api/v1/auth/register"].post.requestBody.content["application/json"].schema;
    expect(JSON.stringify(register)).toContain("lin@example.com");
  });

  test("Swagger UI loads only local assets", async () => {
    const page = await ctx.call("GET", "/swagger");
    expect(page.status).toBe(200);
    const html = page.json as string;
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url).toStartWith("/swagger/assets/");
    for (const url of urls) {
      const asset = await ctx.app.handle(new Request(`http://localhost${url}`));
      expect(asset.status).toBe(200);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    expect((await ctx.call("GET", "/swagger/assets/..%2Fpackage.json")).status).toBe(404);
    expect((await ctx.call("GET", "/swagger/assets/index.html")).status).toBe(404);
  });
});
