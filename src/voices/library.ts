/**
 * The voice library: the voices each speech provider offers (table `voices`, one row per provider
 * and voice_id), filled from the provider (`refreshVoices`) by the pipeline's characters stage and
 * by POST /voices/sync; listing only reads it.
 */
import { type Selectable, sql } from "kysely";
import { validation } from "../core/errors.ts";
import { type Page, page } from "../core/page.ts";
import type { Db } from "../db/client.ts";
import type { VoicesTable } from "../db/types.ts";
import type { SpeechModel, VoiceInfo } from "../providers/types.ts";

/** A library older than this is fetched again. */
export const VOICES_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** Speech providers that speak with any voice name (local espeak maps each name to a voice), not only their listed ones. */
const OPEN_VOICE_PROVIDERS = new Set(["local"]);

/** Whether the provider's speech takes any voice name, its library listing only suggestions (local). */
export const acceptsAnyVoice = (provider: string) => OPEN_VOICE_PROVIDERS.has(provider);

const GENDERS = new Set(["female", "male", "neutral"]);
const AGES = new Set(["child", "young", "middle_aged", "old"]);

type VoiceRow = Selectable<VoicesTable>;

/** A library entry as the API shows it. */
export interface LibraryVoice extends VoiceInfo {
  provider: string;
  synced_at: string;
}

function toInfo(r: VoiceRow): VoiceInfo {
  return {
    voice_id: r.voice_id,
    name: r.name,
    gender: r.gender && GENDERS.has(r.gender) ? (r.gender as VoiceInfo["gender"]) : null,
    age: r.age && AGES.has(r.age) ? (r.age as VoiceInfo["age"]) : null,
    accent: r.accent,
    language: r.language,
    description: r.description,
    preview_url: r.preview_url,
    labels: r.labels ?? {},
  };
}

const toLibraryVoice = (r: VoiceRow): LibraryVoice => ({
  provider: r.provider,
  ...toInfo(r),
  synced_at: r.synced_at.toISOString(),
});

/** Every voice of a provider's library, by voice_id. */
export async function libraryVoices(db: Db, provider: string): Promise<VoiceInfo[]> {
  const rows = await db.selectFrom("voices").selectAll().where("provider", "=", provider).orderBy("voice_id").execute();
  return rows.map((r) => toInfo(r));
}

export interface RefreshResult {
  /** The provider's voices now in the library, by voice_id. */
  voices: VoiceInfo[];
  /** True when the provider was asked (the library was empty or stale). */
  refreshed: boolean;
  /** Set when asking the provider failed and the stored (stale) voices were kept. */
  warning: string | null;
}

/** Text that Postgres stores: no NULs, trimmed; empty is null. */
const text = (s: unknown, max = 2000): string | null => {
  if (typeof s !== "string") return null;
  const v = s.replaceAll("\u0000", "").trim().slice(0, max);
  return v ? v : null;
};

/**
 * Fetches `speech.voices()` when the provider has no voices in the library or they are older
 * than `maxAgeMs` (default 24 h), upserts them and deletes the provider's voices that are gone.
 * When the provider cannot be asked but voices are stored, those are kept and returned with a
 * warning; with none stored, the failure is thrown. An abort is thrown as it is.
 */
