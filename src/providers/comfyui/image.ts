import { createHash } from "node:crypto";
import { sniffImage } from "../../media/sniff.ts";
import type { LedgerContext } from "../ledger.ts";
import type { GenerateResult, ImageModel, ImageOptions, ImageOutput } from "../types.ts";
import { viewFile } from "./client.ts";
import { type ComfyConnectionOptions, connectComfy } from "./connect.ts";
import { ComfyUIProviderError } from "./errors.ts";
import { outputFile } from "./outputs.ts";
import type { ProgressSink } from "./progress.ts";
import { runComfy } from "./run.ts";
import { type ComfyWorkflow, DEFAULT_WORKFLOW } from "./workflow-store.ts";

export interface ComfyImageSettings extends ComfyConnectionOptions {
  /** The workflow the model is (the chain's model name): text-to-image, or image-to-image for calls with references. */
  workflow: string;
  /** `{{negative_prompt}}`. */
  negativePrompt?: string;
}

/** `generate` also takes the chain's ledger context (its scope names the job) and a progress listener. */
export type ComfyImageOptions = ImageOptions & { ledger?: LedgerContext; onProgress?: ProgressSink };

export interface ComfyImageModel extends ImageModel {
  generate(options: ComfyImageOptions): Promise<GenerateResult<ImageOutput>>;
}

export const DEFAULT_NEGATIVE = "blurry, low quality, deformed, watermark, text, signature";

/** A seed from the prompt when the call gives none: the same call, the same prompt (and fingerprint). */
export function seedOf(seed: number | undefined, prompt: string): number {
  if (seed !== undefined && Number.isInteger(seed) && seed >= 0) return seed;
  return createHash("sha256").update(prompt).digest().readUIntBE(0, 6);
}

/** Latent sizes are multiples of 8. */
export const multipleOf8 = (n: number) => Math.max(64, Math.round(n / 8) * 8);

/** Resolves the workflow a call runs: the model's, when it is of the kind the call needs, else that kind's default. */
export async function workflowFor(
  settings: Pick<ComfyConnectionOptions, "workflows">,
  name: string,
  want: ComfyWorkflow["kind"],
): Promise<ComfyWorkflow> {
  const own = await settings.workflows(name);
  if (!own)
    throw new ComfyUIProviderError({
      model: name,
      retryable: false,
      message: `comfyui ${name}: no workflow of that name (upload it with PUT /api/v1/admin/providers/comfyui/workflows/${name})`,
    });
  if (own.kind === want) return own;
  const fallback = await settings.workflows(DEFAULT_WORKFLOW[want]);
  if (!fallback || fallback.kind !== want)
    throw new ComfyUIProviderError({
      model: name,
      retryable: false,
      message: `comfyui ${name}: is ${own.kind} and no ${want} workflow "${DEFAULT_WORKFLOW[want]}" exists for this call`,
    });
  return fallback;
}

/**
 * Images from a ComfyUI server: the model names a workflow; a call without references runs it as
 * text-to-image, one with references runs an image-to-image workflow (the model's own if it is
 * one, else "img2img") on the first reference, uploaded with POST /upload/image. The saved image
 * is fetched with GET /view at once.
 */
export function createComfyImage(settings: ComfyImageSettings): ComfyImageModel {
  const model = settings.workflow;
  const rt = connectComfy(settings, model);
  return {
    provider: "comfyui",
    modelId: model,
    async generate(o: ComfyImageOptions): Promise<GenerateResult<ImageOutput>> {
      const refs = o.references ?? [];
      const warnings: string[] = [];
      const workflow = await workflowFor(settings, model, refs.length ? "image_to_image" : "text_to_image");
      if (refs.length > 1)
        warnings.push(
          `comfyui ${workflow.name} takes one reference image: ${refs.length - 1} of ${refs.length} were left out`,
        );
      const width = multipleOf8(o.width);
      const height = multipleOf8(o.height);
      const run = await runComfy(
        rt,
        {
          workflow,
          values: {
            prompt: o.prompt,
            negative_prompt: settings.negativePrompt ?? DEFAULT_NEGATIVE,
            seed: seedOf(o.seed, o.prompt),
            width,
            height,
          },
          ...(refs[0] ? { image: { bytes: refs[0].bytes, mimeType: refs[0].mimeType } } : {}),
        },
        o,
        async (entry, promptId) => {
          const file = outputFile(entry, "image", model, promptId);
          const bytes = await viewFile(rt.connection, file, o.signal);
          const sniffed = await sniffImage(bytes);
          if (!sniffed)
            throw new ComfyUIProviderError({
              model,
              retryable: false,
              promptId,
              phase: "download",
              message: `comfyui ${model}: ${file.filename} is not a PNG, JPEG or WebP image`,
            });
          return {
            bytes,
            mimeType: sniffed.mimeType,
            width: sniffed.width ?? width,
            height: sniffed.height ?? height,
          } satisfies ImageOutput;
        },
      );
      return {
        data: run.value,
        warnings: [...warnings, ...run.warnings],
        usage: { images: 1 },
        response: { provider: "comfyui", modelId: workflow.name, timestamp: new Date(), id: run.promptId },
      };
    },
  };
}
