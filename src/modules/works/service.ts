import { createHash } from "node:crypto";
import { type Selectable, sql } from "kysely";
import { conflict, notFound } from "../../core/errors.ts";
import type { WorkStatus, WorkType } from "../../core/generation.ts";
import type { Lru } from "../../core/lru.ts";
import { page } from "../../core/page.ts";
import type { Db } from "../../db/client.ts";
import type { WorksTable } from "../../db/types.ts";
import { deleteKeysJob } from "../../pipeline/project-removal.ts";
import { enqueue } from "../../queue/index.ts";
import type { Storage } from "../../storage/types.ts";

const LINK_TTL_S = 3600;
/** A viewer's plays of one work count once per this many seconds. */
export const PLAY_WINDOW_S = 30 * 60;

type WorkRow = Selectable<WorksTable>;

async function link(storage: Storage, key: string | null) {
  return key ? (await storage.signedUrl(key, LINK_TTL_S)).url : null;
}

/** A work as its owner sees it: files as signed, expiring links. */
async function workView(storage: Storage, w: WorkRow) {
  return {
    id: w.id,
    type: w.type,
    title: w.title,
    status: w.status,
    thumbnail_url: await link(storage, w.thumbnail_key),
    file_url: await link(storage, w.file_key),
    expires_at: new Date(Date.now() + LINK_TTL_S * 1000).toISOString(),
    mime_type: w.mime_type,
    file_size: w.size === null ? null : Number(w.size),
    width: w.width,
    height: w.height,
    duration_s: w.duration_s,
    generation_id: w.generation_id,
    export_id: w.export_id,
    description: w.description,
    tags: w.tags,
    published: w.published_at !== null,
    published_at: w.published_at?.toISOString() ?? null,
    likes_count: w.likes_count,
    favorites_count: w.favorites_count,
    plays_count: w.plays_count,
    created_at: w.created_at.toISOString(),
  };
}

export interface WorkFilter {
  type?: WorkType;
  status?: WorkStatus;
  page?: number;
  page_size?: number;
}

