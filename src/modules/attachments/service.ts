import { conflict, notFound, validation } from "../../core/errors.ts";
import { type Db, isUniqueViolation } from "../../db/client.ts";
import type { AttachmentMetadata } from "../../db/types.ts";
import { assetLinks, mediaType } from "../../services/asset-links.ts";
import { requireProject } from "../../services/project-access.ts";
import type { Storage } from "../../storage/types.ts";
import type { AssetMeta } from "../../story/material.ts";

type Row = {
  id: string;
  project_id: string;
  asset_id: string;
  label: string;
  metadata: AttachmentMetadata;
  created_at: Date;
  mime_type: string;
  size: number;
  meta: AssetMeta;
  storage_key: string;
};

async function view(storage: Storage, r: Row) {
  const links = await assetLinks(storage, r);
  return {
    id: r.id,
    project_id: r.project_id,
    asset_id: r.asset_id,
    label: r.label,
    metadata: r.metadata,
    file_name: r.meta.file_name ?? null,
    file_type: r.mime_type,
    file_category: mediaType(r.mime_type),
    file_size: r.size,
    file_url: links.url,
    thumbnail_url: links.thumbnail_url,
    expires_at: links.expires_at,
    created_at: r.created_at.toISOString(),
  };
}

function rows(db: Db) {
  return db
    .selectFrom("project_attachments as pa")
    .innerJoin("assets", "assets.id", "pa.asset_id")
    .select([
      "pa.id",
      "pa.project_id",
      "pa.asset_id",
      "pa.label",
      "pa.metadata",
      "pa.created_at",
      "assets.mime_type",
      "assets.size",
      "assets.meta",
      "assets.storage_key",
    ]);
}

/** A picture labelled `character` says whose it is: the pipeline makes it that character's reference. */
function checkLabel(label: string, metadata: AttachmentMetadata, mime: string) {
  if ((label === "character" || label === "style") && !mime.startsWith("image/"))
    throw validation([{ path: "/label", message: `a ${label} attachment must be a picture, not ${mime}` }]);
  if (label === "character" && !metadata.character)
    throw validation([{ path: "/character", message: "a character attachment names its character" }]);
}

export interface AttachmentInput {
  asset_id: string;
  label: string;
  character?: string;
  note?: string;
}

/** Attaches an upload of the project's space to the project (an editor of it); twice is 409. */
export async function attach(
  db: Db,
  storage: Storage,
  { userId, projectId }: { userId: string; projectId: string },
  input: AttachmentInput,
) {
  const project = await requireProject(db, { userId, projectId }, "editor");
  const asset = await db
    .selectFrom("assets")
    .select(["id", "mime_type"])
    .where("id", "=", input.asset_id)
    .where("space_id", "=", project.space_id)
    .where("kind", "like", "upload\\_%")
    .where("trashed_at", "is", null)
    .executeTakeFirst();
  if (!asset) throw notFound("upload");
  const metadata: AttachmentMetadata = {
    ...(input.character ? { character: input.character } : {}),
    ...(input.note ? { note: input.note } : {}),
  };
  checkLabel(input.label, metadata, asset.mime_type);
  try {
    const { id } = await db
      .insertInto("project_attachments")
      .values({
        project_id: projectId,
        asset_id: asset.id,
        label: input.label,
        metadata: JSON.stringify(metadata),
        created_by: userId,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return view(storage, await rows(db).where("pa.id", "=", id).executeTakeFirstOrThrow());
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict("the upload is already attached to the project");
    throw e;
  }
}

export async function listAttachments(
  db: Db,
  storage: Storage,
  { userId, projectId }: { userId: string; projectId: string },
  filter: { category?: "image" | "video" | "audio"; label?: string },
) {
  await requireProject(db, { userId, projectId }, "viewer");
  let q = rows(db).where("pa.project_id", "=", projectId);
  if (filter.category) q = q.where("assets.mime_type", "like", `${filter.category}/%`);
  if (filter.label) q = q.where("pa.label", "=", filter.label);
  const found = await q.orderBy("pa.created_at").orderBy("pa.id").execute();
  return Promise.all(found.map((r) => view(storage, r)));
}

/** The attachment, if the caller may act on its project with `role` (404 otherwise). */
async function requireAttachment(
  db: Db,
  { userId, attachmentId }: { userId: string; attachmentId: string },
  role: "viewer" | "editor",
) {
  const row = await rows(db).where("pa.id", "=", attachmentId).executeTakeFirst();
  if (!row) throw notFound("attachment");
  await requireProject(db, { userId, projectId: row.project_id }, role).catch((e: unknown) => {
    throw (e as { code?: string }).code === "NOT_FOUND" ? notFound("attachment") : e;
  });
  return row;
}

/** Changes an attachment's label or what it says (an editor of its project). */
export async function updateAttachment(
  db: Db,
  storage: Storage,
  ids: { userId: string; attachmentId: string },
  input: Partial<Omit<AttachmentInput, "asset_id">>,
) {
  const row = await requireAttachment(db, ids, "editor");
  const label = input.label ?? row.label;
  const metadata: AttachmentMetadata = {
    ...row.metadata,
    ...(input.character !== undefined ? { character: input.character } : {}),
    ...(input.note !== undefined ? { note: input.note } : {}),
  };
  checkLabel(label, metadata, row.mime_type);
  await db
    .updateTable("project_attachments")
    .set({ label, metadata: JSON.stringify(metadata) })
    .where("id", "=", row.id)
    .execute();
  return view(storage, await rows(db).where("pa.id", "=", row.id).executeTakeFirstOrThrow());
}

/** Detaches it (an editor of its project); the upload stays an asset of the space. */
export async function detach(db: Db, ids: { userId: string; attachmentId: string }) {
  const row = await requireAttachment(db, ids, "editor");
  await db.deleteFrom("project_attachments").where("id", "=", row.id).execute();
  return { deleted: true as const };
}
