import { sql } from "kysely";
import type { Db } from "../db/client.ts";
import { eventsAfter, type ProjectEvent } from "./events.ts";
import { type FeedKey, parseFeedKey, userFeedKey } from "./feed-key.ts";
import { type GenerationEvent, userEventsAfter, userEventsByIds } from "./user-events.ts";

/** What a feed delivers: a project's events, or a user's generation events. */
export type FeedEvent = ProjectEvent | GenerationEvent;

export const isGenerationEvent = (e: FeedEvent): e is GenerationEvent => "user_id" in e;

/** A feed's events after `afterId`, oldest first. */
export function feedEventsAfter(db: Db, key: FeedKey, afterId: number, limit = 500): Promise<FeedEvent[]> {
  const feed = parseFeedKey(key);
  return "user" in feed
    ? userEventsAfter(db, feed.user, afterId, limit)
    : eventsAfter(db, feed.project, afterId, limit);
}

/** The newest event id of each project (0 when it has none), in one indexed query. */
async function latestProjectEventIds(db: Db, projectIds: string[]): Promise<Map<string, number>> {
  if (!projectIds.length) return new Map();
  const { rows } = await sql<{ project_id: string; max_id: number | null }>`
    select p.project_id::text as project_id,
      (select e.id from project_events e where e.project_id = p.project_id order by e.id desc limit 1) as max_id
    from unnest(${projectIds}::uuid[]) as p(project_id)
  `.execute(db);
  return new Map(rows.map((r) => [r.project_id, Number(r.max_id ?? 0)]));
}

/** The newest event id of each user's own log (0 when it has none), in one indexed query. */
async function latestUserEventIds(db: Db, userIds: string[]): Promise<Map<FeedKey, number>> {
  if (!userIds.length) return new Map();
  const { rows } = await sql<{ user_id: string; max_id: number | null }>`
    select u.user_id::text as user_id,
      (select e.id from user_events e where e.user_id = u.user_id order by e.id desc limit 1) as max_id
    from unnest(${userIds}::uuid[]) as u(user_id)
  `.execute(db);
  return new Map(rows.map((r) => [userFeedKey(r.user_id), Number(r.max_id ?? 0)]));
}

/** The newest event id of each feed (0 when it has none): one indexed query per kind of feed. */
export async function latestEventIds(db: Db, keys: FeedKey[]): Promise<Map<FeedKey, number>> {
  const projects: string[] = [];
  const users: string[] = [];
  for (const key of keys) {
    const feed = parseFeedKey(key);
    if ("user" in feed) users.push(feed.user);
    else projects.push(feed.project);
  }
  const [ofProjects, ofUsers] = await Promise.all([latestProjectEventIds(db, projects), latestUserEventIds(db, users)]);
  return new Map([...ofProjects, ...ofUsers]);
}

/** The project events with these ids (those that exist), oldest first. */
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

/** A notified event: which log it is in (the two have their own ids) and its id. */
export interface EventNote {
  user: boolean;
  id: number;
}

/** The notified events that exist, each log's oldest first (the order within every feed). */
export async function eventsOfNotes(db: Db, notes: EventNote[]): Promise<FeedEvent[]> {
  const [ofProjects, ofUsers] = await Promise.all([
    eventsByIds(
      db,
      notes.filter((n) => !n.user).map((n) => n.id),
    ),
    userEventsByIds(
      db,
      notes.filter((n) => n.user).map((n) => n.id),
    ),
  ]);
  return [...ofProjects, ...ofUsers];
}
