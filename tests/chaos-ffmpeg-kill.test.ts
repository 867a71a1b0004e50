// ffmpeg killed mid-export: once the export reports progress, the ffmpeg the worker process runs
// for it is SIGKILLed. The export job's attempt fails, its retry renders the video, and no partial
// file is ever published: a sampler watching the export's storage prefix throughout sees only
// objects whose bytes are whole, and the export's files are the complete outputs.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { probe } from "../src/media/ffmpeg.ts";
import {
  fetchSigned,
  type PipelineWorkerProcess,
  pipelineContext,
  spawnPipelineWorker,
  startStoryRun,
  WAIT_MS,
  waitUntil,
} from "./support/pipeline.ts";
import { descendantsOf } from "./support/process-tree.ts";
import { checkRunIntegrity } from "./support/run-integrity.ts";

const ctx = await pipelineContext();
const spawned: PipelineWorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop(2000)));
});
const storage = ctx.deps.storage as typeof ctx.deps.storage & { pathOf(key: string): string };

describe("ffmpeg killed mid-export", () => {
  test("the export job retries and completes; storage never holds a partial output", async () => {
    const worker = await spawnPipelineWorker(ctx, { leaseMs: 5000, rescueIntervalMs: 500, concurrency: 2 });
    spawned.push(worker);
    const me = await ctx.register("ffmpeg");
    const { projectId, runId } = await startStoryRun(ctx, me.token);
    const prefix = `projects/${projectId}/exports/`;

    // Every object that ever shows under the export prefix, checked against its bytes on disk.
    const partial: string[] = [];
    const seen = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const o of await storage.list(prefix)) {
          seen.add(o.key);
          const size = Bun.file(storage.pathOf(o.key)).size;
          if (size === o.size) continue;
          // Deleted since it was listed (delete removes the metadata first, then the bytes): no
          // longer listed, so never seen half-written. Bun reports a missing file as 0 bytes.
          if (!(await Bun.file(storage.pathOf(o.key)).exists()) && !(await storage.stat(o.key).catch(() => null)))
            continue;
          partial.push(`${o.key}: ${size} bytes on disk, ${o.size} in its metadata`);
        }
        await Bun.sleep(10);
      }
    })();

    // The positive signal: the export reports progress while an ffmpeg of the worker runs.
    const victim = await waitUntil(
      "the export to report progress with ffmpeg running",
      async () => {
        const ex = await ctx.db
          .selectFrom("exports")
          .select(["status", "progress"])
          .where("project_id", "=", projectId)
          .executeTakeFirst();
        if (ex?.status !== "running" || ex.progress <= 0) return null;
        return descendantsOf(worker.pid).find((p) => p.comm.startsWith("ffmpeg")) ?? null;
      },
      WAIT_MS,
      5,
    );
    process.kill(victim.pid, "SIGKILL");

    const run = await ctx.waitForRun(me.token, runId, ["completed", "failed", "cancelled"]);
    sampling = false;
    await sampler;
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");
    expect(worker.proc.exitCode).toBeNull(); // the worker survived its child's death

    // The export stage's job failed once (the killed render) and completed on its retry.
    const { rows: exportJobs } = await sql<{ state: string; attempt: number; last_error: unknown }>`
      select state, attempt, last_error from job_history
      where payload->>'run_id' = ${runId} and kind = 'pipeline.stage' and payload->>'stage' = 'export'`.execute(ctx.db);
    expect(exportJobs).toHaveLength(1);
    expect(exportJobs[0]!.state).toBe("completed");
    expect(exportJobs[0]!.attempt).toBeGreaterThanOrEqual(2);

    expect(partial).toEqual([]);
    await checkRunIntegrity(ctx, { projectId, runId });
    // Storage holds exactly the export's files, each an asset the export row names.
    const ex = await ctx.db
      .selectFrom("exports")
      .select(["files"])
      .where("id", "=", run.export_id)
      .executeTakeFirstOrThrow();
    const files = ex.files as Array<{ asset_id: string; file_type: string; file_size: number }>;
    const assets = await ctx.db
      .selectFrom("assets")
      .select(["id", "storage_key", "size"])
      .where(
        "id",
        "in",
        files.map((f) => f.asset_id),
      )
      .execute();
    expect(assets).toHaveLength(files.length);
    const stored = (await storage.list(prefix)).map((o) => o.key).sort();
    expect(stored).toEqual(assets.map((a) => a.storage_key).sort());
    // The sampler did watch the published files (it also saw the subtitle format not asked for, made and removed).
    expect(stored.every((k) => seen.has(k))).toBe(true);
    for (const f of files) expect(assets.find((a) => a.id === f.asset_id)!.size).toBe(f.file_size);
    // No temporary file is left behind in the storage.
    expect(readdirSync(join(ctx.config.dataDir, "files", "tmp"))).toEqual([]);
    // The video is whole: it plays, audio and video, for as long as the export says.
    const view = (await ctx.call("GET", `/api/v1/exports/${run.export_id}`, { token: me.token })).json.data;
    const video = view.files.find((f: { file_type: string }) => f.file_type === "video");
    const res = await fetchSigned(ctx, video.download_url);
    expect(res.status).toBe(200);
    const path = join(mkdtempSync(join(tmpdir(), "inkreel-chaos-ffmpeg-")), "v.mp4");
    await Bun.write(path, await res.arrayBuffer());
    const info = await probe(path);
    expect(info.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"]);
    expect(Math.abs(info.durationS - video.duration_s)).toBeLessThan(0.1);
  });
});
