// Bad timelines and bad input files: each must fail with a ComposeError that names the shot to
// blame (or none, for whole-timeline problems) and says what is wrong, before or without leaving
// anything behind: no video, subtitles or cover in outDir, no work directory, no new or partial
// segment in the cache.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compose } from "../src/media/compose.ts";
import { ComposeError } from "../src/media/compose-error.ts";
import { runFfmpeg } from "../src/media/ffmpeg.ts";
import type { Timeline } from "../src/media/timeline.ts";
import { emptyWav, entries, lavfiPicture, randomBytes } from "./support/media.ts";

let work = "";
let cacheDir = "";
const files = { png: "", wav: "" };
let outputs = 0;

const segmentFiles = (dir: string) =>
  entries(dir)
    .filter((f) => f.endsWith(".mp4"))
    .sort();

/** Two valid one-second shots "a" and "b" with a narration line each, subtitles, music and a cover. */
function base(): Timeline {
  return {
    output: { resolution: "720p", aspectRatio: "16:9", fps: 24, format: "mp4" },
    shots: [
      {
        id: "a",
        visual: { kind: "still", path: files.png },
        durationS: 1,
        audio: [{ path: files.wav, offsetS: 0.1, text: "First line." }],
      },
      {
        id: "b",
        visual: { kind: "still", path: files.png },
        durationS: 1,
        transition: "dissolve",
        audio: [{ path: files.wav, offsetS: 0.1, text: "Second line." }],
      },
    ],
    bgm: { path: files.wav, volume: 0.3 },
    subtitles: { burnIn: true },
    cover: { title: "Title" },
  };
}

const edit = (change: (t: Timeline) => void): Timeline => {
  const t = base();
  change(t);
  return t;
};

/** Writes `bytes` to a new file in the work directory and returns its path. */
async function file(name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(work, "inputs", name);
  await Bun.write(path, bytes);
  return path;
}

