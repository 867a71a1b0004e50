import { join } from "node:path";
import { type Selectable, sql } from "kysely";
import type { Config } from "../../config.ts";
import { AppError, unsupported } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import type { AssetsTable } from "../../db/types.ts";
import { withTempDir } from "../../media/ffmpeg.ts";
import { sniff } from "../../media/sniff.ts";
import { makeThumbnail } from "../../media/thumbnail.ts";
import { assetLinks } from "../../services/asset-links.ts";
import { probeSent } from "../../services/media-check.ts";
import { requireProject } from "../../services/project-access.ts";
import { requireSpaceRole } from "../../services/spaces.ts";
import type { Storage } from "../../storage/types.ts";

export type UploadKind = "image" | "video" | "audio";

/** What an upload may be, by the format its bytes show (file-type's name → type and MIME). */
const ACCEPTED: Record<string, { kind: UploadKind; mime: string }> = {
  png: { kind: "image", mime: "image/png" },
  jpg: { kind: "image", mime: "image/jpeg" },
  webp: { kind: "image", mime: "image/webp" },
  mp4: { kind: "video", mime: "video/mp4" },
  m4v: { kind: "video", mime: "video/mp4" },
  mov: { kind: "video", mime: "video/quicktime" },
  webm: { kind: "video", mime: "video/webm" },
  wav: { kind: "audio", mime: "audio/wav" },
  mp3: { kind: "audio", mime: "audio/mpeg" },
  m4a: { kind: "audio", mime: "audio/mp4" },
  ogg: { kind: "audio", mime: "audio/ogg" },
  oga: { kind: "audio", mime: "audio/ogg" },
  opus: { kind: "audio", mime: "audio/ogg" },
};

/** The file names a client may give each format (a name saying otherwise is a renamed file: 415). */
const EXTENSIONS: Record<string, string[]> = {
  "image/png": ["png"],
  "image/jpeg": ["jpg", "jpeg"],
  "image/webp": ["webp"],
  "video/mp4": ["mp4", "m4v"],
  "video/quicktime": ["mov", "qt"],
  "video/webm": ["webm"],
  "audio/wav": ["wav", "wave"],
  "audio/mpeg": ["mp3"],
  "audio/mp4": ["m4a", "mp4"],
  "audio/ogg": ["ogg", "oga", "opus"],
};
const KNOWN_EXTENSIONS = new Set(Object.values(EXTENSIONS).flat());

/** Limits and accepted types (seed 003 §2.2.1). */
export function uploadConfig(config: Config) {
  const types = (kind: UploadKind) => [
    ...new Set(
      Object.values(ACCEPTED)
        .filter((a) => a.kind === kind)
        .map((a) => a.mime),
    ),
  ];
  return {
    max_file_bytes: config.uploads.maxBytes,
    max_in_flight_per_user: config.uploads.perUser,
    accepted: { image: types("image"), video: types("video"), audio: types("audio") },
    extensions: EXTENSIONS,
  };
}

/** How long a slot counts when its process never gives it back (it died mid-upload). */
const SLOT_LEASE_MS = 60 * 60_000;

/**
 * Takes one of the user's upload slots, or answers 429: at most `perUser` uploads stream in at
 * once, counted in Postgres so the limit holds across API processes. The user's advisory lock
 * orders concurrent takers, so two cannot both see the last free slot.
 */
