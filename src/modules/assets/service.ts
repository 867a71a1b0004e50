import { randomBytes } from "node:crypto";
import { type Selectable, sql } from "kysely";
import { conflict, forbidden, notFound } from "../../core/errors.ts";
import { page } from "../../core/page.ts";
import type { Db } from "../../db/client.ts";
import type { AssetsTable, SpaceRole } from "../../db/types.ts";
import { assetUsers, purgeAsset } from "../../pipeline/asset-removal.ts";
import { ASSET_LINK_TTL_S, assetLinks, mediaType } from "../../services/asset-links.ts";
import { requireRole } from "../../services/spaces.ts";
import type { Storage } from "../../storage/types.ts";

type Asset = Selectable<AssetsTable>;

const CONFIRM_TTL_MS = 5 * 60_000;

/** An asset as the API shows it: what it is, where it belongs, and signed links (never its storage key). */
export async function assetView(storage: Storage, a: Asset) {
  const links = await assetLinks(storage, a);
  return {
    id: a.id,
    space_id: a.space_id,
    project_id: a.project_id,
    package_id: a.package_id,
    kind: a.kind,
    type: mediaType(a.mime_type),
    mime_type: a.mime_type,
    size: a.size,
    sha256: a.sha256,
    file_name: a.meta.file_name ?? null,
    width: a.meta.width ?? null,
    height: a.meta.height ?? null,
    duration_s: a.meta.duration_s ?? null,
    status: a.trashed_at ? ("trashed" as const) : ("active" as const),
    trashed_at: a.trashed_at?.toISOString() ?? null,
    download_count: a.download_count,
    download_url: links.url,
    thumbnail_url: links.thumbnail_url,
    expires_at: links.expires_at,
    created_at: a.created_at.toISOString(),
  };
}

/** Assets with the caller's role in their space (null: not a member). */
function withRole(db: Db, userId: string) {
  return db
    .selectFrom("assets")
    .leftJoin("space_members", (j) =>
      j.onRef("space_members.space_id", "=", "assets.space_id").on("space_members.user_id", "=", userId),
    )
    .selectAll("assets")
    .select("space_members.role as member_role");
}

/** The asset, if the caller may act on it with `minRole` in its space: 404 for a non-member, 403 for a lower role. */
async function requireAsset(
  db: Db,
  { userId, assetId }: { userId: string; assetId: string },
  minRole: SpaceRole,
  lock = false,
): Promise<Asset> {
  let q = withRole(db, userId).where("assets.id", "=", assetId);
  if (lock) q = q.forUpdate("assets");
  const row = await q.executeTakeFirst();
  if (!row?.member_role) throw notFound("asset");
  const { member_role: role, ...asset } = row;
  requireRole(role, minRole);
  return asset;
}

export interface AssetFilter {
  project_id?: string;
  package_id?: string;
  type?: "image" | "video" | "audio";
  kind?: string;
  status?: "active" | "trashed";
  page?: number;
  page_size?: number;
}

/** The assets of every space the caller is a member of, latest first; active ones unless asked for the trash. */
export async function listAssets(db: Db, storage: Storage, { userId }: { userId: string }, f: AssetFilter) {
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  let base = db
    .selectFrom("assets")
    .innerJoin("space_members", (j) =>
      j.onRef("space_members.space_id", "=", "assets.space_id").on("space_members.user_id", "=", userId),
    )
    .where("assets.trashed_at", f.status === "trashed" ? "is not" : "is", null);
  if (f.project_id) base = base.where("assets.project_id", "=", f.project_id);
  if (f.package_id) base = base.where("assets.package_id", "=", f.package_id);
  if (f.kind) base = base.where("assets.kind", "=", f.kind);
  if (f.type) base = base.where("assets.mime_type", "like", `${f.type}/%`);
  const [rows, count] = await Promise.all([
    base
      .selectAll("assets")
      .orderBy("assets.created_at", "desc")
      .orderBy("assets.id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    base.select(sql<number>`count(*)::int`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(await Promise.all(rows.map((r) => assetView(storage, r))), count.n, pageNo, size);
}

export async function getAsset(db: Db, storage: Storage, ids: { userId: string; assetId: string }) {
  return assetView(storage, await requireAsset(db, ids, "viewer"));
}

/** A fresh signed link to the file, counted. */
export async function downloadLink(db: Db, storage: Storage, ids: { userId: string; assetId: string }) {
  const a = await requireAsset(db, ids, "viewer");
  await db
    .updateTable("assets")
    .set({ download_count: sql<number>`download_count + 1` })
    .where("id", "=", a.id)
    .execute();
  const { url, expiresAt } = await storage.signedUrl(a.storage_key, ASSET_LINK_TTL_S, {
    ...(a.meta.file_name ? { downloadName: a.meta.file_name } : {}),
  });
  return { download_url: url, expires_at: expiresAt.toISOString() };
}

/** Moves an asset to the trash (an editor of its space), or back out of it; either twice is a no-op. */
export async function setTrashed(db: Db, storage: Storage, ids: { userId: string; assetId: string }, trashed: boolean) {
  await requireAsset(db, ids, "editor");
  const row = await db
    .updateTable("assets")
    .set({ trashed_at: trashed ? sql<Date>`coalesce(trashed_at, now())` : null })
    .where("id", "=", ids.assetId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return assetView(storage, row);
}

/**
 * Permanent deletion (ADMIN), in two steps: without `confirmToken`, a token valid five minutes;
 * with it, the row goes and the file's removal is queued in one transaction (the row locked, so
 * a use cannot start in between). An asset a package or an export still uses is 409, naming them.
 */
export async function deleteAsset(
  db: Db,
  { userId, assetId, confirmToken }: { userId: string; assetId: string; confirmToken?: string },
) {
  const exists = await db.selectFrom("assets").select("id").where("id", "=", assetId).executeTakeFirst();
  if (!exists) throw notFound("asset");
  if (!confirmToken) {
    const token = randomBytes(24).toString("base64url");
    const expiresAt = new Date(Date.now() + CONFIRM_TTL_MS);
    await db
      .insertInto("asset_delete_tokens")
      .values({ token, asset_id: assetId, user_id: userId, expires_at: expiresAt })
      .execute();
    return { deleted: false as const, confirm_token: token, expires_at: expiresAt.toISOString() };
  }
  return db.transaction().execute(async (trx) => {
    // Spent by a deletion that goes through; a refused one (409) rolls back and leaves it valid.
    const spent = await trx
      .deleteFrom("asset_delete_tokens")
      .where("token", "=", confirmToken)
      .where("asset_id", "=", assetId)
      .where("user_id", "=", userId)
      .returning("expires_at")
      .executeTakeFirst();
    if (!spent || spent.expires_at.getTime() < Date.now())
      throw forbidden("the confirm token is wrong or has expired: ask for another with a DELETE without it");
    const a = await trx.selectFrom("assets").selectAll().where("id", "=", assetId).forUpdate().executeTakeFirst();
    if (!a) throw notFound("asset");
    const users = await assetUsers(trx, assetId);
    if (users.length > 0) throw conflict("the asset is still in use", { used_by: users });
    await purgeAsset(trx, a);
    return { deleted: true as const, confirm_token: null, expires_at: null };
  });
}
