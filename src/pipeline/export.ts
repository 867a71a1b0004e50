import { join } from "node:path";
import type { ExportFile, ExportOptions, ExportRequest } from "../core/export-record.ts";
import type { ProjectOptions } from "../core/project-options.ts";
import type { Db } from "../db/client.ts";
import { composeToStorage } from "../media/publish.ts";
import type { Timeline, TimelineShot } from "../media/timeline.ts";
import { PermanentJobError } from "../queue/index.ts";
import { appendEvent } from "../realtime/events.ts";
import { lineLayout, selected } from "../story/material.ts";
import { localFile } from "./assets.ts";
import { type PipelineDeps, stepContextFor } from "./context.ts";
import { loadPackage, loadShot, loadShots } from "./packages.ts";
import { clip, keyframe, voice } from "./steps/shots.ts";

export function exportDefaults(options: ExportRequest | undefined, project: ProjectOptions): ExportOptions {
  const subtitles = project.subtitle_enabled ?? true;
  return {
    resolution: options?.resolution ?? "720p",
    format: options?.format ?? "MP4",
    fps: options?.fps ?? 24,
    subtitle: { enabled: subtitles, burn_in: subtitles, format: "SRT", ...options?.subtitle },
    cover: { enabled: true, ...options?.cover },
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
      edit: shot.edit,
      audio,
    });
  }
  const music = pkg.music;
  return {
    output: {
      resolution: options.resolution === "4K" ? "4k" : options.resolution,
      aspectRatio: project.aspect_ratio ?? "16:9",
      fps: options.fps,
      format: options.format === "MOV" ? "mov" : "mp4",
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
            size: options.subtitle.font_size,
            colour: options.subtitle.font_color,
            position: options.subtitle.position,
          },
        }
      : null,
    cover: options.cover.enabled ? { title: options.cover.title_text ?? title } : null,
  };
}

/**
 * Brings every edited shot up to date before composing: lines whose text or voice changed are
 * spoken again, and a clip made for another length or picture is made again. Untouched shots keep
 * their assets, and so their cached segments.
 */
async function refreshStale(
  deps: PipelineDeps,
  project: Parameters<typeof stepContextFor>[1],
  { packageId, ownerId, runId }: { packageId: string; ownerId: string | null; runId: string | null },
  signal: AbortSignal,
) {
  for (const before of await loadShots(deps.db, packageId)) {
    if (before.stale.length === 0 && before.lines.every((l) => l.audio)) continue;
    const step = await stepContextFor(deps, project, { packageId, ownerId }, signal, {
      runId,
      stage: "export",
      shotId: before.id,
    });
    if (before.stale.includes("keyframe")) await keyframe(step, before.id);
    if (before.stale.includes("voice") || before.lines.some((l) => !l.audio)) await voice(step, before.id);
    const after = await loadShot(deps.db, { packageId, shotId: before.id });
    if (
      after.clip.selected !== null &&
      (before.stale.some((s) => s === "clip" || s === "keyframe") || after.durationS !== before.durationS)
    )
      await clip(step, before.id);
  }
}

const FILE_TYPES: Record<string, "video" | "subtitle" | "cover"> = {
  video: "video",
  srt: "subtitle",
  vtt: "subtitle",
  ass: "subtitle",
  cover: "cover",
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
  await refreshStale(deps, project, { packageId: ex.package_id!, ownerId: ex.created_by, runId: ex.run_id }, signal);
  const pkg = await loadPackage(db, ex.package_id!);
  const timeline = await buildTimeline(
    deps,
    ex.package_id!,
    options,
    projectOptions,
    pkg.storyline?.title ?? project.name,
  );
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
  const { result, objects } = await composeToStorage(
    deps.storage,
    `projects/${project.id}/exports/${exportId}`,
    timeline,
    {
      cacheDir: join(deps.config.dataDir, "cache", "segments"),
      signal,
      spans: deps.spans,
      inspected: deps.inspected,
      onProgress: (p) => {
        const percent = Math.floor(p);
        if (percent < last + 5 || percent >= 100) return;
        last = percent;
        progressQueue = progressQueue.then(() => reportProgress(percent)).catch(() => {});
      },
    },
  );
  await progressQueue;
  const wanted = options.subtitle.format.toLowerCase();
  const files: ExportFile[] = [];
  for (const [kind, object] of Object.entries(objects)) {
    if (FILE_TYPES[kind] === "subtitle" && kind !== wanted) continue;
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
        meta: JSON.stringify(kind === "video" ? { duration_s: result.durationS } : {}),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    files.push({
      asset_id: asset.id,
      file_type: FILE_TYPES[kind]!,
      file_name: object.key.split("/").pop()!,
      mime_type: object.contentType,
      file_size: object.size,
      duration_s: kind === "video" ? result.durationS : null,
    });
  }
  // Files the composer made but the export did not ask for are not kept.
  for (const [kind, object] of Object.entries(objects)) {
    if (FILE_TYPES[kind] === "subtitle" && kind !== wanted) await deps.storage.delete(object.key).catch(() => {});
  }
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable("exports")
      .set({
        status: "completed",
        progress: 100,
        files: JSON.stringify(files),
        stats: JSON.stringify({ segments: result.segments, duration_s: result.durationS, warnings: result.warnings }),
        completed_at: new Date(),
      })
      .where("id", "=", exportId)
      .where("status", "=", "running")
      .execute();
    await appendEvent(trx, "completed", {
      project_id: project.id,
      run_id: ex.run_id,
      export_id: exportId,
      stage: "export",
      status: "completed",
      progress: 100,
      current_step: "Video ready",
    });
  });
  return { result, files };
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
    if (ex)
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