/** The caller's works, newest first. */
export async function listWorks(db: Db, storage: Storage, userId: string, f: WorkFilter) {
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  let q = db.selectFrom("works").where("user_id", "=", userId);
  if (f.type) q = q.where("type", "=", f.type);
  if (f.status) q = q.where("status", "=", f.status);
  const [rows, count] = await Promise.all([
    q
      .selectAll()
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    q.select(sql<number>`count(*)::int`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(await Promise.all(rows.map((w) => workView(storage, w))), count.n, pageNo, size);
}

async function ownWork(db: Db, { userId, workId }: WorkRef): Promise<WorkRow> {
  const w = await db
    .selectFrom("works")
    .selectAll()
    .where("id", "=", workId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  if (!w) throw notFound("work");
  return w;
}

export interface WorkRef {
  userId: string;
  workId: string;
}

export async function getWork(db: Db, storage: Storage, ref: WorkRef) {
  return workView(storage, await ownWork(db, ref));
}

/** Keys among `keys` that nothing else names: no other work, and no asset (an export's files are assets). */
async function unsharedKeys(trx: Db, keys: string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const [works, assets] = await Promise.all([
    trx
      .selectFrom("works")
      .select(["file_key", "thumbnail_key"])
      .where((eb) => eb.or([eb("file_key", "in", keys), eb("thumbnail_key", "in", keys)]))
      .execute(),
    trx.selectFrom("assets").select("storage_key").where("storage_key", "in", keys).execute(),
  ]);
  const used = new Set([...works.flatMap((w) => [w.file_key, w.thumbnail_key]), ...assets.map((a) => a.storage_key)]);
  return keys.filter((k) => !used.has(k));
}

/**
 * Deletes one of the caller's works: it leaves the square at once (its likes, favourites and plays
 * go with it), and its files are removed by a queued job unless another work or an export still
 * names them. Two deletes of works sharing a file at the same moment each still see the other's
 * row and both keep it: the race errs on keeping a file, never on removing one in use.
 */
export async function deleteWork(db: Db, ref: WorkRef): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const w = await trx
      .deleteFrom("works")
      .where("id", "=", ref.workId)
      .where("user_id", "=", ref.userId)
      .returning(["file_key", "thumbnail_key"])
      .executeTakeFirst();
    if (!w) throw notFound("work");
    const keys = [w.file_key, w.thumbnail_key].filter((k): k is string => k !== null);
    const gone = await unsharedKeys(trx, keys);
    if (gone.length > 0) await enqueue(trx, deleteKeysJob(gone));
  });
}

/** A file name for downloads: the title's letters and digits (any script), the file's extension. */
export function downloadName(w: Pick<WorkRow, "title" | "mime_type" | "type">): string {
  const ext = w.mime_type?.split("/")[1]?.replace("jpeg", "jpg") ?? (w.type === "video" ? "mp4" : "png");
  const base =
    [
      ...w.title
        .normalize("NFC")
        .replace(/[^\p{L}\p{N}\- _]+/gu, " ")
        .replace(/\s+/g, " ")
        .trim(),
    ]
      .slice(0, 80)
      .join("")
      .trim() || "work";
  return `${base}.${ext}`;
}

export async function downloadWork(db: Db, storage: Storage, ref: WorkRef) {
  const w = await ownWork(db, ref);
  if (w.status !== "completed" || !w.file_key) throw conflict(`the work is ${w.status}: nothing to download yet`);
  const name = downloadName(w);
  const { url, expiresAt } = await storage.signedUrl(w.file_key, LINK_TTL_S, { downloadName: name });
  return { url, file_name: name, expires_at: expiresAt.toISOString() };
}

export async function publishWork(
  db: Db,
  storage: Storage,
  ref: WorkRef,
  what: { description?: string | undefined; tags?: string[] | undefined },
) {
  const w = await ownWork(db, ref);
  if (w.status !== "completed") throw conflict(`the work is ${w.status}: only a completed work can be published`);
  const row = await db
    .updateTable("works")
    .set({
      published_at: sql<Date>`coalesce(published_at, now())`,
      ...(what.description !== undefined ? { description: what.description } : {}),
      ...(what.tags !== undefined ? { tags: [...new Set(what.tags)] } : {}),
    })
    .where("id", "=", ref.workId)
    .where("user_id", "=", ref.userId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return workView(storage, row);
}

export async function unpublishWork(db: Db, storage: Storage, ref: WorkRef) {
  await ownWork(db, ref);
  const row = await db
    .updateTable("works")
    .set({ published_at: null })
    .where("id", "=", ref.workId)
    .where("user_id", "=", ref.userId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return workView(storage, row);
}

// ---- the square ----------------------------------------------------------------------------

export type FeedSort = "hot" | "latest";

export interface FeedQuery {
  type?: WorkType;
  sort?: FeedSort;
  page?: number;
  page_size?: number;
}

/** Published works with their authors: what the square shows of a work. */
function published(db: Db) {
  return db
    .selectFrom("works")
    .innerJoin("users", "users.id", "works.user_id")
    .where("works.published_at", "is not", null)
    .select([
      "works.id",
      "works.type",
      "works.title",
      "works.description",
      "works.tags",
      "works.thumbnail_key",
      "works.file_key",
      "works.duration_s",
      "works.width",
      "works.height",
      "works.likes_count",
      "works.favorites_count",
      "works.plays_count",
      "works.published_at",
      "works.created_at",
      "users.id as author_id",
      "users.username as author_username",
      "users.avatar_url as author_avatar_url",
    ]);
}
type FeedRow = Awaited<ReturnType<ReturnType<typeof published>["execute"]>>[number];

async function feedItem(storage: Storage, r: FeedRow) {
  return {
    id: r.id,
    type: r.type,
    title: r.title,
    description: r.description,
    tags: r.tags,
    thumbnail_url: await link(storage, r.thumbnail_key),
    file_url: await link(storage, r.file_key),
    duration_s: r.duration_s,
    width: r.width,
    height: r.height,
    likes_count: r.likes_count,
    favorites_count: r.favorites_count,
    play_count: r.plays_count,
    author: { id: r.author_id, username: r.author_username, avatar_url: r.author_avatar_url },
    published_at: r.published_at!.toISOString(),
    created_at: r.created_at.toISOString(),
  };
}

/** A feed page an API process keeps, with the square's version it was read at. */
export interface CachedFeed {
  version: string;
  at: number;
  page: Awaited<ReturnType<typeof readFeed>>;
}

/**
 * The square's feed: `hot` orders by the stored hot score (engagement decayed by age, see the
 * migration), `latest` by publication. One small read first: the square's total and version
 * (square_counts, kept by a trigger). A page this process read under the same version less than
 * `freshMs` ago is served again; any publication, unpublication or deletion moves the version,
 * so a deleted work leaves the feed at once in every process, while likes and plays show within
 * `freshMs` (SQUARE_FEED_CACHE_MS; 0 reads every page).
 */
export async function squareFeed(
  db: Db,
  storage: Storage,
  f: FeedQuery,
  cache: { pages: Lru<string, CachedFeed>; freshMs: number },
) {
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  const sort = f.sort ?? "hot";
  const square = await db
    .selectFrom("square_counts")
    .select(["n", "version"])
    .where("type", "=", f.type ?? "all")
    .executeTakeFirstOrThrow();
  const key = `${f.type ?? "all"}|${sort}|${pageNo}|${size}`;
  const kept = cache.pages.get(key);
  if (kept && kept.version === square.version && Date.now() - kept.at < cache.freshMs) return kept.page;
  const fresh = await readFeed(db, storage, { ...f, sort, page: pageNo, page_size: size }, Number(square.n));
  if (cache.freshMs > 0) cache.pages.set(key, { version: square.version, at: Date.now(), page: fresh });
  return fresh;
}

/**
 * One page of the feed: its ids picked first from a partial index of published works (per type
 * when filtered) by an index-only scan, then only those rows read with their authors, so a deep
 * page costs its offset in index entries, not in rows.
 */
async function readFeed(db: Db, storage: Storage, f: Required<Omit<FeedQuery, "type">> & FeedQuery, total: number) {
  const hot = f.sort === "hot";
  let ids = db.selectFrom("works").select("id").where("published_at", "is not", null);
  if (f.type) ids = ids.where("type", "=", f.type);
  ids = (hot ? ids.orderBy("hot", "desc") : ids.orderBy("published_at", "desc"))
    .orderBy("id", "desc")
    .limit(f.page_size)
    .offset((f.page - 1) * f.page_size);
  // `= any(array(…))`, not a join: the API's statements are prepared, and a generic plan of a
  // join against a LIMIT of unknown size hashes every published work; an array of ids is looked
  // up by primary key in every plan.
  const q = published(db).where(sql<boolean>`works.id = any(array(${ids}))`);
  const rows = await (hot ? q.orderBy("works.hot", "desc") : q.orderBy("works.published_at", "desc"))
    .orderBy("works.id", "desc")
    .execute();
  return page(await Promise.all(rows.map((r) => feedItem(storage, r))), total, f.page, f.page_size);
}

/** A user's published works, newest first (their public profile); 404 for no such user. */
export async function userWorks(db: Db, storage: Storage, userId: string, f: { page?: number; page_size?: number }) {
  const user = await db.selectFrom("users").select("id").where("id", "=", userId).executeTakeFirst();
  if (!user) throw notFound("user");
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  const [rows, count] = await Promise.all([
    published(db)
      .where("works.user_id", "=", userId)
      .orderBy("works.published_at", "desc")
      .orderBy("works.id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    db
      .selectFrom("works")
      .where("user_id", "=", userId)
      .where("published_at", "is not", null)
      .select(sql<number>`count(*)::int`.as("n"))
      .executeTakeFirstOrThrow(),
  ]);
  return page(await Promise.all(rows.map((r) => feedItem(storage, r))), count.n, pageNo, size);
}

/** The published works the caller favourited, latest favourite first. */
export async function myFavorites(db: Db, storage: Storage, userId: string, f: { page?: number; page_size?: number }) {
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  const mine = db.selectFrom("work_favorites").select("work_id").where("user_id", "=", userId);
  const [rows, count] = await Promise.all([
    published(db)
      .innerJoin("work_favorites as fav", (j) => j.onRef("fav.work_id", "=", "works.id").on("fav.user_id", "=", userId))
      .orderBy("fav.created_at", "desc")
      .orderBy("works.id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    db
      .selectFrom("works")
      .where("id", "in", mine)
      .where("published_at", "is not", null)
      .select(sql<number>`count(*)::int`.as("n"))
      .executeTakeFirstOrThrow(),
  ]);
  return page(await Promise.all(rows.map((r) => feedItem(storage, r))), count.n, pageNo, size);
}

/** A work the square shows: published (its author's own unpublished work is not on the square). 404 otherwise. */
async function lockPublished(trx: Db, workId: string) {
  const w = await trx
    .selectFrom("works")
    .select("id")
    .where("id", "=", workId)
    .where("published_at", "is not", null)
    .forUpdate()
    .executeTakeFirst();
  if (!w) throw notFound("work");
}

type Reaction = "like" | "favorite";
const TABLE = { like: "work_likes", favorite: "work_favorites" } as const;
const COUNT = { like: "likes_count", favorite: "favorites_count" } as const;

/**
 * Likes or favourites a published work, or takes it back: idempotent (a second like changes
 * nothing), and the count is exact under concurrency. The work's row is locked first, so the
 * reaction row and the count change together: concurrent likes from many users serialise on it,
 * and one user's concurrent likes meet on the reaction's primary key (one inserts, the rest find it).
 */
export async function react(
  db: Db,
  { userId, workId }: WorkRef,
  { kind, on }: { kind: Reaction; on: boolean },
): Promise<{ active: boolean; count: number }> {
  return db.transaction().execute(async (trx) => {
    await lockPublished(trx, workId);
    const table = TABLE[kind];
    const changed = on
      ? await trx
          .insertInto(table)
          .values({ work_id: workId, user_id: userId })
          .onConflict((oc) => oc.columns(["work_id", "user_id"]).doNothing())
          .returning("work_id")
          .executeTakeFirst()
      : await trx
          .deleteFrom(table)
          .where("work_id", "=", workId)
          .where("user_id", "=", userId)
          .returning("work_id")
          .executeTakeFirst();
    const column = COUNT[kind];
    const row = changed
      ? await trx
          .updateTable("works")
          .set({ [column]: sql<number>`${sql.ref(column)} + ${on ? 1 : -1}` })
          .where("id", "=", workId)
          .returning(column)
          .executeTakeFirstOrThrow()
      : await trx.selectFrom("works").select(column).where("id", "=", workId).executeTakeFirstOrThrow();
    return { active: on, count: (row as Record<string, number>)[column]! };
  });
}

/** Who is watching: the user, or a hash of the address (the address itself is never stored). */
export function viewerOf(userId: string | null, ip: string, secret: string): string {
  if (userId) return `user:${userId}`;
  return `ip:${createHash("sha256").update(`${secret}\n${ip}`).digest("base64url").slice(0, 32)}`;
}

/**
 * Counts a play of a published work at most once per viewer per PLAY_WINDOW_S: one upsert whose
 * conflict arm only moves the viewer's last counted play once the window has passed, so replays
 * (and concurrent spam) inside the window count nothing.
 */
export async function countPlay(db: Db, { workId, viewer }: { workId: string; viewer: string }) {
  return db.transaction().execute(async (trx) => {
    await lockPublished(trx, workId);
    const counted = await sql<{ work_id: string }>`
      insert into work_plays (work_id, viewer, counted_at) values (${workId}, ${viewer}, now())
      on conflict (work_id, viewer) do update set counted_at = now()
      where work_plays.counted_at < now() - make_interval(secs => ${PLAY_WINDOW_S})
      returning work_id
    `.execute(trx);
    const row =
      counted.rows.length > 0
        ? await trx
            .updateTable("works")
            .set({ plays_count: sql<number>`plays_count + 1` })
            .where("id", "=", workId)
            .returning("plays_count")
            .executeTakeFirstOrThrow()
        : await trx.selectFrom("works").select("plays_count").where("id", "=", workId).executeTakeFirstOrThrow();
    return { counted: counted.rows.length > 0, play_count: row.plays_count };
  });
}
