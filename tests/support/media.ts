// Helpers for the composer tests: measuring real outputs with ffmpeg/ffprobe (frames, box order,
// audio levels), parsing subtitle files, and making small synthetic inputs.
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { probe, runFfmpeg } from "../../src/media/ffmpeg.ts";
import { mediaTools } from "../../src/media/tools.ts";

/** Runs ffmpeg and returns what it wrote to stdout, and its stderr; throws with stderr on failure. */
export async function ffmpegCapture(args: string[]): Promise<{ stdout: Uint8Array; stderr: string }> {
  const proc = Bun.spawn([mediaTools().ffmpeg, "-hide_banner", "-nostdin", "-nostats", ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`ffmpeg ${args.join(" ")} failed (${code}):\n${stderr.slice(-2000)}`);
  return { stdout: new Uint8Array(stdout), stderr };
}

/** How the fakes encode the MP4s they answer with: silent H.264, fast. */
export const TEST_H264 = [
  "-c:v",
  "libx264",
  "-preset",
  "ultrafast",
  "-pix_fmt",
  "yuv420p",
  "-movflags",
  "+faststart",
  "-an",
];

export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  durationS: number;
}

export async function videoInfo(path: string): Promise<VideoInfo> {
  const p = await probe(path);
  const v = p.streams.find((s) => s.codec_type === "video")!;
  const [num, den] = v.r_frame_rate!.split("/").map(Number);
  return { width: v.width!, height: v.height!, fps: num! / den!, durationS: p.durationS };
}

/** A decoded picture: one plane of 8-bit samples (gray), or the three planes of yuv420p. */
export interface Picture {
  width: number;
  height: number;
  y: Uint8Array;
  u?: Uint8Array;
  v?: Uint8Array;
}

/**
 * Decodes the frames with the given indices (0-based, counted from the first decoded frame) in
 * one pass, exactly: ffmpeg's `select` on the frame number, so no seek rounding is involved.
 */
export async function framesAt(
  video: string,
  indices: number[],
  pixFmt: "gray" | "yuv420p" = "gray",
): Promise<Picture[]> {
  const { width, height } = await videoInfo(video);
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const select = sorted.map((n) => `eq(n\\,${n})`).join("+");
  const { stdout } = await ffmpegCapture([
    "-i",
    video,
    "-an",
    "-vf",
    `select='${select}'`,
    "-vsync",
    "0",
    "-f",
    "rawvideo",
    "-pix_fmt",
    pixFmt,
    "-",
  ]);
  const ySize = width * height;
  const frameSize = pixFmt === "gray" ? ySize : ySize + 2 * (width / 2) * (height / 2);
  if (stdout.length !== frameSize * sorted.length)
    throw new Error(`expected ${sorted.length} frames of ${frameSize} bytes from ${video}, got ${stdout.length} bytes`);
  const byIndex = new Map<number, Picture>();
  sorted.forEach((n, k) => {
    const f = stdout.subarray(k * frameSize, (k + 1) * frameSize);
    const q = (width / 2) * (height / 2);
    byIndex.set(
      n,
      pixFmt === "gray"
        ? { width, height, y: f }
        : { width, height, y: f.subarray(0, ySize), u: f.subarray(ySize, ySize + q), v: f.subarray(ySize + q) },
    );
  });
  return indices.map((n) => byIndex.get(n)!);
}

/** The frame shown at `t` seconds of a constant-frame-rate video. */
export async function frameAtTime(video: string, t: number, pixFmt: "gray" | "yuv420p" = "gray"): Promise<Picture> {
  const { fps } = await videoInfo(video);
  return (await framesAt(video, [Math.floor(t * fps + 1e-6)], pixFmt))[0]!;
}

/** Rows [y0, y1) as fractions of the height. */
export type Band = [number, number];

/** Mean of a plane over a band of rows. */
export function mean(p: Picture, band: Band = [0, 1]): number {
  const r0 = Math.round(band[0] * p.height);
  const r1 = Math.round(band[1] * p.height);
  let sum = 0;
  for (let i = r0 * p.width; i < r1 * p.width; i++) sum += p.y[i]!;
  return sum / Math.max(1, (r1 - r0) * p.width);
}

