import { createHash } from "node:crypto";
import { open, stat } from "node:fs/promises";
import { createLru, type Lru } from "../core/lru.ts";
import { ComposeError } from "./compose-error.ts";
import { MediaError, probe, runFfmpeg } from "./ffmpeg.ts";
import { sniffImage, wavInfo } from "./sniff.ts";

export interface MediaInfo {
  /** sha256 of the file's bytes: what segment digests are built from. */
  digest: string;
  kind: "image" | "video" | "audio";
  width?: number;
  height?: number;
  durationS?: number;
  channels?: number;
}

const MAX_INPUT_BYTES = 2 * 1024 ** 3;

/**
 * What inspect() has already found, by kind, path, size and mtime: a worker composes the same
 * inputs again and again (segments re-rendered after an edit), and hashing them is not free.
 * Bounded, as a worker runs for weeks; each process creates its own and passes it in.
 */
export type InspectCache = Lru<string, MediaInfo>;

export function createInspectCache(entries: number): InspectCache {
  return createLru(entries);
}

async function head(path: string, bytes: number): Promise<Uint8Array> {
  const f = await open(path, "r");
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await f.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await f.close();
  }
}

async function digestOf(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of Bun.file(path).stream()) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * What an input file holds, checked before any rendering: a missing, empty, corrupt or wrong-kind
 * file is a ComposeError naming the shot. Headers are read directly (PNG, JPEG, WebP, WAV); other
 * formats and every video go through ffprobe. Results are remembered per path, size and mtime.
 */
export async function inspect(
  cache: InspectCache,
  path: string,
  expect: MediaInfo["kind"],
  shotId: string | null,
  what: string,
): Promise<MediaInfo> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) throw new ComposeError(`the ${what} file is missing (${path.split("/").pop()})`, shotId);
  if (st.size === 0) throw new ComposeError(`the ${what} file is empty`, shotId);
  if (st.size > MAX_INPUT_BYTES) throw new ComposeError(`the ${what} file is larger than 2 GiB`, shotId);
  const key = `${expect}\0${path}\0${st.size}\0${st.mtimeMs}`;
  const known = cache.get(key);
  if (known) return known;
  const bytes = await head(path, 65_536);
  let info: Omit<MediaInfo, "digest"> | null = null;
  if (expect === "image") {
    const image = await sniffImage(bytes);
    if (image?.width !== undefined && image.height !== undefined)
      info = { kind: "image", width: image.width, height: image.height };
  } else if (expect === "audio") {
    const wav = await wavInfo(path, bytes);
    if (wav) info = { kind: "audio", ...wav };
  }
  if (!info) {
    const p = await probe(path).catch((e: unknown) => {
      if (e instanceof MediaError)
        throw new ComposeError(
          `the ${what} file cannot be read as ${expect === "audio" ? "audio" : expect === "video" ? "a video" : "an image"}`,
          shotId,
        );
      throw e;
    });
    const v = p.streams.find((s) => s.codec_type === "video");
    const a = p.streams.find((s) => s.codec_type === "audio");
    if (expect === "audio" && a)
      info = { kind: "audio", durationS: Number(a.duration ?? p.durationS), channels: a.channels ?? 2 };
    else if (expect !== "audio" && v?.width && v.height)
      info = { kind: expect, width: v.width, height: v.height, durationS: p.durationS };
    else throw new ComposeError(`the ${what} file holds no ${expect === "audio" ? "audio" : "picture"}`, shotId);
  }
  if (
    info.width !== undefined &&
    !(info.width > 0 && info.height! > 0 && info.width <= 16384 && info.height! <= 16384)
  ) {
    throw new ComposeError(`the ${what} is ${info.width}×${info.height}, outside 1 to 16384 pixels a side`, shotId);
  }
  if (expect !== "image" && !(info.durationS! > 0.01))
    throw new ComposeError(`the ${what} file has no length (0 s)`, shotId);
  const result = { ...info, digest: await digestOf(path) };
  cache.set(key, result);
  return result;
}

/** Decodes a file fully, to find the input that broke a render: null when it decodes cleanly. */
export async function decodeProblem(path: string, signal?: AbortSignal): Promise<string | null> {
  try {
    await runFfmpeg(["-v", "error", "-xerror", "-i", path, "-f", "null", "-"], { signal, timeoutMs: 120_000 });
    return null;
  } catch (e) {
    if (e instanceof MediaError && e.reason === "exit") return e.stderr.split("\n").pop() || e.message;
    throw e;
  }
}
