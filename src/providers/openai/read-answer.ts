/** Reading a model's structured answer: JSON first, then the schema, with problems a model can act on. */
import type { Static, TSchema } from "@sinclair/typebox";
import { SchemaViolation, validate } from "../../story/schemas.ts";

export type Answer<T> = { ok: true; data: T } | { ok: false; kind: "empty" | "json" | "schema"; problems: string[] };

/** Some OpenAI-compatible endpoints wrap JSON in a markdown fence even in JSON mode. */
const FENCE = /^\s*```(?:json)?\s*\n?([\s\S]*?)\n?\s*```\s*$/i;

export function readAnswer<S extends TSchema>(schema: S, content: string | null | undefined): Answer<Static<S>> {
  if (!content?.trim()) return { ok: false, kind: "empty", problems: ["the answer was empty"] };
  const text = FENCE.exec(content)?.[1] ?? content;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return {
      ok: false,
      kind: "json",
      problems: [`the answer is not valid JSON (${e instanceof Error ? e.message : String(e)})`],
    };
  }
  try {
    return { ok: true, data: validate(schema, value) };
  } catch (e) {
    if (!(e instanceof SchemaViolation)) throw e;
    return { ok: false, kind: "schema", problems: e.problems.map((p) => `${p.path || "/"}: ${p.message}`) };
  }
}

/** The user message that asks the model to repair its answer. */
export function repairRequest(answer: Exclude<Answer<unknown>, { ok: true }>): string {
  const list = answer.problems
    .slice(0, 12)
    .map((p) => `- ${p}`)
    .join("\n");
  switch (answer.kind) {
    case "empty":
      return "Your answer was empty. Reply with the complete JSON object that matches the schema.";
    case "json":
      return `Your answer could not be parsed:\n${list}\nReply with only the complete JSON object that matches the schema: no prose, no markdown.`;
    case "schema":
      return `Your answer does not match the schema:\n${list}\nFix these problems and reply with the complete corrected JSON object.`;
  }
}

export const SHORTER_REQUEST =
  "Your previous answer was cut off at the output limit and is incomplete. Answer again, more briefly " +
  "(shorter descriptions, summaries and narration; fewer, longer items where that is possible), so that the complete JSON object fits.";
