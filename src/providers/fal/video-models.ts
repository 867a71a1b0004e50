import { nearestRatio } from "./image-models.ts";

/**
 * fal video endpoints and how a clip request maps onto each one's input, as documented on fal.ai's
 * model pages (and @fal-ai/client's endpoint types):
 *
 *  - Kling 2.1 image-to-video: `prompt`, `image_url`, `duration` "5" | "10"; no aspect ratio (the
 *    image's); text-to-video (2.1 master) adds `aspect_ratio` "16:9" | "9:16" | "1:1".
 *  - MiniMax Hailuo-02 standard image-to-video: `prompt`, `image_url`, `duration` "6" | "10",
 *    `resolution` "512P" | "768P", `prompt_optimizer`; text-to-video: `prompt`, `duration`, `prompt_optimizer`.
 *  - Veo 3.1 image-to-video: `prompt`, `image_url`, `duration` "4s" | "6s" | "8s", `aspect_ratio`
 *    "auto" | "16:9" | "9:16", `resolution` "720p" | "1080p", `generate_audio` (off: Inkreel adds
 *    its own sound, and it costs a third less), `seed`; text-to-video (`fal-ai/veo3.1`) the same
 *    without the image and without "auto".
 */
export interface VideoCall {
  prompt: string;
  /** The uploaded keyframe (image-to-video), absent for text-to-video. */
  imageUrl?: string;
  /** One of the endpoint's `durations`. */
  durationS: number;
  width: number;
  height: number;
  seed?: number;
}

export interface VideoEndpoint {
  /** The clip lengths the model makes, in seconds, ascending. */
  durations: number[];
  /** The text-to-video sibling, for calls without an image. */
  textModel?: string;
  input(c: VideoCall): Record<string, unknown>;
}

const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const kling = (textModel?: string): VideoEndpoint => ({
  durations: [5, 10],
  textModel,
  input: (c) =>
    c.imageUrl
      ? { prompt: c.prompt, image_url: c.imageUrl, duration: String(c.durationS) }
      : {
          prompt: c.prompt,
          duration: String(c.durationS),
          aspect_ratio: nearestRatio(c.width, c.height, ["16:9", "9:16", "1:1"]),
        },
});

const hailuo = (textModel?: string): VideoEndpoint => ({
  durations: [6, 10],
  textModel,
  input: (c) =>
    c.imageUrl
      ? {
          prompt: c.prompt,
          image_url: c.imageUrl,
          duration: String(c.durationS),
          resolution: Math.min(c.width, c.height) <= 512 ? "512P" : "768P",
          prompt_optimizer: true,
        }
      : { prompt: c.prompt, duration: String(c.durationS), prompt_optimizer: true },
});

/** Veo's aspect ratio: 16:9 or 9:16 when the frame is one, else "auto" (follow the image) for image-to-video. */
function veoRatio(c: VideoCall): string {
  const r = c.width / c.height;
  if (Math.abs(r - 16 / 9) < 0.01) return "16:9";
  if (Math.abs(r - 9 / 16) < 0.01) return "9:16";
  return c.imageUrl ? "auto" : nearestRatio(c.width, c.height, ["16:9", "9:16"]);
}

const veo = (textModel?: string): VideoEndpoint => ({
  durations: [4, 6, 8],
  textModel,
  input: (c) =>
    defined({
      prompt: c.prompt,
      image_url: c.imageUrl,
      duration: `${c.durationS}s`,
      aspect_ratio: veoRatio(c),
      resolution: Math.max(c.width, c.height) > 1280 ? "1080p" : "720p",
      generate_audio: false,
      seed: c.seed,
    }),
});

export const VIDEO_ENDPOINTS: Record<string, VideoEndpoint> = {
  "fal-ai/kling-video/v2.1/standard/image-to-video": kling("fal-ai/kling-video/v2.1/master/text-to-video"),
  "fal-ai/kling-video/v2.1/master/image-to-video": kling("fal-ai/kling-video/v2.1/master/text-to-video"),
  "fal-ai/kling-video/v2.1/master/text-to-video": kling(),
  "fal-ai/minimax/hailuo-02/standard/image-to-video": hailuo("fal-ai/minimax/hailuo-02/standard/text-to-video"),
  "fal-ai/minimax/hailuo-02/standard/text-to-video": hailuo(),
  "fal-ai/veo3.1/image-to-video": veo("fal-ai/veo3.1"),
  "fal-ai/veo3.1/fast/image-to-video": veo("fal-ai/veo3.1/fast"),
  "fal-ai/veo3.1": veo(),
  "fal-ai/veo3.1/fast": veo(),
};

export function videoEndpoint(id: string): VideoEndpoint {
  const e = VIDEO_ENDPOINTS[id];
  if (!e) throw new RangeError(`fal video model ${id} is not known; known: ${Object.keys(VIDEO_ENDPOINTS).join(", ")}`);
  return e;
}

/** The shortest allowed length that covers the request (the longest when none does), and a warning when it differs. */
export function pickDuration(
  model: string,
  allowed: number[],
  requested: number,
): { durationS: number; warning?: string } {
  const fit = allowed.find((d) => d >= requested - 1e-6);
  const durationS = fit ?? allowed[allowed.length - 1]!;
  if (Math.abs(durationS - requested) < 1e-6) return { durationS };
  const list = allowed.join(", ");
  return {
    durationS,
    warning:
      fit === undefined
        ? `${model} makes clips of ${list} s: asked ${requested} s, made ${durationS} s (shorter than asked)`
        : `${model} makes clips of ${list} s: asked ${requested} s, made ${durationS} s`,
  };
}
