// The video composer on real inputs (painted keyframes, espeak narration, local music, Noto
// fonts) and real outputs, measured with ffprobe and ffmpeg: containers and streams, subtitle
// files against the speech timings, burned-in subtitles, ducking, the segment cache, edits,
// transitions, progress and abort.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sampleTimeline } from "../scripts/bench-render/sample.ts";
import { type ComposeResult, compose } from "../src/media/compose.ts";
import { MediaError, probe, runFfmpeg } from "../src/media/ffmpeg.ts";
import { resolveStyle } from "../src/media/subtitles.ts";
import { shotFrames, type Timeline, type TimelineShot } from "../src/media/timeline.ts";
import { createLocalSpeech } from "../src/providers/local/speech.ts";
import {
  columnMean,
  countFrames,
  entries,
  framesAt,
  lavfiPicture,
  majorBrand,
  mean,
  meanAbsDiff,
  meanAbsDiffYuv,
  type ParsedCue,
  parseAss,
  parseSrt,
  parseVtt,
  rmsDb,
  TEST_OUTPUT_DIR,
  topLevelBoxes,
} from "./support/media.ts";

let work = "";
let sample: Timeline;
let main: ComposeResult;
const mainProgress: number[] = [];
/** Shared by the compositions that do not count cache files. */
let cacheDir = "";

const total = (t: Timeline) => t.shots.reduce((s, shot) => s + shot.durationS, 0);
const framesOf = (t: Timeline) => t.shots.reduce((n, shot) => n + shotFrames(shot, t.output.fps), 0);
const variant = (t: Timeline, change: (t: Timeline) => void): Timeline => {
  const copy = structuredClone(t);
  change(copy);
  return copy;
};
const segmentFiles = (dir: string) => entries(dir).filter((f) => f.endsWith(".mp4"));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "inkreel-compose-test-"));
  cacheDir = join(work, "cache");
  // 4 shots of painted stills with espeak narration (each shot lasts at least its narration + 0.5 s,
  // so 4-5 s here), fade/dissolve/cut transitions, ducked music, burned-in subtitles and a cover.
  sample = await sampleTimeline(join(work, "in"), { shots: 4, shotS: 2 });
  main = await compose(sample, { cacheDir, outDir: join(work, "out-main"), onProgress: (p) => mainProgress.push(p) });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** One H.264 and one AAC stream, moov before mdat, the timeline's length and frame count, size and rate. */
async function expectOutput(r: ComposeResult, t: Timeline, want: { width: number; height: number }) {
  const info = await probe(r.video);
  const video = info.streams.filter((s) => s.codec_type === "video");
  const audio = info.streams.filter((s) => s.codec_type === "audio");
  expect(video).toHaveLength(1);
  expect(audio).toHaveLength(1);
  expect(info.streams).toHaveLength(2);
  expect(video[0]).toMatchObject({
    codec_name: "h264",
    width: want.width,
    height: want.height,
    r_frame_rate: `${t.output.fps}/1`,
  });
  expect(audio[0]!.codec_name).toBe("aac");
  expect({ width: r.width, height: r.height }).toEqual(want);
  const expectedS = total(t);
  expect(Math.abs(info.durationS - expectedS)).toBeLessThanOrEqual(0.1);
  expect(Math.abs(Number(video[0]!.duration) - expectedS)).toBeLessThanOrEqual(0.1);
  expect(Math.abs(Number(audio[0]!.duration) - expectedS)).toBeLessThanOrEqual(0.1);
  expect(Math.abs(r.durationS - expectedS)).toBeLessThanOrEqual(0.1);
  // Every frame of every shot is there, no more (the join is by stream copy).
  expect(await countFrames(r.video)).toBe(framesOf(t));
  // +faststart: the moov box (the index) comes before the media data.
  const boxes = await topLevelBoxes(r.video);
  expect(boxes[0]).toBe("ftyp");
  expect(boxes).toContain("moov");
  expect(boxes).toContain("mdat");
  expect(boxes.indexOf("moov")).toBeLessThan(boxes.indexOf("mdat"));
}

