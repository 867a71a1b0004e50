import { type Static, Type } from "@sinclair/typebox";

/**
 * A project's generation settings, as the API accepts them and `projects.options` stores them.
 * TypeBox rather than Elysia's `t` (the same schemas) so the pipeline and the database types can
 * use it without depending on the HTTP framework.
 */
export const ProjectOptions = Type.Object(
  {
    style: Type.Optional(Type.String({ maxLength: 50, examples: ["anime"] })),
    aspect_ratio: Type.Optional(
      Type.Union([Type.Literal("16:9"), Type.Literal("9:16"), Type.Literal("4:3"), Type.Literal("1:1")]),
    ),
    language: Type.Optional(Type.Union([Type.Literal("zh"), Type.Literal("en")])),
    voice_speed: Type.Optional(Type.Number({ minimum: 0.5, maximum: 2 })),
    subtitle_enabled: Type.Optional(Type.Boolean()),
    shot_duration_s: Type.Optional(Type.Number({ minimum: 1, maximum: 60 })),
  },
  { additionalProperties: false },
);
export type ProjectOptions = Static<typeof ProjectOptions>;
