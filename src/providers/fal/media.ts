import { join } from "node:path";
import { probe, withTempDir } from "../../media/ffmpeg.ts";
import type { FalRuntime } from "./client.ts";
import { FalProviderError, relabel } from "./errors.ts";

/** fal's file object in results: `{url, content_type?, width?, height?, …}`. */
export interface FalFile {
  url: string;
  content_type?: string;
  width?: number;
  height?: number;
}

export function isFalFile(v: unknown): v is FalFile {
  return typeof v === "object" && v !== null && typeof (v as FalFile).url === "string";
}

/**
 * The bytes behind a result URL, fetched at once (fal's URLs expire). `data:` URLs (sync_mode)
 * are decoded. The download carries no credentials: result URLs are public CDN links.
 */
export async function download(rt: FalRuntime, url: string, model: string, signal?: AbortSignal): Promise<Uint8Array> {
  if (url.startsWith("data:")) {
    const comma = url.indexOf(",");
    const meta = url.slice(5, comma);
    const body = url.slice(comma + 1);
    return meta.endsWith(";base64")
      ? new Uint8Array(Buffer.from(body, "base64"))
      : new TextEncoder().encode(decodeURIComponent(body));
  }
  try {
    const res = await rt.fetch(url, { signal });
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw relabel(err, model, "download");
  }
}

export type ImageMime = "image/png" | "image/jpeg" | "image/webp";

/** The image type and size from its header: PNG IHDR, JPEG SOFn, WebP VP8/VP8L/VP8X. */
export function sniffImage(b: Uint8Array): { mimeType: ImageMime; width?: number; height?: number } | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return { mimeType: "image/png", width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) {
        i++;
        continue;
      }
      const marker = b[i + 1]!;
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { mimeType: "image/jpeg", height: dv.getUint16(i + 5), width: dv.getUint16(i + 7) };
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2;
        continue;
      }
      i += 2 + dv.getUint16(i + 2);
    }
    return { mimeType: "image/jpeg" };
  }
  if (b.length >= 30 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") {
    const chunk = ascii(b, 12, 4);
    if (chunk === "VP8X")
      return {
        mimeType: "image/webp",
        width: 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)),
        height: 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16)),
      };
    if (chunk === "VP8 ")
      return {
        mimeType: "image/webp",
        width: dv.getUint16(26, true) & 0x3fff,
        height: dv.getUint16(28, true) & 0x3fff,
      };
    if (chunk === "VP8L") {
      const bits = dv.getUint32(21, true);
      return { mimeType: "image/webp", width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
    }
    return { mimeType: "image/webp" };
  }
  return null;
}

const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** An MP4 (ISO BMFF) starts with an `ftyp` box. */
export const isMp4 = (b: Uint8Array) => b.length >= 12 && ascii(b, 4, 4) === "ftyp";

/** ffprobe's size and length of a downloaded clip. */
export async function probeVideo(
  bytes: Uint8Array,
  model: string,
): Promise<{ width: number; height: number; durationS: number }> {
  return withTempDir(async (dir) => {
    const path = join(dir, "clip.mp4");
    await Bun.write(path, bytes);
    try {
      const p = await probe(path);
      const v = p.streams.find((s) => s.codec_type === "video");
      if (!v?.width || !v.height) throw new Error("no video stream");
      return { width: v.width, height: v.height, durationS: p.durationS || Number(v.duration ?? 0) };
    } catch (err) {
      throw new FalProviderError({
        model,
        retryable: false,
        phase: "download",
        message: `fal ${model}: the result is not a readable video: ${(err as Error).message}`,
        cause: err,
      });
    }
  });
}
