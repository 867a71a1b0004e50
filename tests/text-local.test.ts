import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Type } from "@sinclair/typebox";
import { analyseStory } from "../src/providers/local/analyser/index.ts";
import { createLocalText, localReply } from "../src/providers/local/text.ts";
import { CharactersSchema, ScenesSchema, StoryboardSchema, StorylineSchema } from "../src/story/schemas.ts";

const model = createLocalText();
const source = await Bun.file(join(import.meta.dir, "fixtures", "stories", "en-lighthouse.txt")).text();
const zhSource = await Bun.file(join(import.meta.dir, "fixtures", "stories", "zh-curly.txt")).text();
const ask = { system: "You analyse stories.", prompt: "Analyse this story." };

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const chunks: string[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

describe("local text model: generateObject", () => {
  const expected = analyseStory(source);

  test("answers each story-analysis schema with the analyser's part, validated", async () => {
    expect(model).toMatchObject({ provider: "local", modelId: "inkreel-analyser-1" });
    const storyline = await model.generateObject({ ...ask, schema: StorylineSchema, source });
    expect(storyline.data).toEqual(expected.storyline);
    expect(storyline.response).toMatchObject({ provider: "local", modelId: "inkreel-analyser-1" });
    expect(storyline.response.timestamp).toBeInstanceOf(Date);
    expect((await model.generateObject({ ...ask, schema: CharactersSchema, source })).data).toEqual({
      characters: expected.characters,
    });
    expect((await model.generateObject({ ...ask, schema: ScenesSchema, source })).data).toEqual({
      scenes: expected.scenes,
    });
    const board = await model.generateObject({ ...ask, schema: StoryboardSchema, source });
    expect(board.data).toEqual({ shots: expected.shots });
    expect(board.usage).toEqual({
      inputTokens: Math.ceil(source.length / 4),
      outputTokens: Math.ceil(JSON.stringify(board.data).length / 4),
    });
    expect(board.warnings.length).toBe(1);
  });

  test("answers are copies: changing one does not change the next", async () => {
    const first = await model.generateObject({ ...ask, schema: CharactersSchema, source: zhSource });
    first.data.characters[0]!.name = "changed";
    const second = await model.generateObject({ ...ask, schema: CharactersSchema, source: zhSource });
    expect(second.data.characters[0]!.name).toBe("赵大海");
  });

  test("an unknown schema, a missing source, a too-short story and an aborted signal are refused", async () => {
    const other = Type.Object({ answer: Type.String() }, { $id: "inkreel.other" });
    expect(model.generateObject({ ...ask, schema: other, source })).rejects.toThrow(/story-analysis schemas only/);
    expect(model.generateObject({ ...ask, schema: Type.Object({}), source })).rejects.toThrow(
      /story-analysis schemas only/,
    );
    expect(model.generateObject({ ...ask, schema: StorylineSchema })).rejects.toThrow(RangeError);
    expect(model.generateObject({ ...ask, schema: StorylineSchema, source: "too short" })).rejects.toThrow(RangeError);
    const controller = new AbortController();
    controller.abort(new Error("stopped by the user"));
    expect(
      model.generateObject({ ...ask, schema: StorylineSchema, source, signal: controller.signal }),
    ).rejects.toThrow("stopped by the user");
  });
});

describe("local text model: streamText", () => {
  test("English: an honest reply, word by word, that summarises the story; usage at the end", async () => {
    const { textStream, usage } = model.streamText({ system: "", prompt: source });
    const chunks = await collect(textStream);
    const reply = chunks.join("");
    expect(reply).toBe(localReply(source));
    expect(chunks.length).toBeGreaterThan(20);
    expect(chunks.every((c) => c.trim().split(/\s+/).length === 1)).toBe(true);
    expect(reply).toStartWith("This is the local offline model (inkreel-analyser-1)");
    expect(reply).toContain(
      'Story "The Lighthouse Keeper": Anna Grey climbed the narrow stairs of the old lighthouse.',
    );
    expect(reply).toContain("2 chapters, 3 scenes and 12 shots; main characters: Anna Grey, Tom, Mr. Hale");
    expect(await usage).toEqual({
      inputTokens: Math.ceil(source.length / 4),
      outputTokens: Math.ceil(reply.length / 4),
    });
  });

  test("Chinese: clause by clause", async () => {
    const { textStream, usage } = model.streamText({ system: "", prompt: zhSource });
    const chunks = await collect(textStream);
    const reply = chunks.join("");
    expect(reply).toStartWith("这是本地离线模型（inkreel-analyser-1）的回答");
    expect(reply).toContain("故事《厨房里的秘密》");
    expect(reply).toContain("主要人物：赵大海、张伟、李娜");
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks.slice(0, -1)) expect(c).toMatch(/[，。！？；：、]$/);
    expect((await usage).outputTokens).toBe(Math.ceil(reply.length / 4));
  });

  test("a prompt that is not a story: says it can only summarise stories", async () => {
    const reply = (await collect(model.streamText({ system: "", prompt: "Hello, who are you?" }).textStream)).join("");
    expect(reply).toContain("can only summarise a story");
    expect(reply).toBe(localReply("Hello, who are you?"));
  });

  test("an aborted signal stops the stream; usage still resolves", async () => {
    const controller = new AbortController();
    const { textStream, usage } = model.streamText({ system: "", prompt: source, signal: controller.signal });
    const seen: string[] = [];
    const run = (async () => {
      for await (const c of textStream) {
        seen.push(c);
        if (seen.length === 3) controller.abort(new Error("cancelled"));
      }
    })();
    expect(run).rejects.toThrow("cancelled");
    await run.catch(() => {});
    expect(seen.length).toBe(3);
    expect((await usage).outputTokens).toBe(Math.ceil(seen.join("").length / 4));
  });
});