describe("output", () => {
  test("720p 16:9 MP4: H.264 + AAC, moov first, 1280×720 at 24 fps, as long as its shots", async () => {
    expect(main.video).toBe(join(work, "out-main", "video.mp4"));
    expect(await majorBrand(main.video)).toBe("isom");
    expect((await probe(main.video)).formatName).toContain("mp4");
    await expectOutput(main, sample, { width: 1280, height: 720 });
    expect(main.warnings).toEqual([]);
    // The shots as the result reports them: back to back from 0, as long as the timeline says.
    let at = 0;
    for (const [i, s] of main.shots.entries()) {
      expect(s.id).toBe(sample.shots[i]!.id);
      expect(s.startS).toBeCloseTo(at, 6);
      expect(s.durationS).toBeCloseTo(sample.shots[i]!.durationS, 6);
      at += s.durationS;
    }
    await mkdir(TEST_OUTPUT_DIR, { recursive: true });
    await copyFile(main.video, join(TEST_OUTPUT_DIR, "sample.mp4"));
  });

  test("the cover is a JPEG at the video's size", async () => {
    expect(main.cover).toBe(join(work, "out-main", "cover.jpg"));
    const info = await probe(main.cover!);
    expect(info.streams[0]).toMatchObject({ codec_type: "video", codec_name: "mjpeg", width: 1280, height: 720 });
    expect(entries(join(work, "out-main")).sort()).toEqual([
      "cover.jpg",
      "subtitles.ass",
      "subtitles.srt",
      "subtitles.vtt",
      "video.mp4",
    ]);
  });

  // Shorter variants: the first two shots (about 9 s) are enough to check size, rate and container.
  const two = (change: (t: Timeline) => void) =>
    variant(sample, (t) => {
      t.shots = t.shots.slice(0, 2);
      change(t);
    });

  test("9:16 gives 720×1280", async () => {
    const t = two((t) => (t.output.aspectRatio = "9:16"));
    const r = await compose(t, { cacheDir, outDir: join(work, "out-vertical") });
    await expectOutput(r, t, { width: 720, height: 1280 });
    const cover = await probe(r.cover!);
    expect(cover.streams[0]).toMatchObject({ width: 720, height: 1280 });
  });

  test("30 fps", async () => {
    const t = two((t) => (t.output.fps = 30));
    const r = await compose(t, { cacheDir, outDir: join(work, "out-30fps") });
    await expectOutput(r, t, { width: 1280, height: 720 });
  });

  test("MOV: a QuickTime file with the same streams", async () => {
    const t = two((t) => (t.output.format = "mov"));
    const r = await compose(t, { cacheDir, outDir: join(work, "out-mov") });
    expect(r.video).toBe(join(work, "out-mov", "video.mov"));
    expect(await majorBrand(r.video)).toBe("qt  ");
    expect((await probe(r.video)).formatName).toContain("mov");
    await expectOutput(r, t, { width: 1280, height: 720 });
  });

  test("1080p gives 1920×1080", async () => {
    // Kept short: two 1.5 s shots without narration (so no subtitles either), music only.
    const t = two((t) => {
      t.output.resolution = "1080p";
      t.cover = null;
      for (const s of t.shots) {
        s.durationS = 1.5;
        s.audio = [];
      }
    });
    const r = await compose(t, { cacheDir, outDir: join(work, "out-1080p") });
    await expectOutput(r, t, { width: 1920, height: 1080 });
    expect(r.subtitles).toBeNull();
    expect(r.cover).toBeNull();
    expect(entries(join(work, "out-1080p"))).toEqual(["video.mp4"]);
  });
});

/** The cues the timeline's speech timings call for: shot start + line offset + timing, cut at the shot's end. */
function expectedCues(t: Timeline): ParsedCue[] {
  const cues: ParsedCue[] = [];
  let at = 0;
  for (const shot of t.shots) {
    const lengthS = shotFrames(shot, t.output.fps) / t.output.fps;
    for (const line of shot.audio ?? []) {
      for (const timing of line.timings ?? []) {
        cues.push({
          startS: at + line.offsetS + timing.startS,
          endS: Math.min(at + lengthS, at + line.offsetS + timing.endS),
          text: timing.text,
        });
      }
    }
    at += lengthS;
  }
  return cues;
}

