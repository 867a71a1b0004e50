// A schema-driven fuzz of every operation in the served /openapi.json: malformed JSON, wrong types
// for each field, missing required fields, huge and unicode strings, NUL bytes, hostile path ids
// and query strings, with a token, without one and with a forged one. Every answer must be below
// 500 and every failure must be the envelope with a code. The operations come from the document,
// so a route added tomorrow is fuzzed tomorrow.
import { describe, expect, test } from "bun:test";
import { createTestContext } from "./support/context.ts";
import { SHORT_STORY } from "./support/pipeline.ts";

const ctx = await createTestContext({ BODY_LIMIT_BYTES: "262144" });

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  format?: string;
  minLength?: number;
  minimum?: number;
  minItems?: number;
  default?: unknown;
};
interface Parameter {
  in: "path" | "query" | "header";
  name: string;
  schema?: Schema;
}
interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body: Schema | null;
}

const HOSTILE_IDS = [
  "not-a-uuid",
  "00000000-0000-0000-0000-000000000000",
  "..%2F..%2F..%2Fetc%2Fpasswd",
  "%00",
  "%F0%9F%98%80",
  "1%20OR%201%3D1",
  "x".repeat(3000),
  "%E2%80%AE%E2%80%8B",
];
const HOSTILE_QUERY = ["abc", "-1", "0", "1e309", "99999999999999999999", "%00", "", "%FF%FE", "[object Object]"];
const HUGE = "字".repeat(20_000);
const UNICODE = "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 \u202e\u200b עברית";
const NUL = "a\u0000b";

function typeOf(s: Schema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null");
  if (s.type) return s.type;
  const first = s.anyOf?.[0] ?? s.oneOf?.[0];
  return first ? typeOf(first) : undefined;
}

/** A value the schema accepts, as far as a generator without a validator can tell. */
function sample(s: Schema, depth = 0): unknown {
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const alt = s.anyOf?.[0] ?? s.oneOf?.[0];
  if (alt && !s.type) return sample(alt, depth);
  switch (typeOf(s)) {
    case "object": {
      const out: Record<string, unknown> = {};
      if (depth < 4) for (const k of s.required ?? []) out[k] = sample(s.properties?.[k] ?? {}, depth + 1);
      return out;
    }
    case "array":
      return Array.from({ length: s.minItems ?? 0 }, () => sample(s.items ?? {}, depth + 1));
    case "string":
      if (s.format === "uuid") return crypto.randomUUID();
      if (s.format === "email") return `fuzz-${crypto.randomUUID().slice(0, 8)}@example.com`;
      return "f".repeat(Math.max(1, s.minLength ?? 1));
    case "integer":
    case "number":
      return s.minimum ?? 1;
    case "boolean":
      return true;
    default:
      return "x";
  }
}

/** Values of the wrong kind for a field of this schema, plus the hostile strings every field gets. */
function wrongValues(s: Schema): unknown[] {
  const kind = typeOf(s);
  const wrong: unknown[] = [null, HUGE, UNICODE, NUL, { nested: { deeper: [1, { x: NUL }] } }];
  if (kind !== "number" && kind !== "integer") wrong.push(12345, -1.5);
  if (kind === "number" || kind === "integer") wrong.push("12", 1e308, -1e308, 0.5);
  if (kind !== "boolean") wrong.push(true);
  if (kind !== "array") wrong.push([1, "two", null]);
  if (kind === "array")
    wrong.push(
      { 0: "a" },
      Array.from({ length: 5000 }, () => "x"),
    );
  return wrong;
}

interface Variant {
  label: string;
  path: string;
  query?: string;
  body?: string;
  contentType?: string;
  token?: string;
}

function fillPath(template: string, values: Record<string, string>, fallback: string): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? fallback).replace("/*", "/x/y.png");
}

