import { Type } from "@sinclair/typebox";
import { AppError } from "../core/errors.ts";
import type { TextModel } from "../providers/types.ts";

/** The one thing a rewrite answers: the field's new text (OpenAI strict structured output). */
export const TextRewriteSchema = Type.Object(
  { value: Type.String({ minLength: 1, maxLength: 4000 }) },
  { $id: "text_rewrite", additionalProperties: false },
);

export interface RewriteRequest {
  /** storyline, character, scene or shot, and its id (a character's name, a scene or shot id). */
  element: string;
  id?: string;
  field: string;
  current: string;
  instruction: string;
}

const SYSTEM =
  "You edit one field of a short-drama production package. Apply the instruction to the current text of that " +
  "field only and answer with its new text in the same language, nothing else.";

/**
 * One text field rewritten by the text model as the creator instructs: the model sees that field
 * alone (element, field, current text, instruction) and answers in a schema that holds only it.
 * The local analyser reads stories by rules and follows no free-form instruction: 422.
 */
export async function rewriteText(text: TextModel, r: RewriteRequest, signal?: AbortSignal): Promise<string> {
  if (text.provider === "local")
    throw new AppError(
      "UNPROCESSABLE",
      "the local text model cannot follow a free-form instruction: send `value` with the new text, or set a cloud text model",
      { provider: text.provider, model: text.modelId },
    );
  const prompt = JSON.stringify({
    element: r.element,
    ...(r.id ? { id: r.id } : {}),
    field: r.field,
    current: r.current,
    instruction: r.instruction,
  });
  const out = await text.generateObject({ schema: TextRewriteSchema, system: SYSTEM, prompt, signal });
  return out.data.value.trim();
}
