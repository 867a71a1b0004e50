import { join } from "node:path";
import { editFilters } from "./edit.ts";
import { filterPath, type RunOptions, runFfmpeg } from "./ffmpeg.ts";
import { fontFile } from "./fonts.ts";
import type { TimelineShot } from "./timeline.ts";

/** Breaks a title into at most three lines that fit the frame (Han characters count double). */
function titleLines(title: string, perLine: number): string[] {
  const width = (s: string) =>
    [...s].reduce((n, c) => n + (/\p{Script=Han}|[\u3000-\u30ff\uff00-\uffef]/u.test(c) ? 2 : 1), 0);
  const words = /\p{Script=Han}/u.test(title) ? [...title] : title.split(/(?<=\s)/);
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && width(line + w) > perLine) {
      lines.push(line.trim());
      line = "";
    }
    line += w;
  }
  if (line.trim()) lines.push(line.trim());
  return lines.slice(0, 3);
}

/**
 * The cover: the shot's picture (a clip's first frame) with its edit, at the video's size, and the
 * title in large type over a dark band near the bottom, as a JPEG.
 */
export async function renderCover(
  shot: TimelineShot,
  title: string | undefined,
  size: { width: number; height: number },
  dir: string,
  out: string,
  options: RunOptions,
) {
  const { width: W, height: H } = size;
  const filters = ["trim=end_frame=1", ...editFilters(shot.edit, W, H)];
  if (title?.trim()) {
    const fontSize = Math.round(Math.min(W, H) * 0.08);
    const lines = titleLines(title.trim(), Math.floor((W * 0.85) / (fontSize * 0.55)));
    const file = join(dir, "title.txt");
    await Bun.write(file, lines.join("\n"));
    const band = Math.round(fontSize * (lines.length * 1.35 + 1));
    filters.push(`drawbox=x=0:y=${H - band - Math.round(H * 0.06)}:w=${W}:h=${band}:color=black@0.45:t=fill`);
    filters.push(
      `drawtext=fontfile=${filterPath(fontFile("Noto Sans SC Bold"))}:textfile=${filterPath(file)}:fontsize=${fontSize}:line_spacing=${Math.round(fontSize * 0.35)}:fontcolor=white:x=(w-text_w)/2:y=h-${Math.round(H * 0.06)}-${band}/2-text_h/2`,
    );
  }
  // JPEG wants full-range YUV.
  filters.push("format=yuvj420p");
  await runFfmpeg(["-i", shot.visual.path, "-vf", filters.join(","), "-frames:v", "1", "-q:v", "2", out], {
    ...options,
    timeoutMs: 60_000,
  });
}
