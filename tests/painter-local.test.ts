import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { probe, runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import { paintKeyframe, paintReferenceSheet, signature } from "../src/providers/local/painter.ts";

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

/** ffmpeg's drawbox paints in YUV, so an RGB colour comes back within a couple of levels. */
function expectNear(actual: Iterable<number>, expected: number[], tolerance = 3) {
  const got = [...actual];
  expect(got.length).toBe(expected.length);
  for (const [i, v] of got.entries()) expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(tolerance);
}

const rgbOf = (hex: string) => [
  Number.parseInt(hex.slice(2, 4), 16),
  Number.parseInt(hex.slice(4, 6), 16),
  Number.parseInt(hex.slice(6, 8), 16),
];
const night = { location: "月光下的小院", timeOfDay: "night" as const, mood: "mysterious" as const };
const cafe = { location: "咖啡店", timeOfDay: "day" as const, mood: "happy" as const };

/** Where painter.ts puts the body of character i of n (feet at 72% of the height). */
function bodyBox(name: string, i: number, n: number, W: number, H: number) {
  const sig = signature(name);
  const w = Math.round(sig.w * H);
  const h = Math.round(sig.h * H);
  const cx = ((i + 1) * W) / (n + 1);
  return { x: Math.round(cx - w / 2) + 2, y: Math.round(H * 0.72) - h + 2, w: w - 4, h: Math.round(h * 0.4) };
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

  test("a character's signature is identical in every shot, whatever the scene or its place", async () => {
    const W = 1280;
    const H = 720;
    const shot1 = await paintKeyframe({
      width: W,
      height: H,
      scene: night,
      characters: [{ name: "林小雨" }, { name: "陈默" }],
    });
    const shot2 = await paintKeyframe({ width: W, height: H, scene: cafe, characters: [{ name: "陈默" }] });
    const a = bodyBox("陈默", 1, 2, W, H);
    const b = bodyBox("陈默", 0, 1, W, H);
    const inShot1 = await region(shot1, a.x, a.y, a.w, a.h);
    const inShot2 = await region(shot2, b.x, b.y, b.w, b.h);
    expect(inShot1).toEqual(inShot2);
    // And it is the signature colour itself, not a tinted one.
    expectNear(inShot1.slice(0, 3), rgbOf(signature("陈默").body));
    // Another character looks different.
    const other = bodyBox("林小雨", 0, 2, W, H);
    expect([...(await region(shot1, other.x, other.y, 1, 1))]).not.toEqual(rgbOf(signature("陈默").body));
    expect(signature("陈默")).toEqual(signature("陈默"));
  });

  test("the reference sheet shows the same signature", async () => {
    const sheet = await paintReferenceSheet("林小雨", { width: 1024, height: 1024 });
    const box = bodyBox("林小雨", 0, 1, 1024, 1024);
    expectNear(await region(sheet, box.x, box.y, 1, 1), rgbOf(signature("林小雨").body));
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

  test("bad requests are refused clearly", async () => {
    const ok = { width: 640, height: 360, scene: cafe, characters: [] };
    await expect(paintKeyframe({ ...ok, width: 100000 })).rejects.toThrow(/width must be/);
    await expect(paintKeyframe({ ...ok, height: 361 })).rejects.toThrow(/height must be/);
    await expect(
      paintKeyframe({ ...ok, characters: Array.from({ length: 9 }, (_, i) => ({ name: `c${i}` })) }),
    ).rejects.toThrow(/at most 8/);
    await expect(paintKeyframe({ ...ok, caption: "长".repeat(201) })).rejects.toThrow(/longer than 200/);
  });
});