describe("subtitle files", () => {
  test("SRT, VTT and ASS exist and their cues follow the speech timings", async () => {
    const want = expectedCues(sample);
    // The sample's sentences are short enough to stay one cue each.
    expect(want.length).toBeGreaterThanOrEqual(sample.shots.length);
    expect(main.subtitles).toEqual({
      srt: join(work, "out-main", "subtitles.srt"),
      vtt: join(work, "out-main", "subtitles.vtt"),
      ass: join(work, "out-main", "subtitles.ass"),
    });
    const parsed = {
      srt: parseSrt(await Bun.file(main.subtitles!.srt).text()),
      vtt: parseVtt(await Bun.file(main.subtitles!.vtt).text()),
      ass: parseAss(await Bun.file(main.subtitles!.ass).text()),
    };
    for (const [format, cues] of Object.entries(parsed)) {
      expect({ format, texts: cues.map((c) => c.text) }).toEqual({ format, texts: want.map((c) => c.text) });
      cues.forEach((c, i) => {
        // SRT and VTT keep milliseconds, ASS centiseconds: 0.02 s covers either rounding.
        expect(Math.abs(c.startS - want[i]!.startS)).toBeLessThanOrEqual(0.02);
        expect(Math.abs(c.endS - want[i]!.endS)).toBeLessThanOrEqual(0.02);
      });
    }
  });
});

describe("burned-in subtitles", () => {
  test("change the subtitle area of a frame inside a cue and leave the top half alone", async () => {
    const plainTimeline = variant(sample, (t) => (t.subtitles = { burnIn: false }));
    const plain = await compose(plainTimeline, { cacheDir, outDir: join(work, "out-noburn") });
    const fps = sample.output.fps;
    // A cue in a shot that starts with a cut, at least 0.6 s from the shot's ends (clear of fades).
    const cues = parseSrt(await Bun.file(main.subtitles!.srt).text());
    const cue = cues.find((c) => {
      const mid = (c.startS + c.endS) / 2;
      const i = main.shots.findIndex((s) => mid >= s.startS && mid < s.startS + s.durationS);
      const s = main.shots[i]!;
      return (
        (sample.shots[i]!.transition ?? "cut") === "cut" && mid - s.startS > 0.6 && s.startS + s.durationS - mid > 0.6
      );
    })!;
    expect(cue).toBeDefined();
    const index = Math.floor(((cue.startS + cue.endS) / 2) * fps);
    const [burned] = await framesAt(main.video, [index]);
    const [clean] = await framesAt(plain.video, [index]);
    const subtitleArea: [number, number] = [0.8, 1];
    const bottom = meanAbsDiff(burned!, clean!, subtitleArea);
    const top = meanAbsDiff(burned!, clean!, [0, 0.5]);

    // The threshold, from the default style's geometry: the box (55 % black) is at least one font
    // size tall and about one em wide per Han character; every pixel it covers changes by at least
    // min(0.55 × background, 255 − background) (darkened by the box, or turned to white text). Half
    // of that over the bottom 20 % leaves room for glyph edges and the box's exact extent.
    const style = resolveStyle(undefined, main.height);
    const boxArea = [...cue.text].length * style.size * 0.9 * style.size;
    const areaShare = boxArea / (main.width * main.height * 0.2);
    const background = mean(clean!, subtitleArea);
    const perPixel = Math.min(style.boxOpacity * background, 255 - background);
    const threshold = 0.5 * areaShare * perPixel;
    expect(threshold).toBeGreaterThan(1);
    expect(bottom).toBeGreaterThan(threshold);
    // Two encodes of the same picture: only coding noise (measured well under 0.5).
    expect(top).toBeLessThan(0.5);
    expect(bottom).toBeGreaterThan(10 * Math.max(top, 0.1));

    // A frame to look at: burned-in Chinese subtitles.
    await mkdir(TEST_OUTPUT_DIR, { recursive: true });
    await runFfmpeg([
      "-i",
      main.video,
      "-vf",
      `select=eq(n\\,${index})`,
      "-vsync",
      "0",
      "-frames:v",
      "1",
      join(TEST_OUTPUT_DIR, "sample-subtitle-frame.png"),
    ]);
    const png = await probe(join(TEST_OUTPUT_DIR, "sample-subtitle-frame.png"));
    expect(png.streams[0]).toMatchObject({ codec_name: "png", width: 1280, height: 720 });
  });
});

