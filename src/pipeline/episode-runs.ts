/**
 * A season rendered episode by episode. Each episode gets its own package, copied from the season
 * package the plan was cut from: the shared cast (characters with their reference sheets and
 * voices, art style, scenes, music) and only the episode's shots. Its run starts at the keyframes;
 * a batch keeps at most `parallelism` such runs in flight (run-state.ts releaseHeld).
 */
import { sql, type Transaction } from "kysely";
import { AppError, conflict, notFound, validation } from "../core/errors.ts";
import { STAGES, type Stage, type StageState } from "../core/stages.ts";
import type { Db } from "../db/client.ts";
import type { Database } from "../db/types.ts";
import { appendEvent } from "../realtime/events.ts";
import type { CharacterMaterial, PackageContent } from "../story/material.ts";
import { cancelRun, type StartRun } from "./orchestrate.ts";
import { nextVersion } from "./packages.ts";
import { releaseHeld, seriesProgress } from "./run-state.ts";

/** The stages a season's analysis already did for every episode. */
const SHARED: ReadonlySet<Stage> = new Set(["storyline", "art_style", "characters", "scenes", "storyboard"]);

export const BATCH_LIMITS = { maxParallelism: 16, defaultParallelism: 2 } as const;

export interface StartEpisodes {
  projectId: string;
  userId: string;
  /** Episode ids, or every episode of the plan. */
  episodes: string[] | "all";
  parallelism?: number;
  recap?: boolean;
  nextCard?: boolean;
  /** Reserves each episode run's cost in the batch's transaction (StartRun.pay): over the balance, no batch. */
  pay?: StartRun["pay"];
  /** Queue priority of the runs' jobs (the payer's tier). */
  priority?: number;
}

export interface StartedEpisode {
  episode_id: string;
  index: number;
  run_id: string;
  /** False: its first job is queued; true: it waits for a place among the batch's runs in flight. */
  held: boolean;
}

type EpisodeRow = { id: string; n: number; title: string; package_id: string; first_shot: string; last_shot: string };

/** The plan's episodes picked by the request, in order; 400 naming an id the plan does not have. */
async function pickEpisodes(trx: Transaction<Database>, r: StartEpisodes): Promise<EpisodeRow[]> {
  const all = await trx
    .selectFrom("episodes")
    .select(["id", "n", "title", "package_id", "first_shot", "last_shot"])
    .where("project_id", "=", r.projectId)
    .orderBy("n")
    .execute();
  if (all.length === 0) throw conflict("the project has no season plan yet: POST /projects/:id/episodes/plan first");
  if (r.episodes === "all") return all;
  if (r.episodes.length === 0)
    throw validation([{ path: "/episodes", message: 'name at least one episode, or send "all"' }]);
  const wanted = new Set(r.episodes);
  const unknown = [...wanted].filter((id) => !all.some((e) => e.id === id));
  if (unknown.length)
    throw validation(
      unknown.map((id) => ({ path: "/episodes", message: `no episode ${id} in this project's plan` })),
      "unknown episodes",
    );
  return all.filter((e) => wanted.has(e.id));
}

/**
 * A new package for the episode: the season's shared material and the episode's shots, renumbered
 * from 0. Its parent is the episode's previous package (its lineage), or the season's.
 */
async function episodePackage(
  trx: Transaction<Database>,
  { projectId, episode, previous }: { projectId: string; episode: EpisodeRow; previous: string | null },
): Promise<string> {
  const season = episode.package_id;
  const version = await nextVersion(trx, projectId);
  const row = await sql<{ id: string }>`
    insert into packages (project_id, version, name, parent_id, episode_id, storyline, art_style, characters, scenes, music)
    select project_id, ${version}, ${episode.title}, ${previous ?? season}, ${episode.id},
      storyline, art_style, characters, scenes, music
    from packages where id = ${season}
    returning id`.execute(trx);
  const id = row.rows[0]!.id;
  const copied = await sql`
    with bounds as (
      select min(position) filter (where shot_id = ${episode.first_shot}) as a,
             max(position) filter (where shot_id = ${episode.last_shot}) as b
      from package_shots where package_id = ${season}
    )
    insert into package_shots (package_id, shot_id, position, data)
    select ${id}, s.shot_id, s.position - bounds.a, s.data
    from package_shots s, bounds
    where s.package_id = ${season} and s.position between bounds.a and bounds.b`.execute(trx);
  if (Number(copied.numAffectedRows ?? 0) === 0)
    throw conflict(`episode ${episode.n}'s shots are no longer in the storyboard: plan the season again`, {
      episode_id: episode.id,
    });
  return id;
}

/**
 * Starts a batch: one run per episode, each into a new package of the episode, the first
 * `parallelism` queued at once and the others held until a place frees up, each run's cost reserved
 * as it is made (a held run holds its share from the start, so the batch can never overspend). One
 * transaction under the project's row lock, so a re-plan or a second batch cannot interleave with it.
 */
