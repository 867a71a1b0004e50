import { beforeEach, describe, expect, test } from "bun:test";
import { secretBox, serverSecret } from "../src/providers/secrets.ts";
import { createTestContext, type TestContext } from "./support/context.ts";

// OpenAI has a key from the environment; fal and ElevenLabs have none.
const OPENAI_ENV_KEY = "sk-env-openai-0123456789";
const ctx = await createTestContext({ OPENAI_API_KEY: OPENAI_ENV_KEY });

async function makeAdmin(c: TestContext = ctx) {
  const admin = await c.register("admin");
  await c.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
  return admin;
}

const admin = await makeAdmin();
const user = await ctx.register("plain");

/** A public address (example.com's), so no DNS is needed. */
const PUBLIC_URL = "http://93.184.216.34/v1";
let seq = 0;
const secretKey = () => `sk-test-${crypto.randomUUID()}-${++seq}`;

async function createCustom(body: Record<string, unknown> = {}, c: TestContext = ctx, token = admin.token) {
  return c.call("POST", "/api/v1/config/providers/custom", {
    token,
    body: {
      type: "text",
      name: `Custom ${++seq}`,
      api_url: PUBLIC_URL,
      api_key: secretKey(),
      models: ["model-a", "model-b"],
      ...body,
    },
  });
}

const put = (body: unknown) => ctx.call("PUT", "/api/v1/config/providers", { token: admin.token, body });
const getCurrent = async () => (await ctx.call("GET", "/api/v1/config/current", { token: user.token })).json.data;
const paths = (res: { json: { error: { details: { fields: Array<{ path: string }> } } } }) =>
  res.json.error.details.fields.map((f) => f.path);

beforeEach(async () => {
  // Each test starts from the environment's chains with every built-in provider enabled.
  await ctx.db.deleteFrom("provider_chains").execute();
  await ctx.db.updateTable("providers").set({ enabled: true }).execute();
});

