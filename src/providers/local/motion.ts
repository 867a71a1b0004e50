import { join } from "node:path";
import { runFfmpeg, withTempDir } from "../../media/ffmpeg.ts";
import type { Camera } from "../../story/schemas.ts";
import type { GenerateResult, VideoModel, VideoOptions, VideoOutput } from "../types.ts";
import { CLIP_ENCODER, isOwnLayout, type PaintCache, paintClip, specOfHint } from "./painter.ts";

/** A camera move over a still: zoom (1 = none) and the view's centre as fractions, from start to end. */
interface Move {
  zoom: [number, number];
  x: [number, number];
  y: [number, number];
}

const MOVES: Record<Camera, Move> = {
  wide: { zoom: [1.18, 1.0], x: [0.5, 0.5], y: [0.5, 0.5] },
  medium: { zoom: [1.0, 1.12], x: [0.5, 0.5], y: [0.5, 0.48] },
  close_up: { zoom: [1.1, 1.3], x: [0.5, 0.5], y: [0.5, 0.45] },
  over_shoulder: { zoom: [1.15, 1.15], x: [0.45, 0.55], y: [0.5, 0.5] },
  tracking: { zoom: [1.2, 1.2], x: [0.4, 0.6], y: [0.5, 0.5] },
  aerial: { zoom: [1.3, 1.05], x: [0.5, 0.5], y: [0.4, 0.5] },
};

const f = (n: number) => Number(n.toFixed(5));

/**
 * zoompan over the image at the output size, eased in and out. (Upscaling first would smooth the
 * sub-pixel steps but triples the cost; these clips are re-encoded by the composer anyway.)
 */
export function motionFilter(camera: Camera, W: number, H: number, frames: number, fps: number): string {
  const m = MOVES[camera];
  // Smoothstep of the output frame number: the move starts and ends gently.
  const p = `(3*pow(on/${Math.max(1, frames - 1)},2)-2*pow(on/${Math.max(1, frames - 1)},3))`;
  const lerp = ([a, b]: [number, number]) => `(${f(a)}+${f(b - a)}*${p})`;
  const z = lerp(m.zoom);
  return [
    `scale=${W}:${H}:force_original_aspect_ratio=increase`,
    `crop=${W}:${H}`,
    `zoompan=z='${z}':x='max(0,min(iw-iw/zoom,iw*${lerp(m.x)}-iw/zoom/2))':y='max(0,min(ih-ih/zoom,ih*${lerp(m.y)}-ih/zoom/2))':d=${frames}:s=${W}x${H}:fps=${fps}`,
    "setsar=1",
    "format=yuv420p",
  ].join(",");
}

/**
 * The offline video provider. A keyframe the local painter drew (its layout says so) is painted
 * again in layers and moved with depth: the sky, the far and the near layers drift by how far
 * away they are, the weather falls, the camera zooms, and each speaker's mouth opens and closes
 * with their lines (`talk`). Any other picture is panned and zoomed over by ffmpeg, the move
 * chosen by the shot's camera. Text-to-video paints the keyframe from the scene first.
 */
export function createLocalMotion(cache?: PaintCache): VideoModel {
  return {
    provider: "local",
    modelId: "inkreel-motion-1",
    animatesSpeech: true,
    async generate(o: VideoOptions): Promise<GenerateResult<VideoOutput>> {
      const fps = o.fps ?? 24;
      if (!(o.durationS > 0 && o.durationS <= 60))
        throw new RangeError("a local clip lasts more than 0 and at most 60 seconds");
      const frames = Math.max(1, Math.round(o.durationS * fps));
      const layout = isOwnLayout(o.layout) ? o.layout : null;
      if (layout || !o.image) {
        const hint = layout?.scene ?? o.scene ?? { location: "studio", timeOfDay: "day", mood: "calm", characters: [] };
        const spec = specOfHint(
          hint,
          { width: o.width, height: o.height },
          {
            ...(hint.caption ? { caption: hint.caption } : {}),
            ...(layout ? { seed: layout.seed } : {}),
            ...(o.signal ? { signal: o.signal } : {}),
          },
        );
        const bytes = await paintClip(
          spec,
          { frames, fps, camera: o.camera ?? hint.camera ?? "medium", talk: o.talk ?? [] },
          cache,
        );
        return {
          data: { bytes, mimeType: "video/mp4", width: o.width, height: o.height, durationS: frames / fps },
          warnings: layout ? [] : ["text-to-video: the local provider paints the scene hint, then moves its layers"],
          usage: { videoSeconds: frames / fps },
          response: { provider: "local", modelId: "inkreel-motion-1", timestamp: new Date() },
        };
      }
      const image = o.image.bytes;
      const bytes = await withTempDir(async (dir) => {
        const input = join(dir, "frame");
        await Bun.write(input, image);
        const out = join(dir, "clip.mp4");
        await runFfmpeg(
          [
            "-i",
            input,
            "-vf",
            motionFilter(o.camera ?? "medium", o.width, o.height, frames, fps),
            "-frames:v",
            String(frames),
            ...CLIP_ENCODER,
            out,
          ],
          { signal: o.signal, durationS: frames / fps, timeoutMs: 5 * 60_000 },
        );
        return Bun.file(out).bytes();
      });
      return {
        data: { bytes, mimeType: "video/mp4", width: o.width, height: o.height, durationS: frames / fps },
        warnings: [],
        usage: { videoSeconds: frames / fps },
        response: { provider: "local", modelId: "inkreel-motion-1", timestamp: new Date() },
      };
    },
  };
}
