import { sql } from "kysely";
import type { Config } from "../../config.ts";
import { conflict, type FieldError, notFound, validation } from "../../core/errors.ts";
import { type ExportRequest, exportPrefix } from "../../core/export-record.ts";
import { page } from "../../core/page.ts";
import type { Db } from "../../db/client.ts";
import { estimateExport } from "../../pipeline/estimate.ts";
import { createExport, exportDefaults } from "../../pipeline/export.ts";
import { PIPELINE_QUEUE } from "../../pipeline/jobs.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { enqueue } from "../../queue/index.ts";
import { type ChargeView, reserveFor } from "../../services/compute.ts";
import { requireProject } from "../../services/project-access.ts";
import type { Storage } from "../../storage/types.ts";

const LINK_TTL_S = 3600;
const COVER_IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];

/**
 * What the export schema cannot say alone: a frame size comes as width and height together (and
 * not with an aspect ratio), a cover from a clip names a shot of the package, a custom cover an
 * image of the same project.
 */
async function checkExportRequest(
  db: Db,
  { projectId, packageId }: { projectId: string; packageId: string },
  r: ExportRequest | undefined,
) {
  const fields: FieldError[] = [];
  if (!r) return;
  if ((r.width === undefined) !== (r.height === undefined))
    fields.push({ path: r.width === undefined ? "/width" : "/height", message: "give width and height together" });
  if (r.width !== undefined && r.aspect_ratio !== undefined)
    fields.push({ path: "/aspect_ratio", message: "give width and height, or aspect_ratio, not both" });
  const cover = r.cover;
  if (cover?.cover_type === "from_clip") {
    const shot = cover.source_clip_id
      ? await db
          .selectFrom("package_shots")
          .select("shot_id")
          .where("package_id", "=", packageId)
          .where("shot_id", "=", cover.source_clip_id)
          .executeTakeFirst()
      : undefined;
    if (!shot) fields.push({ path: "/cover/source_clip_id", message: "name a shot of the project's storyboard" });
  }
  if (cover?.cover_type === "custom") {
    const image = cover.custom_image_asset_id
      ? await db
          .selectFrom("assets")
          .select("id")
          .where("id", "=", cover.custom_image_asset_id)
          .where("project_id", "=", projectId)
          .where("mime_type", "in", COVER_IMAGE_TYPES)
          .executeTakeFirst()
      : undefined;
    if (!image)
      fields.push({ path: "/cover/custom_image_asset_id", message: "name a PNG, JPEG or WebP image of this project" });
  }
  if (fields.length) throw validation(fields);
}

/**
 * Queues a standalone export (of the active package, no run): what it makes again before
 * composing and an automatic cover's poster are reserved in the transaction that queues it (402
 * over the balance, and no export exists).
 */
export async function startExport(
  deps: { db: Db; config: Config; providers: ProviderResolver },
  { userId, projectId }: { userId: string; projectId: string },
  options: ExportRequest | undefined,
): Promise<{ id: string; compute: ChargeView }> {
  const { db, config } = deps;
  const project = await requireProject(db, { userId, projectId }, "editor");
  if (!project.active_package_id) throw conflict("the project has nothing to export yet: run the pipeline first");
  const packageId = project.active_package_id;
  const shots = await db
    .selectFrom("package_shots")
    .select("shot_id")
    .where("package_id", "=", packageId)
    .limit(1)
    .execute();
  if (shots.length === 0) throw conflict("the project has no storyboard yet: run the pipeline first");
  await checkExportRequest(db, { projectId, packageId }, options);
  const payer = { userId, spaceId: project.space_id };
  const providers = await deps.providers.forScope(payer);
  const exportOptions = exportDefaults(options, project.options);
  return db.transaction().execute(async (trx) => {
    const id = await createExport(trx, { projectId, packageId, runId: null, userId, options: exportOptions });
    const estimate = await estimateExport(trx, config.compute, providers, { packageId, options: exportOptions });
    const compute = await reserveFor(trx, config, { ...payer, kind: "export", subjectId: id, estimate });
    await enqueue(trx, {
      kind: "pipeline.export",
      queue: PIPELINE_QUEUE,
      payload: { export_id: id },
      maxAttempts: 2,
      timeoutMs: 60 * 60_000,
    });
    return { id, compute };
  });
}

export type ExportRow = NonNullable<Awaited<ReturnType<typeof getExportRow>>>;
const getExportRow = (db: Db, id: string) =>
  db.selectFrom("exports").selectAll().where("id", "=", id).executeTakeFirst();

