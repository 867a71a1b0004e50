import type { Selectable } from "kysely";
import { conflict, validation } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import type { EpisodesTable } from "../../db/types.ts";
import { loadPackage, loadShots } from "../../pipeline/packages.ts";
import { requireProject } from "../../services/project-access.ts";
import {
  checkPlan,
  PlanError,
  type PlannedEpisode,
  planEpisodes,
  type SeriesOptions,
  type SeriesSource,
} from "../../story/episodes.ts";

type ProjectIds = { userId: string; projectId: string };

/** An episode of the stored plan, as the API shows it. */
export interface EpisodeView extends PlannedEpisode {
  id: string;
  package_id: string;
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
  return { packageId, source };
}

const refused = (e: unknown): never => {
  if (e instanceof PlanError)
    throw validation(
      e.problems.map((p) => ({ path: p.field, message: p.message })),
      "the season cannot be planned that way",
    );
  throw e;
};

/** Replaces the project's plan; the project's row is locked so two plans never interleave their episodes. */
async function store(db: Db, ids: ProjectIds & { packageId: string }, plan: PlannedEpisode[]): Promise<EpisodeView[]> {
  return db.transaction().execute(async (trx) => {
    // Serialises concurrent plans of one project: each deletes and inserts the whole season.
    await trx.selectFrom("projects").select("id").where("id", "=", ids.projectId).forUpdate().execute();
    await trx.deleteFrom("episodes").where("project_id", "=", ids.projectId).execute();
    const rows = await trx
      .insertInto("episodes")
      .values(
        plan.map((e) => ({
          project_id: ids.projectId,
          package_id: ids.packageId,
          n: e.index,
          title: e.title,
          first_shot: e.first_shot,
          last_shot: e.last_shot,
          chapters: JSON.stringify(e.chapters),
          shot_count: e.shot_count,
          estimated_s: e.estimated_s,
        })),
      )
      .returningAll()
      .execute();
    return rows.sort((a, b) => a.n - b.n).map(view);
  });
}

function view(r: Selectable<EpisodesTable>): EpisodeView {
  return {
    id: r.id,
    package_id: r.package_id,
    index: r.n,
    title: r.title,
    first_shot: r.first_shot,
    last_shot: r.last_shot,
    chapters: r.chapters,
    shot_count: r.shot_count,
    estimated_s: Math.round(r.estimated_s * 10) / 10,
    created_at: r.created_at.toISOString(),
  };
}

/** POST /projects/:id/episodes/plan: proposes the season from the storyboard and stores it; nothing is generated. */
export async function planSeason(db: Db, ids: ProjectIds, options: SeriesOptions): Promise<EpisodeView[]> {
  const { packageId, source } = await seriesSource(db, ids, "editor");
  let plan: PlannedEpisode[] = [];
  try {
    plan = planEpisodes(source, options);
  } catch (e) {
    refused(e);
  }
  return store(db, { ...ids, packageId }, plan);
}

/** PUT /projects/:id/episodes: the creator's edited plan (merged, split, renamed), checked against the storyboard. */
export async function editSeason(
  db: Db,
  ids: ProjectIds,
  episodes: Array<{ title: string; first_shot: string; last_shot: string }>,
): Promise<EpisodeView[]> {
  const { packageId, source } = await seriesSource(db, ids, "editor");
  let plan: PlannedEpisode[] = [];
  try {
    plan = checkPlan(source, episodes);
  } catch (e) {
    refused(e);
  }
  return store(db, { ...ids, packageId }, plan);
}

/** GET /projects/:id/episodes: the stored plan, in order (empty before one is made). */
export async function listEpisodes(db: Db, ids: ProjectIds): Promise<EpisodeView[]> {
  await requireProject(db, ids, "viewer");
  const rows = await db
    .selectFrom("episodes")
    .selectAll()
    .where("project_id", "=", ids.projectId)
    .orderBy("n")
    .execute();
  return rows.map(view);
}
