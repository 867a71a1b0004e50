import { sql } from "kysely";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { AppError, conflict, notFound, validation, type FieldError } from "../http/errors.ts";
import { assertPublicUrl, type ResolvedAddress } from "../net/ssrf.ts";
import { CAPABILITIES, type Capability } from "./capabilities.ts";
import { CUSTOM_CAPABILITIES, type ProviderKind } from "./catalog.ts";
import { secretBox, serverSecret } from "./secrets.ts";
import { envChain, getProvider, hasKey, listProviders, loadChains, type ChainLink, type ProviderRecord } from "./settings.ts";

/**
 * The provider registry's admin side: views of providers (never their keys), the per-capability
 * chains, custom OpenAI-compatible providers, and provider settings. Every write that could leave
 * a capability without a usable provider, or race another such write, runs under one advisory
 * lock.
 */

export type AdminConfig = Pick<Config, "providers" | "cloud" | "providerSecret" | "dataDir" | "allowPrivateProviderUrls">;

/** Lets tests resolve host names without DNS. */
export interface UrlCheckOptions {
  lookup?: (host: string) => Promise<ResolvedAddress[]>;
}

export const PRICE_FIELDS = ["per_image", "per_video_second", "per_audio_second", "input_per_mtok", "output_per_mtok"] as const;
export type Price = Partial<Record<(typeof PRICE_FIELDS)[number], number>>;

export const LIMITS = {
  concurrency: { min: 1, max: 100 },
  rate_per_minute: { min: 1, max: 100_000 },
  chain: { min: 1, max: 5 },
  models: 100,
  modelLength: 200,
  nameLength: 100,
  keyLength: 4096,
  price: 1_000_000,
} as const;

export interface ProviderView {
  id: string;
  name: string;
  kind: ProviderKind;
  builtin: boolean;
  enabled: boolean;
  base_url: string | null;
  has_key: boolean;
  capabilities: Capability[];
  models: Partial<Record<Capability, string[]>>;
  config: { concurrency: number | null; rate_per_minute: number | null; prices: Record<string, Price> };
  created_at: string;
  updated_at: string;
}

export interface CatalogueEntry {
  id: string;
  name: string;
  enabled: boolean;
  /** Has a usable key (stored or from the environment; local needs none). */
  configured: boolean;
  models: string[];
}

export type Catalogue = Record<Capability, CatalogueEntry[]>;

export type CurrentConfig = { [C in Capability as `${C}_provider` | `${C}_model`]: string } & { chains: Record<Capability, ChainLink[]> };

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

export type ProviderRow = ProviderRecord & { created_at?: Date | string; updated_at?: Date | string; created_by?: string | null };

const iso = (v: Date | string | undefined) => (v instanceof Date ? v.toISOString() : v ? new Date(v).toISOString() : new Date(0).toISOString());
const offered = (row: Pick<ProviderRecord, "models">, capability: Capability) => row.models?.[capability] ?? [];
const capabilitiesOf = (row: Pick<ProviderRecord, "models">) => CAPABILITIES.filter((c) => offered(row, c).length > 0);
const usable = (config: AdminConfig, row: ProviderRecord | undefined) => !!row && row.enabled && hasKey(config, row);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);

// ---- views ---------------------------------------------------------------------------------

