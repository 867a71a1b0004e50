/**
 * `bun run bench:series`: a 200,000-character Chinese novel (novel.ts, made from our own
 * templates) planned into a season and its first episodes rendered, on the local providers, with
 * one worker process (the bench:pipeline worker, which reports its peak RSS), on a fresh embedded
 * PostgreSQL.
 *
 *   analysis_s        the season's analysis: a run from the storyline to the storyboard;
 *   plan_s            POST /projects/:id/episodes/plan's work (planSeason) on that storyboard;
 *   episodes          how many the default plan (90 s episodes, by chapters) makes;
 *   rendered          the first BENCH_EPISODES (10) episodes as one batch (parallelism 2): their
 *                     finished video seconds, the wall time from the batch's start to the last
 *                     export, and video seconds per wall second;
 *   peak_rss_mb       the worker's over the whole bench, and this process's.
 * Goals (issue 21): plan ≤ 30 s, ≥ 5 video seconds per wall second, worker RSS ≤ 400 MB.
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { createLogger } from "../../src/log.ts";
import { planSeason } from "../../src/modules/episodes/service.ts";
import { createProject } from "../../src/modules/projects/service.ts";
import { startEpisodeRuns } from "../../src/pipeline/episode-runs.ts";
import { startRun } from "../../src/pipeline/orchestrate.ts";
import { getRun } from "../../src/pipeline/run-state.ts";
import { createProviderResolver } from "../../src/providers/registry.ts";
import { createUser } from "../../src/services/users.ts";
import { createStorage } from "../../src/storage/index.ts";
import { longNovel } from "./novel.ts";

const CHARS = Number(process.env.BENCH_CHARS ?? 200_000);
const EPISODES = Number(process.env.BENCH_EPISODES ?? 10);
const say = (...a: unknown[]) => console.error("[bench:series]", ...a);
const round = (n: number, d = 3) => Number(n.toFixed(d));

const dataDir = mkdtempSync(join(tmpdir(), "inkreel-bench-series-"));
// As root the embedded server runs as the postgres user, which must reach its data directory.
chmodSync(dataDir, 0o755);
const env = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "info" };
const config = loadConfig(env);
const log = createLogger("warn", { process: "bench" });
const database = await openDatabase(config, log);
const db = createDb(database.url, { max: 2 });
let worker: ReturnType<typeof Bun.spawn> | null = null;

/** Polls until every run has ended; throws on one that did not complete. */
async function finished(runIds: string[], label: string) {
  let last = "";
  for (;;) {
    const runs = await Promise.all(runIds.map((id) => getRun(db, id)));
    const done = runs.filter((r) => r && ["completed", "failed", "cancelled"].includes(r.status));
    const bad = done.find((r) => r!.status !== "completed" && r!.status !== "paused");
    if (bad) throw new Error(`${label}: a run ${bad.status}: ${JSON.stringify(bad.error)}`);
    const line = `${label}: ${done.length}/${runIds.length} done, ${runs.map((r) => `${r!.progress}%`).join(" ")}`;
    if (line !== last) say(line);
    last = line;
    if (runs.every((r) => r && ["completed", "paused"].includes(r.status))) return;
    await Bun.sleep(100);
  }
}

try {
  const text = longNovel(CHARS);
  const user = await createUser(db, { username: "bench", email: "bench@inkreel.local", password: crypto.randomUUID() });
  const project = await createProject(
    db,
    { userId: user.id, currentSpaceId: user.current_space_id },
    { name: "bench-series", input: { type: "novel", text } },
  );
  worker = Bun.spawn([process.execPath, join(import.meta.dir, "..", "bench-pipeline", "worker.ts")], {
    env: { ...env, DATABASE_URL: database.url },
    stdout: "pipe",
    stderr: "inherit",
  });
  const output = new Response(worker.stdout as ReadableStream).text();
  // The worker is up once it has claimed nothing for a moment; each clock starts at its request.
  await Bun.sleep(1500);
  say(`analysing ${[...text].length} characters…`);
  const t0 = performance.now();
  const analysis = await startRun(db, { projectId: project.id, userId: user.id, mode: "step", toStage: "storyboard" });
  await finished([analysis.id], "analysis");
  const analysisS = (performance.now() - t0) / 1000;
  // Each analysis stage from its first event to its "completed" event, from the project's event log.
  const stagesS: Record<string, number> = {};
  const firstSeen: Record<string, number> = {};
  for (const e of await db
    .selectFrom("project_events")
    .select(["data", "created_at"])
    .where("run_id", "=", analysis.id)
    .orderBy("id")
    .execute()) {
    if (!e.data.stage) continue;
    firstSeen[e.data.stage] ??= e.created_at.getTime();
    if (e.data.status === "completed")
      stagesS[e.data.stage] = round((e.created_at.getTime() - firstSeen[e.data.stage]!) / 1000, 2);
  }

  const { storage } = await createStorage(config);
  const providers = createProviderResolver({ config, db, log });
  const ids = { userId: user.id, projectId: project.id };
  const t1 = performance.now();
  const season = await planSeason({ db, storage, providers }, ids, {});
  const planS = (performance.now() - t1) / 1000;
  say(`planned ${season.length} episodes in ${round(planS, 2)} s`);

  const first = season.slice(0, EPISODES);
  const t2 = performance.now();
  const batch = await startEpisodeRuns(db, { ...ids, episodes: first.map((e) => e.id), parallelism: 2 });
  await finished(
    batch.runs.map((r) => r.run_id),
    "episodes",
  );
  const wall = (performance.now() - t2) / 1000;
  worker.kill("SIGTERM");
  await worker.exited;
  const stopped = (await output)
    .split("\n")
    .filter((l) => l.startsWith('{"busy":'))
    .map((l) => (JSON.parse(l) as { busy: { peak_rss_mb: number } }).busy)
    .pop();
  if (!stopped) throw new Error("the worker did not report its peak RSS");
  const exports = await db
    .selectFrom("exports")
    .select("stats")
    .where(
      "run_id",
      "in",
      batch.runs.map((r) => r.run_id),
    )
    .execute();
  const videoS = exports.reduce((s, e) => s + (e.stats?.duration_s ?? 0), 0);
  const shots = season.reduce((n, e) => n + e.shot_count, 0);
  console.log(
    JSON.stringify({
      chars: [...text].length,
      shots,
      episodes: season.length,
      season_estimated_s: round(
        season.reduce((s, e) => s + e.estimated_s, 0),
        1,
      ),
      analysis_s: round(analysisS, 2),
      analysis_stages_s: stagesS,
      plan_s: round(planS, 3),
      plan_total_s: round(analysisS + planS, 2),
      rendered: {
        episodes: exports.length,
        video_s: round(videoS, 2),
        wall_s: round(wall, 2),
        video_s_per_wall_s: round(videoS / wall, 3),
      },
      peak_rss_mb: {
        worker: round(stopped.peak_rss_mb, 1),
        orchestrator: round(process.resourceUsage().maxRSS / 1024, 1),
      },
      worker: { processes: 1, pipeline_concurrency: config.pipelineConcurrency, batch_parallelism: 2 },
      machine: { cores: cpus().length, load_avg_1m_at_start: round(loadavg()[0] ?? 0, 2) },
    }),
  );
} finally {
  worker?.kill("SIGTERM");
  await db.destroy();
  await database.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
