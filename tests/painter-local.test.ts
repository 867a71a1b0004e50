import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { probe, runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import { figurePng } from "../src/providers/local/figures.ts";
import { paintKeyframe, paintReferenceSheet } from "../src/providers/local/painter.ts";
import { locationClass, sceneLayers, sceneSvg } from "../src/providers/local/scenery.ts";
import { weatherOf } from "../src/story/weather.ts";

/** The RGB bytes of a region of a PNG, decoded by ffmpeg. */
async function region(png: Uint8Array, x: number, y: number, w: number, h: number): Promise<Uint8Array> {
  return withTempDir(async (dir) => {
    await Bun.write(join(dir, "in.png"), png);
    await runFfmpeg([
      "-i",
      join(dir, "in.png"),
      "-vf",
      `crop=${w}:${h}:${x}:${y}`,
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      join(dir, "out.rgb"),
    ]);
    return Bun.file(join(dir, "out.rgb")).bytes();
  });
}

const night = { location: "月光下的小院", timeOfDay: "night" as const, mood: "mysterious" as const };
const cafe = { location: "咖啡店", timeOfDay: "day" as const, mood: "happy" as const };

/** A patch of the torso of character i of n as painter.ts places it (figures 0.5 H tall, feet at 0.76 H). */
function torso(i: number, n: number, W: number, H: number) {
  const cx = Math.round(((i + 1) * W) / (n + 1));
  const feet = Math.round(H * 0.72) + Math.round(H * 0.04);
  const fh = Math.round(H * 0.5);
  return { x: cx - 4, y: feet - Math.round(fh * (165 / 400)), w: 8, h: 8 };
}

describe("local keyframe painter", () => {
  test("PNGs at the requested size and aspect ratio", async () => {
    for (const [width, height] of [
      [1280, 720],
      [720, 1280],
      [512, 512],
    ] as const) {
      const png = await paintKeyframe({ width, height, scene: cafe, characters: [{ name: "陈默" }], caption: "测试" });
      await withTempDir(async (dir) => {
        await Bun.write(join(dir, "k.png"), png);
        const info = await probe(join(dir, "k.png"));
        expect(info.streams[0]).toMatchObject({ codec_name: "png", width, height });
      });
    }
  });

  test("a character's figure is identical in every shot, whatever the scene or its place", async () => {
    const W = 1280;
    const H = 720;
    const shot1 = await paintKeyframe({
      width: W,
      height: H,
      scene: night,
      characters: [{ name: "林小雨" }, { name: "陈默" }],
    });
    const shot2 = await paintKeyframe({ width: W, height: H, scene: cafe, characters: [{ name: "陈默" }] });
    const a = torso(1, 2, W, H);
    const b = torso(0, 1, W, H);
    const inShot1 = await region(shot1, a.x, a.y, a.w, a.h);
    expect(inShot1).toEqual(await region(shot2, b.x, b.y, b.w, b.h));
    // Another character looks different.
    const other = torso(0, 2, W, H);
    expect(await region(shot1, other.x, other.y, other.w, other.h)).not.toEqual(inShot1);
  });

  test("an animal is drawn as its species where a person would stand", async () => {
    const fox = { seed: "狐狸", species: "fox" as const, gender: "unknown", age: "unknown" };
    const asFox = await paintKeyframe({
      width: 640,
      height: 360,
      scene: cafe,
      characters: [{ name: "狐狸", figure: fox }],
    });
    const asPerson = await paintKeyframe({ width: 640, height: 360, scene: cafe, characters: [{ name: "狐狸" }] });
    const t = torso(0, 1, 640, 360);
    expect(await region(asFox, t.x, t.y, t.w, t.h)).not.toEqual(await region(asPerson, t.x, t.y, t.w, t.h));
    // Another place and time in the same mood: the same fox, face and all.
    const again = await paintKeyframe({
      width: 640,
      height: 360,
      scene: { ...night, mood: cafe.mood },
      characters: [{ name: "狐狸", figure: fox }],
    });
    expect(await region(again, t.x, t.y, t.w, t.h)).toEqual(await region(asFox, t.x, t.y, t.w, t.h));
  });

  test("the reference sheet shows the same figure", async () => {
    const sheet = await paintReferenceSheet({ name: "林小雨" }, { width: 1024, height: 1024 });
    const shot = await paintKeyframe({ width: 1024, height: 1024, scene: night, characters: [{ name: "林小雨" }] });
    const t = torso(0, 1, 1024, 1024);
    expect(await region(sheet, t.x, t.y, t.w, t.h)).toEqual(await region(shot, t.x, t.y, t.w, t.h));
    expect(
      figurePng({ seed: "林小雨", species: "human", gender: "unknown", age: "unknown", style: "openPeeps" }, 512),
    ).toEqual(
      figurePng({ seed: "林小雨", species: "human", gender: "unknown", age: "unknown", style: "openPeeps" }, 512),
    );
  });

  test("scenes differ by time of day and location; the Chinese caption is drawn", async () => {
    const base = { width: 640, height: 360, characters: [] };
    const nightShot = await paintKeyframe({ ...base, scene: night });
    const dayShot = await paintKeyframe({ ...base, scene: { ...night, timeOfDay: "day" } });
    expect(await region(nightShot, 5, 5, 1, 1)).not.toEqual(await region(dayShot, 5, 5, 1, 1));
    const indoor = await paintKeyframe({ ...base, scene: { ...night, location: "客厅" } });
    expect(await region(nightShot, 5, 350, 1, 1)).not.toEqual(await region(indoor, 5, 350, 1, 1));
    const captioned = await paintKeyframe({ ...base, scene: night, caption: "她推开门：“你来了？”" });
    const captionArea = (png: Uint8Array) => region(png, 160, 300, 320, 40);
    const plain = await captionArea(nightShot);
    const withText = await captionArea(captioned);
    let changed = 0;
    for (let i = 0; i < plain.length; i++) if (plain[i] !== withText[i]) changed++;
    expect(changed).toBeGreaterThan(plain.length * 0.2);
  });

  test("illustrated scenes: a rainy night street is not a day interior, and rain, snow and fog are drawn", async () => {
    expect(
      ["雨夜的老街", "茶馆", "客厅", "森林", "山顶", "河边", "麦田", "教室", "办公室", "皇宫大殿"].map(locationClass),
    ).toEqual(["street", "shop", "home", "forest", "mountain", "water", "field", "classroom", "office", "palace"]);
    expect([weatherOf("大雨倾盆"), weatherOf("snow fell"), weatherOf("晨雾"), weatherOf("晴天")]).toEqual([
      "rain",
      "snow",
      "fog",
      "clear",
    ]);
    const size = { width: 640, height: 360 };
    const street = await paintKeyframe({
      ...size,
      scene: { location: "老街", timeOfDay: "night", mood: "calm", weather: "rain" },
      characters: [],
    });
    const room = await paintKeyframe({
      ...size,
      scene: { location: "客厅", timeOfDay: "day", mood: "calm" },
      characters: [],
    });
    let differ = 0;
    const [a, b] = [await region(street, 0, 0, 640, 360), await region(room, 0, 0, 640, 360)];
    for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > 24) differ++;
    expect(differ).toBeGreaterThan(a.length * 0.5);
    // Lit windows and a moon at night; rain streaks only when it rains.
    const dry = sceneSvg({ ...size, location: "老街", timeOfDay: "night", floor: 0.72 });
    const wet = sceneSvg({ ...size, location: "老街", timeOfDay: "night", floor: 0.72, weather: "rain" });
    expect(dry).toContain("#ffd77a");
    expect(wet.match(/<line /g)!.length).toBeGreaterThan((dry.match(/<line /g) ?? []).length + 50);
    expect(
      sceneSvg({ ...size, location: "老街", timeOfDay: "day", floor: 0.72, weather: "snow" }).match(/#ffffff/g)!.length,
    ).toBeGreaterThan(50);
    expect(sceneSvg({ ...size, location: "老街", timeOfDay: "day", floor: 0.72, weather: "fog" })).toContain("#dfe4ea");
    // Indoors it rains outside: only through the windows, and nothing falls across the room.
    const teahouse = sceneLayers({ ...size, location: "茶馆", timeOfDay: "night", floor: 0.72, weather: "rain" });
    expect(teahouse.weather).toBe("");
    expect(teahouse.sky).toContain('clip-path="url(#panes)"');
    expect(teahouse.sky.match(/<line /g)!.length).toBeGreaterThan(50);
  });

  test("bad requests are refused clearly", async () => {
    const ok = { width: 640, height: 360, scene: cafe, characters: [] };
    await expect(paintKeyframe({ ...ok, width: 100000 })).rejects.toThrow(/width must be/);
    await expect(paintKeyframe({ ...ok, height: 361 })).rejects.toThrow(/height must be/);
    await expect(
      paintKeyframe({ ...ok, characters: Array.from({ length: 9 }, (_, i) => ({ name: `c${i}` })) }),
    ).rejects.toThrow(/at most 8/);
    await expect(paintKeyframe({ ...ok, caption: "长".repeat(201) })).rejects.toThrow(/longer than 200/);
    // Text XML cannot hold (control characters, a lone surrogate) is dropped, not a failure.
    const odd = await paintKeyframe({ ...ok, characters: [{ name: "a\u0001b\ud800<&>" }], caption: "x\u0000y </svg>" });
    expect(odd.length).toBeGreaterThan(1000);
  });
});
