import { type Static, Type } from "@sinclair/typebox";

/**
 * What a generation task makes, outside a run: a clip's keyframe or video, a batch of clip videos
 * (a parent task with one `clip_video` child per clip), a character's reference sheet, a scene's
 * picture, a clip's spoken lines, or background-music candidates.
 */
export const TASK_KINDS = [
  "keyframe",
  "clip_video",
  "video_batch",
  "character_image",
  "scene_image",
  "voice",
  "bgm",
] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export const TASK_STATUSES = ["pending", "processing", "completed", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINISHED_TASK: readonly TaskStatus[] = ["completed", "failed", "cancelled"];

/** What a task works on: a clip (shot id), a character (name), a scene (id), or the whole package (music, batches). */
export const TaskTarget = Type.Object({
  type: Type.Union([
    Type.Literal("clip"),
    Type.Literal("character"),
    Type.Literal("scene"),
    Type.Literal("line"),
    Type.Literal("package"),
  ]),
  id: Type.String({ description: "Shot id, character name, scene id, or the package id" }),
  clip_id: Type.Optional(Type.String({ description: "For a line: the clip it belongs to" })),
  shot_number: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type TaskTarget = Static<typeof TaskTarget>;

/** How the creator asked for it (kept so the task says what was asked). */
export const TaskParams = Type.Object({
  seed: Type.Optional(Type.Integer()),
  prompt: Type.Optional(Type.String()),
  user_prompt: Type.Optional(Type.String()),
  model_id: Type.Optional(Type.String()),
  reference_asset_ids: Type.Optional(Type.Array(Type.String())),
  mood: Type.Optional(Type.String()),
});
export type TaskParams = Static<typeof TaskParams>;

/** What a finished task made: the new candidates (stored assets), selected where the task selects. */
export const TaskResult = Type.Object({
  assets: Type.Array(
    Type.Object({
      asset_id: Type.String(),
      mime_type: Type.String(),
      storage_key: Type.String(),
    }),
  ),
});
export type TaskResult = Static<typeof TaskResult>;

export const TaskError = Type.Object({ code: Type.String(), message: Type.String() });
export type TaskError = Static<typeof TaskError>;
