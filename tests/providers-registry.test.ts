// The provider resolver: chains from the environment or from Postgres, enabled providers with
// keys only, sealed keys opened for the SDKs, the ledger written for every call (streamed text
// too), and per-minute rate limits shared through Postgres.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/client.ts";
import { createLogger } from "../src/log.ts";
import { takeRateSlot } from "../src/providers/rate-limit.ts";
import { createProviderResolver } from "../src/providers/registry.ts";
import { secretBox, serverSecret } from "../src/providers/secrets.ts";
import { syncBuiltinProviders } from "../src/providers/settings.ts";
import { StorylineSchema } from "../src/story/schemas.ts";
import { createTestDatabase } from "./support/context.ts";
import { startFakeFal } from "./support/fake-fal.ts";
import { reply, startFakeOpenAI } from "./support/fake-openai.ts";

const openai = await startFakeOpenAI();
const url = await createTestDatabase();
const db = createDb(url, { max: 4 });
// The built-in providers' rows, as every process writes them at start.
await syncBuiltinProviders(db);
const logged: string[] = [];
const log = createLogger("warn", {}, (line) => void logged.push(line));
const dataDir = `${process.env.TMPDIR ?? "/tmp"}/inkreel-registry-${crypto.randomUUID()}`;
afterAll(async () => {
  openai.stop();
  await db.destroy();
});
afterEach(async () => {
  openai.reset();
  await db.deleteFrom("provider_chains").execute();
  await db.deleteFrom("provider_usage").execute();
  await db.deleteFrom("provider_requests").execute();
  await db.deleteFrom("providers").where("builtin", "=", false).execute();
  await db.updateTable("providers").set({ enabled: true }).execute();
});

const identity = (p: Record<string, { provider: string; modelId: string }>) =>
  Object.fromEntries(Object.entries(p).map(([k, m]) => [k, `${m.provider}/${m.modelId}`]));

