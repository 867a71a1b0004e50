// What must hold after a run survived a fault (the chaos tests): the same checks as the crash
// tests make, shared. Assets once each and stored as their rows say, one keyframe and clip per
// shot, the package pointing only at assets that exist, nothing left queued, one export.
import { expect } from "bun:test";
import { sql } from "kysely";
import { PER_SHOT, STAGES } from "../../src/core/stages.ts";
import type { PipelineContext } from "./pipeline.ts";
import { waitUntil } from "./pipeline.ts";

type Ctx = Pick<PipelineContext, "db" | "deps">;

export const runJobs = async (ctx: Ctx, runId: string) =>
  (
    await sql<{
      kind: string;
      stage: string;
      state: string;
      attempt: number;
    }>`select kind, payload->>'stage' as stage, state, attempt from jobs where payload->>'run_id' = ${runId}`.execute(
      ctx.db,
    )
  ).rows;

/** How many jobs of each kind and stage the run had, finished or not. */
export async function fanOut(ctx: Ctx, runId: string): Promise<Record<string, number>> {
  const { rows } = await sql<{ k: string; n: number }>`
    select kind || ':' || (payload->>'stage') as k, count(*)::int as n
    from (select kind, payload from job_history where payload->>'run_id' = ${runId} union all select kind, payload from jobs where payload->>'run_id' = ${runId}) j
    group by 1 order by 1`.execute(ctx.db);
  return Object.fromEntries(rows.map((r) => [r.k, r.n]));
}

/** The jobs a whole run has when each was made once: a stage job per stage, per-shot jobs and a join for fanned-out stages. */
export function onceEach(shots: number): Record<string, number> {
  const once: Record<string, number> = {};
  for (const stage of STAGES) {
    once[`pipeline.stage:${stage}`] = 1;
    if (PER_SHOT.has(stage)) {
      once[`pipeline.shot:${stage}`] = shots;
      once[`pipeline.join:${stage}`] = 1;
    }
  }
  return once;
}

export async function shotCount(ctx: Ctx, runId: string): Promise<number> {
  return (
    await ctx.db
      .selectFrom("package_shots")
      .innerJoin("runs", "runs.package_id", "package_shots.package_id")
      .select("shot_id")
      .where("runs.id", "=", runId)
      .execute()
  ).length;
}

/** No input was made into two assets: one row per kind and input digest in the project. */
export async function expectAssetsOnce(ctx: Ctx, projectId: string) {
  const dupes =
    await sql`select kind, input_digest, count(*) from assets where project_id = ${projectId} group by 1, 2 having count(*) > 1`.execute(
      ctx.db,
    );
  expect(dupes.rows).toEqual([]);
}

export async function checkRunIntegrity(ctx: Ctx, { projectId, runId }: { projectId: string; runId: string }) {
  await expectAssetsOnce(ctx, projectId);
  const assets = await ctx.db
    .selectFrom("assets")
    .select(["id", "kind", "storage_key", "sha256", "size"])
    .where("project_id", "=", projectId)
    .execute();
  expect(assets.length).toBeGreaterThan(0);
  const missing: string[] = [];
  for (const a of assets) {
    const stat = await ctx.deps.storage.stat(a.storage_key);
    if (!stat) missing.push(`${a.kind} ${a.storage_key}`);
    else if (stat.sha256 !== a.sha256 || stat.size !== Number(a.size))
      missing.push(`${a.kind} ${a.storage_key} differs from its row`);
  }
  expect(missing).toEqual([]);
  const run = await ctx.db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow();
  const shots = await ctx.db
    .selectFrom("package_shots")
    .select("data")
    .where("package_id", "=", run.package_id!)
    .execute();
  const ids = new Set(assets.map((a) => a.id));
  for (const { data } of shots) {
    const s = data as {
      keyframe: { candidates: Array<{ asset_id: string }>; selected: number | null };
      clip: { candidates: Array<{ asset_id: string }>; selected: number | null };
      lines: Array<{ audio: { asset_id: string } | null }>;
    };
    expect(s.keyframe.selected).not.toBeNull();
    expect(s.clip.selected).not.toBeNull();
    for (const ref of [...s.keyframe.candidates, ...s.clip.candidates, ...s.lines.map((l) => l.audio!)])
      expect(ids.has(ref.asset_id)).toBe(true);
    expect(s.keyframe.candidates.length).toBe(1);
    expect(s.clip.candidates.length).toBe(1);
  }
  await waitUntil(
    `no job of run ${runId} to remain`,
    async () => (await runJobs(ctx, runId)).length === 0,
    8000,
    100,
  ).catch(async (e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(await runJobs(ctx, runId))}`);
  });
  const exports = await ctx.db
    .selectFrom("exports")
    .select(["id", "status"])
    .where("project_id", "=", projectId)
    .execute();
  expect(exports).toEqual([{ id: run.export_id!, status: "completed" }]);
  for (const s of run.stages as Array<{ stage: string; status: string; progress: number }>) {
    expect(s.status).toBe("completed");
    expect(s.progress).toBe(100);
  }
}

/**
 * The run's compute power after a fault: its charge closed with nothing held, one settlement per
 * priced provider call (none twice, none for a call that was not made), and what they settled is
 * the charge's `settled`; the payer's account holds no reservation.
 */
/**
 * Every priced call of the run settled once, against its charge, at the local nominal prices
 * (points a picture, points a second of video); nothing is left held.
 */
export async function checkRunSettlement(ctx: Ctx, runId: string, points: { image: number; videoSecond: number }) {
  const charge = await ctx.db
    .selectFrom("compute_charges")
    .selectAll()
    .where("subject_id", "=", runId)
    .executeTakeFirstOrThrow();
  expect([charge.status, Number(charge.held)]).toEqual(["closed", 0]);
  const settlements = await ctx.db
    .selectFrom("compute_ledger")
    .select(["usage_id", "points", "reserved_change"])
    .where("charge_id", "=", charge.id)
    .where("kind", "=", "settle")
    .execute();
  const usage = await ctx.db
    .selectFrom("provider_usage")
    .select(["id", "images", "video_seconds"])
    .where("run_id", "=", runId)
    .execute();
  const cost = (u: (typeof usage)[number]) => u.images * points.image + Number(u.video_seconds) * points.videoSecond;
  const priced = usage.filter((u) => cost(u) > 0);
  expect(settlements.map((s) => s.usage_id).sort()).toEqual(priced.map((u) => u.id).sort());
  const settled = settlements.reduce((a, s) => a + Number(s.points) + Number(s.reserved_change), 0);
  const expected = priced.reduce((a, u) => a + cost(u), 0);
  // A settlement takes its points from the hold (reserved_change) and past it from the balance
  // (points); each call's is rounded to a ten-thousandth of a point.
  expect(-settled).toBeCloseTo(expected, 2);
  expect(Number(charge.settled)).toBeCloseTo(expected, 2);
  const account = await ctx.db
    .selectFrom("compute_accounts")
    .select("reserved")
    .where("id", "=", charge.account_id)
    .executeTakeFirstOrThrow();
  expect(Number(account.reserved)).toBe(0);
  return { estimate: Number(charge.estimate_points), settled: Number(charge.settled) };
}
