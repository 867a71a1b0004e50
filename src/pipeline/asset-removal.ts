import { type Selectable, sql } from "kysely";
import type { Db } from "../db/client.ts";
import type { AssetsTable } from "../db/types.ts";
import { enqueue } from "../queue/index.ts";
import { deleteKeysJob } from "./project-removal.ts";

export interface AssetUser {
  type: "package" | "export" | "library_item";
  id: string;
}

/**
 * Who still uses an asset: a material package (its characters, scenes, music, art style or a
 * shot's candidates and line audio), an export (its files or settings) or a library item (its
 * pictures, sample or track). Asset ids are uuids,
 * which appear in that JSON only as references, so a text match finds every use.
 */
export async function assetUsers(db: Db, assetId: string): Promise<AssetUser[]> {
  const needle = `%${assetId}%`;
  const { rows } = await sql<AssetUser>`
    select 'package' as type, p.id from packages p
     where concat(p.characters::text, p.scenes::text, p.music::text, p.art_style::text) like ${needle}
        or exists (select 1 from package_shots s where s.package_id = p.id and s.data::text like ${needle})
    union all
    select 'export' as type, e.id from exports e
     where e.files::text like ${needle} or e.options::text like ${needle}
    union all
    select 'library_item' as type, l.id from library_items l where l.data::text like ${needle}
  `.execute(db);
  return rows;
}

/** The asset's stored objects: its file and, for uploads, its thumbnail. */
const storedKeys = (a: Pick<Selectable<AssetsTable>, "storage_key" | "meta">) => [
  a.storage_key,
  ...(a.meta.thumbnail_key ? [a.meta.thumbnail_key] : []),
];

/** Deletes the asset's row and enqueues the removal of its files, in the caller's transaction. */
export async function purgeAsset(trx: Db, a: Selectable<AssetsTable>): Promise<void> {
  await trx.deleteFrom("assets").where("id", "=", a.id).execute();
  await enqueue(trx, deleteKeysJob(storedKeys(a)));
}

/**
 * Purges trashed assets older than the retention that nothing uses, each in its own transaction
 * with its row locked (a restore racing the purge either wins or finds the row gone). In use:
 * left in the trash, and counted.
 */
export async function purgeTrash(db: Db, retentionDays: number, limit = 200) {
  const due = await db
    .selectFrom("assets")
    .select("id")
    .where("trashed_at", "<=", sql<Date>`now() - ${`${retentionDays} days`}::interval`)
    .orderBy("trashed_at")
    .limit(limit)
    .execute();
  let purged = 0;
  let inUse = 0;
  for (const { id } of due) {
    const done = await db.transaction().execute(async (trx) => {
      const a = await trx
        .selectFrom("assets")
        .selectAll()
        .where("id", "=", id)
        .where("trashed_at", "is not", null)
        .forUpdate()
        .executeTakeFirst();
      if (!a) return null;
      if ((await assetUsers(trx, id)).length > 0) return false;
      await purgeAsset(trx, a);
      return true;
    });
    if (done === true) purged++;
    if (done === false) inUse++;
  }
  return { purged, in_use: inUse };
}
