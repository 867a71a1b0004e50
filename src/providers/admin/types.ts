// The shapes the provider registry's admin side takes and answers.
import type { Config } from "../../config.ts";
import type { Capability } from "../../core/capabilities.ts";
import type { ChainLink } from "../../core/provider-record.ts";
import type { ResolvedAddress } from "../../net/ssrf.ts";
import type { Price } from "../pricing.ts";
import type { ProviderRecord } from "../settings.ts";

export type AdminConfig = Pick<
  Config,
  "providers" | "cloud" | "providerSecret" | "dataDir" | "allowPrivateProviderUrls"
>;

/** Lets tests resolve host names without DNS. */
export interface UrlCheckOptions {
  lookup?: (host: string) => Promise<ResolvedAddress[]>;
}

/** What a client may see of a provider: everything but the sealed key, and its settings read strictly. */
export type ProviderView = Omit<
  ProviderRecord,
  "api_key_enc" | "config" | "created_by" | "created_at" | "updated_at"
> & {
  has_key: boolean;
  capabilities: Capability[];
  config: { concurrency: number | null; rate_per_minute: number | null; prices: Record<string, Price> };
  created_at: string;
  updated_at: string;
};

export interface CatalogueEntry {
  id: string;
  name: string;
  enabled: boolean;
  /** Has a usable key (stored or from the environment; local needs none). */
  configured: boolean;
  models: string[];
}

export type Catalogue = Record<Capability, CatalogueEntry[]>;

export type CurrentConfig = { [C in Capability as `${C}_provider` | `${C}_model`]: string } & {
  chains: Record<Capability, ChainLink[]>;
};

export type CurrentUpdate = { [C in Capability as `${C}_provider` | `${C}_model`]?: string } & {
  /** Seed 004's name for the text capability. */
  assistant_provider?: string;
  assistant_model?: string;
  chains?: Partial<Record<Capability, ChainLink[]>>;
};

export interface ProviderSettingsInput {
  concurrency?: number;
  rate_per_minute?: number;
  prices?: Record<string, Price>;
}

export interface CustomProviderInput {
  /** "assistant" is text; "video" is refused (custom endpoints serve text and image). */
  type: string;
  name: string;
  api_url: string;
  api_key: string;
  models?: string[];
  config?: ProviderSettingsInput & { models?: string[] };
}

export interface ProviderPatch {
  name?: string;
  /** Custom providers' endpoint; built-in ones may use either name (null: back to the environment's). */
  api_url?: string | null;
  base_url?: string | null;
  /** A new key (sealed at rest), or null to clear the stored one. */
  api_key?: string | null;
  /** Custom providers only. */
  models?: string[];
  config?: { concurrency?: number | null; rate_per_minute?: number | null; prices?: Record<string, Price> | null };
}
