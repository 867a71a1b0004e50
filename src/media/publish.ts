import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage, StoredObject } from "../storage/types.ts";
import { type ComposeOptions, type ComposeResult, compose } from "./compose.ts";
import type { Timeline } from "./timeline.ts";

const TYPES: Record<string, string> = {
  mp4: "video/mp4",
  mov: "video/quicktime",
  srt: "application/x-subrip",
  vtt: "text/vtt",
  ass: "text/x-ssa",
  jpg: "image/jpeg",
};

export interface Published {
  result: ComposeResult;
  /** By kind: video, srt, vtt, ass, cover. */
  objects: Record<string, StoredObject>;
}

/**
 * Composes a timeline and stores its files under `prefix` (video, subtitles, cover). Storage gets
 * all of them or none: a failed composition stores nothing, and a failed upload removes the files
 * already uploaded before the error is passed on.
 */
export async function composeToStorage(
  storage: Storage,
  prefix: string,
  timeline: Timeline,
  options: Omit<ComposeOptions, "outDir">,
): Promise<Published> {
  const outDir = await mkdtemp(join(tmpdir(), "inkreel-export-"));
  const stored: StoredObject[] = [];
  try {
    const result = await compose(timeline, { ...options, outDir });
    const files: Array<[string, string]> = [["video", result.video]];
    if (result.subtitles)
      files.push(["srt", result.subtitles.srt], ["vtt", result.subtitles.vtt], ["ass", result.subtitles.ass]);
    if (result.cover) files.push(["cover", result.cover]);
    const objects: Record<string, StoredObject> = {};
    for (const [kind, path] of files) {
      const name = path.split("/").pop()!;
      const object = await storage.put(`${prefix}/${name}`, { path }, { contentType: TYPES[name.split(".").pop()!]! });
      stored.push(object);
      objects[kind] = object;
    }
    return { result, objects };
  } catch (e) {
    await Promise.allSettled(stored.map((o) => storage.delete(o.key)));
    throw e;
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}
