import { Value } from "@sinclair/typebox/value";
import { Elysia, t } from "elysia";
import { validation } from "../../core/errors.ts";
import { ExportRequest } from "../../core/export-record.ts";
import { ProjectOptions } from "../../core/project-options.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import { idempotent } from "../../http/idempotency.ts";
import { getRunFor } from "../../services/run-access.ts";
import * as exportsSvc from "./exports.ts";
import {
  CreateProjectBody,
  DownloadUrlSchema,
  ExportFileParams,
  ExportFileSchema,
  ExportSchema,
  IdParams,
  ProjectListQuery,
  ProjectResultSchema,
  ProjectSchema,
  RunListQuery,
  RunSchema,
  SetInputBody,
  SkipBody,
  StartRunBody,
  UpdateProjectBody,
  UploadInputBody,
  UploadProjectBody,
} from "./model.ts";
import * as projects from "./service.ts";
import { storyFromUpload } from "./upload.ts";

const security = [{ bearer: [] }];

/** The story in an uploaded file, 50 to 200,000 characters (400 otherwise; 415 for what is not a story file). */
async function uploadedStory(file: File): Promise<string> {
  const { text } = await storyFromUpload(file);
  const length = [...text.trim()].length;
  if (length < 50 || length > 200_000) {
    throw validation([
      { path: "/file", message: `the story must be 50 to 200,000 characters; this file holds ${length}` },
    ]);
  }
  return text.trim();
}

/** The upload form's options field: nothing, or JSON text of an object matching the project options schema. */
function uploadOptions(raw: string | undefined): ProjectOptions | undefined {
  if (!raw) return undefined;
  let options: unknown;
  try {
    options = JSON.parse(raw);
  } catch {
    throw validation([{ path: "/options", message: "options must be a JSON object" }]);
  }
  if (!Value.Check(ProjectOptions, options))
    throw validation([{ path: "/options", message: "options do not match the project options schema" }]);
  return options;
}

