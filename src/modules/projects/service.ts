import { sql, type Transaction } from "kysely";
import type { Config } from "../../config.ts";
import { conflict, forbidden, notFound, validation } from "../../core/errors.ts";
import { page } from "../../core/page.ts";
import type { ProjectOptions } from "../../core/project-options.ts";
import type { Stage } from "../../core/stages.ts";
import type { Db } from "../../db/client.ts";
import type { Database, ProjectStatus, RunStatus } from "../../db/types.ts";
import { castFromLibrary } from "../../library/items.ts";
import { cancelRun, retryRun, type StartRun, skipStage, startRun, startRunIn } from "../../pipeline/orchestrate.ts";
import { loadPackage, loadShots, newPackageVersion } from "../../pipeline/packages.ts";
import { removeProjects } from "../../pipeline/project-removal.ts";
import type { RunRow } from "../../pipeline/run-state.ts";
import { closeChargesOf } from "../../providers/compute-ledger.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { cancelJob } from "../../queue/index.ts";
import { appendEvent } from "../../realtime/events.ts";
import { type ChargeView, queuePriority, runPayer } from "../../services/compute.ts";
import { templateOptions } from "../../services/config-templates.ts";
import { projectWithRole, requireProject } from "../../services/project-access.ts";
import { getRunFor } from "../../services/run-access.ts";
import { requireSpaceRole } from "../../services/spaces.ts";
import { limitRequest } from "../../services/usage-limits.ts";
import type { Storage } from "../../storage/types.ts";
import { selected } from "../../story/material.ts";
import { exportFileLinks } from "./exports.ts";
import { PROJECT_DETAILS, type ProjectWithDetails, projectWithDetails, toProjectView } from "./view.ts";

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

type InputType = "novel" | "script" | "storyboard";

export interface NewProject {
  name?: string;
  description?: string;
  tags?: string[];
  input?: { type: InputType; text: string };
  options?: ProjectOptions;
  space_id?: string;
  /** A config template of the project's space: its options, under the request's own. */
  template_id?: string;
  run?: { mode: "auto" | "step"; to_stage?: Stage };
}

/** The projects of a page or one project, with details, as the API shows them. */
const views = (storage: Storage, rows: ProjectWithDetails[]) => Promise.all(rows.map((r) => toProjectView(storage, r)));

async function viewOf(db: Db, storage: Storage, projectId: string) {
  const row = await projectWithDetails(db, projectId);
  if (!row) throw notFound("project");
  return toProjectView(storage, row);
}

/**
 * Creates a project in a space the user may edit: with its story, or empty (the story comes
 * later through setInput). With `run`, the pipeline's run starts in the same transaction, so a
 * client never sees a project whose promised run does not exist.
 */
export async function createProjectWithRun(
  { db, storage, config, providers }: { db: Db; storage: Storage; config: Config; providers: ProviderResolver },
  { userId, currentSpaceId }: { userId: string; currentSpaceId: string | null },
  body: NewProject,
) {
  const spaceId = body.space_id ?? currentSpaceId;
  if (!spaceId) throw notFound("space");
  await requireSpaceRole(db, { userId, spaceId }, "editor");
  if (body.run && !body.input) throw validation([{ path: "/run", message: "a run needs the story: send input too" }]);
  // A template's options first; the request's own options win over them.
  const options = body.template_id
    ? { ...(await templateOptions(db, { templateId: body.template_id, spaceId })), ...body.options }
    : body.options;
  const payer = body.run ? await runPayer({ config, providers }, { userId, spaceId }) : null;
  const priority = await queuePriority(db, config, userId);
  const { projectId, run } = await db.transaction().execute(async (trx) => {
    const id = await insertProject(trx, { userId, spaceId }, { ...body, options });
    const started = body.run
      ? await startRunIn(trx, {
          projectId: id,
          userId,
          mode: body.run.mode,
          toStage: body.run.to_stage,
          pay: payer?.pay,
          priority,
        })
      : null;
    return { projectId: id, run: started };
  });
  return { project: await viewOf(db, storage, projectId), run, compute: payer?.reserved() ?? null };
}

