// Checks of what an admin sends about a provider (name, key, URL, models, settings), each
// collecting its complaints as field errors, and the limits they hold it to.
import { AppError, type FieldError, validation } from "../../core/errors.ts";
import { assertPublicUrl } from "../../net/ssrf.ts";
import type { Price } from "../pricing.ts";
import { secretBox, serverSecret } from "../secrets.ts";
import type { AdminConfig, ProviderPatch, UrlCheckOptions } from "./types.ts";

export const PRICE_FIELDS: (keyof Price)[] = [
  "per_image",
  "per_video_second",
  "per_audio_second",
  "input_per_mtok",
  "output_per_mtok",
];

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

/** A VALIDATION_ERROR whose message names the field when there is only one. */
export const invalid = (errors: FieldError[]) =>
  validation(
    errors,
    errors.length === 1
      ? `${errors[0]!.path.slice(1).replaceAll("/", ".")}: ${errors[0]!.message}`
      : "request validation failed",
  );

export function cleanName(raw: unknown, errors: FieldError[]): string {
  const name = typeof raw === "string" ? raw.trim() : "";
  if (!name || name.length > LIMITS.nameLength)
    errors.push({ path: "/name", message: `must be 1 to ${LIMITS.nameLength} characters` });
  return name;
}

export function cleanKey(raw: unknown, errors: FieldError[]): string {
  const key = typeof raw === "string" ? raw.trim() : "";
  if (!key || key.length > LIMITS.keyLength || /\s/.test(key))
    errors.push({ path: "/api_key", message: `must be 1 to ${LIMITS.keyLength} characters without spaces` });
  return key;
}

/** A checked key, sealed for the table. */
export const seal = async (config: AdminConfig, plain: string) => secretBox(await serverSecret(config)).seal(plain);

/** Runs the SSRF check, collecting its complaint as a field error. */
export async function checkUrl(
  config: AdminConfig,
  raw: string,
  field: string,
  errors: FieldError[],
  options: UrlCheckOptions,
): Promise<string | null> {
  try {
    return await assertPublicUrl(raw, { allowPrivate: config.allowPrivateProviderUrls, field, lookup: options.lookup });
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    errors.push(...((err.details.fields as FieldError[] | undefined) ?? [{ path: `/${field}`, message: err.message }]));
    return null;
  }
}

export function cleanModels(raw: unknown, path: string, errors: FieldError[]): string[] | null {
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
      if (!(PRICE_FIELDS as string[]).includes(field)) {
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

/**
 * The settings given (concurrency, rate per minute, prices of the provider's `models`), checked;
 * the fields not given are left out. With `clearable`, a null stays null: the field is to be removed.
 */
export function cleanSettings(
  cfg: NonNullable<ProviderPatch["config"]>,
  models: string[],
  errors: FieldError[],
  clearable: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of ["concurrency", "rate_per_minute"] as const) {
    const v = cfg[field];
    if (v === undefined) continue;
    if (!(clearable && v === null)) checkInt(v, LIMITS[field], `/config/${field}`, errors);
    out[field] = v;
  }
  if (cfg.prices !== undefined)
    out.prices = clearable && cfg.prices === null ? null : checkPrices(cfg.prices, models, "/config/prices", errors);
  return out;
}