export async function refreshVoices(
  db: Db,
  speech: Pick<SpeechModel, "provider" | "voices">,
  options: {
    maxAgeMs?: number;
    signal?: AbortSignal /** false: a failed fetch is thrown even with voices stored. */;
    keepStoredOnFailure?: boolean;
  } = {},
): Promise<RefreshResult> {
  const provider = speech.provider;
  const maxAgeMs = options.maxAgeMs ?? VOICES_MAX_AGE_MS;
  const stats = await db
    .selectFrom("voices")
    .select((eb) => [eb.fn.countAll<string>().as("n"), eb.fn.min("synced_at").as("oldest")])
    .where("provider", "=", provider)
    .executeTakeFirstOrThrow();
  const stored = Number(stats.n);
  const oldest = stats.oldest ? new Date(stats.oldest as Date | string) : null;
  if (stored > 0 && oldest && Date.now() - oldest.getTime() < maxAgeMs) {
    return { voices: await libraryVoices(db, provider), refreshed: false, warning: null };
  }
  let fetched: VoiceInfo[];
  try {
    fetched = await speech.voices(options.signal);
  } catch (error) {
    if (options.signal?.aborted || stored === 0 || options.keepStoredOnFailure === false) throw error;
    const why = error instanceof Error ? error.message : String(error);
    return {
      voices: await libraryVoices(db, provider),
      refreshed: false,
      warning: `the voice list of ${provider} could not be fetched (${why}); the stored one is used`,
    };
  }
  const byId = new Map<string, VoiceInfo>();
  for (const v of fetched) {
    const id = text(v.voice_id, 200);
    if (id && !byId.has(id)) byId.set(id, { ...v, voice_id: id });
  }
  // An empty answer is more likely a hiccup than an account without voices: the stored ones stay.
  if (byId.size === 0 && stored > 0) {
    return {
      voices: await libraryVoices(db, provider),
      refreshed: false,
      warning: `${provider} listed no voices; the stored ones are kept`,
    };
  }
  const now = new Date();
  const rows = [...byId.values()].map((v) => ({
    provider,
    voice_id: v.voice_id,
    name: text(v.name, 200) ?? v.voice_id,
    gender: v.gender && GENDERS.has(v.gender) ? v.gender : null,
    age: v.age && AGES.has(v.age) ? v.age : null,
    accent: text(v.accent, 200),
    language: text(v.language, 35),
    description: text(v.description),
    preview_url: text(v.preview_url),
    labels: JSON.stringify(
      Object.fromEntries(
        Object.entries(v.labels ?? {}).flatMap(([k, x]) =>
          typeof x === "string" ? [[k.replaceAll("\u0000", ""), x.replaceAll("\u0000", "")]] : [],
        ),
      ),
    ),
    synced_at: now,
  }));
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 500) {
      await trx
        .insertInto("voices")
        .values(rows.slice(i, i + 500))
        .onConflict((oc) =>
          oc.columns(["provider", "voice_id"]).doUpdateSet((eb) => ({
            name: eb.ref("excluded.name"),
            gender: eb.ref("excluded.gender"),
            age: eb.ref("excluded.age"),
            accent: eb.ref("excluded.accent"),
            language: eb.ref("excluded.language"),
            description: eb.ref("excluded.description"),
            preview_url: eb.ref("excluded.preview_url"),
            labels: eb.ref("excluded.labels"),
            synced_at: eb.ref("excluded.synced_at"),
          })),
        )
        .execute();
    }
    const ids = rows.map((r) => r.voice_id);
    await trx
      .deleteFrom("voices")
      .where("provider", "=", provider)
      .where(sql<boolean>`voice_id <> all(${ids}::text[])`)
      .execute();
  });
  return { voices: await libraryVoices(db, provider), refreshed: true, warning: null };
}

export interface VoiceFilters {
  gender?: "female" | "male" | "neutral";
  /** A language code; matches voices labelled with it (case-insensitive), not unlabelled ones. */
  language?: string;
  page?: number;
  page_size?: number;
}

/** A page of the library, of one provider (or all when `provider` is empty), by provider, name and voice_id. */
export async function listVoices(
  db: Db,
  provider: string | null | undefined,
  filters: VoiceFilters = {},
): Promise<Page<LibraryVoice>> {
  const pageNo = filters.page ?? 1;
  const pageSize = filters.page_size ?? 20;
  let q = db.selectFrom("voices");
  if (provider) q = q.where("provider", "=", provider);
  if (filters.gender) q = q.where("gender", "=", filters.gender);
  if (filters.language) q = q.where(sql<boolean>`lower(language) = lower(${filters.language})`);
  const [rows, count] = await Promise.all([
    q
      .selectAll()
      .orderBy("provider")
      .orderBy("name")
      .orderBy("voice_id")
      .limit(pageSize)
      .offset((pageNo - 1) * pageSize)
      .execute(),
    q.select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(
    rows.map((r) => toLibraryVoice(r)),
    Number(count.n),
    pageNo,
    pageSize,
  );
}

/**
 * Whether speech of `provider` can speak with `voiceId`: it is in the provider's library, or the
 * library of the provider is not known (no rows), or the provider takes any name (local).
 */
export async function voiceAccepted(
  db: Db,
  { provider, voiceId }: { provider: string; voiceId: string },
): Promise<boolean> {
  if (voiceId.includes("\u0000")) return false;
  if (acceptsAnyVoice(provider)) return true;
  const row = await db
    .selectFrom("voices")
    .select([
      sql<number>`count(*)::int`.as("n"),
      sql<boolean>`coalesce(bool_or(voice_id = ${voiceId}), false)`.as("hit"),
    ])
    .where("provider", "=", provider)
    .executeTakeFirstOrThrow();
  return row.n === 0 || row.hit;
}

/** Refuses (400 VALIDATION_ERROR at `path`) a voice id that the provider's known library does not hold. */
export async function requireVoice(
  db: Db,
  { provider, voiceId }: { provider: string; voiceId: string },
  path = "/voice_id",
): Promise<void> {
  if (!(await voiceAccepted(db, { provider, voiceId }))) {
    throw validation(
      [
        {
          path,
          message: `voice ${voiceId} is not in the voice library of ${provider} (see GET /api/v1/voices?provider=${provider})`,
        },
      ],
      "unknown voice",
    );
  }
}
