import { sql } from "kysely";
import { conflict, notFound } from "../../core/errors.ts";
import type { ExportRequest } from "../../core/export-record.ts";
import { page } from "../../core/page.ts";
import type { ProjectOptions } from "../../core/project-options.ts";
import type { Stage } from "../../core/stages.ts";
import type { Db } from "../../db/client.ts";
import type { ProjectStatus } from "../../db/types.ts";
import { createExport, exportDefaults } from "../../pipeline/export.ts";
import { PIPELINE_QUEUE } from "../../pipeline/jobs.ts";
import { cancelRun, retryRun, type StartRun, skipStage, startRun } from "../../pipeline/orchestrate.ts";
import { removeProjects } from "../../pipeline/project-removal.ts";
import type { RunRow } from "../../pipeline/run-state.ts";
import { cancelJob, enqueue } from "../../queue/index.ts";
import { appendEvent } from "../../realtime/events.ts";
import { requireProject } from "../../services/project-access.ts";
import { getRunFor } from "../../services/run-access.ts";
import { requireSpaceRole } from "../../services/spaces.ts";
import type { Storage } from "../../storage/types.ts";

type ProjectRow = Awaited<ReturnType<typeof requireProject>>;

export const toProject = (p: ProjectRow) => ({
  id: p.id,
  space_id: p.space_id,
  name: p.name,
  input_type: p.input_type,
  status: p.status,
  stage: p.stage,
  progress: p.progress,
  current_step: p.current_step,
  options: p.options,
  active_package_id: p.active_package_id,
  created_at: p.created_at.toISOString(),
  updated_at: p.updated_at.toISOString(),
});

export const toRun = (r: RunRow) => ({
  id: r.id,
  project_id: r.project_id,
  package_id: r.package_id,
  mode: r.mode,
  status: r.status,
  progress: r.progress,
  current_step: r.current_step,
  stages: r.stages.map(({ done: _d, total: _t, done_shots: _s, join_id: _j, ...s }) => s),
  error: r.error ?? null,
  export_id: r.export_id,
  created_at: r.created_at.toISOString(),
  finished_at: r.finished_at?.toISOString() ?? null,
});

