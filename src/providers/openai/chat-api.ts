/**
 * The Chat Completions adapter (POST /chat/completions): messages in, `choices[0]` out. The
 * default API, and the only one OpenAI-compatible endpoints (DeepSeek, Qwen, vLLM) speak.
 */
import { chatResponseFormat } from "./response-format.ts";
import type { ApiSettings, TextApi } from "./text-api.ts";

export function chatApi(cfg: ApiSettings): TextApi {
  const { client, model } = cfg;
  const limit = cfg.maxOutputTokens ? { max_completion_tokens: cfg.maxOutputTokens } : {};
  return {
    name: "chat",
    takesSeed: true,

    async structured(call) {
      const completion = await client.chat.completions.create(
        {
          model,
          messages: [{ role: "system", content: call.system }, ...call.turns],
          response_format: chatResponseFormat(call.format),
          ...(call.seed !== undefined ? { seed: call.seed } : {}),
          ...limit,
        },
        { signal: call.signal },
      );
      const choice = completion.choices?.[0];
      return {
        text: choice?.message?.content ?? null,
        refusal: choice?.message?.refusal || null,
        truncated: choice?.finish_reason === "length",
        filtered: choice?.finish_reason === "content_filter",
        usage: { inputTokens: completion.usage?.prompt_tokens, outputTokens: completion.usage?.completion_tokens },
        id: completion.id,
      };
    },

    async *stream(call) {
      const stream = await client.chat.completions.create(
        {
          model,
          messages: [
            { role: "system", content: call.system },
            { role: "user", content: call.prompt },
          ],
          stream: true,
          // The usage comes in a last chunk of its own.
          stream_options: { include_usage: true },
          ...limit,
        },
        { signal: call.signal },
      );
      for await (const chunk of stream) {
        if (chunk.usage)
          yield { usage: { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens } };
        const text = chunk.choices?.[0]?.delta?.content;
        if (text) yield { text };
      }
    },
  };
}
