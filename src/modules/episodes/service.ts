import type { Selectable } from "kysely";
import type { Config } from "../../config.ts";
import { conflict, validation } from "../../core/errors.ts";
import { exportPrefix } from "../../core/export-record.ts";
import type { Db } from "../../db/client.ts";
import type { EpisodesTable, RunStatus } from "../../db/types.ts";
import { cancelBatch, requireBatch, staleReasons, startEpisodeRuns } from "../../pipeline/episode-runs.ts";
import { loadPackage, loadShots } from "../../pipeline/packages.ts";
import { seriesProgress } from "../../pipeline/run-state.ts";
import { roundPoints } from "../../providers/compute-ledger.ts";
import { costOf, priceOf } from "../../providers/pricing.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { queuePriority, runPayer } from "../../services/compute.ts";
import { requireProject } from "../../services/project-access.ts";
import { limitRequest } from "../../services/usage-limits.ts";
import type { Storage } from "../../storage/types.ts";
import {
  checkPlan,
  PlanError,
  type PlannedEpisode,
  planEpisodes,
  type SeriesOptions,
  type SeriesSource,
} from "../../story/episodes.ts";
import type { ShotMaterial } from "../../story/material.ts";

type ProjectIds = { userId: string; projectId: string };
type Ctx = { db: Db; storage: Storage; providers: ProviderResolver };

/** An episode of the stored plan, as the API shows it. */
export interface EpisodeView extends PlannedEpisode {
  id: string;
  package_id: string;
  characters: string[];
  /** planned (never run), waiting (for a place in its batch), or its latest run's status. */
  status: "planned" | "waiting" | RunStatus;
  run_id: string | null;
  progress: number;
  current_package_id: string | null;
  stale: boolean;
  stale_reasons: string[];
  /** What bringing it up to date would redo, and cost at the current chains' list prices. */
  update: { shots: number; cost_estimate_usd: number };
  created_at: string;
}

/** The storyboard of the project's active package, as the planner reads it; 409 until there is one. */
async function seriesSource(db: Db, ids: ProjectIds, role: "viewer" | "editor") {
  const project = await requireProject(db, ids, role);
  const packageId = project.active_package_id;
  if (!packageId) throw conflict("the project has no storyboard yet: run the pipeline to the storyboard stage first");
  const pkg = await loadPackage(db, packageId);
  const shots = await loadShots(db, packageId);
  if (!pkg.storyline || shots.length === 0)
    throw conflict("the project has no storyboard yet: run the pipeline to the storyboard stage first");
  const source: SeriesSource = {
    language: pkg.storyline.language,
    chapters: pkg.storyline.chapters,
    scenes: pkg.scenes,
    shots: shots.map((s) => ({
      id: s.id,
      sceneId: s.sceneId,
      durationS: s.durationS,
      narration: s.lines
        .filter((l) => l.kind === "narration")
        .map((l) => l.text)
        .join(""),
      dialogue: s.lines.flatMap((l) => (l.kind === "dialogue" ? [{ speaker: l.speaker ?? "", text: l.text }] : [])),
    })),
  };
  return { packageId, source, shots };
}

const refused = (e: unknown): never => {
  if (e instanceof PlanError)
    throw validation(
      e.problems.map((p) => ({ path: p.field, message: p.message })),
      "the season cannot be planned that way",
    );
  throw e;
};

/** The characters the shots show or voice, in order of appearance. */
const castOf = (shots: ShotMaterial[]) => [
  ...new Set(shots.flatMap((s) => [...s.characters, ...s.lines.flatMap((l) => (l.speaker ? [l.speaker] : []))])),
];

/**
 * Replaces the project's plan. An episode whose shots did not change keeps its row (and with it
 * its renders), renumbered and renamed; the others are made anew. Refused while episodes render.
 */
