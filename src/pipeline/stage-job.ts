import type { Stage } from "../core/stages.ts";

export const PIPELINE_QUEUE = "pipeline";
/** A step is tried this many times before its stage fails. */
export const ATTEMPTS = 2;

/** The job that runs one stage of a run, at the run's queue priority (its payer's tier: lower runs first). */
export function stageJob(run: { id: string; priority: number }, stage: Stage) {
  return {
    kind: "pipeline.stage",
    queue: PIPELINE_QUEUE,
    priority: run.priority,
    payload: { run_id: run.id, stage },
    maxAttempts: ATTEMPTS,
    timeoutMs: 30 * 60_000,
  };
}
