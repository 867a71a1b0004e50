import type { Capability } from "../core/capabilities.ts";
import type { ProviderKind } from "../core/provider-record.ts";
import { SHIPPED_MODELS } from "./comfyui/workflow-store.ts";
import { IMAGE_ENDPOINTS } from "./fal/image-models.ts";
import { VIDEO_ENDPOINTS } from "./fal/video-models.ts";

/** A built-in provider: what it can serve and the models it offers per capability. */
export interface BuiltinProvider {
  id: "local" | "openai" | "fal" | "elevenlabs" | "comfyui";
  name: string;
  kind: ProviderKind;
  models: Partial<Record<Capability, string[]>>;
  /** Calls at once across all workers (queue concurrency key), unless the row's config says otherwise. */
  concurrency: number | null;
  /** The environment variable holding its key; null for local. */
  keyVariable: string | null;
}

const falText = Object.entries(IMAGE_ENDPOINTS)
  .filter(([, e]) => e.kind === "text")
  .map(([id]) => id);
const falVideo = Object.keys(VIDEO_ENDPOINTS).filter((id) => id.endsWith("image-to-video"));

export const BUILTIN_PROVIDERS: BuiltinProvider[] = [
  {
    id: "local",
    name: "Inkreel local (offline)",
    kind: "local",
    models: {
      text: ["inkreel-analyser-1"],
      image: ["inkreel-painter-1"],
      video: ["inkreel-motion-1"],
      speech: ["espeak-ng"],
      music: ["inkreel-synth-1"],
    },
    concurrency: null,
    keyVariable: null,
  },
  {
    id: "openai",
    name: "OpenAI",
    kind: "openai",
    models: {
      text: ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini"],
      image: ["gpt-image-1", "dall-e-3"],
      video: ["sora-2", "sora-2-pro"],
    },
    concurrency: 8,
    keyVariable: "OPENAI_API_KEY",
  },
  {
    id: "fal",
    name: "fal.ai",
    kind: "fal",
    models: { image: falText, video: falVideo },
    concurrency: 4,
    keyVariable: "FAL_KEY",
  },
  {
    id: "elevenlabs",
    name: "ElevenLabs",
    kind: "elevenlabs",
    models: {
      speech: ["eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_v3"],
      music: ["music_v1", "music_v2", "music_v2_5"],
    },
    concurrency: 4,
    keyVariable: "ELEVENLABS_API_KEY",
  },
  {
    // Usable once COMFYUI_URL (or a base_url an ADMIN sets) names a server; its models are the workflows.
    id: "comfyui",
    name: "ComfyUI",
    kind: "comfyui",
    models: { image: SHIPPED_MODELS.image, video: SHIPPED_MODELS.video },
    // ComfyUI queues prompts itself: a few at once keep its queue fed (and report their places in it).
    concurrency: 4,
    keyVariable: "COMFYUI_API_KEY",
  },
];

export const builtin = (id: string) => BUILTIN_PROVIDERS.find((p) => p.id === id);

/** What a custom OpenAI-compatible endpoint can serve. */
export const CUSTOM_CAPABILITIES: Capability[] = ["text", "image"];
