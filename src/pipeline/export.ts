import { join } from "node:path";
import {
  type ExportFile,
  type ExportFileType,
  type ExportOptions,
  type ExportRequest,
  exportPrefix,
  isEditorFormat,
} from "../core/export-record.ts";
import type { ProjectOptions } from "../core/project-options.ts";
import type { Db } from "../db/client.ts";
import { composeToStorage, editorProjectToStorage } from "../media/publish.ts";
import type { CoverSpec, Timeline, TimelineShot } from "../media/timeline.ts";
import { closeChargesOf } from "../providers/compute-ledger.ts";
import { PermanentJobError } from "../queue/index.ts";
import { appendEvent } from "../realtime/events.ts";
import type { StoredObject } from "../storage/types.ts";
import { type AssetRef, lineLayout, selected } from "../story/material.ts";
import { localFile } from "./assets.ts";
import { type PipelineDeps, type StepContext, stepContextFor } from "./context.ts";
import { episodeFrame, withCards, writeCards } from "./episode-cards.ts";
import { loadPackage, loadShot, loadShots } from "./packages.ts";
import { poster } from "./steps/analysis.ts";
import { clip, keyframe, voice } from "./steps/shots.ts";

export function exportDefaults(options: ExportRequest | undefined, project: ProjectOptions): ExportOptions {
  const subtitles = project.subtitle_enabled ?? true;
  return {
    ...(options?.task_name ? { task_name: options.task_name } : {}),
    resolution: options?.resolution ?? "720p",
    format: options?.format ?? "MP4",
    fps: options?.fps ?? project.fps ?? 24,
    ...(options?.width && options.height ? { width: options.width, height: options.height } : {}),
    ...(options?.aspect_ratio ? { aspect_ratio: options.aspect_ratio } : {}),
    ...(options?.audio ? { audio: true } : {}),
    subtitle: { enabled: subtitles, burn_in: subtitles, format: "SRT", ...options?.subtitle },
    cover: { enabled: true, cover_type: "auto", ...options?.cover },
  };
}

