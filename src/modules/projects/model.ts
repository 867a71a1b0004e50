import { t } from "elysia";
import { MAX_PAGE } from "../../core/page.ts";
import { ProjectOptions } from "../../core/project-options.ts";
import { STAGES } from "../../core/stages.ts";

const iso = t.String({ format: "date-time" });
const uuid = t.String({ format: "uuid" });
const StageName = t.Union(STAGES.map((s) => t.Literal(s)));

export const CreateProjectBody = t.Object({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  input: t.Object({
    type: t.Union([t.Literal("novel"), t.Literal("script"), t.Literal("storyboard")]),
    text: t.String({ minLength: 50, maxLength: 200_000, description: "The story, 50 to 200,000 characters." }),
  }),
  options: t.Optional(ProjectOptions),
  space_id: t.Optional(uuid),
});

export const UpdateProjectBody = t.Object({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  options: t.Optional(ProjectOptions),
});

export const ProjectSchema = t.Object({
  id: uuid,
  space_id: uuid,
  name: t.String(),
  input_type: t.String(),
  status: t.Union([
    t.Literal("draft"),
    t.Literal("generating"),
    t.Literal("editing"),
    t.Literal("completed"),
    t.Literal("failed"),
  ]),
  stage: t.Nullable(t.String()),
  progress: t.Integer(),
  current_step: t.Nullable(t.String()),
  options: t.Record(t.String(), t.Unknown()),
  active_package_id: t.Nullable(uuid),
  created_at: iso,
  updated_at: iso,
});

export const ProjectListQuery = t.Object({
  page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE })),
  page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
  status: t.Optional(
    t.Union([
      t.Literal("draft"),
      t.Literal("generating"),
      t.Literal("editing"),
      t.Literal("completed"),
      t.Literal("failed"),
    ]),
  ),
  keyword: t.Optional(t.String({ maxLength: 100 })),
  space_id: t.Optional(uuid),
});

export const IdParams = t.Object({ id: uuid });

export const StartRunBody = t.Object({
  mode: t.Union([t.Literal("auto"), t.Literal("step")]),
  from_stage: t.Optional(StageName),
  to_stage: t.Optional(StageName),
});

export const SkipBody = t.Object({ stage: StageName });

export const StageStateSchema = t.Object({
  stage: t.String(),
  status: t.String(),
  progress: t.Integer(),
  error: t.Optional(
    t.Nullable(t.Object({ message: t.String(), shot_id: t.Optional(t.String()) }, { additionalProperties: true })),
  ),
});

export const RunSchema = t.Object({
  id: uuid,
  project_id: uuid,
  package_id: t.Nullable(uuid),
  mode: t.String(),
  status: t.Union([
    t.Literal("queued"),
    t.Literal("running"),
    t.Literal("paused"),
    t.Literal("completed"),
    t.Literal("failed"),
    t.Literal("cancelled"),
  ]),
  progress: t.Integer(),
  current_step: t.Nullable(t.String()),
  stages: t.Array(StageStateSchema),
  error: t.Nullable(t.Unknown()),
  export_id: t.Nullable(uuid),
  created_at: iso,
  finished_at: t.Nullable(iso),
});

export const ExportFileSchema = t.Object({
  id: uuid,
  file_type: t.Union([t.Literal("video"), t.Literal("subtitle"), t.Literal("cover"), t.Literal("audio")]),
  file_name: t.String(),
  mime_type: t.String(),
  file_size: t.Integer(),
  duration_s: t.Optional(t.Nullable(t.Number())),
  download_url: t.String(),
  expires_at: iso,
});

export const ExportSchema = t.Object({
  id: uuid,
  project_id: uuid,
  status: t.String(),
  progress: t.Integer(),
  options: t.Unknown(),
  files: t.Array(ExportFileSchema),
  error: t.Nullable(t.Unknown()),
  segments: t.Optional(t.Nullable(t.Object({ rendered: t.Integer(), reused: t.Integer() }))),
  created_at: iso,
  completed_at: t.Nullable(iso),
});

export const UploadProjectBody = t.Object({
  file: t.File({ description: "A .txt, .md or .docx story, up to 10 MB" }),
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  type: t.Optional(t.Union([t.Literal("novel"), t.Literal("script"), t.Literal("storyboard")])),
  options: t.Optional(t.String({ maxLength: 2000, description: "Project options as a JSON object" })),
  space_id: t.Optional(uuid),
});

export const AssetSchema = t.Object({
  id: uuid,
  project_id: t.Nullable(uuid),
  package_id: t.Nullable(uuid),
  kind: t.String({ examples: ["keyframe"] }),
  mime_type: t.String(),
  size: t.Integer(),
  sha256: t.String(),
  input_digest: t.String(),
  meta: t.Record(t.String(), t.Unknown()),
  download_url: t.String(),
  expires_at: iso,
  created_at: iso,
});
