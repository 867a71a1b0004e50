// Custom OpenAI-compatible providers: creating one, and the id it gets from its name.

import { CAPABILITIES, type Capability } from "../../core/capabilities.ts";
import { conflict, type FieldError } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import { CUSTOM_CAPABILITIES } from "../catalog.ts";
import { checkUrl, cleanKey, cleanModels, cleanName, cleanSettings, invalid, seal } from "./settings-input.ts";
import type { AdminConfig, CustomProviderInput, ProviderView, UrlCheckOptions } from "./types.ts";
import { providerView } from "./views.ts";

/** An id from a provider's name: `custom-` + ASCII slug; names with no ASCII letters get a random one. */
export function slugId(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  const base = !slug
    ? `custom-${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`
    : slug === "custom" || slug.startsWith("custom-")
      ? slug
      : `custom-${slug}`;
  // Room for a "-NNN" suffix within the 63 characters the table allows.
  return base.slice(0, 56).replace(/-+$/, "");
}

function customCapability(type: unknown, errors: FieldError[]): Capability | null {
  const capability = type === "assistant" ? "text" : type;
  if ((CUSTOM_CAPABILITIES as unknown[]).includes(capability)) return capability as Capability;
  if ((CAPABILITIES as unknown[]).includes(capability)) {
    errors.push({
      path: "/type",
      message: `custom OpenAI-compatible providers serve text and image only; ${capability} comes from the built-in providers`,
    });
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
export async function createCustom(
  db: Db,
  config: AdminConfig,
  userId: string | null,
  body: CustomProviderInput,
  options: UrlCheckOptions = {},
): Promise<ProviderView> {
  const errors: FieldError[] = [];
  const capability = customCapability(body.type, errors);
  const name = cleanName(body.name, errors);
  const key = cleanKey(body.api_key, errors);
  const modelsRaw = body.models ?? body.config?.models;
  let models: string[] | null = null;
  if (modelsRaw === undefined) errors.push({ path: "/models", message: "name at least one model the endpoint serves" });
  else models = cleanModels(modelsRaw, body.models !== undefined ? "/models" : "/config/models", errors);
  const settings = cleanSettings(body.config ?? {}, models ?? [], errors, false);
  let baseUrl: string | null = null;
  if (typeof body.api_url === "string") baseUrl = await checkUrl(config, body.api_url, "api_url", errors, options);
  else errors.push({ path: "/api_url", message: "is required" });
  if (errors.length || !capability || !models || !baseUrl) throw invalid(errors);

  return insertProvider(db, config, {
    name,
    kind: "openai_compatible",
    baseUrl,
    sealed: await seal(config, key),
    models: { [capability]: models },
    settings,
    userId,
  });
}

/** A custom provider's row under a free id from its name (`custom-…`, then `-2`, `-3` …). */
export async function insertProvider(
  db: Db,
  config: AdminConfig,
  p: {
    name: string;
    kind: "openai_compatible" | "comfyui";
    baseUrl: string;
    sealed: string | null;
    models: Record<string, string[]>;
    settings: Record<string, unknown>;
    userId: string | null;
  },
): Promise<ProviderView> {
  const base = slugId(p.name);
  for (let attempt = 0; attempt < 5; attempt++) {
    const taken = new Set(
      (
        await db
          .selectFrom("providers")
          .select("id")
          .where((eb) => eb.or([eb("id", "=", base), eb("id", "like", `${base}-%`)]))
          .execute()
      ).map((r) => r.id),
    );
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    const row = await db
      .insertInto("providers")
      .values({
        id,
        name: p.name,
        kind: p.kind,
        builtin: false,
        enabled: true,
        base_url: p.baseUrl,
        api_key_enc: p.sealed,
        models: JSON.stringify(p.models),
        config: JSON.stringify(p.settings),
        created_by: p.userId,
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row) return providerView(config, row);
  }
  throw conflict("could not find a free id for this provider; try another name");
}