/** Projects, runs of the pipeline and exports (contracts in docs/api-conventions.md and the OpenAPI document). */
export function projectsModule(deps: Deps) {
  const { db, storage } = deps;
  return new Elysia({ prefix: "/api/v1", tags: ["projects"] })
    .use(authGuard(deps))
    .post(
      "/projects",
      async ({ body, caller, set }) => {
        const ids = { userId: caller.user.id, currentSpaceId: caller.user.current_space_id };
        const { project, run, compute } = await projects.createProjectWithRun(deps, ids, body);
        if (!run) {
          set.status = 201;
          return ok(project);
        }
        set.status = 202;
        return ok({ project, run: { ...projects.toRun(run), ...(compute ? { compute } : {}) } });
      },
      {
        spaceRole: "editor",
        body: CreateProjectBody,
        response: {
          201: Envelope(ProjectSchema),
          202: Envelope(t.Object({ project: ProjectSchema, run: RunSchema })),
          ...ErrorResponses,
        },
        detail: {
          summary: "Create a project, from a story or empty; with `run`, start the pipeline at once",
          description:
            "Without `input` the project is empty until POST /projects/:id/input. With `run` (needs `input`) the project and its run are created in one transaction: 202 with both.",
          security,
        },
      },
    )
    .post(
      "/projects/upload",
      async ({ body, caller, set }) => {
        const text = await uploadedStory(body.file);
        const options = uploadOptions(body.options);
        const name = body.name ?? body.file.name.replace(/\.(txt|md|docx)$/i, "");
        const ids = { userId: caller.user.id, currentSpaceId: caller.user.current_space_id };
        const { project } = await projects.createProjectWithRun(deps, ids, {
          name,
          input: { type: body.type ?? "novel", text },
          options,
          space_id: body.space_id,
        });
        await projects.storeUpload(db, storage, project, caller.user.id, body.file);
        set.status = 201;
        return ok(project);
      },
      {
        spaceRole: "editor",
        body: UploadProjectBody,
        response: { 201: Envelope(ProjectSchema), ...ErrorResponses },
        detail: {
          summary: "Create a project from an uploaded .txt, .md or .docx file",
          description:
            "multipart/form-data, up to 10 MB; the type is sniffed from the bytes (415 when it is not text or a Word document).",
          security,
        },
      },
    )
    .get(
      "/projects",
      async ({ query, caller }) =>
        ok(
          await projects.listProjects(
            db,
            storage,
            { userId: caller.user.id, isAdmin: caller.user.role === "ADMIN" },
            query,
          ),
        ),
      {
        auth: true,
        query: ProjectListQuery,
        response: { 200: Envelope(PageOf(ProjectSchema)), ...ErrorResponses },
        detail: {
          summary: "Projects in my spaces, newest first, by status or name keyword",
          description: "An ADMIN passes `user_id` to list that user's projects in every space (403 for anyone else).",
          security,
        },
      },
    )
    .get(
      "/projects/:id",
      async ({ params, caller }) =>
        ok(await projects.getProject(db, storage, { userId: caller.user.id, projectId: params.id })),
      {
        spaceRole: "viewer",
        params: IdParams,
        response: { 200: Envelope(ProjectSchema), ...ErrorResponses },
        detail: { summary: "A project", security },
      },
    )
    .patch(
      "/projects/:id",
      async ({ params, body, caller }) =>
        ok(await projects.updateProject(db, storage, { userId: caller.user.id, projectId: params.id }, body)),
      {
        spaceRole: "editor",
        params: IdParams,
        body: UpdateProjectBody,
        response: { 200: Envelope(ProjectSchema), ...ErrorResponses },
        detail: { summary: "Rename a project, change its description, tags or options", security },
      },
    )
    .post(
      "/projects/:id/input",
      async ({ params, body, caller }) =>
        ok(await projects.setInput(db, storage, { userId: caller.user.id, projectId: params.id }, body)),
      {
        spaceRole: "editor",
        params: IdParams,
        body: SetInputBody,
        response: { 200: Envelope(ProjectSchema), ...ErrorResponses },
        detail: {
          summary: "Give a project its story (or a new one)",
          description:
            "Before any run it replaces the input. Once a run has started it is 409 unless `new_version: true`, which starts a new, empty material-package version for the new story.",
          security,
        },
      },
    )
    .post(
      "/projects/:id/input/upload",
      async ({ params, body, caller }) => {
        const text = await uploadedStory(body.file);
        const ids = { userId: caller.user.id, projectId: params.id };
        const project = await projects.setInput(db, storage, ids, {
          text,
          type: body.type,
          new_version: body.new_version === "true",
        });
        await projects.storeUpload(db, storage, project, caller.user.id, body.file);
        return ok(project);
      },
      {
        spaceRole: "editor",
        params: IdParams,
        body: UploadInputBody,
        response: { 200: Envelope(ProjectSchema), ...ErrorResponses },
        detail: {
          summary: "Give a project its story from an uploaded .txt, .md or .docx file",
          description: "As POST /projects/:id/input, from multipart/form-data (10 MB, type sniffed: 415 otherwise).",
          security,
        },
      },
    )
    .get(
      "/projects/:id/result",
      async ({ params, caller }) =>
        ok(await projects.projectResult(db, storage, { userId: caller.user.id, projectId: params.id })),
      {
        spaceRole: "viewer",
        params: IdParams,
        response: { 200: Envelope(ProjectResultSchema), ...ErrorResponses },
        detail: {
          summary: "The finished video with its thumbnail and the scenes and characters it was made of",
          description: "409 until the project has a finished export. Every URL is signed and expires.",
          security,
        },
      },
    )
    .delete(
      "/projects/:id",
      async ({ params, caller }) => {
        await projects.deleteProject(db, { userId: caller.user.id, projectId: params.id });
        return ok(null);
      },
      {
        spaceRole: "editor",
        params: IdParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: { summary: "Delete a project, its runs, packages, exports and files", security },
      },
    )
    .get(
      "/projects/:id/runs",
      async ({ params, query, caller }) =>
        ok(await projects.listRuns(db, { userId: caller.user.id, projectId: params.id }, query)),
      {
        spaceRole: "viewer",
        params: IdParams,
        query: RunListQuery,
        response: { 200: Envelope(PageOf(RunSchema)), ...ErrorResponses },
        detail: { summary: "The project's runs, latest first", security },
      },
    )
    .post(
      "/projects/:id/runs",
      async ({ params, body, caller, set, headers }) =>
        idempotent(db, caller.user.id, headers["idempotency-key"], `runs:${params.id}`, body, set, async () => {
          set.status = 202;
          const { run, compute } = await projects.startProjectRun(
            deps,
            { userId: caller.user.id, projectId: params.id },
            { mode: body.mode, fromStage: body.from_stage, toStage: body.to_stage },
          );
          return ok({ ...projects.toRun(run), ...(compute ? { compute } : {}) });
        }),
      {
        spaceRole: "editor",
        params: IdParams,
        body: StartRunBody,
        response: { 202: Envelope(RunSchema), ...ErrorResponses },
        detail: {
          summary: "Run the pipeline",
          description:
            "`auto` runs every stage through export; `step` stops after `to_stage` (continue with another run). `from_stage` redoes from that stage into a new material-package version. An `Idempotency-Key` header makes a retried request return the first answer.",
          security,
        },
      },
    )
    .get(
      "/runs/:id",
      async ({ params, caller }) =>
        ok(projects.toRun(await getRunFor(db, { userId: caller.user.id, runId: params.id }))),
      {
        spaceRole: "viewer",
        params: IdParams,
        response: { 200: Envelope(RunSchema), ...ErrorResponses },
        detail: { summary: "A run with its stages", security },
      },
    )
    .post(
      "/runs/:id/cancel",
      async ({ params, caller }) =>
        ok(projects.toRun(await projects.cancelRunFor(db, { userId: caller.user.id, runId: params.id }))),
      {
        spaceRole: "editor",
        params: IdParams,
        response: { 200: Envelope(RunSchema), ...ErrorResponses },
        detail: { summary: "Cancel a run (running jobs abort)", security },
      },
    )
    .post(
      "/runs/:id/retry",
      async ({ params, caller, set }) => {
        const run = await projects.retryRunFor(deps, { userId: caller.user.id, runId: params.id });
        set.status = 202;
        return ok(projects.toRun(run));
      },
      {
        spaceRole: "editor",
        params: IdParams,
        response: { 202: Envelope(RunSchema), ...ErrorResponses },
        detail: { summary: "Retry a failed run from its failed stage", security },
      },
    )
    .post(
      "/runs/:id/skip",
      async ({ params, body, caller, set }) => {
        const run = await projects.skipStageFor(deps, { userId: caller.user.id, runId: params.id }, body.stage);
        set.status = 202;
        return ok(projects.toRun(run));
      },
      {
        spaceRole: "editor",
        params: IdParams,
        body: SkipBody,
        response: { 202: Envelope(RunSchema), ...ErrorResponses },
        detail: { summary: "Skip one stage of a failed or paused run and carry on", security },
      },
    )
    .post(
      "/projects/:id/exports",
      async ({ params, body, caller, set, headers }) =>
        idempotent(db, caller.user.id, headers["idempotency-key"], `exports:${params.id}`, body, set, async () => {
          const { id, compute } = await exportsSvc.startExport(
            deps,
            { userId: caller.user.id, projectId: params.id },
            body,
          );
          set.status = 202;
          return ok({
            ...(await exportsSvc.exportView(db, storage, { userId: caller.user.id, exportId: id })),
            compute,
          });
        }),
      {
        spaceRole: "editor",
        params: IdParams,
        body: ExportRequest,
        response: { 202: Envelope(ExportSchema), ...ErrorResponses },
        detail: { summary: "Export the active package as a video", security },
      },
    )
    .get(
      "/projects/:id/exports",
      async ({ params, query, caller }) =>
        ok(
          await exportsSvc.listExports(
            db,
            storage,
            { userId: caller.user.id, projectId: params.id },
            query.page ?? 1,
            query.page_size ?? 20,
          ),
        ),
      {
        spaceRole: "viewer",
        params: IdParams,
        query: PageQuery,
        response: { 200: Envelope(PageOf(ExportSchema)), ...ErrorResponses },
        detail: { summary: "Export history of a project", security },
      },
    )
    .post(
      "/exports/:id/cancel",
      async ({ params, caller }) => {
        const ids = { userId: caller.user.id, exportId: params.id };
        await projects.cancelExport(db, ids);
        return ok(await exportsSvc.exportView(db, storage, ids));
      },
      {
        spaceRole: "editor",
        params: IdParams,
        response: { 200: Envelope(ExportSchema), ...ErrorResponses },
        detail: { summary: "Cancel an export (a render in progress aborts)", security },
      },
    )
    .get(
      "/exports/:id",
      async ({ params, caller }) =>
        ok(await exportsSvc.exportView(db, storage, { userId: caller.user.id, exportId: params.id })),
      {
        spaceRole: "viewer",
        params: IdParams,
        response: { 200: Envelope(ExportSchema), ...ErrorResponses },
        detail: { summary: "An export with signed, expiring download links", security },
      },
    )
    .get(
      "/exports/:id/files",
      async ({ params, caller }) =>
        ok(await exportsSvc.exportFiles(db, storage, { userId: caller.user.id, exportId: params.id })),
      {
        spaceRole: "viewer",
        params: IdParams,
        response: { 200: Envelope(t.Array(ExportFileSchema)), ...ErrorResponses },
        detail: { summary: "An export's files, each with a signed link and its download count", security },
      },
    )
    .get(
      "/exports/:id/files/:fileId/download-url",
      async ({ params, caller }) =>
        ok(
          await exportsSvc.fileDownloadUrl(db, storage, {
            userId: caller.user.id,
            exportId: params.id,
            fileId: params.fileId,
          }),
        ),
      {
        spaceRole: "viewer",
        params: ExportFileParams,
        response: { 200: Envelope(DownloadUrlSchema), ...ErrorResponses },
        detail: {
          summary: "A fresh signed download link for one file of an export (counted as a download)",
          security,
        },
      },
    );
}
