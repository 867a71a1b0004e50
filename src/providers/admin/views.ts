// What clients see of the registry: providers (never their keys), the catalogue, the current chains.
import type { Config } from "../../config.ts";
import { CAPABILITIES, type Capability } from "../../core/capabilities.ts";
import { notFound } from "../../core/errors.ts";
import type { ChainLink } from "../../core/provider-record.ts";
import type { Db } from "../../db/client.ts";
import type { Price } from "../pricing.ts";
import { envChain, getProvider, hasKey, listProviders, loadChains, type ProviderRecord } from "../settings.ts";
import { PRICE_FIELDS } from "./settings-input.ts";
import type { Catalogue, CurrentConfig, ProviderView } from "./types.ts";

const iso = (v: Date | string | undefined) =>
  v instanceof Date ? v.toISOString() : v ? new Date(v).toISOString() : new Date(0).toISOString();
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The models a provider offers for a capability (none when it does not serve it). */
export const offered = (row: Pick<ProviderRecord, "models">, capability: Capability) => row.models?.[capability] ?? [];

/** The capabilities a provider serves. */
export const capabilitiesOf = (row: Pick<ProviderRecord, "models">) =>
  CAPABILITIES.filter((c) => offered(row, c).length > 0);

/** The stored prices, keeping only the known fields that are finite numbers. */
export function pricesOf(raw: unknown): Record<string, Price> {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return {};
  const out: Record<string, Price> = {};
  for (const [model, p] of Object.entries(raw as Record<string, unknown>)) {
    if (!p || typeof p !== "object") continue;
    const price: Price = {};
    for (const f of PRICE_FIELDS) {
      const v = num((p as Record<string, unknown>)[f]);
      if (v !== null) price[f] = v;
    }
    out[model] = price;
  }
  return out;
}

/** What a client may see of a provider: everything but the sealed key (`has_key` says whether one is usable). */
export function providerView(config: Pick<Config, "cloud">, row: ProviderRecord): ProviderView {
  const capabilities = capabilitiesOf(row);
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    builtin: row.builtin,
    enabled: row.enabled,
    base_url: row.base_url,
    has_key: hasKey(config, row),
    capabilities,
    models: Object.fromEntries(capabilities.map((c) => [c, [...offered(row, c)]])),
    config: {
      concurrency: num(row.config?.concurrency),
      rate_per_minute: num(row.config?.rate_per_minute),
      prices: pricesOf(row.config?.prices),
    },
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/** Every provider, built-in ones first. */
export async function listProviderViews(db: Db, config: Pick<Config, "cloud">): Promise<ProviderView[]> {
  return (await listProviders(db)).map((r) => providerView(config, r));
}

export async function getProviderView(db: Db, config: Pick<Config, "cloud">, id: string): Promise<ProviderView> {
  const row = await getProvider(db, id);
  if (!row) throw notFound("provider");
  return providerView(config, row);
}

/** GET /config/providers: per capability, the providers that serve it and their models. */
export async function catalogue(db: Db, config: Pick<Config, "cloud">): Promise<Catalogue> {
  const rows = await listProviders(db);
  return Object.fromEntries(
    CAPABILITIES.map((c) => [
      c,
      rows
        .filter((r) => offered(r, c).length > 0)
        .map((r) => ({
          id: r.id,
          name: r.name,
          enabled: r.enabled,
          configured: hasKey(config, r),
          models: [...offered(r, c)],
        })),
    ]),
  ) as Catalogue;
}

/** The current configuration of the given chains (an empty chain is the environment's). */
export function currentOf(
  config: Pick<Config, "providers" | "cloud">,
  chains: Record<Capability, ChainLink[]>,
): CurrentConfig {
  const out: Record<string, unknown> = {};
  const all = {} as Record<Capability, ChainLink[]>;
  for (const c of CAPABILITIES) {
    const chain = chains[c]?.length ? chains[c] : envChain(config, c);
    all[c] = chain.map(({ provider, model }) => ({ provider, model }));
    out[`${c}_provider`] = chain[0]!.provider;
    out[`${c}_model`] = chain[0]!.model;
  }
  out.chains = all;
  return out as CurrentConfig;
}

/** GET /config/current: each capability's default provider and model, and its whole chain. */
export async function current(db: Db, config: Pick<Config, "providers" | "cloud">): Promise<CurrentConfig> {
  return currentOf(config, await loadChains(db, config));
}