async function store(
  db: Db,
  ids: ProjectIds & { packageId: string },
  plan: PlannedEpisode[],
  shots: ShotMaterial[],
): Promise<void> {
  const at = new Map(shots.map((s, i) => [s.id, i]));
  await db.transaction().execute(async (trx) => {
    // Serialises concurrent plans of one project (each rewrites the whole season) and a batch starting.
    await trx.selectFrom("projects").select("id").where("id", "=", ids.projectId).forUpdate().execute();
    const rendering = await trx
      .selectFrom("runs")
      .select("id")
      .where("project_id", "=", ids.projectId)
      .where("episode_id", "is not", null)
      .where("status", "in", ["queued", "running"])
      .executeTakeFirst();
    if (rendering)
      throw conflict("episodes are rendering: wait for them or cancel them before re-planning", {
        run_id: rendering.id,
      });
    const existing = await trx
      .selectFrom("episodes")
      .select(["id", "first_shot", "last_shot"])
      .where("project_id", "=", ids.projectId)
      .where("package_id", "=", ids.packageId)
      .execute();
    const key = (e: { first_shot: string; last_shot: string }) => `${e.first_shot}/${e.last_shot}`;
    const existingIds = new Map(existing.map((e) => [key(e), e.id]));
    const kept = plan.flatMap((e) => existingIds.get(key(e)) ?? []);
    let gone = trx.deleteFrom("episodes").where("project_id", "=", ids.projectId);
    if (kept.length) gone = gone.where("id", "not in", kept);
    await gone.execute();
    // The numbers are checked at commit (a deferred constraint): episodes may trade places here.
    for (const e of plan) {
      const values = {
        n: e.index,
        title: e.title,
        chapters: JSON.stringify(e.chapters),
        shot_count: e.shot_count,
        estimated_s: e.estimated_s,
        cast_names: castOf(shots.slice(at.get(e.first_shot)!, at.get(e.last_shot)! + 1)),
      };
      const id = existingIds.get(key(e));
      if (id) await trx.updateTable("episodes").set(values).where("id", "=", id).execute();
      else
        await trx
          .insertInto("episodes")
          .values({
            ...values,
            project_id: ids.projectId,
            package_id: ids.packageId,
            first_shot: e.first_shot,
            last_shot: e.last_shot,
          })
          .execute();
    }
  });
}

/** POST /projects/:id/episodes/plan: proposes the season from the storyboard and stores it; nothing is generated. */
export async function planSeason(ctx: Ctx, ids: ProjectIds, options: SeriesOptions): Promise<EpisodeView[]> {
  const { packageId, source, shots } = await seriesSource(ctx.db, ids, "editor");
  let plan: PlannedEpisode[] = [];
  try {
    plan = planEpisodes(source, options);
  } catch (e) {
    refused(e);
  }
  await store(ctx.db, { ...ids, packageId }, plan, shots);
  return listEpisodes(ctx, ids);
}

/** PUT /projects/:id/episodes: the creator's edited plan (merged, split, renamed), checked against the storyboard. */
export async function editSeason(
  ctx: Ctx,
  ids: ProjectIds,
  episodes: Array<{ title: string; first_shot: string; last_shot: string }>,
): Promise<EpisodeView[]> {
  const { packageId, source, shots } = await seriesSource(ctx.db, ids, "editor");
  let plan: PlannedEpisode[] = [];
  try {
    plan = checkPlan(source, episodes);
  } catch (e) {
    refused(e);
  }
  await store(ctx.db, { ...ids, packageId }, plan, shots);
  return listEpisodes(ctx, ids);
}

type EpisodeRow = Selectable<EpisodesTable>;

/** Each episode's latest run. */
async function latestRuns(db: Db, episodeIds: string[]) {
  if (episodeIds.length === 0)
    return new Map<
      string,
      { id: string; status: RunStatus; held: boolean; progress: number; export_id: string | null }
    >();
  const rows = await db
    .selectFrom("runs")
    .select(["id", "episode_id", "status", "held", "progress", "export_id"])
    .distinctOn("episode_id")
    .where("episode_id", "in", episodeIds)
    .orderBy("episode_id")
    .orderBy("created_at", "desc")
    .execute();
  return new Map(rows.map((r) => [r.episode_id!, r]));
}

/** What bringing the episodes up to date would cost at the current chains' list prices. */
async function pricer(ctx: Ctx, projectId: string) {
  const p = await ctx.providers.forScope({ projectId });
  const price = (c: { provider: string; modelId: string }) => priceOf(c.provider, c.modelId);
  return (work: { images: number; videoS: number; speechS: number }) =>
    Math.round(
      (costOf(price(p.image), { images: work.images }) +
        costOf(price(p.video), { videoSeconds: work.videoS }) +
        costOf(price(p.speech), { audioSeconds: work.speechS })) *
        1e4,
    ) / 1e4;
}

/**
 * The plan with each episode's state: its latest run, whether its copy of the cast is out of date
 * with the season's (a character's sheet, voice or description, or the art style, changed since),
 * and what bringing it up to date would redo and cost.
 */
