import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { probe, withTempDir } from "../src/media/ffmpeg.ts";
import { createLocalSpeech, localVoice, sentences } from "../src/providers/local/speech.ts";

const speech = createLocalSpeech();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("sentence splitting", () => {
  test("Chinese and English, quotes kept with their sentence, decimals kept whole", () => {
    expect(sentences("林小雨推开门。“你来了？”她笑着问道。")).toEqual(["林小雨推开门。", "“你来了？”", "她笑着问道。"]);
    expect(sentences('The ratio is 3.14. "Really?" she asked!\nNext line')).toEqual([
      "The ratio is 3.14.",
      '"Really?"',
      "she asked!",
      "Next line",
    ]);
    expect(sentences("……  ")).toEqual([]);
  });
});

describe("local speech (espeak-ng in its own process)", () => {
  test("Mandarin: a real WAV whose per-sentence timings cover the audio in order", async () => {
    const result = await speech.generate({
      text: "林小雨推开门。“你来了？”她笑着问道。",
      language: "zh",
      voice: "林小雨",
    });
    const { timings, durationS } = result.data;
    expect(timings.map((t) => t.text)).toEqual(["林小雨推开门。", "“你来了？”", "她笑着问道。"]);
    expect(timings[0]!.startS).toBe(0);
    for (let i = 0; i < timings.length; i++) {
      expect(timings[i]!.endS).toBeGreaterThan(timings[i]!.startS + 0.3);
      if (i > 0) expect(timings[i]!.startS).toBeGreaterThan(timings[i - 1]!.endS);
    }
    expect(timings.at(-1)!.endS).toBeCloseTo(durationS, 3);
    expect(result.usage.audioSeconds).toBeCloseTo(durationS, 3);
    await withTempDir(async (dir) => {
      const path = join(dir, "line.wav");
      await Bun.write(path, result.data.bytes);
      const info = await probe(path);
      expect(Math.abs(info.durationS - durationS)).toBeLessThanOrEqual(0.01);
      expect(info.streams[0]).toMatchObject({ codec_type: "audio", channels: 1, sample_rate: "22050" });
    });
  });

  test("English works too", async () => {
    const result = await speech.generate({
      text: "The door opened. You came, she said.",
      language: "en",
      voice: "narrator",
    });
    expect(result.data.timings.length).toBe(2);
    expect(result.data.durationS).toBeGreaterThan(1);
  });

  test("speed changes the length; voices are distinct per name and stable for a name", async () => {
    const text = "今天天气很好，我们一起去公园散步吧。";
    const normal = await speech.generate({ text, language: "zh", voice: "旁白", speed: 1 });
    const fast = await speech.generate({ text, language: "zh", voice: "旁白", speed: 2 });
    expect(fast.data.durationS).toBeLessThan(normal.data.durationS * 0.7);
    const again = await speech.generate({ text, language: "zh", voice: "旁白", speed: 1 });
    expect(sha(again.data.bytes)).toBe(sha(normal.data.bytes));
    const names = ["林小雨", "陈默", "老王", "旁白", "Alice", "Bob"];
    const voices = new Set(names.map((n) => JSON.stringify(localVoice(n, "zh"))));
    expect(voices.size).toBe(names.length);
    const other = await speech.generate({ text, language: "zh", voice: "陈默", speed: 1 });
    expect(sha(other.data.bytes)).not.toBe(sha(normal.data.bytes));
  });

  test("bad requests are refused clearly", async () => {
    await expect(speech.generate({ text: "……", language: "zh", voice: "x" })).rejects.toThrow(/no text/);
    await expect(speech.generate({ text: "你好。", language: "zh", voice: "x", speed: 3 })).rejects.toThrow(
      /between 0.5 and 2.0/,
    );
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(
      speech.generate({ text: "你好。", language: "zh", voice: "x", signal: controller.signal }),
    ).rejects.toThrow(/stop/);
  });
});
