import { copyFile, mkdir } from "node:fs/promises";
import { basename, dirname, extname, resolve } from "node:path";
import type { Config } from "./config.ts";
import type { StageState } from "./core/stages.ts";
import { createDb } from "./db/client.ts";
import { openDatabase } from "./db/connect.ts";
import type { Logger } from "./log.ts";
import { createProject } from "./modules/projects/service.ts";
import { localFile } from "./pipeline/assets.ts";
import { startRun } from "./pipeline/orchestrate.ts";
import { getRun } from "./pipeline/run-state.ts";
import { createUser } from "./services/users.ts";
import { createStorage } from "./storage/index.ts";
import { startWorker } from "./worker.ts";

const BAR = 24;

/** One line per stage: a bar, the status, and what went wrong. */
function render(stages: StageState[], elapsedS: number): string {
  const lines = stages.map((s) => {
    const filled = Math.round((s.progress / 100) * BAR);
    const mark = { completed: "✔", failed: "✘", running: "…", cancelled: "-", skipped: "·", pending: " " }[s.status];
    const detail = s.error
      ? `  ${s.error.shot_id ? `shot ${s.error.shot_id}: ` : ""}${s.error.message}`
      : s.total
        ? `  ${s.done ?? 0}/${s.total} shots`
        : "";
    return `${mark} ${s.stage.padEnd(10)} [${"█".repeat(filled)}${"░".repeat(BAR - filled)}] ${String(s.progress).padStart(3)}%${detail}`;
  });
  return `${lines.join("\n")}\n  ${elapsedS.toFixed(1)} s`;
}

/**
 * `inkreel demo <story.txt> [--out video.mp4]`: the whole job on this machine. Starts the database
 * (embedded unless DATABASE_URL) and a pipeline worker, runs the auto pipeline for a local demo
 * user, draws the stages as they progress, and copies the finished MP4 to `--out`.
 */
export async function demo(config: Config, log: Logger, storyPath: string, out: string | undefined): Promise<string> {
  const text = (await Bun.file(storyPath).text()).trim();
  if ([...text].length < 50) throw new Error(`${storyPath} holds fewer than 50 characters: not enough story to tell`);
  const database = await openDatabase(config, log);
  const db = createDb(database.url, { max: 4, log });
  const worker = await startWorker(config, database.url, log, { queues: ["pipeline"], concurrency: 1 });
  const started = performance.now();
  try {
    const user =
      (await db.selectFrom("users").selectAll().where("username", "=", "demo").executeTakeFirst()) ??
      (await createUser(db, { username: "demo", email: "demo@inkreel.local", password: crypto.randomUUID() }));
    const name = basename(storyPath, extname(storyPath));
    const project = await createProject(
      db,
      { userId: user.id, currentSpaceId: user.current_space_id },
      { name, input: { type: "novel", text } },
    );
    const run = await startRun(db, { projectId: project.id, userId: user.id, mode: "auto" });
    const tty = process.stdout.isTTY;
    let drawn = 0;
    for (;;) {
      const now = (await getRun(db, run.id))!;
      const frame = render(now.stages, (performance.now() - started) / 1000);
      if (tty) {
        if (drawn) process.stdout.write(`\x1b[${drawn}A\x1b[J`);
        process.stdout.write(`${frame}\n`);
        drawn = frame.split("\n").length;
      }
      if (["completed", "failed", "cancelled"].includes(now.status)) {
        if (!tty) console.log(frame);
        if (now.status !== "completed") throw new Error(`the run ${now.status}: ${JSON.stringify(now.error)}`);
        const ex = await db
          .selectFrom("exports")
          .selectAll()
          .where("id", "=", now.export_id!)
          .executeTakeFirstOrThrow();
        const video = ex.files.find((f) => f.file_type === "video")!;
        const asset = await db
          .selectFrom("assets")
          .selectAll()
          .where("id", "=", video.asset_id)
          .executeTakeFirstOrThrow();
        const { storage } = await createStorage(config);
        const local = await localFile(
          storage,
          { asset_id: asset.id, storage_key: asset.storage_key, mime_type: asset.mime_type, sha256: asset.sha256 },
          resolve(config.dataDir, "cache", "assets"),
        );
        const target = resolve(out ?? resolve(config.dataDir, "videos", `${name}.mp4`));
        await mkdir(dirname(target), { recursive: true });
        await copyFile(local, target);
        return target;
      }
      await Bun.sleep(250);
    }
  } finally {
    await worker.stop();
    await db.destroy();
    await database.stop();
  }
}
