import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import { createLocalImage } from "../src/providers/local/image.ts";
import { createLocalMotion } from "../src/providers/local/motion.ts";
import { type KeyframeSpec, paintClip, placeFigures } from "../src/providers/local/painter.ts";
import { mouthOpenings } from "../src/story/talk.ts";

const W = 640;
const H = 360;
const FPS = 24;

/** RGB frames of a video at the given times, decoded by ffmpeg. */
async function frames(video: Uint8Array, times: number[]): Promise<Uint8Array[]> {
  return withTempDir(async (dir) => {
    await Bun.write(join(dir, "v.mp4"), video);
    const out: Uint8Array[] = [];
    for (const [i, t] of times.entries()) {
      const file = join(dir, `${i}.rgb`);
      await runFfmpeg([
        "-ss",
        String(t),
        "-i",
        join(dir, "v.mp4"),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        file,
      ]);
      out.push(await Bun.file(file).bytes());
    }
    return out;
  });
}

/** The pixels that differ clearly between two frames, and the box around them. */
function difference(a: Uint8Array, b: Uint8Array) {
  let count = 0;
  let [x0, y0, x1, y1] = [W, H, -1, -1];
  for (let i = 0; i < W * H; i++) {
    const d = Math.max(...[0, 1, 2].map((c) => Math.abs(a[i * 3 + c]! - b[i * 3 + c]!)));
    if (d <= 40) continue;
    count++;
    const x = i % W;
    const y = Math.floor(i / W);
    [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  }
  return { count, box: { x0, y0, x1, y1 } };
}

/** The mean x of the pixels `pick` selects within rows [top, bottom). */
function centroidX(f: Uint8Array, top: number, bottom: number, pick: (r: number, g: number, b: number) => boolean) {
  let sum = 0;
  let n = 0;
  for (let y = top; y < bottom; y++)
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      if (pick(f[i]!, f[i + 1]!, f[i + 2]!)) {
        sum += x;
        n++;
      }
    }
  return { x: n ? sum / n : Number.NaN, n };
}

const street: KeyframeSpec["scene"] = { location: "老街", timeOfDay: "night", mood: "calm" };
const cast: KeyframeSpec["characters"] = [
  { name: "林小雨", figure: { seed: "林小雨", species: "human", gender: "female", age: "young" } },
  { name: "狐狸", figure: { seed: "狐狸", species: "fox", gender: "unknown", age: "unknown" } },
];

