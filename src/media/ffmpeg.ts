import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { noSpans, type SpanRecorder } from "../metrics/spans.ts";
import { fontSetup } from "./fonts.ts";
import { guard } from "./process.ts";
import { mediaTools } from "./tools.ts";

/** A media step that failed: which tool, why, and the tail of what it printed. */
export class MediaError extends Error {
  override name = "MediaError";
  constructor(
    message: string,
    /** "killed": by a signal from outside (an operator, the OOM killer): worth another try. */
    readonly reason: "exit" | "timeout" | "aborted" | "probe" | "killed",
    readonly stderr = "",
  ) {
    super(message);
  }
}

export interface Progress {
  /** Seconds of output written so far. */
  outTimeS: number;
  /** 0-100 when the expected output duration is known. */
  percent: number | null;
  done: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Expected output duration, to turn out_time into a percentage. */
  durationS?: number;
  onProgress?: (p: Progress) => void;
  /** Times the run (the pipeline benchmark does); by default nothing is recorded. */
  spans?: SpanRecorder;
}

const STDERR_KEEP = 16_384;

/** The last lines ffmpeg printed that say what went wrong (its banner and stats say nothing). */
function tail(stderr: string): string {
  return stderr.trim().split("\n").slice(-8).join("\n").slice(-2000);
}

/** Reads `-progress` lines; returns the number of video frames written, as ffmpeg last reported. */
async function readProgress(stream: ReadableStream<Uint8Array>, options: RunOptions): Promise<number> {
  const decoder = new TextDecoder();
  let buffered = "";
  let outTimeS = 0;
  let frames = 0;
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      const [k, v] = line.split("=", 2);
      if (k === "out_time_us" || k === "out_time_ms") {
        // Old builds report microseconds under out_time_ms too.
        const us = Number(v);
        if (Number.isFinite(us) && us >= 0) outTimeS = us / 1_000_000;
      } else if (k === "frame") {
        frames = Number(v) || 0;
      } else if (k === "progress") {
        const percent = options.durationS ? Math.min(100, (outTimeS / options.durationS) * 100) : null;
        options.onProgress?.({ outTimeS, percent: v === "end" ? 100 : percent, done: v === "end" });
      }
    }
  }
  return frames;
}

async function readTail(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text = (text + decoder.decode(chunk, { stream: true })).slice(-STDERR_KEEP);
  }
  return text;
}

/**
 * Runs ffmpeg with the given arguments (inputs, filters, output), with a timeout and an abort
 * signal that kill it, progress read from `-progress`, and its stderr kept for the error.
 * Resolves to the number of video frames written.
 */
export function runFfmpeg(args: string[], options: RunOptions = {}): Promise<{ frames: number }> {
  return (options.spans ?? noSpans).span("ffmpeg", () => ffmpeg(args, options));
}

async function ffmpeg(args: string[], options: RunOptions): Promise<{ frames: number }> {
  if (options.signal?.aborted) throw new MediaError("ffmpeg was not started: aborted", "aborted");
  const proc = Bun.spawn(
    [mediaTools().ffmpeg, "-hide_banner", "-nostdin", "-y", "-nostats", "-progress", "pipe:1", ...args],
    {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, FONTCONFIG_FILE: fontSetup().config },
    },
  );
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  const guarded = guard(proc, { timeoutMs, signal: options.signal });
  try {
    const [frames, stderr, code] = await Promise.all([
      readProgress(proc.stdout, options),
      readTail(proc.stderr),
      proc.exited,
    ]);
    if (guarded.stoppedBy() === "timeout")
      throw new MediaError(`ffmpeg timed out after ${timeoutMs} ms`, "timeout", tail(stderr));
    if (guarded.stoppedBy() === "aborted") throw new MediaError("ffmpeg was aborted", "aborted", tail(stderr));
    if (proc.signalCode) throw new MediaError(`ffmpeg was killed (${proc.signalCode})`, "killed", tail(stderr));
    if (code !== 0)
      throw new MediaError(`ffmpeg failed (exit ${code}): ${tail(stderr).split("\n").pop()}`, "exit", tail(stderr));
    return { frames };
  } finally {
    guarded.release();
  }
}

export interface ProbeStream {
  codec_type: "video" | "audio" | "subtitle" | "data";
  codec_name: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
}

export interface ProbeResult {
  durationS: number;
  formatName: string;
  streams: ProbeStream[];
}

/** ffprobe's view of a media file: container, duration and streams. */
export async function probe(path: string, timeoutMs = 30_000): Promise<ProbeResult> {
  const proc = Bun.spawn(
    [mediaTools().ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path],
    {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const guarded = guard(proc, { timeoutMs });
  try {
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (guarded.stoppedBy())
      throw new MediaError(`ffprobe timed out after ${timeoutMs} ms reading ${path}`, "timeout", tail(err));
    if (code !== 0)
      throw new MediaError(`ffprobe could not read ${path}: ${tail(err) || `exit ${code}`}`, "probe", tail(err));
    const json = JSON.parse(out) as { format?: { duration?: string; format_name?: string }; streams?: ProbeStream[] };
    return {
      durationS: Number(json.format?.duration ?? 0),
      formatName: json.format?.format_name ?? "",
      streams: json.streams ?? [],
    };
  } finally {
    guarded.release();
  }
}

/** A file path quoted for a filter option (drawtext, subtitles); text itself always goes in files. */
/** The size and length of a video held in memory (a provider's result); throws when it has no readable video stream. */
export async function videoFacts(bytes: Uint8Array): Promise<{ width: number; height: number; durationS: number }> {
  return withTempDir(async (dir) => {
    const path = join(dir, "clip.mp4");
    await Bun.write(path, bytes);
    const p = await probe(path);
    const v = p.streams.find((s) => s.codec_type === "video");
    if (!v?.width || !v.height) throw new Error("no video stream");
    return { width: v.width, height: v.height, durationS: p.durationS || Number(v.duration ?? 0) };
  });
}

export const filterPath = (p: string) => `'${p.replace(/\\/g, "\\\\").replace(/:/g, "\\:").replace(/'/g, "\\'")}'`;

/** Runs `work` in a fresh temporary directory that is removed afterwards, whatever happens. */
export async function withTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "inkreel-media-"));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
