/**
 * OpenAI's video model (Sora 2 over /v1/videos): a render is a job — `videos.create` answers at
 * once with a queued Video (the paid part), `videos.retrieve` is polled until it is "completed"
 * or "failed", and `videos.downloadContent` fetches the MP4. Image-to-video sends the keyframe as
 * `input_reference`, which Sora wants at exactly the clip's size: it is scaled and cropped to fit.
 * Lengths are 4, 8 or 12 s and sizes a fixed few; the nearest is made, with a warning.
 *
 * CRASH SAFETY — what is covered. With a `requests` store (provider_requests, pgRequestStore),
 * the video id is stored under a fingerprint of the request (model, prompt, seconds, size, the
 * keyframe's sha256) as soon as `create` answers and before any polling. A later call with the
 * same options — the job's next attempt after its worker was killed, lost its lease or was
 * aborted — finds the id and polls that video instead of creating (and paying for) another.
 * Aborts keep the id (Sora renders cannot be cancelled, so the next attempt had better resume);
 * so do retryable failures (429, 5xx, network) while polling or downloading, which are thrown as
 * still in flight (OpenAIVideoError with the video id and a phase) so the chain does not fail
 * over to another paid model while this one renders. The id is deleted once the content is
 * downloaded, and when the video is dead: status "failed", or any non-retryable error. A stored
 * id the server answers 404 for (expired, deleted, another account) is created anew, with a warning.
 *
 * What is NOT covered: a crash between create's answer and the put (one INSERT) leaves no id and
 * the next attempt creates a second video — fal closes that window with write-ahead intents
 * (submit_intents, see fal/queue.ts), which the Videos API gives no way to match (no client
 * reference or idempotency key to find the orphan by). Nor a crash after the download but
 * before the caller kept the bytes (the id is gone by then), nor the SDK's own retry of a create
 * whose answer was lost (a timeout or a 5xx after OpenAI accepted it).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { toFile } from "openai";
import type { Video, VideoSeconds, VideoSize } from "openai/resources/videos";
import { runFfmpeg, withTempDir } from "../../media/ffmpeg.ts";
import { isMp4, sniffImage } from "../../media/sniff.ts";
import { withCamera } from "../camera-words.ts";
import { abortReason, sleep } from "../fal/http.ts";
import type { FalRequestStore } from "../fal/queue.ts";
import { pickDuration } from "../fal/video-models.ts";
import type { GenerateResult, VideoModel, VideoOptions, VideoOutput } from "../types.ts";
import { createClient, DEFAULT_MAX_RETRIES, type OpenAIConnectionOptions } from "./client.ts";
import { OpenAIProviderError, type OpenAIProviderErrorInit, PROVIDER, providerError, redact } from "./errors.ts";
import { nearestSize } from "./image-size.ts";

/** Where video ids survive crashes: the fal store's get/put/delete, refs `{endpointId: "openai:<model>", requestId: <video id>}`. */
export type VideoRequestStore = Pick<FalRequestStore, "get" | "put" | "delete">;

export interface OpenAIVideoOptions extends OpenAIConnectionOptions {
  /** "sora-2" (default) or "sora-2-pro". */
  model?: string;
  /** Time between status polls of a rendering video; default 5,000 ms (renders take minutes). */
  pollIntervalMs?: number;
  /** Keeps the id of each video being rendered, so a crashed call's retry resumes it (see above). */
  requests?: VideoRequestStore;
}

/** Where a video that exists failed: reading its status, or fetching its result. */
export type OpenAIVideoPhase = "status" | "result";

/**
 * A failure of a video already created. `requestId` is the video's id and `phase` says where it
 * failed: a retryable one is still in flight (ai-error.ts, stillInFlight), resumed by the next attempt.
 */
export class OpenAIVideoError extends OpenAIProviderError {
  readonly phase: OpenAIVideoPhase;
  constructor(init: OpenAIProviderErrorInit & { phase: OpenAIVideoPhase }) {
    super(init);
    this.phase = init.phase;
  }
}

const SECONDS = [4, 8, 12];
const SORA_2_SIZES = ["1280x720", "720x1280"];
const PRO_SIZES = [...SORA_2_SIZES, "1792x1024", "1024x1792"];
export const DEFAULT_VIDEO_POLL_MS = 5000;

