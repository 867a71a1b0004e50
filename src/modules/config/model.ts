import { t } from "elysia";
import { PriceSchema, ProviderViewSchema } from "../../schemas/providers.ts";

export { ProviderViewSchema };

const ProviderId = t.String({ minLength: 1, maxLength: 100, examples: ["fal"] });
const ModelName = t.String({ minLength: 1, maxLength: 200, examples: ["fal-ai/flux/dev"] });
const Prices = t.Record(t.String(), PriceSchema, { description: "model → prices", maxProperties: 200 });
const Models = t.Array(ModelName, { minItems: 1, maxItems: 100 });
const Concurrency = t.Integer({ minimum: 1, maximum: 100, description: "calls at once across all workers" });
const RatePerMinute = t.Integer({
  minimum: 1,
  maximum: 100_000,
  description: "calls started per minute across all workers",
});

export const LinkSchema = t.Object({ provider: ProviderId, model: ModelName }, { additionalProperties: false });
const Chain = t.Array(LinkSchema, {
  minItems: 1,
  maxItems: 5,
  description: "first = default, then the fallbacks in order",
});

const CatalogueEntry = t.Object({
  id: t.String(),
  name: t.String(),
  enabled: t.Boolean(),
  configured: t.Boolean({ description: "has a usable key (local needs none)" }),
  models: t.Array(t.String()),
});
export const CatalogueSchema = t.Object({
  text: t.Array(CatalogueEntry),
  image: t.Array(CatalogueEntry),
  video: t.Array(CatalogueEntry),
  speech: t.Array(CatalogueEntry),
  music: t.Array(CatalogueEntry),
});

export const CurrentSchema = t.Object(
  {
    text_provider: t.String(),
    text_model: t.String(),
    image_provider: t.String(),
    image_model: t.String(),
    video_provider: t.String(),
    video_model: t.String(),
    speech_provider: t.String(),
    speech_model: t.String(),
    music_provider: t.String(),
    music_model: t.String(),
    chains: t.Object({
      text: t.Array(LinkSchema),
      image: t.Array(LinkSchema),
      video: t.Array(LinkSchema),
      speech: t.Array(LinkSchema),
      music: t.Array(LinkSchema),
    }),
  },
  { description: "each capability's default provider and model (the head of its chain) and the whole chain" },
);

export const CurrentUpdateBody = t.Object(
  {
    text_provider: t.Optional(ProviderId),
    text_model: t.Optional(ModelName),
    image_provider: t.Optional(ProviderId),
    image_model: t.Optional(ModelName),
    video_provider: t.Optional(ProviderId),
    video_model: t.Optional(ModelName),
    speech_provider: t.Optional(ProviderId),
    speech_model: t.Optional(ModelName),
    music_provider: t.Optional(ProviderId),
    music_model: t.Optional(ModelName),
    assistant_provider: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "alias of text_provider" })),
    assistant_model: t.Optional(t.String({ minLength: 1, maxLength: 200, description: "alias of text_model" })),
    chains: t.Optional(
      t.Object(
        {
          text: t.Optional(Chain),
          image: t.Optional(Chain),
          video: t.Optional(Chain),
          speech: t.Optional(Chain),
          music: t.Optional(Chain),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [
      { image_provider: "fal", image_model: "fal-ai/flux/dev" },
      {
        chains: {
          image: [
            { provider: "fal", model: "fal-ai/flux/dev" },
            { provider: "openai", model: "gpt-image-1" },
            { provider: "local", model: "inkreel-painter-1" },
          ],
        },
      },
    ],
  },
);

export const CustomProviderBody = t.Object(
  {
    type: t.Union([t.Literal("text"), t.Literal("image"), t.Literal("assistant"), t.Literal("video")], {
      description: "assistant = text; custom OpenAI-compatible endpoints serve text and image (video is refused)",
    }),
    name: t.String({ minLength: 1, maxLength: 100 }),
    api_url: t.String({
      minLength: 1,
      maxLength: 2048,
      description:
        "http(s) base URL; private, loopback and link-local hosts are refused unless ALLOW_PRIVATE_PROVIDER_URLS",
    }),
    api_key: t.String({ minLength: 1, maxLength: 4096, description: "stored encrypted, never returned" }),
    models: t.Optional(Models),
    config: t.Optional(
      t.Object(
        {
          models: t.Optional(Models),
          concurrency: t.Optional(Concurrency),
          rate_per_minute: t.Optional(RatePerMinute),
          prices: t.Optional(Prices),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        type: "text",
        name: "DeepSeek",
        api_url: "https://api.deepseek.com/v1",
        api_key: "sk-…",
        models: ["deepseek-chat"],
        config: { concurrency: 4 },
      },
    ],
  },
);

export const ProviderPatchBody = t.Object(
  {
    name: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "custom providers only" })),
    api_url: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 2048 }))),
    base_url: t.Optional(
      t.Nullable(
        t.String({ minLength: 1, maxLength: 2048, description: "built-in providers: null = the environment's" }),
      ),
    ),
    api_key: t.Optional(
      t.Nullable(t.String({ minLength: 1, maxLength: 4096, description: "null clears the stored key" })),
    ),
    models: t.Optional(t.Array(ModelName, { minItems: 1, maxItems: 100, description: "custom providers only" })),
    config: t.Optional(
      t.Object(
        {
          concurrency: t.Optional(t.Nullable(Concurrency)),
          rate_per_minute: t.Optional(t.Nullable(RatePerMinute)),
          prices: t.Optional(t.Nullable(Prices)),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [{ config: { concurrency: 2, prices: { "fal-ai/flux/dev": { per_image: 0.025 } } } }],
  },
);

export const ProviderParams = t.Object({ id: t.String({ minLength: 1, maxLength: 100 }) });

export const ToggleBody = t.Optional(
  t.Object(
    { reason: t.Optional(t.String({ maxLength: 500, description: "kept in the log" })) },
    { additionalProperties: false },
  ),
);
