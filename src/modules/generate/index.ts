import { Elysia, t } from "elysia";
import { validation } from "../../core/errors.ts";
import {
  GENERATION_KINDS,
  GENERATION_STATUSES,
  type GenerationKind,
  type SourceImage,
  VIDEO_RESOLUTIONS,
  type VideoResolution,
} from "../../core/generation.ts";
import { MAX_PAGE } from "../../core/page.ts";
import { literals, NO_CONTROLS } from "../../core/schema.ts";
import type { Deps } from "../../deps.ts";
import { type Caller as AuthCaller, authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf } from "../../http/envelope.ts";
import { idempotent } from "../../http/idempotency.ts";
import { ReservedSchema } from "../../schemas/compute.ts";
import { availableModels } from "../../services/generation-models.ts";
import * as gen from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const iso = t.String({ format: "date-time" });

const Prompt = t.String({ minLength: 1, maxLength: 4000, pattern: NO_CONTROLS, description: "What to make" });
const Short = (description: string) => t.String({ maxLength: 500, pattern: NO_CONTROLS, description });
const Model = t.String({
  minLength: 1,
  maxLength: 200,
  description:
    "An alias (sora, veo, kling, hailuo, dall-e-3, gpt-image-1, flux, stable-diffusion-xl, local / use_mock) or a provider/model id; GET /generate/models lists what is configured. Default: the capability's chain",
});
/** Numbers arrive as text in a multipart form: numeric strings are read as numbers. */
const Int = (min: number, max: number, description: string) =>
  t.Numeric({ minimum: min, maximum: max, multipleOf: 1, description });
const Side = (what: string) => t.Optional(Int(64, 2048, `${what} in pixels, 64 to 2048`));
const Seed = t.Optional(Int(0, 2 ** 31 - 1, "Same seed, same request: the same result (local models)"));
const Resolution = t.Optional(literals(VIDEO_RESOLUTIONS, { description: "The short side (default 720p)" }));
const Aspect = t.Optional(
  literals(["16:9", "9:16", "1:1"] as const, { description: "Text-to-video only (default 16:9)" }),
);
const Duration = t.Optional(t.Numeric({ minimum: 1, maximum: 20, description: "Seconds (default 5)" }));
const Fps = t.Optional(Int(8, 60, "Frames a second (default 24)"));
const Image = t.Optional(
  t.File({ maxSize: "10m", description: "The picture (PNG, JPEG or WebP; multipart/form-data only)" }),
);
const ImageAsset = t.Optional(t.String({ format: "uuid", description: "An uploaded picture (POST /uploads) instead" }));

/** What every picture request may say besides its size. */
const PictureFields = {
  prompt: Prompt,
  negative_prompt: t.Optional(Short("What the picture should not show")),
  num_images: t.Optional(Int(1, 4, "How many pictures, 1 to 4 (default 1)")),
  style: t.Optional(Short("A style, in words")),
  seed: Seed,
  model: t.Optional(Model),
};

const TextToImage = t.Object({
  ...PictureFields,
  width: Side("Width (default 1024)"),
  height: Side("Height (default 1024)"),
});

const ImageToImage = t.Object({
  ...PictureFields,
  image: Image,
  image_asset_id: ImageAsset,
  strength: t.Optional(
    t.Numeric({ minimum: 0, maximum: 1, description: "How far from the picture, 0 to 1 (default 0.8)" }),
  ),
  width: Side("Width (default: the picture's, at most 2048)"),
  height: Side("Height (default: the picture's, at most 2048)"),
});

const TextToVideo = t.Object({
  prompt: Prompt,
  model: t.Optional(Model),
  duration: Duration,
  resolution: Resolution,
  aspect_ratio: Aspect,
  fps: Fps,
  style: t.Optional(Short("A style, in words")),
  seed: Seed,
});

const ImageToVideo = t.Object({
  prompt: Prompt,
  image: Image,
  image_asset_id: ImageAsset,
  model: t.Optional(Model),
  duration: Duration,
  resolution: Resolution,
  fps: Fps,
  style: t.Optional(Short("A style, in words")),
  seed: Seed,
});

const StoryVideo = t.Object({
  prompt: t.String({
    minLength: 1,
    maxLength: 4000,
    pattern: NO_CONTROLS,
    description: "The story: its opening is narrated, and painted when no picture is given",
  }),
  image: Image,
  image_asset_id: ImageAsset,
  model: t.Optional(Model),
  duration: Duration,
  resolution: Resolution,
  aspect_ratio: Aspect,
  seed: Seed,
});

const Accepted = t.Object({
  task_id: uuid,
  status: literals(GENERATION_STATUSES),
  estimated_time_s: t.Integer({ description: "A rough estimate: local models run here, cloud ones queue remotely" }),
  work_ids: t.Array(uuid, { description: "The works this makes (GET /works/:id), processing until it ends" }),
  compute: ReservedSchema,
});

const MadeFile = {
  url: t.String({ description: "Signed, expiring link" }),
  thumbnail_url: t.String({ description: "A 320-pixel-wide JPEG" }),
  expires_at: iso,
  mime_type: t.String(),
  width: t.Integer(),
  height: t.Integer(),
  file_size: t.Integer(),
};

