/** What SSE sends as `event:`, each mapped to a WebSocket event type (realtime/mapping.ts). */
export type ProjectEventName = "progress" | "stage" | "completed" | "failed" | "cancelled";

/** The body of one entry of a project's event log (`project_events.data`). */
export interface ProjectEventData {
  project_id: string;
  run_id: string | null;
  stage?: string;
  status: string;
  progress: number;
  current_step: string | null;
  message?: string;
  /** For export events. */
  export_id?: string;
}