describe("GET /config/providers and /config/current", () => {
  test("any user sees each capability's providers, grouped, with configured = has a key", async () => {
    const res = await ctx.call("GET", "/api/v1/config/providers", { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json.success).toBe(true);
    const data = res.json.data;
    expect(Object.keys(data).sort()).toEqual(["image", "music", "speech", "text", "video"]);
    const ids = (cap: string) => data[cap].map((p: { id: string }) => p.id);
    expect(ids("text")).toEqual(expect.arrayContaining(["local", "openai"]));
    expect(ids("image")).toEqual(expect.arrayContaining(["local", "openai", "fal"]));
    expect(ids("video")).toEqual(expect.arrayContaining(["local", "openai", "fal"]));
    expect(ids("video")).not.toContain("elevenlabs");
    expect(ids("speech")).toEqual(expect.arrayContaining(["local", "elevenlabs"]));
    expect(ids("music")).toEqual(expect.arrayContaining(["local", "elevenlabs"]));
    const image = Object.fromEntries(data.image.map((p: { id: string }) => [p.id, p]));
    expect(Object.keys(image.local).sort()).toEqual(["configured", "enabled", "id", "models", "name"]);
    expect(image.local).toMatchObject({ enabled: true, configured: true, models: ["inkreel-painter-1"] });
    expect(image.openai).toMatchObject({ enabled: true, configured: true, models: ["gpt-image-1", "dall-e-3"] });
    expect(image.fal.configured).toBe(false);
    expect(image.fal.models).toContain("fal-ai/flux/dev");
    expect(JSON.stringify(res.json)).not.toContain(OPENAI_ENV_KEY);
  });

  test("current is the environment's chain by default", async () => {
    const res = await ctx.call("GET", "/api/v1/config/current", { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({
      text_provider: "local",
      text_model: "inkreel-analyser-1",
      image_provider: "local",
      image_model: "inkreel-painter-1",
      video_provider: "local",
      video_model: "inkreel-motion-1",
      speech_provider: "local",
      speech_model: "espeak-ng",
      music_provider: "local",
      music_model: "inkreel-synth-1",
      chains: {
        text: [{ provider: "local", model: "inkreel-analyser-1" }],
        image: [{ provider: "local", model: "inkreel-painter-1" }],
        video: [{ provider: "local", model: "inkreel-motion-1" }],
        speech: [{ provider: "local", model: "espeak-ng" }],
        music: [{ provider: "local", model: "inkreel-synth-1" }],
      },
    });
  });

  test("the environment's providers and models show through (IMAGE_PROVIDER=fal)", async () => {
    const fal = await createTestContext({ IMAGE_PROVIDER: "fal", FAL_KEY: "fal-env-key-123" });
    const u = await fal.register("viewer");
    const res = await fal.call("GET", "/api/v1/config/current", { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({
      image_provider: "fal",
      image_model: "fal-ai/flux/dev",
      text_provider: "local",
    });
    expect(res.json.data.chains.image).toEqual([{ provider: "fal", model: "fal-ai/flux/dev" }]);
    const catalogue = await fal.call("GET", "/api/v1/config/providers", { token: u.token });
    expect(catalogue.json.data.image.find((p: { id: string }) => p.id === "fal").configured).toBe(true);
    expect(JSON.stringify(catalogue.json)).not.toContain("fal-env-key-123");
  });
});

describe("PUT /config/providers", () => {
  test("a chain is stored and becomes current; flat fields set the head and keep the fallbacks", async () => {
    const chain = [
      { provider: "openai", model: "dall-e-3" },
      { provider: "local", model: "inkreel-painter-1" },
    ];
    const res = await put({ chains: { image: chain } });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ image_provider: "openai", image_model: "dall-e-3" });
    const now = await getCurrent();
    expect(now.chains.image).toEqual(chain);
    expect(now).toMatchObject({ image_provider: "openai", image_model: "dall-e-3", text_provider: "local" });
    const row = await ctx.db
      .selectFrom("provider_chains")
      .selectAll()
      .where("capability", "=", "image")
      .executeTakeFirstOrThrow();
    expect(row.chain).toEqual(chain);
    expect(row.updated_by).toBe(admin.user.id);

    // Only the model: the head's provider stays.
    expect((await put({ image_model: "gpt-image-1" })).status).toBe(200);
    expect((await getCurrent()).chains.image).toEqual([{ provider: "openai", model: "gpt-image-1" }, chain[1]]);
    // Only the provider: its default model (the environment's for built-ins); the fallback that equals the new head goes.
    expect((await put({ image_provider: "local" })).status).toBe(200);
    expect((await getCurrent()).chains.image).toEqual([{ provider: "local", model: "inkreel-painter-1" }]);
    // Seed 004's flat style, assistant = text.
    const flat = await put({
      assistant_provider: "openai",
      assistant_model: "gpt-4o",
      speech_provider: "local",
      speech_model: "espeak-ng",
    });
    expect(flat.status).toBe(200);
    expect(flat.json.data).toMatchObject({ text_provider: "openai", text_model: "gpt-4o", speech_provider: "local" });
    expect((await put({ text_provider: "openai" })).json.data.text_model).toBe("gpt-4o");
    expect((await put({ text_provider: "local" })).json.data.chains.text).toEqual([
      { provider: "local", model: "inkreel-analyser-1" },
    ]);
    expect(
      (await put({ chains: { text: [{ provider: "local", model: "inkreel-analyser-1" }] }, text_provider: "openai" }))
        .status,
    ).toBe(400);
  });

  test("invalid links are 400 naming the field, and change nothing", async () => {
    const custom = await createCustom({ name: "Soon disabled" });
    expect(custom.status).toBe(201);
    expect(
      (await ctx.call("POST", `/api/v1/admin/providers/${custom.json.data.id}/disable`, { token: admin.token })).status,
    ).toBe(200);
    const before = await getCurrent();
    const cases: Array<[unknown, string, string]> = [
      [{ chains: { image: [{ provider: "nope", model: "x" }] } }, "/chains/image/0/provider", "unknown provider"],
      [
        {
          chains: {
            image: [
              { provider: "local", model: "inkreel-painter-1" },
              { provider: "openai", model: "dall-e-9" },
            ],
          },
        },
        "/chains/image/1/model",
        "does not offer",
      ],
      [
        { chains: { video: [{ provider: "openai", model: "gpt-image-1" }] } },
        "/chains/video/0/model",
        "does not offer",
      ],
      [{ video_provider: "elevenlabs" }, "/video_provider", "does not serve video"],
      [{ image_provider: "openai", image_model: "inkreel-painter-1" }, "/image_model", "does not offer"],
      [{ speech_provider: "elevenlabs" }, "/speech_provider", "no API key"],
      [
        { chains: { image: [{ provider: "fal", model: "fal-ai/flux/dev" }] } },
        "/chains/image/0/provider",
        "no API key",
      ],
      [
        { chains: { text: [{ provider: custom.json.data.id, model: "model-a" }] } },
        "/chains/text/0/provider",
        "disabled",
      ],
      [
        {
          chains: {
            image: [
              { provider: "local", model: "inkreel-painter-1" },
              { provider: "local", model: "inkreel-painter-1" },
            ],
          },
        },
        "/chains/image/1",
        "repeats",
      ],
      [
        { image_provider: "local", chains: { image: [{ provider: "local", model: "inkreel-painter-1" }] } },
        "/image_provider",
        "not both",
      ],
    ];
    for (const [body, path, message] of cases) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
      expect(paths(res), JSON.stringify(body)).toContain(path);
      expect(JSON.stringify(res.json.error.details.fields)).toContain(message);
    }
    // Every bad link of a request is reported at once, and a valid part is not applied.
    const many = await put({
      text_provider: "openai",
      chains: {
        image: [
          { provider: "nope", model: "x" },
          { provider: "openai", model: "nope" },
        ],
      },
    });
    expect(many.status).toBe(400);
    expect(paths(many)).toEqual(["/chains/image/0/provider", "/chains/image/1/model"]);
    // Schema: 1-5 links, at least one field.
    const six = Array.from({ length: 6 }, () => ({ provider: "local", model: "inkreel-painter-1" }));
    for (const body of [
      {},
      { chains: {} },
      { chains: { image: [] } },
      { chains: { image: six } },
      { chains: { image: [{ provider: "local" }] } },
      { image_provider: 5 },
      [1],
      "x",
    ]) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
    expect(await getCurrent()).toEqual(before);
    expect(await ctx.db.selectFrom("provider_chains").selectAll().execute()).toEqual([]);
  });
});

describe("access", () => {
  test("a USER gets 403 on every admin route; no token is 401 everywhere", async () => {
    const custom = await createCustom();
    const id = custom.json.data.id;
    const validCustom = { type: "text", name: "X", api_url: PUBLIC_URL, api_key: "sk-never-stored", models: ["m"] };
    const routes: Array<[string, string, unknown?]> = [
      ["PUT", "/api/v1/config/providers", { text_provider: "local" }],
      ["POST", "/api/v1/config/providers/custom", validCustom],
      ["GET", "/api/v1/admin/providers"],
      ["POST", "/api/v1/admin/providers", validCustom],
      ["PATCH", `/api/v1/admin/providers/${id}`, { name: "hijacked" }],
      ["PATCH", "/api/v1/admin/providers/openai", { api_key: "sk-hijack" }],
      ["POST", `/api/v1/admin/providers/${id}/disable`],
      ["POST", "/api/v1/admin/providers/openai/disable"],
      ["POST", `/api/v1/admin/providers/${id}/enable`],
    ];
    for (const [method, path, body] of routes) {
      const forbidden = await ctx.call(method, path, { token: user.token, body });
      expect(forbidden.status, `${method} ${path}`).toBe(403);
      expect(forbidden.json.error.code).toBe("FORBIDDEN");
      const anonymous = await ctx.call(method, path, { body });
      expect(anonymous.status, `${method} ${path}`).toBe(401);
      expect(anonymous.json.error.code).toBe("UNAUTHORIZED");
    }
    for (const path of ["/api/v1/config/providers", "/api/v1/config/current"])
      expect((await ctx.call("GET", path)).status).toBe(401);
    const row = await ctx.db.selectFrom("providers").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ name: custom.json.data.name, enabled: true });
    expect(
      (await ctx.db.selectFrom("providers").select("enabled").where("id", "=", "openai").executeTakeFirstOrThrow())
        .enabled,
    ).toBe(true);
    expect(await ctx.db.selectFrom("providers").select("id").where("name", "=", "X").execute()).toEqual([]);
    expect(await ctx.db.selectFrom("provider_chains").selectAll().execute()).toEqual([]);
  });
});

