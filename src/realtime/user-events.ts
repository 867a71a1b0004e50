import { sql } from "kysely";
import type { GenerationEventData, GenerationEventName } from "../core/generation-event.ts";
import type { Db } from "../db/client.ts";
import { EVENTS_CHANNEL, EVENTS_LOCK_CLASS } from "./events.ts";
import { userFeedKey } from "./feed-key.ts";

/** One entry of a user's own log; `user_id` tells it apart from a project event. */
export interface GenerationEvent {
  id: number;
  user_id: string;
  event: GenerationEventName;
  data: GenerationEventData;
  created_at: Date;
}

/**
 * Appends an event to the user's own log and announces it with NOTIFY `{user_id, id}` on the
 * project events' channel, so the one hub serves both (delivered at commit: never an event whose
 * transaction rolled back). Ordered like `appendEvent`: the feed's transaction-scoped lock is
 * taken first, so the user's ids become visible in id order; call it last in a transaction.
 */
export async function appendUserEvent(
  db: Db,
  userId: string,
  event: GenerationEventName,
  data: GenerationEventData,
): Promise<number> {
  const result = await sql<{ id: number }>`
    with ins as (
      insert into user_events (user_id, event, data)
      select ${userId}::uuid, ${event}, ${JSON.stringify(data)}::jsonb
      from (select pg_advisory_xact_lock(${EVENTS_LOCK_CLASS}::int, hashtext(${userFeedKey(userId)}::text))) as feed_lock
      returning id
    )
    select id, pg_notify(${EVENTS_CHANNEL}, json_build_object('user_id', ${userId}::text, 'id', id)::text) from ins
  `.execute(db);
  return Number(result.rows[0]!.id);
}

const toEvent = (r: {
  id: number;
  user_id: string;
  event: GenerationEventName;
  data: GenerationEventData;
  created_at: Date;
}): GenerationEvent => ({
  id: Number(r.id),
  user_id: r.user_id,
  event: r.event,
  data: r.data,
  created_at: r.created_at,
});

/** Events of a user's own log after `afterId`, oldest first. */
export async function userEventsAfter(
  db: Db,
  userId: string,
  afterId: number,
  limit = 500,
): Promise<GenerationEvent[]> {
  const rows = await db
    .selectFrom("user_events")
    .select(["id", "user_id", "event", "data", "created_at"])
    .where("user_id", "=", userId)
    .where("id", ">", afterId)
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map(toEvent);
}

/** The user events with these ids (those that exist), oldest first. */
export async function userEventsByIds(db: Db, ids: number[]): Promise<GenerationEvent[]> {
  if (!ids.length) return [];
  const rows = await db
    .selectFrom("user_events")
    .select(["id", "user_id", "event", "data", "created_at"])
    .where("id", "in", [...new Set(ids)])
    .orderBy("id")
    .execute();
  return rows.map(toEvent);
}