/** An export the user may see (404 otherwise, whether it does not exist or is someone else's). */
async function visibleExport(db: Db, { userId, exportId }: { userId: string; exportId: string }) {
  const ex = await getExportRow(db, exportId);
  if (!ex) throw notFound("export");
  await requireProject(db, { userId, projectId: ex.project_id }, "viewer").catch(() => {
    throw notFound("export");
  });
  return ex;
}

/** How many times each of these files was handed out for download. */
async function downloadCounts(db: Db, assetIds: string[]): Promise<Map<string, number>> {
  if (assetIds.length === 0) return new Map();
  const rows = await db.selectFrom("assets").select(["id", "download_count"]).where("id", "in", assetIds).execute();
  return new Map(rows.map((r) => [r.id, r.download_count]));
}

/** An export's files, each with a fresh signed link (an hour) and its download count. */
async function fileViews(storage: Storage, ex: ExportRow, counts: Map<string, number>) {
  const files = [];
  for (const f of ex.files) {
    const key = `${exportPrefix(ex)}/${f.file_name}`;
    const { url, expiresAt } = await storage.signedUrl(key, LINK_TTL_S, { downloadName: f.file_name });
    files.push({
      id: f.asset_id,
      file_type: f.file_type,
      file_name: f.file_name,
      mime_type: f.mime_type,
      file_size: f.file_size,
      duration_s: f.duration_s,
      download_count: counts.get(f.asset_id) ?? 0,
      download_url: url,
      expires_at: expiresAt.toISOString(),
    });
  }
  return files;
}

function toExport(ex: ExportRow, files: Awaited<ReturnType<typeof fileViews>>) {
  return {
    id: ex.id,
    project_id: ex.project_id,
    task_name: ex.options.task_name ?? null,
    status: ex.status,
    progress: ex.progress,
    options: ex.options,
    files,
    error: ex.error ?? null,
    segments: ex.stats?.segments ?? null,
    created_at: ex.created_at.toISOString(),
    completed_at: ex.completed_at?.toISOString() ?? null,
  };
}

/** A finished export's files with fresh signed links. */
export async function exportFileLinks(db: Db, storage: Storage, ex: ExportRow) {
  return fileViews(
    storage,
    ex,
    await downloadCounts(
      db,
      ex.files.map((f) => f.asset_id),
    ),
  );
}

export async function exportView(db: Db, storage: Storage, ids: { userId: string; exportId: string }) {
  const ex = await visibleExport(db, ids);
  return toExport(ex, await exportFileLinks(db, storage, ex));
}

export async function listExports(
  db: Db,
  storage: Storage,
  { userId, projectId }: { userId: string; projectId: string },
  pageNo: number,
  size: number,
) {
  await requireProject(db, { userId, projectId }, "viewer");
  const base = db.selectFrom("exports").where("project_id", "=", projectId);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy("created_at", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    base.select(sql<number>`count(*)`.as("n")).executeTakeFirstOrThrow(),
  ]);
  const counts = await downloadCounts(
    db,
    rows.flatMap((r) => r.files.map((f) => f.asset_id)),
  );
  const items = [];
  for (const r of rows) items.push(toExport(r, await fileViews(storage, r, counts)));
  return page(items, Number(count.n), pageNo, size);
}

/** An export's files (seed 003 §5.2.1), with their download counts. */
export async function exportFiles(db: Db, storage: Storage, ids: { userId: string; exportId: string }) {
  return exportFileLinks(db, storage, await visibleExport(db, ids));
}

/**
 * A fresh signed link to one file of an export (seed 003 §5.2.2), counted as a download: the
 * count goes up by one in the same statement that reads the file's key, so concurrent requests
 * each count.
 */
export async function fileDownloadUrl(
  db: Db,
  storage: Storage,
  { userId, exportId, fileId }: { userId: string; exportId: string; fileId: string },
) {
  const ex = await visibleExport(db, { userId, exportId });
  const file = ex.files.find((f) => f.asset_id === fileId);
  if (!file) throw notFound("file");
  const counted = await db
    .updateTable("assets")
    .set({ download_count: sql`download_count + 1` })
    .where("id", "=", fileId)
    .where("project_id", "=", ex.project_id)
    .returning(["storage_key", "download_count"])
    .executeTakeFirst();
  if (!counted) throw notFound("file");
  const { url, expiresAt } = await storage.signedUrl(counted.storage_key, LINK_TTL_S, { downloadName: file.file_name });
  return {
    id: fileId,
    file_name: file.file_name,
    download_url: url,
    expires_at: expiresAt.toISOString(),
    download_count: counted.download_count,
  };
}
