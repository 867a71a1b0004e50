/**
 * Streamed text (TextModel.streamText): the chat completion's content deltas as they arrive,
 * and the usage the endpoint reports in its last chunk (`stream_options.include_usage`). The
 * usage promise always settles (estimated when the stream ends early), so nobody has to await it.
 */
import type OpenAI from "openai";
import type { TextRequest, TextStream, Usage } from "../types.ts";
import { providerError } from "./errors.ts";

export interface StreamSettings {
  client: OpenAI;
  model: string;
  apiKey: string;
  maxRetries: number;
  maxOutputTokens?: number;
}

const estimate = (chars: number) => Math.ceil(chars / 4);

export function streamChat(cfg: StreamSettings, req: TextRequest): TextStream {
  let settle!: (u: Usage) => void;
  const usage = new Promise<Usage>((resolve) => {
    settle = resolve;
  });
  const aborted = () => req.signal?.reason ?? new Error("aborted");

  async function* deltas(): AsyncGenerator<string> {
    let reported: Usage | undefined;
    let sent = 0;
    try {
      if (req.signal?.aborted) throw aborted();
      let stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>;
      try {
        stream = await cfg.client.chat.completions.create(
          {
            model: cfg.model,
            messages: [
              { role: "system", content: req.system },
              { role: "user", content: req.prompt },
            ],
            stream: true,
            stream_options: { include_usage: true },
            ...(cfg.maxOutputTokens ? { max_completion_tokens: cfg.maxOutputTokens } : {}),
          },
          { signal: req.signal },
        );
      } catch (e) {
        throw providerError(e, { model: cfg.model, apiKey: cfg.apiKey, signal: req.signal, attempts: cfg.maxRetries + 1 });
      }
      const iterator = stream[Symbol.asyncIterator]();
      while (true) {
        let step: IteratorResult<OpenAI.Chat.ChatCompletionChunk>;
        try {
          step = await iterator.next();
        } catch (e) {
          throw providerError(e, { model: cfg.model, apiKey: cfg.apiKey, signal: req.signal });
        }
        if (step.done) break;
        const chunk = step.value;
        if (chunk.usage) reported = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
        const text = chunk.choices?.[0]?.delta?.content;
        if (text) {
          sent += text.length;
          yield text;
        }
      }
      // The SDK ends the iteration quietly when the request is aborted mid-stream.
      if (req.signal?.aborted) throw aborted();
    } finally {
      settle(reported ?? { inputTokens: estimate(req.system.length + req.prompt.length), outputTokens: estimate(sent) });
    }
  }

  return { textStream: deltas(), usage };
}
