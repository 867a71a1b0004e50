import { sql } from "kysely";
import type { Config } from "../../config.ts";
import { AppError, notFound, validation } from "../../core/errors.ts";
import {
  type CharacterData,
  itemAssetIds,
  type LibraryData,
  type LibraryDataOf,
  type LibraryKind,
  type MusicData,
  type StyleData,
  type VoiceData,
} from "../../core/library-item.ts";
import { type Page, page } from "../../core/page.ts";
import type { Db } from "../../db/client.ts";
import type { SpaceRole } from "../../db/types.ts";
import { checkItemAssets, type LibraryRow } from "../../library/items.ts";
import { AiServiceError, isProviderFailure } from "../../providers/ai-error.ts";
import { cloneElevenLabsVoice } from "../../providers/elevenlabs/index.ts";
import { assetLinks } from "../../services/asset-links.ts";
import { requireRole, requireSpaceRole } from "../../services/spaces.ts";
import type { Storage } from "../../storage/types.ts";
import { STYLE_LABELS, STYLE_PRESETS } from "../../story/styles.ts";

/** A library entry as listed: a space's own item, or a preset (a speech provider's voice, a built-in style). */
export interface Entry {
  id: string;
  kind: LibraryKind;
  space_id: string | null;
  name: string;
  description: string;
  tags: string[];
  data: LibraryData;
  usage_count: number | null;
  is_preset: boolean;
  /** A preset voice's sample, on its provider's servers. */
  sample_url: string | null;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

const toEntry = (r: LibraryRow): Entry => ({ ...r, is_preset: false, sample_url: null });

/** The built-in art styles as library entries (read-only: the `style` project option names them). */
function stylePresets() {
  return Object.entries(STYLE_PRESETS).map(([id, p]) => ({
    id: `preset:style:${id}`,
    name: STYLE_LABELS[id as keyof typeof STYLE_LABELS].name,
    description: `The built-in ${id} style (project option style: "${id}")`,
    tags: [STYLE_LABELS[id as keyof typeof STYLE_LABELS].category],
    data: {
      prompt_template: p.prompt,
      negative_prompt: "",
      preview_asset_id: null,
      palette: p.palette,
      monochrome: p.monochrome ?? false,
    } satisfies StyleData,
  }));
}

type Link = { asset_id: string; url: string; thumbnail_url: string | null };

/** Signed links to the assets a page of entries points at, by asset id. */
async function linksFor(db: Db, storage: Storage, entries: Entry[]): Promise<Map<string, Link>> {
  const ids = [...new Set(entries.flatMap((e) => itemAssetIds(e.kind, e.data)))];
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom("assets").select(["id", "storage_key", "meta"]).where("id", "in", ids).execute();
  const links = await Promise.all(
    rows.map(async (a): Promise<[string, Link]> => {
      const { url, thumbnail_url } = await assetLinks(storage, a);
      return [a.id, { asset_id: a.id, url, thumbnail_url }];
    }),
  );
  return new Map(links);
}

const linkOf = (links: Map<string, Link>, id: string | null) => (id ? (links.get(id) ?? null) : null);

function common(e: Entry) {
  return {
    id: e.id,
    kind: e.kind,
    space_id: e.space_id,
    name: e.name,
    description: e.description,
    tags: e.tags,
    usage_count: e.usage_count,
    is_preset: e.is_preset,
    created_by: e.created_by,
    created_at: e.created_at.toISOString(),
    updated_at: e.updated_at.toISOString(),
  };
}

/** Each kind's entry as the API shows it: common fields, then its own, files as signed links. */
const VIEW = {
  character: (e: Entry, links: Map<string, Link>) => {
    const d = e.data as CharacterData;
    const reference_images = d.reference_asset_ids.map((id) => linkOf(links, id)).filter((l) => l !== null);
    return { ...common(e), ...d, reference_images };
  },
  style: (e: Entry, links: Map<string, Link>) => {
    const d = e.data as StyleData;
    return { ...common(e), ...d, preview: linkOf(links, d.preview_asset_id) };
  },
  voice: (e: Entry, links: Map<string, Link>) => {
    const d = e.data as VoiceData;
    return { ...common(e), ...d, sample_url: linkOf(links, d.sample_asset_id)?.url ?? e.sample_url };
  },
  music: (e: Entry, links: Map<string, Link>) => {
    const d = e.data as MusicData;
    return { ...common(e), ...d, audio_url: linkOf(links, d.asset_id)?.url ?? null };
  },
};
export type ViewOf<K extends LibraryKind> = ReturnType<(typeof VIEW)[K]>;

async function views<K extends LibraryKind>(db: Db, storage: Storage, kind: K, entries: Entry[]): Promise<ViewOf<K>[]> {
  const links = await linksFor(db, storage, entries);
  return entries.map((e) => VIEW[kind](e, links) as ViewOf<K>);
}

export interface ListFilter {
  q?: string;
  tag?: string;
  is_preset?: boolean;
  gender?: string;
  language?: string;
  voice_type?: string;
  mood?: string;
  genre?: string;
  page?: number;
  page_size?: number;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Every entry a space sees, as one relation: its own items, the speech providers' voices and the
 * built-in styles (presets, read-only, usage not counted). Lists, search and categories all read
 * it, so a preset is filtered, paged and counted like an item.
 */
function entries(spaceId: string) {
  return sql`(
    select i.id::text as id, i.kind, i.space_id, i.name, i.description, i.tags, i.data, i.usage_count,
           false as is_preset, null::text as sample_url, i.created_by, i.created_at, i.updated_at
      from library_items i where i.space_id = ${spaceId}
    union all
    select 'preset:voice:' || v.provider || ':' || v.voice_id, 'voice', null, v.name, coalesce(v.description, ''),
           array_remove(array[v.accent], null),
           jsonb_build_object('provider', v.provider, 'voice_id', v.voice_id, 'voice_type', 'any',
             'gender', coalesce(v.gender, 'unknown'), 'language', v.language, 'sample_asset_id', null, 'cloned', false),
           null, true, v.preview_url, null, v.synced_at, v.synced_at
      from voices v
    union all
    select p.id, 'style', null, p.name, p.description, p.tags, p.data, null, true, null, null,
           'epoch'::timestamptz, 'epoch'::timestamptz
      from jsonb_to_recordset(${JSON.stringify(stylePresets())}::jsonb)
        as p(id text, name text, description text, tags text[], data jsonb)
  )`;
}

function conditions(kinds: LibraryKind[], f: ListFilter) {
  const where = [sql`e.kind = any(${kinds}::text[])`];
  if (f.q) {
    const like = `%${escapeLike(f.q)}%`;
    where.push(
      sql`(e.name ilike ${like} or e.description ilike ${like} or exists (select 1 from unnest(e.tags) t where t ilike ${like}))`,
    );
  }
  if (f.tag) where.push(sql`${f.tag} = any(e.tags)`);
  if (f.is_preset !== undefined) where.push(sql`e.is_preset = ${f.is_preset}`);
  for (const field of ["gender", "voice_type", "mood", "genre"] as const)
    if (f[field]) where.push(sql`e.data->>${field} = ${f[field]}`);
  if (f.language) where.push(sql`lower(e.data->>'language') = lower(${f.language})`);
  return sql.join(where, sql` and `);
}

async function entryPage(db: Db, { spaceId, kinds }: { spaceId: string; kinds: LibraryKind[] }, f: ListFilter) {
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  const where = conditions(kinds, f);
  const [{ rows }, { rows: count }] = await Promise.all([
    sql<Entry>`
      select e.* from ${entries(spaceId)} e where ${where}
       order by e.is_preset, e.created_at desc, e.id
       limit ${size} offset ${(pageNo - 1) * size}`.execute(db),
    sql<{ n: number }>`select count(*)::int as n from ${entries(spaceId)} e where ${where}`.execute(db),
  ]);
  return { rows, total: count[0]?.n ?? 0, pageNo, size };
}

/** The space a library call acts in: the one named, else the caller's current space (404 without either). */
function spaceOf({ spaceId, currentSpaceId }: { spaceId?: string; currentSpaceId: string | null }): string {
  const id = spaceId ?? currentSpaceId;
  if (!id) throw notFound("space");
  return id;
}

export interface Scope {
  userId: string;
  spaceId?: string;
  currentSpaceId: string | null;
}

/** A page of one kind's entries the space sees (viewer and up), its own first, newest first. */
export async function listItems<K extends LibraryKind>(db: Db, storage: Storage, scope: Scope, kind: K, f: ListFilter) {
  const spaceId = spaceOf(scope);
  await requireSpaceRole(db, { userId: scope.userId, spaceId }, "viewer");
  return kindPage(db, storage, { spaceId, kind }, f);
}

async function kindPage<K extends LibraryKind>(
  db: Db,
  storage: Storage,
  { spaceId, kind }: { spaceId: string; kind: K },
  f: ListFilter,
): Promise<Page<ViewOf<K>>> {
  const { rows, total, pageNo, size } = await entryPage(db, { spaceId, kinds: [kind] }, f);
  return page(await views(db, storage, kind, rows), total, pageNo, size);
}

/** Search across kinds (seed 003 §6.5.1): a page of each kind asked for, matching name, description or tag. */
export async function search(db: Db, storage: Storage, scope: Scope, f: ListFilter & { types: LibraryKind[] }) {
  const spaceId = spaceOf(scope);
  await requireSpaceRole(db, { userId: scope.userId, spaceId }, "viewer");
  const wants = (k: LibraryKind) => f.types.includes(k);
  const at = { spaceId };
  const [characters, styles, voices, music] = await Promise.all([
    wants("character") ? kindPage(db, storage, { ...at, kind: "character" }, f) : undefined,
    wants("style") ? kindPage(db, storage, { ...at, kind: "style" }, f) : undefined,
    wants("voice") ? kindPage(db, storage, { ...at, kind: "voice" }, f) : undefined,
    wants("music") ? kindPage(db, storage, { ...at, kind: "music" }, f) : undefined,
  ]);
  const results = {
    ...(characters ? { characters } : {}),
    ...(styles ? { styles } : {}),
    ...(voices ? { voices } : {}),
    ...(music ? { music } : {}),
  };
  return { q: f.q ?? null, results };
}

/** How many entries of each kind the space sees, own and preset, and by tag (its categories). */
export async function categories(db: Db, scope: Scope) {
  const spaceId = spaceOf(scope);
  await requireSpaceRole(db, { userId: scope.userId, spaceId }, "viewer");
  const { rows: kinds } = await sql<{ kind: LibraryKind; own: number; presets: number }>`
    select e.kind, count(*) filter (where not e.is_preset)::int as own, count(*) filter (where e.is_preset)::int as presets
      from ${entries(spaceId)} e group by e.kind`.execute(db);
  const { rows: tags } = await sql<{ kind: LibraryKind; tag: string; count: number }>`
    select e.kind, t as tag, count(*)::int as count from ${entries(spaceId)} e, unnest(e.tags) t
     group by e.kind, t order by count(*) desc, t`.execute(db);
  return (["character", "style", "voice", "music"] as const).map((kind) => {
    const k = kinds.find((x) => x.kind === kind);
    return {
      kind,
      count: (k?.own ?? 0) + (k?.presets ?? 0),
      own: k?.own ?? 0,
      presets: k?.presets ?? 0,
      tags: tags.filter((t) => t.kind === kind).map((t) => ({ tag: t.tag, count: t.count })),
    };
  });
}

/** A space's item of this kind, if the caller has `minRole` there: 404 for a non-member or another kind, 403 for a lower role. */
async function requireItem(
  db: Db,
  { userId, itemId }: { userId: string; itemId: string },
  kind: LibraryKind,
  minRole: SpaceRole,
): Promise<LibraryRow> {
  const row = await db
    .selectFrom("library_items")
    .leftJoin("space_members", (j) =>
      j.onRef("space_members.space_id", "=", "library_items.space_id").on("space_members.user_id", "=", userId),
    )
    .selectAll("library_items")
    .select("space_members.role as member_role")
    .where("library_items.id", "=", itemId)
    .executeTakeFirst();
  if (!row?.member_role || row.kind !== kind) throw notFound(`library ${kind}`);
  const { member_role: role, ...item } = row;
  requireRole(role, minRole);
  return item;
}

export async function getItem<K extends LibraryKind>(
  db: Db,
  storage: Storage,
  ids: { userId: string; itemId: string },
  kind: K,
) {
  const [v] = await views(db, storage, kind, [toEntry(await requireItem(db, ids, kind, "viewer"))]);
  return v!;
}

export interface ItemInput<D> {
  name: string;
  description?: string;
  tags?: string[];
  data: D;
}

const cleanTags = (tags: string[] | undefined) => [...new Set((tags ?? []).map((t) => t.trim()).filter(Boolean))];

/** What an item has when its creator does not say (a track's length is read from the track). */
const DEFAULTS: { [K in LibraryKind]: Partial<LibraryDataOf[K]> } = {
  character: {
    gender: "unknown",
    age: "unknown",
    appearance: "",
    personality: "",
    reference_asset_ids: [],
    voice: null,
  },
  style: { negative_prompt: "", preview_asset_id: null, palette: [], monochrome: false },
  voice: { voice_type: "any", gender: "unknown", language: null, sample_asset_id: null, cloned: false },
  music: { mood: null, genre: null, bpm: null, duration_s: 0 },
};

/** A track's length as ffprobe read it when it was stored. */
async function trackLength(db: Db, assetId: string): Promise<number> {
  const a = await db.selectFrom("assets").select("meta").where("id", "=", assetId).executeTakeFirst();
  return a?.meta.duration_s ?? 0;
}

/** Creates an item in a space the caller edits; the files it names must be the space's, of the right type. */
export async function createItem<K extends LibraryKind>(
  db: Db,
  storage: Storage,
  scope: Scope,
  kind: K,
  input: ItemInput<LibraryData>,
) {
  const spaceId = spaceOf(scope);
  await requireSpaceRole(db, { userId: scope.userId, spaceId }, "editor");
  let data = { ...DEFAULTS[kind], ...input.data } as LibraryData;
  await checkItemAssets(db, { spaceId, kind }, data);
  if (kind === "music")
    data = { ...(data as MusicData), duration_s: await trackLength(db, (data as MusicData).asset_id) };
  const row = await db
    .insertInto("library_items")
    .values({
      space_id: spaceId,
      kind,
      name: input.name,
      description: input.description ?? "",
      tags: cleanTags(input.tags),
      data: JSON.stringify(data),
      created_by: scope.userId,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const [v] = await views(db, storage, kind, [toEntry(row)]);
  return v!;
}

/** Changes an item's fields (an editor of its space): `data` fields given replace the stored ones. */
export async function updateItem<K extends LibraryKind>(
  db: Db,
  storage: Storage,
  ids: { userId: string; itemId: string },
  kind: K,
  input: Partial<Omit<ItemInput<LibraryData>, "data">> & { data?: Partial<LibraryData> },
) {
  const item = await requireItem(db, ids, kind, "editor");
  let data = { ...item.data, ...input.data } as LibraryData;
  await checkItemAssets(db, { spaceId: item.space_id, kind }, data);
  if (kind === "music")
    data = { ...(data as MusicData), duration_s: await trackLength(db, (data as MusicData).asset_id) };
  const row = await db
    .updateTable("library_items")
    .set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.tags !== undefined ? { tags: cleanTags(input.tags) } : {}),
      data: JSON.stringify(data),
      updated_at: new Date(),
    })
    .where("id", "=", item.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const [v] = await views(db, storage, kind, [toEntry(row)]);
  return v!;
}

/**
 * Deletes an item (an editor of its space). Projects that cast it keep what they took from it
 * (their materials hold copies); its files stay, as the space's uploads.
 */
export async function deleteItem(db: Db, ids: { userId: string; itemId: string }, kind: LibraryKind) {
  await requireItem(db, ids, kind, "editor");
  await db.deleteFrom("library_items").where("id", "=", ids.itemId).execute();
  return { deleted: true as const };
}

/**
 * Deletes many items of a space (an editor there) in one transaction: all go, or none. The items
 * are locked first; an id that is not one of the space's items (another space's, already gone,
 * another kind) is 404 naming it, and nothing is deleted.
 */
export async function batchDelete(db: Db, scope: Scope, itemIds: string[], kind?: LibraryKind) {
  const spaceId = spaceOf(scope);
  await requireSpaceRole(db, { userId: scope.userId, spaceId }, "editor");
  const ids = [...new Set(itemIds)];
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom("library_items")
      .select(["id", "kind"])
      .where("space_id", "=", spaceId)
      .where("id", "in", ids)
      .forUpdate()
      .execute();
    for (const id of ids) {
      const r = rows.find((x) => x.id === id);
      if (!r || (kind && r.kind !== kind))
        throw new AppError("NOT_FOUND", `library item ${id} not found: nothing was deleted`, { id });
    }
    await trx.deleteFrom("library_items").where("id", "in", ids).execute();
    return { deleted: ids.length };
  });
}