const Task = t.Object({
  task_id: uuid,
  kind: literals(GENERATION_KINDS),
  status: literals(GENERATION_STATUSES),
  progress: t.Integer({ minimum: 0, maximum: 100 }),
  model: t.Nullable(t.String({ description: "What was asked for (null: the default)" })),
  provider: t.String(),
  provider_model: t.String(),
  estimated_time_s: t.Integer(),
  params: t.Object({
    prompt: t.String(),
    negative_prompt: t.Optional(t.String()),
    style: t.Optional(t.String()),
    seed: t.Integer(),
    width: t.Integer(),
    height: t.Integer(),
    num_images: t.Optional(t.Integer()),
    strength: t.Optional(t.Number()),
    duration_s: t.Optional(t.Number()),
    fps: t.Optional(t.Integer()),
    resolution: t.Optional(t.String()),
    image_asset_id: t.Optional(t.String()),
  }),
  result: t.Nullable(
    t.Object({
      images: t.Array(t.Object(MadeFile)),
      video: t.Nullable(
        t.Object({ ...MadeFile, duration_s: t.Number(), resolution: t.String({ description: "WIDTHxHEIGHT" }) }),
      ),
      warnings: t.Array(t.String()),
    }),
  ),
  error: t.Nullable(t.Object({ code: t.String(), message: t.String() })),
  work_ids: t.Array(uuid),
  created_at: iso,
  started_at: t.Nullable(iso),
  finished_at: t.Nullable(iso),
});

const IdempotencyHeaders = t.Object({
  "idempotency-key": t.Optional(t.String({ description: "A retried request with the same key gets the first answer" })),
});

type Source = { image?: File | undefined; image_asset_id?: string | undefined };

/** One picture to start from: a file in the form or an uploaded asset, not both, not neither. */
function oneSource(b: Source): "file" | "asset" {
  if (b.image && b.image_asset_id)
    throw validation([{ path: "/image", message: "send an image or an image_asset_id, not both" }]);
  if (b.image) return "file";
  if (b.image_asset_id) return "asset";
  throw validation([{ path: "/image", message: "an image (multipart) or an image_asset_id is required" }]);
}

/** The picture as the generation keeps it (its size was only needed to pick the frame). */
const sourceOf = ({ width: _w, height: _h, ...image }: SourceImage & { width?: number; height?: number }) => image;

/** The prompt's companions, when given. */
const texts = (b: { prompt: string; negative_prompt?: string | undefined; style?: string | undefined }) => ({
  prompt: b.prompt,
  ...(b.negative_prompt ? { negative_prompt: b.negative_prompt } : {}),
  ...(b.style ? { style: b.style } : {}),
});

/** A clip's parameters: its frame from resolution and aspect, its length and rate (defaults 720p, 5 s, 24 fps). */
function clipParams(
  b: {
    prompt: string;
    style?: string | undefined;
    seed?: number | undefined;
    duration?: number | undefined;
    resolution?: VideoResolution | undefined;
    fps?: number | undefined;
  },
  aspect: gen.Aspect,
) {
  const resolution = b.resolution ?? "720p";
  return {
    ...texts(b),
    seed: b.seed,
    ...gen.frameOf(resolution, aspect),
    duration_s: b.duration ?? 5,
    fps: b.fps ?? 24,
    resolution,
  };
}

const clampSide = (n: number | undefined) => (n ? Math.max(64, Math.min(2048, Math.round(n / 8) * 8)) : undefined);

