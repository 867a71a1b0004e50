// Changing a provider: its settings, key, URL and models (PATCH), and enabling or disabling it.
import { sql } from "kysely";
import { CAPABILITIES, type Capability } from "../../core/capabilities.ts";
import { conflict, type FieldError, notFound, validation } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import { getProvider } from "../settings.ts";
import { loadRegistry, lock, orphanedCapabilities, refuseOrphans } from "./chains.ts";
import { checkUrl, cleanKey, cleanModels, cleanName, cleanSettings, invalid, seal } from "./settings-input.ts";
import type { AdminConfig, ProviderPatch, ProviderView, UrlCheckOptions } from "./types.ts";
import { capabilitiesOf, offered, pricesOf, providerView } from "./views.ts";

/** Writes the changed columns of a provider (and its updated_at), answering its new view. */
async function save(trx: Db, config: AdminConfig, id: string, set: Record<string, unknown>): Promise<ProviderView> {
  const updated = await trx
    .updateTable("providers")
    .set({ ...set, updated_at: sql<Date>`now()` })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return providerView(config, updated);
}

/**
 * PATCH /admin/providers/:id. Custom providers: name, api_url, api_key, models, config. Built-in
 * ones: base_url (or api_url), api_key, config. A change that would leave a capability's chain
 * without a usable provider, or drop a model a chain uses, is a CONFLICT.
 */
export async function updateProvider(
  db: Db,
  config: AdminConfig,
  id: string,
  patch: ProviderPatch,
  options: UrlCheckOptions = {},
): Promise<ProviderView> {
  const existing = await getProvider(db, id);
  if (!existing) throw notFound("provider");
  const errors: FieldError[] = [];
  const set: Record<string, unknown> = {};
  const custom = !existing.builtin;

  if (patch.name !== undefined) {
    if (custom) set.name = cleanName(patch.name, errors);
    else errors.push({ path: "/name", message: "built-in providers keep their names" });
  }
  if (patch.api_url !== undefined && patch.base_url !== undefined)
    errors.push({ path: "/base_url", message: "give api_url or base_url, not both" });
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
    else if (existing.kind === "comfyui")
      errors.push({ path: "/models", message: "a ComfyUI provider's models are its workflows; upload one instead" });
    else {
      const list = cleanModels(patch.models, "/models", errors);
      const capability = capabilitiesOf(existing)[0] ?? "text";
      if (list) models = { [capability]: list };
    }
  }
  const offeredNow = [...new Set(CAPABILITIES.flatMap((c) => offered({ models }, c)))];
  let settingsPatch: Record<string, unknown> = {};
  if (patch.config !== undefined) {
    const cfg = patch.config ?? {};
    if (typeof cfg !== "object" || Array.isArray(cfg)) errors.push({ path: "/config", message: "must be an object" });
    settingsPatch = cleanSettings(cfg, offeredNow, errors, true);
  }
  if (errors.length) throw invalid(errors);
  if (Object.keys(set).length === 0 && patch.models === undefined && Object.keys(settingsPatch).length === 0) {
    throw validation([{ path: "/", message: "name at least one field to change" }], "nothing to change");
  }

  return db.transaction().execute(async (trx) => {
    await lock(trx);
    const row = await getProvider(trx, id);
    if (!row) throw notFound("provider");
    const { chains, byId } = await loadRegistry(trx, config);

    if (patch.models !== undefined) {
      for (const c of CAPABILITIES) {
        const dropped = chains[c].find((l) => l.provider === id && !offered({ models }, c).includes(l.model));
        if (dropped)
          throw conflict(
            `model "${dropped.model}" is in the ${c} chain; change the chain with PUT /api/v1/config/providers first`,
            { capability: c, provider: id, model: dropped.model },
          );
      }
      set.models = JSON.stringify(models);
    }
    if ("api_key_enc" in set)
      refuseOrphans(
        id,
        orphanedCapabilities(config, chains, byId, id, { ...row, api_key_enc: set.api_key_enc as string | null }),
        "clearing this key",
      );
    if (Object.keys(settingsPatch).length || patch.models !== undefined) {
      const next: Record<string, unknown> = { ...row.config };
      for (const [k, v] of Object.entries(settingsPatch)) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      // Prices of models the provider no longer offers go with them.
      if (patch.models !== undefined && next.prices)
        next.prices = Object.fromEntries(Object.entries(pricesOf(next.prices)).filter(([m]) => offeredNow.includes(m)));
      set.config = JSON.stringify(next);
    }
    return save(trx, config, id, set);
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
        throw conflict(
          "the built-in local provider cannot be disabled: it is the offline fallback of every capability",
          { provider: id, capabilities: CAPABILITIES },
        );
      }
      const { chains, byId } = await loadRegistry(trx, config);
      refuseOrphans(
        id,
        orphanedCapabilities(config, chains, byId, id, { ...row, enabled: false }),
        "disabling this provider",
      );
    }
    return save(trx, config, id, { enabled });
  });
}
