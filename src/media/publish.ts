import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage, StoredObject } from "../storage/types.ts";
import { type ComposeOptions, type ComposeResult, compose, layoutTimeline } from "./compose.ts";
import { capcutDraft, mltProject } from "./editor-project.ts";
import { createInspectCache, type InspectCache } from "./inspect.ts";
import type { Timeline } from "./timeline.ts";
import { checkTimeline } from "./timeline-check.ts";
import { writeZip } from "./zip.ts";

const TYPES: Record<string, string> = {
  mp4: "video/mp4",
  mov: "video/quicktime",
  srt: "application/x-subrip",
  vtt: "text/vtt",
  ass: "text/x-ssa",
  jpg: "image/jpeg",
  m4a: "audio/mp4",
  zip: "application/zip",
};

export interface Published {
  result: ComposeResult;
  /** By kind: video, srt, vtt, ass, cover, audio. */
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
  options: Omit<ComposeOptions, "outDir"> & {
    /** Which of the files to store, by kind (video, srt, vtt, ass, cover, audio): all by default. */
    keep?: (kind: string) => boolean;
  },
): Promise<Published> {
  const outDir = await mkdtemp(join(tmpdir(), "inkreel-export-"));
  const stored: StoredObject[] = [];
  try {
    const result = await compose(timeline, { ...options, outDir });
    const files: Array<[string, string]> = [["video", result.video]];
    if (result.subtitles)
      files.push(["srt", result.subtitles.srt], ["vtt", result.subtitles.vtt], ["ass", result.subtitles.ass]);
    if (result.cover) files.push(["cover", result.cover]);
    if (result.audio) files.push(["audio", result.audio]);
    const objects: Record<string, StoredObject> = {};
    for (const [kind, path] of files.filter(([kind]) => options.keep?.(kind) ?? true)) {
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

export interface PublishedProject {
  object: StoredObject;
  durationS: number;
  warnings: string[];
}

/**
 * A timeline as an editor's project (a CapCut / JianYing draft or an MLT project, see
 * editor-project.ts), zipped with its media in one folder, stored as `prefix/<file>.zip`. Nothing is rendered:
 * the editor gets the shots' own pictures, clips and audio.
 */
export async function editorProjectToStorage(
  storage: Storage,
  prefix: string,
  timeline: Timeline,
  project: { format: "capcut_draft" | "mlt"; title: string; folder: string; file: string },
  options: { signal?: AbortSignal; inspected?: InspectCache },
): Promise<PublishedProject> {
  checkTimeline(timeline);
  const warnings: string[] = [];
  const inspected = options.inspected ?? createInspectCache(64);
  const layout = await layoutTimeline(timeline, inspected, warnings);
  const { folder } = project;
  const made =
    project.format === "capcut_draft"
      ? capcutDraft(timeline, layout, {
          title: project.title,
          folder,
          subtitleColour: timeline.subtitles?.style?.colour,
        })
      : mltProject(timeline, layout, { title: project.title, folder });
  const dir = await mkdtemp(join(tmpdir(), "inkreel-project-"));
  try {
    const zip = join(dir, "project.zip");
    await writeZip(zip, made.entries, options.signal);
    const object = await storage.put(`${prefix}/${project.file}.zip`, { path: zip }, { contentType: TYPES.zip! });
    return { object, durationS: made.durationS, warnings };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