/** A default name from the story's first line. */
function nameFrom(text: string): string {
  const first = text
    .trim()
    .split(/\n/)[0]!
    .replace(/^#+\s*/, "")
    .trim();
  return [...first].slice(0, 30).join("") || "Untitled";
}

export async function createProject(
  db: Db,
  { userId, currentSpaceId }: { userId: string; currentSpaceId: string | null },
  body: {
    name?: string;
    input: { type: "novel" | "script" | "storyboard"; text: string };
    options?: ProjectOptions;
    space_id?: string;
  },
) {
  const spaceId = body.space_id ?? currentSpaceId;
  if (!spaceId) throw notFound("space");
  await requireSpaceRole(db, { userId, spaceId }, "editor");
  const row = await db
    .insertInto("projects")
    .values({
      space_id: spaceId,
      owner_id: userId,
      name: body.name ?? nameFrom(body.input.text),
      input_type: body.input.type,
      input_text: body.input.text,
      options: JSON.stringify(body.options ?? {}),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toProject(row);
}

export async function listProjects(
  db: Db,
  userId: string,
  q: { page?: number; page_size?: number; status?: ProjectStatus; keyword?: string; space_id?: string },
) {
  const pageNo = q.page ?? 1;
  const size = q.page_size ?? 20;
  let base = db
    .selectFrom("projects")
    .innerJoin("space_members", "space_members.space_id", "projects.space_id")
    .where("space_members.user_id", "=", userId);
  if (q.space_id) base = base.where("projects.space_id", "=", q.space_id);
  if (q.status) base = base.where("projects.status", "=", q.status);
  if (q.keyword) base = base.where("projects.name", "ilike", `%${q.keyword.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  const [rows, count] = await Promise.all([
    base
      .selectAll("projects")
      .orderBy("projects.updated_at", "desc")
      .orderBy("projects.id")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    base.select(sql<number>`count(*)`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(rows.map(toProject), Number(count.n), pageNo, size);
}

/** A project the user may see. */
export async function getProject(db: Db, ids: { userId: string; projectId: string }) {
  return toProject(await requireProject(db, ids, "viewer"));
}

export async function updateProject(
  db: Db,
  { userId, projectId }: { userId: string; projectId: string },
  body: { name?: string; options?: ProjectOptions },
) {
  const p = await requireProject(db, { userId, projectId }, "editor");
  const row = await db
    .updateTable("projects")
    .set({
      ...(body.name ? { name: body.name } : {}),
      ...(body.options ? { options: JSON.stringify({ ...p.options, ...body.options }) } : {}),
      updated_at: new Date(),
    })
    .where("id", "=", projectId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toProject(row);
}

/**
 * Deletes a project with everything it made in one transaction (see removeProjects): a run that
 * cannot be cancelled fails the delete, and its files are removed by a job committed with it.
 */
export async function deleteProject(db: Db, { userId, projectId }: { userId: string; projectId: string }) {
  await requireProject(db, { userId, projectId }, "editor");
  const removed = await db.transaction().execute((trx) => removeProjects(trx, [projectId]));
  if (removed.length === 0) throw notFound("project");
}

/** Starts a run of the pipeline on a project the user may edit. */
export async function startProjectRun(
  db: Db,
  { userId, projectId }: { userId: string; projectId: string },
  r: Omit<StartRun, "projectId" | "userId">,
): Promise<RunRow> {
  await requireProject(db, { userId, projectId }, "editor");
  return startRun(db, { ...r, projectId, userId });
}

/** A run the user may see (404 otherwise) whose project they may edit (403 otherwise). */
async function editableRun(db: Db, ids: { userId: string; runId: string }): Promise<RunRow> {
  const run = await getRunFor(db, ids);
  await requireProject(db, { userId: ids.userId, projectId: run.project_id }, "editor");
  return run;
}

export async function cancelRunFor(db: Db, ids: { userId: string; runId: string }): Promise<RunRow> {
  const run = await editableRun(db, ids);
  return cancelRun(db, run.id);
}

export async function retryRunFor(db: Db, ids: { userId: string; runId: string }): Promise<RunRow> {
  const run = await editableRun(db, ids);
  return retryRun(db, run.id);
}

export async function skipStageFor(db: Db, ids: { userId: string; runId: string }, stage: Stage): Promise<RunRow> {
  const run = await editableRun(db, ids);
  return skipStage(db, run.id, stage);
}

export async function startExport(
  db: Db,
  { userId, projectId }: { userId: string; projectId: string },
  options: ExportRequest | undefined,
) {
  const project = await requireProject(db, { userId, projectId }, "editor");
  if (!project.active_package_id) throw conflict("the project has nothing to export yet: run the pipeline first");
  const shots = await db
    .selectFrom("package_shots")
    .select("shot_id")
    .where("package_id", "=", project.active_package_id)
    .limit(1)
    .execute();
  if (shots.length === 0) throw conflict("the project has no storyboard yet: run the pipeline first");
  const exportId = await db.transaction().execute(async (trx) => {
    const id = await createExport(trx, {
      projectId,
      packageId: project.active_package_id!,
      runId: null,
      userId,
      options: exportDefaults(options, project.options),
    });
    await enqueue(trx, {
      kind: "pipeline.export",
      queue: PIPELINE_QUEUE,
      payload: { export_id: id },
      maxAttempts: 2,
      timeoutMs: 60 * 60_000,
    });
    return id;
  });
  return exportId;
}

export async function exportView(db: Db, storage: Storage, { userId, exportId }: { userId: string; exportId: string }) {
  const ex = await db.selectFrom("exports").selectAll().where("id", "=", exportId).executeTakeFirst();
  if (!ex) throw notFound("export");
  await requireProject(db, { userId, projectId: ex.project_id }, "viewer").catch(() => {
    throw notFound("export");
  });
  return toExport(storage, ex);
}

type ExportRow = NonNullable<Awaited<ReturnType<typeof getExportRow>>>;
const getExportRow = (db: Db, id: string) =>
  db.selectFrom("exports").selectAll().where("id", "=", id).executeTakeFirst();

/** Signed download links are made fresh on each read and expire after an hour. */
export async function toExport(storage: Storage, ex: ExportRow) {
  const files = [];
  for (const f of ex.files) {
    const key = `projects/${ex.project_id}/exports/${ex.id}/${f.file_name}`;
    const { url, expiresAt } = await storage.signedUrl(key, 3600, { downloadName: f.file_name });
    files.push({
      id: f.asset_id,
      file_type: f.file_type,
      file_name: f.file_name,
      mime_type: f.mime_type,
      file_size: f.file_size,
      duration_s: f.duration_s,
      download_url: url,
      expires_at: expiresAt.toISOString(),
    });
  }
  return {
    id: ex.id,
    project_id: ex.project_id,
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
  return page(await Promise.all(rows.map((r) => toExport(storage, r))), Number(count.n), pageNo, size);
}

/** An asset, if its project is visible to the user (404 otherwise), with a signed link valid for an hour. */
export async function assetView(db: Db, storage: Storage, { userId, assetId }: { userId: string; assetId: string }) {
  const a = await db.selectFrom("assets").selectAll().where("id", "=", assetId).executeTakeFirst();
  if (!a?.project_id) throw notFound("asset");
  await requireProject(db, { userId, projectId: a.project_id }, "viewer").catch(() => {
    throw notFound("asset");
  });
  const { url, expiresAt } = await storage.signedUrl(a.storage_key, 3600);
  return {
    id: a.id,
    project_id: a.project_id,
    package_id: a.package_id,
    kind: a.kind,
    mime_type: a.mime_type,
    size: a.size,
    sha256: a.sha256,
    input_digest: a.input_digest,
    meta: a.meta,
    download_url: url,
    expires_at: expiresAt.toISOString(),
    created_at: a.created_at.toISOString(),
  };
}

/** Stops an export: a run's export cancels its run; a standalone export's job is cancelled (a render in progress aborts). */
export async function cancelExport(db: Db, { userId, exportId }: { userId: string; exportId: string }) {
  const ex = await db.selectFrom("exports").selectAll().where("id", "=", exportId).executeTakeFirst();
  if (!ex) throw notFound("export");
  await requireProject(db, { userId, projectId: ex.project_id }, "viewer").catch(() => {
    throw notFound("export");
  });
  await requireProject(db, { userId, projectId: ex.project_id }, "editor");
  if (!["queued", "running"].includes(ex.status)) throw conflict(`the export is already ${ex.status}`);
  if (ex.run_id) {
    await cancelRun(db, ex.run_id).catch(() => {});
  } else {
    const jobs = await sql<{
      id: string;
    }>`select id from jobs where kind = 'pipeline.export' and payload->>'export_id' = ${exportId}`.execute(db);
    for (const j of jobs.rows) await cancelJob(db, j.id);
  }
  await db.transaction().execute(async (trx) => {
    const changed = await trx
      .updateTable("exports")
      .set({ status: "cancelled", completed_at: new Date() })
      .where("id", "=", exportId)
      .where("status", "in", ["queued", "running"])
      .executeTakeFirst();
    if (Number(changed.numUpdatedRows) === 0) return;
    await appendEvent(trx, "cancelled", {
      project_id: ex.project_id,
      run_id: ex.run_id,
      export_id: exportId,
      stage: "export",
      status: "cancelled",
      progress: ex.progress,
      current_step: null,
    });
  });
}

/** Keeps an uploaded story file as an asset of its project. */
export async function storeUpload(
  db: Db,
  storage: Storage,
  project: { id: string; space_id: string },
  userId: string,
  file: File,
) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const safe =
    file.name
      .replace(/[^\w.-]+/g, "_")
      .replace(/^[._]+/, "")
      .slice(0, 80) || "story";
  const key = `projects/${project.id}/uploads/${crypto.randomUUID().slice(0, 8)}-${safe}`;
  const stored = await storage.put(key, bytes, { contentType: file.type || "application/octet-stream" });
  await db
    .insertInto("assets")
    .values({
      space_id: project.space_id,
      project_id: project.id,
      owner_id: userId,
      kind: "upload",
      mime_type: stored.contentType,
      size: stored.size,
      sha256: stored.sha256,
      input_digest: stored.sha256,
      storage_key: key,
      meta: JSON.stringify({ file_name: file.name }),
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
}
