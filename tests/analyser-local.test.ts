import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { paragraphs, splitChapters, splitScenes } from "../src/providers/local/analyser/chapters.ts";
import { analyseChapters, analyseStory } from "../src/providers/local/analyser/index.ts";
import {
  CharactersSchema,
  ScenesSchema,
  type StoryAnalysis,
  StoryboardSchema,
  StorylineSchema,
  validate,
} from "../src/story/schemas.ts";
import { shotDurationS } from "../src/story/timing.ts";

const FIXTURES = join(import.meta.dir, "fixtures", "stories");
const story = (name: string) => Bun.file(join(FIXTURES, `${name}.txt`)).text();

const speakers = (a: StoryAnalysis) => a.shots.flatMap((s) => s.dialogue.map((d) => d.speaker));
/** The speaker of the dialogue line with this exact text. */
const whoSaid = (a: StoryAnalysis, text: string) =>
  a.shots.flatMap((s) => s.dialogue).find((d) => d.text === text)?.speaker;
const cast = (a: StoryAnalysis) =>
  a.characters.map((c) => ({ name: c.name, aliases: c.aliases, role: c.role, gender: c.gender, lines: c.lines }));

/** Schema validity plus the invariants the schemas cannot express. */
function expectSound(a: StoryAnalysis) {
  validate(StorylineSchema, a.storyline);
  validate(CharactersSchema, { characters: a.characters });
  validate(ScenesSchema, { scenes: a.scenes });
  validate(StoryboardSchema, { shots: a.shots });
  const sceneIds = a.scenes.map((s) => s.id);
  expect(new Set(sceneIds).size).toBe(sceneIds.length);
  expect(new Set(a.shots.map((s) => s.id)).size).toBe(a.shots.length);
  const names = new Set(a.characters.map((c) => c.name));
  expect(names.size).toBe(a.characters.length);
  for (const n of ["他", "她", "他们", "he", "she", "He", "She", "The"]) expect(names.has(n)).toBe(false);
  for (const scene of a.scenes) {
    expect(scene.id.startsWith(`c${scene.chapter}s`)).toBe(true);
    expect(new Set(scene.characters).size).toBe(scene.characters.length);
    for (const c of scene.characters) expect(names.has(c)).toBe(true);
  }
  let previousScene = "";
  for (const shot of a.shots) {
    expect(sceneIds).toContain(shot.sceneId);
    expect(shot.id.startsWith(`${shot.sceneId}h`)).toBe(true);
    expect(shot.durationS).toBe(shotDurationS([shot.narration, ...shot.dialogue.map((d) => d.text)]));
    expect(shot.transition).toBe(
      shot.sceneId === previousScene ? "cut" : shot.sceneId.endsWith("s1") ? "fade" : "dissolve",
    );
    if (shot.sceneId !== previousScene) expect(["wide", "aerial"]).toContain(shot.camera);
    previousScene = shot.sceneId;
    expect(new Set(shot.characters).size).toBe(shot.characters.length);
    for (const d of shot.dialogue) expect(d.text).not.toMatch(/^[「『“"']|[」』”"]$/);
  }
  // Every chapter contributes scenes, in order.
  expect([...new Set(a.scenes.map((s) => s.chapter))]).toEqual(a.storyline.chapters.map((c) => c.index));
}