export async function startEpisodeRuns(
  db: Db,
  r: StartEpisodes,
): Promise<{ batch_id: string; parallelism: number; runs: StartedEpisode[] }> {
  const parallelism = r.parallelism ?? BATCH_LIMITS.defaultParallelism;
  if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > BATCH_LIMITS.maxParallelism)
    throw validation([
      { path: "/parallelism", message: `1 to ${BATCH_LIMITS.maxParallelism} episodes may render at once` },
    ]);
  return db.transaction().execute(async (trx) => {
    // Serialises with a re-plan (which replaces the episodes) and with another batch of the project.
    const project = await trx
      .selectFrom("projects")
      .select("input_text")
      .where("id", "=", r.projectId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const episodes = await pickEpisodes(trx, r);
    const busy = await trx
      .selectFrom("runs")
      .innerJoin("episodes", "episodes.id", "runs.episode_id")
      .select(["runs.id", "episodes.n"])
      .where(
        "runs.episode_id",
        "in",
        episodes.map((e) => e.id),
      )
      .where("runs.status", "in", ["queued", "running"])
      .orderBy("episodes.n")
      .executeTakeFirst();
    if (busy) throw conflict(`episode ${busy.n} is already rendering`, { run_id: busy.id });
    const season = await trx
      .selectFrom("packages")
      .select(["music"])
      .where("id", "=", episodes[0]!.package_id)
      .executeTakeFirstOrThrow();
    const batch = await trx
      .insertInto("series_batches")
      .values({
        project_id: r.projectId,
        created_by: r.userId,
        parallelism,
        recap: r.recap ?? true,
        next_card: r.nextCard ?? true,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    const stages: StageState[] = STAGES.map((stage) =>
      SHARED.has(stage) || (stage === "music" && season.music?.asset)
        ? { stage, status: "completed", progress: 100 }
        : { stage, status: "pending", progress: 0 },
    );
    const previous = new Map(
      (
        await trx
          .selectFrom("episodes")
          .select(["id", "current_package_id"])
          .where("project_id", "=", r.projectId)
          .execute()
      ).map((e) => [e.id, e.current_package_id]),
    );
    const runs: StartedEpisode[] = [];
    for (const episode of episodes) {
      const packageId = await episodePackage(trx, {
        projectId: r.projectId,
        episode,
        previous: previous.get(episode.id) ?? null,
      });
      const run = await trx
        .insertInto("runs")
        .values({
          project_id: r.projectId,
          package_id: packageId,
          created_by: r.userId,
          mode: "auto",
          stages: JSON.stringify(stages),
          episode_id: episode.id,
          batch_id: batch.id,
          held: true,
          priority: r.priority ?? 0,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      if (r.pay)
        await r.pay(trx, {
          runId: run.id,
          packageId,
          inputText: project.input_text,
          stages: stages.filter((x) => x.status === "pending").map((x) => x.stage),
        });
      await trx.updateTable("episodes").set({ current_package_id: packageId }).where("id", "=", episode.id).execute();
      runs.push({ episode_id: episode.id, index: episode.n, run_id: run.id, held: true });
    }
    const released = new Set(await releaseHeld(trx, batch.id));
    for (const run of runs) run.held = !released.has(run.run_id);
    return { batch_id: batch.id, parallelism, runs };
  });
}

const isConflict = (e: unknown) => e instanceof AppError && e.status === 409;

/** What marks an episode's copy of a character out of date: anything but the list of candidates to choose from. */
const fingerprint = ({ candidates: _, ...c }: CharacterMaterial) => JSON.stringify(c);

/**
 * Why an episode's package no longer matches the season: the characters it shows whose sheet,
 * voice or description changed since it was made, and the art style. Empty when up to date.
 */
export function staleReasons(
  season: Pick<PackageContent, "characters" | "art_style">,
  episode: Pick<PackageContent, "characters" | "art_style">,
  cast: string[],
): string[] {
  const reasons: string[] = [];
  if (JSON.stringify(season.art_style ?? null) !== JSON.stringify(episode.art_style ?? null)) reasons.push("art_style");
  for (const name of cast) {
    const now = season.characters.find((c) => c.name === name);
    const then = episode.characters.find((c) => c.name === name);
    if (now && (!then || fingerprint(now) !== fingerprint(then))) reasons.push(`character:${name}`);
  }
  return reasons;
}

/** 404 unless the batch is the project's. */
export async function requireBatch(db: Db, ids: { projectId: string; batchId: string }) {
  const batch = await db
    .selectFrom("series_batches")
    .selectAll()
    .where("id", "=", ids.batchId)
    .where("project_id", "=", ids.projectId)
    .executeTakeFirst();
  if (!batch) throw notFound("batch");
  return batch;
}

/**
 * Stops a batch: its waiting runs are cancelled first, under the batch's lock (so a run ending
 * meanwhile releases none of them), then the ones in flight, whose jobs abort. Finished episodes
 * keep their renders. Returns how many runs it cancelled.
 */
export async function cancelBatch(db: Db, batchId: string): Promise<number> {
  const held = await db.transaction().execute(async (trx) => {
    await trx.selectFrom("series_batches").select("id").where("id", "=", batchId).forUpdate().execute();
    const waiting = await trx
      .selectFrom("runs")
      .select(["id", "project_id", "episode_id", "stages"])
      .where("batch_id", "=", batchId)
      .where("held", "=", true)
      .where("status", "=", "queued")
      .execute();
    for (const r of waiting) {
      const stages = r.stages.map((s) => (s.status === "pending" ? { ...s, status: "cancelled" as const } : s));
      await trx
        .updateTable("runs")
        .set({ status: "cancelled", held: false, stages: JSON.stringify(stages), finished_at: new Date() })
        .where("id", "=", r.id)
        .execute();
    }
    for (const r of waiting)
      await appendEvent(trx, "cancelled", {
        project_id: r.project_id,
        run_id: r.id,
        status: "cancelled",
        progress: 0,
        current_step: null,
        ...(r.episode_id ? { episode_id: r.episode_id } : {}),
        series: await seriesProgress(trx, batchId),
      });
    return waiting.length;
  });
  const flying = await db
    .selectFrom("runs")
    .select("id")
    .where("batch_id", "=", batchId)
    .where("status", "in", ["queued", "running", "paused"])
    .execute();
  let cancelled = held;
  for (const r of flying) {
    // One that ended between the two reads is left as it ended.
    const done = await cancelRun(db, r.id).catch((e) => (isConflict(e) ? null : Promise.reject(e)));
    if (done) cancelled++;
  }
  return cancelled;
}