describe("custom providers", () => {
  test("created with a slug id, the key sealed and never returned or logged", async () => {
    const key = `sk-live-${crypto.randomUUID()}`;
    const res = await ctx.call("POST", "/api/v1/config/providers/custom", {
      token: admin.token,
      body: {
        type: "assistant",
        name: "DeepSeek Chat",
        api_url: "https://93.184.216.34/v1/",
        api_key: key,
        models: ["deepseek-chat", "deepseek-reasoner"],
        config: { concurrency: 3 },
      },
    });
    expect(res.status).toBe(201);
    expect(res.json.data).toEqual({
      id: "custom-deepseek-chat",
      name: "DeepSeek Chat",
      kind: "openai_compatible",
      builtin: false,
      enabled: true,
      base_url: "https://93.184.216.34/v1",
      has_key: true,
      capabilities: ["text"],
      models: { text: ["deepseek-chat", "deepseek-reasoner"] },
      config: { concurrency: 3, rate_per_minute: null, prices: {} },
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const row = await ctx.db
      .selectFrom("providers")
      .selectAll()
      .where("id", "=", "custom-deepseek-chat")
      .executeTakeFirstOrThrow();
    expect(row.api_key_enc).not.toBeNull();
    expect(row.api_key_enc).not.toContain(key);
    expect(row.created_by).toBe(admin.user.id);
    expect(secretBox(await serverSecret(ctx.config)).open(row.api_key_enc!)).toBe(key);

    // Same name again: deduplicated id. Through the seed-000 route too.
    const again = await ctx.call("POST", "/api/v1/admin/providers", {
      token: admin.token,
      body: { type: "text", name: "DeepSeek  chat!", api_url: PUBLIC_URL, api_key: key, models: ["deepseek-chat"] },
    });
    expect(again.status).toBe(201);
    expect(again.json.data.id).toBe("custom-deepseek-chat-2");
    const cjk = await createCustom({
      name: "通义千问",
      type: "image",
      models: undefined,
      config: { models: ["wanx-v1"] },
    });
    expect(cjk.status).toBe(201);
    expect(cjk.json.data.id).toMatch(/^custom-[0-9a-f]{8}$/);
    expect(cjk.json.data).toMatchObject({ name: "通义千问", capabilities: ["image"], models: { image: ["wanx-v1"] } });

    // Usable in a chain at once.
    expect((await put({ text_provider: "custom-deepseek-chat", text_model: "deepseek-reasoner" })).status).toBe(200);

    const everywhere = [
      res,
      again,
      await ctx.call("GET", "/api/v1/admin/providers?page_size=100", { token: admin.token }),
      await ctx.call("GET", "/api/v1/config/providers", { token: admin.token }),
      await ctx.call("GET", "/api/v1/config/current", { token: admin.token }),
      await ctx.call("PATCH", "/api/v1/admin/providers/custom-deepseek-chat", {
        token: admin.token,
        body: { name: "DeepSeek" },
      }),
    ];
    for (const r of everywhere) {
      expect(r.status).toBeLessThan(300);
      expect(JSON.stringify(r.json)).not.toContain(key);
      expect(JSON.stringify(r.json)).not.toContain(row.api_key_enc!);
      expect(JSON.stringify(r.json)).not.toContain("api_key_enc");
    }
    const list = everywhere[2]!.json.data;
    expect(
      list.items
        .slice(0, 4)
        .map((p: { id: string }) => p.id)
        .sort(),
    ).toEqual(["elevenlabs", "fal", "local", "openai"]);
    expect(list.items.find((p: { id: string }) => p.id === "openai")).toMatchObject({
      builtin: true,
      has_key: true,
      base_url: null,
    });
    expect(list.items.find((p: { id: string }) => p.id === "elevenlabs")).toMatchObject({
      has_key: false,
      capabilities: ["speech", "music"],
    });
    expect(list.total).toBeGreaterThanOrEqual(7);
    const logs = ctx.logs.join("\n");
    expect(logs).not.toContain(key);
    expect(logs).toContain('"msg":"provider created"');
    expect(logs).toContain("custom-deepseek-chat");
  });

  test("bad bodies are 400 naming the field", async () => {
    const video = await createCustom({ type: "video" });
    expect(video.status).toBe(400);
    expect(video.json.message).toContain("text and image");
    expect(paths(video)).toEqual(["/type"]);
    const noModels = await createCustom({ models: undefined });
    expect(noModels.status).toBe(400);
    expect(paths(noModels)).toEqual(["/models"]);
    for (const body of [
      { type: "speech" },
      { name: "" },
      { api_key: "" },
      { api_url: undefined },
      { models: [] },
      { config: { concurrency: 0 } },
      { config: { rate_per_minute: 100_001 } },
      { config: { prices: { "model-a": { per_image: -1 } } } },
      { config: { prices: { "not-offered": { per_image: 1 } } } },
    ]) {
      const res = await createCustom(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
  });

  test.each([
    "http://127.0.0.1:8000/v1",
    "http://localhost/",
    "http://10.0.0.5/",
    "http://169.254.169.254/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://192.168.0.10:11434/v1",
    "http://[fd00::5]/",
    "http://100.100.100.200/",
    "ftp://93.184.216.34/",
    "http://user:pass@93.184.216.34/v1",
    "http://does-not-exist.invalid/v1",
  ])("SSRF: %s is refused with 400 on /api_url", async (url) => {
    const key = `sk-ssrf-${crypto.randomUUID()}`;
    const before = await ctx.db
      .selectFrom("providers")
      .select(({ fn }) => fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    for (const path of ["/api/v1/config/providers/custom", "/api/v1/admin/providers"]) {
      const res = await ctx.call("POST", path, {
        token: admin.token,
        body: { type: "text", name: "Inside", api_url: url, api_key: key, models: ["m"] },
      });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
      expect(paths(res)).toEqual(["/api_url"]);
      expect(JSON.stringify(res.json)).not.toContain(key);
    }
    const after = await ctx.db
      .selectFrom("providers")
      .select(({ fn }) => fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  test("ALLOW_PRIVATE_PROVIDER_URLS=true lets a self-hosted endpoint in", async () => {
    const lax = await createTestContext({ ALLOW_PRIVATE_PROVIDER_URLS: "true" });
    const boss = await makeAdmin(lax);
    const res = await createCustom({ name: "Ollama", api_url: "http://127.0.0.1:8000/v1" }, lax, boss.token);
    expect(res.status).toBe(201);
    expect(res.json.data).toMatchObject({ id: "custom-ollama", base_url: "http://127.0.0.1:8000/v1" });
    // Scheme and credentials are still checked.
    expect((await createCustom({ api_url: "file:///etc/passwd" }, lax, boss.token)).status).toBe(400);
    expect((await createCustom({ api_url: "http://u:p@127.0.0.1/" }, lax, boss.token)).status).toBe(400);
  });
});

describe("enable, disable and PATCH", () => {
  test("disable and enable; 409 for local and for the only usable link of a chain", async () => {
    const off = await ctx.call("POST", "/api/v1/admin/providers/openai/disable", { token: admin.token });
    expect(off.status).toBe(200);
    expect(off.json.data).toMatchObject({ id: "openai", enabled: false });
    const catalogue = await ctx.call("GET", "/api/v1/config/providers", { token: user.token });
    expect(catalogue.json.data.text.find((p: { id: string }) => p.id === "openai").enabled).toBe(false);
    expect(
      (
        await ctx.call("POST", "/api/v1/admin/providers/openai/enable", {
          token: admin.token,
          body: { reason: "back" },
        })
      ).json.data.enabled,
    ).toBe(true);
    // Idempotent.
    expect((await ctx.call("POST", "/api/v1/admin/providers/openai/enable", { token: admin.token })).status).toBe(200);

    const local = await ctx.call("POST", "/api/v1/admin/providers/local/disable", { token: admin.token });
    expect(local.status).toBe(409);
    expect(local.json.error.code).toBe("CONFLICT");

    // openai is a link of the image chain, but local backs it up: fine.
    expect(
      (
        await put({
          chains: {
            image: [
              { provider: "openai", model: "gpt-image-1" },
              { provider: "local", model: "inkreel-painter-1" },
            ],
          },
        })
      ).status,
    ).toBe(200);
    expect((await ctx.call("POST", "/api/v1/admin/providers/openai/disable", { token: admin.token })).status).toBe(200);
    expect((await ctx.call("POST", "/api/v1/admin/providers/openai/enable", { token: admin.token })).status).toBe(200);
    // openai alone in the text chain: it is the only usable link.
    expect((await put({ text_provider: "openai" })).status).toBe(200);
    const only = await ctx.call("POST", "/api/v1/admin/providers/openai/disable", { token: admin.token });
    expect(only.status).toBe(409);
    expect(only.json.error.details.capability).toBe("text");
    expect(only.json.message).toContain("text");
    expect(
      (await ctx.db.selectFrom("providers").select("enabled").where("id", "=", "openai").executeTakeFirstOrThrow())
        .enabled,
    ).toBe(true);

    // A custom provider alone in a chain cannot lose its key either, nor the model the chain uses.
    const custom = await createCustom({ type: "image", models: ["img-1", "img-2"] });
    const id = custom.json.data.id;
    expect((await put({ chains: { image: [{ provider: id, model: "img-2" }] } })).status).toBe(200);
    const disable = await ctx.call("POST", `/api/v1/admin/providers/${id}/disable`, { token: admin.token });
    expect(disable.status).toBe(409);
    expect(disable.json.error.details.capability).toBe("image");
    expect(
      (await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, { token: admin.token, body: { api_key: null } }))
        .status,
    ).toBe(409);
    const dropModel = await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, {
      token: admin.token,
      body: { models: ["img-1"] },
    });
    expect(dropModel.status).toBe(409);
    expect(dropModel.json.error.details).toMatchObject({ capability: "image", model: "img-2" });
    expect(
      (
        await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, {
          token: admin.token,
          body: { models: ["img-2", "img-3"] },
        })
      ).json.data.models,
    ).toEqual({ image: ["img-2", "img-3"] });

    for (const action of ["enable", "disable"]) {
      const missing = await ctx.call("POST", `/api/v1/admin/providers/no-such-provider/${action}`, {
        token: admin.token,
      });
      expect(missing.status).toBe(404);
      expect(missing.json.error.code).toBe("NOT_FOUND");
    }
  });

  test("PATCH validates concurrency, rates and prices; built-ins keep name and models", async () => {
    const ok = await ctx.call("PATCH", "/api/v1/admin/providers/fal", {
      token: admin.token,
      body: {
        config: {
          concurrency: 2,
          rate_per_minute: 120,
          prices: {
            "fal-ai/flux/dev": { per_image: 0.025 },
            "fal-ai/kling-video/v2.1/standard/image-to-video": { per_video_second: 0.05 },
          },
        },
      },
    });
    expect(ok.status).toBe(200);
    expect(ok.json.data.config).toEqual({
      concurrency: 2,
      rate_per_minute: 120,
      prices: {
        "fal-ai/flux/dev": { per_image: 0.025 },
        "fal-ai/kling-video/v2.1/standard/image-to-video": { per_video_second: 0.05 },
      },
    });
    const stamp = ok.json.data.updated_at;
    // Settings merge; null clears one.
    const merged = await ctx.call("PATCH", "/api/v1/admin/providers/fal", {
      token: admin.token,
      body: { config: { rate_per_minute: null } },
    });
    expect(merged.json.data.config).toMatchObject({
      concurrency: 2,
      rate_per_minute: null,
      prices: { "fal-ai/flux/dev": { per_image: 0.025 } },
    });
    expect(new Date(merged.json.data.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(stamp).getTime());

    const bad: Array<[string, unknown]> = [
      ["fal", { config: { prices: { "fal-ai/flux/dev": { per_image: -0.01 } } } }],
      ["fal", { config: { prices: { "fal-ai/flux/dev": { per_image: "1" } } } }],
      ["fal", { config: { prices: { "gpt-4o": { input_per_mtok: 1 } } } }],
      ["fal", { config: { concurrency: 0 } }],
      ["fal", { config: { concurrency: 101 } }],
      ["fal", { config: { concurrency: 1.5 } }],
      ["fal", { config: { rate_per_minute: 0 } }],
      ["fal", { config: { rate_per_minute: 100_001 } }],
      ["fal", {}],
      ["fal", { name: "Not fal" }],
      ["fal", { models: ["x"] }],
      ["fal", { base_url: "http://10.0.0.1/" }],
      ["fal", { base_url: "http://169.254.169.254/" }],
      ["local", { api_key: "sk-x" }],
      ["local", { base_url: "https://93.184.216.34" }],
    ];
    for (const [id, body] of bad) {
      const res = await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, { token: admin.token, body });
      expect(res.status, `${id} ${JSON.stringify(body)}`).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
    const neg = await ctx.call("PATCH", "/api/v1/admin/providers/fal", {
      token: admin.token,
      body: { config: { prices: { "fal-ai/flux/dev": { per_image: -1 } } } },
    });
    expect(paths(neg)[0]).toStartWith("/config/prices");
    expect(
      (await ctx.call("GET", "/api/v1/admin/providers?page_size=100", { token: admin.token })).json.data.items.find(
        (p: { id: string }) => p.id === "fal",
      ).config.concurrency,
    ).toBe(2);

    // A built-in's base URL is SSRF-checked; null goes back to the environment's.
    const based = await ctx.call("PATCH", "/api/v1/admin/providers/openai", {
      token: admin.token,
      body: { base_url: "https://93.184.216.34/v1/" },
    });
    expect(based.status).toBe(200);
    expect(based.json.data.base_url).toBe("https://93.184.216.34/v1");
    expect(
      (await ctx.call("PATCH", "/api/v1/admin/providers/openai", { token: admin.token, body: { base_url: null } })).json
        .data.base_url,
    ).toBeNull();

    // A stored key on a built-in: sealed; has_key; null clears it (the environment's key still counts for openai).
    const falKey = `fal-${crypto.randomUUID()}`;
    const keyed = await ctx.call("PATCH", "/api/v1/admin/providers/fal", {
      token: admin.token,
      body: { api_key: falKey },
    });
    expect(keyed.status).toBe(200);
    expect(keyed.json.data.has_key).toBe(true);
    expect(JSON.stringify(keyed.json)).not.toContain(falKey);
    const sealed = (
      await ctx.db.selectFrom("providers").select("api_key_enc").where("id", "=", "fal").executeTakeFirstOrThrow()
    ).api_key_enc!;
    expect(secretBox(await serverSecret(ctx.config)).open(sealed)).toBe(falKey);
    expect(
      (
        await put({
          chains: {
            video: [
              { provider: "fal", model: "fal-ai/veo3.1/image-to-video" },
              { provider: "local", model: "inkreel-motion-1" },
            ],
          },
        })
      ).status,
    ).toBe(200);
    const cleared = await ctx.call("PATCH", "/api/v1/admin/providers/fal", {
      token: admin.token,
      body: { api_key: null },
    });
    expect(cleared.status).toBe(200);
    expect(cleared.json.data.has_key).toBe(false);
    expect(ctx.logs.join("\n")).not.toContain(falKey);

    // Custom providers: URL (SSRF-checked), name, key, models.
    const custom = await createCustom({ models: ["m1"] });
    const id = custom.json.data.id;
    const moved = await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, {
      token: admin.token,
      body: { name: "Renamed", api_url: "http://8.8.8.8/v2" },
    });
    expect(moved.json.data).toMatchObject({ name: "Renamed", base_url: "http://8.8.8.8/v2", id });
    const inside = await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, {
      token: admin.token,
      body: { api_url: "http://[::ffff:127.0.0.1]/" },
    });
    expect(inside.status).toBe(400);
    expect(paths(inside)).toEqual(["/api_url"]);
    expect(
      (await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, { token: admin.token, body: { api_url: null } }))
        .status,
    ).toBe(400);
    const newKey = `sk-rotated-${crypto.randomUUID()}`;
    const rotated = await ctx.call("PATCH", `/api/v1/admin/providers/${id}`, {
      token: admin.token,
      body: { api_key: newKey },
    });
    expect(rotated.status).toBe(200);
    expect(JSON.stringify(rotated.json)).not.toContain(newKey);
    const enc = (
      await ctx.db.selectFrom("providers").select("api_key_enc").where("id", "=", id).executeTakeFirstOrThrow()
    ).api_key_enc!;
    expect(secretBox(await serverSecret(ctx.config)).open(enc)).toBe(newKey);

    const missing = await ctx.call("PATCH", "/api/v1/admin/providers/no-such-provider", {
      token: admin.token,
      body: { config: { concurrency: 2 } },
    });
    expect(missing.status).toBe(404);
  });
});

describe("malformed requests", () => {
  test("bad JSON and wrong types are 400, never 500", async () => {
    const routes: Array<[string, string]> = [
      ["PUT", "/api/v1/config/providers"],
      ["POST", "/api/v1/config/providers/custom"],
      ["POST", "/api/v1/admin/providers"],
      ["PATCH", "/api/v1/admin/providers/openai"],
      ["POST", "/api/v1/admin/providers/openai/disable"],
    ];
    for (const [method, path] of routes) {
      // A toggle's body is optional (`null`, `[]` or `42` count as none there); malformed JSON is still refused.
      const malformed = ["{not json", "[1,2", '{"a":', '{"reason": 5}'];
      for (const raw of path.endsWith("/disable")
        ? malformed
        : [...malformed, "null", "[]", '"text"', "42", '{"config": 5, "chains": "x", "type": ["text"]}']) {
        const res = await ctx.call(method, path, {
          token: admin.token,
          raw,
          headers: { "content-type": "application/json" },
        });
        expect(res.status, `${method} ${path} ${raw}`).toBe(400);
        expect(res.json.error.code).toBe("VALIDATION_ERROR");
      }
    }
    const page = await ctx.call("GET", "/api/v1/admin/providers?page=0", { token: admin.token });
    expect(page.status).toBe(400);
    expect(ctx.logs.join("\n")).not.toContain('"msg":"unhandled error"');
  });
});
