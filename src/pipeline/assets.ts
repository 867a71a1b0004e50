import { createHash } from "node:crypto";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import { isUniqueViolation } from "../db/client.ts";
import type { Storage } from "../storage/types.ts";
import type { AssetMeta, AssetRef } from "../story/material.ts";

/** The digest of everything an artifact is made from: same inputs, same digest, same asset. */
export const inputDigest = (inputs: unknown) => createHash("sha256").update(JSON.stringify(inputs)).digest("hex");

const EXT: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "audio/wav": "wav",
  "audio/mpeg": "mp3",
  "audio/mp4": "m4a",
  "audio/ogg": "ogg",
  "audio/flac": "flac",
  "video/mp4": "mp4",
};

export interface AssetOwner {
  spaceId: string;
  projectId: string;
  packageId: string | null;
  ownerId: string | null;
}

const toRef = (a: { id: string; storage_key: string; mime_type: string; sha256: string }): AssetRef => ({
  asset_id: a.id,
  storage_key: a.storage_key,
  mime_type: a.mime_type,
  sha256: a.sha256,
});

/** The asset already made from these inputs in this project, if any. */
export async function findAsset(db: Db, projectId: string, kind: string, digest: string) {
  return db
    .selectFrom("assets")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("kind", "=", kind)
    .where("input_digest", "=", digest)
    .executeTakeFirst();
}

/** What is known of a stored asset besides its bytes (its `meta`), if it exists. */
export async function assetMeta(db: Db, assetId: string): Promise<AssetMeta | undefined> {
  const row = await db.selectFrom("assets").select("meta").where("id", "=", assetId).executeTakeFirst();
  return row?.meta;
}

/**
 * Returns the project's asset for (kind, digest), making it with `make` only when none exists. Two
 * workers racing on the same digest both store bytes, but only one row wins; the loser's file is
 * removed and the winner's asset returned, so no duplicate asset is ever recorded.
 */
export async function ensureAsset(
  db: Db,
  storage: Storage,
  owner: AssetOwner,
  kind: string,
  digest: string,
  make: () => Promise<{ bytes: Uint8Array; mimeType: string; meta?: AssetMeta }>,
): Promise<{ ref: AssetRef; meta: AssetMeta; reused: boolean }> {
  const existing = await findAsset(db, owner.projectId, kind, digest);
  if (existing) return { ref: toRef(existing), meta: existing.meta, reused: true };
  const made = await make();
  const key = `projects/${owner.projectId}/${kind}/${digest.slice(0, 32)}-${crypto.randomUUID().slice(0, 8)}.${EXT[made.mimeType] ?? "bin"}`;
  const stored = await storage.put(key, made.bytes, { contentType: made.mimeType });
  try {
    const row = await db
      .insertInto("assets")
      .values({
        space_id: owner.spaceId,
        project_id: owner.projectId,
        package_id: owner.packageId,
        owner_id: owner.ownerId,
        kind,
        mime_type: made.mimeType,
        size: stored.size,
        sha256: stored.sha256,
        input_digest: digest,
        storage_key: key,
        meta: JSON.stringify(made.meta ?? {}),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ref: toRef(row), meta: row.meta, reused: false };
  } catch (e) {
    await storage.delete(key).catch(() => {});
    if (!isUniqueViolation(e)) throw e;
    const winner = await findAsset(db, owner.projectId, kind, digest);
    if (!winner) throw e;
    return { ref: toRef(winner), meta: winner.meta, reused: true };
  }
}

/**
 * A local file holding the asset's bytes, for ffmpeg: kept under `cacheDir` by content hash, so
 * each file is fetched from storage once per machine.
 */
export async function localFile(storage: Storage, ref: AssetRef, cacheDir: string): Promise<string> {
  const path = join(cacheDir, `${ref.sha256}.${EXT[ref.mime_type] ?? "bin"}`);
  if (await Bun.file(path).exists()) return path;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Bun.write(tmp, await storage.get(ref.storage_key));
  await rename(tmp, path);
  return path;
}
