import { type Static, Type } from "@sinclair/typebox";

/**
 * Direct generation (seed 004, and seed 002's videogen workflow): a prompt or a picture in,
 * pictures or a clip out, outside any project. One `generations` row per request; what it made
 * becomes a work (see `works`).
 */
export const GENERATION_KINDS = [
  "text_to_image",
  "image_to_image",
  "text_to_video",
  "image_to_video",
  "story_video",
] as const;
export type GenerationKind = (typeof GENERATION_KINDS)[number];

export const GENERATION_STATUSES = ["pending", "processing", "completed", "failed", "cancelled"] as const;
export type GenerationStatus = (typeof GENERATION_STATUSES)[number];

export const VIDEO_RESOLUTIONS = ["480p", "720p", "1080p"] as const;
export type VideoResolution = (typeof VIDEO_RESOLUTIONS)[number];

/** A stored picture a generation starts from (an upload, or a picture sent with the request). */
export const SourceImage = Type.Object({
  /** The uploaded asset it came from; absent for a picture sent with the request. */
  asset_id: Type.Optional(Type.String()),
  storage_key: Type.String(),
  mime_type: Type.String(),
});
export type SourceImage = Static<typeof SourceImage>;

/** What was asked, as the job takes it (sizes already worked out from resolution and aspect). */
export const GenerationParams = Type.Object({
  prompt: Type.String(),
  negative_prompt: Type.Optional(Type.String()),
  style: Type.Optional(Type.String()),
  seed: Type.Integer(),
  width: Type.Integer(),
  height: Type.Integer(),
  num_images: Type.Optional(Type.Integer()),
  strength: Type.Optional(Type.Number()),
  duration_s: Type.Optional(Type.Number()),
  fps: Type.Optional(Type.Integer()),
  resolution: Type.Optional(Type.String()),
  image: Type.Optional(SourceImage),
});
export type GenerationParams = Static<typeof GenerationParams>;

/** One stored file a generation made. */
export const MadeFile = Type.Object({
  storage_key: Type.String(),
  thumbnail_key: Type.String(),
  mime_type: Type.String(),
  size: Type.Integer(),
  width: Type.Integer(),
  height: Type.Integer(),
  duration_s: Type.Optional(Type.Number()),
});
export type MadeFile = Static<typeof MadeFile>;

export const GenerationResult = Type.Object({
  images: Type.Optional(Type.Array(MadeFile)),
  video: Type.Optional(MadeFile),
  /** What the provider said about the request (a duration it cannot make, a size it rounded). */
  warnings: Type.Array(Type.String()),
});
export type GenerationResult = Static<typeof GenerationResult>;

export const GenerationError = Type.Object({ code: Type.String(), message: Type.String() });
export type GenerationError = Static<typeof GenerationError>;

export const WORK_TYPES = ["image", "video"] as const;
export type WorkType = (typeof WORK_TYPES)[number];
export const WORK_STATUSES = ["processing", "completed", "failed"] as const;
export type WorkStatus = (typeof WORK_STATUSES)[number];

export const isVideoKind = (k: GenerationKind) =>
  k === "text_to_video" || k === "image_to_video" || k === "story_video";
