import type { ExportFile } from "./export-record.ts";
import type { TaskKind, TaskTarget } from "./generation-task.ts";

/**
 * What SSE sends as `event:`, each mapped to a WebSocket event type (realtime/mapping.ts). A run
 * or an export logs `progress` … `cancelled`; a generation task (GET /tasks/:id) logs `task_*`, so a
 * client waiting for its run to complete is never misled by a regenerated picture.
 */
export type ProjectEventName =
  | "progress"
  | "stage"
  | "completed"
  | "failed"
  | "cancelled"
  | "task_progress"
  | "task_completed"
  | "task_failed";

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
  /** For generation-task events: the task, what it makes and for what (a batch's children name their parent). */
  task_id?: string;
  parent_task_id?: string;
  task_kind?: TaskKind;
  target?: TaskTarget;
}
