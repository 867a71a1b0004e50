import type { Price, Usage } from "./types.ts";

export type { Price };

/**
 * Estimates from the providers' public list prices (late 2025), for the ledger's cost column; an
 * ADMIN overrides them per provider and model (`config.prices`). fal bills FLUX by megapixel and
 * ElevenLabs by character: these are per image at about one megapixel and per second of speech
 * at about 15 characters a second. Local models cost nothing.
 */
const LIST_PRICES: Record<string, Record<string, Price>> = {
  openai: {
    "gpt-4o-mini": { input_per_mtok: 0.15, output_per_mtok: 0.6 },
    "gpt-4o": { input_per_mtok: 2.5, output_per_mtok: 10 },
    "gpt-4.1": { input_per_mtok: 2, output_per_mtok: 8 },
    "gpt-4.1-mini": { input_per_mtok: 0.4, output_per_mtok: 1.6 },
    "gpt-image-1": { per_image: 0.042 },
    "dall-e-3": { per_image: 0.04 },
    "sora-2": { per_video_second: 0.1 },
    "sora-2-pro": { per_video_second: 0.3 },
  },
  fal: {
    "fal-ai/flux/dev": { per_image: 0.025 },
    "fal-ai/flux/schnell": { per_image: 0.003 },
    "fal-ai/flux-pro/kontext": { per_image: 0.04 },
    "fal-ai/flux-pro/kontext/multi": { per_image: 0.04 },
    "fal-ai/flux-pro/kontext/max": { per_image: 0.08 },
    "fal-ai/flux-pro/kontext/max/multi": { per_image: 0.08 },
    "fal-ai/kling-video/v2.1/standard/image-to-video": { per_video_second: 0.05 },
    "fal-ai/kling-video/v2.1/master/image-to-video": { per_video_second: 0.28 },
    "fal-ai/kling-video/v2.1/master/text-to-video": { per_video_second: 0.28 },
    "fal-ai/minimax/hailuo-02/standard/image-to-video": { per_video_second: 0.045 },
    "fal-ai/minimax/hailuo-02/standard/text-to-video": { per_video_second: 0.045 },
    "fal-ai/veo3.1/image-to-video": { per_video_second: 0.4 },
    "fal-ai/veo3.1/fast/image-to-video": { per_video_second: 0.15 },
    "fal-ai/veo3.1": { per_video_second: 0.4 },
    "fal-ai/veo3.1/fast": { per_video_second: 0.15 },
  },
  elevenlabs: {
    eleven_multilingual_v2: { per_audio_second: 0.0045 },
    eleven_v3: { per_audio_second: 0.0045 },
    eleven_flash_v2_5: { per_audio_second: 0.00225 },
    eleven_turbo_v2_5: { per_audio_second: 0.00225 },
    music_v1: { per_audio_second: 0.008 },
    music_v2: { per_audio_second: 0.008 },
    music_v2_5: { per_audio_second: 0.008 },
  },
};

/** The price of a model: the provider's own setting first, then the list price; none for unknown models. */
export function priceOf(provider: string, model: string, overrides?: Record<string, Price>): Price {
  return overrides?.[model] ?? LIST_PRICES[provider]?.[model] ?? {};
}

/** The cost of one call, rounded to a millionth of a dollar. */
export function costOf(price: Price, usage: Usage): number {
  const cost =
    ((usage.inputTokens ?? 0) * (price.input_per_mtok ?? 0)) / 1e6 +
    ((usage.outputTokens ?? 0) * (price.output_per_mtok ?? 0)) / 1e6 +
    (usage.images ?? 0) * (price.per_image ?? 0) +
    (usage.audioSeconds ?? 0) * (price.per_audio_second ?? 0) +
    (usage.videoSeconds ?? 0) * (price.per_video_second ?? 0);
  return Math.round(cost * 1e6) / 1e6;
}
