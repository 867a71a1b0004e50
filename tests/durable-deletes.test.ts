// Deleting a project (alone, or with its space or its owner's account) is one transaction: its
// rows go, its live runs are cancelled and the removal of its files is enqueued together, so a crash at any moment leaves neither orphan files nor
// rows pointing at missing files. The files are removed later by a maintenance job that waits for
// the project's running jobs, treats what is already gone as deleted and retries storage errors.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { MAINTENANCE_QUEUE } from "../src/jobs/maintenance.ts";
import { storageCleanupHandlers } from "../src/jobs/storage-cleanup.ts";
import { PIPELINE_QUEUE, pipelineHandlers } from "../src/pipeline/jobs.ts";
import { DELETE_PREFIX, deletePrefixJob } from "../src/pipeline/project-removal.ts";
import { createWorker, enqueue, type Worker } from "../src/queue/index.ts";
import type { Storage } from "../src/storage/types.ts";
import { pipelineContext, SHORT_STORY, WAIT_MS, waitUntil } from "./support/pipeline.ts";
import { postUpload, solidPng } from "./support/upload-file.ts";

const ctx = await pipelineContext();
const storage = ctx.deps.storage;

interface Job {
  id: string;
  queue: string;
  state: string;
  attempt: number;
  payload: { prefix: string };
}

/** The file-removal jobs for a project (or another storage prefix), live or finished. */
async function removalJobs(projectId: string, prefix = `projects/${projectId}/`): Promise<Job[]> {
  const { rows } = await sql<Job>`
    select id, queue, state, attempt, payload from jobs where kind = ${DELETE_PREFIX} and payload->>'prefix' = ${prefix}
    union all
    select id, queue, state, attempt, payload from job_history where kind = ${DELETE_PREFIX} and payload->>'prefix' = ${prefix}`.execute(
    ctx.db,
  );
  return rows;
}

async function rowsOf(projectId: string) {
  const count = async (table: "projects" | "runs" | "packages" | "assets" | "exports") =>
    Number(
      (
        await ctx.db
          .selectFrom(table)
          .select(sql<number>`count(*)`.as("n"))
          .where(table === "projects" ? "id" : "project_id", "=", projectId)
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    projects: await count("projects"),
    runs: await count("runs"),
    packages: await count("packages"),
    assets: await count("assets"),
    exports: await count("exports"),
  };
}

const files = async (projectId: string) => (await storage.list(`projects/${projectId}/`)).map((o) => o.key);

/** A project of a fresh user (in `spaceId`, or their own), with a few stored files under its prefix (as a run would leave). */
async function projectWithFiles(name: string, owner?: Awaited<ReturnType<typeof ctx.register>>, spaceId?: string) {
  const me = owner ?? (await ctx.register(name));
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: SHORT_STORY }, ...(spaceId ? { space_id: spaceId } : {}) },
  });
  expect(created.status).toBe(201);
  const projectId: string = created.json.data.id;
  for (const key of ["keyframe/a.png", "voice/b.mp3", "exports/e1/video.mp4"])
    await storage.put(`projects/${projectId}/${key}`, new TextEncoder().encode(key), { contentType: "text/plain" });
  expect(await files(projectId)).toHaveLength(3);
  return { me, projectId };
}

/** A worker for the maintenance queue's file removal, stopped by the returned function. */
async function startRemover(over: Storage = storage): Promise<Worker> {
  const w = createWorker({
    connectionString: ctx.url,
    handlers: storageCleanupHandlers(over),
    queues: [MAINTENANCE_QUEUE],
    concurrency: 2,
    pollIntervalMs: 100,
    log: ctx.deps.log,
  });
  await w.start();
  return w;
}

async function startPipeline(): Promise<Worker> {
  const w = createWorker({
    connectionString: ctx.url,
    handlers: pipelineHandlers(ctx.pipelineDeps),
    queues: [PIPELINE_QUEUE],
    concurrency: 2,
    pollIntervalMs: 100,
    log: ctx.deps.log,
  });
  await w.start();
  return w;
}

const finished = (projectId: string, prefix?: string) =>
  waitUntil(`the removal of project ${projectId}'s files to finish`, async () => {
    const [job, ...more] = await removalJobs(projectId, prefix);
    if (more.length) throw new Error(`project ${projectId} has ${more.length + 1} removal jobs`);
    return job && ["completed", "failed", "cancelled"].includes(job.state) ? job : null;
  });

