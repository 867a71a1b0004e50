import { type Static, Type } from "@sinclair/typebox";
import { ASPECT_RATIO_IDS, FPS_VALUES } from "./project-options.ts";
import { literals } from "./schema.ts";

/** The fonts Inkreel ships for subtitles (media/fonts.ts holds their files). */
export const SUBTITLE_FONTS = ["Noto Sans SC", "Noto Sans SC Bold"] as const;
export type SubtitleFont = (typeof SUBTITLE_FONTS)[number];

/**
 * What an export produces: a finished video (`MP4`, `MOV`), or a project an editor opens with the
 * media inside (`capcut_draft`: a CapCut / JianYing draft folder; `mlt`: a Shotcut / Kdenlive
 * project), each as one ZIP.
 */
export const EXPORT_FORMATS = ["MP4", "MOV", "capcut_draft", "mlt"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const COVER_TYPES = ["auto", "from_clip", "custom", "title"] as const;
export type CoverType = (typeof COVER_TYPES)[number];

const Hex = Type.String({ pattern: "^#[0-9a-fA-F]{6}$", examples: ["#FFFFFF"] });
const FrameSide = Type.Integer({ minimum: 128, maximum: 7680, multipleOf: 2 });

/** What a client may ask of an export; every setting left out takes its default (see exportDefaults). */
export const ExportRequest = Type.Object(
  {
    task_name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: "A name for this export" })),
    resolution: Type.Optional(literals(["720p", "1080p", "4K"] as const)),
    format: Type.Optional(literals(EXPORT_FORMATS)),
    fps: Type.Optional(literals(FPS_VALUES)),
    width: Type.Optional(
      Type.Integer({
        ...FrameSide,
        description: "With `height`, the exact frame size in pixels (even, 128-7680); wins over resolution",
      }),
    ),
    height: Type.Optional(FrameSide),
    aspect_ratio: Type.Optional(
      literals(ASPECT_RATIO_IDS, { description: "The frame's shape, instead of the project's" }),
    ),
    audio: Type.Optional(Type.Boolean({ description: "Also deliver the soundtrack as an M4A file" })),
    subtitle: Type.Optional(
      Type.Object({
        enabled: Type.Boolean(),
        burn_in: Type.Optional(Type.Boolean()),
        format: Type.Optional(literals(["SRT", "VTT", "ASS"] as const)),
        font_name: Type.Optional(literals(SUBTITLE_FONTS)),
        font_size: Type.Optional(Type.Integer({ minimum: 8, maximum: 400 })),
        font_color: Type.Optional(Hex),
        position: Type.Optional(literals(["bottom", "middle", "top"] as const)),
        background_color: Type.Optional(Hex),
        background_opacity: Type.Optional(
          Type.Number({ minimum: 0, maximum: 1, description: "0 draws no box behind the text" }),
        ),
      }),
    ),
    cover: Type.Optional(
      Type.Object({
        enabled: Type.Boolean(),
        cover_type: Type.Optional(
          literals(COVER_TYPES, {
            description:
              "auto: the first shot with the title; from_clip: the shot `source_clip_id`; custom: the image asset `custom_image_asset_id`; title: the title on a plain card",
          }),
        ),
        source_clip_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
        custom_image_asset_id: Type.Optional(Type.String({ format: "uuid" })),
        title_text: Type.Optional(Type.String({ maxLength: 100 })),
      }),
    ),
  },
  { additionalProperties: false },
);
export type ExportRequest = Static<typeof ExportRequest>;

/** An export's settings with every default filled in, as `exports.options` stores them. */
export const ExportSettings = Type.Object({
  task_name: Type.Optional(Type.String()),
  resolution: literals(["720p", "1080p", "4K"] as const),
  format: literals(EXPORT_FORMATS),
  fps: literals(FPS_VALUES),
  width: Type.Optional(Type.Integer()),
  height: Type.Optional(Type.Integer()),
  aspect_ratio: Type.Optional(literals(ASPECT_RATIO_IDS)),
  audio: Type.Optional(Type.Boolean()),
  subtitle: Type.Object({
    enabled: Type.Boolean(),
    burn_in: Type.Boolean(),
    format: literals(["SRT", "VTT", "ASS"] as const),
    font_name: Type.Optional(literals(SUBTITLE_FONTS)),
    font_size: Type.Optional(Type.Integer()),
    font_color: Type.Optional(Type.String()),
    position: Type.Optional(literals(["bottom", "middle", "top"] as const)),
    background_color: Type.Optional(Type.String()),
    background_opacity: Type.Optional(Type.Number()),
  }),
  cover: Type.Object({
    enabled: Type.Boolean(),
    cover_type: Type.Optional(literals(COVER_TYPES)),
    source_clip_id: Type.Optional(Type.String()),
    custom_image_asset_id: Type.Optional(Type.String()),
    title_text: Type.Optional(Type.String()),
  }),
});
export type ExportOptions = Static<typeof ExportSettings>;

/** A finished video, or a project for an editor (a ZIP). */
export const isEditorFormat = (format: ExportFormat): format is "capcut_draft" | "mlt" =>
  format === "capcut_draft" || format === "mlt";

export type ExportFileType = "video" | "subtitle" | "cover" | "audio" | "project";

/** One file an export made (`exports.files`). */
export interface ExportFile {
  asset_id: string;
  file_type: ExportFileType;
  file_name: string;
  mime_type: string;
  file_size: number;
  duration_s: number | null;
}

/** Where an export's files are stored: `exportPrefix(ex)/<file_name>`. */
export const exportPrefix = (ex: { project_id: string; id: string }) => `projects/${ex.project_id}/exports/${ex.id}`;

/** How a finished export's composition went (`exports.stats`). */
export interface ExportStats {
  segments: { rendered: number; reused: number };
  duration_s: number;
  warnings: string[];
  /** An episode's export: what its "previously" and "next episode" cards say (null: no card). */
  cards?: { recap: string | null; next: string | null };
}

/** Why an export failed (`exports.error`), with the shot at fault when there is one. */
export interface ExportFailure {
  message: string;
  shot_id: string | null;
}
