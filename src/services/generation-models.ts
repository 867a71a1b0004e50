import type { Config } from "../config.ts";
import { validation } from "../core/errors.ts";
import type { Db } from "../db/client.ts";
import { modelChoices } from "./models.ts";

type Medium = "image" | "video";
interface Target {
  provider: string;
  model: string;
}

const LOCAL: Record<Medium, Target> = {
  image: { provider: "local", model: "inkreel-painter-1" },
  video: { provider: "local", model: "inkreel-motion-1" },
};

/**
 * The model names seed 004 and seed 002 use, resolved to the providers that serve them. A fal video
 * model given no picture switches to its text-to-video sibling itself. `runway` has no provider
 * here: asking for it is a 400 that lists what is configured.
 */
export const MODEL_ALIASES: Record<string, Partial<Record<Medium, Target>>> = {
  local: LOCAL,
  use_mock: LOCAL,
  mock: LOCAL,
  sora: { video: { provider: "openai", model: "sora-2" } },
  "sora-2": { video: { provider: "openai", model: "sora-2" } },
  "sora-2-pro": { video: { provider: "openai", model: "sora-2-pro" } },
  veo: { video: { provider: "fal", model: "fal-ai/veo3.1/image-to-video" } },
  "veo-fast": { video: { provider: "fal", model: "fal-ai/veo3.1/fast/image-to-video" } },
  kling: { video: { provider: "fal", model: "fal-ai/kling-video/v2.1/master/image-to-video" } },
  hailuo: { video: { provider: "fal", model: "fal-ai/minimax/hailuo-02/standard/image-to-video" } },
  runway: {},
  "dall-e-3": { image: { provider: "openai", model: "dall-e-3" } },
  "gpt-image-1": { image: { provider: "openai", model: "gpt-image-1" } },
  flux: { image: { provider: "fal", model: "fal-ai/flux/dev" } },
  "flux-dev": { image: { provider: "fal", model: "fal-ai/flux/dev" } },
  "flux-schnell": { image: { provider: "fal", model: "fal-ai/flux/schnell" } },
  "stable-diffusion-xl": { image: { provider: "comfyui", model: "txt2img" } },
  sdxl: { image: { provider: "comfyui", model: "txt2img" } },
};

export interface ResolvedModel {
  /** What was asked (null: the default). */
  asked: string | null;
  provider: string;
  model: string;
}

type Choices = Awaited<ReturnType<typeof modelChoices>>["image"];

const servedBy = (choices: Choices, t: Target | undefined) =>
  !!t && choices.some((c) => c.provider === t.provider && c.model === t.model);

/** The names a client may ask for now: the aliases whose provider is configured, then `provider/model` ids. */
const namesOf = (choices: Choices, medium: Medium) => [
  ...Object.entries(MODEL_ALIASES)
    .filter(([, m]) => servedBy(choices, m[medium]))
    .map(([name]) => name),
  ...choices.map((c) => c.id),
];

/**
 * The provider and model a generation runs on: the alias or `provider/model` id asked for, if its
 * provider is configured (enabled, with a key); without one, the head of the capability's chain.
 * Anything else is a 400 listing the models that can be asked for now.
 */
export async function resolveModel(
  { db, config }: { db: Db; config: Config },
  medium: Medium,
  asked: string | undefined,
): Promise<ResolvedModel> {
  const choices = (await modelChoices(db, config))[medium];
  if (!asked) {
    const head = choices.find((c) => c.is_default) ?? choices[0] ?? LOCAL[medium];
    return { asked: null, provider: head.provider, model: head.model };
  }
  const known = Object.hasOwn(MODEL_ALIASES, asked);
  const alias = known ? MODEL_ALIASES[asked]![medium] : undefined;
  if (alias && servedBy(choices, alias)) return { asked, ...alias };
  const byId = choices.find((c) => c.id === asked);
  if (byId) return { asked, provider: byId.provider, model: byId.model };
  const why = known
    ? `"${asked}" is not available for ${medium}s here (its provider is not configured)`
    : `unknown ${medium} model "${asked}"`;
  throw validation([{ path: "/model", message: `${why}; available: ${namesOf(choices, medium).join(", ")}` }], why);
}

/** The names a client may ask for now, per medium. */
export async function availableModels(deps: { db: Db; config: Config }): Promise<Record<Medium, string[]>> {
  const all = await modelChoices(deps.db, deps.config);
  return { image: namesOf(all.image, "image"), video: namesOf(all.video, "video") };
}