/** Makes the next statement of `what` on `table` fail for this project, until the returned function runs. */
async function breakTable(table: "projects" | "runs", what: "delete" | "update", projectId: string) {
  const name = `fail_${crypto.randomUUID().replaceAll("-", "")}`;
  const column = table === "projects" ? "id" : "project_id";
  await sql
    .raw(
      `create function ${name}() returns trigger language plpgsql as $$ begin
         raise exception 'storage of ${table} is broken'; end $$;
       create trigger ${name} before ${what} on ${table} for each row
         when (old.${column} = '${projectId}') execute function ${name}();`,
    )
    .execute(ctx.db);
  return () => sql.raw(`drop trigger ${name} on ${table}; drop function ${name}();`).execute(ctx.db);
}

describe("deleting a project", () => {
  test("the rows go at once and the file removal is in the same commit; a worker removes the files later", async () => {
    const { me, projectId } = await projectWithFiles("durable");
    // A neighbour whose id the prefix must not match by accident keeps its files.
    const other = await projectWithFiles("neighbour");

    const del = await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token });
    expect(del.status).toBe(200);
    // No worker serves the maintenance queue yet (as if every worker had just crashed).
    expect(await rowsOf(projectId)).toEqual({ projects: 0, runs: 0, packages: 0, assets: 0, exports: 0 });
    const jobs = await removalJobs(projectId);
    // On the queue the maintenance workers serve.
    expect(jobs.map((j) => [j.queue, j.state, j.payload.prefix])).toEqual([
      [MAINTENANCE_QUEUE, "ready", `projects/${projectId}/`],
    ]);
    expect(await files(projectId)).toHaveLength(3);

    const remover = await startRemover();
    try {
      const job = await finished(projectId);
      expect(job.state).toBe("completed");
    } finally {
      await remover.stop();
    }
    expect(await files(projectId)).toEqual([]);
    expect(await files(other.projectId)).toHaveLength(3);
  });

  test("a storage failure is retried with backoff until the files are gone", async () => {
    const { me, projectId } = await projectWithFiles("flaky");
    let failures = 2;
    const flaky: Storage = {
      ...storage,
      delete: async (key) => {
        if (failures > 0) {
          failures--;
          throw new Error("storage is unavailable");
        }
        return storage.delete(key);
      },
    };
    expect((await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token })).status).toBe(200);
    const remover = await startRemover(flaky);
    try {
      const job = await finished(projectId);
      expect(job.state).toBe("completed");
      // Two failed attempts, then the one that finished the work.
      expect(job.attempt).toBe(3);
    } finally {
      await remover.stop();
    }
    expect(failures).toBe(0);
    expect(await files(projectId)).toEqual([]);
  });

  test("removing files already gone is success (a job delivered twice does its work once)", async () => {
    const { me, projectId } = await projectWithFiles("twice");
    expect((await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token })).status).toBe(200);
    // Something (an earlier delivery cut short) removed one file already.
    await storage.delete(`projects/${projectId}/voice/b.mp3`);
    const remover = await startRemover();
    try {
      expect((await finished(projectId)).state).toBe("completed");
      // The same removal once more, as a redelivery would run it: nothing left is not an error.
      const again = await enqueue(ctx.db, deletePrefixJob(`projects/${projectId}/`));
      const done = await waitUntil("the second removal to finish", async () => {
        const { rows } = await sql<{ state: string; result: { deleted: number } }>`
          select state, result from job_history where id = ${again.id}`.execute(ctx.db);
        return rows[0];
      });
      expect(done).toEqual({ state: "completed", result: { deleted: 0 } });
    } finally {
      await remover.stop();
    }
    expect(await files(projectId)).toEqual([]);
  });

  test("a delete whose transaction rolls back enqueues nothing, cancels nothing and deletes nothing", async () => {
    const { me, projectId } = await projectWithFiles("rollback");
    // No pipeline worker: the run stays queued with its first stage job ready.
    const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    expect(started.status).toBe(202);
    const runId: string = started.json.data.id;
    const runJobs = async () =>
      (
        await sql<{ state: string }>`select state from jobs where payload->>'run_id' = ${runId}`.execute(ctx.db)
      ).rows.map((r) => r.state);
    expect(await runJobs()).toEqual(["ready"]);
    const before = await rowsOf(projectId);

    // The project's own row cannot be deleted: the last statement of the delete fails.
    const repair = await breakTable("projects", "delete", projectId);
    try {
      const del = await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token });
      expect(del.status).toBe(500);
      expect(del.json.success).toBe(false);
    } finally {
      await repair();
    }
    expect(await rowsOf(projectId)).toEqual(before);
    expect(await removalJobs(projectId)).toEqual([]);
    expect(await runJobs()).toEqual(["ready"]);
    expect((await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token })).json.data.status).toBe("queued");
    expect(await files(projectId)).toHaveLength(3);
  });

  test("a run that cannot be cancelled fails the delete instead of being ignored", async () => {
    const { me, projectId } = await projectWithFiles("uncancellable");
    const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    const runId: string = started.json.data.id;
    const before = await rowsOf(projectId);

    const repair = await breakTable("runs", "update", projectId);
    try {
      const del = await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token });
      expect(del.status).toBe(500);
      expect(del.json.error.code).toBe("INTERNAL_ERROR");
    } finally {
      await repair();
    }
    expect(await rowsOf(projectId)).toEqual(before);
    expect(await removalJobs(projectId)).toEqual([]);
    expect((await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token })).json.data.status).toBe("queued");
    expect(await files(projectId)).toHaveLength(3);

    // Once the run can be cancelled, the same delete goes through.
    expect((await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token })).status).toBe(200);
    expect(await rowsOf(projectId)).toEqual({ projects: 0, runs: 0, packages: 0, assets: 0, exports: 0 });
    expect(await removalJobs(projectId)).toHaveLength(1);
    expect(
      (await sql`select 1 from jobs where payload->>'run_id' = ${runId}`.execute(ctx.db)).rows,
      "the run's jobs are cancelled with the delete",
    ).toHaveLength(0);
  });

  test("mid-run: the run's jobs are cancelled in the delete, and the files go only after they stopped", async () => {
    const me = await ctx.register("midrun");
    const pipeline = await startPipeline();
    const remover = await startRemover();
    try {
      const created = await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text: SHORT_STORY } },
      });
      const projectId: string = created.json.data.id;
      const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
        token: me.token,
        body: { mode: "auto" },
      });
      const runId: string = started.json.data.id;
      await waitUntil(
        "the keyframes stage to run",
        async () => {
          const run = (await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token })).json.data;
          if (["completed", "failed", "cancelled"].includes(run.status))
            throw new Error(`run ended ${run.status} before keyframes ran`);
          return run.stages.find((s: { stage: string }) => s.stage === "keyframes").status === "running";
        },
        WAIT_MS,
        20,
      );
      expect((await files(projectId)).length, "what the run made so far").toBeGreaterThan(0);
      expect((await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token })).status).toBe(200);

      // In the same commit: nothing of the run is left to start, and what runs is being aborted.
      const live = await sql<{ state: string; cancel_requested: boolean }>`
        select state, cancel_requested_at is not null as cancel_requested from jobs where payload->>'run_id' = ${runId}`.execute(
        ctx.db,
      );
      for (const j of live.rows) expect(j).toEqual({ state: "running", cancel_requested: true });

      const job = await finished(projectId);
      expect(job.state).toBe("completed");
      // The removal started only after every job of the run had ended.
      const order = await sql<{ removal_started: Date; last_run_job: Date | null; live: number }>`
        select (select started_at from job_history where id = ${job.id}) as removal_started,
               (select max(finished_at) from job_history where payload->>'run_id' = ${runId}) as last_run_job,
               (select count(*)::int from jobs where payload->>'run_id' = ${runId}) as live`.execute(ctx.db);
      const o = order.rows[0]!;
      expect(o.live).toBe(0);
      expect(o.last_run_job).not.toBeNull();
      expect(o.removal_started.getTime()).toBeGreaterThanOrEqual(o.last_run_job!.getTime());
      expect(await files(projectId)).toEqual([]);
      expect(await rowsOf(projectId)).toEqual({ projects: 0, runs: 0, packages: 0, assets: 0, exports: 0 });
    } finally {
      await Promise.all([pipeline.stop(), remover.stop()]);
    }
  });
});

