/**
 * What a file is, from its bytes rather than its name or a declared content type: file-type reads
 * the signature, image-size the pixel size, music-metadata a WAV's header. Every module that
 * checks bytes (uploads, provider results, compose inputs) asks here.
 */
import { type FileTypeResult, fileTypeFromBuffer } from "file-type";
import { imageSize } from "image-size";
import { parseFile } from "music-metadata";

export type { FileTypeResult };

/** The format file-type recognises in the bytes; undefined for text and unknown formats. */
export function sniff(bytes: Uint8Array): Promise<FileTypeResult | undefined> {
  return fileTypeFromBuffer(bytes);
}

export type ImageMime = "image/png" | "image/jpeg" | "image/webp";

// An APNG is a PNG whose first frame every PNG reader shows.
const IMAGE_MIMES: Record<string, ImageMime> = {
  png: "image/png",
  apng: "image/png",
  jpg: "image/jpeg",
  webp: "image/webp",
};

/** A pixel size from the header, or undefined when the header is cut short or damaged. */
function pixelSize(bytes: Uint8Array): { width: number; height: number; type?: string } | undefined {
  try {
    const { width, height, type } = imageSize(bytes);
    return { width, height, type };
  } catch {
    return undefined;
  }
}

/**
 * A PNG, JPEG or WebP's type and size, without decoding; null for any other bytes. The size is
 * missing when the header does not hold it (a JPEG cut before its frame header). A PNG whose
 * header is sound but whose later chunks are damaged is still a PNG here (file-type refuses it,
 * image-size does not): reading such a file is the decoder's failure to report, not this one's.
 */
export async function sniffImage(
  bytes: Uint8Array,
): Promise<{ mimeType: ImageMime; width?: number; height?: number } | null> {
  const type = await sniff(bytes);
  const size = pixelSize(bytes);
  const mimeType = IMAGE_MIMES[type?.ext ?? ""] ?? (type ? undefined : IMAGE_MIMES[size?.type ?? ""]);
  if (!mimeType) return null;
  return size ? { mimeType, width: size.width, height: size.height } : { mimeType };
}

export type AudioMime = "audio/wav" | "audio/mpeg" | "audio/mp4" | "audio/ogg" | "audio/flac";

// file-type's names for the audio an upload may be (an M4A is an MP4 with only sound: ffprobe decides).
const AUDIO_MIMES: Record<string, AudioMime> = {
  wav: "audio/wav",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  mp4: "audio/mp4",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg",
  flac: "audio/flac",
};

/** A WAV, MP3, M4A, OGG or FLAC's type from its signature; null for anything else. */
export async function sniffAudio(bytes: Uint8Array): Promise<AudioMime | null> {
  return AUDIO_MIMES[(await sniff(bytes))?.ext ?? ""] ?? null;
}

// ISO BMFF video (an `ftyp` box) that ffmpeg reads as MP4.
const MP4_FAMILY = new Set(["mp4", "m4v", "mov"]);

/** An MP4 (or its QuickTime and iTunes variants). */
export async function isMp4(bytes: Uint8Array): Promise<boolean> {
  return MP4_FAMILY.has((await sniff(bytes))?.ext ?? "");
}

/**
 * Seconds and channels of audio in a WAV file, from its header (`head` is the file's start, for
 * the signature); null when it is not a WAV or the header is unreadable. A header with no samples
 * is 0 s.
 */
export async function wavInfo(path: string, head: Uint8Array): Promise<{ durationS: number; channels: number } | null> {
  if ((await sniff(head))?.ext !== "wav") return null;
  try {
    const { format } = await parseFile(path, { duration: false, skipCovers: true });
    if (!(format.sampleRate && format.numberOfChannels)) return null;
    return { durationS: format.duration ?? 0, channels: format.numberOfChannels };
  } catch {
    return null;
  }
}