function pricesOf(raw: unknown): Record<string, Price> {
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
export function providerView(config: Pick<Config, "cloud">, row: ProviderRow): ProviderView {
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
  return (await listProviders(db)).map((r) => providerView(config, r as ProviderRow));
}

export async function getProviderView(db: Db, config: Pick<Config, "cloud">, id: string): Promise<ProviderView> {
  const row = await getProvider(db, id);
  if (!row) throw notFound("provider");
  return providerView(config, row as ProviderRow);
}

/** GET /config/providers: per capability, the providers that serve it and their models. */
export async function catalogue(db: Db, config: Pick<Config, "cloud">): Promise<Catalogue> {
  const rows = await listProviders(db);
  return Object.fromEntries(
    CAPABILITIES.map((c) => [
      c,
      rows
        .filter((r) => offered(r, c).length > 0)
        .map((r) => ({ id: r.id, name: r.name, enabled: r.enabled, configured: hasKey(config, r), models: [...offered(r, c)] })),
    ]),
  ) as Catalogue;
}

function currentOf(config: Pick<Config, "providers" | "cloud">, chains: Record<Capability, ChainLink[]>): CurrentConfig {
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

// ---- validation helpers ----------------------------------------------------------------------

/** Serialises registry writes that check chains against providers (see the module comment). */
async function lock(trx: Db) {
  await sql`select pg_advisory_xact_lock(hashtext('inkreel.provider_registry'))`.execute(trx);
}

function listOf(models: string[]): string {
  const shown = models.slice(0, 6).map((m) => `"${m}"`).join(", ");
  return models.length > 6 ? `${shown}, …` : shown;
}

/** Why a link cannot serve the capability (naming provider or model), or null when it can. */
function linkError(config: AdminConfig, byId: Map<string, ProviderRecord>, capability: Capability, link: Partial<ChainLink>, at: { provider: string; model: string }): FieldError | null {
  const { provider, model } = link;
  if (typeof provider !== "string" || provider === "") return { path: at.provider, message: "is required" };
  const row = byId.get(provider);
  if (!row) return { path: at.provider, message: `unknown provider "${provider}"` };
  const models = offered(row, capability);
  if (models.length === 0) return { path: at.provider, message: `provider "${provider}" does not serve ${capability}` };
  if (typeof model !== "string" || model === "") return { path: at.model, message: "is required" };
  if (!models.includes(model)) return { path: at.model, message: `provider "${provider}" does not offer model "${model}" for ${capability} (it offers ${listOf(models)})` };
  if (!row.enabled) return { path: at.provider, message: `provider "${provider}" is disabled` };
  if (!hasKey(config, row)) return { path: at.provider, message: `provider "${provider}" has no API key; set one with PATCH /api/v1/admin/providers/${provider}` };
  return null;
}

/** The model a provider serves a capability with when only the provider is named. */
function defaultModel(config: AdminConfig, row: ProviderRecord, capability: Capability): string | undefined {
  const models = offered(row, capability);
  if (row.builtin && models.length > 0) {
    const env = envChain({ providers: { ...config.providers, [capability]: row.id } as Config["providers"], cloud: config.cloud }, capability)[0]?.model;
    if (env && models.includes(env)) return env;
  }
  return models[0];
}

function cleanModels(raw: unknown, path: string, errors: FieldError[]): string[] | null {
  if (!Array.isArray(raw)) {
    errors.push({ path, message: "must be a list of model names" });
    return null;
  }
  const out: string[] = [];
  for (const [i, m] of raw.entries()) {
    const name = typeof m === "string" ? m.trim() : "";
    if (!name || name.length > LIMITS.modelLength) {
      errors.push({ path: `${path}/${i}`, message: `must be a model name of 1 to ${LIMITS.modelLength} characters` });
      return null;
    }
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) errors.push({ path, message: "name at least one model" });
  else if (out.length > LIMITS.models) errors.push({ path, message: `at most ${LIMITS.models} models` });
  return out.length > 0 && out.length <= LIMITS.models ? out : null;
}

function checkInt(v: unknown, limits: { min: number; max: number }, path: string, errors: FieldError[]) {
  if (typeof v !== "number" || !Number.isInteger(v) || v < limits.min || v > limits.max) {
    errors.push({ path, message: `must be a whole number from ${limits.min} to ${limits.max}` });
  }
}

function checkPrices(raw: unknown, models: string[], path: string, errors: FieldError[]): Record<string, Price> {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    errors.push({ path, message: "must be an object of model → prices" });
    return {};
  }
  const out: Record<string, Price> = {};
  for (const [model, p] of Object.entries(raw as Record<string, unknown>)) {
    const at = `${path}/${model}`;
    if (!models.includes(model)) {
      errors.push({ path: at, message: `"${model}" is not a model of this provider` });
      continue;
    }
    if (!p || typeof p !== "object" || Array.isArray(p)) {
      errors.push({ path: at, message: `must be an object with any of ${PRICE_FIELDS.join(", ")}` });
      continue;
    }
    const price: Price = {};
    for (const [field, v] of Object.entries(p as Record<string, unknown>)) {
      if (!(PRICE_FIELDS as readonly string[]).includes(field)) {
        errors.push({ path: `${at}/${field}`, message: `unknown price; use ${PRICE_FIELDS.join(", ")}` });
      } else if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > LIMITS.price) {
        errors.push({ path: `${at}/${field}`, message: `must be a number from 0 to ${LIMITS.price} (US dollars)` });
      } else {
        price[field as keyof Price] = v;
      }
    }
    out[model] = price;
  }
  return out;
}

