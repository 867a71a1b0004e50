import type { Db } from "../db/client.ts";
import { conflict } from "../http/errors.ts";
import { cancelJob, enqueue } from "../queue/index.ts";
import { appendEvent } from "../realtime/events.ts";
import { stageJob } from "./jobs.ts";
import { newPackageVersion } from "./packages.ts";
import { finishRun, getRun, liveRunJobs, type RunRow } from "./run-state.ts";
import { STAGES, type Stage, type StageState } from "./stages.ts";

export interface StartRun {
  projectId: string;
  userId: string;
  mode: "auto" | "step";
  fromStage?: Stage;
  toStage?: Stage;
}

/**
 * Starts a run of the default workflow. Without `from_stage` a project with no package starts
 * from the beginning into version 1, and one with a package continues from the first stage its
 * package still lacks; with `from_stage` everything from that stage is redone into a new package
 * version copied from the active one, which stays as it was.
 */
export async function startRun(db: Db, r: StartRun): Promise<RunRow> {
  return db.transaction().execute(async (trx) => {
    const project = await trx.selectFrom("projects").selectAll().where("id", "=", r.projectId).forUpdate().executeTakeFirstOrThrow();
    const busy = await trx.selectFrom("runs").select("id").where("project_id", "=", r.projectId).where("status", "in", ["queued", "running"]).executeTakeFirst();
    if (busy) throw conflict("the project already has a run in progress", { run_id: busy.id });
    let packageId = project.active_package_id;
    let from: Stage = r.fromStage ?? "storyline";
    if (!packageId) {
      packageId = await newPackageVersion(trx, project.id, null);
      from = "storyline";
    } else if (r.fromStage) {
      packageId = await newPackageVersion(trx, project.id, packageId);
    } else {
      // Continue: the first stage the last run of this package did not complete.
      const last = await trx.selectFrom("runs").select("stages").where("package_id", "=", packageId).orderBy("created_at", "desc").executeTakeFirst();
      const stages = (last?.stages ?? []) as StageState[];
      from = STAGES.find((s) => !["completed", "skipped"].includes(stages.find((x) => x.stage === s)?.status ?? "")) ?? "export";
    }
    const to = r.toStage ?? "export";
    if (STAGES.indexOf(to) < STAGES.indexOf(from)) throw conflict(`to_stage "${to}" comes before the first stage to run, "${from}"`);
    const stages: StageState[] = STAGES.map((stage) => ({
      stage,
      status: STAGES.indexOf(stage) < STAGES.indexOf(from) ? "completed" : "pending",
      progress: STAGES.indexOf(stage) < STAGES.indexOf(from) ? 100 : 0,
    }));
    const run = (await trx
      .insertInto("runs")
      .values({
        project_id: project.id,
        package_id: packageId,
        created_by: r.userId,
        mode: r.mode,
        from_stage: r.fromStage ?? null,
        to_stage: r.mode === "step" ? to : null,
        stages: JSON.stringify(stages),
      })
      .returningAll()
      .executeTakeFirstOrThrow()) as RunRow;
    await trx.updateTable("projects").set({ status: "generating", active_package_id: packageId, stage: from, progress: 0, updated_at: new Date() }).where("id", "=", project.id).execute();
    await enqueue(trx, stageJob(run.id, from));
    await appendEvent(trx, "stage", { project_id: project.id, run_id: run.id, stage: from, status: "queued", progress: 0, current_step: null });
    return run;
  });
}

/** Stops a run: its stages are marked cancelled and every job of it still queued or running is cancelled (running ones abort). */
export async function cancelRun(db: Db, runId: string): Promise<RunRow> {
  const run = await getRun(db, runId);
  if (!run) throw new Error("no such run");
  if (!["queued", "running", "paused"].includes(run.status)) throw conflict(`the run is already ${run.status}`);
  const done = await finishRun(db, runId, "cancelled");
  for (const id of await liveRunJobs(db, runId)) await cancelJob(db, id);
  return done;
}
