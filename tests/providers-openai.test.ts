// The OpenAI provider against a local fake of the OpenAI API (tests/support/fake-openai.ts):
// structured answers, repairs, truncation, long stories in parts, streaming, HTTP errors and
// retries, and images (generate and edit with references).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import { nearestSize, sizesFor } from "../src/providers/openai/image-size.ts";
import {
  createOpenAIImage,
  createOpenAIText,
  OpenAIProviderError,
  type OpenAITextOptions,
} from "../src/providers/openai/index.ts";
import { cutText, splitSource } from "../src/providers/openai/split-source.ts";
import {
  type Character,
  CharactersSchema,
  ScenesSchema,
  type SchemaViolation,
  StoryboardSchema,
  StorylineSchema,
  validate,
} from "../src/story/schemas.ts";
import { type FakeOpenAI, makePng, type RecordedRequest, reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { rejection } from "./support/rejection.ts";
import { ask, lin, STORY, SYSTEM, scene, shot, storyline } from "./support/story-fixtures.ts";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const MODEL = "gpt-4o-mini";
const text = (o: Partial<OpenAITextOptions> = {}) =>
  createOpenAIText({ apiKey: fake.apiKey, baseUrl: fake.url, model: MODEL, ...o });

const FIXTURES: Array<{ schema: TSchema; name: string; data: unknown }> = [
  { schema: StorylineSchema, name: "inkreel_storyline", data: storyline },
  { schema: CharactersSchema, name: "inkreel_characters", data: { characters: [lin] } },
  { schema: ScenesSchema, name: "inkreel_scenes", data: { scenes: [scene("c1s1", 1)] } },
  { schema: StoryboardSchema, name: "inkreel_storyboard", data: { shots: [shot("c1s1h1", "c1s1")] } },
];

type Message = { role: string; content: string };
const messagesOf = (r: RecordedRequest) => r.body.messages as Message[];
const lastUser = (r: RecordedRequest) =>
  messagesOf(r)
    .filter((m) => m.role === "user")
    .at(-1)!.content;

describe("structured answers", () => {
  for (const f of FIXTURES) {
    test(`${f.name}: strict json_schema request, validated answer`, async () => {
      fake.enqueue(reply.json(f.data, { usage: { prompt_tokens: 120, completion_tokens: 45 } }));
      const result = await text().generateObject({ schema: f.schema, ...ask("Analyse the story."), seed: 7 });
      expect(result.data as unknown).toEqual(f.data);
      expect(result.warnings).toEqual([]);
      expect(result.usage).toEqual({ inputTokens: 120, outputTokens: 45 });
      expect(result.response).toMatchObject({ provider: "openai", modelId: MODEL });
      expect(result.response.id).toStartWith("chatcmpl-");

      expect(fake.requests).toHaveLength(1);
      const r = fake.requests[0]!;
      expect(r.path).toBe("/v1/chat/completions");
      expect(r.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
      expect(r.body.model).toBe(MODEL);
      expect(r.body.seed).toBe(7);
      expect(r.body.stream).toBeUndefined();
      expect(r.body.response_format).toEqual({
        type: "json_schema",
        json_schema: { name: f.name, strict: true, schema: JSON.parse(JSON.stringify(f.schema)) },
      });
      expect(r.body.response_format.json_schema.schema.$id).toBe(f.schema.$id);
      expect(messagesOf(r)).toEqual([
        { role: "system", content: SYSTEM },
        { role: "user", content: `Analyse the story.\n\nStory:\n${STORY}` },
      ]);
    });
  }

  test("invalid JSON, then a valid answer: repaired with the parse error fed back", async () => {
    const bad = '{"title": "Rain at the Teahouse", "logline": ';
    fake.enqueue(
      reply.chat(bad, { usage: { prompt_tokens: 100, completion_tokens: 10 } }),
      reply.json(storyline, { usage: { prompt_tokens: 150, completion_tokens: 40 } }),
    );
    const result = await text().generateObject({ schema: StorylineSchema, ...ask("Give the storyline.") });
    expect(result.data).toEqual(storyline as typeof result.data);
    expect(result.warnings).toContain("repaired after 1 invalid answer");
    expect(result.usage).toEqual({ inputTokens: 250, outputTokens: 50 });
    expect(fake.requests).toHaveLength(2);
    const second = messagesOf(fake.requests[1]!);
    expect(second.slice(0, 2)).toEqual(messagesOf(fake.requests[0]!));
    expect(second[2]).toEqual({ role: "assistant", content: bad });
    expect(second[3]!.role).toBe("user");
    expect(second[3]!.content).toContain("could not be parsed");
    expect(second[3]!.content).toContain("not valid JSON");
    // The strict format is asked for again.
    expect(fake.requests[1]!.body.response_format.json_schema.strict).toBe(true);
  });

  test("an answer that breaks the schema, then a valid one: the violations are fed back", async () => {
    const bad = { scenes: [{ ...scene("c1s1", 1), id: "scene-1", mood: "angry" }] };
    const expected = (() => {
      try {
        validate(ScenesSchema, bad);
      } catch (e) {
        return (e as SchemaViolation).problems;
      }
      throw new Error("the bad fixture is valid");
    })();
    fake.enqueue(reply.json(bad), reply.json({ scenes: [scene("c1s1", 1)] }));
    const result = await text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") });
    expect(result.data.scenes.map((s) => s.id)).toEqual(["c1s1"]);
    expect(result.warnings).toContain("repaired after 1 invalid answer");
    const feedback = lastUser(fake.requests[1]!);
    expect(feedback).toContain("does not match the schema");
    expect(feedback).toContain("/scenes/0/id");
    expect(feedback).toContain("/scenes/0/mood");
    for (const p of expected.slice(0, 3)) expect(feedback).toContain(`${p.path}: ${p.message}`);
    expect(messagesOf(fake.requests[1]!)[2]).toEqual({ role: "assistant", content: JSON.stringify(bad) });
  });

  test("no valid answer within maxAttempts: OpenAIProviderError invalid_output, not retryable", async () => {
    fake.enqueue(reply.chat("nope"), reply.chat("still not json"), reply.json({ characters: [{ name: "" }] }));
    const e = await rejection(text().generateObject({ schema: CharactersSchema, ...ask("List the characters.") }));
    expect(e).toBeInstanceOf(OpenAIProviderError);
    const err = e as OpenAIProviderError;
    expect(err).toMatchObject({
      provider: "openai",
      model: MODEL,
      code: "invalid_output",
      retryable: false,
      status: undefined,
    });
    expect(err.message).toContain("after 3 attempts");
    expect(err.message).not.toContain(fake.apiKey);
    expect(fake.requests).toHaveLength(3);
  });

  test("maxAttempts is configurable", async () => {
    fake.enqueue(reply.chat("nope"));
    const e = await rejection(
      text({ maxAttempts: 1 }).generateObject({ schema: CharactersSchema, ...ask("List the characters.") }),
    );
    expect((e as OpenAIProviderError).code).toBe("invalid_output");
    expect(fake.requests).toHaveLength(1);
  });

  test('finish_reason "length", then a complete answer: asked again for a shorter one', async () => {
    fake.enqueue(
      reply.chat('{"characters": [{"name": "Lin", "aliases": [', { finishReason: "length" }),
      reply.json({ characters: [lin] }),
    );
    const result = await text().generateObject({ schema: CharactersSchema, ...ask("List the characters.") });
    expect(result.data.characters).toEqual([lin]);
    expect(result.warnings.some((w) => w.includes("cut off at the output limit once"))).toBe(true);
    const second = messagesOf(fake.requests[1]!);
    // The cut-off answer is not echoed; a shorter answer is asked for.
    expect(second.map((m) => m.role)).toEqual(["system", "user", "user"]);
    expect(second[2]!.content).toContain("cut off at the output limit");
    expect(second[2]!.content).toContain("more briefly");
  });

  test("a truncation that persists: the story is split into parts and the answers merged", async () => {
    const chapter1 = `Chapter 1\n\n${"Lin opened the teahouse before dawn. ".repeat(25)}`;
    const chapter2 = `Chapter 2\n\n${"The stranger came back in the rains. ".repeat(25)}`;
    const source = `${chapter1}\n\n${chapter2}`;
    fake.enqueue(
      reply.chat('{"scenes": [', { finishReason: "length" }),
      reply.chat('{"scenes": [{"id"', { finishReason: "length" }),
    );
    // Each part answers with its own numbering, as if it were the whole story.
    fake.setFallback((req) => {
      const prompt = lastUser(req);
      return reply.json({
        scenes: [scene("c1s1", 1, prompt.includes("stranger came back") ? "The stranger returns." : "Lin opens up.")],
      });
    });
    const result = await text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.", source) });
    expect(fake.requests).toHaveLength(4);
    const [p1, p2] = [lastUser(fake.requests[2]!), lastUser(fake.requests[3]!)];
    expect(p1).toContain("This is part 1");
    expect(p1).toContain("chapter 1 of the whole story");
    expect(p1).toContain("Lin opened the teahouse");
    expect(p1).not.toContain("stranger came back");
    expect(p2).toContain("This is part 2");
    expect(p2).toContain("chapter 2 of the whole story");
    expect(p2).not.toContain("Lin opened the teahouse");
    // The rolling digest of earlier parts.
    expect(p2).toContain("Scenes so far");
    expect(p2).toContain("c1s1 (chapter 1) teahouse, night: Lin opens up.");
    expect(result.data.scenes.map((s) => [s.id, s.chapter, s.summary])).toEqual([
      ["c1s1", 1, "Lin opens up."],
      ["c2s1", 2, "The stranger returns."],
    ]);
    expect(result.warnings.some((w) => w.includes("in 2 parts"))).toBe(true);
    expect(result.warnings.some((w) => w.includes("cut off at the output limit 2 times"))).toBe(true);
  });

  test("a truncation that persists without a story to split: a clear length error", async () => {
    fake.setFallback(() => reply.chat('{"characters": [', { finishReason: "length" }));
    const e = await rejection(
      text().generateObject({
        schema: CharactersSchema,
        system: SYSTEM,
        prompt: "List the characters of a famous novel.",
      }),
    );
    expect(e).toMatchObject({ code: "length", retryable: false });
    expect((e as Error).message).toContain("cut off at the output limit after 3 attempts");
    expect(fake.requests).toHaveLength(3);
  });

  describe("a story longer than the part budget", () => {
    const chapters = ["The teahouse", "The stranger", "The letter"].map(
      (title, i) =>
        `Chapter ${i + 1}: ${title}\n\n${`Part ${i + 1} marker. Lin waited by the stove while the rain fell. `.repeat(12)}`,
    );
    const source = `Rain at the Teahouse\n\n${chapters.join("\n\n")}`;
    const partOf = (req: RecordedRequest) => Number(/Part (\d) marker/.exec(lastUser(req))?.[1]);

    test("is split at chapters, the parts' storyboards merged with unique, valid ids", async () => {
      expect(source.length).toBeGreaterThan(2000);
      fake.setFallback((req) => {
        // Every part numbers its scenes and shots from 1, as if it were the whole story.
        const part = partOf(req);
        const shots = [shot("c1s1h1", "c1s1"), shot("c1s1h2", "c1s1"), shot("c1s2h1", "c1s2")].map((s) => ({
          ...s,
          description: `part ${part}: ${s.id}`,
        }));
        return reply.json({ shots });
      });
      const result = await text({ sourceBudget: 1000 }).generateObject({
        schema: StoryboardSchema,
        ...ask("Break the story into shots.", source),
      });
      expect(fake.requests).toHaveLength(3);
      expect(fake.requests.map(partOf)).toEqual([1, 2, 3]);
      for (const r of fake.requests) {
        const prompt = lastUser(r);
        expect(prompt.length).toBeLessThan(source.length);
        expect(prompt).toContain("Break the story into shots.");
      }
      expect(lastUser(fake.requests[1]!)).toContain("Shots so far");
      expect(lastUser(fake.requests[2]!)).toContain("c2s2h1: part 2: c1s2h1");
      const ids = result.data.shots.map((s) => s.id);
      expect(ids).toEqual(["c1s1h1", "c1s1h2", "c1s2h1", "c2s1h1", "c2s1h2", "c2s2h1", "c3s1h1", "c3s1h2", "c3s2h1"]);
      expect(new Set(ids).size).toBe(ids.length);
      for (const s of result.data.shots) expect(s.id.startsWith(`${s.sceneId}h`)).toBe(true);
      expect(() => validate(StoryboardSchema, result.data)).not.toThrow();
      expect(result.data.shots[3]!.description).toBe("part 2: c1s1h1");
      expect(result.warnings).toContain(
        `read the story (${source.length} characters) in 3 parts and merged their answers`,
      );
    });

    test("characters met again are merged by name, with the names so far in the next prompt", async () => {
      const byPart: Record<number, Character[]> = {
        1: [lin, { ...lin, name: "Wang", aliases: [], role: "minor", gender: "male", lines: 1 }],
        2: [
          { ...lin, aliases: ["Lin'er"], lines: 4, description: "" },
          { ...lin, name: "Zhao", aliases: [], role: "antagonist", gender: "male", lines: 2 },
        ],
        3: [{ ...lin, name: "Old Wang", aliases: ["Wang"], role: "supporting", gender: "unknown", lines: 5 }],
      };
      fake.setFallback((req) => reply.json({ characters: byPart[partOf(req)] }));
      const result = await text({ sourceBudget: 1000 }).generateObject({
        schema: CharactersSchema,
        ...ask("List the characters.", source),
      });
      expect(lastUser(fake.requests[1]!)).toContain("Characters found so far");
      expect(lastUser(fake.requests[2]!)).toContain("Zhao");
      const byName = Object.fromEntries(result.data.characters.map((c) => [c.name, c]));
      expect(Object.keys(byName)).toEqual(["Lin", "Wang", "Zhao"]);
      expect(byName.Lin).toMatchObject({
        aliases: ["Xiao Lin", "Lin'er"],
        lines: 7,
        description: lin.description,
        role: "protagonist",
      });
      expect(byName.Wang).toMatchObject({ aliases: ["Old Wang"], lines: 6, role: "supporting", gender: "male" });
      expect(() => validate(CharactersSchema, result.data)).not.toThrow();
    });

    test("the storyline's chapters and summaries are joined", async () => {
      fake.setFallback((req) => {
        const part = partOf(req);
        return reply.json({
          ...storyline,
          title: part === 1 ? storyline.title : `Part ${part}`,
          summary: `Summary ${part}.`,
          chapters: [{ index: 1, title: `Title ${part}`, summary: `Chapter summary ${part}.` }],
        });
      });
      const result = await text({ sourceBudget: 1000 }).generateObject({
        schema: StorylineSchema,
        ...ask("Give the storyline.", source),
      });
      expect(result.data.title).toBe(storyline.title);
      expect(result.data.summary).toBe("Summary 1. Summary 2. Summary 3.");
      expect(result.data.chapters.map((c) => [c.index, c.title])).toEqual([
        [1, "Title 1"],
        [2, "Title 2"],
        [3, "Title 3"],
      ]);
      expect(lastUser(fake.requests[2]!)).toContain("Story so far: Summary 1. Summary 2.");
    });
  });

  test("json_object mode (endpoints without json_schema): the schema goes in the system message; fenced JSON is read", async () => {
    fake.enqueue(reply.chat(`\`\`\`json\n${JSON.stringify({ characters: [lin] })}\n\`\`\``));
    const result = await text({ structuredOutputs: "json_object", model: "deepseek-chat" }).generateObject({
      schema: CharactersSchema,
      ...ask("List the characters."),
    });
    expect(result.data.characters).toEqual([lin]);
    expect(result.response.modelId).toBe("deepseek-chat");
    const r = fake.requests[0]!;
    expect(r.body.model).toBe("deepseek-chat");
    expect(r.body.response_format).toEqual({ type: "json_object" });
    expect(messagesOf(r)[0]!.content).toStartWith(SYSTEM);
    expect(messagesOf(r)[0]!.content).toContain('"$id":"inkreel.characters"');
  });

  test("a refusal is an error, not a repair", async () => {
    fake.enqueue(reply.chat(null, { refusal: "I can't help with that." }));
    const e = await rejection(text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }));
    expect(e).toMatchObject({ code: "refusal", retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  test("an aborted request rejects with the abort reason", async () => {
    const before = new AbortController();
    before.abort(new Error("cancelled by the user"));
    expect(
      await rejection(
        text().generateObject({ schema: ScenesSchema, ...ask("List the scenes."), signal: before.signal }),
      ),
    ).toHaveProperty("message", "cancelled by the user");
    expect(fake.requests).toHaveLength(0);

    const during = new AbortController();
    const answer = Promise.withResolvers<void>();
    fake.enqueue(async () => {
      // The request is in and the model at work (it answers only after the test): the job is cancelled.
      during.abort(new Error("job cancelled"));
      await answer.promise;
      return reply.json({ scenes: [] });
    });
    const started = performance.now();
    try {
      expect(
        await rejection(
          text().generateObject({ schema: ScenesSchema, ...ask("List the scenes."), signal: during.signal }),
        ),
      ).toHaveProperty("message", "job cancelled");
      expect(performance.now() - started).toBeLessThan(1_500);
    } finally {
      answer.resolve();
    }
  });
});

describe("HTTP errors and retries", () => {
  test("401: status 401, not retryable, no retry, no key in the message", async () => {
    const model = createOpenAIText({ apiKey: "sk-wrong-key-1234567890abcdef", baseUrl: fake.url, model: MODEL });
    const e = await rejection(model.generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }));
    expect(e).toBeInstanceOf(OpenAIProviderError);
    expect(e).toMatchObject({
      provider: "openai",
      model: MODEL,
      status: 401,
      code: "invalid_api_key",
      retryable: false,
    });
    const message = (e as Error).message;
    expect(message).toContain("HTTP 401");
    expect(message).toContain("Incorrect API key provided");
    expect(message).not.toContain("sk-wrong-key-1234567890abcdef");
    expect(message).not.toContain("7890abcdef");
    expect(message).not.toContain("\n    at ");
    expect(fake.requests).toHaveLength(1);
  });

  test("429 with Retry-After: 0, then 200: the SDK retries and the answer arrives", async () => {
    fake.enqueue(
      reply.error(429, "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.", {
        code: "rate_limit_exceeded",
        headers: { "retry-after": "0" },
      }),
      reply.json({ scenes: [scene("c1s1", 1)] }),
    );
    const started = performance.now();
    const result = await text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") });
    expect(result.data.scenes).toHaveLength(1);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.headers["x-stainless-retry-count"]).toBe("1");
    expect(performance.now() - started).toBeLessThan(400);
  });

  test("a persistent 503: retried maxRetries times, then a clear retryable error", async () => {
    fake.setFallback(() =>
      reply.error(503, "The server is overloaded or not ready yet.", { headers: { "retry-after": "0" } }),
    );
    const e = await rejection(
      text({ maxRetries: 2 }).generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }),
    );
    expect(e).toMatchObject({ status: 503, code: "server_error", retryable: true });
    expect((e as Error).message).toBe(
      `openai ${MODEL}: HTTP 503 server_error: The server is overloaded or not ready yet. (gave up after 3 tries)`,
    );
    expect(fake.requests).toHaveLength(3);
  });

  test("a 429 for an exhausted quota is not retryable", async () => {
    fake.setFallback(() =>
      reply.error(429, "You exceeded your current quota, please check your plan and billing details.", {
        type: "insufficient_quota",
        code: "insufficient_quota",
        headers: { "retry-after": "0" },
      }),
    );
    const e = await rejection(
      text({ maxRetries: 0 }).generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }),
    );
    expect(e).toMatchObject({ status: 429, code: "insufficient_quota", retryable: false });
  });

  test("a 400 from the endpoint is reported, not repaired", async () => {
    fake.enqueue(
      reply.error(400, "Invalid 'messages[1].content': string too long.", {
        code: "string_above_max_length",
        param: "messages[1].content",
      }),
    );
    const e = await rejection(text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }));
    expect(e).toMatchObject({ status: 400, code: "string_above_max_length", retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  test("an endpoint that cannot be reached: a retryable connection error", async () => {
    // A port that was just free: nothing listens there.
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const port = closed.port;
    await closed.stop(true);
    const model = createOpenAIText({
      apiKey: fake.apiKey,
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: MODEL,
      maxRetries: 0,
    });
    const e = await rejection(model.generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }));
    expect(e).toMatchObject({ code: "connection_error", retryable: true, status: undefined });
  });
});