describe("background music", () => {
  test("is ducked under speech: the music alone is several dB lower while someone speaks", async () => {
    // The method: the music is a steady 12 kHz tone, and the speech is espeak at 22.05 kHz, which
    // holds nothing above 11.025 kHz. A steep high-pass at 11.5 kHz therefore keeps the music and
    // drops the speech, so the music's level can be read from the final (mixed, AAC) audio. The
    // same timeline is composed with duck on and off; a third composition without music checks
    // that the high-pass really leaves (almost) no speech. Comparing duck on/off in the same
    // window also rules out the AAC encoder starving the tone while speech is present.
    const dir = join(work, "duck");
    await mkdir(dir, { recursive: true });
    const tone = join(dir, "tone.wav");
    await runFfmpeg(["-f", "lavfi", "-i", "sine=frequency=12000:sample_rate=48000:duration=10", "-ac", "2", tone]);
    const line = sample.shots[1]!.audio![0]!;
    const offsetS = 2.5;
    const timeline = (bgm: Timeline["bgm"]): Timeline => ({
      output: { resolution: "720p", aspectRatio: "16:9", fps: 24, format: "mp4" },
      shots: [{ id: "talk", visual: sample.shots[1]!.visual, durationS: 8, audio: [{ ...line, offsetS }] }],
      bgm,
    });
    const ducked = await compose(timeline({ path: tone, volume: 0.5, duck: true }), {
      cacheDir,
      outDir: join(dir, "on"),
    });
    const steady = await compose(timeline({ path: tone, volume: 0.5, duck: false }), {
      cacheDir,
      outDir: join(dir, "off"),
    });
    const voiceOnly = await compose(timeline(null), { cacheDir, outDir: join(dir, "none") });

    const highPass = Array(3).fill("highpass=f=11500:poles=2");
    const music = (video: string, [a, b]: [number, number]) => rmsDb(video, a, b, highPass);
    const timings = line.timings!;
    const speaking: [number, number] = [offsetS + timings[0]!.startS + 0.2, offsetS + timings.at(-1)!.endS - 0.1];
    const before: [number, number] = [0.5, offsetS - 0.3];
    // The compressor releases over 0.5 s after the speech stops.
    const after: [number, number] = [offsetS + timings.at(-1)!.endS + 1, 7.8];
    expect(speaking[1] - speaking[0]).toBeGreaterThan(1.5);
    expect(after[1] - after[0]).toBeGreaterThan(0.5);

    const on = {
      before: await music(ducked.video, before),
      speaking: await music(ducked.video, speaking),
      after: await music(ducked.video, after),
    };
    const off = {
      before: await music(steady.video, before),
      speaking: await music(steady.video, speaking),
      after: await music(steady.video, after),
    };
    const speechLeak = await music(voiceOnly.video, speaking);

    // The high-pass isolates the music: speech alone leaves 30 dB less than the music does.
    expect(speechLeak).toBeLessThan(off.speaking - 30);
    // Without ducking the music is steady.
    expect(Math.abs(off.speaking - off.before)).toBeLessThan(1);
    // With ducking it drops by a clear margin while someone speaks...
    expect(on.speaking).toBeLessThan(off.speaking - 3);
    expect(on.speaking).toBeLessThan(on.before - 3);
    // ...and is the same as without ducking when nobody does.
    expect(Math.abs(on.before - off.before)).toBeLessThan(1);
    expect(Math.abs(on.after - off.after)).toBeLessThan(1);
  });
});

