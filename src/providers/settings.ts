import { type Selectable, sql } from "kysely";
import type { Config } from "../config.ts";
import { CAPABILITIES, type Capability } from "../core/capabilities.ts";
import type { ChainLink } from "../core/provider-record.ts";
import type { Db } from "../db/client.ts";
import type { ProvidersTable } from "../db/types.ts";
import { BUILTIN_PROVIDERS, builtin } from "./catalog.ts";
import { refreshComfyModels } from "./comfyui/workflow-store.ts";

/** A provider as stored (the sealed key stays inside; `has_key` says whether one is usable). */
export type ProviderRecord = Selectable<ProvidersTable>;

/** The key of the environment for a built-in provider. */
export function envKey(config: Pick<Config, "cloud">, id: string): string | null {
  if (id === "openai") return config.cloud.openai.apiKey;
  if (id === "fal") return config.cloud.fal.key;
  if (id === "elevenlabs") return config.cloud.elevenlabs.apiKey;
  // ComfyUI needs no key: its server URL is what makes it usable ("" when there is no token).
  if (id === "comfyui") return config.cloud.comfyui.url ? (config.cloud.comfyui.apiKey ?? "") : null;
  return null;
}

/** Whether the provider can be called: local always, ComfyUI with a server URL, the others with a stored or an environment key. */
export function hasKey(
  config: Pick<Config, "cloud">,
  p: Pick<ProviderRecord, "id" | "kind" | "api_key_enc" | "base_url">,
): boolean {
  if (p.kind === "comfyui") return p.base_url !== null || (p.id === "comfyui" && config.cloud.comfyui.url !== null);
  return p.kind === "local" || p.api_key_enc !== null || envKey(config, p.id) !== null;
}

/** The default model of each capability for a built-in provider, from the environment. */
function envModel(config: Pick<Config, "cloud">, provider: string, capability: Capability): string {
  const c = config.cloud;
  if (provider === "openai")
    return capability === "text"
      ? c.openai.textModel
      : capability === "video"
        ? c.openai.videoModel
        : c.openai.imageModel;
  if (provider === "fal") return capability === "image" ? c.fal.imageModel : c.fal.videoModel;
  if (provider === "elevenlabs") return capability === "speech" ? c.elevenlabs.speechModel : c.elevenlabs.musicModel;
  if (provider === "comfyui") return builtin("comfyui")!.models[capability]?.[0] ?? "";
  return builtin("local")!.models[capability]![0]!;
}

/** The chain the environment asks for: TEXT_PROVIDER etc. with its model. */
export function envChain(config: Pick<Config, "providers" | "cloud">, capability: Capability): ChainLink[] {
  const provider = config.providers[capability] as string;
  return [{ provider, model: envModel(config, provider, capability) }];
}

/**
 * Makes sure every built-in provider has its row (name and model list refreshed, the admin's
 * enabled flag, key and settings kept). Run by every process at start; safe to run concurrently.
 */
export async function syncBuiltinProviders(db: Db): Promise<void> {
  for (const p of BUILTIN_PROVIDERS) {
    await db
      .insertInto("providers")
      .values({
        id: p.id,
        name: p.name,
        kind: p.kind,
        builtin: true,
        models: JSON.stringify(p.models),
        config: JSON.stringify(p.concurrency ? { concurrency: p.concurrency } : {}),
      })
      .onConflict((oc) =>
        oc.column("id").doUpdateSet({ name: p.name, kind: p.kind, builtin: true, models: JSON.stringify(p.models) }),
      )
      .execute();
  }
  // A ComfyUI provider's models are its workflows, uploaded ones included (the loop reset them).
  await refreshComfyModels(db);
}

export async function listProviders(db: Db): Promise<ProviderRecord[]> {
  const rows = await db
    .selectFrom("providers")
    .selectAll()
    .orderBy(sql`builtin desc`)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows;
}

export async function getProvider(db: Db, id: string): Promise<ProviderRecord | null> {
  const row = await db.selectFrom("providers").selectAll().where("id", "=", id).executeTakeFirst();
  return row ?? null;
}

/** Every capability's chain: the stored one, else the environment's. */
export async function loadChains(
  db: Db,
  config: Pick<Config, "providers" | "cloud">,
): Promise<Record<Capability, ChainLink[]>> {
  const rows = await db.selectFrom("provider_chains").select(["capability", "chain"]).execute();
  const stored = new Map(rows.map((r) => [r.capability, r.chain]));
  return Object.fromEntries(CAPABILITIES.map((c) => [c, stored.get(c) ?? envChain(config, c)])) as Record<
    Capability,
    ChainLink[]
  >;
}
