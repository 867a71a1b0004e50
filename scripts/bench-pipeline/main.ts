/**
 * `bun run bench:pipeline`: the Chinese example story end to end on the local providers, with one
 * worker process (worker.ts: the worker `npm start` runs, with a span recorder), on a fresh
 * embedded PostgreSQL.
 *
 *   wall_s               from the run's creation to its completion (video stored);
 *   provider_s           time inside provider calls in the worker (text, image, speech, video,
 *                        music), concurrent calls merged;
 *   ffmpeg_s             time in ffmpeg outside provider calls (the composer);
 *   orchestration_share  (wall_s − provider_s − ffmpeg_s) / wall_s: queue, database, storage and
 *                        waiting between steps;
 *   keyframe_ms_p50      the median image call (keyframes, reference sheets, the cover's poster,
 *                        all painted by the same painter), with the worker's paint cache;
 *   peak_rss_mb          per process: the worker, and this process (which creates the run and polls it).
 * The worker prints its busy time and peak RSS when it stops; that line is read from its stdout.
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { createLogger } from "../../src/log.ts";
import { createProject } from "../../src/modules/projects/service.ts";
import { startRun } from "../../src/pipeline/orchestrate.ts";
import { getRun } from "../../src/pipeline/run-state.ts";
import { createUser } from "../../src/services/users.ts";
import type { BusySummary } from "./busy.ts";

const ROOT = resolve(import.meta.dir, "../..");
const STORY = resolve(ROOT, process.env.BENCH_STORY ?? "examples/雨夜茶馆.txt");
const say = (...a: unknown[]) => console.error("[bench:pipeline]", ...a);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length
    ? s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
    : Number.NaN;
};

const dataDir = mkdtempSync(join(tmpdir(), "inkreel-bench-pipeline-"));
// As root the embedded server runs as the postgres user, which must reach its data directory.
chmodSync(dataDir, 0o755);
const env = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "info" };
const config = loadConfig(env);
const log = createLogger("warn", { process: "bench" });
const database = await openDatabase(config, log);
const db = createDb(database.url, { max: 2 });
let worker: ReturnType<typeof Bun.spawn> | null = null;
try {
  const text = (await Bun.file(STORY).text()).trim();
  const user = await createUser(db, { username: "bench", email: "bench@inkreel.local", password: crypto.randomUUID() });
  const project = await createProject(
    db,
    { userId: user.id, currentSpaceId: user.current_space_id },
    {
      name: "bench",
      input: { type: "novel", text },
    },
  );
  worker = Bun.spawn([process.execPath, join(import.meta.dir, "worker.ts")], {
    env: { ...env, DATABASE_URL: database.url },
    stdout: "pipe",
    stderr: "inherit",
  });
  const output = new Response(worker.stdout as ReadableStream).text();
  // The worker is up once it has claimed nothing for a moment; the clock starts at the run's creation.
  await Bun.sleep(1500);
  say(`running the pipeline on ${STORY} (${[...text].length} characters)…`);
  const started = performance.now();
  const run = await startRun(db, { projectId: project.id, userId: user.id, mode: "auto" });
  let last = "";
  for (;;) {
    const now = (await getRun(db, run.id))!;
    const line = `${now.status} ${now.progress}% ${now.current_step ?? ""}`;
    if (line !== last) say(line);
    last = line;
    if (["completed", "failed", "cancelled"].includes(now.status)) {
      if (now.status !== "completed") throw new Error(`the run ${now.status}: ${JSON.stringify(now.error)}`);
      break;
    }
    await Bun.sleep(50);
  }
  const wall = (performance.now() - started) / 1000;
  worker.kill("SIGTERM");
  await worker.exited;
  const stopped = (await output)
    .split("\n")
    .filter((l) => l.startsWith('{"busy":'))
    .map((l) => (JSON.parse(l) as { busy: BusySummary & { peak_rss_mb: number } }).busy)
    .pop();
  if (!stopped) throw new Error("the worker did not report its busy time");
  const shots = await db
    .selectFrom("package_shots")
    .select(({ fn }) => fn.countAll<number>().as("n"))
    .where("package_id", "=", run.package_id!)
    .executeTakeFirstOrThrow();
  const ex = await db.selectFrom("exports").select(["stats"]).where("run_id", "=", run.id).executeTakeFirstOrThrow();
  const round = (n: number, d = 3) => Number(n.toFixed(d));
  // Each stage from its first event to its "completed" event, from the project's event log.
  const events = await db
    .selectFrom("project_events")
    .select(["data", "created_at"])
    .where("run_id", "=", run.id)
    .orderBy("id")
    .execute();
  const stagesS: Record<string, number> = {};
  const firstSeen: Record<string, number> = {};
  for (const e of events) {
    const d = e.data as { stage?: string; status: string };
    if (!d.stage) continue;
    firstSeen[d.stage] ??= e.created_at.getTime();
    if (d.status === "completed") stagesS[d.stage] = round((e.created_at.getTime() - firstSeen[d.stage]!) / 1000, 2);
  }
  console.log(
    JSON.stringify({
      chars: [...text].length,
      shots: Number(shots.n),
      video_s: round((ex.stats as { duration_s: number }).duration_s, 2),
      wall_s: round(wall),
      provider_s: round(stopped.provider_s),
      ffmpeg_s: round(stopped.ffmpeg_s),
      orchestration_share: round((wall - stopped.provider_s - stopped.ffmpeg_s) / wall, 4),
      keyframe_ms_p50: round(median(stopped.image_ms), 1),
      images: stopped.image_ms.length,
      stages_s: stagesS,
      peak_rss_mb: {
        worker: round(stopped.peak_rss_mb, 1),
        orchestrator: round(process.resourceUsage().maxRSS / 1024, 1),
      },
      worker: { processes: 1, pipeline_concurrency: config.pipelineConcurrency },
      machine: { cores: cpus().length, load_avg_1m_at_start: round(loadavg()[0] ?? 0, 2) },
    }),
  );
} finally {
  worker?.kill("SIGTERM");
  await db.destroy();
  await database.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
