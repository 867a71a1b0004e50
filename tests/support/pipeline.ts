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
