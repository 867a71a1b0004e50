import type { GenerationError, GenerationKind, GenerationStatus } from "./generation.ts";

/**
 * What a direct generation logs on its owner's feed (`user_events`), named as seed 004's WebSocket
 * message types so its clients recognise them. Not project events: a generation has no project,
 * and a project's task events keep their own names (`task_completed`).
 */
export type GenerationEventName = "task_progress" | "task_complete" | "task_failed";

/** The body of one entry of a user's event log (`user_events.data`), as SSE sends it. */
export interface GenerationEventData {
  /** The generation, as GET /api/v1/generate/tasks/:taskId names it. */
  task_id: string;
  kind: GenerationKind;
  status: GenerationStatus;
  progress: number;
  message?: string;
  /** On the final event: the works it made (task_complete) or that failed with it (task_failed). */
  work_ids?: string[];
  /** On task_failed: why, as GET /api/v1/generate/tasks/:taskId reports it. */
  error?: GenerationError;
}
