import { type Selectable, sql } from "kysely";
import type { Config } from "../../config.ts";
import { notFound, unsupported } from "../../core/errors.ts";
import {
  type GenerationError,
  type GenerationKind,
  type GenerationParams,
  type GenerationStatus,
  isVideoKind,
  type MadeFile,
  type SourceImage,
  type VideoResolution,
} from "../../core/generation.ts";
import { page } from "../../core/page.ts";
import type { Db } from "../../db/client.ts";
import type { GenerationsTable, UserTier } from "../../db/types.ts";
import { sniffImage } from "../../media/sniff.ts";
import { estimateGeneration } from "../../pipeline/estimate.ts";
import { GENERATION_CAPABILITY, generateJob } from "../../pipeline/generate.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { enqueue } from "../../queue/index.ts";
import { type ChargeView, queuePriority, reserveFor } from "../../services/compute.ts";
import { resolveModel } from "../../services/generation-models.ts";
import { requireSpaceRole } from "../../services/spaces.ts";
import { chargeUsage, limitRequest } from "../../services/usage-limits.ts";
import type { Storage } from "../../storage/types.ts";

const LINK_TTL_S = 3600;

export type Aspect = "16:9" | "9:16" | "1:1";

/** A clip's frame from its resolution (the short side) and aspect ratio; even sides for H.264. */
export function frameOf(resolution: VideoResolution, aspect: Aspect): { width: number; height: number } {
  const short = Number.parseInt(resolution, 10);
  const long = Math.round((short * 16) / 9 / 2) * 2;
  if (aspect === "1:1") return { width: short, height: short };
  return aspect === "16:9" ? { width: long, height: short } : { width: short, height: long };
}

/** The aspect ratio nearest a picture's. */
export function aspectOf(size: { width?: number; height?: number }): Aspect {
  if (!size.width || !size.height) return "16:9";
  const r = size.width / size.height;
  return r > 1.2 ? "16:9" : r < 0.83 ? "9:16" : "1:1";
}

/** What the job will roughly take, in seconds: local models run here, cloud ones queue and render remotely. */
function estimateS(kind: GenerationKind, provider: string, p: GenerationParams): number {
  const local = provider === "local";
  if (!isVideoKind(kind)) return (local ? 3 : 15) * (p.num_images ?? 1);
  const seconds = p.duration_s ?? 5;
  const clip = local ? 5 + seconds * 2 : 90 + seconds * 10;
  return Math.round(kind === "story_video" ? clip + (local ? 10 : 30) : clip);
}

export interface Submission {
  kind: GenerationKind;
  model?: string | undefined;
  params: Omit<GenerationParams, "seed"> & { seed?: number | undefined };
  /** A title for the work(s): the prompt's opening unless given. */
  title?: string;
}

export interface Caller {
  userId: string;
  tier: UserTier;
}

const titleOf = (prompt: string) => {
  const chars = [...prompt.trim().replace(/\s+/g, " ")];
  return chars.length > 40 ? `${chars.slice(0, 40).join("")}…` : chars.join("");
};

async function insertGeneration(trx: Db, row: Omit<Selectable<GenerationsTable>, GeneratedColumns>) {
  return trx
    .insertInto("generations")
    .values({ ...row, params: JSON.stringify(row.params) })
    .returningAll()
    .executeTakeFirstOrThrow();
}
type GeneratedColumns =
  | "id"
  | "status"
  | "progress"
  | "result"
  | "error"
  | "job_id"
  | "created_at"
  | "started_at"
  | "finished_at";

/**
 * Queues a generation: the caller's limits are charged, the row, its works (processing until it
 * ends) and its job are written in one transaction, so a refused or failed request counts nothing
 * and a generation never exists without the job that makes it.
 */
