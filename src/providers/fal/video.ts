import { isMp4 } from "../../media/sniff.ts";
import { withCamera } from "../camera-words.ts";
import type { GenerateResult, VideoModel, VideoOptions, VideoOutput } from "../types.ts";
import { connectFal, type FalConnectionOptions } from "./client.ts";
import { FalProviderError } from "./errors.ts";
import { download, isFalFile, probeVideo } from "./media.ts";
import { type FalPlan, type FalRequestControls, type FalRequestStore, runFal } from "./queue.ts";
import { pickDuration, type VideoEndpoint, videoEndpoint } from "./video-models.ts";

export interface FalVideoSettings extends FalConnectionOptions {
  /** Image-to-video endpoint (its text-to-video sibling serves calls without an image). */
  model?: string;
  /** Keeps submitted requests across crashes (see queue.ts). */
  requests?: FalRequestStore;
  /** Whether an abort with this reason cancels the fal request (default: unless "lease-lost"/"shutdown"). */
  cancelOnAbort?: (reason: unknown) => boolean;
}

export type FalVideoOptions = VideoOptions & FalRequestControls;

export interface FalVideoModel extends VideoModel {
  generate(options: FalVideoOptions): Promise<GenerateResult<VideoOutput>>;
}

const EXT: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

/**
 * Clips on fal.ai through its queue: the keyframe is uploaded to fal storage and `model` animates
 * it (image-to-video); without an image, the model's text-to-video sibling draws the shot. The
 * length is the shortest the model makes that covers the shot (a warning says when it differs);
 * the clip is downloaded at once and measured with ffprobe.
 */
export function createFalVideo(settings: FalVideoSettings): FalVideoModel {
  const model = settings.model ?? "fal-ai/kling-video/v2.1/standard/image-to-video";
  const main = videoEndpoint(model);
  const rt = connectFal(settings, 3000);

  function plan(o: VideoOptions): { plan: FalPlan; durationS: number; warnings: string[] } {
    if (!(o.durationS > 0)) throw new RangeError("a clip lasts more than 0 seconds");
    const warnings: string[] = [];
    let endpointId = model;
    let endpoint: VideoEndpoint = main;
    if (!o.image) {
      if (!main.textModel) {
        throw new FalProviderError({
          model,
          retryable: false,
          message: `fal ${model}: animates an image and has no text-to-video sibling here; pass the keyframe`,
        });
      }
      endpointId = main.textModel;
      endpoint = videoEndpoint(endpointId);
    }
    const { durationS, warning } = pickDuration(endpointId, endpoint.durations, o.durationS);
    if (warning) warnings.push(warning);
    const prompt = withCamera(o.prompt, o.camera);
    const call = { prompt, durationS, width: o.width, height: o.height, seed: o.seed };
    const files = o.image
      ? [{ bytes: o.image.bytes, mimeType: o.image.mimeType, name: `keyframe.${EXT[o.image.mimeType] ?? "bin"}` }]
      : [];
    return {
      plan: {
        endpointId,
        files,
        input: (urls) => endpoint.input({ ...call, imageUrl: urls[0] }),
        usage: { videoSeconds: durationS },
      },
      durationS,
      warnings,
    };
  }

  return {
    provider: "fal",
    modelId: model,
    // A pipeline clip animates its keyframe: the image model's lengths.
    billedSeconds: (durationS) => pickDuration(model, main.durations, durationS).durationS,
    async generate(o: FalVideoOptions): Promise<GenerateResult<VideoOutput>> {
      const { plan: p, durationS, warnings } = plan(o);
      const run = await runFal(
        rt,
        p,
        { ...o, store: settings.requests, cancelOnAbort: settings.cancelOnAbort },
        async (result, ref) => {
          const video = (result as { video?: unknown } | null)?.video;
          if (!isFalFile(video)) {
            throw new FalProviderError({
              model: ref.endpointId,
              retryable: false,
              requestId: ref.requestId,
              phase: "result",
              message: `fal ${ref.endpointId}: the result has no video`,
            });
          }
          const bytes = await download(rt, video.url, ref.endpointId, o.signal);
          if (!(await isMp4(bytes)))
            throw new FalProviderError({
              model: ref.endpointId,
              retryable: false,
              requestId: ref.requestId,
              phase: "download",
              message: `fal ${ref.endpointId}: the result is not an MP4`,
            });
          const info = await probeVideo(bytes, ref.endpointId);
          return {
            bytes,
            mimeType: "video/mp4",
            width: info.width,
            height: info.height,
            durationS: info.durationS,
          } satisfies VideoOutput;
        },
      );
      if (run.resumed) warnings.push(`resumed fal request ${run.ref.requestId}: not submitted again`);
      return {
        data: run.value,
        warnings: [...warnings, ...run.warnings],
        usage: { videoSeconds: durationS },
        response: { provider: "fal", modelId: run.ref.endpointId, timestamp: new Date(), id: run.ref.requestId },
      };
    },
  };
}
