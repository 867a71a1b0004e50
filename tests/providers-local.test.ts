import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { probe, runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import { createLocalImage } from "../src/providers/local/image.ts";
import { createLocalMotion } from "../src/providers/local/motion.ts";
import { paintKeyframe } from "../src/providers/local/painter.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const scene = { location: "茶馆", timeOfDay: "dusk" as const, mood: "calm" as const, characters: ["林小雨", "掌柜"] };

/** Grey frames of a video at the given times, decoded by ffmpeg. */
async function greyFrames(video: Uint8Array, times: number[], w: number, h: number): Promise<Uint8Array[]> {
  return withTempDir(async (dir) => {
    await Bun.write(join(dir, "v.mp4"), video);
    const out: Uint8Array[] = [];
    for (const [i, t] of times.entries()) {
      await runFfmpeg([
        "-ss",
        String(t),
        "-i",
        join(dir, "v.mp4"),
        "-frames:v",
        "1",
        "-s",
        `${w}x${h}`,
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        join(dir, `${i}.raw`),
      ]);
      out.push(await Bun.file(join(dir, `${i}.raw`)).bytes());
    }
    return out;
  });
}

const meanDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

describe("local image provider", () => {
  test("paints the scene hint at the requested size, the same picture for the same input", async () => {
    const image = createLocalImage();
    const a = await image.generate({ prompt: "黄昏的茶馆里，林小雨和掌柜说话", width: 640, height: 360, scene });
    const b = await image.generate({ prompt: "黄昏的茶馆里，林小雨和掌柜说话", width: 640, height: 360, scene });
    expect(a.data).toMatchObject({ mimeType: "image/png", width: 640, height: 360 });
    expect(sha(a.data.bytes)).toBe(sha(b.data.bytes));
    expect(sha(a.data.bytes)).toBe(
      sha(
        await paintKeyframe({ width: 640, height: 360, scene, characters: scene.characters.map((name) => ({ name })) }),
      ),
    );
    expect(a.usage).toEqual({ images: 1 });
    expect(a.warnings.join(" ")).toContain("not interpreted");
    const png = await withTempDir(async (dir) => {
      await Bun.write(join(dir, "a.png"), a.data.bytes);
      return probe(join(dir, "a.png"));
    });
    expect(png.streams[0]).toMatchObject({ codec_name: "png", width: 640, height: 360 });
  });
});

describe("local motion provider (ffmpeg pan and zoom)", () => {
  const motion = createLocalMotion();

  test("image-to-video: an H.264 clip of the asked length whose picture moves", async () => {
    const image = await paintKeyframe({ width: 640, height: 360, scene, characters: [{ name: "林小雨" }] });
    const clip = await motion.generate({
      prompt: "",
      image: { bytes: image, mimeType: "image/png" },
      durationS: 2,
      width: 640,
      height: 360,
      fps: 24,
      camera: "close_up",
    });
    expect(clip.data).toMatchObject({ mimeType: "video/mp4", width: 640, height: 360, durationS: 2 });
    expect(clip.usage).toEqual({ videoSeconds: 2 });
    const info = await withTempDir(async (dir) => {
      await Bun.write(join(dir, "c.mp4"), clip.data.bytes);
      return probe(join(dir, "c.mp4"));
    });
    const v = info.streams.find((s) => s.codec_type === "video")!;
    expect(v).toMatchObject({ codec_name: "h264", width: 640, height: 360, r_frame_rate: "24/1" });
    expect(Math.abs(info.durationS - 2)).toBeLessThanOrEqual(0.05);
    const [first, last] = await greyFrames(clip.data.bytes, [0, 1.9], 160, 90);
    // A close-up zooms in: the last frame is not the first.
    expect(meanDiff(first!, last!)).toBeGreaterThan(2);
  });

  test("each camera moves differently; text-to-video paints the scene first", async () => {
    const image = await paintKeyframe({ width: 320, height: 180, scene, characters: [{ name: "林小雨" }] });
    const clips = await Promise.all(
      (["wide", "tracking"] as const).map((camera) =>
        motion.generate({
          prompt: "",
          image: { bytes: image, mimeType: "image/png" },
          durationS: 1,
          width: 320,
          height: 180,
          camera,
        }),
      ),
    );
    const [wideEnd] = await greyFrames(clips[0]!.data.bytes, [0.95], 80, 45);
    const [trackEnd] = await greyFrames(clips[1]!.data.bytes, [0.95], 80, 45);
    expect(meanDiff(wideEnd!, trackEnd!)).toBeGreaterThan(1);
    const t2v = await motion.generate({ prompt: "茶馆", durationS: 1, width: 320, height: 180, scene });
    expect(t2v.data.durationS).toBe(1);
    expect(t2v.warnings.join(" ")).toContain("text-to-video");
  });

  test("refuses a length it cannot make", async () => {
    await expect(motion.generate({ prompt: "", durationS: 0, width: 320, height: 180 })).rejects.toThrow(RangeError);
    await expect(motion.generate({ prompt: "", durationS: 61, width: 320, height: 180 })).rejects.toThrow(RangeError);
  });
});
