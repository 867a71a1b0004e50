/**
 * The Responses API adapter (POST /responses), which OpenAI recommends for new work: the system
 * message goes as `instructions`, the turns as `input`, the structured format as `text.format`,
 * the output limit as `max_output_tokens`. The answer is the output message's `output_text`
 * parts, a refusal its `refusal` part; `status: "incomplete"` is a cut-off (reason
 * `max_output_tokens`) or a content-filter stop. Streamed text is the `response.output_text.delta`
 * events, the usage that of the final `response.completed` (or `response.incomplete`) event.
 *
 * Nothing is stored on OpenAI's side (`store: false`), as with Chat Completions; the Responses
 * API takes no seed.
 */
import type OpenAI from "openai";
import { streamFailure } from "./errors.ts";
import type { ApiSettings, StructuredReply, TextApi } from "./text-api.ts";

type Response = OpenAI.Responses.Response;

const usageOf = (u: OpenAI.Responses.ResponseUsage | null | undefined) => ({
  inputTokens: u?.input_tokens,
  outputTokens: u?.output_tokens,
});

/** A response's answer, refusal and stop, normalised. */
export function readResponse(response: Response): StructuredReply {
  const texts: string[] = [];
  const refusals: string[] = [];
  for (const item of response.output ?? []) {
    if (item.type !== "message") continue;
    for (const part of item.content ?? []) {
      if (part.type === "output_text") texts.push(part.text);
      else if (part.type === "refusal" && part.refusal) refusals.push(part.refusal);
    }
  }
  // `output_text` is the SDK's join of the output_text parts.
  const text = typeof response.output_text === "string" ? response.output_text : texts.join("");
  const incomplete = response.status === "incomplete";
  const reason = response.incomplete_details?.reason;
  return {
    text: texts.length || text ? text : null,
    refusal: refusals.length ? refusals.join("\n") : null,
    // Any other reason to stop early leaves the answer cut off too.
    truncated: incomplete && reason !== "content_filter",
    filtered: incomplete && reason === "content_filter",
    usage: usageOf(response.usage),
    id: response.id,
  };
}

export function responsesApi(cfg: ApiSettings): TextApi {
  const { client, model } = cfg;
  const limit = cfg.maxOutputTokens ? { max_output_tokens: cfg.maxOutputTokens } : {};
  const failed = (error: unknown) =>
    streamFailure(error ?? { message: "the response failed" }, { model, apiKey: cfg.apiKey });
  return {
    name: "responses",
    takesSeed: false,

    async structured(call) {
      const response = await client.responses.create(
        {
          model,
          instructions: call.system,
          input: call.turns,
          text: { format: call.format },
          store: false,
          ...limit,
        },
        { signal: call.signal },
      );
      if (response.status === "failed") throw failed(response.error);
      return readResponse(response);
    },

    async *stream(call) {
      const stream = await client.responses.create(
        {
          model,
          instructions: call.system,
          input: [{ role: "user", content: call.prompt }],
          stream: true,
          store: false,
          ...limit,
        },
        { signal: call.signal },
      );
      for await (const event of stream) {
        switch (event.type) {
          case "response.output_text.delta":
            if (event.delta) yield { text: event.delta };
            break;
          case "response.completed":
          case "response.incomplete": {
            const u = event.response.usage;
            if (u) yield { usage: { inputTokens: u.input_tokens, outputTokens: u.output_tokens } };
            break;
          }
          case "response.failed":
            throw failed(event.response.error);
          case "error":
            // The SDK throws these itself; this is in case one comes through as an event.
            throw failed(event);
        }
      }
    },
  };
}
