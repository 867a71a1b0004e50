import { createHash } from "node:crypto";
import { open, stat } from "node:fs/promises";
import { createLru, type Lru } from "../core/lru.ts";
import { ComposeError } from "./compose-error.ts";
import { MediaError, probe, runFfmpeg } from "./ffmpeg.ts";

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

/** Width and height from a PNG, JPEG or WebP header, without decoding; null when not one of them. */
export function imageSize(b: Uint8Array): { width: number; height: number } | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= 24 && v.getUint32(0) === 0x89504e47 && v.getUint32(12) === 0x49484452)
    return { width: v.getUint32(16), height: v.getUint32(20) };
  if (b.length >= 30 && v.getUint32(0) === 0x52494646 && v.getUint32(8) === 0x57454250) {
    const chunk = String.fromCharCode(...b.subarray(12, 16));
    if (chunk === "VP8X")
      return {
        width: 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)),
        height: 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16)),
      };
    if (chunk === "VP8 ") return { width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff };
    if (chunk === "VP8L") {
      const bits = v.getUint32(21, true);
      return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
    }
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    for (let at = 2; at + 9 < b.length; ) {
      if (b[at] !== 0xff) return null;
      const marker = b[at + 1]!;
      const len = v.getUint16(at + 2);
      // Start-of-frame markers (not DHT, JPG or DAC) carry the size.
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker))
        return { width: v.getUint16(at + 7), height: v.getUint16(at + 5) };
      at += 2 + len;
    }
  }
  return null;
}

/** Seconds and channels of audio in a PCM WAV, from its header; null when not a WAV. */
export function wavInfo(b: Uint8Array): { durationS: number; channels: number } | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 12 || v.getUint32(0) !== 0x52494646 || v.getUint32(8) !== 0x57415645) return null;
  let byteRate = 0;
  let channels = 0;
  for (let at = 12; at + 8 <= b.length; ) {
    const id = String.fromCharCode(...b.subarray(at, at + 4));
    const size = v.getUint32(at + 4, true);
    if (id === "fmt " && at + 20 <= b.length) {
      channels = v.getUint16(at + 10, true);
      byteRate = v.getUint32(at + 16, true);
    }
    if (id === "data") return byteRate > 0 && channels > 0 ? { durationS: size / byteRate, channels } : null;
    at += 8 + size + (size % 2);
  }
  return null;
}

async function digestOf(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of Bun.file(path).stream() as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
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
    const size = imageSize(bytes);
    if (size) info = { kind: "image", ...size };
  } else if (expect === "audio") {
    const wav = wavInfo(bytes);
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
