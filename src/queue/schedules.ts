import { sql } from "kysely";
import type { Db } from "../db/client.ts";
import { nextRun, parseCron } from "./cron.ts";
import { enqueue } from "./enqueue.ts";

export interface Schedule {
  name: string;
  cron: string;
  kind: string;
  queue?: string;
  payload?: unknown;
}

/** Creates or updates recurring jobs (their next run recomputed when the expression changed). */
export async function defineSchedules(db: Db, schedules: Schedule[]) {
  for (const s of schedules) {
    const next = nextRun(parseCron(s.cron), new Date());
    await db
      .insertInto("job_schedules")
      .values({
        name: s.name,
        cron: s.cron,
        kind: s.kind,
        queue: s.queue ?? "maintenance",
        payload: JSON.stringify(s.payload ?? {}),
        next_run_at: next,
      })
      .onConflict((oc) =>
        oc.column("name").doUpdateSet((eb) => ({
          kind: eb.ref("excluded.kind"),
          queue: eb.ref("excluded.queue"),
          payload: eb.ref("excluded.payload"),
          next_run_at: sql`case when job_schedules.cron = excluded.cron then job_schedules.next_run_at else excluded.next_run_at end`,
          cron: eb.ref("excluded.cron"),
        })),
      )
      .execute();
  }
}

/**
 * Enqueues the schedules that are due. Each due row is advanced and its job enqueued in one
 * transaction, with a unique key per run, so several workers never enqueue a run twice.
 */
export async function enqueueDueSchedules(db: Db): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const due = await trx
      .selectFrom("job_schedules")
      .selectAll()
      .where("next_run_at", "<=", sql<Date>`now()`)
      .forUpdate()
      .skipLocked()
      .execute();
    for (const s of due) {
      const runAt = s.next_run_at;
      await enqueue(trx, {
        kind: s.kind,
        queue: s.queue,
        payload: s.payload,
        uniqueKey: `schedule:${s.name}:${runAt.toISOString()}`,
      });
      await trx
        .updateTable("job_schedules")
        .set({
          next_run_at: nextRun(parseCron(s.cron), new Date(Math.max(Date.now(), runAt.getTime()))),
          last_run_at: runAt,
        })
        .where("name", "=", s.name)
        .execute();
    }
    return due.length;
  });
}
