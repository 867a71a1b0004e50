import type { Logger } from "../log.ts";
import { clientEventType, clientPayload, generationPayload } from "./mapping.ts";
import { type FeedEvent, isGenerationEvent } from "./reads.ts";

/** Where and how to send Supabase Realtime broadcasts. */
export interface BroadcastTarget {
  /** SUPABASE_URL, without a trailing slash. */
  url: string;
  serviceRoleKey: string;
  /**
   * Private channels (default): only clients that pass the RLS policies on realtime.messages
   * receive them, so progress of a team's project (or of a user's generations) is not readable
   * by anyone who knows its id.
   */
  private?: boolean;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export const BROADCAST_PATH = "/realtime/v1/api/broadcast";
/** Messages per request: Realtime counts each against the project's events-per-second limit. */
const MAX_BATCH = 100;

export interface BroadcastMessage {
  topic: string;
  event: string;
  payload: Record<string, unknown>;
  private: boolean;
}

export const projectTopic = (projectId: string) => `project:${projectId}`;
/** A user's own topic: their direct generations' events. */
export const userTopic = (userId: string) => `user:${userId}`;

/**
 * One event as a Realtime message: a project event as its WebSocket event type on the project's
 * topic; a generation event under its own (seed 004) name on its owner's topic.
 */
function broadcastMessage(e: FeedEvent, isPrivate: boolean): BroadcastMessage {
  if (isGenerationEvent(e))
    return { topic: userTopic(e.user_id), event: e.event, payload: { ...generationPayload(e) }, private: isPrivate };
  return {
    topic: projectTopic(e.data.project_id),
    event: clientEventType(e.event, e.data),
    payload: { ...clientPayload(e) },
    private: isPrivate,
  };
}

/** Realtime's batch endpoint body (`POST /api/broadcast`, 202 on success). */
export function broadcastBody(events: FeedEvent[], isPrivate: boolean): { messages: BroadcastMessage[] } {
  return { messages: events.map((e) => broadcastMessage(e, isPrivate)) };
}

export type SendBroadcast = (events: FeedEvent[]) => Promise<boolean>;

/**
 * Sends events to Supabase Realtime's REST broadcast endpoint with the service role key. Never
 * throws: a failure is logged (status and counts only, never the key) and the events are dropped;
 * broadcast is a best-effort accelerator, the event log behind SSE is the record.
 */
export function createBroadcastSender(target: BroadcastTarget, log: Logger): SendBroadcast {
  const doFetch = target.fetch ?? fetch;
  const endpoint = `${target.url.replace(/\/+$/, "")}${BROADCAST_PATH}`;
  const isPrivate = target.private ?? true;
  return async (events) => {
    let ok = true;
    for (let i = 0; i < events.length; i += MAX_BATCH) {
      const batch = events.slice(i, i + MAX_BATCH);
      try {
        const res = await doFetch(endpoint, {
          method: "POST",
          headers: {
            apikey: target.serviceRoleKey,
            Authorization: `Bearer ${target.serviceRoleKey}`,
            "Content-Type": "application/json",
          },
          body: JSON.stringify(broadcastBody(batch, isPrivate)),
          signal: AbortSignal.timeout(target.timeoutMs ?? 10_000),
        });
        await res.body?.cancel().catch(() => {});
        if (!res.ok) {
          ok = false;
          log.warn("supabase broadcast rejected", {
            status: res.status,
            messages: batch.length,
            first_event_id: batch[0]!.id,
          });
        }
      } catch (err) {
        ok = false;
        const e = err as Error;
        log.warn("supabase broadcast failed", {
          error: { name: e.name, message: e.message },
          messages: batch.length,
          first_event_id: batch[0]!.id,
        });
      }
    }
    return ok;
  };
}
