import { type Selectable, sql } from "kysely";
import type { Db } from "../../db/client.ts";
import type { ProjectsTable } from "../../db/types.ts";
import type { Storage } from "../../storage/types.ts";

/**
 * What a project's row does not hold but its view shows (seed 003 §1.3): counts of its active
 * package and exports, when its runs started and last completed, and the key of its thumbnail
 * (the cover of its latest finished export, else the first keyframe chosen). Correlated
 * subqueries on `projects`, so a list or a single read stays one statement.
 */
export const PROJECT_DETAILS = [
  sql<number>`(select count(*)::int from package_shots s where s.package_id = projects.active_package_id)`.as(
    "clip_count",
  ),
  sql<number>`(select coalesce(sum((s.data->>'durationS')::float8), 0) from package_shots s where s.package_id = projects.active_package_id)`.as(
    "duration_s",
  ),
  sql<number>`(select count(*)::int from exports e where e.project_id = projects.id and e.status = 'completed')`.as(
    "export_count",
  ),
  sql<Date | null>`(select min(r.created_at) from runs r where r.project_id = projects.id)`.as("started_at"),
  sql<Date | null>`(select max(r.finished_at) from runs r where r.project_id = projects.id and r.status = 'completed')`.as(
    "completed_at",
  ),
  sql<string | null>`coalesce(
    (select a.storage_key from exports e
       cross join lateral jsonb_array_elements(e.files) f
       join assets a on a.id = (f->>'asset_id')::uuid
      where e.project_id = projects.id and e.status = 'completed' and f->>'file_type' = 'cover'
      order by e.completed_at desc limit 1),
    (select s.data->'keyframe'->'candidates'->((s.data->'keyframe'->>'selected')::int)->>'storage_key'
       from package_shots s
      where s.package_id = projects.active_package_id and jsonb_typeof(s.data->'keyframe'->'selected') = 'number'
      order by s.position limit 1))`.as("thumbnail_key"),
] as const;

export interface ProjectDetails {
  clip_count: number;
  duration_s: number;
  export_count: number;
  started_at: Date | null;
  completed_at: Date | null;
  thumbnail_key: string | null;
}

export type ProjectWithDetails = Selectable<ProjectsTable> & ProjectDetails;

const THUMBNAIL_TTL_S = 3600;

/** The API's project: `exported` is a completed project with at least one finished export. */
export async function toProjectView(storage: Storage, p: ProjectWithDetails) {
  const thumbnail = p.thumbnail_key ? await storage.signedUrl(p.thumbnail_key, THUMBNAIL_TTL_S) : null;
  return {
    id: p.id,
    space_id: p.space_id,
    owner_id: p.owner_id,
    name: p.name,
    description: p.description,
    tags: p.tags,
    input_type: p.input_type,
    has_input: p.has_input,
    status: p.status === "completed" && p.export_count > 0 ? ("exported" as const) : p.status,
    stage: p.stage,
    progress: p.progress,
    current_step: p.current_step,
    options: p.options,
    active_package_id: p.active_package_id,
    thumbnail_url: thumbnail?.url ?? null,
    clip_count: p.clip_count,
    duration_s: Math.round(p.duration_s * 10) / 10,
    export_count: p.export_count,
    started_at: p.started_at?.toISOString() ?? null,
    completed_at: p.completed_at?.toISOString() ?? null,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
  };
}

/** A project with its details by id, whoever may see it (the caller checked access). */
export async function projectWithDetails(db: Db, projectId: string): Promise<ProjectWithDetails | undefined> {
  return db.selectFrom("projects").selectAll().select(PROJECT_DETAILS).where("id", "=", projectId).executeTakeFirst();
}