async function views(ctx: Ctx, rows: EpisodeRow[]): Promise<EpisodeView[]> {
  if (rows.length === 0) return [];
  const { db } = ctx;
  const runs = await latestRuns(
    db,
    rows.map((r) => r.id),
  );
  const packageIds = [
    ...new Set(rows.flatMap((r) => [r.package_id, ...(r.current_package_id ? [r.current_package_id] : [])])),
  ];
  const packages = new Map(
    (
      await db.selectFrom("packages").select(["id", "characters", "art_style"]).where("id", "in", packageIds).execute()
    ).map((p) => [p.id, p]),
  );
  const cost = await pricer(ctx, rows[0]!.project_id);
  const seasonShots = new Map<string, ShotMaterial[]>();
  const shotsOf = async (packageId: string) => {
    if (!seasonShots.has(packageId)) seasonShots.set(packageId, await loadShots(db, packageId));
    return seasonShots.get(packageId)!;
  };
  const out: EpisodeView[] = [];
  for (const r of rows) {
    const run = runs.get(r.id);
    const season = packages.get(r.package_id)!;
    const mine = r.current_package_id ? packages.get(r.current_package_id) : undefined;
    const rendered = run?.status === "completed";
    const reasons = mine ? staleReasons(season, mine, r.cast_names) : [];
    let work = { shots: r.shot_count, images: r.shot_count, videoS: r.estimated_s, speechS: r.estimated_s };
    if (rendered && reasons.length === 0) work = { shots: 0, images: 0, videoS: 0, speechS: 0 };
    else if (rendered && !reasons.includes("art_style")) {
      // Only the shots that show a changed character are painted and animated again.
      const changed = new Set(reasons.map((x) => x.slice("character:".length)));
      const all = await shotsOf(r.package_id);
      const from = all.findIndex((s) => s.id === r.first_shot);
      const to = all.findIndex((s) => s.id === r.last_shot);
      const redo = all
        .slice(from, to + 1)
        .filter(
          (s) => s.characters.some((c) => changed.has(c)) || s.lines.some((l) => l.speaker && changed.has(l.speaker)),
        );
      work = { shots: redo.length, images: redo.length, videoS: redo.reduce((a, s) => a + s.durationS, 0), speechS: 0 };
    }
    out.push({
      id: r.id,
      package_id: r.package_id,
      index: r.n,
      title: r.title,
      first_shot: r.first_shot,
      last_shot: r.last_shot,
      chapters: r.chapters,
      shot_count: r.shot_count,
      estimated_s: Math.round(r.estimated_s * 10) / 10,
      characters: r.cast_names,
      status: !run ? "planned" : run.held && run.status === "queued" ? "waiting" : run.status,
      run_id: run?.id ?? null,
      progress: run?.progress ?? 0,
      current_package_id: r.current_package_id,
      stale: reasons.length > 0,
      stale_reasons: reasons,
      update: { shots: work.shots, cost_estimate_usd: cost(work) },
      created_at: r.created_at.toISOString(),
    });
  }
  return out;
}

/** GET /projects/:id/episodes: the stored plan, in order (empty before one is made). */
export async function listEpisodes(ctx: Ctx, ids: ProjectIds): Promise<EpisodeView[]> {
  await requireProject(ctx.db, ids, "viewer");
  const rows = await ctx.db
    .selectFrom("episodes")
    .selectAll()
    .where("project_id", "=", ids.projectId)
    .orderBy("n")
    .execute();
  return views(ctx, rows);
}

/** POST /projects/:id/episodes/runs: a batch of episode runs (see pipeline/episode-runs.ts). */
export async function renderEpisodes(
  ctx: Ctx & { config: Config },
  ids: ProjectIds,
  body: { episodes: string[] | "all"; parallelism?: number; recap?: boolean; next_card?: boolean },
) {
  const project = await requireProject(ctx.db, ids, "editor");
  await limitRequest(ctx, { userId: ids.userId, metric: "batches_per_hour" });
  const payer = await runPayer(ctx, { userId: ids.userId, spaceId: project.space_id });
  const started = await startEpisodeRuns(ctx.db, {
    ...ids,
    episodes: body.episodes,
    ...(body.parallelism !== undefined ? { parallelism: body.parallelism } : {}),
    ...(body.recap !== undefined ? { recap: body.recap } : {}),
    ...(body.next_card !== undefined ? { nextCard: body.next_card } : {}),
    pay: payer.pay,
    priority: await queuePriority(ctx.db, ctx.config, ids.userId),
  });
  const runs = started.runs.map((r) => ({ ...r, compute: payer.byRun.get(r.run_id) ?? null }));
  const points = runs.reduce((a, r) => a + (r.compute?.points ?? 0), 0);
  const usd = runs.reduce((a, r) => a + (r.compute?.usd ?? 0), 0);
  return {
    ...started,
    runs,
    compute: { points: roundPoints(points), usd: Math.round(usd * 1e6) / 1e6 },
    series: await seriesProgress(ctx.db, started.batch_id),
  };
}

