import type { ExportFile } from "./export-record.ts";

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
  /** A finished export's files (fetch `GET /exports/:id/files` for their download links). */
  files?: ExportFile[];
}
