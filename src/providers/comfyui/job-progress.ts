import { sql } from "kysely";
import type { Db } from "../../db/client.ts";

/** The queue job and attempt a provider call runs in (the chain's scope). */
export interface JobAttempt {
  jobId: string;
  attempt: number;
}

/**
 * Writes a waiting prompt's queue position or node progress on the job making the call, as its
 * progress and progress_message: only while that attempt is the one running (a rescued job's
 * dead attempt writes nothing).
 */
export async function reportJobProgress(db: Db, job: JobAttempt, percent: number, message: string): Promise<void> {
  await sql`
    update jobs set progress = ${Math.max(0, Math.min(100, Math.round(percent)))}, progress_message = ${message.slice(0, 500)}
    where id = ${job.jobId} and attempt = ${job.attempt} and state = 'running'`.execute(db);
}