/** Mean absolute difference of two same-size pictures over a band of rows (0-255 scale). */
export function meanAbsDiff(a: Picture, b: Picture, band: Band = [0, 1]): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error("pictures differ in size");
  const r0 = Math.round(band[0] * a.height);
  const r1 = Math.round(band[1] * a.height);
  let sum = 0;
  for (let i = r0 * a.width; i < r1 * a.width; i++) sum += Math.abs(a.y[i]! - b.y[i]!);
  return sum / Math.max(1, (r1 - r0) * a.width);
}

/** Mean luma of columns [x0, x1) as fractions of the width. */
export function columnMean(p: Picture, x0: number, x1: number): number {
  const c0 = Math.round(x0 * p.width);
  const c1 = Math.round(x1 * p.width);
  let sum = 0;
  for (let y = 0; y < p.height; y++) for (let x = c0; x < c1; x++) sum += p.y[y * p.width + x]!;
  return sum / Math.max(1, (c1 - c0) * p.height);
}

/** The types of an ISO-BMFF (MP4/MOV) file's top-level boxes, in file order. */
export async function topLevelBoxes(path: string): Promise<string[]> {
  const f = await open(path, "r");
  try {
    const size = (await f.stat()).size;
    const boxes: string[] = [];
    const head = Buffer.alloc(16);
    for (let at = 0; at + 8 <= size; ) {
      await f.read(head, 0, 16, at);
      let len = head.readUInt32BE(0);
      const type = head.toString("latin1", 4, 8);
      if (len === 1) len = Number(head.readBigUInt64BE(8));
      else if (len === 0) len = size - at;
      if (len < 8) throw new Error(`bad box size ${len} at ${at} in ${path}`);
      boxes.push(type);
      at += len;
    }
    return boxes;
  } finally {
    await f.close();
  }
}

/** The major brand of the ftyp box ("isom" for MP4, "qt  " for QuickTime MOV). */
export async function majorBrand(path: string): Promise<string> {
  const f = await open(path, "r");
  try {
    const b = Buffer.alloc(12);
    await f.read(b, 0, 12, 0);
    if (b.toString("latin1", 4, 8) !== "ftyp") throw new Error(`${path} does not start with ftyp`);
    return b.toString("latin1", 8, 12);
  } finally {
    await f.close();
  }
}

/**
 * The overall RMS level (dBFS) of a file's audio between `startS` and `endS`, from ffmpeg's
 * astats, after optional extra filters (e.g. a high-pass that isolates one component).
 */
export async function rmsDb(file: string, startS: number, endS: number, filters: string[] = []): Promise<number> {
  const chain = [`atrim=start=${startS}:end=${endS}`, ...filters, "astats"].join(",");
  const { stderr } = await ffmpegCapture(["-i", file, "-vn", "-af", chain, "-f", "null", "-"]);
  const overall = stderr.slice(stderr.lastIndexOf("Overall"));
  const m = /RMS level dB: (\S+)/.exec(overall);
  if (!m) throw new Error(`no RMS level in astats output:\n${stderr.slice(-1500)}`);
  return m[1] === "-inf" ? -Infinity : Number(m[1]);
}

export interface ParsedCue {
  startS: number;
  endS: number;
  text: string;
}

const hms = (h: string, m: string, s: string, frac: string) =>
  Number(h) * 3600 + Number(m) * 60 + Number(s) + Number(frac) / 10 ** frac.length;

/** Cues of an SRT file (index line, "hh:mm:ss,mmm --> hh:mm:ss,mmm", text lines, blank line). */
export function parseSrt(text: string): ParsedCue[] {
  return text
    .trim()
    .split(/\n\s*\n/)
    .map((block) => {
      const lines = block.split("\n");
      const m = /^(\d+):(\d\d):(\d\d),(\d{3}) --> (\d+):(\d\d):(\d\d),(\d{3})$/.exec(lines[1] ?? "");
      if (!/^\d+$/.test(lines[0] ?? "") || !m) throw new Error(`not an SRT cue: ${JSON.stringify(block)}`);
      return {
        startS: hms(m[1]!, m[2]!, m[3]!, m[4]!),
        endS: hms(m[5]!, m[6]!, m[7]!, m[8]!),
        text: lines.slice(2).join("\n"),
      };
    });
}