function cleanName(raw: unknown, errors: FieldError[]): string {
  const name = typeof raw === "string" ? raw.trim() : "";
  if (!name || name.length > LIMITS.nameLength) errors.push({ path: "/name", message: `must be 1 to ${LIMITS.nameLength} characters` });
  return name;
}

function cleanKey(raw: unknown, errors: FieldError[]): string {
  const key = typeof raw === "string" ? raw.trim() : "";
  if (!key || key.length > LIMITS.keyLength || /\s/.test(key)) errors.push({ path: "/api_key", message: `must be 1 to ${LIMITS.keyLength} characters without spaces` });
  return key;
}

/** Runs the SSRF check, collecting its complaint as a field error. */
async function checkUrl(config: AdminConfig, raw: string, field: string, errors: FieldError[], options: UrlCheckOptions): Promise<string | null> {
  try {
    return await assertPublicUrl(raw, { allowPrivate: config.allowPrivateProviderUrls, field, lookup: options.lookup });
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    errors.push(...((err.details.fields as FieldError[] | undefined) ?? [{ path: `/${field}`, message: err.message }]));
    return null;
  }
}

/** A VALIDATION_ERROR whose message names the field when there is only one. */
const invalid = (errors: FieldError[]) => validation(errors, errors.length === 1 ? `${errors[0]!.path.slice(1).replaceAll("/", ".")}: ${errors[0]!.message}` : "request validation failed");

const seal = async (config: AdminConfig, plain: string) => secretBox(await serverSecret(config)).seal(plain);

/**
 * The capabilities whose chain has `id` as a usable link now and would have no usable link if
 * the provider became `after`.
 */
function orphanedCapabilities(config: AdminConfig, chains: Record<Capability, ChainLink[]>, byId: Map<string, ProviderRecord>, id: string, after: ProviderRecord): Capability[] {
  return CAPABILITIES.filter((c) => {
    const chain = chains[c];
    const before = chain.some((l) => l.provider === id && usable(config, byId.get(id)));
    const still = chain.some((l) => usable(config, l.provider === id ? after : byId.get(l.provider)));
    return before && !still;
  });
}

function refuseOrphans(id: string, capabilities: Capability[], what: string) {
  if (capabilities.length === 0) return;
  const list = capabilities.join(", ");
  throw conflict(
    `${what} would leave the ${list} chain${capabilities.length > 1 ? "s" : ""} without a usable provider: "${id}" is the only enabled provider with a key there; add another link with PUT /api/v1/config/providers first`,
    { capability: capabilities[0], capabilities, provider: id },
  );
}

// ---- chains ----------------------------------------------------------------------------------

/**
 * PUT /config/providers: `<cap>_provider`/`<cap>_model` set the head of a capability's chain
 * (its other links are kept unless they equal the new head); `chains.<cap>` replaces the chain.
 * Every link named must be an enabled provider, with a key, offering that model for that
 * capability. Answers the new current configuration.
 */
