/**
 * Streamed text (TextModel.streamText): the text as it arrives, through Chat Completions (content
 * deltas, usage in a last chunk by `stream_options.include_usage`) or the Responses API
 * (`response.output_text.delta` events, usage in `response.completed`); see text-api.ts. The
 * usage promise always settles (estimated when the stream ends early), so nobody has to await it.
 */
import type { TextRequest, TextStream, Usage } from "../types.ts";
import { providerError } from "./errors.ts";
import type { StreamPiece, TextApi } from "./text-api.ts";

export interface StreamSettings {
  api: TextApi;
  model: string;
  apiKey: string;
  maxRetries: number;
}

const estimate = (chars: number) => Math.ceil(chars / 4);

export function streamText(cfg: StreamSettings, req: TextRequest): TextStream {
  let settle!: (u: Usage) => void;
  const usage = new Promise<Usage>((resolve) => {
    settle = resolve;
  });
  const aborted = () => req.signal?.reason ?? new Error("aborted");

  async function* deltas(): AsyncGenerator<string> {
    let reported: Usage | undefined;
    let sent = 0;
    let pieces: AsyncGenerator<StreamPiece, void, undefined> | undefined;
    let finished = false;
    try {
      if (req.signal?.aborted) throw aborted();
      pieces = cfg.api.stream({ system: req.system, prompt: req.prompt, signal: req.signal });
      while (true) {
        let step: IteratorResult<StreamPiece, void>;
        try {
          step = await pieces.next();
        } catch (e) {
          finished = true;
          // The SDK's tries count for the request itself; an error event mid-stream has no status.
          throw providerError(e, {
            model: cfg.model,
            apiKey: cfg.apiKey,
            signal: req.signal,
            attempts: cfg.maxRetries + 1,
          });
        }
        if (step.done) break;
        const piece = step.value;
        if ("usage" in piece) reported = piece.usage;
        else if (piece.text) {
          sent += piece.text.length;
          yield piece.text;
        }
      }
      finished = true;
      // The SDK ends the iteration quietly when the request is aborted mid-stream.
      if (req.signal?.aborted) throw aborted();
    } finally {
      settle(
        reported ?? { inputTokens: estimate(req.system.length + req.prompt.length), outputTokens: estimate(sent) },
      );
      // Left early (a break, an abort): close the request rather than leave it open.
      if (pieces && !finished) await pieces.return(undefined).catch(() => undefined);
    }
  }

  return { textStream: deltas(), usage };
}
