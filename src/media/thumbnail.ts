import { runFfmpeg } from "./ffmpeg.ts";

/** Thumbnails are this wide at most (pictures and a video's first frame), as JPEG. */
export const THUMBNAIL_WIDTH = 320;

/** Writes a JPEG thumbnail of a picture or of a video's first frame to `out`; throws when no picture can be read. */
export async function makeThumbnail(input: string, out: string, signal?: AbortSignal): Promise<void> {
  await runFfmpeg(
    ["-i", input, "-frames:v", "1", "-vf", `scale='min(${THUMBNAIL_WIDTH},iw)':-2`, "-q:v", "4", "-y", out],
    { timeoutMs: 60_000, ...(signal ? { signal } : {}) },
  );
}