/** Composes `t` expecting a ComposeError for `shotId` whose message matches `cause`, and no trace of it. */
async function expectRejected(t: Timeline, shotId: string | null, cause: RegExp, cache = cacheDir) {
  const outDir = join(work, `out-${++outputs}`);
  const before = segmentFiles(cache);
  const err = await compose(t, { cacheDir: cache, outDir }).catch((e: unknown) => e);
  if (!(err instanceof ComposeError))
    throw new Error(
      `expected a ComposeError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
    );
  expect({ shotId: err.shotId, message: err.message }).toEqual({ shotId, message: expect.stringMatching(cause) });
  if (shotId) expect(err.message.startsWith(`shot "${shotId}": `)).toBe(true);
  expect(err.problem.length).toBeGreaterThan(5);
  // Nothing in outDir: no video, subtitles or cover, and no .compose-* work directory.
  expect(entries(outDir)).toEqual([]);
  // The cache is as it was: no new segment, no partial one.
  expect(segmentFiles(cache)).toEqual(before);
  expect(entries(cache).filter((f) => !f.endsWith(".mp4"))).toEqual([]);
  return err;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "inkreel-compose-errors-"));
  cacheDir = join(work, "cache");
  files.png = await lavfiPicture(join(work, "inputs", "good.png"), "testsrc2=size=640x360");
  files.wav = join(work, "inputs", "good.wav");
  await runFfmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=0.6", files.wav]);
  // The valid timeline composes, and fills the cache with its two segments.
  const ok = await compose(base(), { cacheDir, outDir: join(work, "out-ok") });
  expect(ok.segments).toEqual({ rendered: 2, reused: 0 });
  expect(segmentFiles(cacheDir)).toHaveLength(2);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("corrupt and unusable input files", () => {
  test("a PNG with a valid header and garbage after it (fails in ffmpeg, blamed on the shot)", async () => {
    const good = await Bun.file(files.png).bytes();
    // Signature + IHDR (33 bytes): the header reads as a 640×360 PNG; the rest is noise.
    const path = await file("header-garbage.png", new Uint8Array([...good.subarray(0, 33), ...randomBytes(5000, 1)]));
    await expectRejected(
      edit((t) => (t.shots[1]!.visual.path = path)),
      "b",
      /the picture file is corrupt/,
    );
  });

  test("a PNG signature followed by garbage", async () => {
    const good = await Bun.file(files.png).bytes();
    const path = await file("signature-garbage.png", new Uint8Array([...good.subarray(0, 8), ...randomBytes(5000, 2)]));
    await expectRejected(
      edit((t) => (t.shots[1]!.visual.path = path)),
      "b",
      /the picture file (holds no picture|cannot be read as an image|is corrupt)/,
    );
  });

  test("random bytes named .png", async () => {
    const path = await file("random.png", randomBytes(20_000, 3));
    await expectRejected(
      edit((t) => (t.shots[1]!.visual.path = path)),
      "b",
      /the picture file (holds no picture|cannot be read as an image|is corrupt)/,
    );
  });

  test("a PNG cut short inside its image data fails in ffmpeg and is blamed on its shot", async () => {
    const good = await Bun.file(files.png).bytes();
    const path = await file("truncated.png", good.subarray(0, Math.floor(good.length * 0.6)));
    // Shot "a" is cached: the run that fails holds only "b".
    await expectRejected(
      edit((t) => (t.shots[1]!.visual.path = path)),
      "b",
      /the picture file is corrupt/,
    );
    // Nothing cached: "a" and "b" render in one ffmpeg run, which fails; decoding each input on
    // its own finds "b", and "a"'s finished part is not kept either.
    const freshCache = join(work, "fresh-cache");
    await expectRejected(
      edit((t) => (t.shots[1]!.visual.path = path)),
      "b",
      /the picture file is corrupt/,
      freshCache,
    );
    expect(entries(freshCache)).toEqual([]);
    // The same with a cut (b's picture is then its only input).
    await expectRejected(
      edit((t) => {
        t.shots[1]!.visual.path = path;
        t.shots[1]!.transition = "cut";
      }),
      "b",
      /the picture file is corrupt/,
    );
  });

  test("a zero-length audio file", async () => {
    const path = await file("empty.wav", new Uint8Array(0));
    await expectRejected(
      edit((t) => (t.shots[1]!.audio![0]!.path = path)),
      "b",
      /the audio line 1 file is empty/,
    );
  });

  test("a WAV with a header and no samples", async () => {
    const path = await file("no-samples.wav", emptyWav());
    await expectRejected(
      edit((t) => (t.shots[1]!.audio![0]!.path = path)),
      "b",
      /the audio line 1 file has no length/,
    );
  });

  test("random bytes named .mp3", async () => {
    const path = await file("random.mp3", randomBytes(20_000, 4));
    await expectRejected(
      edit((t) => (t.shots[1]!.audio![0]!.path = path)),
      "b",
      /the audio line 1 file (cannot be read as audio|holds no audio|is corrupt)/,
    );
  });

  test("missing picture, audio and music files", async () => {
    await expectRejected(
      edit((t) => (t.shots[1]!.visual.path = join(work, "nope.png"))),
      "b",
      /the picture file is missing \(nope\.png\)/,
    );
    await expectRejected(
      edit((t) => (t.shots[1]!.audio![0]!.path = join(work, "nope.wav"))),
      "b",
      /the audio line 1 file is missing \(nope\.wav\)/,
    );
    await expectRejected(
      edit((t) => (t.bgm!.path = join(work, "nope.mp3"))),
      null,
      /the background music file is missing/,
    );
  });

  test("a WAV given as a video clip", async () => {
    await expectRejected(
      edit((t) => (t.shots[1]!.visual = { kind: "clip", path: files.wav })),
      "b",
      /the video clip file holds no picture/,
    );
  });
});

describe("bad timelines (no file is read)", () => {
  test("zero, negative and NaN durations", async () => {
    for (const d of [0, -1, Number.NaN]) {
      const err = await expectRejected(
        edit((t) => (t.shots[1]!.durationS = d)),
        "b",
        /the duration must be a positive number of seconds/,
      );
      expect(err.message).toContain(String(d));
    }
  });

  test("an unknown subtitle font", async () => {
    await expectRejected(
      edit((t) => (t.subtitles = { burnIn: true, style: { font: "Comic Sans MS" } })),
      null,
      /unknown subtitle font "Comic Sans MS"/,
    );
  });

  test("an absurd resolution: unknown names, numbers, and names every object has", async () => {
    for (const resolution of ["8k", 1080, "toString", "constructor"]) {
      await expectRejected(
        edit((t) => ((t.output as { resolution: unknown }).resolution = resolution)),
        null,
        /resolution must be one of 720p, 1080p, 4k/,
      );
    }
  });

  test("an unknown aspect ratio", async () => {
    for (const aspectRatio of ["21:9", "16/9", "hasOwnProperty"]) {
      await expectRejected(
        edit((t) => ((t.output as { aspectRatio: unknown }).aspectRatio = aspectRatio)),
        null,
        /aspect ratio must be one of/,
      );
    }
  });

  test("fps 1000", async () => {
    await expectRejected(
      edit((t) => ((t.output as { fps: number }).fps = 1000)),
      null,
      /fps must be one of 24, 25, 30, 50, 60/,
    );
  });

  test("duplicate shot ids", async () => {
    await expectRejected(
      edit((t) => (t.shots[1]!.id = "a")),
      "a",
      /the id is used by another shot/,
    );
  });

  test("audio that starts after the shot ends", async () => {
    await expectRejected(
      edit((t) => (t.shots[1]!.audio![0]!.offsetS = 1.5)),
      "b",
      /audio line 1 must start within the shot/,
    );
  });

  test("a crop outside the picture", async () => {
    await expectRejected(
      edit((t) => (t.shots[1]!.edit = { crop: { x: 0.6, y: 0, w: 0.5, h: 1 } })),
      "b",
      /crop must be fractions .* inside the picture/,
    );
    await expectRejected(
      edit((t) => (t.shots[1]!.edit = { crop: { x: -0.1, y: 0, w: 0.5, h: 0.5 } })),
      "b",
      /crop must be fractions/,
    );
  });

  test("rotation 720", async () => {
    await expectRejected(
      edit((t) => (t.shots[1]!.edit = { rotation: 720 })),
      "b",
      /rotation must be between -180 and 180 degrees/,
    );
  });

  test("an unknown transition", async () => {
    await expectRejected(
      edit((t) => ((t.shots[1] as { transition: unknown }).transition = "spin")),
      "b",
      /unknown transition "spin"/,
    );
  });
});