export async function takeUploadSlot(db: Db, { userId, limit }: { userId: string; limit: number }): Promise<string> {
  const slot = await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('upload_slots'), hashtext(${userId}))`.execute(trx);
    const { n } = await trx
      .selectFrom("upload_slots")
      .select(sql<number>`count(*)::int`.as("n"))
      .where("user_id", "=", userId)
      .where("expires_at", ">", sql<Date>`now()`)
      .executeTakeFirstOrThrow();
    if (n >= limit) return null;
    return trx
      .insertInto("upload_slots")
      .values({ user_id: userId, expires_at: sql<Date>`now() + ${`${SLOT_LEASE_MS} milliseconds`}::interval` })
      .returning("id")
      .executeTakeFirstOrThrow();
  });
  if (!slot)
    throw new AppError(
      "RATE_LIMITED",
      `at most ${limit} uploads at once: wait for one to finish`,
      { limit },
      { "retry-after": "5" },
    );
  return slot.id;
}

export async function releaseUploadSlot(db: Db, slotId: string): Promise<void> {
  await db.deleteFrom("upload_slots").where("id", "=", slotId).execute();
}

export const badProjectId = () =>
  new AppError("VALIDATION_ERROR", "project_id must be a uuid", {
    fields: [{ path: "/project_id", message: "must be a uuid" }],
  });

/** What the upload is, from its first bytes; a name that says another format is a renamed file (415). */
export async function uploadType(head: Uint8Array, fileName: string) {
  const found = await sniff(head);
  const accepted = found ? ACCEPTED[found.ext] : undefined;
  if (!accepted)
    throw unsupported(
      `${found ? `${found.mime} files are` : "this file is"} not accepted: upload a PNG, JPEG or WebP picture, an MP4, MOV or WebM video, or a WAV, MP3, M4A or OGG recording`,
    );
  const ext = fileName.includes(".") ? fileName.split(".").pop()!.toLowerCase() : "";
  if (KNOWN_EXTENSIONS.has(ext) && !EXTENSIONS[accepted.mime]!.includes(ext))
    throw unsupported(`the file is named .${ext} but its bytes are ${accepted.mime}`);
  return accepted;
}

/** Size and length as ffprobe reads them, and a 320-pixel-wide JPEG thumbnail for pictures and videos. */
async function inspect(path: string, kind: UploadKind, thumbDir: string) {
  const probed = await probeSent(path, kind);
  const { visual } = probed;
  let thumbnail: string | null = null;
  if (kind !== "audio") {
    thumbnail = join(thumbDir, "thumbnail.jpg");
    await makeThumbnail(path, thumbnail).catch(() => {
      throw unsupported("no picture can be read from the file");
    });
  }
  return {
    width: visual?.width ?? null,
    height: visual?.height ?? null,
    durationS: kind === "image" ? null : probed.durationS > 0 ? probed.durationS : null,
    thumbnail,
  };
}

export interface Uploaded {
  path: string;
  fileName: string;
  size: number;
  head: Uint8Array;
}

/**
 * Stores a received upload as an asset of the caller's space (an editor there) or of one of its
 * projects (an editor of it): type sniffed, size and length read, thumbnail made, the file moved
 * into storage from disk (streamed, not read into memory). The asset row is written only once
 * every stored byte is in place, and a failed write removes what was stored.
 */
export async function storeUpload(
  deps: { db: Db; storage: Storage },
  { userId, spaceId, projectId }: { userId: string; spaceId: string | null; projectId: string | null },
  f: Uploaded,
) {
  const { db, storage } = deps;
  const project = projectId ? await requireProject(db, { userId, projectId }, "editor") : null;
  const space = project?.space_id ?? spaceId;
  if (!space) throw new AppError("CONFLICT", "you have no current space: switch to one, or name a project_id");
  if (!project) await requireSpaceRole(db, { userId, spaceId: space }, "editor");
  const type = await uploadType(f.head, f.fileName);
  return withTempDir(async (dir) => {
    const seen = await inspect(f.path, type.kind, dir);
    const id = crypto.randomUUID();
    const base = project ? `projects/${project.id}/uploads/${id}` : `spaces/${space}/uploads/${id}`;
    const ext = EXTENSIONS[type.mime]![0]!;
    const key = `${base}.${ext}`;
    const thumbKey = seen.thumbnail ? `${base}.thumb.jpg` : null;
    const stored = await storage.put(key, { path: f.path }, { contentType: type.mime });
    try {
      if (thumbKey && seen.thumbnail)
        await storage.put(thumbKey, { path: seen.thumbnail }, { contentType: "image/jpeg" });
      return await db
        .insertInto("assets")
        .values({
          id,
          space_id: space,
          project_id: project?.id ?? null,
          owner_id: userId,
          kind: `upload_${type.kind}`,
          mime_type: type.mime,
          size: stored.size,
          sha256: stored.sha256,
          input_digest: `upload:${id}`,
          storage_key: key,
          meta: JSON.stringify({
            file_name: f.fileName.slice(0, 200),
            ...(seen.width ? { width: seen.width, height: seen.height } : {}),
            ...(seen.durationS ? { duration_s: seen.durationS } : {}),
            ...(thumbKey ? { thumbnail_key: thumbKey } : {}),
          }),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (e) {
      await storage.delete(key).catch(() => {});
      if (thumbKey) await storage.delete(thumbKey).catch(() => {});
      throw e;
    }
  });
}

/** An uploaded asset as the API shows it: its file and thumbnail as signed, expiring links. */
export async function uploadView(storage: Storage, a: Selectable<AssetsTable>) {
  const links = await assetLinks(storage, a);
  return {
    id: a.id,
    space_id: a.space_id,
    project_id: a.project_id,
    type: a.kind.replace(/^upload_/, ""),
    mime_type: a.mime_type,
    file_name: a.meta.file_name ?? null,
    size: a.size,
    width: a.meta.width ?? null,
    height: a.meta.height ?? null,
    duration_s: a.meta.duration_s ?? null,
    url: links.url,
    thumbnail_url: links.thumbnail_url,
    expires_at: links.expires_at,
    created_at: a.created_at.toISOString(),
  };
}
