// The OpenAI text provider on the Responses API (`api: "responses"`, POST /v1/responses) through
// the real SDK against the local fake (tests/support/fake-openai.ts): the wire shape, structured
// answers and their repairs (the same loop as Chat Completions), refusals, streamed text, and
// HTTP errors and retries. The fake's own Responses wire format is checked at the end.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createClient } from "../src/providers/openai/client.ts";
import { createOpenAIText, OpenAIProviderError, type OpenAITextOptions } from "../src/providers/openai/index.ts";
import { CharactersSchema, ScenesSchema, StorylineSchema } from "../src/story/schemas.ts";
import { type FakeOpenAI, type RecordedRequest, reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { rejection } from "./support/rejection.ts";
import { ask, lin, STORY, SYSTEM, scene, storyline } from "./support/story-fixtures.ts";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const MODEL = "gpt-4o-mini";
const text = (o: Partial<OpenAITextOptions> = {}) =>
  createOpenAIText({ apiKey: fake.apiKey, baseUrl: fake.url, model: MODEL, api: "responses", ...o });

type Item = { role: string; content: string };
const inputOf = (r: RecordedRequest) => r.body.input as Item[];
const lastUser = (r: RecordedRequest) =>
  inputOf(r)
    .filter((m) => m.role === "user")
    .at(-1)!.content;

const collect = async (stream: AsyncIterable<string>) => {
  const out: string[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
};

describe("structured answers over the Responses API", () => {
  test("a strict json_schema text.format request; the answer validated, usage from input/output tokens", async () => {
    fake.enqueue(reply.json(storyline, { usage: { prompt_tokens: 120, completion_tokens: 45 } }));
    const result = await text().generateObject({ schema: StorylineSchema, ...ask("Give the storyline.") });
    expect(result.data).toEqual(storyline as typeof result.data);
    expect(result.warnings).toEqual([]);
    expect(result.usage).toEqual({ inputTokens: 120, outputTokens: 45 });
    expect(result.response).toMatchObject({ provider: "openai", modelId: MODEL });
    expect(result.response.id).toStartWith("resp_");

    expect(fake.requests).toHaveLength(1);
    const r = fake.requests[0]!;
    expect(r.method).toBe("POST");
    expect(r.path).toBe("/v1/responses");
    expect(r.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
    expect(r.body.model).toBe(MODEL);
    expect(r.body.instructions).toBe(SYSTEM);
    expect(inputOf(r)).toEqual([{ role: "user", content: `Give the storyline.\n\nStory:\n${STORY}` }]);
    expect(r.body.text).toEqual({
      format: {
        type: "json_schema",
        name: "inkreel_storyline",
        strict: true,
        schema: JSON.parse(JSON.stringify(StorylineSchema)),
      },
    });
    expect(r.body.store).toBe(false);
    expect(r.body.stream).toBeUndefined();
    // Nothing of Chat Completions' shape.
    for (const key of ["messages", "response_format", "max_tokens", "max_completion_tokens", "seed", "stream_options"])
      expect(r.body[key]).toBeUndefined();
  });

  test("maxOutputTokens goes as max_output_tokens; a seed is not sent, and says so", async () => {
    fake.enqueue(reply.json({ characters: [lin] }));
    const result = await text({ maxOutputTokens: 4000 }).generateObject({
      schema: CharactersSchema,
      ...ask("List the characters."),
      seed: 7,
    });
    expect(result.data.characters).toEqual([lin]);
    expect(result.warnings).toEqual(["the responses API takes no seed: it was not sent"]);
    const r = fake.requests[0]!;
    expect(r.body.max_output_tokens).toBe(4000);
    expect(r.body.seed).toBeUndefined();
  });

  test('an incomplete answer (status "incomplete", max_output_tokens), then a complete one: asked again for a shorter one', async () => {
    fake.enqueue(
      reply.chat('{"characters": [{"name": "Lin", "aliases": [', {
        finishReason: "length",
        usage: { prompt_tokens: 100, completion_tokens: 16 },
      }),
      reply.json({ characters: [lin] }, { usage: { prompt_tokens: 130, completion_tokens: 60 } }),
    );
    const result = await text().generateObject({ schema: CharactersSchema, ...ask("List the characters.") });
    expect(result.data.characters).toEqual([lin]);
    expect(result.warnings.some((w) => w.includes("cut off at the output limit once"))).toBe(true);
    expect(result.usage).toEqual({ inputTokens: 230, outputTokens: 76 });
    expect(fake.requests).toHaveLength(2);
    const second = inputOf(fake.requests[1]!);
    // The cut-off answer is not echoed; a shorter answer is asked for, with the same instructions and format.
    expect(second.map((m) => m.role)).toEqual(["user", "user"]);
    expect(second[0]).toEqual(inputOf(fake.requests[0]!)[0]!);
    expect(second[1]!.content).toContain("cut off at the output limit");
    expect(second[1]!.content).toContain("more briefly");
    expect(fake.requests[1]!.body.instructions).toBe(SYSTEM);
    expect(fake.requests[1]!.body.text.format.strict).toBe(true);
  });

  test("invalid JSON, then a valid answer: repaired with the parse error fed back as an assistant and a user item", async () => {
    const bad = '{"title": "Rain at the Teahouse", "logline": ';
    fake.enqueue(reply.chat(bad), reply.json(storyline));
    const result = await text().generateObject({ schema: StorylineSchema, ...ask("Give the storyline.") });
    expect(result.data).toEqual(storyline as typeof result.data);
    expect(result.warnings).toContain("repaired after 1 invalid answer");
    const second = inputOf(fake.requests[1]!);
    expect(second[0]).toEqual(inputOf(fake.requests[0]!)[0]!);
    expect(second[1]).toEqual({ role: "assistant", content: bad });
    expect(second[2]!.role).toBe("user");
    expect(second[2]!.content).toContain("could not be parsed");
    expect(second[2]!.content).toContain("not valid JSON");
  });

  test("an answer that breaks the schema is repaired the same way; no valid answer within maxAttempts is invalid_output", async () => {
    fake.enqueue(
      reply.json({ scenes: [{ ...scene("c1s1", 1), mood: "angry" }] }),
      reply.json({ scenes: [scene("c1s1", 1)] }),
    );
    const repaired = await text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") });
    expect(repaired.data.scenes.map((s) => s.id)).toEqual(["c1s1"]);
    expect(lastUser(fake.requests[1]!)).toContain("/scenes/0/mood");

    fake.reset();
    fake.enqueue(reply.chat("nope"), reply.chat("still not json"));
    const e = await rejection(
      text({ maxAttempts: 2 }).generateObject({ schema: CharactersSchema, ...ask("List the characters.") }),
    );
    expect(e).toBeInstanceOf(OpenAIProviderError);
    expect(e).toMatchObject({ code: "invalid_output", retryable: false, status: undefined });
    expect((e as Error).message).toContain("after 2 attempts");
    expect(fake.requests).toHaveLength(2);
  });

  test("a truncation that persists: the story is read in parts, as on Chat Completions", async () => {
    const chapter1 = `Chapter 1\n\n${"Lin opened the teahouse before dawn. ".repeat(25)}`;
    const chapter2 = `Chapter 2\n\n${"The stranger came back in the rains. ".repeat(25)}`;
    fake.enqueue(
      reply.chat('{"scenes": [', { finishReason: "length" }),
      reply.chat('{"scenes": [{"id"', { finishReason: "length" }),
    );
    fake.setFallback((req) =>
      reply.json({
        scenes: [
          scene("c1s1", 1, lastUser(req).includes("stranger came back") ? "The stranger returns." : "Lin opens up."),
        ],
      }),
    );
    const result = await text().generateObject({
      schema: ScenesSchema,
      ...ask("List the scenes.", `${chapter1}\n\n${chapter2}`),
    });
    expect(fake.requests).toHaveLength(4);
    expect(fake.requests.every((r) => r.path === "/v1/responses")).toBe(true);
    expect(lastUser(fake.requests[3]!)).toContain("This is part 2");
    expect(result.data.scenes.map((s) => [s.id, s.chapter])).toEqual([
      ["c1s1", 1],
      ["c2s1", 2],
    ]);
  });

  test("a refusal part is OpenAIProviderError refusal, not retryable and not repaired", async () => {
    fake.enqueue(reply.chat(null, { refusal: "I can't help with that." }));
    const e = await rejection(text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }));
    expect(e).toBeInstanceOf(OpenAIProviderError);
    expect(e).toMatchObject({ provider: "openai", model: MODEL, code: "refusal", retryable: false });
    expect((e as Error).message).toContain("refused to answer: I can't help with that.");
    expect(fake.requests).toHaveLength(1);
  });

  test("an incomplete answer for the content filter is a content_filter error", async () => {
    fake.enqueue(reply.chat('{"scenes": [', { finishReason: "content_filter" }));
    const e = await rejection(text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }));
    expect(e).toMatchObject({ code: "content_filter", retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  test("json_object mode: text.format json_object, the schema in the instructions", async () => {
    fake.enqueue(reply.json({ characters: [lin] }));
    const result = await text({ structuredOutputs: "json_object" }).generateObject({
      schema: CharactersSchema,
      ...ask("List the characters."),
    });
    expect(result.data.characters).toEqual([lin]);
    const r = fake.requests[0]!;
    expect(r.body.text).toEqual({ format: { type: "json_object" } });
    expect(r.body.instructions).toStartWith(SYSTEM);
    expect(r.body.instructions).toContain('"$id":"inkreel.characters"');
  });

  test("an unknown api is refused when the model is made", () => {
    expect(() =>
      createOpenAIText({ apiKey: fake.apiKey, baseUrl: fake.url, model: MODEL, api: "assistants" as never }),
    ).toThrow(RangeError);
  });
});

describe("streamed text over the Responses API", () => {
  test("yields the output_text deltas and resolves the usage of response.completed", async () => {
    const deltas = ["Once", " upon", " a time,", " 雨夜", "茶馆", "."];
    fake.enqueue(reply.stream(deltas, { usage: { prompt_tokens: 21, completion_tokens: 9 } }));
    const { textStream, usage } = text().streamText({ system: "You tell stories.", prompt: "Tell one." });
    expect(await collect(textStream)).toEqual(deltas);
    expect(await usage).toEqual({ inputTokens: 21, outputTokens: 9 });
    const r = fake.requests[0]!;
    expect(r.path).toBe("/v1/responses");
    expect(r.body).toMatchObject({
      model: MODEL,
      stream: true,
      store: false,
      instructions: "You tell stories.",
      input: [{ role: "user", content: "Tell one." }],
    });
    expect(r.body.stream_options).toBeUndefined();
    expect(r.body.text).toBeUndefined();
  });

  test("chunks arrive one at a time; a stream cut off at the limit still reports its usage (response.incomplete)", async () => {
    fake.enqueue(
      reply.stream(["a", "b", "c"], {
        delayMs: 40,
        finishReason: "length",
        usage: { prompt_tokens: 5, completion_tokens: 3 },
      }),
    );
    const { textStream, usage } = text().streamText({ system: "s", prompt: "p" });
    const times: number[] = [];
    for await (const _ of textStream) times.push(performance.now());
    expect(times).toHaveLength(3);
    expect(times[2]! - times[0]!).toBeGreaterThan(50);
    expect(await usage).toEqual({ inputTokens: 5, outputTokens: 3 });
  });

  test("an error event and a response.failed event surface as OpenAIProviderError", async () => {
    fake.enqueue(
      reply.stream(["partial"], {
        errorEvent: {
          message: "The server had an error while processing your request.",
          type: "server_error",
          code: "server_error",
        },
      }),
    );
    const got: string[] = [];
    const e = await rejection(
      (async () => {
        for await (const chunk of text().streamText({ system: "s", prompt: "p" }).textStream) got.push(chunk);
      })(),
    );
    expect(got).toEqual(["partial"]);
    expect(e).toBeInstanceOf(OpenAIProviderError);
    expect(e).toMatchObject({ code: "server_error", retryable: true, model: MODEL });
    expect((e as Error).message).toBe(`openai ${MODEL}: The server had an error while processing your request.`);

    fake.enqueue(
      reply.stream(["partial"], {
        errorAs: "response.failed",
        errorEvent: {
          message: "Rate limit reached while generating.",
          type: "rate_limit_exceeded",
          code: "rate_limit_exceeded",
        },
      }),
    );
    const { textStream, usage } = text().streamText({ system: "s", prompt: "p" });
    const failed = await rejection(collect(textStream));
    expect(failed).toBeInstanceOf(OpenAIProviderError);
    expect(failed).toMatchObject({ code: "rate_limit_exceeded", retryable: true });
    expect((failed as Error).message).toContain("Rate limit reached while generating.");
    expect((await usage).outputTokens).toBe(Math.ceil("partial".length / 4));
  });

  test("an HTTP error surfaces from the stream with its status; breaking out early closes the request", async () => {
    const bad = createOpenAIText({ apiKey: "sk-nope-000000000000", baseUrl: fake.url, model: MODEL, api: "responses" });
    expect(await rejection(collect(bad.streamText({ system: "s", prompt: "p" }).textStream))).toMatchObject({
      status: 401,
      code: "invalid_api_key",
      retryable: false,
    });

    fake.enqueue(reply.stream(["one", "two", "three"], { holdOpen: true }));
    const { textStream, usage } = text().streamText({ system: "s", prompt: "p" });
    const started = performance.now();
    for await (const chunk of textStream) if (chunk === "one") break;
    expect((await usage).outputTokens).toBe(1);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  test("an abort stops the stream with the abort reason", async () => {
    fake.enqueue(reply.stream(["Hello", ", world"], { holdOpen: true }));
    const controller = new AbortController();
    const { textStream } = text().streamText({ system: "s", prompt: "p", signal: controller.signal });
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
  });
});

describe("HTTP errors and retries over the Responses API", () => {
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
    expect(fake.requests.map((r) => r.path)).toEqual(["/v1/responses", "/v1/responses"]);
    expect(fake.requests[1]!.headers["x-stainless-retry-count"]).toBe("1");
    expect(performance.now() - started).toBeLessThan(400);
  });

  test("a 500 error body: OpenAIProviderError with the status, code and message, retried maxRetries times", async () => {
    fake.setFallback(() =>
      reply.error(500, "The server had an error while processing your request. Sorry about that!", {
        headers: { "retry-after": "0" },
      }),
    );
    const e = await rejection(
      text({ maxRetries: 1 }).generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }),
    );
    expect(e).toBeInstanceOf(OpenAIProviderError);
    expect(e).toMatchObject({ provider: "openai", model: MODEL, status: 500, code: "server_error", retryable: true });
    expect((e as OpenAIProviderError).requestId).toStartWith("req_fake_");
    expect((e as Error).message).toBe(
      `openai ${MODEL}: HTTP 500 server_error: The server had an error while processing your request. Sorry about that! (gave up after 2 tries)`,
    );
    expect(fake.requests).toHaveLength(2);
  });

  test("a 400 is reported, not repaired; a wrong key is a 401 without the key in the message", async () => {
    fake.enqueue(
      reply.error(400, "Invalid 'input[0].content': string too long.", {
        code: "string_above_max_length",
        param: "input[0].content",
      }),
    );
    expect(await rejection(text().generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }))).toMatchObject({
      status: 400,
      code: "string_above_max_length",
      retryable: false,
    });
    expect(fake.requests).toHaveLength(1);

    const wrong = createOpenAIText({
      apiKey: "sk-wrong-key-1234567890abcdef",
      baseUrl: fake.url,
      model: MODEL,
      api: "responses",
    });
    const e = await rejection(wrong.generateObject({ schema: ScenesSchema, ...ask("List the scenes.") }));
    expect(e).toMatchObject({ status: 401, code: "invalid_api_key", retryable: false });
    expect((e as Error).message).not.toContain("7890abcdef");
  });
});

