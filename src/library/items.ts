/**
 * The asset library's rows as the rest of the system uses them: the items a project's options
 * cast (checked against the project's space, each use recorded in the caller's transaction), and
 * the stored files they point at, for the pipeline.
 */
import type { Selectable } from "kysely";
import { notFound, validation } from "../core/errors.ts";
import {
  type CharacterData,
  itemAssetIds,
  type LibraryKind,
  type MusicData,
  type StyleData,
  type VoiceData,
} from "../core/library-item.ts";
import type { ProjectOptions } from "../core/project-options.ts";
import type { Db } from "../db/client.ts";
import type { LibraryItemsTable } from "../db/types.ts";
import type { ArtStyle, AssetRef } from "../story/material.ts";

export type LibraryRow = Selectable<LibraryItemsTable>;
/** Every library id a project's options name, with the kind each must be and where it was named. */
export function optionItems(o: ProjectOptions): Array<{ id: string; kind: LibraryKind; path: string }> {
  const out: Array<{ id: string; kind: LibraryKind; path: string }> = [];
  for (const [i, id] of (o.subject_ids ?? []).entries()) out.push({ id, kind: "character", path: `/subject_ids/${i}` });
  for (const [name, id] of Object.entries(o.subject_map ?? {}))
    out.push({ id, kind: "character", path: `/subject_map/${name}` });
  if (o.style_id) out.push({ id: o.style_id, kind: "style", path: "/style_id" });
  if (o.voice_ids?.narrator) out.push({ id: o.voice_ids.narrator, kind: "voice", path: "/voice_ids/narrator" });
  for (const [name, id] of Object.entries(o.voice_ids?.characters ?? {}))
    out.push({ id, kind: "voice", path: `/voice_ids/characters/${name}` });
  return out;
}

/** The space's items with these ids (any kind), by id. */
export async function itemsOfSpace(db: Db, spaceId: string, ids: string[]): Promise<Map<string, LibraryRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom("library_items")
    .selectAll()
    .where("space_id", "=", spaceId)
    .where("id", "in", [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.id, r]));
}

/**
 * Records that a project uses these items (a project counts once per item). The trigger on
 * library_uses moves usage_count in this same transaction, under the item's row lock, so
 * concurrent uses never lose a count.
 */
export async function recordUses(trx: Db, { projectId }: { projectId: string }, itemIds: string[]) {
  if (itemIds.length === 0) return;
  await trx
    .insertInto("library_uses")
    .values([...new Set(itemIds)].map((item_id) => ({ item_id, project_id: projectId })))
    .onConflict((oc) => oc.columns(["item_id", "project_id"]).doNothing())
    .execute();
}

/**
 * Checks the library items a project's options name (each must be an item of the project's space
 * of the right kind: another space's is 404, a wrong kind 400) and records their use, in the
 * transaction that stores the options.
 */
export async function castFromLibrary(
  trx: Db,
  { spaceId, projectId }: { spaceId: string; projectId: string },
  options: ProjectOptions | undefined,
) {
  const named = optionItems(options ?? {});
  if (named.length === 0) return;
  const found = await itemsOfSpace(
    trx,
    spaceId,
    named.map((n) => n.id),
  );
  const missing = named.find((n) => !found.has(n.id));
  if (missing) throw notFound(`library ${missing.kind} ${missing.id}`);
  const wrong = named.filter((n) => found.get(n.id)!.kind !== n.kind);
  if (wrong.length > 0)
    throw validation(
      wrong.map((n) => ({
        path: `/options${n.path}`,
        message: `must be a library ${n.kind}, not a ${found.get(n.id)!.kind}`,
      })),
    );
  await recordUses(
    trx,
    { projectId },
    named.map((n) => n.id),
  );
}

/** The stored files behind asset ids of a space, in the order asked (ids not found are left out). */
export async function assetRefs(db: Db, spaceId: string, ids: string[]): Promise<AssetRef[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom("assets")
    .select(["id as asset_id", "storage_key", "mime_type", "sha256"])
    .where("space_id", "=", spaceId)
    .where("id", "in", ids)
    .execute();
  const byId = new Map(rows.map((r) => [r.asset_id, r]));
  return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
}

/** Asset ids an item may point at: the space's own, of the type the item needs; 400 naming the first that is not. */
export async function checkItemAssets(
  db: Db,
  { spaceId, kind }: { spaceId: string; kind: LibraryKind },
  data: CharacterData | StyleData | VoiceData | MusicData,
) {
  const ids = itemAssetIds(kind, data);
  if (ids.length === 0) return;
  const rows = await db
    .selectFrom("assets")
    .select(["id", "mime_type"])
    .where("space_id", "=", spaceId)
    .where("id", "in", ids)
    .where("trashed_at", "is", null)
    .execute();
  const want = kind === "voice" || kind === "music" ? "audio/" : "image/";
  for (const id of ids) {
    const a = rows.find((r) => r.id === id);
    if (!a) throw notFound(`asset ${id}`);
    if (!a.mime_type.startsWith(want))
      throw validation([{ path: "/", message: `asset ${id} is ${a.mime_type}: a library ${kind} needs ${want}*` }]);
  }
}

/**
 * A project's attached pictures that guide its run (labels `character` and `style`), oldest
 * first. A trashed upload stays attached (restoring it brings it back) but guides nothing.
 */
export async function attachedPictures(db: Db, { projectId }: { projectId: string }) {
  return db
    .selectFrom("project_attachments as pa")
    .innerJoin("assets", "assets.id", "pa.asset_id")
    .select([
      "pa.label",
      "pa.metadata",
      "assets.id as asset_id",
      "assets.storage_key",
      "assets.mime_type",
      "assets.sha256",
    ])
    .where("pa.project_id", "=", projectId)
    .where("pa.label", "in", ["character", "style"])
    .where("assets.mime_type", "like", "image/%")
    .where("assets.trashed_at", "is", null)
    .orderBy("pa.created_at")
    .orderBy("pa.id")
    .execute();
}

/** Attached pictures as the references the pipeline passes on. */
export const asRefs = (attached: Awaited<ReturnType<typeof attachedPictures>>): AssetRef[] =>
  attached.map(({ asset_id, storage_key, mime_type, sha256 }) => ({ asset_id, storage_key, mime_type, sha256 }));

/** A library style as a package's art style: its preview picture, then `pictures` (attached style pictures), its references. */
export async function artStyleOf(db: Db, spaceId: string, item: LibraryRow, pictures: AssetRef[]): Promise<ArtStyle> {
  const d = item.data as StyleData;
  const preview = d.preview_asset_id ? await assetRefs(db, spaceId, [d.preview_asset_id]) : [];
  const references = [...preview, ...pictures];
  return {
    name: item.name,
    prompt: d.prompt_template,
    palette: d.palette,
    monochrome: d.monochrome,
    library_item_id: item.id,
    ...(references.length > 0 ? { references } : {}),
  };
}
