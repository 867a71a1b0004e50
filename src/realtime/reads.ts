import { sql } from "kysely";
import type { Db } from "../db/client.ts";
import type { ProjectEvent } from "./events.ts";

/** The newest event id of each project (0 when it has none), in one indexed query. */
export async function latestEventIds(db: Db, projectIds: string[]): Promise<Map<string, number>> {
  if (!projectIds.length) return new Map();
  const { rows } = await sql<{ project_id: string; max_id: number | null }>`
    select p.project_id::text as project_id,
      (select e.id from project_events e where e.project_id = p.project_id order by e.id desc limit 1) as max_id
    from unnest(${projectIds}::uuid[]) as p(project_id)
  `.execute(db);
  return new Map(rows.map((r) => [r.project_id, Number(r.max_id ?? 0)]));
}

/** The events with these ids (those that exist), oldest first. */
export async function eventsByIds(db: Db, ids: number[]): Promise<ProjectEvent[]> {
  if (!ids.length) return [];
  const rows = await db
    .selectFrom("project_events")
    .select(["id", "event", "data", "created_at"])
    .where("id", "in", [...new Set(ids)])
    .orderBy("id")
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    event: r.event,
    data: r.data,
    created_at: r.created_at,
  }));
}
