/** Signed, expiring links to a stored asset's file and thumbnail: the one way every view shows a file. */

import type { Storage } from "../storage/types.ts";
import type { AssetMeta } from "../story/material.ts";

export const ASSET_LINK_TTL_S = 3600;

/** What a MIME type says a file is. */
export const mediaType = (mime: string): "image" | "video" | "audio" | "file" =>
  mime.startsWith("image/")
    ? "image"
    : mime.startsWith("video/")
      ? "video"
      : mime.startsWith("audio/")
        ? "audio"
        : "file";

/** The file's link (named for download when it has a file name) and its thumbnail's, both expiring together. */
export async function assetLinks(storage: Storage, a: { storage_key: string; meta: AssetMeta }) {
  const file = await storage.signedUrl(
    a.storage_key,
    ASSET_LINK_TTL_S,
    a.meta.file_name ? { downloadName: a.meta.file_name } : undefined,
  );
  const thumb = a.meta.thumbnail_key ? await storage.signedUrl(a.meta.thumbnail_key, ASSET_LINK_TTL_S) : null;
  return { url: file.url, thumbnail_url: thumb?.url ?? null, expires_at: file.expiresAt.toISOString() };
}
