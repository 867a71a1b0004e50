import { chmodSync, statSync } from "node:fs";

export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
}

let cached: MediaTools | null = null;

function executable(path: string): string {
  // Package managers that skip install scripts leave the binary without its exec bit.
  const mode = statSync(path).mode;
  if ((mode & 0o111) !== 0o111) chmodSync(path, mode | 0o755);
  return path;
}

/**
 * ffmpeg and ffprobe from PATH when present (e.g. Debian's), otherwise the static builds shipped
 * by @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe.
 */
export function mediaTools(): MediaTools {
  if (cached) return cached;
  const onPath = { ffmpeg: Bun.which("ffmpeg"), ffprobe: Bun.which("ffprobe") };
  cached = {
    ffmpeg: onPath.ffmpeg ?? executable((require("@ffmpeg-installer/ffmpeg") as { path: string }).path),
    ffprobe: onPath.ffprobe ?? executable((require("@ffprobe-installer/ffprobe") as { path: string }).path),
  };
  return cached;
}
