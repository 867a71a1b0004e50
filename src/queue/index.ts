export { cancelJob, pruneHistory, queueDepth, rescueExpired, retryJob } from "./admin.ts";
export { claimJobs } from "./claim.ts";
export { nextRun, parseCron } from "./cron.ts";
export { enqueue, enqueueMany, type EnqueuedJob } from "./enqueue.ts";
export { completeJobs, failJobs, heartbeatJobs } from "./finish.ts";
export { defineSchedules, enqueueDueSchedules, type Schedule } from "./schedules.ts";
export { PermanentJobError, SnoozeJob, type ClaimedJob, type EnqueueInput, type Handler, type JobContext } from "./types.ts";
export { createWorker, type AbortReason, type Worker, type WorkerOptions } from "./worker.ts";
export { migrate } from "../db/migrator.ts";