describe("provider resolver", () => {
  test("by default every capability is served locally, offline", async () => {
    const resolver = createProviderResolver({ config: loadConfig({ DATA_DIR: dataDir }), db, log });
    expect(identity((await resolver.forScope({})) as never)).toEqual({
      text: "local/inkreel-analyser-1",
      image: "local/inkreel-painter-1",
      video: "local/inkreel-motion-1",
      speech: "local/espeak-ng",
      music: "local/inkreel-synth-1",
    });
    expect(await resolver.head("image")).toEqual({ provider: "local", concurrency: null });
  });

  test("the environment chooses cloud providers per capability with their models", async () => {
    const config = loadConfig({
      DATA_DIR: dataDir,
      TEXT_PROVIDER: "openai",
      IMAGE_PROVIDER: "fal",
      VIDEO_PROVIDER: "fal",
      SPEECH_PROVIDER: "elevenlabs",
      MUSIC_PROVIDER: "elevenlabs",
      OPENAI_API_KEY: "sk-test",
      OPENAI_TEXT_MODEL: "deepseek-chat",
      FAL_KEY: "fal-test",
      ELEVENLABS_API_KEY: "el-test",
    });
    const resolver = createProviderResolver({ config, db, log });
    expect(identity((await resolver.forScope({})) as never)).toEqual({
      text: "openai/deepseek-chat",
      image: "fal/fal-ai/flux/dev",
      video: "fal/fal-ai/kling-video/v2.1/standard/image-to-video",
      speech: "elevenlabs/eleven_multilingual_v2",
      music: "elevenlabs/music_v2_5",
    });
    // Built-in cloud providers come with a concurrency limit for the queue.
    expect(await resolver.head("video")).toEqual({ provider: "fal", concurrency: 4 });
  });

  test("a stored chain wins over the environment; disabled or keyless links are skipped", async () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    const resolver = createProviderResolver({ config, db, log });
    await resolver.forScope({});
    const chain = [
      { provider: "openai", model: "gpt-image-1" },
      { provider: "fal", model: "fal-ai/flux/schnell" },
      { provider: "local", model: "inkreel-painter-1" },
    ];
    await db
      .insertInto("provider_chains")
      .values({ capability: "image", chain: JSON.stringify(chain) })
      .execute();
    // No OpenAI or fal key anywhere: only local is usable.
    expect((await resolver.forScope({})).image.provider).toBe("local");
    const withKeys = createProviderResolver({
      config: loadConfig({ DATA_DIR: dataDir, OPENAI_API_KEY: "sk-x", FAL_KEY: "f" }),
      db,
      log,
    });
    expect(identity({ image: (await withKeys.forScope({})).image })).toEqual({ image: "openai/gpt-image-1" });
    await db.updateTable("providers").set({ enabled: false }).where("id", "=", "openai").execute();
    expect(identity({ image: (await withKeys.forScope({})).image })).toEqual({ image: "fal/fal-ai/flux/schnell" });
  });

  test("a custom OpenAI-compatible provider is called with its sealed key, and every call lands in the ledger", async () => {
    const config = loadConfig({ DATA_DIR: dataDir, ALLOW_PRIVATE_PROVIDER_URLS: "true" });
    const box = secretBox(await serverSecret(config));
    await db
      .insertInto("providers")
      .values({
        id: "custom-vllm",
        name: "vLLM",
        kind: "openai_compatible",
        base_url: openai.url,
        api_key_enc: box.seal(openai.apiKey),
        models: JSON.stringify({ text: ["qwen2.5"] }),
        config: JSON.stringify({ prices: { "qwen2.5": { input_per_mtok: 1, output_per_mtok: 2 } } }),
      })
      .execute();
    await db
      .insertInto("provider_chains")
      .values({ capability: "text", chain: JSON.stringify([{ provider: "custom-vllm", model: "qwen2.5" }]) })
      .execute();
    const resolver = createProviderResolver({ config, db, log });
    const user = (
      await sql<{
        id: string;
      }>`insert into users (username, email) values ('ledger', 'ledger@example.com') returning id`.execute(db)
    ).rows[0]!.id;
    const text = (await resolver.forScope({ userId: user, stage: "storyline" })).text;
    expect(text.provider).toBe("custom-vllm");

    const storyline = {
      title: "T",
      logline: "L",
      summary: "S",
      tone: "calm",
      genre: "drama",
      language: "en",
      chapters: [],
    };
    openai.enqueue(reply.json(storyline, { usage: { prompt_tokens: 1000, completion_tokens: 500 } }));
    const r = await text.generateObject({ schema: StorylineSchema, system: "s", prompt: "p" });
    expect(r.data.title).toBe("T");
    expect(openai.requests[0]!.headers.authorization).toBe(`Bearer ${openai.apiKey}`);
    expect(openai.requests[0]!.body.model).toBe("qwen2.5");

    openai.enqueue(reply.stream(["Hel", "lo"], { usage: { prompt_tokens: 10, completion_tokens: 2 } }));
    const stream = text.streamText({ system: "s", prompt: "hi" });
    let said = "";
    for await (const part of stream.textStream) said += part;
    expect(said).toBe("Hello");
    await stream.usage;

    const rows = await waitForRows(2);
    expect(
      rows.map((u) => [
        u.provider,
        u.model,
        u.outcome,
        u.input_tokens,
        u.output_tokens,
        Number(u.cost_usd),
        u.user_id,
        u.stage,
      ]),
    ).toEqual([
      ["custom-vllm", "qwen2.5", "ok", 1000, 500, 0.002, user, "storyline"],
      ["custom-vllm", "qwen2.5", "ok", 10, 2, 0.000014, user, "storyline"],
    ]);
  });

  test("a key sealed under another server key is not used (and not leaked)", async () => {
    const config = loadConfig({ DATA_DIR: dataDir, ALLOW_PRIVATE_PROVIDER_URLS: "true" });
    const foreign = secretBox("another-server-key-of-at-least-32-characters").seal("sk-foreign");
    await db
      .insertInto("providers")
      .values({
        id: "custom-foreign",
        name: "F",
        kind: "openai_compatible",
        base_url: openai.url,
        api_key_enc: foreign,
        models: JSON.stringify({ text: ["m"] }),
      })
      .execute();
    await db
      .insertInto("provider_chains")
      .values({
        capability: "text",
        chain: JSON.stringify([
          { provider: "custom-foreign", model: "m" },
          { provider: "local", model: "inkreel-analyser-1" },
        ]),
      })
      .execute();
    const resolver = createProviderResolver({ config, db, log });
    expect((await resolver.forScope({})).text.provider).toBe("local");
    expect(logged.join("\n")).toContain("cannot be opened");
    expect(logged.join("\n")).not.toContain("sk-foreign");
  });

  test("a custom provider whose URL resolves inside is skipped unless private URLs are allowed", async () => {
    const box = secretBox(await serverSecret(loadConfig({ DATA_DIR: dataDir })));
    await db
      .insertInto("providers")
      .values({
        id: "custom-inside",
        name: "I",
        kind: "openai_compatible",
        base_url: openai.url,
        api_key_enc: box.seal("k"),
        models: JSON.stringify({ text: ["m"] }),
      })
      .execute();
    await db
      .insertInto("provider_chains")
      .values({
        capability: "text",
        chain: JSON.stringify([
          { provider: "custom-inside", model: "m" },
          { provider: "local", model: "inkreel-analyser-1" },
        ]),
      })
      .execute();
    expect(
      (await createProviderResolver({ config: loadConfig({ DATA_DIR: dataDir }), db, log }).forScope({})).text.provider,
    ).toBe("local");
    expect(
      (
        await createProviderResolver({
          config: loadConfig({ DATA_DIR: dataDir, ALLOW_PRIVATE_PROVIDER_URLS: "true" }),
          db,
          log,
        }).forScope({})
      ).text.provider,
    ).toBe("custom-inside");
  });
});

