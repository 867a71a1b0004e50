import { afterAll } from "bun:test";
import { sql } from "kysely";
import type { Db } from "../../src/db/client.ts";
import { MAINTENANCE_QUEUE } from "../../src/jobs/maintenance.ts";
import { storageCleanupHandlers } from "../../src/jobs/storage-cleanup.ts";
import { createInspectCache } from "../../src/media/inspect.ts";
import { noSpans } from "../../src/metrics/spans.ts";
import { PIPELINE_QUEUE, pipelineHandlers } from "../../src/pipeline/jobs.ts";
import { DELETE_PREFIX } from "../../src/pipeline/project-removal.ts";
import { createProviderResolver } from "../../src/providers/registry.ts";
import { createWorker, type Worker } from "../../src/queue/index.ts";
import { createTestContext } from "./context.ts";

/**
 * How long the waits below poll before they give up: a deadline for a hang, never a race. On a
 * loaded 2-core machine a whole auto run has taken over 25 s; well inside the test timeout.
 */
export const WAIT_MS = 240_000;

/** The local model of every capability: the chains a test starts from. */
export const LOCAL_MODELS = {
  text: "inkreel-analyser-1",
  image: "inkreel-painter-1",
  video: "inkreel-motion-1",
  speech: "espeak-ng",
  music: "inkreel-synth-1",
} as const;
export type Capability = keyof typeof LOCAL_MODELS;
type Link = { provider: string; model: string };

/** Sets (or, with null, forgets) a capability's stored chain. */
export async function setChain(db: Db, capability: string, chain: Link[] | null) {
  if (!chain) return void (await db.deleteFrom("provider_chains").where("capability", "=", capability).execute());
  await db
    .insertInto("provider_chains")
    .values({ capability, chain: JSON.stringify(chain) })
    .onConflict((oc) => oc.column("capability").doUpdateSet({ chain: JSON.stringify(chain) }))
    .execute();
}

/** Every capability's chain stored: the local model, except the chains given. */
export async function setChains(db: Db, given: Partial<Record<Capability, Link[]>>) {
  for (const c of Object.keys(LOCAL_MODELS) as Capability[])
    await setChain(db, c, given[c] ?? [{ provider: "local", model: LOCAL_MODELS[c] }]);
}

/** A short Chinese story with three speakers: a few shots, so a whole run takes seconds. */
export const SHORT_STORY = `第一章 雨夜
傍晚，林小雨推开茶馆的门，外面下着小雨。
周掌柜笑着问道：“你来了？今天还是老样子？”
林小雨点点头，说：“一壶龙井，谢谢周掌柜。”
这时，一个穿黑衣的男人走了进来。他叫陈默。
陈默低声说：“林小姐，这是你父亲留下的信。”
林小雨愣住了，她问：“你怎么认识我父亲？”`;