describe("deleting what holds projects", () => {
  test("deleting a team space removes its projects like deleting each one, in the same commit", async () => {
    const lead = await ctx.register("lead");
    const space = await ctx.call("POST", "/api/v1/spaces", { token: lead.token, body: { name: "要解散的工作室" } });
    expect(space.status).toBe(201);
    const spaceId: string = space.json.data.id;
    const { projectId } = await projectWithFiles("", lead, spaceId);
    const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
      token: lead.token,
      body: { mode: "auto" },
    });
    const runId: string = started.json.data.id;

    expect((await ctx.call("DELETE", `/api/v1/spaces/${spaceId}`, { token: lead.token })).status).toBe(200);
    expect(await rowsOf(projectId)).toEqual({ projects: 0, runs: 0, packages: 0, assets: 0, exports: 0 });
    expect((await sql`select 1 from jobs where payload->>'run_id' = ${runId}`.execute(ctx.db)).rows).toHaveLength(0);
    expect((await removalJobs(projectId)).map((j) => j.state)).toEqual(["ready"]);
    const remover = await startRemover();
    try {
      expect((await finished(projectId)).state).toBe("completed");
    } finally {
      await remover.stop();
    }
    expect(await files(projectId)).toEqual([]);
  });

  test("deleting a team space removes the files of its own uploads, queued in the same commit", async () => {
    const lead = await ctx.register("uplead");
    const space = await ctx.call("POST", "/api/v1/spaces", { token: lead.token, body: { name: "素材工作室" } });
    const spaceId: string = space.json.data.id;
    // Uploads go to the caller's current space.
    const switched = await ctx.call("POST", "/api/v1/spaces/switch", {
      token: lead.token,
      body: { space_id: spaceId },
    });
    expect(switched.status).toBe(200);
    const sent = await postUpload(ctx.app, lead.token, {
      name: "poster.png",
      type: "image/png",
      bytes: await solidPng("red"),
    });
    expect(sent.status).toBe(201);
    const uploadId: string = (await sent.json()).data.id;
    const { storage_key: key } = await ctx.db
      .selectFrom("assets")
      .select("storage_key")
      .where("id", "=", uploadId)
      .where("space_id", "=", spaceId)
      .executeTakeFirstOrThrow();
    const prefix = `spaces/${spaceId}/`;
    expect((await storage.list(prefix)).map((o) => o.key)).toContain(key);

    expect((await ctx.call("DELETE", `/api/v1/spaces/${spaceId}`, { token: lead.token })).status).toBe(200);
    expect(await ctx.db.selectFrom("assets").select("id").where("id", "=", uploadId).execute()).toEqual([]);
    expect((await removalJobs("", prefix)).map((j) => j.state)).toEqual(["ready"]);
    const remover = await startRemover();
    try {
      expect((await finished("", prefix)).state).toBe("completed");
    } finally {
      await remover.stop();
    }
    expect(await storage.list(prefix)).toEqual([]);
  });

  test("the last member leaving a team space removes its projects the same way", async () => {
    const lead = await ctx.register("alone");
    const space = await ctx.call("POST", "/api/v1/spaces", { token: lead.token, body: { name: "一个人的工作室" } });
    const spaceId: string = space.json.data.id;
    const { projectId } = await projectWithFiles("", lead, spaceId);

    expect((await ctx.call("POST", `/api/v1/spaces/${spaceId}/leave`, { token: lead.token })).status).toBe(200);
    expect(await ctx.db.selectFrom("spaces").select("id").where("id", "=", spaceId).execute()).toEqual([]);
    expect(await rowsOf(projectId)).toEqual({ projects: 0, runs: 0, packages: 0, assets: 0, exports: 0 });
    expect((await removalJobs(projectId)).map((j) => j.state)).toEqual(["ready"]);
    const remover = await startRemover();
    try {
      expect((await finished(projectId)).state).toBe("completed");
    } finally {
      await remover.stop();
    }
    expect(await files(projectId)).toEqual([]);
  });

  test("deleting a user removes the projects of their personal space the same way", async () => {
    const { me, projectId } = await projectWithFiles("leaving");
    const admin = await ctx.register("admin");
    await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();

    expect((await ctx.call("DELETE", `/api/v1/users/${me.user.id}`, { token: admin.token })).status).toBe(200);
    expect(await rowsOf(projectId)).toEqual({ projects: 0, runs: 0, packages: 0, assets: 0, exports: 0 });
    expect((await removalJobs(projectId)).map((j) => j.state)).toEqual(["ready"]);
    const remover = await startRemover();
    try {
      expect((await finished(projectId)).state).toBe("completed");
    } finally {
      await remover.stop();
    }
    expect(await files(projectId)).toEqual([]);
  });
});
