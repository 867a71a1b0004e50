export { migrate } from "../db/migrator.ts";
export { cancelJob, pruneHistory, queueDepth, rescueExpired, retryJob } from "./admin.ts";
export type { AbortReason } from "./attempt.ts";
export { claimJobs } from "./claim.ts";
export { nextRun, parseCron } from "./cron.ts";
export { type EnqueuedJob, enqueue, enqueueMany } from "./enqueue.ts";
export { completeJobs, failJobs, heartbeatJobs } from "./finish.ts";
export { defineSchedules, enqueueDueSchedules, type Schedule } from "./schedules.ts";
export {
  type ClaimedJob,
  type EnqueueInput,
  type Handler,
  type JobContext,
  PermanentJobError,
  SnoozeJob,
} from "./types.ts";
export { createWorker, type Worker, type WorkerOptions } from "./worker.ts";
