import { sql } from "kysely";
import type { Db } from "../../db/client.ts";
import { requireProject } from "../../services/project-access.ts";
import { getRunFor } from "../../services/run-access.ts";

/** Sums of the ledger rows a filter selects, per capability, provider and model. */
async function totals(db: Db, column: "project_id" | "run_id", id: string) {
  const rows = await db
    .selectFrom("provider_usage")
    .select([
      "capability",
      "provider",
      "model",
      sql<number>`count(*)::int`.as("calls"),
      sql<number>`(count(*) filter (where outcome = 'failed'))::int`.as("failed"),
      sql<number>`sum(input_tokens)::int`.as("input_tokens"),
      sql<number>`sum(output_tokens)::int`.as("output_tokens"),
      sql<number>`sum(images)::int`.as("images"),
      sql<number>`sum(audio_seconds)::float8`.as("audio_seconds"),
      sql<number>`sum(video_seconds)::float8`.as("video_seconds"),
      sql<number>`sum(cost_usd)::float8`.as("cost_usd"),
    ])
    .where(column, "=", id)
    .groupBy(["capability", "provider", "model"])
    .orderBy("capability")
    .orderBy("provider")
    .orderBy("model")
    .execute();
  const sum = (k: "calls" | "failed" | "cost_usd") => rows.reduce((a, r) => a + Number(r[k]), 0);
  return {
    total_cost_usd: Math.round(sum("cost_usd") * 1e6) / 1e6,
    calls: sum("calls"),
    failed_calls: sum("failed"),
    by_model: rows,
  };
}

/** Calls that failed and handed over to the next model of their chain, oldest first. */
async function failovers(db: Db, runId: string) {
  const rows = await db
    .selectFrom("provider_usage")
    .select(["id", "created_at", "stage", "shot_id", "capability", "provider", "model", "error"])
    .where("run_id", "=", runId)
    .where("failed_over", "=", true)
    .orderBy("id")
    .execute();
  return rows.map((r) => ({
    at: r.created_at,
    stage: r.stage,
    shot_id: r.shot_id,
    capability: r.capability,
    from: { provider: r.provider, model: r.model },
    error: r.error,
  }));
}

/** A project's spending, for anyone who may see the project: totals per model and per run. */
export async function projectUsage(db: Db, { userId, projectId }: { userId: string; projectId: string }) {
  await requireProject(db, { userId, projectId }, "viewer");
  const byRun = await db
    .selectFrom("provider_usage")
    .select(["run_id", sql<number>`count(*)::int`.as("calls"), sql<number>`sum(cost_usd)::float8`.as("cost_usd")])
    .where("project_id", "=", projectId)
    .groupBy("run_id")
    .orderBy(sql`min(id)`)
    .execute();
  return { project_id: projectId, ...(await totals(db, "project_id", projectId)), by_run: byRun };
}

/** A run's spending, its failovers, and its latest calls, for anyone who may see the run. */
export async function runUsage(db: Db, { userId, runId }: { userId: string; runId: string }, limit = 200) {
  await getRunFor(db, { userId, runId });
  const calls = await db
    .selectFrom("provider_usage")
    .select([
      "id",
      "created_at",
      "stage",
      "shot_id",
      "capability",
      "provider",
      "model",
      "outcome",
      "failed_over",
      "error",
      "request_id",
      "input_tokens",
      "output_tokens",
      "images",
      "audio_seconds",
      "video_seconds",
      "cost_usd",
      "duration_ms",
    ])
    .where("run_id", "=", runId)
    .orderBy("id", "desc")
    .limit(limit)
    .execute();
  return {
    run_id: runId,
    ...(await totals(db, "run_id", runId)),
    failovers: await failovers(db, runId),
    calls: calls.map((c) => ({
      ...c,
      id: String(c.id),
      audio_seconds: Number(c.audio_seconds),
      video_seconds: Number(c.video_seconds),
      cost_usd: Number(c.cost_usd),
    })),
  };
}