/** createProjectWithRun for callers that need only the new project's id (the demo, benchmarks). */
export async function createProject(
  db: Db,
  ids: { userId: string; currentSpaceId: string | null },
  body: Omit<NewProject, "run">,
): Promise<{ id: string }> {
  const spaceId = body.space_id ?? ids.currentSpaceId;
  if (!spaceId) throw notFound("space");
  await requireSpaceRole(db, { userId: ids.userId, spaceId }, "editor");
  return db
    .transaction()
    .execute(async (trx) => ({ id: await insertProject(trx, { userId: ids.userId, spaceId }, body) }));
}

async function insertProject(
  trx: Transaction<Database>,
  { userId, spaceId }: { userId: string; spaceId: string },
  body: NewProject,
) {
  const row = await trx
    .insertInto("projects")
    .values({
      space_id: spaceId,
      owner_id: userId,
      name: body.name ?? (body.input ? nameFrom(body.input.text) : "Untitled"),
      description: body.description ?? "",
      tags: normalTags(body.tags),
      input_type: body.input?.type ?? "novel",
      input_text: body.input?.text ?? "",
      has_input: body.input !== undefined,
      options: JSON.stringify(body.options ?? {}),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  // Library items the options cast: checked against the space and counted with the project.
  await castFromLibrary(trx, { spaceId, projectId: row.id }, body.options);
  return row.id;
}

/** Tags trimmed, without duplicates or empties, in the order given. */
function normalTags(tags: string[] | undefined): string[] {
  return [...new Set((tags ?? []).map((tag) => tag.trim()).filter(Boolean))];
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function listProjects(
  db: Db,
  storage: Storage,
  caller: { userId: string; isAdmin: boolean },
  q: {
    page?: number;
    page_size?: number;
    status?: ProjectStatus | "exported";
    keyword?: string;
    space_id?: string;
    user_id?: string;
  },
) {
  const pageNo = q.page ?? 1;
  const size = q.page_size ?? 20;
  if (q.user_id && !caller.isAdmin) throw forbidden("only an ADMIN lists another user's projects");
  // An ADMIN with user_id sees that user's projects in every space; everyone else sees the
  // projects of the spaces they belong to.
  let base = q.user_id
    ? db.selectFrom("projects").where("projects.owner_id", "=", q.user_id)
    : db
        .selectFrom("projects")
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom("space_members")
              .select(sql`1`.as("one"))
              .whereRef("space_members.space_id", "=", "projects.space_id")
              .where("space_members.user_id", "=", caller.userId),
          ),
        );
  if (q.space_id) base = base.where("projects.space_id", "=", q.space_id);
  if (q.status) {
    const exported = sql<boolean>`exists (select 1 from exports e where e.project_id = projects.id and e.status = 'completed')`;
    if (q.status === "exported") base = base.where("projects.status", "=", "completed").where(exported);
    else if (q.status === "completed")
      base = base.where("projects.status", "=", "completed").where(sql<boolean>`not ${exported}`);
    else base = base.where("projects.status", "=", q.status);
  }
  if (q.keyword) base = base.where("projects.name", "ilike", `%${escapeLike(q.keyword)}%`);
  const [rows, count] = await Promise.all([
    base
      .selectAll("projects")
      .select(PROJECT_DETAILS)
      .orderBy("projects.updated_at", "desc")
      .orderBy("projects.id")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    base.select(sql<number>`count(*)`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(await views(storage, rows), Number(count.n), pageNo, size);
}

/** A project the user may see, with its details, in one statement (the hot read of the API). */
export async function getProject(
  db: Db,
  storage: Storage,
  { userId, projectId }: { userId: string; projectId: string },
) {
  const row = await projectWithRole(db, { userId, projectId }).select(PROJECT_DETAILS).executeTakeFirst();
  if (!row?.member_role) throw notFound("project");
  const { member_role: _, ...project } = row;
  return toProjectView(storage, project);
}

export async function updateProject(
  db: Db,
  storage: Storage,
  { userId, projectId }: { userId: string; projectId: string },
  body: { name?: string; description?: string; tags?: string[]; options?: ProjectOptions },
) {
  const p = await requireProject(db, { userId, projectId }, "editor");
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable("projects")
      .set({
        ...(body.name ? { name: body.name } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.tags !== undefined ? { tags: normalTags(body.tags) } : {}),
        ...(body.options ? { options: JSON.stringify({ ...p.options, ...body.options }) } : {}),
        updated_at: new Date(),
      })
      .where("id", "=", projectId)
      .execute();
    await castFromLibrary(trx, { spaceId: p.space_id, projectId }, body.options);
  });
  return viewOf(db, storage, projectId);
}

/**
 * Gives a project its story. Before any run it simply replaces the input. Once a run has
 * started, the material made from the old story would no longer match it: that is 409 unless
 * `new_version`, which starts an empty material-package version for the new story (the old
 * versions stay, and the next run fills the new one from the first stage).
 */
export async function setInput(
  db: Db,
  storage: Storage,
  { userId, projectId }: { userId: string; projectId: string },
  input: { type?: InputType; text: string; new_version?: boolean },
) {
  await requireProject(db, { userId, projectId }, "editor");
  await db.transaction().execute(async (trx) => {
    // Under the project's row lock, as startRun takes it: no run can start between the check and the write.
    await trx.selectFrom("projects").select("id").where("id", "=", projectId).forUpdate().executeTakeFirstOrThrow();
    const runs = await trx
      .selectFrom("runs")
      .select(["id", "status"])
      .where("project_id", "=", projectId)
      .orderBy("created_at", "desc")
      .execute();
    if (runs.some((r) => r.status === "queued" || r.status === "running"))
      throw conflict("a run is in progress; cancel it before giving the project a new story", { run_id: runs[0]!.id });
    let packageId: string | null | undefined;
    if (runs.length > 0) {
      if (!input.new_version)
        throw conflict(
          "a run has already started on this project: send new_version: true to start a new material version",
        );
      packageId = await newPackageVersion(trx, { projectId, fromPackageId: null });
    }
    await trx
      .updateTable("projects")
      .set({
        input_text: input.text,
        ...(input.type ? { input_type: input.type } : {}),
        has_input: true,
        ...(packageId ? { active_package_id: packageId, status: "draft", stage: null, progress: 0 } : {}),
        updated_at: new Date(),
      })
      .where("id", "=", projectId)
      .execute();
  });
  return viewOf(db, storage, projectId);
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
  deps: { db: Db; config: Config; providers: ProviderResolver },
  { userId, projectId }: { userId: string; projectId: string },
  r: Omit<StartRun, "projectId" | "userId" | "pay">,
): Promise<{ run: RunRow; compute: ChargeView | null }> {
  const project = await requireProject(deps.db, { userId, projectId }, "editor");
  const payer = await runPayer(deps, { userId, spaceId: project.space_id });
  const priority = await queuePriority(deps.db, deps.config, userId);
  const run = await startRun(deps.db, { ...r, projectId, userId, pay: payer.pay, priority });
  return { run, compute: payer.reserved() };
}

/** A run the user may see (404 otherwise) whose project they may edit (403 otherwise). */
async function editableRun(db: Db, ids: { userId: string; runId: string }): Promise<RunRow> {
  const run = await getRunFor(db, ids);
  await requireProject(db, { userId: ids.userId, projectId: run.project_id }, "editor");
  return run;
}

/** A project's runs, latest first. */
export async function listRuns(
  db: Db,
  { userId, projectId }: { userId: string; projectId: string },
  q: { page?: number; page_size?: number; status?: RunStatus },
) {
  await requireProject(db, { userId, projectId }, "viewer");
  const pageNo = q.page ?? 1;
  const size = q.page_size ?? 20;
  let base = db.selectFrom("runs").where("project_id", "=", projectId);
  if (q.status) base = base.where("status", "=", q.status);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    base.select(sql<number>`count(*)::int`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(rows.map(toRun), count.n, pageNo, size);
}

export async function cancelRunFor(db: Db, ids: { userId: string; runId: string }): Promise<RunRow> {
  const run = await editableRun(db, ids);
  return cancelRun(db, run.id);
}

type RunDeps = { db: Db; config: Config; providers: ProviderResolver };

/** The `pay` of a run going on again: the stages left, reserved for the project's payer. */
async function reopenPayer(deps: RunDeps, ids: { userId: string; projectId: string }) {
  const project = await requireProject(deps.db, ids, "editor");
  return runPayer(deps, { userId: ids.userId, spaceId: project.space_id });
}

export async function retryRunFor(deps: RunDeps, ids: { userId: string; runId: string }): Promise<RunRow> {
  const run = await editableRun(deps.db, ids);
  await limitRequest(deps, { userId: ids.userId, metric: "retries_per_hour" });
  const payer = await reopenPayer(deps, { userId: ids.userId, projectId: run.project_id });
  return retryRun(deps.db, run.id, payer.pay);
}

export async function skipStageFor(
  deps: RunDeps,
  ids: { userId: string; runId: string },
  stage: Stage,
): Promise<RunRow> {
  const run = await editableRun(deps.db, ids);
  const payer = await reopenPayer(deps, { userId: ids.userId, projectId: run.project_id });
  return skipStage(deps.db, run.id, stage, payer.pay);
}

/** An asset, if its project is visible to the user (404 otherwise), with a signed link valid for an hour. */
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
    // A standalone export's hold goes back (a run's export is paid for by the run's charge).
    await closeChargesOf(trx, exportId, "refund");
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

const RESULT_URL_TTL_S = 3600;

/**
 * The finished video of a project (its latest finished export) with what it was made of, as seed
 * 001's result: the video, its thumbnail and length, each scene's picture with the audio of the
 * lines spoken in it, each character's reference picture. 409 until an export has finished.
 */
export async function projectResult(
  db: Db,
  storage: Storage,
  { userId, projectId }: { userId: string; projectId: string },
) {
  await requireProject(db, { userId, projectId }, "viewer");
  const ex = await db
    .selectFrom("exports")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("status", "=", "completed")
    // An editor project (a ZIP) is not a video: the latest export that made one.
    .where(sql<boolean>`files @> '[{"file_type":"video"}]'::jsonb`)
    .orderBy("completed_at", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!ex?.package_id) throw conflict("the project has no finished video yet: run it or export it first");
  const files = await exportFileLinks(db, storage, ex);
  const video = files.find((f) => f.file_type === "video");
  if (!video) throw conflict("the latest export holds no video");
  const cover = files.find((f) => f.file_type === "cover");
  const pkg = await loadPackage(db, ex.package_id);
  const shots = await loadShots(db, ex.package_id);
  const url = async (ref: { storage_key: string } | null | undefined) =>
    ref ? (await storage.signedUrl(ref.storage_key, RESULT_URL_TTL_S)).url : null;
  const scenes = [];
  for (const scene of pkg.scenes) {
    const audio = [];
    for (const shot of shots.filter((s) => s.sceneId === scene.id))
      for (const line of shot.lines) if (line.audio) audio.push({ line_id: line.id, url: (await url(line.audio))! });
    scenes.push({ id: scene.id, location: scene.location, image_url: await url(scene.image), audio });
  }
  const characters = [];
  for (const c of pkg.characters) characters.push({ name: c.name, image_url: await url(c.reference) });
  return {
    project_id: projectId,
    export_id: ex.id,
    video_url: video.download_url,
    thumbnail_url: cover?.download_url ?? (await url(shots[0] ? selected(shots[0].keyframe) : null)),
    duration_s: video.duration_s ?? ex.stats?.duration_s ?? shots.reduce((sum, s) => sum + s.durationS, 0),
    expires_at: video.expires_at,
    scenes,
    characters,
  };
}