/** Direct generation (seed 004, seed 002's videogen): prompts and pictures in, pictures and clips out, as tasks. */
export function generateModule(deps: Deps) {
  const { db, storage, config } = deps;

  async function source(userId: string, b: Source) {
    return oneSource(b) === "file"
      ? gen.sourceFromFile(storage, { userId, bytes: new Uint8Array(await b.image!.arrayBuffer()) })
      : gen.sourceFromAsset(db, { userId, assetId: b.image_asset_id! });
  }

  const submitDoc = (summary: string, description: string) => ({
    summary,
    description: `${description} Answers 202 with the task to follow at GET /generate/tasks/:taskId (events: task_progress, task_complete, task_failed on GET /generate/events). Over the tier's daily or hourly limit: 429 with Retry-After. An \`Idempotency-Key\` header makes a retried request return the first answer.`,
    security,
  });
  const submitOpts = {
    auth: true as const,
    headers: IdempotencyHeaders,
    response: { 202: Envelope(Accepted), ...ErrorResponses },
  };

  /**
   * Queues one generation once per Idempotency-Key: the body as keyed (a sent picture is keyed
   * by the rest of the form), the submission built inside (a sent picture is stored only then).
   */
  const accept = (
    r: { caller: AuthCaller; headers: Record<string, string | undefined>; set: { status?: number | string } },
    kind: GenerationKind,
    keyed: unknown,
    build: () => Promise<Omit<gen.Submission, "kind">>,
  ) =>
    idempotent(db, r.caller.user.id, r.headers["idempotency-key"], `generate:${kind}`, keyed, r.set, async () => {
      const submission = { kind, ...(await build()) };
      const answer = await gen.submitGeneration(
        deps,
        { userId: r.caller.user.id, tier: r.caller.user.tier },
        submission,
      );
      r.set.status = 202;
      return ok(answer);
    });

  return new Elysia({ prefix: "/api/v1/generate", tags: ["generate"] })
    .use(authGuard(deps))
    .post(
      "/text-to-image",
      (r) =>
        accept(r, "text_to_image", r.body, async () => ({
          model: r.body.model,
          params: {
            ...texts(r.body),
            seed: r.body.seed,
            width: r.body.width ?? 1024,
            height: r.body.height ?? 1024,
            num_images: r.body.num_images ?? 1,
          },
        })),
      { ...submitOpts, body: TextToImage, detail: submitDoc("Pictures from a prompt", "") },
    )
    .post(
      "/image-to-image",
      (r) => {
        const { image: _file, ...keyed } = r.body;
        return accept(r, "image_to_image", keyed, async () => {
          const image = await source(r.caller.user.id, r.body);
          return {
            model: r.body.model,
            params: {
              ...texts(r.body),
              seed: r.body.seed,
              width: r.body.width ?? clampSide(image.width) ?? 1024,
              height: r.body.height ?? clampSide(image.height) ?? 1024,
              num_images: r.body.num_images ?? 1,
              strength: r.body.strength ?? 0.8,
              image: sourceOf(image),
            },
          };
        });
      },
      {
        ...submitOpts,
        body: ImageToImage,
        detail: submitDoc(
          "Pictures from a picture and a prompt",
          "multipart/form-data with an `image` part (PNG, JPEG or WebP, sniffed from its bytes: anything else is 415), or JSON with `image_asset_id`.",
        ),
      },
    )
    .post(
      "/text-to-video",
      (r) =>
        accept(r, "text_to_video", r.body, async () => ({
          model: r.body.model,
          params: clipParams(r.body, r.body.aspect_ratio ?? "16:9"),
        })),
      { ...submitOpts, body: TextToVideo, detail: submitDoc("A clip from a prompt", "") },
    )
    .post(
      "/image-to-video",
      (r) => {
        const { image: _file, ...keyed } = r.body;
        return accept(r, "image_to_video", keyed, async () => {
          const image = await source(r.caller.user.id, r.body);
          return {
            model: r.body.model,
            params: { ...clipParams(r.body, gen.aspectOf(image)), image: sourceOf(image) },
          };
        });
      },
      {
        ...submitOpts,
        body: ImageToVideo,
        detail: submitDoc(
          "A clip from a picture and a prompt",
          "multipart/form-data with an `image` part (sniffed: anything but a picture is 415), or JSON with `image_asset_id`. The frame follows the picture's aspect ratio.",
        ),
      },
    )
    .post(
      "/story-video",
      (r) => {
        const { image: _file, ...keyed } = r.body;
        return accept(r, "story_video", keyed, async () => {
          const image = r.body.image || r.body.image_asset_id ? await source(r.caller.user.id, r.body) : null;
          const aspect = r.body.aspect_ratio ?? (image ? gen.aspectOf(image) : "16:9");
          return {
            model: r.body.model,
            params: { ...clipParams(r.body, aspect), ...(image ? { image: sourceOf(image) } : {}) },
          };
        });
      },
      {
        ...submitOpts,
        body: StoryVideo,
        detail: submitDoc(
          "A short narrated clip from a story (seed 002's videogen workflow)",
          "The story's opening is spoken over a clip made from the picture given (multipart `image` or `image_asset_id`) or painted from the story; the clip lasts as long as the narration. Local models by default.",
        ),
      },
    )
    .get("/tasks", async ({ query, caller }) => ok(await gen.listGenerations(deps, caller.user.id, query)), {
      auth: true,
      query: t.Object({
        page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE })),
        page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
        kind: t.Optional(literals(GENERATION_KINDS)),
        status: t.Optional(literals(GENERATION_STATUSES)),
      }),
      response: { 200: Envelope(PageOf(Task)), ...ErrorResponses },
      detail: { summary: "Your generation tasks, newest first", security },
    })
    .get(
      "/tasks/:taskId",
      async ({ params, caller }) =>
        ok(await gen.getGeneration(deps, { userId: caller.user.id, taskId: params.taskId })),
      {
        auth: true,
        params: t.Object({ taskId: uuid }),
        response: { 200: Envelope(Task), ...ErrorResponses },
        detail: {
          summary: "A generation task: status, progress, and what it made as signed links (or why it failed)",
          security,
        },
      },
    )
    .get("/models", async () => ok(await availableModels({ db, config })), {
      auth: true,
      response: {
        200: Envelope(t.Object({ image: t.Array(t.String()), video: t.Array(t.String()) })),
        ...ErrorResponses,
      },
      detail: { summary: "The models a generation may name now (aliases and provider/model ids)", security },
    });
}
