// Unit tests of the subtitle writer: SRT, WebVTT and ASS formatting, sentence splitting with
// time shared by length, clipping at the shot's end, the default style and ASS colours. The
// expected values are worked out from the formats' rules, not copied from the output.
import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filterPath, runFfmpeg } from "../src/media/ffmpeg.ts";
import { fontSetup } from "../src/media/fonts.ts";
import { type Cue, resolveStyle, speechCues, toAss, toSrt, toVtt } from "../src/media/subtitles.ts";
import { assStyle, parseAss, parseSrt, parseVtt } from "./support/media.ts";

const cues: Cue[] = [
  { startS: 0.3, endS: 4.558, text: "林小雨推开茶馆的门。" },
  // 1 h 1 min 1.25 s; the end rounds up across a second and a minute boundary.
  { startS: 3661.25, endS: 3719.9996, text: "a < b & {c}" },
];

describe("SRT", () => {
  test("numbered cues, hh:mm:ss,mmm, a blank line between cues, text as written", () => {
    expect(toSrt(cues)).toBe(
      "1\n00:00:00,300 --> 00:00:04,558\n林小雨推开茶馆的门。\n" +
        "\n" +
        // SRT has no escapes: the text is written as it is.
        "2\n01:01:01,250 --> 01:02:00,000\na < b & {c}\n",
    );
    expect(parseSrt(toSrt(cues)).map((c) => c.text)).toEqual(cues.map((c) => c.text));
  });

  test("milliseconds round to the nearest, carrying into seconds", () => {
    expect(toSrt([{ startS: 1.9994, endS: 1.9996, text: "x" }])).toBe("1\n00:00:01,999 --> 00:00:02,000\nx\n");
    expect(toSrt([])).toBe("");
  });
});

describe("WebVTT", () => {
  test("the WEBVTT header, hh:mm:ss.mmm, & and < escaped (in that order), { left alone", () => {
    expect(toVtt(cues)).toBe(
      "WEBVTT\n\n" +
        "00:00:00.300 --> 00:00:04.558\n林小雨推开茶馆的门。\n" +
        "\n" +
        "01:01:01.250 --> 01:02:00.000\na &lt; b &amp; {c}\n",
    );
    // Escaping & first: a literal "&lt;" in the text must come back as "&lt;", not "<".
    const tricky = toVtt([{ startS: 0, endS: 1, text: "&lt; <i>" }]);
    expect(tricky).toContain("&amp;lt; &lt;i>");
    expect(parseVtt(tricky)[0]!.text).toBe("&lt; <i>");
  });
});

