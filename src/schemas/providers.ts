import { t } from "elysia";

// How a provider is shown to ADMINs (GET /api/v1/admin/providers and the routes that create or
// change one), shared by the modules that answer with it.

const iso = t.String({ format: "date-time" });

const Capability = t.Union([
  t.Literal("text"),
  t.Literal("image"),
  t.Literal("video"),
  t.Literal("speech"),
  t.Literal("music"),
]);
const Kind = t.Union([
  t.Literal("local"),
  t.Literal("openai"),
  t.Literal("fal"),
  t.Literal("elevenlabs"),
  t.Literal("openai_compatible"),
  t.Literal("comfyui"),
]);

const Usd = t.Number({ minimum: 0, maximum: 1_000_000 });
export const PriceSchema = t.Object(
  {
    per_image: t.Optional(Usd),
    per_video_second: t.Optional(Usd),
    per_audio_second: t.Optional(Usd),
    input_per_mtok: t.Optional(Usd),
    output_per_mtok: t.Optional(Usd),
  },
  { additionalProperties: false, description: "US dollars" },
);
export const ProviderViewSchema = t.Object(
  {
    id: t.String(),
    name: t.String(),
    kind: Kind,
    builtin: t.Boolean(),
    enabled: t.Boolean(),
    base_url: t.Nullable(t.String()),
    has_key: t.Boolean({ description: "a stored or environment key is available; keys are never returned" }),
    capabilities: t.Array(Capability),
    models: t.Record(t.String(), t.Array(t.String())),
    config: t.Object({
      concurrency: t.Nullable(t.Integer()),
      rate_per_minute: t.Nullable(t.Integer()),
      prices: t.Record(t.String(), PriceSchema),
    }),
    created_at: iso,
    updated_at: iso,
  },
  {
    examples: [
      {
        id: "custom-deepseek",
        name: "DeepSeek",
        kind: "openai_compatible",
        builtin: false,
        enabled: true,
        base_url: "https://api.deepseek.com/v1",
        has_key: true,
        capabilities: ["text"],
        models: { text: ["deepseek-chat"] },
        config: {
          concurrency: 4,
          rate_per_minute: 60,
          prices: { "deepseek-chat": { input_per_mtok: 0.27, output_per_mtok: 1.1 } },
        },
        created_at: "2026-11-21T08:00:00.000Z",
        updated_at: "2026-11-21T08:00:00.000Z",
      },
    ],
  },
);