describe("local analyser: a Chinese story with 「」 quotes", async () => {
  const text = await story("zh-brackets");
  const a = analyseStory(text);

  test("storyline: own title, language, three chapters", () => {
    expectSound(a);
    expect(a.storyline).toMatchObject({ title: "雨夜的车站", language: "zh", genre: "生活" });
    expect(a.storyline.chapters.map((c) => [c.index, c.title])).toEqual([
      [1, "第一章 雨夜"],
      [2, "第二章 清晨"],
      [3, "第三章 小镇"],
    ]);
    expect(a.storyline.chapters[1]!.summary).toBe("第二天清晨，雨停了。阳光照在湿漉漉的站台上，远处传来鸟叫声。");
    expect(a.storyline.logline).toBe("林小雨坐在长椅上，她的头发被雨水打湿了，手里紧紧握着一张旧车票。");
  });

  test("characters: names, the given-name alias, gender from pronouns and titles, roles by lines", () => {
    expect(cast(a)).toEqual([
      { name: "林小雨", aliases: ["小雨"], role: "protagonist", gender: "female", lines: 14 },
      { name: "王明", aliases: [], role: "supporting", gender: "male", lines: 12 },
      { name: "陈奶奶", aliases: [], role: "supporting", gender: "female", lines: 5 },
    ]);
    expect(a.characters[2]!.age).toBe("elder");
  });

  test("every line has its speaker: attributed, by pronoun, by alternation, by the paragraph's subject", () => {
    expect(speakers(a)).toEqual([
      ...["王明", "林小雨", "王明", "林小雨", "林小雨", "王明", "林小雨", "王明"],
      ...["陈奶奶", "王明", "陈奶奶", "陈奶奶", "林小雨"],
      ...["王明", "林小雨", "王明", "林小雨", "王明"],
      ...["陈奶奶", "陈奶奶", "王明", "林小雨", "林小雨"],
      ...["王明", "林小雨", "林小雨", "王明", "林小雨", "王明", "林小雨", "林小雨"],
    ]);
    expect(whoSaid(a, "最后一班车早就开走了。")).toBe("王明"); // unattributed: alternates
    expect(whoSaid(a, "喝点热的吧，夜里冷。")).toBe("王明"); // 他说
    expect(whoSaid(a, "谢谢你陪我等了一夜。")).toBe("林小雨"); // 她说, after narration about her
    expect(whoSaid(a, "你一夜都没走吗？")).toBe("林小雨"); // 小雨问: the alias
    expect(whoSaid(a, "他说，不要再等了，要好好生活。")).toBe("林小雨"); // the paragraph names her
  });

  test("narration is separated from dialogue and attribution", () => {
    const narration = a.shots.map((s) => s.narration).join("");
    expect(narration).not.toContain("王明问道");
    expect(narration).not.toContain("「");
    expect(narration).toContain("王明沉默了一会儿。");
  });

  test("scenes: break lines and time/place phrases, with place, time and mood", () => {
    expect(a.scenes.map((s) => [s.id, s.location, s.timeOfDay])).toEqual([
      ["c1s1", "小镇的火车站", "night"],
      ["c1s2", "小镇的火车站", "night"], // after "***": the place carries over
      ["c2s1", "湿漉漉的站台", "dawn"],
      ["c2s2", "售票室", "dawn"], // 与此同时
      ["c3s1", "镇上的邮局", "dawn"], // 一个月后，林小雨来到…
      ["c3s2", "河边的小路", "dusk"], // 傍晚
    ]);
    expect(a.scenes[1]!.characters).toEqual(["陈奶奶", "王明", "林小雨"]);
    expect(a.scenes[1]!.mood).toBe("sad");
  });

  test("storyboard: 23 shots for about 1,300 characters, cameras and transitions by rule", () => {
    expect(a.shots.length).toBe(23);
    expect(a.shots.map((s) => s.id).slice(0, 3)).toEqual(["c1s1h1", "c1s1h2", "c1s1h3"]);
    expect(a.shots[0]).toMatchObject({ camera: "wide", transition: "fade", characters: ["林小雨"], dialogue: [] });
    const exchange = a.shots[2]!;
    expect(exchange.camera).toBe("over_shoulder");
    expect(exchange.dialogue).toEqual([
      { speaker: "王明", text: "这么晚了，你也在等车吗？" },
      { speaker: "林小雨", text: "我在等最后一班车。" },
      { speaker: "王明", text: "最后一班车早就开走了。" },
    ]);
    expect(a.shots[3]).toMatchObject({ camera: "close_up", dialogue: [{ speaker: "林小雨", text: "我知道。" }] });
    expect(a.shots[0]!.description).toBe("小镇的火车站，夜晚。林小雨。深夜，小镇的火车站里只剩下一盏昏黄的灯。");
    for (const s of a.shots) expect(s.dialogue.length).toBeLessThanOrEqual(3);
  });

  test("deterministic: the same text gives the identical analysis", () => {
    expect(JSON.stringify(analyseStory(text))).toBe(JSON.stringify(a));
  });
});

describe("local analyser: a Chinese story with “” quotes and three speakers", async () => {
  const a = analyseStory(await story("zh-curly"));

  test("cast, speakers (incl. 她回答 and 他说) and a night scene", () => {
    expectSound(a);
    expect(a.storyline).toMatchObject({ title: "厨房里的秘密", language: "zh" });
    expect(a.storyline.chapters.map((c) => c.title)).toEqual(["第1章"]);
    expect(cast(a)).toEqual([
      { name: "赵大海", aliases: [], role: "protagonist", gender: "male", lines: 6 },
      { name: "张伟", aliases: [], role: "supporting", gender: "male", lines: 4 },
      { name: "李娜", aliases: [], role: "supporting", gender: "female", lines: 4 },
    ]);
    expect(speakers(a)).toEqual([
      "张伟",
      "李娜",
      "赵大海",
      "赵大海",
      "李娜",
      "赵大海",
      "赵大海",
      "张伟",
      "李娜",
      "张伟",
      "李娜",
      "赵大海",
      "赵大海",
      "张伟",
    ]);
    expect(whoSaid(a, "老板让我早点来帮忙。")).toBe("李娜");
    expect(whoSaid(a, "我去准备鱼。")).toBe("张伟");
    expect(whoSaid(a, "红烧鱼。")).toBe("张伟");
    expect(a.scenes.map((s) => [s.id, s.location, s.timeOfDay, s.mood])).toEqual([
      ["c1s1", "厨房", "dusk", "happy"],
      ["c1s2", "餐馆", "night", "mysterious"],
    ]);
    expect(a.shots.length).toBe(9);
  });
});

