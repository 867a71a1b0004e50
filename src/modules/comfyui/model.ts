import { t } from "elysia";

const Kind = t.Union([t.Literal("text_to_image"), t.Literal("image_to_image"), t.Literal("image_to_video")], {
  description: "text_to_image and image_to_image serve images, image_to_video serves clips",
});

export const WorkflowParams = t.Object({
  name: t.String({
    pattern: "^[a-z0-9][a-z0-9_-]{0,62}$",
    minLength: 1,
    maxLength: 63,
    description: "lower-case letters, digits, _ and -; the model name chains use",
    examples: ["txt2img"],
  }),
});

/** ComfyUI's API format: node id → {class_type, inputs, _meta?}; checked node by node when saved. */
const Graph = t.Record(t.String(), t.Unknown(), {
  description:
    'ComfyUI\'s API format (Save (API) in ComfyUI): {"<node id>": {"class_type": "...", "inputs": {...}}}, with placeholders {{prompt}}, {{negative_prompt}}, {{seed}}, {{width}}, {{height}}, {{image}}, {{frames}}, {{fps}}',
});

export const WorkflowBody = t.Object(
  {
    kind: Kind,
    graph: Graph,
    description: t.Optional(t.String({ maxLength: 500 })),
  },
  {
    additionalProperties: false,
    examples: [
      {
        kind: "text_to_image",
        description: "SD 1.5, 20 steps",
        graph: {
          "3": {
            class_type: "KSampler",
            inputs: {
              seed: "{{seed}}",
              steps: 20,
              cfg: 7,
              sampler_name: "euler",
              scheduler: "normal",
              denoise: 1,
              model: ["4", 0],
              positive: ["6", 0],
              negative: ["7", 0],
              latent_image: ["5", 0],
            },
          },
          "4": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "v1-5-pruned-emaonly.safetensors" } },
          "5": { class_type: "EmptyLatentImage", inputs: { width: "{{width}}", height: "{{height}}", batch_size: 1 } },
          "6": { class_type: "CLIPTextEncode", inputs: { text: "{{prompt}}", clip: ["4", 1] } },
          "7": { class_type: "CLIPTextEncode", inputs: { text: "{{negative_prompt}}", clip: ["4", 1] } },
          "8": { class_type: "VAEDecode", inputs: { samples: ["3", 0], vae: ["4", 2] } },
          "9": { class_type: "SaveImage", inputs: { filename_prefix: "inkreel", images: ["8", 0] } },
        },
      },
    ],
  },
);

export const WorkflowSchema = t.Object({
  name: t.String(),
  kind: Kind,
  capability: t.Union([t.Literal("image"), t.Literal("video")]),
  source: t.Union([t.Literal("shipped"), t.Literal("uploaded")], {
    description: "shipped in the repository, or uploaded (an upload replaces a shipped one of its name)",
  }),
  description: t.Nullable(t.String()),
  placeholders: t.Array(t.String()),
  nodes: t.Integer(),
  updated_at: t.Nullable(t.String({ format: "date-time" })),
  graph: t.Optional(Graph),
});

export const ComfyProviderBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100 }),
    api_url: t.String({
      minLength: 1,
      maxLength: 2048,
      description:
        "the ComfyUI server's http(s) base URL; private, loopback and link-local hosts are refused unless ALLOW_PRIVATE_PROVIDER_URLS",
    }),
    api_key: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 4096,
        description: "a bearer token for a server behind an authenticating proxy; stored encrypted, never returned",
      }),
    ),
    config: t.Optional(
      t.Object(
        {
          concurrency: t.Optional(
            t.Integer({ minimum: 1, maximum: 100, description: "prompts at once across all workers" }),
          ),
          rate_per_minute: t.Optional(t.Integer({ minimum: 1, maximum: 100_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ name: "Studio GPU", api_url: "https://comfy.example.com", config: { concurrency: 2 } }],
  },
);