/** The sizes a Sora model renders: sora-2 720p only, sora-2-pro its taller ones too. */
export const videoSizesFor = (model: string) => (model.startsWith("sora-2-pro") ? PRO_SIZES : SORA_2_SIZES);

interface Plan {
  prompt: string;
  seconds: number;
  size: { size: string; width: number; height: number };
  warnings: string[];
}

/** What the call asks of Sora: prompt with the camera, the length and size it makes, and why they differ. */
function planOf(model: string, o: VideoOptions): Plan {
  if (!(o.durationS > 0)) throw new RangeError("a clip lasts more than 0 seconds");
  const warnings: string[] = [];
  const { durationS: seconds, warning } = pickDuration(model, SECONDS, o.durationS);
  if (warning) warnings.push(warning);
  const size = nearestSize(o.width, o.height, videoSizesFor(model));
  if (!size.exact)
    warnings.push(`${model} does not make ${o.width}x${o.height} clips; made ${size.size}, the nearest size it offers`);
  if (o.seed !== undefined) warnings.push("the OpenAI video API takes no seed; the clip is not reproducible");
  const prompt = withCamera(o.prompt, o.camera);
  return { prompt, seconds, size, warnings };
}

/** The request's identity: same model, prompt, length, size and keyframe bytes → same key. */
function fingerprint(endpointId: string, plan: Plan, image: VideoOptions["image"]): string {
  const keyframe = image ? createHash("sha256").update(image.bytes).digest("hex") : null;
  return createHash("sha256")
    .update(
      JSON.stringify({
        endpoint: endpointId,
        prompt: plan.prompt,
        seconds: plan.seconds,
        size: plan.size.size,
        keyframe,
      }),
    )
    .digest("hex");
}

/** The keyframe at exactly the clip's size (cover-scaled and centre-cropped), as Sora requires. */
async function fitKeyframe(
  image: NonNullable<VideoOptions["image"]>,
  size: Plan["size"],
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; mimeType: string; from?: string } | null> {
  const info = await sniffImage(image.bytes);
  if (!info) return null;
  if (info.width === size.width && info.height === size.height) return { bytes: image.bytes, mimeType: info.mimeType };
  const bytes = await withTempDir(async (dir) => {
    const input = join(dir, "keyframe");
    const output = join(dir, "fitted.png");
    await Bun.write(input, image.bytes);
    const { width: w, height: h } = size;
    const fit = `scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h},setsar=1`;
    await runFfmpeg(["-i", input, "-vf", fit, "-frames:v", "1", output], { signal, timeoutMs: 60_000 });
    return Bun.file(output).bytes();
  });
  return { bytes, mimeType: "image/png", from: info.width ? `${info.width}x${info.height}` : "another size" };
}

const isGone = (e: unknown) => e instanceof OpenAIProviderError && (e.status === 404 || e.status === 410);
const done = (v: Video) => v.status === "completed" || v.status === "failed";

