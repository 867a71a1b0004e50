// The one place bytes are identified: file-type for the format, image-size for pixel sizes,
// music-metadata for a WAV's length; each checked against what ffmpeg wrote and ffprobe reads.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probe, runFfmpeg } from "../src/media/ffmpeg.ts";
import { type ImageMime, isMp4, sniff, sniffImage, wavInfo } from "../src/media/sniff.ts";
import { bareDocx, wordDocx } from "./support/docx.ts";
import { emptyWav, randomBytes } from "./support/media.ts";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "inkreel-sniff-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** One frame of a test picture, `w`×`h`, written by ffmpeg with `args`. */
async function picture(name: string, w: number, h: number, args: string[] = []): Promise<Uint8Array> {
  const path = join(dir, name);
  await runFfmpeg(["-f", "lavfi", "-i", `testsrc2=size=${w}x${h}`, "-frames:v", "1", ...args, path]);
  return Bun.file(path).bytes();
}

describe("images", () => {
  test("PNG, JPEG and WebP (VP8, VP8L, VP8X): type and size", async () => {
    const cases: Array<[string, string[], ImageMime]> = [
      ["a.png", [], "image/png"],
      ["a.jpg", [], "image/jpeg"],
      ["lossy.webp", ["-c:v", "libwebp", "-lossless", "0"], "image/webp"],
      ["lossless.webp", ["-c:v", "libwebp", "-lossless", "1"], "image/webp"],
      ["alpha.webp", ["-vf", "format=rgba,colorchannelmixer=aa=0.5", "-c:v", "libwebp"], "image/webp"],
    ];
    for (const [w, h] of [
      [320, 180],
      [720, 1280],
    ] as const) {
      for (const [name, args, mimeType] of cases) {
        const bytes = await picture(`${w}-${name}`, w, h, args);
        if (name === "alpha.webp") expect(new TextDecoder().decode(bytes.subarray(12, 16))).toBe("VP8X");
        expect(await sniffImage(bytes), `${w}x${h} ${name}`).toEqual({ mimeType, width: w, height: h });
      }
    }
  });

  test("a header is enough; a cut-short JPEG keeps its type without a size; other formats and noise are null", async () => {
    const png = await picture("whole.png", 640, 360);
    // Signature + IHDR, then noise: the header still says 640×360 (decoding it is ffmpeg's failure to report).
    const headerOnly = new Uint8Array([...png.subarray(0, 33), ...randomBytes(5000, 4)]);
    expect(await sniffImage(headerOnly)).toEqual({ mimeType: "image/png", width: 640, height: 360 });
    const jpeg = await picture("whole.jpg", 640, 360);
    expect(await sniffImage(jpeg.subarray(0, 8))).toEqual({ mimeType: "image/jpeg" });
    expect(await sniffImage(await picture("a.gif", 64, 64))).toBeNull();
    expect(await sniffImage(randomBytes(20_000, 3))).toBeNull();
    expect(await sniffImage(new TextEncoder().encode("not an image"))).toBeNull();
    expect(await sniffImage(new Uint8Array(0))).toBeNull();
  });
});

describe("containers", () => {
  test("an MP4 is one, a WAV and a PNG are not; a Word document is named, a bare one is a ZIP", async () => {
    const mp4 = join(dir, "clip.mp4");
    await runFfmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x90:duration=0.2", "-pix_fmt", "yuv420p", mp4]);
    expect(await isMp4(await Bun.file(mp4).bytes())).toBe(true);
    expect(await isMp4(emptyWav())).toBe(false);
    expect(await isMp4(await picture("b.png", 16, 16))).toBe(false);
    expect(await sniff(wordDocx(["text"]))).toMatchObject({ ext: "docx" });
    expect(await sniff(bareDocx(["text"]))).toMatchObject({ ext: "zip" });
    expect(await sniff(new TextEncoder().encode("plain text"))).toBeUndefined();
  });
});

describe("WAV length", () => {
  test("agrees with ffprobe for PCM, float, extensible and tagged WAVs; no samples is 0 s; other audio is null", async () => {
    for (const [name, args] of [
      ["s16-mono", ["-ar", "22050", "-ac", "1"]],
      ["s24-stereo", ["-c:a", "pcm_s24le", "-ac", "2"]],
      ["f32", ["-c:a", "pcm_f32le"]],
      ["six-channels", ["-ac", "6"]],
      ["tagged", ["-metadata", "title=tagged", "-ac", "1"]],
    ] as const) {
      const path = join(dir, `${name}.wav`);
      await runFfmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2.345", ...args, path]);
      const bytes = await Bun.file(path).bytes();
      const audio = (await probe(path)).streams.find((s) => s.codec_type === "audio")!;
      const info = (await wavInfo(path, bytes.subarray(0, 65_536)))!;
      expect(info.channels, name).toBe(audio.channels!);
      expect(Math.abs(info.durationS - Number(audio.duration)), name).toBeLessThan(0.001);
    }
    const empty = join(dir, "empty.wav");
    await Bun.write(empty, emptyWav());
    expect(await wavInfo(empty, emptyWav())).toEqual({ durationS: 0, channels: 1 });
    const mp3 = join(dir, "a.mp3");
    await runFfmpeg(["-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "libmp3lame", mp3]);
    expect(await wavInfo(mp3, await Bun.file(mp3).bytes())).toBeNull();
  });
});