export interface CloneInput {
  name: string;
  description?: string;
  tags?: string[];
  sample_asset_ids: string[];
  gender?: VoiceData["gender"];
  language?: string | null;
  voice_type?: VoiceData["voice_type"];
}

/**
 * Clones a voice from the space's own recordings with ElevenLabs (its SDK's instant voice clone)
 * and keeps it as a library voice of the space, the first sample as its sample. Without an
 * ElevenLabs key this is 422; ElevenLabs refusing the samples is its error, as AI_SERVICE_ERROR.
 */
export async function cloneVoice(deps: { db: Db; storage: Storage; config: Config }, scope: Scope, input: CloneInput) {
  const { db, storage, config } = deps;
  const spaceId = spaceOf(scope);
  await requireSpaceRole(db, { userId: scope.userId, spaceId }, "editor");
  const eleven = config.cloud.elevenlabs;
  if (!eleven.apiKey)
    throw new AppError("UNPROCESSABLE", "voice cloning needs ElevenLabs: the server has no ELEVENLABS_API_KEY");
  const ids = [...new Set(input.sample_asset_ids)];
  const samples = await db
    .selectFrom("assets")
    .select(["id", "storage_key", "mime_type", "meta"])
    .where("space_id", "=", spaceId)
    .where("id", "in", ids)
    .where("trashed_at", "is", null)
    .execute();
  for (const id of ids) {
    const a = samples.find((s) => s.id === id);
    if (!a) throw notFound(`asset ${id}`);
    if (!a.mime_type.startsWith("audio/"))
      throw validation([{ path: "/sample_asset_ids", message: `asset ${id} is ${a.mime_type}, not a recording` }]);
  }
  const ordered = ids.map((id) => samples.find((s) => s.id === id)!);
  const labels = {
    ...(input.gender && input.gender !== "unknown" ? { gender: input.gender } : {}),
    ...(input.language ? { language: input.language } : {}),
  };
  let made: { voice_id: string };
  try {
    made = await cloneElevenLabsVoice(
      { apiKey: eleven.apiKey, ...(eleven.baseUrl ? { baseUrl: eleven.baseUrl } : {}) },
      {
        name: input.name,
        ...(input.description ? { description: input.description } : {}),
        labels,
        samples: await Promise.all(
          ordered.map(async (a) => ({
            bytes: await storage.get(a.storage_key),
            fileName: a.meta.file_name ?? `${a.id}.audio`,
            mimeType: a.mime_type,
          })),
        ),
      },
    );
  } catch (e) {
    if (!isProviderFailure(e)) throw e;
    throw new AiServiceError("speech", "elevenlabs", "voices", { spaceId }, e);
  }
  return createItem(db, storage, scope, "voice", {
    name: input.name,
    description: input.description,
    tags: input.tags,
    data: {
      provider: "elevenlabs",
      voice_id: made.voice_id,
      voice_type: input.voice_type ?? "any",
      gender: input.gender ?? "unknown",
      language: input.language ?? null,
      sample_asset_id: ordered[0]!.id,
      cloned: true,
    },
  });
}