describe("segment cache", () => {
  const speech = createLocalSpeech();
  let base: Timeline;
  let dir = "";
  let cache = "";
  const run = async (t: Timeline, name: string) => compose(t, { cacheDir: cache, outDir: join(dir, name) });
  const cachedFlags = (r: ComposeResult) => r.shots.map((s) => s.cached);

  beforeAll(async () => {
    dir = join(work, "cache-test");
    cache = join(dir, "segments");
    // Every shot cut, so a change to one shot's transition is the only transition change.
    base = variant(sample, (t) => {
      t.cover = null;
      for (const s of t.shots) s.transition = "cut";
    });
  });

  test("a first composition renders every shot; the same timeline again renders none", async () => {
    const first = await run(base, "first");
    expect(first.segments).toEqual({ rendered: 4, reused: 0 });
    expect(cachedFlags(first)).toEqual([false, false, false, false]);
    expect(segmentFiles(cache)).toHaveLength(4);
    const again = await run(base, "again");
    expect(again.segments).toEqual({ rendered: 0, reused: 4 });
    expect(cachedFlags(again)).toEqual([true, true, true, true]);
    expect(again.shots.map((s) => s.digest)).toEqual(first.shots.map((s) => s.digest));
    expect(segmentFiles(cache)).toHaveLength(4);
    expect(await countFrames(again.video)).toBe(framesOf(base));
  });

  test("new narration on shot 2 re-renders only shot 2 (its burned-in subtitles changed)", async () => {
    const text = "掌柜摇了摇头。";
    const voice = await speech.generate({ text, language: "zh", voice: "narrator" });
    expect(voice.data.durationS + 0.3).toBeLessThan(base.shots[1]!.durationS);
    const path = join(dir, "new-line.wav");
    await Bun.write(path, voice.data.bytes);
    base = variant(base, (t) => {
      t.shots[1]!.audio = [{ path, offsetS: 0.3, text, timings: voice.data.timings }];
    });
    const r = await run(base, "narration");
    expect(r.segments).toEqual({ rendered: 1, reused: 3 });
    expect(cachedFlags(r)).toEqual([true, false, true, true]);
    expect(segmentFiles(cache)).toHaveLength(5);
    const srt = await Bun.file(r.subtitles!.srt).text();
    expect(srt).toContain(text);
    expect(srt).not.toContain("掌柜笑着问道。");
    expect(await countFrames(r.video)).toBe(framesOf(base));
  });

  test("shot 2 dissolving in re-renders only shot 2", async () => {
    base = variant(base, (t) => (t.shots[1]!.transition = "dissolve"));
    const r = await run(base, "dissolve");
    expect(r.segments).toEqual({ rendered: 1, reused: 3 });
    expect(cachedFlags(r)).toEqual([true, false, true, true]);
    expect(segmentFiles(cache)).toHaveLength(6);
  });

  test("shot 3 fading in re-renders shots 2 and 3 (shot 2 now fades out)", async () => {
    base = variant(base, (t) => (t.shots[2]!.transition = "fade"));
    const r = await run(base, "fade");
    expect(r.segments).toEqual({ rendered: 2, reused: 2 });
    expect(cachedFlags(r)).toEqual([true, false, false, true]);
    expect(segmentFiles(cache)).toHaveLength(8);
    expect(await countFrames(r.video)).toBe(framesOf(base));
  });

  test("an edit of shot 1 re-renders shot 1 and shot 2, which dissolves from shot 1's picture", async () => {
    base = variant(base, (t) => (t.shots[0]!.edit = { filter: { name: "warm", intensity: 0.8 } }));
    const progress: number[] = [];
    const r = await compose(base, { cacheDir: cache, outDir: join(dir, "edit"), onProgress: (p) => progress.push(p) });
    expect(r.segments).toEqual({ rendered: 2, reused: 2 });
    expect(cachedFlags(r)).toEqual([false, false, true, true]);
    expect(segmentFiles(cache)).toHaveLength(10);
    expectProgress(progress);
  });

  test("a video joined from cached and fresh segments shows the same frames as one rendered from scratch", async () => {
    // The last composition mixed segments from one-shot runs, from multi-shot runs, and cached
    // ones; each shot's first and last frame must sit exactly where a from-scratch render has them.
    const joined = await run(base, "joined");
    expect(joined.segments.reused).toBe(4);
    const fresh = await compose(base, { cacheDir: join(dir, "fresh-segments"), outDir: join(dir, "fresh") });
    expect(fresh.segments.rendered).toBe(4);
    const fps = base.output.fps;
    const boundaries = fresh.shots.flatMap((s) => [
      Math.round(s.startS * fps),
      Math.round((s.startS + s.durationS) * fps) - 1,
    ]);
    const a = await framesAt(joined.video, boundaries);
    const b = await framesAt(fresh.video, boundaries);
    for (const [i, n] of boundaries.entries())
      expect({ frame: n, close: meanAbsDiff(a[i]!, b[i]!) < 1.5 }).toEqual({ frame: n, close: true });
    expect(await countFrames(joined.video)).toBe(framesOf(base));
  });
});

