// Per-endpoint limits (seed 000: batch generation 5 an hour, single retries 20 an hour; seed 001:
// task lists 100 and status reads 1,000 an hour), counted per user in Postgres in fixed UTC hours
// and set low here through the same environment variables an operator uses: over a limit is 429
// RATE_LIMITED with Retry-After until the hour ends, and other users are unaffected.
import { expect, test } from "bun:test";
import type { CallResult } from "./support/context.ts";
import { pipelineContext, SHORT_STORY, waitUntil } from "./support/pipeline.ts";

const ctx = await pipelineContext({
  LIMIT_FREE_TASK_POLLS_PER_HOUR: "3",
  LIMIT_FREE_TASK_LISTS_PER_HOUR: "2",
  LIMIT_FREE_RETRIES_PER_HOUR: "2",
  LIMIT_FREE_BATCHES_PER_HOUR: "1",
  LIMIT_VIP_TASK_POLLS_PER_HOUR: "5",
});
await ctx.startWorker(2);

/**
 * The windows are whole hours of Postgres's clock (not injectable): a burst that straddled two
 * would be counted in both. This waits only in the last minute of an hour.
 */
async function awayFromHourEdge() {
  const intoHour = Date.now() % 3_600_000;
  if (intoHour > 3_540_000) await Bun.sleep(3_600_000 - intoHour + 50);
}

/** Generations and tasks in flight end before the test does (a worker stopped mid-job holds the file open). */
const workEnded = () =>
  waitUntil("queued work to end", async () => {
    const live = await ctx.db
      .selectFrom("jobs")
      .select("id")
      .where("kind", "in", ["generate.run", "pipeline.regenerate"])
      .execute();
    return live.length === 0;
  });

function expectLimited(r: CallResult, metric: string) {
  expect(r.status).toBe(429);
  expect(r.json.error).toMatchObject({ code: "RATE_LIMITED", details: { metric } });
  const retryAfter = Number(r.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(3600);
  expect(r.json.error.details.retry_after_s).toBe(retryAfter);
}

test("task status reads and task lists: the tier's hourly count, then 429 with Retry-After; another user and the VIP tier count apart", async () => {
  await awayFromHourEdge();
  const me = await ctx.register("poller");
  const made = await ctx.call("POST", "/api/v1/generate/text-to-image", {
    token: me.token,
    body: { prompt: "雨夜的茶馆", width: 256, height: 256 },
  });
  expect(made.status).toBe(202);
  const path = `/api/v1/generate/tasks/${made.json.data.task_id}`;
  for (let i = 0; i < 3; i++) expect((await ctx.call("GET", path, { token: me.token })).status).toBe(200);
  expectLimited(await ctx.call("GET", path, { token: me.token }), "task_polls_per_hour");
  // Someone else's task is 404 before it counts: probing ids costs the prober nothing they can use.
  const other = await ctx.register("other");
  expect((await ctx.call("GET", path, { token: other.token })).status).toBe(404);

  for (let i = 0; i < 2; i++)
    expect((await ctx.call("GET", "/api/v1/generate/tasks", { token: me.token })).status).toBe(200);
  expectLimited(await ctx.call("GET", "/api/v1/generate/tasks", { token: me.token }), "task_lists_per_hour");
  expect((await ctx.call("GET", "/api/v1/generate/tasks", { token: other.token })).status).toBe(200);

  const vip = await ctx.register("vip");
  await ctx.db.updateTable("users").set({ tier: "vip" }).where("id", "=", vip.user.id).execute();
  const theirs = await ctx.call("POST", "/api/v1/generate/text-to-image", {
    token: vip.token,
    body: { prompt: "灯", width: 256, height: 256 },
  });
  const vipPath = `/api/v1/generate/tasks/${theirs.json.data.task_id}`;
  for (let i = 0; i < 5; i++) expect((await ctx.call("GET", vipPath, { token: vip.token })).status).toBe(200);
  expectLimited(await ctx.call("GET", vipPath, { token: vip.token }), "task_polls_per_hour");
  await workEnded();
});

test("run retries and single regenerations share the retry limit; batches have their own", async () => {
  await awayFromHourEdge();
  const me = await ctx.register("retrier");
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: SHORT_STORY } },
  });
  const projectId = created.json.data.id as string;
  const step = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: me.token,
    body: { mode: "step", to_stage: "storyboard" },
  });
  expect(step.status).toBe(202);
  const run = await ctx.waitForRun(me.token, step.json.data.id, ["paused", "failed"]);
  expect(run.status).toBe("paused");
  const { shot_id } = await ctx.db
    .selectFrom("package_shots")
    .innerJoin("projects", "projects.active_package_id", "package_shots.package_id")
    .select("package_shots.shot_id")
    .where("projects.id", "=", projectId)
    .orderBy("package_shots.position")
    .executeTakeFirstOrThrow();

  // A retry of a run with nothing to retry still counts (it was allowed to act): 409, then a
  // regeneration, then the third of the hour is refused, whichever route it comes through.
  expect((await ctx.call("POST", `/api/v1/runs/${run.id}/retry`, { token: me.token })).status).toBe(409);
  const regen = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/clips/${shot_id}/regenerate-image`, {
    token: me.token,
    body: {},
  });
  expect(regen.status).toBe(202);
  expectLimited(
    await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/clips/${shot_id}/regenerate-image`, {
      token: me.token,
      body: {},
    }),
    "retries_per_hour",
  );
  expectLimited(await ctx.call("POST", `/api/v1/runs/${run.id}/retry`, { token: me.token }), "retries_per_hour");
  // Refused: no task was queued for it.
  const tasks = await ctx.db.selectFrom("generation_tasks").select("id").where("project_id", "=", projectId).execute();
  expect(tasks).toHaveLength(1);

  // One batch an hour: the second is refused before it looks at the clips.
  const first = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/generate-videos`, {
    token: me.token,
    body: { clip_ids: ["no-such-clip"] },
  });
  expect(first.status).toBe(404);
  expectLimited(
    await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/generate-videos`, {
      token: me.token,
      body: { clip_ids: [shot_id] },
    }),
    "batches_per_hour",
  );
  await workEnded();
});
