import { type Static, Type } from "@sinclair/typebox";
import { literals } from "./schema.ts";

/**
 * A project's generation settings, as the API accepts them and `projects.options` stores them.
 * TypeBox rather than Elysia's `t` (the same schemas) so the pipeline and the database types can
 * use it without depending on the HTTP framework.
 */
/** The art styles a project can ask for; each is a preset of the art-style stage. */
export const STYLE_IDS = ["anime", "manga", "ink", "realistic", "comic"] as const;
export type StyleId = (typeof STYLE_IDS)[number];
export const ASPECT_RATIO_IDS = ["16:9", "9:16", "4:3", "3:4", "1:1", "2.35:1"] as const;
export type AspectRatioId = (typeof ASPECT_RATIO_IDS)[number];
/** The frame rates a timeline and its exports can have. */
export const FPS_VALUES = [24, 25, 30, 50, 60] as const;
export type Fps = (typeof FPS_VALUES)[number];

export const ProjectOptions = Type.Object(
  {
    style: Type.Optional(
      Type.Union(
        [
          Type.Literal("anime"),
          Type.Literal("manga"),
          Type.Literal("ink"),
          Type.Literal("realistic"),
          Type.Literal("comic"),
        ],
        { description: "An art style preset; without one the story's genre chooses (ink for wuxia, else anime)." },
      ),
    ),
    aspect_ratio: Type.Optional(
      Type.Union([
        Type.Literal("16:9"),
        Type.Literal("9:16"),
        Type.Literal("4:3"),
        Type.Literal("3:4"),
        Type.Literal("1:1"),
        Type.Literal("2.35:1"),
      ]),
    ),
    language: Type.Optional(Type.Union([Type.Literal("zh"), Type.Literal("en")])),
    voice_speed: Type.Optional(Type.Number({ minimum: 0.5, maximum: 2 })),
    subtitle_enabled: Type.Optional(Type.Boolean()),
    fps: Type.Optional(
      literals(FPS_VALUES, { description: "The timeline's frame rate: exports use it unless they ask for another" }),
    ),
    shot_duration_s: Type.Optional(
      Type.Number({ minimum: 1, maximum: 60, description: "The shortest a shot may be, in seconds." }),
    ),
    duration_per_scene: Type.Optional(
      Type.Number({
        minimum: 2,
        maximum: 120,
        description: "Seconds each scene lasts: its shots are stretched or shrunk in proportion to fill it.",
      }),
    ),
    duration_seconds: Type.Optional(
      Type.Number({
        minimum: 10,
        maximum: 3600,
        description:
          "The length of the whole video, in seconds: every shot is scaled in proportion. Wins over duration_per_scene.",
      }),
    ),
    subject_ids: Type.Optional(
      Type.Array(Type.String({ format: "uuid" }), {
        maxItems: 20,
        uniqueItems: true,
        description:
          "Library characters cast into the story: each plays the story's character of its name (or alias), keeping its appearance, reference pictures and voice.",
      }),
    ),
    subject_map: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 60 }), Type.String({ format: "uuid" }), {
        maxProperties: 20,
        description: "Story character name → library character that plays it, whatever the names.",
      }),
    ),
    style_id: Type.Optional(
      Type.String({ format: "uuid", description: "A library style: its prompt, palette and preview picture" }),
    ),
    voice_ids: Type.Optional(
      Type.Object(
        {
          narrator: Type.Optional(Type.String({ format: "uuid", description: "A library voice for the narrator" })),
          characters: Type.Optional(
            Type.Record(Type.String({ minLength: 1, maxLength: 60 }), Type.String({ format: "uuid" }), {
              maxProperties: 20,
              description: "Story character name → the library voice it speaks with",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ProjectOptions = Static<typeof ProjectOptions>;
