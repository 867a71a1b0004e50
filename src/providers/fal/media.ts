import { videoFacts } from "../../media/ffmpeg.ts";
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

/** ffprobe's size and length of a downloaded clip. */
export async function probeVideo(
  bytes: Uint8Array,
  model: string,
): Promise<{ width: number; height: number; durationS: number }> {
  try {
    return await videoFacts(bytes);
  } catch (err) {
    throw new FalProviderError({
      model,
      retryable: false,
      phase: "download",
      message: `fal ${model}: the result is not a readable video: ${(err as Error).message}`,
      cause: err,
    });
  }
}