describe("local analyser: an English story", async () => {
  const a = analyseStory(await story("en-lighthouse"));

  test("storyline and cast: the full name with its alias, titles, a speaking role", () => {
    expectSound(a);
    expect(a.storyline).toMatchObject({ title: "The Lighthouse Keeper", language: "en" });
    expect(a.storyline.chapters.map((c) => c.title)).toEqual(["Chapter 1", "Chapter 2"]);
    expect(cast(a)).toEqual([
      { name: "Anna Grey", aliases: ["Anna"], role: "protagonist", gender: "female", lines: 7 },
      { name: "Tom", aliases: [], role: "supporting", gender: "male", lines: 5 },
      { name: "Mr. Hale", aliases: [], role: "supporting", gender: "male", lines: 4 },
      { name: "the fisherman", aliases: [], role: "minor", gender: "male", lines: 1 },
    ]);
  });

  test('"said X", "X asked", "X said, …", "she said" and bare replies', () => {
    expect(speakers(a)).toEqual([
      ...["Anna Grey", "Tom", "Tom", "Anna Grey", "Tom", "Anna Grey", "Tom", "Anna Grey", "Anna Grey"],
      ...["Mr. Hale", "the fisherman", "Mr. Hale"],
      ...["Mr. Hale", "Anna Grey", "Tom", "Anna Grey", "Mr. Hale"],
    ]);
    expect(whoSaid(a, "Then we have to fix it.")).toBe("Anna Grey"); // she said
    expect(whoSaid(a, "We have no oil left.")).toBe("Tom"); // "Tom shook his head." in the paragraph
    const narration = a.shots.map((s) => s.narration).join(" ");
    expect(narration).not.toMatch(/said Anna|Tom answered|the fisherman asked/);
    expect(narration).toContain("He put his hand on her shoulder.");
    expect(narration).toContain("Tom frowned."); // "Tom frowned and said, …"
    expect(whoSaid(a, "A lantern is too small.")).toBe("Tom");
  });

  test("scenes and shots", () => {
    expect(a.scenes.map((s) => [s.id, s.location, s.timeOfDay, s.mood])).toEqual([
      ["c1s1", "old lighthouse", "dusk", "calm"],
      ["c1s2", "harbour", "dusk", "calm"],
      ["c2s1", "harbour", "dawn", "happy"],
    ]);
    expect(a.shots.length).toBe(12);
    expect(a.shots.filter((s) => s.transition === "fade").map((s) => s.id)).toEqual(["c1s1h1", "c2s1h1"]);
  });
});

describe("local analyser: pure narration (no quotes)", async () => {
  const a = analyseStory(await story("en-narration"));

  test("characters without lines, scenes by time phrases, shots of narration only", () => {
    expectSound(a);
    expect(a.storyline.title).toBe("The Baker's Apprentice");
    expect(cast(a)).toEqual([
      { name: "Lena", aliases: [], role: "protagonist", gender: "female", lines: 0 },
      { name: "Mr. Rossi", aliases: [], role: "supporting", gender: "male", lines: 0 },
    ]);
    expect(a.scenes.map((s) => [s.id, s.timeOfDay, s.mood])).toEqual([
      ["c1s1", "dawn", "calm"],
      ["c1s2", "night", "calm"], // "That night"
      ["c1s3", "dawn", "happy"], // "The next morning … smiled"
    ]);
    expect(a.shots.length).toBe(5);
    for (const s of a.shots) {
      expect(s.dialogue).toEqual([]);
      expect(s.narration.length).toBeGreaterThan(0);
    }
    // Hard-wrapped lines are joined back into sentences.
    expect(a.shots[0]!.narration).toContain("quiet streets of the village to the bakery on the corner.");
  });
});

