import { sql } from "kysely";
import type { ProjectEventData, ProjectEventName } from "../core/project-event.ts";
import type { Db } from "../db/client.ts";

export const EVENTS_CHANNEL = "inkreel_events";
/** First key of the per-project advisory lock that orders appends (two-int keys: no clash with int8 ones). */
export const EVENTS_LOCK_CLASS = 0x1e7e;

export interface ProjectEvent {
  id: number;
  event: ProjectEventName;
  data: ProjectEventData;
  created_at: Date;
}

/**
 * Appends an event to the project's log and announces it with NOTIFY (delivered at commit, so a
 * listener never sees an event whose transaction rolled back). API processes fan it out to SSE
 * and WebSocket subscribers; the log lets a client resume with Last-Event-ID.
 *
 * One statement: it first takes the project's transaction-scoped event lock, so the ids of one
 * project become visible in id order (an id is only drawn once every earlier append of the
 * project has committed). Readers can then page a project's log by "id > cursor" without ever
 * skipping a late commit. Inside a caller's transaction the lock is held until its commit: call
 * this last in a transaction, after its other row locks.
 */
export async function appendEvent(db: Db, event: ProjectEventName, data: ProjectEventData): Promise<number> {
  const result = await sql<{ id: number }>`
    with ins as (
      insert into project_events (project_id, run_id, event, data)
      select ${data.project_id}::uuid, ${data.run_id}::uuid, ${event}, ${JSON.stringify(data)}::jsonb
      from (select pg_advisory_xact_lock(${EVENTS_LOCK_CLASS}::int, hashtext(${data.project_id}::text))) as project_lock
      returning id
    )
    select id, pg_notify(${EVENTS_CHANNEL}, json_build_object('project_id', ${data.project_id}::text, 'id', id)::text) from ins
  `.execute(db);
  return Number(result.rows[0]!.id);
}

/** Events of a project after `afterId`, oldest first. */
export async function eventsAfter(db: Db, projectId: string, afterId: number, limit = 500): Promise<ProjectEvent[]> {
  const rows = await db
    .selectFrom("project_events")
    .select(["id", "event", "data", "created_at"])
    .where("project_id", "=", projectId)
    .where("id", ">", afterId)
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    event: r.event,
    data: r.data,
    created_at: r.created_at,
  }));
}
