import { t } from "elysia";
import { ExportSettings } from "../../core/export-record.ts";
import { MAX_PAGE } from "../../core/page.ts";
import { ProjectOptions } from "../../core/project-options.ts";
import { literals } from "../../core/schema.ts";
import { STAGES } from "../../core/stages.ts";
import { ReservedSchema } from "../../schemas/compute.ts";

const iso = t.String({ format: "date-time" });
const uuid = t.String({ format: "uuid" });
const StageName = t.Union(STAGES.map((s) => t.Literal(s)));

const InputType = t.Union([t.Literal("novel"), t.Literal("script"), t.Literal("storyboard")]);
const StoryText = t.String({ minLength: 50, maxLength: 200_000, description: "The story, 50 to 200,000 characters." });
const Description = t.String({ maxLength: 2000 });
const Tags = t.Array(t.String({ minLength: 1, maxLength: 40 }), { maxItems: 20 });

export const CreateProjectBody = t.Object({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  description: t.Optional(Description),
  tags: t.Optional(Tags),
  input: t.Optional(
    t.Object(
      { type: InputType, text: StoryText },
      { description: "The story; without it the project is created empty (POST /projects/:id/input gives it one)." },
    ),
  ),
  options: t.Optional(ProjectOptions),
  space_id: t.Optional(uuid),
  template_id: t.Optional(
    t.String({ format: "uuid", description: "A config template of the space: its options, under `options`" }),
  ),
  run: t.Optional(
    t.Object(
      { mode: t.Union([t.Literal("auto"), t.Literal("step")]), to_stage: t.Optional(StageName) },
      { description: "Start the pipeline at once, in the same transaction: 202 with the project and its run." },
    ),
  ),
});

export const UpdateProjectBody = t.Object({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  description: t.Optional(Description),
  tags: t.Optional(Tags),
  options: t.Optional(ProjectOptions),
});

export const SetInputBody = t.Object({
  type: t.Optional(InputType),
  text: StoryText,
  new_version: t.Optional(
    t.Boolean({
      description: "After a run has started: keep the old material and start a new, empty package version.",
    }),
  ),
});

export const UploadInputBody = t.Object({
  file: t.File({ description: "A .txt, .md or .docx story, up to 10 MB" }),
  type: t.Optional(InputType),
  new_version: t.Optional(t.Union([t.Literal("true"), t.Literal("false")])),
});

const ProjectStatus = t.Union(
  [
    t.Literal("draft"),
    t.Literal("generating"),
    t.Literal("editing"),
    t.Literal("completed"),
    t.Literal("exported"),
    t.Literal("failed"),
  ],
  { description: "exported: completed, with at least one finished export." },
);

export const ProjectSchema = t.Object({
  id: uuid,
  space_id: uuid,
  owner_id: t.Nullable(uuid),
  name: t.String(),
  description: t.String(),
  tags: t.Array(t.String()),
  input_type: InputType,
  has_input: t.Boolean({ description: "False for a project created empty, until it gets its story." }),
  status: ProjectStatus,
  stage: t.Nullable(t.String()),
  progress: t.Integer(),
  current_step: t.Nullable(t.String()),
  options: ProjectOptions,
  active_package_id: t.Nullable(uuid),
  thumbnail_url: t.Nullable(
    t.String({ description: "Signed, expiring: the latest export's cover, else the first chosen keyframe." }),
  ),
  clip_count: t.Integer({ description: "Shots in the active material package." }),
  duration_s: t.Number({ description: "Their total length." }),
  export_count: t.Integer({ description: "Finished exports." }),
  started_at: t.Nullable(iso),
  completed_at: t.Nullable(iso),
  created_at: iso,
  updated_at: iso,
});

export const ProjectListQuery = t.Object({
  page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE })),
  page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
  status: t.Optional(ProjectStatus),
  keyword: t.Optional(t.String({ maxLength: 100 })),
  space_id: t.Optional(uuid),
  user_id: t.Optional(t.String({ format: "uuid", description: "ADMIN only: that user's projects in every space." })),
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

const RUN_STATUSES = ["queued", "running", "paused", "completed", "failed", "cancelled"] as const;

export const RunSchema = t.Object({
  id: uuid,
  project_id: uuid,
  package_id: t.Nullable(uuid),
  mode: t.String(),
  status: literals(RUN_STATUSES),
  progress: t.Integer(),
  current_step: t.Nullable(t.String()),
  stages: t.Array(StageStateSchema),
  error: t.Nullable(
    t.Object(
      {
        message: t.String(),
        stage: t.Optional(t.String()),
        shot_id: t.Optional(t.String()),
        code: t.Optional(t.String()),
      },
      {
        additionalProperties: true,
        description: "Why the run failed: its stage, and the provider's code when one refused",
      },
    ),
  ),
  export_id: t.Nullable(uuid),
  created_at: iso,
  finished_at: t.Nullable(iso),
  compute: t.Optional(ReservedSchema),
});

export const RunListQuery = t.Object({
  page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE })),
  page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
  status: t.Optional(literals(RUN_STATUSES)),
});

export const ExportFileSchema = t.Object({
  id: uuid,
  file_type: t.Union([
    t.Literal("video"),
    t.Literal("subtitle"),
    t.Literal("cover"),
    t.Literal("audio"),
    t.Literal("project"),
  ]),
  file_name: t.String(),
  mime_type: t.String(),
  file_size: t.Integer(),
  duration_s: t.Optional(t.Nullable(t.Number())),
  download_count: t.Integer({ description: "How many download links were handed out for this file" }),
  download_url: t.String(),
  expires_at: iso,
});

export const ExportSchema = t.Object({
  id: uuid,
  project_id: uuid,
  task_name: t.Nullable(t.String()),
  status: t.UnionEnum(["queued", "running", "completed", "failed", "cancelled"]),
  progress: t.Integer(),
  options: ExportSettings,
  files: t.Array(ExportFileSchema),
  error: t.Nullable(t.Object({ message: t.String(), shot_id: t.Nullable(t.String()) })),
  segments: t.Optional(t.Nullable(t.Object({ rendered: t.Integer(), reused: t.Integer() }))),
  created_at: iso,
  completed_at: t.Nullable(iso),
  compute: t.Optional(ReservedSchema),
});

export const ExportFileParams = t.Object({ id: uuid, fileId: uuid });

export const DownloadUrlSchema = t.Object({
  id: uuid,
  file_name: t.String(),
  download_url: t.String({ description: "Signed, works without the bearer token, expires" }),
  expires_at: iso,
  download_count: t.Integer(),
});

export const UploadProjectBody = t.Object({
  file: t.File({ description: "A .txt, .md or .docx story, up to 10 MB" }),
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  type: t.Optional(t.Union([t.Literal("novel"), t.Literal("script"), t.Literal("storyboard")])),
  options: t.Optional(t.String({ maxLength: 2000, description: "Project options as a JSON object" })),
  space_id: t.Optional(uuid),
});

const SignedUrl = t.String({ description: "Signed, expiring link" });

export const ProjectResultSchema = t.Object({
  project_id: uuid,
  export_id: uuid,
  video_url: SignedUrl,
  thumbnail_url: t.Nullable(SignedUrl),
  duration_s: t.Number(),
  expires_at: iso,
  scenes: t.Array(
    t.Object({
      id: t.String(),
      location: t.String(),
      image_url: t.Nullable(SignedUrl),
      audio: t.Array(t.Object({ line_id: t.String(), url: SignedUrl })),
    }),
  ),
  characters: t.Array(t.Object({ name: t.String(), image_url: t.Nullable(SignedUrl) })),
});