export async function createExport(
  db: Db,
  e: { projectId: string; packageId: string; runId: string | null; userId: string | null; options: ExportOptions },
): Promise<string> {
  const row = await db
    .insertInto("exports")
    .values({
      project_id: e.projectId,
      package_id: e.packageId,
      run_id: e.runId,
      created_by: e.userId,
      options: JSON.stringify(e.options),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The composer's timeline for a package: each shot's selected clip (else keyframe), its lines in order, the music. */
export async function buildTimeline(
  deps: PipelineDeps,
  packageId: string,
  options: ExportOptions,
  project: ProjectOptions,
  title: string,
  /** The painted poster an automatic cover shows (see steps/analysis.ts poster). */
  art: { poster?: AssetRef | null } = {},
): Promise<Timeline> {
  const cache = join(deps.config.dataDir, "cache", "assets");
  const pkg = await loadPackage(deps.db, packageId);
  const shots = await loadShots(deps.db, packageId);
  const out: TimelineShot[] = [];
  for (const shot of shots) {
    const clip = selected(shot.clip);
    const still = selected(shot.keyframe);
    const visual = clip ?? still;
    if (!visual) throw new Error(`shot "${shot.id}" has no keyframe or clip yet`);
    const { offsets } = lineLayout(shot);
    const audio = [];
    for (const [i, line] of shot.lines.entries()) {
      if (!line.audio) continue;
      audio.push({
        path: await localFile(deps.storage, line.audio, cache),
        offsetS: offsets[i]!,
        volume: line.volume,
        text: line.text,
        timings: line.audio.timings,
      });
    }
    out.push({
      id: shot.id,
      visual: { kind: clip ? "clip" : "still", path: await localFile(deps.storage, visual, cache) },
      durationS: shot.durationS,
      transition: shot.transition,
      ...(shot.transitionS !== undefined ? { transitionS: shot.transitionS } : {}),
      edit: shot.edit,
      audio,
    });
  }
  const music = pkg.music;
  const sub = options.subtitle;
  return {
    output: {
      resolution: options.resolution === "4K" ? "4k" : options.resolution,
      aspectRatio: options.aspect_ratio ?? project.aspect_ratio ?? "16:9",
      fps: options.fps,
      format: options.format === "MOV" ? "mov" : "mp4",
      ...(options.width && options.height ? { size: { width: options.width, height: options.height } } : {}),
    },
    shots: out,
    bgm: music?.asset
      ? {
          path: await localFile(deps.storage, music.asset, cache),
          volume: music.volume,
          loop: music.loop,
          fadeInS: music.fade_in_s,
          fadeOutS: music.fade_out_s,
          duck: true,
        }
      : null,
    subtitles: options.subtitle.enabled
      ? {
          burnIn: options.subtitle.burn_in,
          style: {
            font: sub.font_name,
            size: sub.font_size,
            colour: sub.font_color,
            position: sub.position,
            ...(sub.background_opacity === 0 ? { box: false } : {}),
            ...(sub.background_color ? { boxColour: sub.background_color } : {}),
            ...(sub.background_opacity !== undefined && sub.background_opacity > 0
              ? { boxOpacity: sub.background_opacity }
              : {}),
          },
        }
      : null,
    cover: options.cover.enabled ? await coverSpec(deps, options.cover, { title, poster: art.poster }, cache) : null,
    soundtrack: options.audio === true,
  };
}

type ExportSource = { id: string; package_id: string | null; created_by: string | null; run_id: string | null };

/** Whose charge pays for an export's calls: its run's, or a standalone export's own. */
const payingSubject = (ex: Pick<ExportSource, "id" | "run_id">) => ex.run_id ?? ex.id;

/**
 * Something an export is not worth failing for, made with the export's providers: when it cannot
 * be made, `fallback` is used and the reason logged (an abort still stops the export).
 */
async function bestEffort<T>(
  deps: PipelineDeps,
  { project, ex, signal }: { project: Parameters<typeof stepContextFor>[1]; ex: ExportSource; signal: AbortSignal },
  { fallback, failed }: { fallback: T; failed: string },
  make: (step: StepContext) => Promise<T>,
): Promise<T> {
  if (!ex.package_id) return fallback;
  const step = await stepContextFor(deps, project, { packageId: ex.package_id, ownerId: ex.created_by }, signal, {
    runId: ex.run_id,
    subjectId: payingSubject(ex),
    stage: "export",
  });
  try {
    return await make(step);
  } catch (e) {
    if (signal.aborted) throw e;
    deps.log.warn(failed, { project_id: project.id, error: e instanceof Error ? e.message : String(e) });
    return fallback;
  }
}

/** The poster of an automatic cover, painted by the image provider (once per inputs); else the first shot's picture. */
function autoPoster(
  deps: PipelineDeps,
  source: {
    project: Parameters<typeof stepContextFor>[1];
    ex: ExportSource & { options: ExportOptions };
    signal: AbortSignal;
  },
  title: string,
): Promise<AssetRef | null> {
  const cover = source.ex.options.cover;
  if (!cover.enabled || (cover.cover_type ?? "auto") !== "auto") return Promise.resolve(null);
  return bestEffort(
    deps,
    source,
    { fallback: null, failed: "the cover's poster could not be painted; the first shot's picture is used" },
    (step) => poster(step, title),
  );
}

/** What the cover shows, from the export's cover settings (startExport checked the shot and the image). */
async function coverSpec(
  deps: PipelineDeps,
  cover: ExportOptions["cover"],
  { title, poster }: { title: string; poster?: AssetRef | null | undefined },
  cache: string,
): Promise<CoverSpec> {
  const text = cover.title_text ?? title;
  switch (cover.cover_type ?? "auto") {
    case "from_clip":
      return { shotId: cover.source_clip_id, title: text };
    case "title":
      return { plain: true, title: text };
    case "custom": {
      const asset = await deps.db
        .selectFrom("assets")
        .select(["id", "storage_key", "mime_type", "sha256"])
        .where("id", "=", cover.custom_image_asset_id!)
        .executeTakeFirst();
      if (!asset) throw new PermanentJobError("the cover image is no longer there");
      const path = await localFile(
        deps.storage,
        { asset_id: asset.id, storage_key: asset.storage_key, mime_type: asset.mime_type, sha256: asset.sha256 },
        cache,
      );
      return { imagePath: path, ...(cover.title_text ? { title: cover.title_text } : {}) };
    }
    default:
      // The title over the main characters on the first scene; the first shot's picture without one.
      return poster ? { imagePath: await localFile(deps.storage, poster, cache), title: text } : { title: text };
  }
}

/**
 * Brings every edited shot up to date before composing: lines whose text or voice changed are
 * spoken again, and a clip made for another length or picture is made again. Untouched shots keep
 * their assets, and so their cached segments.
 */
async function refreshStale(
  deps: PipelineDeps,
  project: Parameters<typeof stepContextFor>[1],
  {
    packageId,
    ownerId,
    runId,
    subjectId,
  }: { packageId: string; ownerId: string | null; runId: string | null; subjectId: string },
  signal: AbortSignal,
) {
  for (const before of await loadShots(deps.db, packageId)) {
    if (before.stale.length === 0 && before.lines.every((l) => l.audio)) continue;
    const step = await stepContextFor(deps, project, { packageId, ownerId }, signal, {
      runId,
      subjectId,
      stage: "export",
      shotId: before.id,
    });
    if (before.stale.includes("keyframe")) await keyframe(step, before.id);
    if (before.stale.includes("voice") || before.lines.some((l) => !l.audio)) await voice(step, before.id);
    const after = await loadShot(deps.db, { packageId, shotId: before.id });
    // Anything made again (a recording moves a painted clip's mouths) or a new length: the clip is
    // asked for again, and found again by its digest when its inputs did not change.
    const remade = before.stale.length > 0 || before.lines.some((l) => !l.audio);
    if (after.clip.selected !== null && (remade || after.durationS !== before.durationS)) await clip(step, before.id);
  }
}

const FILE_TYPES: Record<string, ExportFileType> = {
  video: "video",
  srt: "subtitle",
  vtt: "subtitle",
  ass: "subtitle",
  cover: "cover",
  audio: "audio",
  project: "project",
};

/**
 * Renders an export: the package's timeline composed (re-rendering only segments whose inputs
 * changed) and stored, each file an asset of the project, the export row completed with them.
 */
export async function renderExport(
  deps: PipelineDeps,
  exportId: string,
  signal: AbortSignal,
  onProgress?: (p: number) => Promise<void> | void,
) {
  const { db } = deps;
  const ex = await db.selectFrom("exports").selectAll().where("id", "=", exportId).executeTakeFirstOrThrow();
  const project = await db.selectFrom("projects").selectAll().where("id", "=", ex.project_id).executeTakeFirstOrThrow();
  const options = ex.options;
  const projectOptions = project.options;
  // A cancelled (or finished) export never starts again; a failed one may be retried with its run.
  const started = await db
    .updateTable("exports")
    .set({ status: "running", error: null })
    .where("id", "=", exportId)
    .where("status", "in", ["queued", "running", "failed"])
    .executeTakeFirst();
  if (Number(started.numUpdatedRows) === 0) throw new PermanentJobError(`the export is ${ex.status}`);
  await refreshStale(
    deps,
    project,
    { packageId: ex.package_id!, ownerId: ex.created_by, runId: ex.run_id, subjectId: payingSubject(ex) },
    signal,
  );
  const pkg = await loadPackage(db, ex.package_id!);
  const seasonTitle = pkg.storyline?.title ?? project.name;
  const frame = await episodeFrame(db, { packageId: ex.package_id!, runId: ex.run_id, seasonTitle });
  // An episode's cards as the text model writes them; the lines they come from when it cannot.
  const episode =
    frame &&
    (await bestEffort(
      deps,
      { project, ex, signal },
      { fallback: frame, failed: "the episode's cards could not be written; their lines are used" },
      (step) => writeCards(step.providers.text, frame, signal),
    ));
  const title = episode?.title ?? seasonTitle;
  const built = await buildTimeline(deps, ex.package_id!, options, projectOptions, title, {
    poster: await autoPoster(deps, { project, ex, signal }, title),
  });
  const timeline = episode
    ? await withCards(built, episode, { cacheDir: join(deps.config.dataDir, "cache", "cards"), signal })
    : built;
  if (!options.subtitle.enabled) timeline.subtitles = null;
  let last = 0;
  // Progress goes to the export row and the project's event log (as `video.progress` on WebSocket), in order.
  let progressQueue = Promise.resolve();
  const reportProgress = async (percent: number) => {
    await db.transaction().execute(async (trx) => {
      await trx.updateTable("exports").set({ progress: percent }).where("id", "=", exportId).execute();
      await appendEvent(trx, "progress", {
        project_id: project.id,
        run_id: ex.run_id,
        export_id: exportId,
        stage: "export",
        status: "running",
        progress: percent,
        current_step: "Rendering the video",
      });
    });
    await onProgress?.(percent);
  };
  const prefix = exportPrefix(ex);
  const wanted = options.subtitle.format.toLowerCase();
  const made = isEditorFormat(options.format)
    ? await editorProjectToStorage(
        deps.storage,
        prefix,
        timeline,
        {
          format: options.format,
          title,
          ...editorProjectNames(options.task_name ?? project.name, options.format),
        },
        { signal, inspected: deps.inspected },
      ).then((p) => ({
        objects: { project: p.object },
        durationS: p.durationS,
        segments: { rendered: 0, reused: 0 },
        warnings: p.warnings,
      }))
    : await composeToStorage(deps.storage, prefix, timeline, {
        cacheDir: join(deps.config.dataDir, "cache", "segments"),
        signal,
        spans: deps.spans,
        inspected: deps.inspected,
        // Of the subtitle files the composer makes, only the format asked for is stored (none when off).
        keep: (kind) => FILE_TYPES[kind] !== "subtitle" || (options.subtitle.enabled && kind === wanted),
        onProgress: (p) => {
          const percent = Math.floor(p);
          if (percent < last + 5 || percent >= 100) return;
          last = percent;
          progressQueue = progressQueue.then(() => reportProgress(percent)).catch(() => {});
        },
      }).then(({ result, objects }) => ({
        objects,
        durationS: result.durationS,
        segments: result.segments,
        warnings: result.warnings,
      }));
  await progressQueue;
  const files: ExportFile[] = [];
  for (const [kind, object] of Object.entries(made.objects)) {
    const asset = await db
      .insertInto("assets")
      .values({
        space_id: project.space_id,
        project_id: project.id,
        package_id: ex.package_id,
        owner_id: ex.created_by,
        kind: `export_${FILE_TYPES[kind]}`,
        mime_type: object.contentType,
        size: object.size,
        sha256: object.sha256,
        input_digest: `${exportId}:${kind}`,
        storage_key: object.key,
        meta: JSON.stringify(kind === "video" || kind === "project" ? { duration_s: made.durationS } : {}),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    files.push({
      asset_id: asset.id,
      file_type: FILE_TYPES[kind]!,
      file_name: object.key.split("/").pop()!,
      mime_type: object.contentType,
      file_size: object.size,
      duration_s: kind === "video" || kind === "audio" || kind === "project" ? made.durationS : null,
    });
  }
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable("exports")
      .set({
        status: "completed",
        progress: 100,
        files: JSON.stringify(files),
        stats: JSON.stringify({
          segments: made.segments,
          duration_s: made.durationS,
          warnings: made.warnings,
          ...(episode ? { cards: { recap: episode.recap, next: episode.next } } : {}),
        }),
        completed_at: new Date(),
      })
      .where("id", "=", exportId)
      .where("status", "=", "running")
      .execute();
    const objects: Record<string, StoredObject> = made.objects;
    await exportWork(trx, {
      userId: ex.created_by ?? project.owner_id,
      exportId,
      title: project.name,
      video: objects.video ?? null,
      cover: objects.cover ?? null,
      durationS: made.durationS,
    });
    await appendEvent(trx, "completed", {
      project_id: project.id,
      run_id: ex.run_id,
      export_id: exportId,
      stage: "export",
      status: "completed",
      progress: 100,
      current_step: isEditorFormat(options.format) ? "Project ready" : "Video ready",
      files,
    });
    // A standalone export's hold: what its calls did not spend goes back.
    await closeChargesOf(trx, exportId, "release");
  });
  return { files, segments: made.segments };
}

/**
 * A completed export's video is a work of whoever exported it (seed 004's works list shows it);
 * the work names the export's own files, which it shares, so deleting the work keeps them.
 */
async function exportWork(
  trx: Db,
  w: {
    userId: string | null;
    exportId: string;
    title: string;
    video: { key: string; contentType: string; size: number } | null;
    cover: { key: string } | null;
    durationS: number;
  },
) {
  if (!w.userId || !w.video) return;
  await trx
    .insertInto("works")
    .values({
      user_id: w.userId,
      export_id: w.exportId,
      type: "video",
      title: w.title.slice(0, 200),
      status: "completed",
      file_key: w.video.key,
      mime_type: w.video.contentType,
      size: w.video.size,
      duration_s: w.durationS,
      thumbnail_key: w.cover?.key ?? null,
    })
    .onConflict((oc) => oc.column("export_id").doNothing())
    .execute();
}

/**
 * The folder and ZIP names of an editor project, from the task's or project's name: the folder
 * keeps the name's letters (any script), the ZIP's name is what a storage key allows.
 */
export function editorProjectNames(name: string, format: string): { folder: string; file: string } {
  const suffix = format === "mlt" ? "mlt" : "capcut";
  const folder = [...name.normalize("NFC")]
    // Control characters and what Windows, macOS or a shell would trip on become "_".
    .map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || '/\\:*?"<>|'.includes(c) ? "_" : c))
    .join("")
    .replace(/^[.\s]+|[.\s]+$/g, "")
    .slice(0, 60);
  const file = folder
    .replace(/[^A-Za-z0-9_.-]+/g, "_")
    .replace(/^[^A-Za-z0-9]+|_+$/g, "")
    .slice(0, 60);
  return { folder: `${folder || "inkreel"}-${suffix}`, file: `${file || "inkreel"}-${suffix}` };
}

/** Marks an export failed with the reason a user can act on. */
export async function failExport(
  db: Db,
  { exportId, shotId }: { exportId: string; shotId?: string | null },
  message: string,
) {
  await db.transaction().execute(async (trx) => {
    const ex = await trx
      .updateTable("exports")
      .set({ status: "failed", error: JSON.stringify({ message, shot_id: shotId ?? null }), completed_at: new Date() })
      .where("id", "=", exportId)
      .where("status", "in", ["queued", "running"])
      .returning(["project_id", "run_id"])
      .executeTakeFirst();
    if (!ex) return;
    await closeChargesOf(trx, exportId, "refund");
    await appendEvent(trx, "failed", {
      project_id: ex.project_id,
      run_id: ex.run_id,
      export_id: exportId,
      stage: "export",
      status: "failed",
      progress: 0,
      current_step: null,
      message,
    });
  });
}
