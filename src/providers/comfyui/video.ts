import { isMp4 } from "../../media/sniff.ts";
import type { LedgerContext } from "../ledger.ts";
import type { GenerateResult, VideoModel, VideoOptions, VideoOutput } from "../types.ts";
import { viewFile } from "./client.ts";
import { type ComfyConnectionOptions, connectComfy } from "./connect.ts";
import { ComfyUIProviderError } from "./errors.ts";
import { DEFAULT_NEGATIVE, multipleOf8, seedOf, workflowFor } from "./image.ts";
import { outputFile, probeClip } from "./outputs.ts";
import type { ProgressSink } from "./progress.ts";
import { runComfy } from "./run.ts";

export interface ComfyVideoSettings extends ComfyConnectionOptions {
  /** The image-to-video workflow the model is (the chain's model name). */
  workflow: string;
  /** `{{fps}}` of the clips the workflow makes (default 8, what SVD is trained at); `{{frames}}` = ⌈duration × fps⌉. */
  fps?: number;
  negativePrompt?: string;
}

export type ComfyVideoOptions = VideoOptions & { ledger?: LedgerContext; onProgress?: ProgressSink };

export interface ComfyVideoModel extends VideoModel {
  generate(options: ComfyVideoOptions): Promise<GenerateResult<VideoOutput>>;
}

/**
 * Clips from a ComfyUI server: the keyframe is uploaded (POST /upload/image) into the model's
 * image-to-video workflow as `{{image}}`, with `{{frames}}` frames at `{{fps}}`; the MP4 it saves
 * is fetched with GET /view and measured with ffprobe. ComfyUI draws no clip without a picture.
 */
export function createComfyVideo(settings: ComfyVideoSettings): ComfyVideoModel {
  const model = settings.workflow;
  const fps = settings.fps ?? 8;
  const rt = connectComfy(settings, model);
  return {
    provider: "comfyui",
    modelId: model,
    async generate(o: ComfyVideoOptions): Promise<GenerateResult<VideoOutput>> {
      if (!(o.durationS > 0)) throw new RangeError("a clip lasts more than 0 seconds");
      if (!o.image)
        throw new ComfyUIProviderError({
          model,
          retryable: false,
          message: `comfyui ${model}: image-to-video workflows animate a keyframe; pass one`,
        });
      const workflow = await workflowFor(settings, model, "image_to_video");
      const frames = Math.max(1, Math.ceil(o.durationS * fps));
      const run = await runComfy(
        rt,
        {
          workflow,
          values: {
            prompt: o.camera ? `${o.prompt} Camera: ${o.camera.replace("_", " ")}.` : o.prompt,
            negative_prompt: settings.negativePrompt ?? DEFAULT_NEGATIVE,
            seed: seedOf(o.seed, o.prompt),
            width: multipleOf8(o.width),
            height: multipleOf8(o.height),
            frames,
            fps,
          },
          image: o.image,
        },
        o,
        async (entry, promptId) => {
          const file = outputFile(entry, "video", model, promptId);
          const bytes = await viewFile(rt.connection, file, o.signal);
          if (!(await isMp4(bytes)))
            throw new ComfyUIProviderError({
              model,
              retryable: false,
              promptId,
              phase: "download",
              message: `comfyui ${model}: ${file.filename} is not an MP4`,
            });
          const info = await probeClip(bytes, model);
          return { bytes, mimeType: "video/mp4", ...info } satisfies VideoOutput;
        },
      );
      return {
        data: run.value,
        warnings: run.warnings,
        usage: { videoSeconds: run.value.durationS },
        response: { provider: "comfyui", modelId: workflow.name, timestamp: new Date(), id: run.promptId },
      };
    },
  };
}