/** An app plus an in-process pipeline worker on the same test database. */
export async function pipelineContext(env: Record<string, string> = {}) {
  const ctx = await createTestContext(env);
  const deps = {
    config: ctx.config,
    db: ctx.db,
    storage: ctx.deps.storage,
    providers: createProviderResolver({ config: ctx.config, db: ctx.db, log: ctx.deps.log }),
    log: ctx.deps.log,
    spans: noSpans,
    inspected: createInspectCache(ctx.config.mediaInspectCacheEntries),
  };
  const workers: Worker[] = [];
  const startWorker = async (concurrency = 2) => {
    const w = createWorker({
      connectionString: ctx.url,
      // Like a default worker process, it also removes deleted projects' files.
      handlers: { ...pipelineHandlers(deps), ...storageCleanupHandlers(deps.storage) },
      queues: [PIPELINE_QUEUE, MAINTENANCE_QUEUE],
      concurrency,
      pollIntervalMs: 200,
      log: ctx.deps.log,
    });
    await w.start();
    workers.push(w);
    return w;
  };
  afterAll(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop().catch(() => {})));
  });

  /** Polls the run until it reaches one of `states`. */
  async function waitForRun(token: string, runId: string, states: string[], timeoutMs = WAIT_MS) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const res = await ctx.call("GET", `/api/v1/runs/${runId}`, { token });
      const run = res.json.data;
      if (states.includes(run.status)) return run;
      if (Date.now() > until)
        throw new Error(`run ${runId} is ${run.status} (${JSON.stringify(run.stages)}), not ${states.join("/")}`);
      await Bun.sleep(100);
    }
  }

  async function waitForExport(token: string, exportId: string, timeoutMs = WAIT_MS) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const res = await ctx.call("GET", `/api/v1/exports/${exportId}`, { token });
      const ex = res.json.data;
      if (["completed", "failed"].includes(ex.status)) return ex;
      if (Date.now() > until) throw new Error(`export ${exportId} is ${ex.status}`);
      await Bun.sleep(100);
    }
  }

  /** Waits for the job removing a deleted project's files to complete; throws if it failed for good. */
  async function waitForFilesRemoved(projectId: string, timeoutMs = WAIT_MS) {
    const prefix = `projects/${projectId}/`;
    return waitUntil(
      `the files of project ${projectId} to be removed`,
      async () => {
        const { rows } = await sql<{ state: string; last_error: unknown }>`
          select state, last_error from job_history where kind = ${DELETE_PREFIX} and payload->>'prefix' = ${prefix}`.execute(
          ctx.db,
        );
        const failed = rows.find((r) => r.state !== "completed");
        if (failed) throw new Error(`removing ${prefix} ended ${failed.state}: ${JSON.stringify(failed.last_error)}`);
        return rows.length > 0;
      },
      timeoutMs,
    );
  }

  return { ...ctx, pipelineDeps: deps, startWorker, waitForRun, waitForExport, waitForFilesRemoved };
}

export type PipelineContext = Awaited<ReturnType<typeof pipelineContext>>;

/** Fetches a signed `/files/...` URL through the app, as a client without a token would. */
export function fetchSigned(
  ctx: { app: { handle(r: Request): Promise<Response> } },
  url: string,
  init: RequestInit = {},
): Promise<Response> {
  const u = new URL(url);
  return ctx.app.handle(new Request(`http://localhost${u.pathname}${u.search}`, init));
}

/** The spoken text of an SRT file: its cue lines joined, without indexes and timings. */
export function srtSpoken(srt: string): string {
  return srt
    .split("\n")
    .filter((l) => l.trim() && !/^\d+$/.test(l.trim()) && !l.includes("-->"))
    .map((l) => l.trim())
    .join("");
}

/** Polls `check` until it returns a truthy value; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = WAIT_MS,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

/** Creates a project from `text` and starts an auto run of it (201 and 202, or the test fails). */
export async function startStoryRun(ctx: Pick<PipelineContext, "call">, token: string, text = SHORT_STORY) {
  const created = await ctx.call("POST", "/api/v1/projects", { token, body: { input: { type: "novel", text } } });
  if (created.status !== 201) throw new Error(`create failed: ${created.status} ${JSON.stringify(created.json)}`);
  const started = await ctx.call("POST", `/api/v1/projects/${created.json.data.id}/runs`, {
    token,
    body: { mode: "auto" },
  });
  if (started.status !== 202) throw new Error(`run failed to start: ${started.status} ${JSON.stringify(started.json)}`);
  return {
    project: created.json.data as { id: string; name: string },
    projectId: created.json.data.id as string,
    runId: started.json.data.id as string,
  };
}

/**
 * Waits until the run's clips stage is running and answers how many shots its package has (the
 * run failing first fails the test with its error).
 */
export async function clipsStageShots(ctx: Pick<PipelineContext, "call" | "db">, token: string, runId: string) {
  return waitUntil("the clips stage to start", async () => {
    const run = (await ctx.call("GET", `/api/v1/runs/${runId}`, { token })).json.data;
    if (run.status === "failed") throw new Error(`run failed: ${JSON.stringify(run.error)}`);
    if (run.stages.find((s: { stage: string }) => s.stage === "clips").status !== "running") return null;
    const { package_id } = await ctx.db
      .selectFrom("runs")
      .select("package_id")
      .where("id", "=", runId)
      .executeTakeFirstOrThrow();
    return (await ctx.db.selectFrom("package_shots").select("shot_id").where("package_id", "=", package_id!).execute())
      .length;
  });
}

