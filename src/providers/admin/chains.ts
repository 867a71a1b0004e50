// The per-capability chains: changing them (PUT /config/providers), and the checks every write
// makes that a chain keeps a usable provider, under the registry's advisory lock.
import { sql } from "kysely";
import type { Config } from "../../config.ts";
import { CAPABILITIES, type Capability } from "../../core/capabilities.ts";
import { conflict, type FieldError, validation } from "../../core/errors.ts";
import type { ChainLink } from "../../core/provider-record.ts";
import type { Db } from "../../db/client.ts";
import { envChain, hasKey, listProviders, loadChains, type ProviderRecord } from "../settings.ts";
import { invalid, LIMITS } from "./settings-input.ts";
import type { AdminConfig, CurrentConfig, CurrentUpdate } from "./types.ts";
import { currentOf, offered } from "./views.ts";

/**
 * Serialises the registry's writes that check chains against providers: every write that could
 * leave a capability without a usable provider, or race another such write, runs under it.
 */
export async function lock(trx: Db) {
  await sql`select pg_advisory_xact_lock(hashtext('inkreel.provider_registry'))`.execute(trx);
}

/** Every capability's chain and every provider by id, as the checks below take them. */
export async function loadRegistry(
  trx: Db,
  config: AdminConfig,
): Promise<{ chains: Record<Capability, ChainLink[]>; byId: Map<string, ProviderRecord> }> {
  const [chains, rows] = await Promise.all([loadChains(trx, config), listProviders(trx)]);
  return { chains, byId: new Map(rows.map((r) => [r.id, r])) };
}

const usable = (config: AdminConfig, row: ProviderRecord | undefined) => !!row && row.enabled && hasKey(config, row);

function listOf(models: string[]): string {
  const shown = models
    .slice(0, 6)
    .map((m) => `"${m}"`)
    .join(", ");
  return models.length > 6 ? `${shown}, …` : shown;
}

/** Why a link cannot serve the capability (naming provider or model), or null when it can. */
function linkError(
  config: AdminConfig,
  byId: Map<string, ProviderRecord>,
  capability: Capability,
  link: Partial<ChainLink>,
  at: { provider: string; model: string },
): FieldError | null {
  const { provider, model } = link;
  if (typeof provider !== "string" || provider === "") return { path: at.provider, message: "is required" };
  const row = byId.get(provider);
  if (!row) return { path: at.provider, message: `unknown provider "${provider}"` };
  const models = offered(row, capability);
  if (models.length === 0) return { path: at.provider, message: `provider "${provider}" does not serve ${capability}` };
  if (typeof model !== "string" || model === "") return { path: at.model, message: "is required" };
  if (!models.includes(model))
    return {
      path: at.model,
      message: `provider "${provider}" does not offer model "${model}" for ${capability} (it offers ${listOf(models)})`,
    };
  if (!row.enabled) return { path: at.provider, message: `provider "${provider}" is disabled` };
  if (!hasKey(config, row))
    return {
      path: at.provider,
      message: `provider "${provider}" has no API key; set one with PATCH /api/v1/admin/providers/${provider}`,
    };
  return null;
}

/** The model a provider serves a capability with when only the provider is named. */
function defaultModel(config: AdminConfig, row: ProviderRecord, capability: Capability): string | undefined {
  const models = offered(row, capability);
  if (row.builtin && models.length > 0) {
    const env = envChain(
      { providers: { ...config.providers, [capability]: row.id } as Config["providers"], cloud: config.cloud },
      capability,
    )[0]?.model;
    if (env && models.includes(env)) return env;
  }
  return models[0];
}

/**
 * The capabilities whose chain has `id` as a usable link now and would have no usable link if
 * the provider became `after`.
 */
export function orphanedCapabilities(
  config: AdminConfig,
  chains: Record<Capability, ChainLink[]>,
  byId: Map<string, ProviderRecord>,
  id: string,
  after: ProviderRecord,
): Capability[] {
  return CAPABILITIES.filter((c) => {
    const chain = chains[c];
    const before = chain.some((l) => l.provider === id && usable(config, byId.get(id)));
    const still = chain.some((l) => usable(config, l.provider === id ? after : byId.get(l.provider)));
    return before && !still;
  });
}

export function refuseOrphans(id: string, capabilities: Capability[], what: string) {
  if (capabilities.length === 0) return;
  const list = capabilities.join(", ");
  throw conflict(
    `${what} would leave the ${list} chain${capabilities.length > 1 ? "s" : ""} without a usable provider: "${id}" is the only enabled provider with a key there; add another link with PUT /api/v1/config/providers first`,
    { capability: capabilities[0], capabilities, provider: id },
  );
}