export async function submitGeneration(
  deps: { db: Db; config: Config; providers: ProviderResolver },
  caller: Caller,
  s: Submission,
): Promise<{
  task_id: string;
  status: GenerationStatus;
  estimated_time_s: number;
  work_ids: string[];
  compute: ChargeView;
}> {
  const medium = GENERATION_CAPABILITY[s.kind];
  const model = await resolveModel(deps, medium, s.model);
  const params: GenerationParams = { ...s.params, seed: s.params.seed ?? Math.floor(Math.random() * 2 ** 31) };
  const estimated = estimateS(s.kind, model.provider, params);
  // Priced on the models the job will call: the one asked for, else the chains' heads.
  const providers = await deps.providers.forScope(
    { userId: caller.userId },
    model.asked ? { capability: medium, provider: model.provider, model: model.model } : undefined,
  );
  const estimate = estimateGeneration(deps.config.compute, providers, { kind: s.kind, params });
  const limits = deps.config.tiers[caller.tier];
  return deps.db.transaction().execute(async (trx) => {
    await chargeUsage(trx, limits, { userId: caller.userId, metric: "api_calls_per_hour", amount: 1 });
    const video = isVideoKind(s.kind);
    const count = video ? 1 : (params.num_images ?? 1);
    await chargeUsage(trx, limits, {
      userId: caller.userId,
      metric: video ? "videos_per_day" : "images_per_day",
      amount: count,
    });
    const g = await insertGeneration(trx, {
      user_id: caller.userId,
      kind: s.kind,
      model: model.asked,
      provider: model.provider,
      provider_model: model.model,
      params,
      estimated_time_s: estimated,
    });
    const title = s.title ?? titleOf(params.prompt);
    const works = await trx
      .insertInto("works")
      .values(
        Array.from({ length: count }, (_, position) => ({
          user_id: caller.userId,
          generation_id: g.id,
          position,
          type: video ? ("video" as const) : ("image" as const),
          title: count > 1 ? `${title} (${position + 1})` : title,
        })),
      )
      .returning("id")
      .execute();
    const compute = await reserveFor(trx, deps.config, {
      userId: caller.userId,
      kind: "generate",
      subjectId: g.id,
      estimate,
    });
    const job = await enqueue(trx, {
      ...generateJob(g.id),
      priority: await queuePriority(trx, deps.config, caller.userId),
    });
    await trx.updateTable("generations").set({ job_id: job.id }).where("id", "=", g.id).execute();
    return {
      task_id: g.id,
      status: g.status,
      estimated_time_s: estimated,
      work_ids: works.map((w) => w.id),
      compute,
    };
  });
}

// ---- source pictures -----------------------------------------------------------------------

/** An uploaded picture the caller may use: in a space they belong to, not in the trash, and a picture (415 otherwise). */
export async function sourceFromAsset(
  db: Db,
  { userId, assetId }: { userId: string; assetId: string },
): Promise<SourceImage & { width?: number; height?: number }> {
  const a = await db
    .selectFrom("assets")
    .select(["id", "space_id", "storage_key", "mime_type", "meta"])
    .where("id", "=", assetId)
    .where("trashed_at", "is", null)
    .executeTakeFirst();
  if (!a) throw notFound("asset");
  await requireSpaceRole(db, { userId, spaceId: a.space_id }, "viewer").catch(() => {
    throw notFound("asset");
  });
  if (!/^image\/(png|jpeg|webp)$/.test(a.mime_type))
    throw unsupported(`the asset is ${a.mime_type}: a PNG, JPEG or WebP picture is needed`);
  const meta = a.meta as { width?: number; height?: number };
  return {
    asset_id: a.id,
    storage_key: a.storage_key,
    mime_type: a.mime_type,
    ...(meta.width ? { width: meta.width } : {}),
    ...(meta.height ? { height: meta.height } : {}),
  };
}

/**
 * A picture sent with the request (multipart `image`): sniffed from its bytes (anything but a
 * PNG, JPEG or WebP is 415, whatever its name or declared type) and stored with the caller's
 * generations.
 */
export async function sourceFromFile(
  storage: Storage,
  { userId, bytes }: { userId: string; bytes: Uint8Array },
): Promise<SourceImage & { width?: number; height?: number }> {
  const seen = await sniffImage(bytes);
  if (!seen) throw unsupported("the image must be a PNG, JPEG or WebP picture");
  const ext = seen.mimeType.split("/")[1];
  const key = `generations/${userId}/sources/${crypto.randomUUID()}.${ext}`;
  await storage.put(key, bytes, { contentType: seen.mimeType });
  return {
    storage_key: key,
    mime_type: seen.mimeType,
    ...(seen.width ? { width: seen.width } : {}),
    ...(seen.height ? { height: seen.height } : {}),
  };
}

// ---- reading -------------------------------------------------------------------------------

type Row = Selectable<GenerationsTable> & { job_state: string | null; job_error: unknown };