/** Polls the ledger until `n` rows are in (they are written after the call returns). */
async function waitForRows(n: number) {
  for (let i = 0; i < 100; i++) {
    const rows = await db.selectFrom("provider_usage").selectAll().orderBy("id").execute();
    if (rows.length >= n) return rows;
    await Bun.sleep(20);
  }
  throw new Error(`expected ${n} ledger rows`);
}

/** A custom OpenAI-compatible provider on `url` (loopback: allowed by the config used), first in the text chain, local after it. */
async function customFirst(id: string, url: string, key = openai.apiKey) {
  const box = secretBox(await serverSecret(loadConfig({ DATA_DIR: dataDir })));
  await db
    .insertInto("providers")
    .values({
      id,
      name: id,
      kind: "openai_compatible",
      base_url: url,
      api_key_enc: box.seal(key),
      models: JSON.stringify({ text: ["m"] }),
      config: JSON.stringify({ prices: { m: { input_per_mtok: 1, output_per_mtok: 1 } } }),
    })
    .execute();
  await db
    .insertInto("provider_chains")
    .values({
      capability: "text",
      chain: JSON.stringify([
        { provider: id, model: "m" },
        { provider: "local", model: "inkreel-analyser-1" },
      ]),
    })
    .execute();
  return createProviderResolver({
    config: loadConfig({ DATA_DIR: dataDir, ALLOW_PRIVATE_PROVIDER_URLS: "true" }),
    db,
    log,
  });
}

const STORY = "Lin opened the door. Old Zhou asked, 'The usual?' Lin nodded and said, 'Yes, thank you.'";
const ask = async (resolver: ReturnType<typeof createProviderResolver>) =>
  (await resolver.forScope({ stage: "storyline" })).text.generateObject({
    schema: StorylineSchema,
    system: "s",
    prompt: STORY,
    source: STORY,
  });