/** Progress: at least one report before the end, never backwards, within 0-100, ending at 100. */
function expectProgress(values: number[]) {
  expect(values.length).toBeGreaterThanOrEqual(2);
  expect(values.at(-1)).toBe(100);
  expect(values.filter((v) => v < 100).length).toBeGreaterThanOrEqual(1);
  for (const [i, v] of values.entries()) {
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThanOrEqual(100);
    if (i > 0) expect(v).toBeGreaterThanOrEqual(values[i - 1]!);
  }
}

describe("edits", () => {
  let r: ComposeResult;
  let timeline: Timeline;
  const still = (id: string, path: string, edit?: TimelineShot["edit"]): TimelineShot => ({
    id,
    visual: { kind: "still", path },
    durationS: 1,
    edit,
  });
  /** Frame in the middle of each shot, by id. */
  const mid = (id: string) => Math.floor((r.shots.find((s) => s.id === id)!.startS + 0.5) * timeline.output.fps);

  beforeAll(async () => {
    const dir = join(work, "edits");
    await mkdir(dir, { recursive: true });
    // A horizontal ramp (black at the left, white at the right) shows where the view went;
    // testsrc2's colour bars show what a colour look did.
    const ramp = await lavfiPicture(
      join(dir, "ramp.png"),
      "nullsrc=size=1280x720",
      "geq=lum='X*255/W':cb=128:cr=128,format=gray",
    );
    const colour = await lavfiPicture(join(dir, "colour.png"), "testsrc2=size=1280x720");
    // A 1 s clip (a moving pattern with a frame counter), shown for 2.5 s (looped) and for 0.5 s.
    const clip = join(dir, "clip.mp4");
    await runFfmpeg([
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=640x360:rate=24",
      "-t",
      "1",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-pix_fmt",
      "yuv420p",
      clip,
    ]);
    timeline = {
      output: { resolution: "720p", aspectRatio: "16:9", fps: 24, format: "mp4" },
      shots: [
        still("ramp", ramp),
        still("crop", ramp, { crop: { x: 0, y: 0, w: 0.5, h: 1 } }),
        still("zoom", ramp, { zoom: 2 }),
        still("pan-left", ramp, { zoom: 2, pan: { x: -1, y: 0 } }),
        still("pan-right", ramp, { zoom: 2, pan: { x: 1, y: 0 } }),
        still("rotate-180", ramp, { rotation: 180 }),
        still("rotate-90", ramp, { rotation: 90 }),
        still("colour", colour),
        still("grayscale", colour, { filter: { name: "grayscale", intensity: 1 } }),
        still("sepia", colour, { filter: { name: "sepia", intensity: 1 } }),
        { id: "clip-looped", visual: { kind: "clip", path: clip }, durationS: 2.5 },
        { id: "clip-cut", visual: { kind: "clip", path: clip }, durationS: 0.5 },
      ],
    };
    r = await compose(timeline, { cacheDir, outDir: join(dir, "out") });
  });

  test("crop, zoom, pan and rotation move the view the way they say", async () => {
    const ids = ["ramp", "crop", "zoom", "pan-left", "pan-right", "rotate-180", "rotate-90"];
    const f = Object.fromEntries((await framesAt(r.video, ids.map(mid))).map((p, i) => [ids[i]!, p]));
    const plain = f.ramp!;
    // The plain ramp: dark at the left, bright at the right.
    expect(columnMean(plain, 0, 0.05)).toBeLessThan(20);
    expect(columnMean(plain, 0.95, 1)).toBeGreaterThan(235);
    // Each edit changes the picture far beyond coding noise (< 1).
    for (const id of ids.slice(1)) expect({ id, diff: meanAbsDiff(f[id]!, plain) > 20 }).toEqual({ id, diff: true });
    // Crop to the left half: the frame's right edge shows what was the middle.
    expect(Math.abs(columnMean(f.crop!, 0.95, 1) - columnMean(plain, 0.475, 0.5))).toBeLessThan(8);
    expect(Math.abs(columnMean(f.crop!, 0, 0.05) - columnMean(plain, 0, 0.025))).toBeLessThan(8);
    // Zoom 2 around the centre: the frame spans the middle half of the ramp.
    expect(Math.abs(columnMean(f.zoom!, 0, 0.05) - columnMean(plain, 0.25, 0.275))).toBeLessThan(8);
    expect(Math.abs(mean(f.zoom!) - mean(plain))).toBeLessThan(5);
    // Pan left/right at zoom 2: the left or right half of the ramp.
    expect(mean(f["pan-left"]!)).toBeLessThan(mean(plain) - 40);
    expect(mean(f["pan-right"]!)).toBeGreaterThan(mean(plain) + 40);
    // Rotation by 180°: bright at the left now. By 90° clockwise: the dark left side is at the top.
    expect(columnMean(f["rotate-180"]!, 0, 0.05)).toBeGreaterThan(235);
    expect(columnMean(f["rotate-180"]!, 0.95, 1)).toBeLessThan(20);
    expect(mean(f["rotate-90"]!, [0, 0.1])).toBeLessThan(mean(f["rotate-90"]!, [0.9, 1]) - 40);
    expect(Math.abs(columnMean(f["rotate-90"]!, 0, 0.1) - columnMean(f["rotate-90"]!, 0.9, 1))).toBeLessThan(5);
  });

  test("colour looks change the picture; grayscale at intensity 1 leaves no colour (U and V at 128)", async () => {
    const [colour, gray, sepia] = await framesAt(r.video, [mid("colour"), mid("grayscale"), mid("sepia")], "yuv420p");
    const chromaDeviation = (p: typeof colour) => {
      let max = 0;
      let sum = 0;
      for (const plane of [p!.u!, p!.v!]) {
        for (const v of plane) {
          max = Math.max(max, Math.abs(v - 128));
          sum += Math.abs(v - 128);
        }
      }
      return { max, mean: sum / (p!.u!.length * 2) };
    };
    // The source is colourful...
    expect(chromaDeviation(colour).mean).toBeGreaterThan(20);
    // ...grayscale removes every bit of it (H.264 codes a flat 128 plane exactly or nearly so)...
    expect(chromaDeviation(gray).max).toBeLessThanOrEqual(2);
    // ...and both looks make frames that differ from the unedited one.
    expect(meanAbsDiffYuv(gray!, colour!)).toBeGreaterThan(10);
    expect(meanAbsDiffYuv(sepia!, colour!)).toBeGreaterThan(10);
  });

  test("a clip shorter than its shot loops, one longer is cut, and both last their shot's duration", async () => {
    expect(await countFrames(r.video)).toBe(framesOf(timeline));
    expect(Math.abs((await probe(r.video)).durationS - total(timeline))).toBeLessThanOrEqual(0.1);
    const looped = r.shots.find((s) => s.id === "clip-looped")!;
    const cut = r.shots.find((s) => s.id === "clip-cut")!;
    expect(looped.durationS).toBeCloseTo(2.5, 6);
    expect(cut.durationS).toBeCloseTo(0.5, 6);
    expect(cut.startS).toBeCloseTo(looped.startS + 2.5, 6);
    // The clip is 1 s long: 1.25 s into the shot shows what 0.25 s did; 0.75 s shows something else.
    const fps = timeline.output.fps;
    const at = (s: number) => Math.round((looped.startS + s) * fps);
    const [a, b, c, d] = await framesAt(r.video, [at(0.25), at(1.25), at(2.25), at(0.75)]);
    expect(meanAbsDiff(a!, b!)).toBeLessThan(1);
    expect(meanAbsDiff(a!, c!)).toBeLessThan(1);
    expect(meanAbsDiff(a!, d!)).toBeGreaterThan(3);
  });
});

