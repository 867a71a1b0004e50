// The JSON a provider row and a capability's chain store, below the database types that use them.

export type ProviderKind = "local" | "openai" | "fal" | "elevenlabs" | "openai_compatible" | "comfyui";

/** One step of a capability's chain: which provider, which model. */
export interface ChainLink {
  provider: string;
  model: string;
}

/** The models a provider offers, by capability name (`providers.models`). */
export type ProviderModels = Record<string, string[]>;

/**
 * A provider's settings (`providers.config`): at most this many calls at once or a minute, and
 * prices (per model, per unit) that override the list prices. Older rows may hold other keys.
 */
export type ProviderSettings = {
  concurrency?: number;
  rate_per_minute?: number;
  prices?: Record<string, Record<string, number>>;
} & Record<string, unknown>;