describe("failover and the ledger", () => {
  test("429s after the SDK's retries hand over to the next link; the ledger records the failover", async () => {
    openai.setFallback(() => reply.error(429, "Rate limit reached", { headers: { "retry-after-ms": "1" } }));
    const r = await ask(await customFirst("custom-busy", openai.url));
    expect(r.response.provider).toBe("local");
    expect(r.warnings.join(" ")).toContain("custom-busy/m failed");
    expect(openai.requests.length).toBe(3); // the first try and the SDK's two retries
    const rows = await waitForRows(2);
    expect(rows.map((u) => [u.provider, u.outcome, u.failed_over])).toEqual([
      ["custom-busy", "failed", true],
      ["local", "ok", false],
    ]);
  });

  test("refused credentials hand over to another provider (its own key), not to the same one", async () => {
    // The fake refuses any key but its own.
    const r = await ask(await customFirst("custom-badkey", openai.url, "sk-revoked"));
    expect(openai.requests.length).toBe(1);
    expect(r.response.provider).toBe("local");
    expect((await waitForRows(2))[0]).toMatchObject({
      provider: "custom-badkey",
      outcome: "failed",
      failed_over: true,
    });
  });

  test("tokens a failed text call had already spent are in the ledger, with their cost", async () => {
    // Never valid JSON: the answer is asked for again with the errors, then given up on; a 4xx-like
    // failure of the answer itself, so no failover to local.
    openai.setFallback(() =>
      reply.chat("not json at all", { usage: { prompt_tokens: 100_000, completion_tokens: 50_000 } }),
    );
    const resolver = await customFirst("custom-garbled", openai.url);
    await db
      .updateTable("provider_chains")
      .set({ chain: JSON.stringify([{ provider: "custom-garbled", model: "m" }]) })
      .where("capability", "=", "text")
      .execute();
    const err = await ask(resolver).then(
      () => null,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.name).toBe("AiServiceError");
    const [row] = await waitForRows(1);
    expect(row).toMatchObject({ provider: "custom-garbled", outcome: "failed", failed_over: false });
    expect(row!.input_tokens).toBe(100_000 * openai.requests.length);
    expect(Number(row!.cost_usd)).toBeCloseTo(0.15 * openai.requests.length, 6);
  });

  test("a fal request still running when its status cannot be read is not abandoned for the next link: the retry resumes it", async () => {
    const fal = await startFakeFal();
    try {
      const config = loadConfig({
        DATA_DIR: dataDir,
        FAL_KEY: fal.key,
        FAL_BASE_URL: fal.url,
        FAL_POLL_INTERVAL_MS: "10",
      });
      await db
        .insertInto("provider_chains")
        .values({
          capability: "image",
          chain: JSON.stringify([
            { provider: "fal", model: "fal-ai/flux/dev" },
            { provider: "local", model: "inkreel-painter-1" },
          ]),
        })
        .execute();
      // The status endpoint is down for longer than the provider waits between retries (Retry-After:
      // an hour): it gives up at once, on the first answer, and the job's next attempt takes over.
      fal.fault({ call: "status", status: 503, headers: { "retry-after": "3600" } });
      const image = (await createProviderResolver({ config, db, log }).forScope({ stage: "keyframes" })).image;
      const err = await image.generate({ prompt: "a tea house", width: 512, height: 512 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: "AiServiceError", provider: "fal", retryable: true });
      expect(fal.submissions.length).toBe(1);
      const requestId = fal.submissions[0]!.requestId;
      expect(fal.calls("status", requestId).map((c) => c.status)).toEqual([503]);
      expect(
        (await db.selectFrom("provider_requests").select("request_id").execute()).map((r) => r.request_id),
      ).toEqual([requestId]);
      expect((await waitForRows(1)).map((u) => [u.provider, u.outcome, u.failed_over])).toEqual([
        ["fal", "failed", false],
      ]);

      // The job's next attempt: the same request is polled and fetched, nothing is paid twice.
      const again = await image.generate({ prompt: "a tea house", width: 512, height: 512 });
      expect(again.response).toMatchObject({ provider: "fal", id: requestId });
      expect(fal.submissions.length).toBe(1);
      expect(await db.selectFrom("provider_requests").selectAll().execute()).toEqual([]);
    } finally {
      fal.stop();
    }
  });

  test("a custom endpoint's redirect is not followed (the key and the request stay outside)", async () => {
    let inside = 0;
    const internal = Bun.serve({
      port: 0,
      fetch: () => {
        inside++;
        return Response.json({ error: { message: "INTERNAL SECRET" } }, { status: 500 });
      },
    });
    const redirector = Bun.serve({
      port: 0,
      fetch: (req) => Response.redirect(`http://127.0.0.1:${internal.port}${new URL(req.url).pathname}`, 307),
    });
    try {
      const r = await ask(await customFirst("custom-bouncer", `http://127.0.0.1:${redirector.port}/v1`));
      expect(r.response.provider).toBe("local");
      expect(inside).toBe(0);
      const [row] = await waitForRows(2);
      expect(row!.error).not.toContain("INTERNAL SECRET");
    } finally {
      internal.stop(true);
      redirector.stop(true);
    }
  });
});

