// The app's routes as tests read them (method, path, the markers the auth guard puts in their
// docs, their schemas), and requests made from those schemas, so that a suite generated from the
// table covers a route the day it is added.
import { Kind, OptionalKind, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { SpaceRole } from "../../src/db/types.ts";
import { SHORT_STORY } from "./pipeline.ts";

export interface Route {
  method: string;
  path: string;
  /** The lowest role in the resource's space the route needs, if it acts in a space. */
  role: SpaceRole | null;
  admin: boolean;
  body?: TSchema;
  params?: TSchema;
}

interface App {
  routes: Array<{ method: string; path: string; hooks: unknown }>;
  handle(r: Request): Promise<Response>;
}

export const key = (r: Pick<Route, "method" | "path">) => `${r.method} ${r.path}`;

/** Every HTTP route of the app (no WebSocket, HEAD or OPTIONS). */
export function routeTable(app: App): Route[] {
  return app.routes
    .filter((r) => !["WS", "HEAD", "OPTIONS"].includes(r.method))
    .map((r) => {
      const hooks = r.hooks as { detail?: Record<string, unknown>; body?: TSchema; params?: TSchema };
      return {
        method: r.method,
        path: r.path,
        role: (hooks.detail?.["x-space-role"] as SpaceRole | undefined) ?? null,
        admin: hooks.detail?.["x-admin"] === true,
        body: hooks.body,
        params: hooks.params,
      };
    });
}

const STRING_CANDIDATES = ["c1", "local", "en", "#336699", "abc"];

function sampleString(s: TSchema): string {
  if (s.format === "uuid") return crypto.randomUUID();
  if (s.format === "uri") return "https://example.com/logo.png";
  if (s.format === "date-time") return new Date().toISOString();
  if (s.format === "email") return "someone@example.com";
  const fits = (v: string) =>
    v.length >= (s.minLength ?? 0) && v.length <= (s.maxLength ?? Infinity) && new RegExp(s.pattern ?? "").test(v);
  const found = ["a".repeat(Math.max(1, s.minLength ?? 0)), ...STRING_CANDIDATES].find(fits);
  if (found === undefined) throw new Error(`no sample string for ${JSON.stringify(s)}; add one to STRING_CANDIDATES`);
  return found;
}

/**
 * The least a schema accepts (its first example when it has a valid one): required fields only
 * (plus optional ones up to `minProperties`), the first member of a union, the lowest number.
 */
export function sample(s: TSchema): unknown {
  const example = (s.examples as unknown[] | undefined)?.[0];
  if (example !== undefined && Value.Check(s, example)) return example;
  switch (s[Kind]) {
    case "Object": {
      const names = Object.keys(s.properties ?? {});
      const required: string[] = s.required ?? [];
      const optional = names.filter((n) => !required.includes(n));
      const chosen = [...required, ...optional.slice(0, Math.max(0, (s.minProperties ?? 0) - required.length))];
      return Object.fromEntries(chosen.map((n) => [n, sample(s.properties[n])]));
    }
    case "Union":
      return sample(s.anyOf[0]);
    case "Literal":
      return s.const;
    case "Boolean":
      return true;
    case "Null":
      return null;
    case "Number":
    case "Integer": {
      const low = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 0);
      const n = Math.min(low, s.maximum ?? low);
      return s[Kind] === "Integer" ? Math.ceil(n) : n;
    }
    case "Array":
      return Array.from({ length: s.minItems ?? 0 }, () => sample(s.items));
    case "String":
      return sampleString(s);
    case "File":
      return new File([SHORT_STORY], "story.txt", { type: "text/plain" });
    default:
      throw new Error(`no sample for a ${String(s[Kind])} schema; teach sample() this kind`);
  }
}

/** A body the route's schema accepts (none when the body is optional), as JSON or multipart. */
export function bodyFor(r: Route): unknown {
  if (!r.body || r.body[OptionalKind] === "Optional") return undefined;
  const value = sample(r.body) as Record<string, unknown>;
  const hasFile = Object.values(value).some((v) => v instanceof File);
  if (!hasFile) {
    if (!Value.Check(r.body, value)) throw new Error(`${key(r)}: the sample body ${JSON.stringify(value)} is invalid`);
    return value;
  }
  const form = new FormData();
  for (const [k, v] of Object.entries(value)) form.append(k, v instanceof File ? v : String(v));
  return form;
}

/** The names path parameters are filled by: `:id` by the noun before it, others by their own name. */
export function paramNames(path: string): string[] {
  const segments = path.split("/");
  return segments.flatMap((seg, i) => (seg.startsWith(":") ? [seg === ":id" ? segments[i - 1]! : seg.slice(1)] : []));
}

/** The route's path with its parameters filled from `ids` (or, with `fromSchema`, made up from the params schema). */
export function pathFor(r: Route, ids: Record<string, string>, fromSchema = false): string {
  const segments = r.path.split("/");
  return segments
    .map((seg, i) => {
      if (!seg.startsWith(":")) return seg;
      const name = seg === ":id" ? segments[i - 1]! : seg.slice(1);
      const id = ids[name] ?? (fromSchema ? String(sample(r.params!.properties[seg.slice(1)])) : undefined);
      if (id === undefined) throw new Error(`${key(r)}: no id for ${seg} (${name}); add one to the fixture`);
      return id;
    })
    .join("/");
}

/** Calls a route with its sample body; a response that is not JSON (an event stream) is read no further. */
export async function send(app: App, r: Route, path: string, token: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  const body = bodyFor(r);
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const abort = new AbortController();
  const res = await app.handle(
    new Request(`http://localhost${path}`, { method: r.method, headers, body: payload, signal: abort.signal }),
  );
  if (res.headers.get("content-type")?.includes("application/json"))
    return { status: res.status, json: (await res.json()) as unknown };
  abort.abort();
  await res.body?.cancel().catch(() => {});
  return { status: res.status, json: null as unknown };
}
