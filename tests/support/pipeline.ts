import { afterAll } from "bun:test";
import { pipelineHandlers, PIPELINE_QUEUE } from "../../src/pipeline/jobs.ts";
import { createProviders } from "../../src/providers/registry.ts";
import { createWorker, type Worker } from "../../src/queue/index.ts";
import { createTestContext } from "./context.ts";

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
  const deps = { config: ctx.config, db: ctx.db, storage: ctx.deps.storage, providers: createProviders(ctx.config.providers), log: ctx.deps.log };
  const workers: Worker[] = [];
  const startWorker = async (concurrency = 2) => {
    const w = createWorker({ connectionString: ctx.url, handlers: pipelineHandlers(deps), queues: [PIPELINE_QUEUE], concurrency, pollIntervalMs: 200, log: ctx.deps.log });
    await w.start();
    workers.push(w);
    return w;
  };
  afterAll(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop().catch(() => {})));
  });

  /** Polls the run until it reaches one of `states`. */
  async function waitForRun(token: string, runId: string, states: string[], timeoutMs = 25_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const res = await ctx.call("GET", `/api/v1/runs/${runId}`, { token });
      const run = res.json.data;
      if (states.includes(run.status)) return run;
      if (Date.now() > until) throw new Error(`run ${runId} is ${run.status} (${JSON.stringify(run.stages)}), not ${states.join("/")}`);
      await Bun.sleep(100);
    }
  }

  async function waitForExport(token: string, exportId: string, timeoutMs = 25_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const res = await ctx.call("GET", `/api/v1/exports/${exportId}`, { token });
      const ex = res.json.data;
      if (["completed", "failed"].includes(ex.status)) return ex;
      if (Date.now() > until) throw new Error(`export ${exportId} is ${ex.status}`);
      await Bun.sleep(100);
    }
  }

  return { ...ctx, pipelineDeps: deps, startWorker, waitForRun, waitForExport };
}

export type PipelineContext = Awaited<ReturnType<typeof pipelineContext>>;

/** Fetches a signed `/files/...` URL through the app, as a client without a token would. */
export function fetchSigned(ctx: { app: { handle(r: Request): Promise<Response> } }, url: string, init: RequestInit = {}): Promise<Response> {
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
export async function waitUntil<T>(what: string, check: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

/** Creates a project from `text` (SHORT_STORY by default) and runs it in auto mode to completion. */
export async function completedProject(ctx: PipelineContext, token: string, text = SHORT_STORY) {
  const created = await ctx.call("POST", "/api/v1/projects", { token, body: { input: { type: "novel", text } } });
  if (created.status !== 201) throw new Error(`create failed: ${created.status} ${JSON.stringify(created.json)}`);
  const started = await ctx.call("POST", `/api/v1/projects/${created.json.data.id}/runs`, { token, body: { mode: "auto" } });
  if (started.status !== 202) throw new Error(`run failed to start: ${started.status} ${JSON.stringify(started.json)}`);
  const run = await ctx.waitForRun(token, started.json.data.id, ["completed", "failed", "cancelled"]);
  if (run.status !== "completed") throw new Error(`run ${run.id} ended ${run.status}: ${JSON.stringify(run.error)}`);
  return { project: created.json.data as { id: string; name: string }, run };
}