describe("streamed text", () => {
  const collect = async (stream: AsyncIterable<string>) => {
    const out: string[] = [];
    for await (const chunk of stream) out.push(chunk);
    return out;
  };

  test("yields the deltas as they arrive, ends at [DONE], and resolves the reported usage", async () => {
    const deltas = ["Once", " upon", " a time,", " 雨夜", "茶馆", "."];
    fake.enqueue(reply.stream(deltas, { usage: { prompt_tokens: 21, completion_tokens: 9 } }));
    const { textStream, usage } = text().streamText({ system: "You tell stories.", prompt: "Tell one." });
    expect(await collect(textStream)).toEqual(deltas);
    expect(await usage).toEqual({ inputTokens: 21, outputTokens: 9 });
    const r = fake.requests[0]!;
    expect(r.body).toMatchObject({ model: MODEL, stream: true, stream_options: { include_usage: true } });
    expect(r.body.response_format).toBeUndefined();
    expect(messagesOf(r)).toEqual([
      { role: "system", content: "You tell stories." },
      { role: "user", content: "Tell one." },
    ]);
  });

  test("chunks arrive one at a time, not all at the end", async () => {
    fake.enqueue(reply.stream(["a", "b", "c"], { delayMs: 40 }));
    const times: number[] = [];
    for await (const _ of text().streamText({ system: "s", prompt: "p" }).textStream) times.push(performance.now());
    expect(times).toHaveLength(3);
    expect(times[2]! - times[0]!).toBeGreaterThan(50);
  });

  test("an abort stops the stream with the abort reason; usage still settles", async () => {
    fake.enqueue(reply.stream(["Hello", ", world"], { holdOpen: true }));
    const controller = new AbortController();
    const { textStream, usage } = text().streamText({ system: "s", prompt: "p", signal: controller.signal });
    const got: string[] = [];
    const e = await rejection(
      (async () => {
        for await (const chunk of textStream) {
          got.push(chunk);
          if (got.length === 2) controller.abort(new Error("user stopped"));
        }
      })(),
    );
    expect(e).toHaveProperty("message", "user stopped");
    expect(got).toEqual(["Hello", ", world"]);
    expect((await usage).outputTokens).toBe(Math.ceil("Hello, world".length / 4));
  });

  test("breaking out early closes the request", async () => {
    fake.enqueue(reply.stream(["one", "two", "three"], { holdOpen: true }));
    const { textStream, usage } = text().streamText({ system: "s", prompt: "p" });
    for await (const chunk of textStream) if (chunk === "one") break;
    expect((await usage).outputTokens).toBe(1);
  });

  test("an HTTP error surfaces from the stream as OpenAIProviderError; an error event too", async () => {
    const bad = createOpenAIText({ apiKey: "sk-nope-000000000000", baseUrl: fake.url, model: MODEL });
    const { textStream, usage } = bad.streamText({ system: "s", prompt: "p" });
    expect(await rejection(collect(textStream))).toMatchObject({ status: 401, retryable: false });
    expect(await usage).toEqual({ inputTokens: 1, outputTokens: 0 });

    fake.enqueue(
      reply.stream(["partial"], {
        errorEvent: {
          message: "The server had an error while processing your request.",
          type: "server_error",
          code: null,
        },
      }),
    );
    const e = await rejection(collect(text().streamText({ system: "s", prompt: "p" }).textStream));
    expect(e).toBeInstanceOf(OpenAIProviderError);
    expect((e as Error).message).toContain("The server had an error");
  });
});