/** GET /projects/:id/episodes/runs/:batchId: a batch's progress and its runs. */
export async function batchProgress(ctx: Ctx, ids: ProjectIds & { batchId: string }) {
  await requireProject(ctx.db, ids, "viewer");
  const batch = await requireBatch(ctx.db, ids);
  const runs = await ctx.db
    .selectFrom("runs")
    .innerJoin("episodes", "episodes.id", "runs.episode_id")
    .select([
      "runs.id",
      "runs.status",
      "runs.held",
      "runs.progress",
      "runs.error",
      "episodes.id as episode_id",
      "episodes.n",
    ])
    .where("runs.batch_id", "=", batch.id)
    .orderBy("episodes.n")
    .execute();
  return {
    ...(await seriesProgress(ctx.db, batch.id)),
    parallelism: batch.parallelism,
    runs: runs.map((r) => ({
      run_id: r.id,
      episode_id: r.episode_id,
      index: r.n,
      status: r.held && r.status === "queued" ? ("waiting" as const) : r.status,
      progress: r.progress,
      error: r.error ? { message: r.error.message, ...(r.error.stage ? { stage: r.error.stage } : {}) } : null,
    })),
  };
}

/** POST /projects/:id/episodes/runs/:batchId/cancel: stops the batch's waiting and running episodes. */
export async function stopBatch(ctx: Ctx, ids: ProjectIds & { batchId: string }) {
  await requireProject(ctx.db, ids, "editor");
  const batch = await requireBatch(ctx.db, ids);
  await cancelBatch(ctx.db, batch.id);
  return batchProgress(ctx, ids);
}

/** Link lifetime of the files the series lists (as an export's own). */
const LINK_TTL_S = 3600;

/** Each episode's latest finished video, in episode order, with signed links (an hour). */
export async function seriesExports(ctx: Ctx, ids: ProjectIds) {
  await requireProject(ctx.db, ids, "viewer");
  const rows = await ctx.db
    .selectFrom("episodes")
    .innerJoin("runs", "runs.episode_id", "episodes.id")
    .innerJoin("exports", "exports.id", "runs.export_id")
    .select([
      "episodes.id as episode_id",
      "episodes.n",
      "episodes.title",
      "exports.id",
      "exports.project_id",
      "exports.files",
      "exports.completed_at",
    ])
    .distinctOn("episodes.n")
    .where("episodes.project_id", "=", ids.projectId)
    .where("runs.status", "=", "completed")
    .where("exports.status", "=", "completed")
    .orderBy("episodes.n")
    .orderBy("exports.completed_at", "desc")
    .execute();
  const out = [];
  for (const r of rows) {
    const files = [];
    for (const f of r.files) {
      const link = await ctx.storage.signedUrl(`${exportPrefix(r)}/${f.file_name}`, LINK_TTL_S, {
        downloadName: f.file_name,
      });
      files.push({
        file_type: f.file_type,
        file_name: f.file_name,
        mime_type: f.mime_type,
        file_size: f.file_size,
        duration_s: f.duration_s,
        download_url: link.url,
        expires_at: link.expiresAt.toISOString(),
      });
    }
    out.push({
      episode_id: r.episode_id,
      index: r.n,
      title: r.title,
      export_id: r.id,
      duration_s: files.find((f) => f.file_type === "video")?.duration_s ?? null,
      files,
      completed_at: r.completed_at?.toISOString() ?? null,
    });
  }
  return out;
}

/** The series as a playlist: the finished episodes in order (M3U, links signed for an hour). */
export function m3u(title: string, episodes: Awaited<ReturnType<typeof seriesExports>>): string {
  const lines = ["#EXTM3U", `#PLAYLIST:${oneLine(title)}`];
  for (const e of episodes) {
    const video = e.files.find((f) => f.file_type === "video");
    if (!video) continue;
    lines.push(`#EXTINF:${Math.round(video.duration_s ?? -1)},${oneLine(e.title)}`, video.download_url);
  }
  return `${lines.join("\n")}\n`;
}

/** A title on one playlist line: no line breaks, no control characters. */
const oneLine = (s: string) =>
  [...s]
    .map((c) => (c.codePointAt(0)! < 0x20 || c.codePointAt(0) === 0x7f ? " " : c))
    .join("")
    .trim();

/** GET /projects/:id/episodes/manifest: the series' title, its episodes' files, and the playlist. */
export async function seriesManifest(ctx: Ctx, ids: ProjectIds) {
  const project = await requireProject(ctx.db, ids, "viewer");
  const episodes = await seriesExports(ctx, ids);
  const planned = await ctx.db
    .selectFrom("episodes")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("project_id", "=", ids.projectId)
    .executeTakeFirstOrThrow();
  const title = project.name;
  return {
    project_id: ids.projectId,
    title,
    planned: Number(planned.n),
    finished: episodes.length,
    duration_s: Math.round(episodes.reduce((s, e) => s + (e.duration_s ?? 0), 0) * 10) / 10,
    episodes,
    m3u: m3u(title, episodes),
  };
}
