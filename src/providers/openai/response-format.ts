/**
 * The format of a structured request: OpenAI's strict json_schema (Structured Outputs) built
 * from the TypeBox schema, or plain JSON mode with the schema in the system message for
 * OpenAI-compatible endpoints that lack json_schema (DeepSeek). Chat Completions nests it as
 * `response_format`, the Responses API takes it flat as `text.format`.
 */
import type { TSchema } from "@sinclair/typebox";
import type { JSONSchema } from "openai/lib/jsonschema";
import { toStrictJsonSchema } from "openai/lib/transform";

export type StructuredMode = "json_schema" | "json_object";

/** The format's name: the schema's `$id` with what OpenAI does not allow (`[a-zA-Z0-9_-]{1,64}`) replaced. */
export function schemaName(schema: TSchema): string {
  const id = typeof schema.$id === "string" && schema.$id ? schema.$id : "answer";
  return id.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64);
}

const cache = new WeakMap<TSchema, Record<string, unknown>>();

/**
 * The schema as JSON, checked (and if need be closed) by the SDK's strict-mode normaliser. The
 * story schemas are already strict (closed objects, every key required), so they go out as is,
 * `$id` included. Throws when a schema cannot be expressed in strict mode.
 */
export function wireSchema(schema: TSchema): Record<string, unknown> {
  let out = cache.get(schema);
  if (!out) {
    out = toStrictJsonSchema(JSON.parse(JSON.stringify(schema)) as JSONSchema) as Record<string, unknown>;
    cache.set(schema, out);
  }
  return out;
}

/** The structured format, flat: the Responses API's `text.format` as is. */
export type TextFormat =
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: Record<string, unknown>; strict: true };

export function textFormat(schema: TSchema, mode: StructuredMode): TextFormat {
  if (mode === "json_object") return { type: "json_object" };
  return { type: "json_schema", name: schemaName(schema), schema: wireSchema(schema), strict: true };
}

/** The same format as Chat Completions' `response_format` (the schema nested under `json_schema`). */
export function chatResponseFormat(format: TextFormat) {
  if (format.type === "json_object") return { type: "json_object" as const };
  return {
    type: "json_schema" as const,
    json_schema: { name: format.name, strict: format.strict, schema: format.schema },
  };
}

export function responseFormat(schema: TSchema, mode: StructuredMode) {
  return chatResponseFormat(textFormat(schema, mode));
}

/** What JSON mode adds to the system message (strict mode carries the schema in `response_format`). */
export function schemaInstructions(schema: TSchema, mode: StructuredMode): string {
  if (mode === "json_schema") return "";
  return `\n\nAnswer with one JSON object, and nothing else, that matches this JSON schema:\n${JSON.stringify(wireSchema(schema))}`;
}