describe("local motion: layers with depth, and talking mouths", () => {
  test("the talking clip differs from the silent one in the speaker's mouth only, and only while the line plays", async () => {
    const spec: KeyframeSpec = {
      width: W,
      height: H,
      scene: street,
      characters: cast,
      speaker: "林小雨",
      camera: "medium",
    };
    const open: Array<[number, number]> = [
      [0.3, 0.6],
      [1.2, 1.5],
    ];
    const motion = { frames: 48, fps: FPS, camera: "medium" as const };
    const silent = await paintClip(spec, motion);
    const talking = await paintClip(spec, { ...motion, talk: [{ name: "林小雨", open }] });
    const times = [0.45, 0.9, 1.35, 1.8];
    const [s, t] = [await frames(silent, times), await frames(talking, times)];
    const mouth = placeFigures(spec).find((f) => f.name === "林小雨")!.mouth;
    for (const [i, at] of times.entries()) {
      const d = difference(s[i]!, t[i]!);
      const speaking = open.some(([a, b]) => at >= a && at <= b);
      if (!speaking) {
        expect(d.count).toBeLessThan(W * H * 0.0005);
        continue;
      }
      // An open mouth: a few hundred pixels, all near where the painter put the speaker's mouth
      // (the camera's zoom and drift move it a little).
      expect(d.count).toBeGreaterThan(20);
      expect(d.count).toBeLessThan(W * H * 0.01);
      const slack = W * 0.06;
      expect(d.box.x0).toBeGreaterThan(mouth.x - slack);
      expect(d.box.x1).toBeLessThan(mouth.x + mouth.w + slack);
      expect(d.box.y0).toBeGreaterThan(mouth.y - slack);
      expect(d.box.y1).toBeLessThan(mouth.y + mouth.h + slack);
    }
  });

  test("the sky drifts less than the floor and the characters: the pan has depth", async () => {
    const spec: KeyframeSpec = { width: W, height: H, scene: street, characters: [cast[1]!], camera: "tracking" };
    const clip = await paintClip(spec, { frames: 48, fps: FPS, camera: "tracking" });
    const [first, last] = await frames(clip, [0, 47 / FPS]);
    // The moon and stars (the sky layer): bright and pale, high up on the right.
    const moon = (f: Uint8Array) => centroidX(f, 0, Math.round(H * 0.3), (r, g, b) => r > 200 && g > 200 && b > 170);
    // The fox (it stands on the floor): its orange coat.
    const fox = (f: Uint8Array) =>
      centroidX(f, Math.round(H * 0.3), H, (r, g, b) => r > 180 && g > 70 && g < 160 && b < 90);
    const sky = moon(last!).x - moon(first!).x;
    const near = fox(last!).x - fox(first!).x;
    expect(moon(first!).n).toBeGreaterThan(20);
    expect(fox(first!).n).toBeGreaterThan(200);
    expect(Math.abs(near)).toBeGreaterThan(W * 0.03);
    expect(Math.abs(near)).toBeGreaterThan(3 * Math.abs(sky));
    expect(Math.sign(sky)).toBe(Math.sign(near));
  });

  test("the camera sizes the characters, and the speaker stands in front", () => {
    const spec: KeyframeSpec = { width: W, height: H, scene: street, characters: cast, speaker: "林小雨" };
    const wide = placeFigures({ ...spec, camera: "wide" });
    const medium = placeFigures({ ...spec, camera: "medium" });
    const close = placeFigures({ ...spec, camera: "close_up" });
    // Drawn back to front: the speaker last, a little larger than the others.
    expect(wide.map((f) => f.name)).toEqual(["狐狸", "林小雨"]);
    expect(wide[1]!.height).toBeGreaterThan(wide[0]!.height);
    expect(medium[0]!.height).toBeGreaterThan(wide[0]!.height * 1.5);
    // A close-up shows the speaker alone, from the chest up.
    expect(close.map((f) => f.name)).toEqual(["林小雨"]);
    expect(close[0]!.height).toBeGreaterThan(H);
    expect(close[0]!.mouth.y).toBeGreaterThan(H * 0.2);
    expect(close[0]!.mouth.y).toBeLessThan(H * 0.75);
  });

  test("a painted keyframe keeps its layout, and the local video model paints its clip from it", async () => {
    const hint = {
      location: "老街",
      timeOfDay: "night" as const,
      mood: "calm" as const,
      characters: ["林小雨"],
      camera: "medium" as const,
    };
    const image = await createLocalImage().generate({ prompt: "", width: W, height: H, scene: hint, seed: 3 });
    const layout = image.data.layout!;
    expect(layout).toMatchObject({ seed: 3, width: W, height: H, scene: hint });
    expect(layout.figures.map((f) => f.name)).toEqual(["林小雨"]);
    const video = createLocalMotion();
    const args = {
      prompt: "",
      image: { bytes: image.data.bytes, mimeType: "image/png" },
      durationS: 1,
      width: W,
      height: H,
      camera: "medium" as const,
    };
    const talk = [{ name: "林小雨", open: [[0.2, 0.8]] as Array<[number, number]> }];
    const layered = await video.generate({ ...args, layout, talk });
    const flat = await video.generate(args);
    const [a, b] = [await frames(layered.data.bytes, [0.5]), await frames(flat.data.bytes, [0.5])];
    // Not the flat pan over the picture: the layers move by their depth and the mouth is open.
    expect(difference(a[0]!, b[0]!).count).toBeGreaterThan(W * H * 0.01);
    expect(layered.data).toMatchObject({ mimeType: "video/mp4", width: W, height: H, durationS: 1 });
    // A layout of another painter (or none) is never taken apart.
    const other = await video.generate({ ...args, layout: { ...layout, painter: "someone-else@1" }, talk });
    expect(Buffer.from(other.data.bytes).equals(Buffer.from(flat.data.bytes))).toBe(true);
  });

  test("a line's speech timings open the mouth once per syllable, never faster than a beat", () => {
    const open = mouthOpenings([{ text: "你来了。", startS: 0, endS: 0.9 }], 1);
    expect(open).toHaveLength(3);
    expect(open[0]![0]).toBe(1);
    for (const [a, b] of open) expect(b - a).toBeGreaterThan(0.1);
    // A long sentence said fast: merged beats, at most one per 0.16 s.
    const fast = mouthOpenings([{ text: "一二三四五六七八九十一二三四五六七八九十", startS: 0, endS: 1.6 }], 0);
    expect(fast).toHaveLength(10);
    expect(mouthOpenings([{ text: "空", startS: 1, endS: 1 }], 0)).toEqual([]);
  });
});