function rows(db: Db) {
  return db
    .selectFrom("generations")
    .leftJoin("job_history", "job_history.id", "generations.job_id")
    .selectAll("generations")
    .select(["job_history.state as job_state", "job_history.last_error as job_error"]);
}

/** The row's own state, unless the queue ended its job as failed or cancelled without the job saying so. */
function effective(r: Row): { status: GenerationStatus; error: GenerationError | null } {
  const ended = r.status === "completed" || r.status === "failed" || r.status === "cancelled";
  if (ended || (r.job_state !== "failed" && r.job_state !== "cancelled")) return { status: r.status, error: r.error };
  if (r.job_state === "cancelled") return { status: "cancelled", error: null };
  const recorded = (r.job_error as { message?: unknown } | null)?.message;
  return {
    status: "failed",
    error: {
      code: "GENERATION_FAILED",
      message: typeof recorded === "string" ? recorded.slice(0, 500) : "the job failed",
    },
  };
}

async function fileView(storage: Storage, f: MadeFile) {
  const [file, thumb] = await Promise.all([
    storage.signedUrl(f.storage_key, LINK_TTL_S),
    storage.signedUrl(f.thumbnail_key, LINK_TTL_S),
  ]);
  return {
    url: file.url,
    thumbnail_url: thumb.url,
    expires_at: file.expiresAt.toISOString(),
    mime_type: f.mime_type,
    width: f.width,
    height: f.height,
    file_size: f.size,
  };
}

async function view(storage: Storage, db: Db, r: Row) {
  const { status, error } = effective(r);
  const works = await db
    .selectFrom("works")
    .select("id")
    .where("generation_id", "=", r.id)
    .orderBy("position")
    .execute();
  const res = status === "completed" ? r.result : null;
  const { image: _image, ...asked } = r.params;
  return {
    task_id: r.id,
    kind: r.kind,
    status,
    progress: status === "completed" ? 100 : r.progress,
    model: r.model,
    provider: r.provider,
    provider_model: r.provider_model,
    estimated_time_s: r.estimated_time_s,
    params: { ...asked, ...(r.params.image?.asset_id ? { image_asset_id: r.params.image.asset_id } : {}) },
    result: res
      ? {
          images: res.images ? await Promise.all(res.images.map((f) => fileView(storage, f))) : [],
          video: res.video
            ? {
                ...(await fileView(storage, res.video)),
                duration_s: res.video.duration_s ?? 0,
                resolution: `${res.video.width}x${res.video.height}`,
              }
            : null,
          warnings: res.warnings,
        }
      : null,
    error,
    work_ids: works.map((w) => w.id),
    created_at: r.created_at.toISOString(),
    started_at: r.started_at?.toISOString() ?? null,
    finished_at: r.finished_at?.toISOString() ?? null,
  };
}

/** One of the caller's generations (404 for anyone else's). */
export async function getGeneration(
  deps: { db: Db; storage: Storage; config: Config },
  { userId, taskId }: { userId: string; taskId: string },
) {
  const { db, storage } = deps;
  const r = await rows(db)
    .where("generations.id", "=", taskId)
    .where("generations.user_id", "=", userId)
    .executeTakeFirst();
  if (!r) throw notFound("task");
  await limitRequest(deps, { userId, metric: "task_polls_per_hour" });
  return view(storage, db, r);
}

export interface GenerationFilter {
  kind?: GenerationKind;
  status?: GenerationStatus;
  page?: number;
  page_size?: number;
}

/** The caller's generations, newest first. */
export async function listGenerations(
  deps: { db: Db; storage: Storage; config: Config },
  userId: string,
  f: GenerationFilter,
) {
  const { db, storage } = deps;
  await limitRequest(deps, { userId, metric: "task_lists_per_hour" });
  const pageNo = f.page ?? 1;
  const size = f.page_size ?? 20;
  let q = rows(db).where("generations.user_id", "=", userId);
  if (f.kind) q = q.where("generations.kind", "=", f.kind);
  if (f.status) q = q.where("generations.status", "=", f.status);
  const [list, count] = await Promise.all([
    q
      .orderBy("generations.created_at", "desc")
      .orderBy("generations.id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    q.clearSelect().select(sql<number>`count(*)::int`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(await Promise.all(list.map((r) => view(storage, db, r))), count.n, pageNo, size);
}