describe("ASS", () => {
  const size = { width: 1280, height: 720 };

  test("script info in output pixels and events with h:mm:ss.cc times", () => {
    const ass = toAss(cues, size, undefined);
    expect(ass).toContain("[Script Info]\nScriptType: v4.00+\nPlayResX: 1280\nPlayResY: 720\n");
    const events = ass.split("\n").filter((l) => l.startsWith("Dialogue:"));
    // 4.558 s is 455.8 cs, rounded to 456; 3719.9996 s rounds up to 1:02:00.00.
    expect(events[0]).toBe("Dialogue: 0,0:00:00.30,0:00:04.56,Default,,0,0,0,,林小雨推开茶馆的门。");
    // "{" would open an override block ({\an8} moves the line): it is escaped as "\{".
    expect(events[1]).toBe("Dialogue: 0,1:01:01.25,1:02:00.00,Default,,0,0,0,,a < b & \\{c}");
    expect(parseAss(ass).map((c) => [c.startS, c.endS].map((t) => Number(t.toFixed(6))))).toEqual([
      [0.3, 4.56],
      [3661.25, 3720],
    ]);
  });

  test("override tags and line breaks in the text are not interpreted", () => {
    const ass = toAss([{ startS: 0, endS: 1, text: "{\\an8}top\nsecond" }], size, undefined);
    const text = parseAss(ass)[0]!.text;
    // No unescaped "{" is left, so libass sees no override block; the newline becomes ASS's \N.
    expect(text).not.toMatch(/(^|[^\\])\{/);
    expect(text.endsWith("top\\Nsecond")).toBe(true);
    expect(text).not.toContain("\n");
  });

  test("a backslash stays a backslash: a word joiner after it, so libass reads no \\N, \\n or \\h", () => {
    const text = parseAss(toAss([{ startS: 0, endS: 1, text: "C:\\new\\Notes \\h" }], size, undefined))[0]!.text;
    expect(text).toBe("C:\\\u2060new\\\u2060Notes \\\u2060h");
  });

  test("libass draws escaped text literally: one line at the bottom, as wide as the same text with slashes", async () => {
    // What the escaping is for, checked on libass itself: "C:\new" must not break the line
    // (\n, \N), and "{\an8}" must not move it to the top.
    const box = async (text: string) => {
      const dir = await mkdtemp(join(tmpdir(), "inkreel-ass-"));
      try {
        const ass = join(dir, "t.ass");
        await Bun.write(ass, toAss([{ startS: 0, endS: 5, text }], { width: 640, height: 360 }, { size: 24 }));
        const raw = join(dir, "f.gray");
        await runFfmpeg([
          "-f",
          "lavfi",
          "-i",
          "color=c=0x808080:size=640x360",
          "-vf",
          `subtitles=${filterPath(ass)}:fontsdir=${filterPath(fontSetup().dir)}`,
          "-frames:v",
          "1",
          "-f",
          "rawvideo",
          "-pix_fmt",
          "gray",
          raw,
        ]);
        const px = await Bun.file(raw).bytes();
        const rows: number[] = [];
        const cols: number[] = [];
        for (let y = 0; y < 360; y++)
          for (let x = 0; x < 640; x++)
            if (Math.abs(px[y * 640 + x]! - px[0]!) > 20) {
              rows.push(y);
              cols.push(x);
            }
        return {
          top: Math.min(...rows),
          height: Math.max(...rows) - Math.min(...rows),
          width: Math.max(...cols) - Math.min(...cols),
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
    const reference = await box("C:/new/Notes {/an8}x");
    const escaped = await box("C:\\new\\Notes {\\an8}x");
    expect(reference.top).toBeGreaterThan(180);
    expect(escaped.top).toBeGreaterThan(180);
    expect(Math.abs(escaped.height - reference.height)).toBeLessThanOrEqual(2);
    expect(Math.abs(escaped.width - reference.width)).toBeLessThan(0.1 * reference.width);
  });

  test("the default style: Noto Sans SC Medium, 5.5 % of the height, white on a 55 % black box at the bottom", () => {
    const s = assStyle(toAss(cues, size, undefined));
    expect(s.Fontname).toBe("Noto Sans SC Medium");
    expect(s.Fontsize).toBe("40"); // 720 × 0.055 = 39.6
    // &HAABBGGRR with alpha 00 opaque: white is &H00FFFFFF.
    expect(s.PrimaryColour).toBe("&H00FFFFFF");
    // The box is the outline colour under BorderStyle 3: black at opacity 0.55, so alpha
    // 255 × 0.45 = 114.75 → 115 = 0x73.
    expect(s.BorderStyle).toBe("3");
    expect(s.OutlineColour).toBe("&H73000000");
    expect(s.BackColour).toBe("&H73000000");
    expect(s.Outline).toBe("8"); // box padding: 0.2 × 40
    expect(s.Alignment).toBe("2"); // bottom centre
    expect(s.MarginV).toBe("43"); // 6 % of 720 = 43.2
  });

  test("colours: #FF8000 at opacity 0.5 is &H800080FF", () => {
    // ASS stores blue, green, red: FF8000 → 00 80 FF. Alpha is transparency: 255 × (1 − 0.5) =
    // 127.5, which Math.round takes to 128 = 0x80.
    const s = assStyle(toAss(cues, size, { colour: "#ff8000", boxColour: "#FF8000", boxOpacity: 0.5 }));
    expect(s.PrimaryColour).toBe("&H000080FF");
    expect(s.SecondaryColour).toBe("&H000080FF");
    expect(s.OutlineColour).toBe("&H800080FF");
    expect(assStyle(toAss(cues, size, { boxColour: "#123456", boxOpacity: 0 })).OutlineColour).toBe("&HFF563412");
    expect(assStyle(toAss(cues, size, { boxColour: "#123456", boxOpacity: 1 })).OutlineColour).toBe("&H00563412");
  });

  test("without a box: an opaque black outline of 6 % of the size; positions and fonts map", () => {
    const s = assStyle(
      toAss(cues, { width: 1080, height: 1920 }, { box: false, position: "top", font: "Noto Sans SC Bold", size: 80 }),
    );
    expect(s.BorderStyle).toBe("1");
    expect(s.Outline).toBe("5"); // 80 × 0.06 = 4.8
    expect(s.OutlineColour).toBe("&H00000000");
    expect(s.Alignment).toBe("8");
    expect(s.Fontname).toBe("Noto Sans SC Bold");
    expect(s.Fontsize).toBe("80");
    expect(s.MarginV).toBe("115"); // 1920 × 0.06 = 115.2
    expect(assStyle(toAss(cues, size, { position: "middle" })).Alignment).toBe("5");
  });
});

describe("resolveStyle", () => {
  test("defaults, with the size a share of the output height", () => {
    expect(resolveStyle(undefined, 720)).toEqual({
      font: "Noto Sans SC",
      size: 40,
      colour: "#FFFFFF",
      position: "bottom",
      box: true,
      boxColour: "#000000",
      boxOpacity: 0.55,
    });
    expect(resolveStyle(undefined, 1080).size).toBe(59); // 59.4
    expect(resolveStyle(undefined, 1920).size).toBe(106); // 105.6
    expect(resolveStyle({}, 2160).size).toBe(119); // 118.8
  });

  test("what is given is kept, the rest defaulted", () => {
    expect(resolveStyle({ size: 30, box: false, boxOpacity: 0 }, 720)).toEqual({
      font: "Noto Sans SC",
      size: 30,
      colour: "#FFFFFF",
      position: "bottom",
      box: false,
      boxColour: "#000000",
      boxOpacity: 0,
    });
  });
});

const chars = (s: string) => [...s].length;

/** Pieces follow each other with no gap, their durations in proportion to their lengths. */
function expectSharedByLength(pieces: Cue[], from: number, to: number) {
  const total = pieces.reduce((n, c) => n + chars(c.text), 0);
  expect(pieces[0]!.startS).toBeCloseTo(from, 9);
  expect(pieces.at(-1)!.endS).toBeCloseTo(to, 9);
  for (const [i, c] of pieces.entries()) {
    expect(c.endS - c.startS).toBeCloseTo(((to - from) * chars(c.text)) / total, 9);
    if (i > 0) expect(c.startS).toBeCloseTo(pieces[i - 1]!.endS, 9);
  }
}

describe("speechCues", () => {
  test("one cue per sentence timing, placed at the line's offset", () => {
    const timings = [
      { text: "“你来了？”", startS: 0, endS: 1.25 },
      { text: "掌柜笑着问道。", startS: 1.37, endS: 3.27 },
    ];
    const out = speechCues(0.3, "“你来了？”掌柜笑着问道。", timings, 3.27, 10);
    expect(out.map((c) => c.text)).toEqual(["“你来了？”", "掌柜笑着问道。"]);
    expect(out.flatMap((c) => [c.startS, c.endS]).map((t) => Number(t.toFixed(9)))).toEqual([0.3, 1.55, 1.67, 3.57]);
  });

  test("without timings the whole text is one span over the spoken length", () => {
    expect(speechCues(1, " 她点点头。 ", undefined, 2, 10)).toEqual([{ startS: 1, endS: 3, text: "她点点头。" }]);
  });

  test("a long Chinese sentence splits after its commas into lines of at most 18 characters", () => {
    // Clauses of 10, 7, 12 and 10 characters: 10 + 7 fit one line, 17 + 12 does not, 12 + 10 neither.
    const text = "林小雨推开茶馆的门，外面下着小雨，她抬头看了看灰色的天空，心里想着远方的父亲。";
    const pieces = speechCues(0.5, text, [{ text, startS: 0, endS: 3.9 }], 3.9, 10);
    expect(pieces.map((c) => c.text)).toEqual([
      "林小雨推开茶馆的门，外面下着小雨，",
      "她抬头看了看灰色的天空，",
      "心里想着远方的父亲。",
    ]);
    // 39 characters over 3.9 s: 1.7 s, 1.2 s and 1.0 s.
    expectSharedByLength(pieces, 0.5, 4.4);
    expect(pieces[0]!.endS).toBeCloseTo(2.2, 9);
    expect(pieces[1]!.endS).toBeCloseTo(3.4, 9);
  });

  test("Chinese with no punctuation to split at is cut hard, never beyond 1.5 lines", () => {
    const text = "天".repeat(40);
    const pieces = speechCues(0, text, [{ text, startS: 0, endS: 4 }], 4, 10);
    // 40 > 27 (1.5 × 18): 18 characters are cut off; the 22 left are within 27.
    expect(pieces.map((c) => chars(c.text))).toEqual([18, 22]);
    expect(pieces.map((c) => c.text).join("")).toBe(text);
    expectSharedByLength(pieces, 0, 4);
  });

  test("a long English sentence splits at spaces into lines of at most 48 characters", () => {
    // 20 × "word": 9 words (44 characters) fill a line, as a 10th would make 49.
    const words = Array(20).fill("word").join(" ");
    const pieces = speechCues(2, words, [{ text: words, startS: 0.5, endS: 10.2 }], 10.2, 100);
    expect(pieces.map((c) => c.text)).toEqual([
      Array(9).fill("word").join(" "),
      Array(9).fill("word").join(" "),
      "word word",
    ]);
    // 44 + 44 + 9 = 97 characters over 9.7 s.
    expectSharedByLength(pieces, 2.5, 12.2);
    expect(pieces[0]!.endS - pieces[0]!.startS).toBeCloseTo(4.4, 9);

    const sentence =
      "The old map showed a road that nobody in the village had walked for years, and she meant to follow it to the sea before the rains came.";
    const split = speechCues(0, sentence, [{ text: sentence, startS: 0, endS: 6 }], 6, 100);
    expect(split.length).toBeGreaterThan(2);
    for (const c of split) expect(chars(c.text)).toBeLessThanOrEqual(48);
    expect(split.map((c) => c.text).join(" ")).toBe(sentence);
    expectSharedByLength(split, 0, 6);
  });

  test("cues are cut at untilS, and those that would start after it (or last under 0.05 s) are dropped", () => {
    const timings = [
      { text: "一。", startS: 0, endS: 1 },
      { text: "二。", startS: 1.2, endS: 2.3 },
      { text: "三。", startS: 2.4, endS: 3 },
      { text: "四。", startS: 3.5, endS: 4 },
    ];
    const text = "一。二。三。四。";
    // Placed at 0.5, the cues would be 0.5-1.5, 1.7-2.8, 2.9-3.5 and 4.0-4.5.
    // Cut at 2.3: "二" ends at 2.3; "三" and "四" would start after it.
    const cut = speechCues(0.5, text, timings, 4, 2.3);
    expect(cut.map((c) => c.text)).toEqual(["一。", "二。"]);
    expect(cut[0]).toEqual({ startS: 0.5, endS: 1.5, text: "一。" });
    expect(cut[1]!.startS).toBeCloseTo(1.7, 9);
    expect(cut[1]!.endS).toBe(2.3);
    // Cut at 2.93: "三" would show for 0.03 s, too short to keep.
    expect(speechCues(0.5, text, timings, 4, 2.93).map((c) => c.text)).toEqual(["一。", "二。"]);
    // Cut at 3.0: "三" shows for 0.1 s, cut at 3.0.
    const longer = speechCues(0.5, text, timings, 4, 3);
    expect(longer.map((c) => c.text)).toEqual(["一。", "二。", "三。"]);
    expect(longer[2]!.endS).toBe(3);
  });
});