function variantsOf(op: Operation, realIds: Record<string, string>): Variant[] {
  const pathOf = (fallback: string) => fillPath(op.path, realIds, fallback);
  const base = pathOf(crypto.randomUUID());
  const good = op.body ? sample(op.body) : undefined;
  const out: Variant[] = [];
  if (op.path.includes("{") || op.path.endsWith("*"))
    for (const id of HOSTILE_IDS) out.push({ label: `path ${id.slice(0, 20)}`, path: fillPath(op.path, {}, id) });
  for (const p of op.parameters.filter((p) => p.in === "query"))
    for (const v of HOSTILE_QUERY) out.push({ label: `query ${p.name}=${v}`, path: base, query: `${p.name}=${v}` });
  out.push({ label: "unknown and repeated query", path: base, query: "zzz=1&page=1&page=2&__proto__=x" });
  for (const p of op.parameters.filter((p) => p.in === "header"))
    out.push({ label: `header ${p.name}`, path: base, query: undefined, contentType: undefined });
  if (op.body) {
    const json = "application/json";
    out.push({ label: "malformed JSON", path: base, body: '{"a": [1, ', contentType: json });
    out.push({ label: "JSON with a NUL", path: base, body: '{"a": "\u0000"}', contentType: json });
    for (const whole of ["null", "[]", '"text"', "12", "{}", "true"])
      out.push({ label: `body ${whole}`, path: base, body: whole, contentType: json });
    out.push({ label: "body as form", path: base, body: "a=1&b=2", contentType: "application/x-www-form-urlencoded" });
    out.push({ label: "body as text", path: base, body: "plain text", contentType: "text/plain" });
    out.push({ label: "body over the limit", path: base, body: `{"a":"${"x".repeat(300_000)}"}`, contentType: json });
    out.push({ label: "valid sample", path: base, body: JSON.stringify(good), contentType: json });
    if (good && typeof good === "object" && !Array.isArray(good)) {
      const props = op.body.properties ?? {};
      for (const [name, schema] of Object.entries(props)) {
        for (const bad of wrongValues(schema))
          out.push({
            label: `field ${name}=${JSON.stringify(bad)?.slice(0, 30)}`,
            path: base,
            body: JSON.stringify({ ...good, [name]: bad }),
            contentType: json,
          });
        const nested = schema.properties ?? {};
        for (const [inner, innerSchema] of Object.entries(nested))
          for (const bad of wrongValues(innerSchema).slice(0, 4))
            out.push({
              label: `field ${name}.${inner}=${JSON.stringify(bad)?.slice(0, 30)}`,
              path: base,
              body: JSON.stringify({ ...good, [name]: { ...(sample(schema) as object), [inner]: bad } }),
              contentType: json,
            });
        if ((op.body.required ?? []).includes(name)) {
          const { [name]: _, ...rest } = good as Record<string, unknown>;
          out.push({ label: `missing ${name}`, path: base, body: JSON.stringify(rest), contentType: json });
        }
      }
    }
  }
  return out;
}

function operationsOf(doc: { paths: Record<string, Record<string, unknown>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, raw] of Object.entries(item)) {
      const op = raw as { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: Schema }> } };
      ops.push({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        body: op.requestBody?.content?.["application/json"]?.schema ?? null,
      });
    }
  // Logging out ends the fuzzing session: last.
  return ops.sort((a, b) => Number(a.path.endsWith("/logout")) - Number(b.path.endsWith("/logout")));
}

interface Finding {
  op: string;
  variant: string;
  status: number;
  body: string;
}

async function send(op: Operation, v: Variant, token: string | undefined): Promise<Finding | null> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (v.contentType) headers["content-type"] = v.contentType;
  for (const p of op.parameters.filter((p) => p.in === "header")) headers[p.name] = "\u00ff garbage ☃".slice(0, 2);
  const url = `http://localhost${v.path}${v.query !== undefined ? `?${v.query}` : ""}`;
  let res: Response;
  try {
    res = await ctx.app.handle(new Request(url, { method: op.method, headers, body: v.body }));
  } catch (e) {
    return { op: `${op.method} ${op.path}`, variant: v.label, status: -1, body: String(e) };
  }
  const text = await res.text();
  const problem = (why: string): Finding => ({
    op: `${op.method} ${op.path}`,
    variant: `${v.label} [${token ? "token" : "no token"}]`,
    status: res.status,
    body: `${why}: ${text.slice(0, 300)}`,
  });
  if (res.status >= 500) return problem("5xx");
  if (res.status >= 400) {
    let json: { success?: unknown; data?: unknown; message?: unknown; error?: { code?: unknown } };
    try {
      json = JSON.parse(text);
    } catch {
      return problem("not JSON");
    }
    if (json.success !== false || json.data !== null || typeof json.message !== "string")
      return problem("not the failure envelope");
    if (typeof json.error?.code !== "string" || !json.error.code) return problem("no error code");
  }
  return null;
}

describe("fuzzing every operation of /openapi.json", () => {
  test("no input a client can send gets a 5xx, and every failure is the envelope with a code", async () => {
    const admin = await ctx.register("fuzz_admin");
    await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
    const project = await ctx.call("POST", "/api/v1/projects", {
      token: admin.token,
      body: { input: { type: "novel", text: SHORT_STORY } },
    });
    expect(project.status).toBe(201);
    const doc = (await ctx.call("GET", "/openapi.json")).json as { paths: Record<string, Record<string, unknown>> };
    const ops = operationsOf(doc);
    expect(ops.length).toBeGreaterThan(50);

    const findings: Finding[] = [];
    let sent = 0;
    for (const op of ops) {
      // Half the time the project's real id, so validation past the existence check is reached too.
      const real: Record<string, string> = op.path.startsWith("/api/v1/projects/{id}")
        ? { id: project.json.data.id as string }
        : {};
      for (const v of [...variantsOf(op, {}), ...variantsOf(op, real)]) {
        const f = await send(op, v, admin.token);
        sent++;
        if (f) findings.push(f);
      }
      const plain: Variant = { label: "valid sample", path: fillPath(op.path, real, crypto.randomUUID()) };
      if (op.body) Object.assign(plain, { body: JSON.stringify(sample(op.body)), contentType: "application/json" });
      for (const token of [undefined, "abc.def.ghi", `${admin.token.slice(0, -4)}AAAA`]) {
        const f = await send(op, plain, token);
        sent++;
        if (f) findings.push(f);
      }
    }
    expect(sent).toBeGreaterThan(2000);
    expect(findings).toEqual([]);
  });
});