describe("transitions", () => {
  test("dissolve and wipe blend from the previous shot; fade starts from black", async () => {
    const dir = join(work, "transitions");
    await mkdir(dir, { recursive: true });
    const dark = await lavfiPicture(join(dir, "dark.png"), "color=c=0x303030:size=1280x720");
    const bright = await lavfiPicture(join(dir, "bright.png"), "color=c=0xD0D0D0:size=1280x720");
    const shot = (
      id: string,
      path: string,
      transition: TimelineShot["transition"],
      transitionS?: number,
    ): TimelineShot => ({
      id,
      visual: { kind: "still", path },
      durationS: 2,
      transition,
      transitionS,
    });
    const timeline: Timeline = {
      output: { resolution: "720p", aspectRatio: "16:9", fps: 24, format: "mp4" },
      shots: [
        shot("a", dark, "cut"),
        shot("b", bright, "dissolve", 1),
        shot("c", dark, "wipe", 1),
        shot("d", bright, "fade", 0.5),
      ],
    };
    const r = await compose(timeline, { cacheDir, outDir: join(dir, "out") });
    const fps = timeline.output.fps;
    const start = (id: string) => Math.round(r.shots.find((s) => s.id === id)!.startS * fps);
    const T = fps; // 1 s transitions

    // Dissolve into b: the middle frame is the average of a's last frame and b's own picture.
    {
      const [prev, middle, own] = await framesAt(r.video, [start("b") - 1, start("b") + T / 2, start("b") + T + 6]);
      const range = Math.abs(mean(own!) - mean(prev!));
      expect(range).toBeGreaterThan(100);
      expect(meanAbsDiff(middle!, prev!)).toBeGreaterThan(0.3 * range);
      expect(meanAbsDiff(middle!, own!)).toBeGreaterThan(0.3 * range);
      expect(Math.abs(mean(middle!) - (mean(prev!) + mean(own!)) / 2)).toBeLessThan(0.15 * range);
    }
    // Wipe into c: b's picture slides off to the left, uncovering c's from the right.
    {
      const [prev, middle, own] = await framesAt(r.video, [start("c") - 1, start("c") + T / 2, start("c") + T + 6]);
      const range = Math.abs(mean(own!) - mean(prev!));
      expect(meanAbsDiff(middle!, prev!)).toBeGreaterThan(0.3 * range);
      expect(meanAbsDiff(middle!, own!)).toBeGreaterThan(0.3 * range);
      expect(Math.abs(columnMean(middle!, 0, 0.1) - mean(prev!))).toBeLessThan(10);
      expect(Math.abs(columnMean(middle!, 0.9, 1) - mean(own!))).toBeLessThan(10);
    }
    // Fade into d: d starts from black, and c fades out to black before it.
    {
      const [cSteady, cLast, dFirst, dLater] = await framesAt(r.video, [
        start("c") + T + 6,
        start("d") - 1,
        start("d"),
        start("d") + 24,
      ]);
      expect(mean(dFirst!)).toBeLessThan(10);
      expect(mean(dLater!)).toBeGreaterThan(150);
      expect(mean(cLast!)).toBeLessThan(mean(cSteady!) / 2);
    }
  });
});

