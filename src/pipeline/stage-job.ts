import type { Stage } from "../core/stages.ts";

export const PIPELINE_QUEUE = "pipeline";
/** A step is tried this many times before its stage fails. */
export const ATTEMPTS = 2;

/** The job that runs one stage of a run. */
export function stageJob(runId: string, stage: Stage) {
  return {
    kind: "pipeline.stage",
    queue: PIPELINE_QUEUE,
    payload: { run_id: runId, stage },
    maxAttempts: ATTEMPTS,
    timeoutMs: 30 * 60_000,
  };
}