describe("images", () => {
  const image = (o: { model?: string } = {}) => createOpenAIImage({ apiKey: fake.apiKey, baseUrl: fake.url, ...o });
  const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

  test("generate: nearest supported size, b64_json decoded to PNG bytes", async () => {
    fake.enqueue(reply.image());
    const result = await image().generate({
      prompt: "A teahouse in the rain, ink wash",
      width: 1280,
      height: 720,
      seed: 3,
    });
    expect([...result.data.bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    expect(result.data).toMatchObject({ mimeType: "image/png", width: 1536, height: 1024 });
    expect(result.usage).toEqual({ images: 1 });
    expect(result.response).toMatchObject({ provider: "openai", modelId: "gpt-image-1" });
    expect(result.warnings).toContain("gpt-image-1 does not draw 1280x720; drew 1536x1024, the nearest size it offers");
    const r = fake.requests[0]!;
    expect(r.path).toBe("/v1/images/generations");
    expect(r.body).toEqual({
      model: "gpt-image-1",
      prompt: "A teahouse in the rain, ink wash",
      n: 1,
      size: "1536x1024",
      output_format: "png",
    });
  });

  test("generate: an exact size gives no size warning; portrait maps to 1024x1536", async () => {
    fake.enqueue(reply.image(), reply.image());
    const square = await image().generate({ prompt: "p", width: 1024, height: 1024 });
    expect(square.warnings).toEqual([]);
    expect(square.data).toMatchObject({ width: 1024, height: 1024 });
    const portrait = await image().generate({ prompt: "p", width: 720, height: 1280 });
    expect(fake.requests[1]!.body.size).toBe("1024x1536");
    expect(portrait.data).toMatchObject({ width: 1024, height: 1536 });
  });

  test("edit: reference images go as multipart image[] parts, labels in the prompt", async () => {
    const sheet = makePng(64, 96);
    const second = makePng(32, 32);
    fake.enqueue(reply.image());
    const result = await image().generate({
      prompt: "Lin pours tea",
      width: 1024,
      height: 1024,
      references: [
        { bytes: sheet, mimeType: "image/png", label: "Lin" },
        { bytes: second, mimeType: "image/png", label: "Old Wang" },
      ],
    });
    expect([...result.data.bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    const r = fake.requests[0]!;
    expect(r.path).toBe("/v1/images/edits");
    expect(r.headers["content-type"]).toStartWith("multipart/form-data; boundary=");
    expect(r.body).toEqual({
      model: "gpt-image-1",
      // Multipart form encoding sends line breaks as CRLF (the fetch spec; undici does the same).
      prompt: "Lin pours tea\r\n\r\nReference images (keep these consistent): image 1: Lin; image 2: Old Wang.",
      n: "1",
      size: "1024x1024",
      output_format: "png",
    });
    expect(r.files.map((f) => [f.field, f.filename, f.type])).toEqual([
      ["image[]", "reference-1.png", "image/png"],
      ["image[]", "reference-2.png", "image/png"],
    ]);
    expect(r.files[0]!.bytes).toEqual(sheet);
    expect(r.files[1]!.bytes).toEqual(second);
  });

  test("dall-e-3: asks for b64_json and maps to its own sizes", async () => {
    fake.enqueue(reply.image());
    const result = await image({ model: "dall-e-3" }).generate({ prompt: "p", width: 1920, height: 1080 });
    expect(fake.requests[0]!.body).toMatchObject({ model: "dall-e-3", size: "1792x1024", response_format: "b64_json" });
    expect(fake.requests[0]!.body.output_format).toBeUndefined();
    expect(result.data).toMatchObject({ width: 1792, height: 1024 });
  });

  test("a moderation refusal (400) is an error with its code", async () => {
    fake.enqueue(
      reply.error(400, "Your request was rejected as a result of our safety system.", { code: "moderation_blocked" }),
    );
    const e = await rejection(image().generate({ prompt: "p", width: 1024, height: 1024 }));
    expect(e).toMatchObject({ status: 400, code: "moderation_blocked", retryable: false, model: "gpt-image-1" });
  });

  test("an answer that is not an image is an error", async () => {
    fake.enqueue(reply.image(new TextEncoder().encode("not an image")));
    expect(await rejection(image().generate({ prompt: "p", width: 1024, height: 1024 }))).toMatchObject({
      code: "bad_image",
    });
  });
});

describe("helpers", () => {
  test("nearestSize prefers the aspect ratio, then the area", () => {
    const gpt = sizesFor("gpt-image-1");
    expect(nearestSize(1280, 720, gpt)).toEqual({ size: "1536x1024", width: 1536, height: 1024, exact: false });
    expect(nearestSize(720, 1280, gpt).size).toBe("1024x1536");
    expect(nearestSize(1000, 1000, gpt)).toMatchObject({ size: "1024x1024", exact: false });
    expect(nearestSize(1024, 1024, gpt).exact).toBe(true);
    expect(nearestSize(512, 512, sizesFor("dall-e-2"))).toMatchObject({ size: "512x512", exact: true });
    expect(() => nearestSize(0, 10, gpt)).toThrow(RangeError);
  });

  test("splitSource cuts at chapters, then paragraphs, within the budget, losing nothing", () => {
    const source = `第一章 雨夜\n${"老王推开茶馆的门。".repeat(150)}\n\n第二章 来客\n${"他坐下了。\n".repeat(40)}\n第三章 别\n短短一章。`;
    const parts = splitSource(source, 1000);
    for (const p of parts) expect(p.text.length).toBeLessThanOrEqual(1000);
    // Chapter 1 is cut at a sentence end; its rest and the short chapters 2 and 3 fill one part.
    expect(parts.map((p) => [p.firstChapter, p.lastChapter])).toEqual([
      [1, 1],
      [1, 3],
    ]);
    expect(parts[0]!.text).toEndWith("。");
    expect(splitSource(source, 400).map((p) => [p.firstChapter, p.lastChapter])).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
      [1, 1],
      [2, 3],
    ]);
    expect(
      parts
        .map((p) => p.text)
        .join("")
        .replace(/\n/g, ""),
    ).toBe(source.replace(/\n/g, ""));
    expect(cutText("abc", 10)).toEqual(["abc"]);
    expect(cutText("a".repeat(25), 10)).toEqual(["a".repeat(10), "a".repeat(10), "a".repeat(5)]);
  });
});