/** Creates a project from `text` (SHORT_STORY by default) and runs it in auto mode to completion. */
export async function completedProject(ctx: PipelineContext, token: string, text = SHORT_STORY) {
  const { project, runId } = await startStoryRun(ctx, token, text);
  const run = await ctx.waitForRun(token, runId, ["completed", "failed", "cancelled"]);
  if (run.status !== "completed") throw new Error(`run ${run.id} ended ${run.status}: ${JSON.stringify(run.error)}`);
  return { project, run };
}

/** A pipeline worker running as its own process (tests/support/pipeline-worker.ts) on the context's database and data directory. */
export interface PipelineWorkerProcess {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  readonly pid: number;
  /** The queue worker id (the jobs table's locked_by). */
  readonly workerId: string;
  stderr(): string;
  /** Resolves when the process has exited (on its own or killed). */
  readonly exited: Promise<number>;
  kill9(): Promise<number | null>;
  stop(graceMs?: number): Promise<number | null>;
}

const pipelineProcesses = new Set<Bun.Subprocess>();
afterAll(() => {
  for (const p of pipelineProcesses) if (p.exitCode === null && p.signalCode === null) p.kill(9);
});

/** Spawns a pipeline worker process and waits until it is claiming jobs. */
export async function spawnPipelineWorker(
  ctx: { url: string; config: { dataDir: string } },
  options: {
    leaseMs?: number;
    concurrency?: number;
    pollIntervalMs?: number;
    rescueIntervalMs?: number;
    dieAfter?: { kind: string; stage: string };
    env?: Record<string, string>;
  } = {},
): Promise<PipelineWorkerProcess> {
  const proc = Bun.spawn([process.execPath, new URL("./pipeline-worker.ts", import.meta.url).pathname], {
    env: {
      ...process.env,
      PIPELINE_WORKER_DATABASE_URL: ctx.url,
      DATA_DIR: ctx.config.dataDir,
      QUEUE_LEASE_MS: String(options.leaseMs ?? 2000),
      PIPELINE_WORKER_OPTIONS: JSON.stringify({
        concurrency: options.concurrency,
        pollIntervalMs: options.pollIntervalMs,
        rescueIntervalMs: options.rescueIntervalMs,
        dieAfter: options.dieAfter,
      }),
      PIPELINE_WORKER_ENV: JSON.stringify(options.env ?? {}),
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  pipelineProcesses.add(proc);
  let out = "";
  let err = "";
  const drain = async (stream: ReadableStream<Uint8Array>, onText: (s: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>)
      onText(decoder.decode(chunk, { stream: true }));
  };
  const ready = new Promise<string>((resolve, reject) => {
    void drain(proc.stdout, (s) => {
      out += s;
      const m = /READY (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void drain(proc.stderr, (s) => {
      err += s;
    });
    void proc.exited.then((code) =>
      reject(new Error(`pipeline worker ${proc.pid} exited (${code}) before READY:\n${err}`)),
    );
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`pipeline worker ${proc.pid} not ready after 15 s:\n${err}`)), 15_000);
  });
  const workerId = await Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    pid: proc.pid,
    workerId,
    stderr: () => err,
    exited: proc.exited,
    async kill9() {
      proc.kill(9);
      await proc.exited;
      return proc.exitCode;
    },
    async stop(graceMs = 5000) {
      if (alive()) {
        proc.kill("SIGTERM");
        // A deadline, not a wait: the exit is what is awaited.
        const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
        if (!exited) proc.kill(9);
      }
      await proc.exited;
      return proc.exitCode;
    },
  };
}

/**
 * `value` with every signed link reduced to its path and every expiry dropped: two reads of the
 * same state sign their links afresh (another expiry, another signature), so comparisons of
 * states go through this.
 */
export function unsigned<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (key, v) => {
    if (key === "urls_expire_at" || key === "expires_at") return undefined;
    if (typeof v === "string" && /[?&]sig=/.test(v)) return v.split("?")[0];
    return v;
  });
}
