/**
 * The OpenAI image model: text-to-image over /images/generations, and image-to-image over
 * /images/edits with the reference images (a character's sheet) uploaded as multipart parts.
 * The requested size is mapped to the nearest one the model draws (with a warning); the
 * base64 answer is decoded to the image bytes.
 */
import { toFile } from "openai";
import type { ImagesResponse } from "openai/resources/images";
import { sniffImage } from "../../media/sniff.ts";
import type { GenerateResult, ImageModel, ImageOptions, ImageOutput } from "../types.ts";
import { createClient, DEFAULT_MAX_RETRIES, type OpenAIConnectionOptions } from "./client.ts";
import { OpenAIProviderError, PROVIDER, providerError } from "./errors.ts";
import { nearestSize, sizesFor } from "./image-size.ts";

export interface OpenAIImageOptions extends OpenAIConnectionOptions {
  /** Default "gpt-image-1". */
  model?: string;
  quality?: "low" | "medium" | "high" | "auto";
}

/** The edits endpoint takes at most this many input images (GPT image models). */
const MAX_REFERENCES = 16;
const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

export function createOpenAIImage(options: OpenAIImageOptions): ImageModel {
  const model = options.model ?? "gpt-image-1";
  const client = createClient({ ...options, timeoutMs: options.timeoutMs ?? 300_000 });
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  const legacy = model.startsWith("dall-e");
  const label = `${PROVIDER} ${model}`;
  const fail = (code: string, message: string) =>
    new OpenAIProviderError({ model, code, retryable: false, message: `${label}: ${message}` });

  async function bytesOf(
    item: { b64_json?: string | null; url?: string | null } | undefined,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    if (item?.b64_json) return new Uint8Array(Buffer.from(item.b64_json, "base64"));
    if (item?.url) {
      // Endpoints that answer with a link only (some OpenAI-compatible ones).
      const res = await (options.fetch ?? fetch)(item.url, { signal });
      if (!res.ok)
        throw new OpenAIProviderError({
          model,
          status: res.status,
          code: "download_failed",
          retryable: res.status >= 500,
          message: `${label}: the image could not be downloaded (HTTP ${res.status})`,
        });
      return new Uint8Array(await res.arrayBuffer());
    }
    throw fail("no_image", "the answer held no image");
  }

  return {
    provider: PROVIDER,
    modelId: model,
    async generate(o: ImageOptions): Promise<GenerateResult<ImageOutput>> {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
      const warnings: string[] = [];
      const target = nearestSize(o.width, o.height, sizesFor(model));
      if (!target.exact)
        warnings.push(`${model} does not draw ${o.width}x${o.height}; drew ${target.size}, the nearest size it offers`);
      if (o.seed !== undefined) warnings.push("the OpenAI image API takes no seed; the picture is not reproducible");
      const common = {
        model,
        n: 1,
        size: target.size as "1024x1024",
        // GPT image models always answer in base64 and take an output format; DALL·E needs asking for base64.
        ...(legacy ? { response_format: "b64_json" as const } : { output_format: "png" as const }),
        ...(options.quality && !legacy ? { quality: options.quality } : {}),
      };
      const references = o.references ?? [];
      if (references.length > MAX_REFERENCES)
        warnings.push(`only the first ${MAX_REFERENCES} of ${references.length} reference images were sent`);
      let response: ImagesResponse;
      try {
        if (references.length) {
          const used = references.slice(0, MAX_REFERENCES);
          const images = await Promise.all(
            used.map((r, i) =>
              toFile(r.bytes, `reference-${i + 1}.${EXTENSIONS[r.mimeType] ?? "png"}`, { type: r.mimeType }),
            ),
          );
          const labels = used.map((r, i) => (r.label ? `image ${i + 1}: ${r.label}` : "")).filter(Boolean);
          const prompt = labels.length
            ? `${o.prompt}\n\nReference images (keep these consistent): ${labels.join("; ")}.`
            : o.prompt;
          response = await client.images.edit({ ...common, image: images, prompt }, { signal: o.signal });
        } else {
          response = await client.images.generate({ ...common, prompt: o.prompt }, { signal: o.signal });
        }
      } catch (e) {
        throw providerError(e, { model, apiKey: options.apiKey, signal: o.signal, attempts: maxRetries + 1 });
      }
      const bytes = await bytesOf(response.data?.[0], o.signal);
      const image = await sniffImage(bytes);
      if (!image) throw fail("bad_image", "the answer is not a PNG, JPEG or WebP image");
      return {
        data: {
          bytes,
          mimeType: image.mimeType,
          width: image.width ?? target.width,
          height: image.height ?? target.height,
        },
        warnings,
        usage: { images: 1 },
        response: { provider: PROVIDER, modelId: model, timestamp: new Date() },
      };
    },
  };
}
