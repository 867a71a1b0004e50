import { type Static, Type } from "@sinclair/typebox";

/** What a client may ask of an export; every setting left out takes its default (see exportDefaults). */
export const ExportRequest = Type.Object({
  resolution: Type.Optional(Type.Union([Type.Literal("720p"), Type.Literal("1080p"), Type.Literal("4K")])),
  format: Type.Optional(Type.Union([Type.Literal("MP4"), Type.Literal("MOV")])),
  fps: Type.Optional(
    Type.Union([Type.Literal(24), Type.Literal(25), Type.Literal(30), Type.Literal(50), Type.Literal(60)]),
  ),
  subtitle: Type.Optional(
    Type.Object({
      enabled: Type.Boolean(),
      burn_in: Type.Optional(Type.Boolean()),
      format: Type.Optional(Type.Union([Type.Literal("SRT"), Type.Literal("VTT"), Type.Literal("ASS")])),
      font_size: Type.Optional(Type.Integer({ minimum: 8, maximum: 400 })),
      font_color: Type.Optional(Type.String({ pattern: "^#[0-9a-fA-F]{6}$" })),
      position: Type.Optional(Type.Union([Type.Literal("bottom"), Type.Literal("middle"), Type.Literal("top")])),
    }),
  ),
  cover: Type.Optional(
    Type.Object({ enabled: Type.Boolean(), title_text: Type.Optional(Type.String({ maxLength: 100 })) }),
  ),
});
export type ExportRequest = Static<typeof ExportRequest>;

/** An export's settings with every default filled in, as `exports.options` stores them. */
export interface ExportOptions {
  resolution: "720p" | "1080p" | "4K";
  format: "MP4" | "MOV";
  fps: 24 | 25 | 30 | 50 | 60;
  subtitle: {
    enabled: boolean;
    burn_in: boolean;
    format: "SRT" | "VTT" | "ASS";
    font_size?: number;
    font_color?: string;
    position?: "bottom" | "middle" | "top";
  };
  cover: { enabled: boolean; title_text?: string };
}

/** One file an export made (`exports.files`). */
export interface ExportFile {
  asset_id: string;
  file_type: "video" | "subtitle" | "cover";
  file_name: string;
  mime_type: string;
  file_size: number;
  duration_s: number | null;
}

/** How a finished export's composition went (`exports.stats`). */
export interface ExportStats {
  segments: { rendered: number; reused: number };
  duration_s: number;
  warnings: string[];
}

/** Why an export failed (`exports.error`), with the shot at fault when there is one. */
export interface ExportFailure {
  message: string;
  shot_id: string | null;
}