describe("progress", () => {
  test("onProgress rises from below 100 to 100 and never goes back", () => {
    expectProgress(mainProgress);
  });
});

describe("abort", () => {
  const abortTimeline = () => variant(sample, (t) => (t.output.fps = 25)); // new digests: nothing cached

  const expectNothingLeft = (outDir: string, cache: string) => {
    // Nothing in outDir: no results and no .compose-* work directory.
    expect(entries(outDir)).toEqual([]);
    // The cache holds only whole segments (named by digest), never a partial file.
    for (const f of entries(cache)) expect(f).toMatch(/^[0-9a-f]{64}\.mp4$/);
  };

  test("aborting while the segments render rejects as aborted and leaves nothing behind", async () => {
    const dir = join(work, "abort");
    const controller = new AbortController();
    // Aborts at the first progress report: while the first run of segments renders.
    const err = await compose(abortTimeline(), {
      cacheDir: join(dir, "cache"),
      outDir: join(dir, "out"),
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }).catch((e: unknown) => e);
    expect(controller.signal.aborted).toBe(true);
    expect(err).toBeInstanceOf(MediaError);
    expect((err as MediaError).reason).toBe("aborted");
    expect((err as MediaError).message).toContain("aborted");
    expectNothingLeft(join(dir, "out"), join(dir, "cache"));
  });

  test("a signal aborted before compose starts rejects as aborted and leaves nothing behind", async () => {
    const dir = join(work, "abort-early");
    const controller = new AbortController();
    controller.abort();
    const err = await compose(abortTimeline(), {
      cacheDir: join(dir, "cache"),
      outDir: join(dir, "out"),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect((err as MediaError).reason).toBe("aborted");
    expectNothingLeft(join(dir, "out"), join(dir, "cache"));
    expect(segmentFiles(join(dir, "cache"))).toEqual([]);
  });
});