describe("local analyser: other quote styles", () => {
  test("British single quotes, apostrophes inside, and 『』", () => {
    const en = analyseStory(
      "Anna Grey opened the door. She looked at Tom.\n\n'Hello,' said Anna. 'You're late.'\n\n'I know,' Tom answered. 'The boys' bus was slow.'\n\nTom sat by the fire and said, 'Thank you.'",
    );
    expect(en.shots.flatMap((s) => s.dialogue)).toEqual([
      { speaker: "Anna Grey", text: "Hello." },
      { speaker: "Anna Grey", text: "You're late." },
      { speaker: "Tom", text: "I know." },
      { speaker: "Tom", text: "The boys' bus was slow." },
      { speaker: "Tom", text: "Thank you." },
    ]);
    const zh = analyseStory(
      "林小雨推开门，看见王明坐在窗边。她走过去坐下。\n『你来了。』王明说。\n林小雨点点头，说：『我来了。』\n王明笑了笑，问道：『要喝茶吗？』\n『好。』",
    );
    expect(speakers(zh)).toEqual(["王明", "林小雨", "王明", "林小雨"]);
    expectSound(zh);
  });

  test("Mrs. and Mr. stay whole names with their gender", () => {
    const a = analyseStory(
      'Mr. Grey looked at the sea for a long time. He sighed.\n\n"It is late," Mr. Grey said.\n\nMrs. Grey put down her cup and said, "It is never too late."',
    );
    expect(cast(a).map((c) => [c.name, c.gender, c.lines])).toEqual([
      ["Mr. Grey", "male", 1],
      ["Mrs. Grey", "female", 1],
    ]);
  });
});

describe("local analyser: structure", () => {
  const body = "林小雨推开门，看见王明坐在窗边。她笑着走过去，在他对面坐下，窗外的雨还在下。";

  test("chapter headings in both languages and markdown; no heading is one chapter", () => {
    const zh = `第12章 开始\n${body}\n第十二回 再会\n${body}\n# 尾声之前\n${body}`;
    expect(analyseStory(zh).storyline.chapters.map((c) => c.title)).toEqual([
      "第12章 开始",
      "第十二回 再会",
      "尾声之前",
    ]);
    const en = `CHAPTER III\n${"Anna opened the door and looked at the rain. ".repeat(3)}\nChapter 4: Home\n${"Tom walked home. ".repeat(4)}`;
    expect(analyseStory(en).storyline.chapters.map((c) => c.title)).toEqual(["CHAPTER III", "Chapter 4: Home"]);
    expect(analyseStory(body.repeat(2)).storyline.chapters).toHaveLength(1);
  });

  test("scene breaks: ***, * * *, ---, ——, ◇", () => {
    const text = [body, "***", body, "* * *", body, "---", body, "——", body, "◇", body].join("\n");
    const a = analyseStory(text);
    expect(a.scenes.map((s) => s.id)).toEqual(["c1s1", "c1s2", "c1s3", "c1s4", "c1s5", "c1s6"]);
  });

  test("no scene grows past about 1,500 characters", () => {
    const long = Array.from({ length: 120 }, (_, i) => `${body}这是第${i + 1}段。`).join("\n");
    const [chapter] = [...splitChapters(long, "zh")];
    const scenes = splitScenes(paragraphs(chapter!.lines, "zh"), "zh");
    expect(scenes.length).toBeGreaterThan(3);
    for (const s of scenes) expect(s.join("").length).toBeLessThanOrEqual(1500);
  });

  test("too short, too long, or no letters: a RangeError that says why", () => {
    expect(() => analyseStory("太短了。")).toThrow(RangeError);
    expect(() => analyseStory("太短了。")).toThrow(/too short/);
    expect(() => analyseStory("长".repeat(200_001))).toThrow(/too long/);
    expect(() => analyseChapters("1234567890 …… ".repeat(10))).toThrow(/no letters/);
    expect(() => analyseStory("长".repeat(200_000))).not.toThrow();
  });
});

describe("local analyser: a 200,000-character novel, chapter by chapter", async () => {
  const chapter = (await story("zh-brackets"))
    .split("\n")
    .slice(1)
    .join("\n")
    .replace(/^第.章.*$/gm, "");
  let novel = "";
  let count = 0;
  while (novel.length + chapter.length + 20 <= 200_000) novel += `第${++count}章 雨夜\n${chapter}\n`;

  test("streams every chapter in bounded memory, and the fold equals the stream", () => {
    expect(novel.length).toBeGreaterThan(190_000);
    Bun.gc(true);
    const rss = process.memoryUsage().rss;
    const started = performance.now();
    const seen: number[] = [];
    let shots = 0;
    for (const r of analyseChapters(novel)) {
      seen.push(r.chapter.index);
      shots += r.shots.length;
      expect(r.shots.length).toBeGreaterThan(0);
      expect(r.shots.every((s) => s.id.startsWith(`c${r.chapter.index}s`))).toBe(true);
    }
    const ms = performance.now() - started;
    console.log(`analysed ${novel.length} characters (${count} chapters, ${shots} shots) in ${ms.toFixed(0)} ms`);
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 1024 * 1024);

    const whole = analyseStory(novel);
    expect(whole.shots.length).toBe(shots);
    expect(whole.characters.map((c) => c.name)).toEqual(["林小雨", "王明", "陈奶奶"]);
    expect(whole.storyline.chapters).toHaveLength(count);
    expect(whole.storyline.summary.length).toBeLessThanOrEqual(4000);
    validate(StoryboardSchema, { shots: whole.shots });
  });
});
