import type { Logger } from "../log.ts";
import type { ProjectEvent } from "./events.ts";
import { clientEventType, clientPayload } from "./mapping.ts";

/** Where and how to send Supabase Realtime broadcasts. */
export interface BroadcastTarget {
  /** SUPABASE_URL, without a trailing slash. */
  url: string;
  serviceRoleKey: string;
  /**
   * Private channels (default): only clients that pass the RLS policies on realtime.messages
   * receive them, so progress of a team's project is not readable by anyone who knows its id.
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

/** Realtime's batch endpoint body (`POST /api/broadcast`, 202 on success). */
export function broadcastBody(events: ProjectEvent[], isPrivate: boolean): { messages: BroadcastMessage[] } {
  return {
    messages: events.map((e) => ({
      topic: projectTopic(e.data.project_id),
      event: clientEventType(e.event, e.data),
      payload: { ...clientPayload(e) },
      private: isPrivate,
    })),
  };
}

export type SendBroadcast = (events: ProjectEvent[]) => Promise<boolean>;

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