/** Cues of a WebVTT file (after the WEBVTT header), with &amp; and &lt; decoded. */
export function parseVtt(text: string): ParsedCue[] {
  const [header, ...blocks] = text.trim().split(/\n\s*\n/);
  if (!header!.startsWith("WEBVTT")) throw new Error("not a WebVTT file");
  return blocks.map((block) => {
    const lines = block.split("\n");
    const m = /^(\d+):(\d\d):(\d\d)\.(\d{3}) --> (\d+):(\d\d):(\d\d)\.(\d{3})$/.exec(lines[0] ?? "");
    if (!m) throw new Error(`not a WebVTT cue: ${JSON.stringify(block)}`);
    const body = lines.slice(1).join("\n").replace(/&lt;/g, "<").replace(/&amp;/g, "&");
    return { startS: hms(m[1]!, m[2]!, m[3]!, m[4]!), endS: hms(m[5]!, m[6]!, m[7]!, m[8]!), text: body };
  });
}

/** The Dialogue events of an ASS script (times h:mm:ss.cc), text as written (escapes kept). */
export function parseAss(text: string): ParsedCue[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("Dialogue:"))
    .map((l) => {
      // Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text (Text may hold commas).
      const fields = l.slice("Dialogue:".length).trim().split(",");
      const time = (s: string) => {
        const m = /^(\d+):(\d\d):(\d\d)\.(\d\d)$/.exec(s);
        if (!m) throw new Error(`bad ASS time ${s}`);
        return hms(m[1]!, m[2]!, m[3]!, m[4]!);
      };
      return { startS: time(fields[1]!), endS: time(fields[2]!), text: fields.slice(9).join(",") };
    });
}

/** One named section's "Key: value" lines of an ASS script, e.g. the Style line split by its Format. */
export function assStyle(text: string): Record<string, string> {
  const lines = text.split("\n");
  const start = lines.indexOf("[V4+ Styles]");
  const format = lines
    .slice(start)
    .find((l) => l.startsWith("Format:"))!
    .slice(7)
    .split(",")
    .map((s) => s.trim());
  const values = lines
    .slice(start)
    .find((l) => l.startsWith("Style:"))!
    .slice(6)
    .trim()
    .split(",");
  return Object.fromEntries(format.map((k, i) => [k, values[i]!]));
}

/** Every file below `dir`, relative paths (directories not listed); [] when it does not exist. */
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p, `${rel + name}/`);
      else out.push(rel + name);
    }
  };
  walk(dir, "");
  return out;
}

/** Entries directly in `dir` (files and directories); [] when it does not exist. */
export const entries = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

/** Deterministic pseudo-random bytes (xorshift32), so "random" inputs are the same every run. */
export function randomBytes(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Writes a picture made by an ffmpeg lavfi source (e.g. "testsrc2=size=640x360"), one frame, to `path` (PNG by extension). */
export async function lavfiPicture(path: string, source: string, filters?: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await runFfmpeg(["-f", "lavfi", "-i", source, ...(filters ? ["-vf", filters] : []), "-frames:v", "1", path]);
  return path;
}

/** A PCM WAV with a header and no samples. */
export function emptyWav(rate = 22050): Uint8Array {
  const b = Buffer.alloc(44);
  b.write("RIFF", 0, "latin1");
  b.writeUInt32LE(36, 4);
  b.write("WAVE", 8, "latin1");
  b.write("fmt ", 12, "latin1");
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36, "latin1");
  b.writeUInt32LE(0, 40);
  return new Uint8Array(b);
}

/** Where the tests leave outputs worth looking at (sample video, a subtitle frame). */
export const TEST_OUTPUT_DIR = join(import.meta.dir, "..", "..", ".inkreel-test-output");

/** Mean absolute difference over all samples of two yuv420p pictures (luma and both chroma planes). */
export function meanAbsDiffYuv(a: Picture, b: Picture): number {
  if (!a.u || !b.u) throw new Error("yuv420p pictures needed");
  let sum = 0;
  let n = 0;
  for (const [x, y] of [
    [a.y, b.y],
    [a.u, b.u],
    [a.v!, b.v!],
  ] as const) {
    for (let i = 0; i < x.length; i++) sum += Math.abs(x[i]! - y[i]!);
    n += x.length;
  }
  return sum / n;
}

/** The number of video frames in a file, counted by decoding it. */
export async function countFrames(video: string): Promise<number> {
  const proc = Bun.spawn(
    [
      mediaTools().ffprobe,
      "-v",
      "error",
      "-count_frames",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=nb_read_frames",
      "-of",
      "csv=p=0",
      video,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`ffprobe could not count the frames of ${video}`);
  return Number(out.trim());
}
