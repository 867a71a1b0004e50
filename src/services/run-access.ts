import { notFound } from "../core/errors.ts";
import type { Db } from "../db/client.ts";
import type { RunRow } from "../pipeline/run-state.ts";
import { requireProject } from "./project-access.ts";

/** The run, if the user may see its project; otherwise (or if there is no such run) 404. */
export async function getRunFor(db: Db, { userId, runId }: { userId: string; runId: string }): Promise<RunRow> {
  const run = await db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirst();
  if (!run) throw notFound("run");
  await requireProject(db, { userId, projectId: run.project_id }, "viewer").catch(() => {
    throw notFound("run");
  });
  return run;
}
