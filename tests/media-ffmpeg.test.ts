import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MediaError, type Progress, probe, runFfmpeg, withTempDir } from "../src/media/ffmpeg.ts";
import { mediaTools } from "../src/media/tools.ts";

describe("ffmpeg runner", () => {
  test("finds ffmpeg and ffprobe (PATH or the installer packages)", () => {
    const tools = mediaTools();
    expect(existsSync(tools.ffmpeg)).toBe(true);
    expect(existsSync(tools.ffprobe)).toBe(true);
  });

  test("renders a real H.264 + AAC clip, reports progress, and ffprobe reads it back", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "clip.mp4");
      const seen: Progress[] = [];
      await runFfmpeg(
        [
          "-f",
          "lavfi",
          "-i",
          "testsrc2=size=320x240:rate=25",
          "-f",
          "lavfi",
          "-i",
          "sine=frequency=440:sample_rate=44100",
          "-t",
          "2",
          "-c:v",
          "libx264",
          "-preset",
          "ultrafast",
          "-pix_fmt",
          "yuv420p",
          "-c:a",
          "aac",
          "-shortest",
          "-movflags",
          "+faststart",
          out,
        ],
        { durationS: 2, onProgress: (p) => seen.push(p) },
      );
      const info = await probe(out);
      expect(Math.abs(info.durationS - 2)).toBeLessThanOrEqual(0.1);
      const video = info.streams.find((s) => s.codec_type === "video")!;
      expect(video).toMatchObject({ codec_name: "h264", width: 320, height: 240, r_frame_rate: "25/1" });
      expect(info.streams.find((s) => s.codec_type === "audio")?.codec_name).toBe("aac");
      expect(seen.at(-1)).toMatchObject({ done: true, percent: 100 });
      expect(seen.at(-1)!.outTimeS).toBeGreaterThan(1.5);
    });
  });

  test("a bad input fails with ffmpeg's own reason, not a bare exit code", async () => {
    const err = await runFfmpeg(["-i", "/nonexistent/input.png", "-f", "null", "-"]).catch((e) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect(err.reason).toBe("exit");
    expect(err.message).toContain("No such file or directory");
    const probed = await probe("/nonexistent/input.png").catch((e) => e);
    expect(probed).toBeInstanceOf(MediaError);
    expect(probed.reason).toBe("probe");
  });

  test("a timeout kills ffmpeg; an abort signal does too", async () => {
    const started = performance.now();
    const slow = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "30", "-f", "null", "-"];
    const timedOut = await runFfmpeg(slow, { timeoutMs: 300 }).catch((e) => e);
    expect(timedOut).toBeInstanceOf(MediaError);
    expect(timedOut.reason).toBe("timeout");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const aborted = await runFfmpeg(slow, { signal: controller.signal }).catch((e) => e);
    expect(aborted.reason).toBe("aborted");
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("temporary directories are removed on success and on failure", async () => {
    let kept = "";
    await withTempDir(async (dir) => {
      kept = dir;
    });
    expect(existsSync(kept)).toBe(false);
    await withTempDir(async (dir) => {
      kept = dir;
      throw new Error("boom");
    }).catch(() => {});
    expect(existsSync(kept)).toBe(false);
  });
});