describe("per-minute rate limit", () => {
  test("a full minute waits until its oldest call leaves the window; other providers are not held up", async () => {
    await db.deleteFrom("provider_calls").execute();
    // Two calls 59.5 s ago fill a limit of 2 for another half second.
    await sql`insert into provider_calls (provider, at) values ('fal', clock_timestamp() - interval '59.5 seconds'), ('fal', clock_timestamp() - interval '59.5 seconds')`.execute(
      db,
    );
    let t = performance.now();
    await takeRateSlot(db, "openai", 2);
    expect(performance.now() - t).toBeLessThan(300);
    t = performance.now();
    await takeRateSlot(db, "fal", 2);
    const waited = performance.now() - t;
    expect(waited).toBeGreaterThanOrEqual(400);
    expect(waited).toBeLessThan(3000);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from provider_calls where provider = 'fal' and at > clock_timestamp() - interval '1 minute'`.execute(
      db,
    );
    // The two old calls left together; the new one is the only call in the window.
    expect(rows[0]!.n).toBe(1);
  });

  test("an abort ends the wait", async () => {
    await db.deleteFrom("provider_calls").execute();
    await sql`insert into provider_calls (provider) values ('elevenlabs')`.execute(db);
    const aborted = takeRateSlot(db, "elevenlabs", 1, AbortSignal.timeout(100));
    await expect(aborted).rejects.toThrow();
  });
});

describe("maintenance", () => {
  test("old fal webhook deliveries, dead rate-limit slots and abandoned fal requests and submit intents are pruned; recent ones stay", async () => {
    const { maintenanceHandlers } = await import("../src/jobs/maintenance.ts");
    await db.deleteFrom("provider_calls").execute();
    await sql`insert into fal_webhooks (signature, request_id, received_at) values ('old', 'r1', now() - interval '2 days'), ('new', 'r2', now())`.execute(
      db,
    );
    await sql`insert into provider_calls (provider, at) values ('fal', now() - interval '10 minutes'), ('fal', now())`.execute(
      db,
    );
    await sql`insert into provider_requests (key, endpoint_id, request_id, created_at) values ('a', 'e', 'old', now() - interval '8 days'), ('b', 'e', 'fresh', now())`.execute(
      db,
    );
    await db.deleteFrom("submit_intents").execute();
    await sql`insert into submit_intents (nonce, key, provider, endpoint_id, state, created_at) values ('n-old', 'a', 'fal', 'e', 'abandoned', now() - interval '8 days'), ('n-new', 'b', 'fal', 'e', 'pending', now())`.execute(
      db,
    );
    const prune = maintenanceHandlers(db, loadConfig({ DATA_DIR: dataDir }))["maintenance.prune_provider_rows"]!;
    expect(await prune({}, {} as never)).toEqual({ webhooks: 1, rate_slots: 1, requests: 1, intents: 1 });
    expect((await db.selectFrom("submit_intents").select("nonce").execute()).map((r) => r.nonce)).toEqual(["n-new"]);
    expect((await db.selectFrom("provider_requests").select("request_id").execute()).map((r) => r.request_id)).toEqual([
      "fresh",
    ]);
    expect((await db.selectFrom("fal_webhooks").select("signature").execute()).map((r) => r.signature)).toEqual([
      "new",
    ]);
    expect((await db.selectFrom("provider_calls").selectAll().execute()).length).toBe(1);
  });
});