describe("the fake's /v1/responses", () => {
  const client = () => createClient({ apiKey: fake.apiKey, baseUrl: fake.url, maxRetries: 0 });
  const loose = { type: "object", properties: { a: { type: "string" } } };

  test("rejects a strict schema that is not strict-ready, and Chat Completions parameters, as the API does", async () => {
    const e = await rejection(
      client().responses.create({
        model: MODEL,
        input: "hi",
        text: { format: { type: "json_schema", name: "answer", strict: true, schema: loose } },
      }),
    );
    expect(e).toMatchObject({ status: 400, code: "invalid_json_schema", param: "text.format.schema" });
    expect((e as Error).message).toContain("Invalid schema for response_format 'answer'");
    expect((e as Error).message).toContain("'additionalProperties' is required to be supplied and to be false");
    // Not strict: accepted.
    fake.enqueue(reply.chat('{"a":"b"}'));
    const ok = await client().responses.create({
      model: MODEL,
      input: "hi",
      text: { format: { type: "json_schema", name: "answer", strict: false, schema: loose } },
    });
    expect(ok.output_text).toBe('{"a":"b"}');

    const moved = await rejection(
      client().responses.create({ model: MODEL, input: "hi", response_format: { type: "json_object" } } as never),
    );
    expect(moved).toMatchObject({ status: 400, code: "unsupported_parameter", param: "response_format" });
    const noName = await rejection(
      client().responses.create({
        model: MODEL,
        input: "hi",
        text: { format: { type: "json_schema", schema: loose } },
      } as never),
    );
    expect(noName).toMatchObject({ status: 400, code: "missing_required_parameter", param: "text.format.name" });
  });

  test("answers a truncated ChatReply as an incomplete response, and a refusal as a refusal part", async () => {
    fake.enqueue(reply.chat('{"a": "b', { finishReason: "length" }), reply.chat(null, { refusal: "No." }));
    const cut = await client().responses.create({ model: MODEL, input: [{ role: "user", content: "hi" }] });
    expect(cut).toMatchObject({
      object: "response",
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      model: MODEL,
    });
    expect(cut.output_text).toBe('{"a": "b');
    expect(cut.usage).toMatchObject({ input_tokens: 1, output_tokens: 2, total_tokens: 3 });
    const refused = await client().responses.create({ model: MODEL, input: "hi" });
    expect(refused.status).toBe("completed");
    expect(refused.output[0]).toMatchObject({
      type: "message",
      role: "assistant",
      content: [{ type: "refusal", refusal: "No." }],
    });
  });

  test("streams named SSE events with sequence numbers, from response.created to response.completed, without [DONE]", async () => {
    fake.enqueue(reply.stream(["Hi", " there"]));
    const res = await fetch(`${fake.url}/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${fake.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, input: "hi", stream: true }),
    });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const raw = await res.text();
    expect(raw).not.toContain("[DONE]");
    const events = raw
      .trim()
      .split("\n\n")
      .map((block) => {
        const [eventLine, dataLine] = block.split("\n");
        return { event: eventLine!.replace(/^event: /, ""), data: JSON.parse(dataLine!.replace(/^data: /, "")) };
      });
    for (const e of events) expect(e.data.type).toBe(e.event);
    expect(events.map((e) => e.data.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.map((e) => e.event)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events[0]!.data.response).toMatchObject({ status: "in_progress", usage: null });
    expect(events.at(-1)!.data.response).toMatchObject({
      status: "completed",
      output: [{ type: "message", content: [{ type: "output_text", text: "Hi there" }] }],
    });
    expect(events.at(-1)!.data.response.usage.output_tokens).toBeGreaterThan(0);
  });
});