export function createOpenAIVideo(options: OpenAIVideoOptions): VideoModel {
  const model = options.model ?? "sora-2";
  const client = createClient({ ...options, timeoutMs: options.timeoutMs ?? 300_000 });
  const attempts = (options.maxRetries ?? DEFAULT_MAX_RETRIES) + 1;
  const pollMs = options.pollIntervalMs ?? DEFAULT_VIDEO_POLL_MS;
  const store = options.requests;
  const endpointId = `${PROVIDER}:${model}`;
  const label = `${PROVIDER} ${model}`;

  /** The SDK's failure as ours; once the video exists, naming it and the phase. */
  function failure(e: unknown, signal: AbortSignal | undefined, video?: { id: string; phase: OpenAIVideoPhase }) {
    const err = providerError(e, { model, apiKey: options.apiKey, signal, attempts });
    if (!video || !(err instanceof OpenAIProviderError) || err instanceof OpenAIVideoError) return err;
    const { status, code, retryable, message } = err;
    return new OpenAIVideoError({ model, status, code, retryable, message, requestId: video.id, phase: video.phase });
  }

  async function create(plan: Plan, o: VideoOptions, warnings: string[]): Promise<Video> {
    let reference: File | undefined;
    if (o.image) {
      const fitted = await fitKeyframe(o.image, plan.size, o.signal);
      if (!fitted)
        throw new OpenAIProviderError({
          model,
          code: "bad_image",
          retryable: false,
          message: `${label}: the keyframe is not a PNG, JPEG or WebP image`,
        });
      if (fitted.from)
        warnings.push(
          `the keyframe (${fitted.from}) was scaled and cropped to ${plan.size.size}: Sora animates an image of the clip's size`,
        );
      reference = await toFile(fitted.bytes, `keyframe.${fitted.mimeType.split("/")[1]}`, { type: fitted.mimeType });
    }
    try {
      return await client.videos.create(
        {
          model,
          prompt: plan.prompt,
          seconds: String(plan.seconds) as VideoSeconds,
          size: plan.size.size as VideoSize,
          ...(reference ? { input_reference: reference } : {}),
        },
        { signal: o.signal },
      );
    } catch (e) {
      throw failure(e, o.signal);
    }
  }

  /** Polls the video until it is done, then downloads it; a failed render throws, not retryable. */
  async function finish(start: Video | string, signal?: AbortSignal): Promise<Uint8Array> {
    const id = typeof start === "string" ? start : start.id;
    let video = typeof start === "string" ? undefined : start;
    try {
      video ??= await client.videos.retrieve(id, { signal });
      while (!done(video)) {
        await sleep(pollMs, signal);
        video = await client.videos.retrieve(id, { signal });
      }
    } catch (e) {
      throw failure(e, signal, { id, phase: "status" });
    }
    if (video.status === "failed") {
      const why = video.error ? `${video.error.code}: ${video.error.message}` : "no reason given";
      throw new OpenAIVideoError({
        model,
        code: video.error?.code ?? "video_failed",
        retryable: false,
        requestId: id,
        phase: "result",
        message: redact(`${label}: video ${id} failed (${why})`, options.apiKey),
      });
    }
    let bytes: Uint8Array;
    try {
      const res = await client.videos.downloadContent(id, undefined, { signal });
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw failure(e, signal, { id, phase: "result" });
    }
    if (!(await isMp4(bytes)))
      throw new OpenAIVideoError({
        model,
        code: "bad_video",
        retryable: false,
        requestId: id,
        phase: "result",
        message: `${label}: the content of video ${id} is not an MP4`,
      });
    return bytes;
  }

  /** Drops the stored id of a video that is downloaded or dead; a store that fails here only costs a stale row. */
  const forget = async (key: string | undefined) => {
    if (key) await Promise.resolve(store!.delete(key)).catch(() => {});
  };

  return {
    provider: PROVIDER,
    modelId: model,
    billedSeconds: (durationS) => pickDuration(model, SECONDS, durationS).durationS,
    async generate(o: VideoOptions): Promise<GenerateResult<VideoOutput>> {
      if (o.signal?.aborted) throw abortReason(o.signal);
      const plan = planOf(model, o);
      const warnings = [...plan.warnings];
      const key = store ? fingerprint(endpointId, plan, o.image) : undefined;
      const stored = key ? await store!.get(key) : undefined;
      let id = stored?.endpointId === endpointId ? stored.requestId : undefined;
      try {
        let bytes: Uint8Array | undefined;
        if (id) {
          try {
            bytes = await finish(id, o.signal);
            warnings.push(`resumed OpenAI video ${id}: not created again`);
          } catch (e) {
            if (!isGone(e)) throw e;
            warnings.push(`OpenAI video ${id} is unknown to OpenAI (expired?): created anew`);
            await forget(key);
          }
        }
        if (!bytes) {
          const video = await create(plan, o, warnings);
          id = video.id;
          if (key) await store!.put(key, { endpointId, requestId: id });
          bytes = await finish(video, o.signal);
        }
        await forget(key);
        const { width, height } = plan.size;
        return {
          data: { bytes, mimeType: "video/mp4", width, height, durationS: plan.seconds },
          warnings,
          usage: { videoSeconds: plan.seconds },
          response: { provider: PROVIDER, modelId: model, timestamp: new Date(), id },
        };
      } catch (e) {
        if (o.signal?.aborted) throw abortReason(o.signal);
        if (!(e instanceof OpenAIProviderError && e.retryable)) await forget(key);
        throw e;
      }
    },
  };
}
