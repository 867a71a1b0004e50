// A provider that hangs forever: the fake OpenAI accepts the analysis requests and never answers.
// PROVIDER_REQUEST_TIMEOUT_MS fails each request, the SDK's retries time out too, the chain moves
// on to its next link (the local analyser), and the run completes. The jobs' leases end with their
// attempts: nothing is left running, and no job needed a second attempt.
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { loadConfig } from "../src/config.ts";
import { reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { type PipelineWorkerProcess, pipelineContext, spawnPipelineWorker, startStoryRun } from "./support/pipeline.ts";

const TIMEOUT_MS = 300;
const openai = await startFakeOpenAI();
const ENV = {
  TEXT_PROVIDER: "openai",
  OPENAI_API_KEY: openai.apiKey,
  OPENAI_BASE_URL: openai.url,
  PROVIDER_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
};
const ctx = await pipelineContext(ENV);
// Answers nothing until the file's tests end.
let release: () => void = () => {};
const never = new Promise<void>((resolve) => {
  release = resolve;
});
const spawned: PipelineWorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop(2000)));
  release();
  openai.stop();
});

describe("a provider that never answers", () => {
  test("each request times out, the chain's next link answers, and the run completes with its leases released", async () => {
    await ctx.db
      .insertInto("provider_chains")
      .values({
        capability: "text",
        chain: JSON.stringify([
          { provider: "openai", model: "gpt-4o-mini" },
          { provider: "local", model: "inkreel-analyser-1" },
        ]),
      })
      .execute();
    openai.setFallback(async (req) => {
      await never;
      return reply.error(500, `released: ${req.path}`);
    });
    spawned.push(await spawnPipelineWorker(ctx, { env: ENV, leaseMs: 5000 }));
    const { token } = await ctx.register("hang");
    const { runId } = await startStoryRun(ctx, token);
    const run = await ctx.waitForRun(token, runId, ["completed", "failed", "cancelled"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");

    // Every analysis call went to the hanging provider first: three tries (the SDK's two retries).
    const asked = openai.requests.filter((r) => r.path === "/v1/chat/completions");
    const schemas = asked.map((r) => r.body.response_format.json_schema.name);
    expect(new Set(schemas)).toEqual(
      new Set(["inkreel_characters", "inkreel_scenes", "inkreel_storyboard", "inkreel_storyline"]),
    );
    expect(asked.length).toBe(4 * 3);

    // The ledger: each hung call failed over (a timeout), and the local analyser answered each.
    const usage = (await ctx.call("GET", `/api/v1/runs/${runId}/usage`, { token })).json.data;
    const text = usage.by_model.filter((m: { capability: string }) => m.capability === "text");
    expect(text.find((m: { provider: string }) => m.provider === "openai")).toMatchObject({ calls: 4, failed: 4 });
    expect(text.find((m: { provider: string }) => m.provider === "local")).toMatchObject({ calls: 4, failed: 0 });
    expect(usage.failovers).toHaveLength(4);
    for (const f of usage.failovers) {
      expect(f).toMatchObject({
        capability: "text",
        from: { provider: "openai", model: "gpt-4o-mini" },
      });
      expect(f.error).toContain("timed out");
    }

    // The leases: no job of the run is left running (or at all), each finished on its first attempt.
    const live = await sql<{ n: number }>`
      select count(*)::int as n from jobs where payload->>'run_id' = ${runId}`.execute(ctx.db);
    expect(live.rows[0]!.n).toBe(0);
    const history = await sql<{ state: string; attempt: number; n: number }>`
      select state, attempt, count(*)::int as n from job_history where payload->>'run_id' = ${runId}
      group by 1, 2`.execute(ctx.db);
    expect(history.rows.map((r) => [r.state, r.attempt])).toEqual([["completed", 1]]);
  });

  test("PROVIDER_REQUEST_TIMEOUT_MS is validated; unset, each SDK keeps its own default", () => {
    expect(loadConfig({ PROVIDER_REQUEST_TIMEOUT_MS: "1500" }).providerRequestTimeoutMs).toBe(1500);
    expect(loadConfig({}).providerRequestTimeoutMs).toBeNull();
    for (const bad of ["0", "99", "3600001", "soon", "1.5"])
      expect(() => loadConfig({ PROVIDER_REQUEST_TIMEOUT_MS: bad })).toThrow("PROVIDER_REQUEST_TIMEOUT_MS");
  });
});