export async function updateCurrent(db: Db, config: AdminConfig, userId: string | null, body: CurrentUpdate): Promise<CurrentConfig> {
  const input: Record<string, unknown> = { ...body };
  const errors: FieldError[] = [];
  // Seed 004's "assistant" is our text capability.
  for (const part of ["provider", "model"] as const) {
    const alias = input[`assistant_${part}`];
    if (alias === undefined) continue;
    if (input[`text_${part}`] !== undefined && input[`text_${part}`] !== alias) errors.push({ path: `/assistant_${part}`, message: `is an alias of text_${part}; give one of them` });
    input[`text_${part}`] = alias;
  }
  const explicit = (input.chains ?? {}) as Partial<Record<Capability, unknown>>;
  if (typeof explicit !== "object" || Array.isArray(explicit)) errors.push({ path: "/chains", message: "must be an object of capability → chain" });
  for (const key of Object.keys(explicit)) {
    if (!(CAPABILITIES as string[]).includes(key)) errors.push({ path: `/chains/${key}`, message: `unknown capability; use ${CAPABILITIES.join(", ")}` });
  }

  return db.transaction().execute(async (trx) => {
    await lock(trx);
    const [chains, rows] = await Promise.all([loadChains(trx, config), listProviders(trx)]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const changed = new Map<Capability, ChainLink[]>();

    for (const c of CAPABILITIES) {
      const provider = input[`${c}_provider`] as string | undefined;
      const model = input[`${c}_model`] as string | undefined;
      const chain = explicit[c];
      if (chain !== undefined && (provider !== undefined || model !== undefined)) {
        errors.push({ path: `/${c}_provider`, message: `give either chains.${c} or ${c}_provider/${c}_model, not both` });
        continue;
      }
      if (chain !== undefined) {
        if (!Array.isArray(chain) || chain.length < LIMITS.chain.min || chain.length > LIMITS.chain.max) {
          errors.push({ path: `/chains/${c}`, message: `must list ${LIMITS.chain.min} to ${LIMITS.chain.max} links of {provider, model}` });
          continue;
        }
        const links: ChainLink[] = [];
        chain.forEach((raw: unknown, i: number) => {
          const link = (raw && typeof raw === "object" ? raw : {}) as Partial<ChainLink>;
          const at = { provider: `/chains/${c}/${i}/provider`, model: `/chains/${c}/${i}/model` };
          const error = linkError(config, byId, c, link, at);
          if (error) return void errors.push(error);
          const first = links.findIndex((l) => l.provider === link.provider && l.model === link.model);
          if (first >= 0) return void errors.push({ path: `/chains/${c}/${i}`, message: `repeats link ${first} (${link.provider} ${link.model})` });
          links.push({ provider: link.provider!, model: link.model! });
        });
        changed.set(c, links);
      } else if (provider !== undefined || model !== undefined) {
        const old = chains[c].length ? chains[c] : envChain(config, c);
        const headProvider = provider ?? old[0]!.provider;
        const row = byId.get(headProvider);
        const headModel = model ?? (headProvider === old[0]!.provider ? old[0]!.model : row ? defaultModel(config, row, c) : undefined) ?? "";
        const head = { provider: headProvider, model: headModel };
        const error = linkError(config, byId, c, head, { provider: `/${c}_provider`, model: `/${c}_model` });
        if (error) {
          errors.push(error);
          continue;
        }
        changed.set(c, [head, ...old.slice(1).filter((l) => l.provider !== head.provider || l.model !== head.model)].slice(0, LIMITS.chain.max));
      }
    }
    if (errors.length) throw invalid(errors);
    if (changed.size === 0) throw validation([{ path: "/", message: "name at least one capability's provider, model or chain" }], "nothing to change");

    for (const [capability, chain] of changed) {
      await trx
        .insertInto("provider_chains")
        .values({ capability, chain: JSON.stringify(chain), updated_by: userId, updated_at: sql<Date>`now()` })
        .onConflict((oc) => oc.column("capability").doUpdateSet({ chain: JSON.stringify(chain), updated_by: userId, updated_at: sql<Date>`now()` }))
        .execute();
      chains[capability] = chain;
    }
    return currentOf(config, chains);
  });
}

// ---- providers -------------------------------------------------------------------------------

/** An id from a provider's name: `custom-` + ASCII slug; names with no ASCII letters get a random one. */
export function slugId(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  const base = !slug ? `custom-${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}` : slug === "custom" || slug.startsWith("custom-") ? slug : `custom-${slug}`;
  // Room for a "-NNN" suffix within the 63 characters the table allows.
  return base.slice(0, 56).replace(/-+$/, "");
}

function customCapability(type: unknown, errors: FieldError[]): Capability | null {
  const capability = type === "assistant" ? "text" : type;
  if ((CUSTOM_CAPABILITIES as unknown[]).includes(capability)) return capability as Capability;
  if ((CAPABILITIES as unknown[]).includes(capability)) {
    errors.push({ path: "/type", message: `custom OpenAI-compatible providers serve text and image only; ${capability} comes from the built-in providers` });
  } else {
    errors.push({ path: "/type", message: "must be text, image or assistant" });
  }
  return null;
}

/**
 * POST /config/providers/custom and POST /admin/providers: a custom OpenAI-compatible endpoint
 * for one capability. The URL passes the SSRF check (unless private URLs are allowed) and the key
 * is sealed at rest.
 */
export async function createCustom(db: Db, config: AdminConfig, userId: string | null, body: CustomProviderInput, options: UrlCheckOptions = {}): Promise<ProviderView> {
  const errors: FieldError[] = [];
  const capability = customCapability(body.type, errors);
  const name = cleanName(body.name, errors);
  const key = cleanKey(body.api_key, errors);
  const modelsRaw = body.models ?? body.config?.models;
  let models: string[] | null = null;
  if (modelsRaw === undefined) errors.push({ path: "/models", message: "name at least one model the endpoint serves" });
  else models = cleanModels(modelsRaw, body.models !== undefined ? "/models" : "/config/models", errors);
  const settings: Record<string, unknown> = {};
  const cfg = body.config ?? {};
  if (cfg.concurrency !== undefined) {
    checkInt(cfg.concurrency, LIMITS.concurrency, "/config/concurrency", errors);
    settings.concurrency = cfg.concurrency;
  }
  if (cfg.rate_per_minute !== undefined) {
    checkInt(cfg.rate_per_minute, LIMITS.rate_per_minute, "/config/rate_per_minute", errors);
    settings.rate_per_minute = cfg.rate_per_minute;
  }
  if (cfg.prices !== undefined) settings.prices = checkPrices(cfg.prices, models ?? [], "/config/prices", errors);
  let baseUrl: string | null = null;
  if (typeof body.api_url === "string") baseUrl = await checkUrl(config, body.api_url, "api_url", errors, options);
  else errors.push({ path: "/api_url", message: "is required" });
  if (errors.length || !capability || !models || !baseUrl) throw invalid(errors);

  const sealed = await seal(config, key);
  const base = slugId(name);
  for (let attempt = 0; attempt < 5; attempt++) {
    const taken = new Set(
      (await db.selectFrom("providers").select("id").where((eb) => eb.or([eb("id", "=", base), eb("id", "like", `${base}-%`)])).execute()).map((r) => r.id),
    );
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    const row = await db
      .insertInto("providers")
      .values({
        id,
        name,
        kind: "openai_compatible",
        builtin: false,
        enabled: true,
        base_url: baseUrl,
        api_key_enc: sealed,
        models: JSON.stringify({ [capability]: models }),
        config: JSON.stringify(settings),
        created_by: userId,
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row) return providerView(config, row as unknown as ProviderRow);
  }
  throw conflict("could not find a free id for this provider; try another name");
}

/**
 * PATCH /admin/providers/:id. Custom providers: name, api_url, api_key, models, config. Built-in
 * ones: base_url (or api_url), api_key, config. A change that would leave a capability's chain
 * without a usable provider, or drop a model a chain uses, is a CONFLICT.
 */
export async function updateProvider(db: Db, config: AdminConfig, id: string, patch: ProviderPatch, options: UrlCheckOptions = {}): Promise<ProviderView> {
  const existing = await getProvider(db, id);
  if (!existing) throw notFound("provider");
  const errors: FieldError[] = [];
  const set: Record<string, unknown> = {};
  const custom = !existing.builtin;

  if (patch.name !== undefined) {
    if (custom) set.name = cleanName(patch.name, errors);
    else errors.push({ path: "/name", message: "built-in providers keep their names" });
  }
  if (patch.api_url !== undefined && patch.base_url !== undefined) errors.push({ path: "/base_url", message: "give api_url or base_url, not both" });
  const urlField = patch.api_url !== undefined ? "api_url" : "base_url";
  const url = patch.api_url !== undefined ? patch.api_url : patch.base_url;
  if (url !== undefined) {
    if (existing.kind === "local") errors.push({ path: `/${urlField}`, message: "the local provider has no URL" });
    else if (url === null) {
      if (custom) errors.push({ path: `/${urlField}`, message: "a custom provider needs its URL" });
      else set.base_url = null;
    } else if (typeof url === "string") {
      const checked = await checkUrl(config, url, urlField, errors, options);
      if (checked) set.base_url = checked;
    } else errors.push({ path: `/${urlField}`, message: "must be a URL or null" });
  }
  if (patch.api_key !== undefined) {
    if (existing.kind === "local") errors.push({ path: "/api_key", message: "the local provider needs no key" });
    else if (patch.api_key === null) set.api_key_enc = null;
    else {
      const key = cleanKey(patch.api_key, errors);
      if (key) set.api_key_enc = await seal(config, key);
    }
  }
  let models: Partial<Record<Capability, string[]>> = existing.models;
  if (patch.models !== undefined) {
    if (!custom) errors.push({ path: "/models", message: "built-in providers' model lists are fixed" });
    else {
      const list = cleanModels(patch.models, "/models", errors);
      const capability = capabilitiesOf(existing)[0] ?? "text";
      if (list) models = { [capability]: list };
    }
  }
  const offeredNow = [...new Set(CAPABILITIES.flatMap((c) => offered({ models }, c)))];
  const settingsPatch: Record<string, unknown> = {};
  if (patch.config !== undefined) {
    const cfg = patch.config ?? {};
    if (typeof cfg !== "object" || Array.isArray(cfg)) errors.push({ path: "/config", message: "must be an object" });
    if (cfg.concurrency !== undefined) {
      if (cfg.concurrency !== null) checkInt(cfg.concurrency, LIMITS.concurrency, "/config/concurrency", errors);
      settingsPatch.concurrency = cfg.concurrency;
    }
    if (cfg.rate_per_minute !== undefined) {
      if (cfg.rate_per_minute !== null) checkInt(cfg.rate_per_minute, LIMITS.rate_per_minute, "/config/rate_per_minute", errors);
      settingsPatch.rate_per_minute = cfg.rate_per_minute;
    }
    if (cfg.prices !== undefined) settingsPatch.prices = cfg.prices === null ? null : checkPrices(cfg.prices, offeredNow, "/config/prices", errors);
  }
  if (errors.length) throw invalid(errors);
  if (Object.keys(set).length === 0 && patch.models === undefined && Object.keys(settingsPatch).length === 0) {
    throw validation([{ path: "/", message: "name at least one field to change" }], "nothing to change");
  }

  return db.transaction().execute(async (trx) => {
    await lock(trx);
    const row = await getProvider(trx, id);
    if (!row) throw notFound("provider");
    const [chains, rows] = await Promise.all([loadChains(trx, config), listProviders(trx)]);
    const byId = new Map(rows.map((r) => [r.id, r]));

    if (patch.models !== undefined) {
      for (const c of CAPABILITIES) {
        const dropped = chains[c].find((l) => l.provider === id && !offered({ models }, c).includes(l.model));
        if (dropped) throw conflict(`model "${dropped.model}" is in the ${c} chain; change the chain with PUT /api/v1/config/providers first`, { capability: c, provider: id, model: dropped.model });
      }
      set.models = JSON.stringify(models);
    }
    if ("api_key_enc" in set) refuseOrphans(id, orphanedCapabilities(config, chains, byId, id, { ...row, api_key_enc: set.api_key_enc as string | null }), "clearing this key");
    if (Object.keys(settingsPatch).length || patch.models !== undefined) {
      const next: Record<string, unknown> = { ...row.config };
      for (const [k, v] of Object.entries(settingsPatch)) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      // Prices of models the provider no longer offers go with them.
      if (patch.models !== undefined && next.prices) next.prices = Object.fromEntries(Object.entries(pricesOf(next.prices)).filter(([m]) => offeredNow.includes(m)));
      set.config = JSON.stringify(next);
    }
    const updated = await trx
      .updateTable("providers")
      .set({ ...set, updated_at: sql<Date>`now()` })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return providerView(config, updated as unknown as ProviderRow);
  });
}

/**
 * POST /admin/providers/:id/enable|disable. The built-in local provider (the offline fallback)
 * stays enabled, and so does a provider that is the only usable link of a capability's chain.
 */
export async function setEnabled(db: Db, config: AdminConfig, id: string, enabled: boolean): Promise<ProviderView> {
  return db.transaction().execute(async (trx) => {
    await lock(trx);
    const row = await getProvider(trx, id);
    if (!row) throw notFound("provider");
    if (!enabled) {
      if (row.kind === "local" && row.builtin) {
        throw conflict("the built-in local provider cannot be disabled: it is the offline fallback of every capability", { provider: id, capabilities: CAPABILITIES });
      }
      const [chains, rows] = await Promise.all([loadChains(trx, config), listProviders(trx)]);
      refuseOrphans(id, orphanedCapabilities(config, chains, new Map(rows.map((r) => [r.id, r])), id, { ...row, enabled: false }), "disabling this provider");
    }
    const updated = await trx
      .updateTable("providers")
      .set({ enabled, updated_at: sql<Date>`now()` })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return providerView(config, updated as unknown as ProviderRow);
  });
}
