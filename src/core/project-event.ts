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
  | "task_failed"
  | "quota_insufficient";

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
  /** For quota_insufficient (seed 003's quota.insufficient): points the run needs beyond its hold, and what is free. */
  required?: number;
  remaining?: number;
  /** For an episode's run: the episode, and how far its batch has come. */
  episode_id?: string;
  series?: SeriesProgress;
}

/** A batch of episode runs so far (POST /projects/:id/episodes/runs). */
export interface SeriesProgress {
  batch_id: string;
  total: number;
  completed: number;
  failed: number;
  /** Running or queued with their first job; the others wait for a place. */
  in_flight: number;
  /** 0 to 100: finished runs count whole, the others by their own progress. */
  progress: number;
}
