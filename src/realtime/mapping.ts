import type { GenerationEventData } from "../core/generation-event.ts";
import type { ProjectEventData, ProjectEventName } from "../core/project-event.ts";
import type { ProjectEvent } from "./events.ts";
import type { GenerationEvent } from "./user-events.ts";

/**
 * Seed 003's WebSocket event types. Its four (`generation.progress`, `generation.completed`,
 * `video.progress`, `export.completed`) plus, by the same pattern, the outcomes it has no name
 * for (failed, cancelled), so a client never has to poll to learn that work stopped; and its
 * `quota.insufficient`, when a run pauses for want of compute power.
 */
export type ClientEventType =
  | "generation.progress"
  | "generation.completed"
  | "generation.failed"
  | "generation.cancelled"
  | "video.progress"
  | "video.completed"
  | "video.failed"
  | "export.completed"
  | "export.failed"
  | "export.cancelled"
  | "quota.insufficient";

/**
 * An event concerns an export when its data names one; a `task_*` event a generation task (clip
 * videos as seed 003's `video.*`, everything else as `generation.*`); otherwise it is about a run.
 */
export function clientEventType(
  event: ProjectEventName,
  data: Pick<ProjectEventData, "export_id" | "task_kind">,
): ClientEventType {
  const exporting = typeof data.export_id === "string" && data.export_id.length > 0;
  const family = data.task_kind === "clip_video" || data.task_kind === "video_batch" ? "video" : "generation";
  switch (event) {
    case "task_progress":
      return `${family}.progress`;
    case "task_completed":
      return `${family}.completed`;
    case "task_failed":
      return `${family}.failed`;
    case "progress":
    case "stage":
      return exporting ? "video.progress" : "generation.progress";
    case "completed":
      return exporting ? "export.completed" : "generation.completed";
    case "failed":
      return exporting ? "export.failed" : "generation.failed";
    case "cancelled":
      return exporting ? "export.cancelled" : "generation.cancelled";
    case "quota_insufficient":
      return "quota.insufficient";
  }
}

/** The payload WebSocket frames and Supabase broadcasts carry: the event's fields, snake_case. */
export interface ClientEventPayload {
  event_id: number;
  /** The SSE event name this was logged as (docs/api-conventions.md). */
  kind: ProjectEventName;
  project_id: string;
  run_id: string | null;
  export_id?: string;
  stage?: string;
  status: string;
  progress: number;
  current_step: string | null;
  message?: string;
  files?: ProjectEventData["files"];
  task_id?: string;
  parent_task_id?: string;
  task_kind?: ProjectEventData["task_kind"];
  target?: ProjectEventData["target"];
  required?: number;
  remaining?: number;
  created_at: string;
}

export function clientPayload(e: ProjectEvent): ClientEventPayload {
  const d = e.data;
  const payload: ClientEventPayload = {
    event_id: e.id,
    kind: e.event,
    project_id: d.project_id,
    run_id: d.run_id ?? null,
    status: d.status,
    progress: d.progress,
    current_step: d.current_step ?? null,
    created_at: e.created_at.toISOString(),
  };
  if (d.export_id) payload.export_id = d.export_id;
  if (d.stage !== undefined) payload.stage = d.stage;
  if (d.message !== undefined) payload.message = d.message;
  if (d.files !== undefined) payload.files = d.files;
  if (d.task_id !== undefined) payload.task_id = d.task_id;
  if (d.parent_task_id !== undefined) payload.parent_task_id = d.parent_task_id;
  if (d.task_kind !== undefined) payload.task_kind = d.task_kind;
  if (d.target !== undefined) payload.target = d.target;
  if (d.required !== undefined) payload.required = d.required;
  if (d.remaining !== undefined) payload.remaining = d.remaining;
  return payload;
}

/** A server → client WebSocket frame for one event, in the `{event, project_id, data}` shape of our WebSocket protocol. */
export function clientFrame(e: ProjectEvent) {
  return { event: clientEventType(e.event, e.data), project_id: e.data.project_id, id: e.id, data: clientPayload(e) };
}

/** The payload of a generation event on the WebSocket and Supabase broadcast: its data, with its id and time. */
export interface GenerationEventPayload extends GenerationEventData {
  event_id: number;
  created_at: string;
}

export function generationPayload(e: GenerationEvent): GenerationEventPayload {
  return { event_id: e.id, ...e.data, created_at: e.created_at.toISOString() };
}

/**
 * A server → client WebSocket frame of the caller's "generations" channel. Its `event` is seed
 * 004's message type as logged (`task_progress`, `task_complete`, `task_failed`), in our frame shape.
 */
export function generationFrame(e: GenerationEvent) {
  return { event: e.event, channel: "generations" as const, id: e.id, data: generationPayload(e) };
}