/**
 * PUT /config/providers: `<cap>_provider`/`<cap>_model` set the head of a capability's chain
 * (its other links are kept unless they equal the new head); `chains.<cap>` replaces the chain.
 * Every link named must be an enabled provider, with a key, offering that model for that
 * capability. Answers the new current configuration.
 */
export async function updateCurrent(
  db: Db,
  config: AdminConfig,
  userId: string | null,
  body: CurrentUpdate,
): Promise<CurrentConfig> {
  const input: Record<string, unknown> = { ...body };
  const errors: FieldError[] = [];
  // Seed 004's "assistant" is our text capability.
  for (const part of ["provider", "model"] as const) {
    const alias = input[`assistant_${part}`];
    if (alias === undefined) continue;
    if (input[`text_${part}`] !== undefined && input[`text_${part}`] !== alias)
      errors.push({ path: `/assistant_${part}`, message: `is an alias of text_${part}; give one of them` });
    input[`text_${part}`] = alias;
  }
  const explicit = (input.chains ?? {}) as Partial<Record<Capability, unknown>>;
  if (typeof explicit !== "object" || Array.isArray(explicit))
    errors.push({ path: "/chains", message: "must be an object of capability → chain" });
  for (const key of Object.keys(explicit)) {
    if (!(CAPABILITIES as string[]).includes(key))
      errors.push({ path: `/chains/${key}`, message: `unknown capability; use ${CAPABILITIES.join(", ")}` });
  }

  return db.transaction().execute(async (trx) => {
    await lock(trx);
    const { chains, byId } = await loadRegistry(trx, config);
    const changed = new Map<Capability, ChainLink[]>();

    for (const c of CAPABILITIES) {
      const provider = input[`${c}_provider`] as string | undefined;
      const model = input[`${c}_model`] as string | undefined;
      const chain = explicit[c];
      if (chain !== undefined && (provider !== undefined || model !== undefined)) {
        errors.push({
          path: `/${c}_provider`,
          message: `give either chains.${c} or ${c}_provider/${c}_model, not both`,
        });
        continue;
      }
      if (chain !== undefined) {
        if (!Array.isArray(chain) || chain.length < LIMITS.chain.min || chain.length > LIMITS.chain.max) {
          errors.push({
            path: `/chains/${c}`,
            message: `must list ${LIMITS.chain.min} to ${LIMITS.chain.max} links of {provider, model}`,
          });
          continue;
        }
        const links: ChainLink[] = [];
        for (const [i, raw] of (chain as unknown[]).entries()) {
          const link = (raw && typeof raw === "object" ? raw : {}) as Partial<ChainLink>;
          const at = { provider: `/chains/${c}/${i}/provider`, model: `/chains/${c}/${i}/model` };
          const error = linkError(config, byId, c, link, at);
          if (error) {
            errors.push(error);
            continue;
          }
          const first = links.findIndex((l) => l.provider === link.provider && l.model === link.model);
          if (first >= 0) {
            errors.push({
              path: `/chains/${c}/${i}`,
              message: `repeats link ${first} (${link.provider} ${link.model})`,
            });
            continue;
          }
          links.push({ provider: link.provider!, model: link.model! });
        }
        changed.set(c, links);
      } else if (provider !== undefined || model !== undefined) {
        const old = chains[c].length ? chains[c] : envChain(config, c);
        const headProvider = provider ?? old[0]!.provider;
        const row = byId.get(headProvider);
        const headModel =
          model ??
          (headProvider === old[0]!.provider ? old[0]!.model : row ? defaultModel(config, row, c) : undefined) ??
          "";
        const head = { provider: headProvider, model: headModel };
        const error = linkError(config, byId, c, head, { provider: `/${c}_provider`, model: `/${c}_model` });
        if (error) {
          errors.push(error);
          continue;
        }
        changed.set(
          c,
          [head, ...old.slice(1).filter((l) => l.provider !== head.provider || l.model !== head.model)].slice(
            0,
            LIMITS.chain.max,
          ),
        );
      }
    }
    if (errors.length) throw invalid(errors);
    if (changed.size === 0)
      throw validation(
        [{ path: "/", message: "name at least one capability's provider, model or chain" }],
        "nothing to change",
      );

    for (const [capability, chain] of changed) {
      await trx
        .insertInto("provider_chains")
        .values({ capability, chain: JSON.stringify(chain), updated_by: userId, updated_at: sql<Date>`now()` })
        .onConflict((oc) =>
          oc
            .column("capability")
            .doUpdateSet({ chain: JSON.stringify(chain), updated_by: userId, updated_at: sql<Date>`now()` }),
        )
        .execute();
      chains[capability] = chain;
    }
    return currentOf(config, chains);
  });
}
