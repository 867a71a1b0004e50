import { sniffImage } from "../../media/sniff.ts";
import type { GenerateResult, ImageModel, ImageOptions, ImageOutput } from "../types.ts";
import { connectFal, type FalConnectionOptions } from "./client.ts";
import { FalProviderError } from "./errors.ts";
import { type ImageEndpoint, imageEndpoint, referencePrompt } from "./image-models.ts";
import { download, isFalFile } from "./media.ts";
import { type FalPlan, type FalRequestControls, type FalRequestStore, runFal } from "./queue.ts";

export interface FalImageSettings extends FalConnectionOptions {
  /** Text-to-image endpoint. */
  model?: string;
  /** Image-to-image endpoint, used when the call has references (a character's sheet). */
  referenceModel?: string;
  /** Keeps submitted requests across crashes (see queue.ts). */
  requests?: FalRequestStore;
  /** Whether an abort with this reason cancels the fal request (default: unless "lease-lost"/"shutdown"). */
  cancelOnAbort?: (reason: unknown) => boolean;
}

/** `generate` takes the idempotency controls of queue.ts next to the usual options. */
export type FalImageOptions = ImageOptions & FalRequestControls;

export interface FalImageModel extends ImageModel {
  generate(options: FalImageOptions): Promise<GenerateResult<ImageOutput>>;
}

const EXT: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

/**
 * Images on fal.ai through its queue: text-to-image with `model`; with references, the references
 * are uploaded to fal storage and `referenceModel` (FLUX Kontext) redraws them into the scene.
 * The result is downloaded at once and returned as bytes.
 */
export function createFalImage(settings: FalImageSettings): FalImageModel {
  const model = settings.model ?? "fal-ai/flux/dev";
  const referenceModel = settings.referenceModel ?? "fal-ai/flux-pro/kontext";
  const text = imageEndpoint(model, "text");
  const reference = imageEndpoint(referenceModel, "reference");
  const rt = connectFal(settings, 1000);

  function plan(o: ImageOptions): { plan: FalPlan; warnings: string[] } {
    const refs = o.references ?? [];
    if (!refs.length) {
      return {
        plan: {
          endpointId: model,
          files: [],
          input: () => text.input({ prompt: o.prompt, width: o.width, height: o.height, seed: o.seed, imageUrls: [] }),
          usage: { images: 1 },
        },
        warnings: [],
      };
    }
    const warnings: string[] = [];
    let endpointId = referenceModel;
    let endpoint: ImageEndpoint = reference;
    if (refs.length > endpoint.maxReferences && endpoint.multi) {
      endpointId = endpoint.multi;
      endpoint = imageEndpoint(endpointId, "reference");
    }
    const used = refs.slice(0, endpoint.maxReferences);
    if (used.length < refs.length)
      warnings.push(
        `${endpointId} takes ${endpoint.maxReferences} reference image(s): ${refs.length - used.length} of ${refs.length} were left out`,
      );
    const labels = used.map((r) => r.label).filter((l): l is string => !!l);
    const prompt = referencePrompt(o.prompt, used.length, labels);
    return {
      plan: {
        endpointId,
        files: used.map((r, i) => ({
          bytes: r.bytes,
          mimeType: r.mimeType,
          name: `reference-${i + 1}.${EXT[r.mimeType] ?? "bin"}`,
        })),
        input: (imageUrls) => endpoint.input({ prompt, width: o.width, height: o.height, seed: o.seed, imageUrls }),
        usage: { images: 1 },
      },
      warnings,
    };
  }

  return {
    provider: "fal",
    modelId: model,
    async generate(o: FalImageOptions): Promise<GenerateResult<ImageOutput>> {
      const { plan: p, warnings } = plan(o);
      const run = await runFal(
        rt,
        p,
        { ...o, store: settings.requests, cancelOnAbort: settings.cancelOnAbort },
        async (result, ref) => {
          const first = (result as { images?: unknown[] } | null)?.images?.[0];
          if (!isFalFile(first)) {
            throw new FalProviderError({
              model: ref.endpointId,
              retryable: false,
              requestId: ref.requestId,
              phase: "result",
              message: `fal ${ref.endpointId}: the result has no image`,
            });
          }
          const bytes = await download(rt, first.url, ref.endpointId, o.signal);
          const sniffed = await sniffImage(bytes);
          if (!sniffed)
            throw new FalProviderError({
              model: ref.endpointId,
              retryable: false,
              requestId: ref.requestId,
              phase: "download",
              message: `fal ${ref.endpointId}: the result is not a PNG, JPEG or WebP image`,
            });
          return {
            bytes,
            mimeType: sniffed.mimeType,
            width: sniffed.width ?? first.width ?? o.width,
            height: sniffed.height ?? first.height ?? o.height,
          } satisfies ImageOutput;
        },
      );
      if (run.resumed) warnings.push(`resumed fal request ${run.ref.requestId}: not submitted again`);
      return {
        data: run.value,
        warnings: [...warnings, ...run.warnings],
        usage: { images: 1 },
        response: { provider: "fal", modelId: run.ref.endpointId, timestamp: new Date(), id: run.ref.requestId },
      };
    },
  };
}
