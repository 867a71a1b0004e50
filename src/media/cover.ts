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

/** What a cover shows under its title: a shot's picture with its edit, a picture of its own, or a plain card. */
export type CoverPicture = { kind: "shot"; shot: TimelineShot } | { kind: "image"; path: string } | { kind: "plain" };

const CARD_COLOUR = "0x16161d";

/**
 * The cover: the picture (a clip's first frame, with the shot's edit; a picture of its own scaled
 * to cover the frame and cropped; or a plain dark card) at the video's size, and the title in
 * large type over a dark band near the bottom (centred on a plain card), as a JPEG.
 */
export async function renderCover(
  picture: CoverPicture,
  title: string | undefined,
  size: { width: number; height: number },
  dir: string,
  out: string,
  options: RunOptions,
) {
  const { width: W, height: H } = size;
  const filters =
    picture.kind === "shot"
      ? ["trim=end_frame=1", ...editFilters(picture.shot.edit, W, H)]
      : picture.kind === "image"
        ? ["trim=end_frame=1", `scale=${W}:${H}:force_original_aspect_ratio=increase`, `crop=${W}:${H}`, "setsar=1"]
        : [];
  const input =
    picture.kind === "plain"
      ? ["-f", "lavfi", "-i", `color=c=${CARD_COLOUR}:s=${W}x${H}:d=1`]
      : ["-i", picture.kind === "shot" ? picture.shot.visual.path : picture.path];
  if (title?.trim()) {
    const fontSize = Math.round(Math.min(W, H) * 0.08);
    const lines = titleLines(title.trim(), Math.floor((W * 0.85) / (fontSize * 0.55)));
    const file = join(dir, "title.txt");
    await Bun.write(file, lines.join("\n"));
    const band = Math.round(fontSize * (lines.length * 1.35 + 1));
    const y = picture.kind === "plain" ? "(h-text_h)/2" : `h-${Math.round(H * 0.06)}-${band}/2-text_h/2`;
    if (picture.kind !== "plain")
      filters.push(`drawbox=x=0:y=${H - band - Math.round(H * 0.06)}:w=${W}:h=${band}:color=black@0.45:t=fill`);
    filters.push(
      `drawtext=fontfile=${filterPath(fontFile("Noto Sans SC Bold"))}:textfile=${filterPath(file)}:fontsize=${fontSize}:line_spacing=${Math.round(fontSize * 0.35)}:fontcolor=white:x=(w-text_w)/2:y=${y}`,
    );
  }
  // JPEG wants full-range YUV.
  filters.push("format=yuvj420p");
  await runFfmpeg([...input, "-vf", filters.join(","), "-frames:v", "1", "-q:v", "2", out], {
    ...options,
    timeoutMs: 60_000,
  });
}
