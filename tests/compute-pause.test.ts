// A run that would spend more than it was given pauses instead (seed 003's quota.insufficient)
// and goes on when points arrive. Real Postgres, a real worker, the real OpenAI SDK against a
// local server speaking its wire format: the run is reserved on the local painter's nominal price
// (COMPUTE_LOCAL_USD_PER_IMAGE = $0.01 → 1 point a picture), then the image chain is switched to
// gpt-image-1 ($0.042 a picture) before any stage starts — prices raised under a queued run.
import { afterAll, expect, test } from "bun:test";
import { sql } from "kysely";
import { reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { pipelineContext, SHORT_STORY, setChain, waitUntil } from "./support/pipeline.ts";

const openai = await startFakeOpenAI();
const ctx = await pipelineContext({
  OPENAI_API_KEY: openai.apiKey,
  OPENAI_BASE_URL: openai.url,
  COMPUTE_LOCAL_USD_PER_IMAGE: "0.01",
  LIMIT_FREE_MONTHLY_POINTS: "0",
});
afterAll(() => openai.stop());

test("prices raised under a run: it pauses with quota.insufficient holding what it was given, and a grant resumes it to the end", async () => {
  openai.setFallback(() => reply.image());
  const me = await ctx.register("creator");
  const admin = await ctx.register("admin");
  await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
  const grant = (points: number) =>
    ctx.call("POST", `/api/v1/admin/users/${me.user.id}/grant`, {
      token: admin.token,
      body: { points, reason: "test top-up" },
    });

  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: SHORT_STORY } },
  });
  const projectId = created.json.data.id as string;
  const estimate = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "run", project_id: projectId },
  });
  const needed = estimate.json.data.points as number;
  expect(needed).toBeGreaterThan(0);
  // Exactly what the run is estimated to cost today.
  expect((await grant(needed)).status).toBe(200);
  const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: me.token,
    body: { mode: "auto" },
  });
  expect(started.status).toBe(202);
  expect(started.json.data.compute.points).toBe(needed);
  const runId = started.json.data.id as string;

  await setChain(ctx.db, "image", [{ provider: "openai", model: "gpt-image-1" }]);
  await ctx.startWorker(2);
  const paused = await ctx.waitForRun(me.token, runId, ["paused", "completed", "failed"]);
  expect(paused.status).toBe("paused");
  expect(paused.error).toMatchObject({ code: "QUOTA_INSUFFICIENT", stage: "storyline" });
  // Nothing was asked of the provider it could not pay for, and the hold is kept for when it goes on.
  expect(openai.requests.filter((r) => r.path.startsWith("/v1/images"))).toEqual([]);
  const account = () =>
    ctx.db.selectFrom("compute_accounts").selectAll().where("user_id", "=", me.user.id).executeTakeFirstOrThrow();
  expect(Number((await account()).reserved)).toBe(needed);
  expect(Number((await account()).balance)).toBe(0);
  const events = await ctx.db
    .selectFrom("project_events")
    .select("data")
    .where("project_id", "=", projectId)
    .where("event", "=", "quota_insufficient")
    .execute();
  expect(events).toHaveLength(1);
  expect(events[0]!.data).toMatchObject({ run_id: runId, status: "paused", remaining: 0 });
  expect(events[0]!.data.required).toBeGreaterThan(0);

  // Points arrive: the run goes on by itself, tops its hold up as its stages start, and ends.
  expect((await grant(100_000)).status).toBe(200);
  await waitUntil("the run to go on", async () => {
    const r = await ctx.db.selectFrom("runs").select("status").where("id", "=", runId).executeTakeFirstOrThrow();
    return r.status !== "paused";
  });
  const run = await ctx.waitForRun(me.token, runId, ["completed", "failed", "paused"]);
  expect(run.error).toBeNull();
  expect(run.status).toBe("completed");
  const pictures = openai.requests.filter((r) => r.path.startsWith("/v1/images"));
  expect(pictures.length).toBeGreaterThan(0);

  const charge = await ctx.db
    .selectFrom("compute_charges")
    .selectAll()
    .where("subject_id", "=", runId)
    .executeTakeFirstOrThrow();
  expect(charge.status).toBe("closed");
  expect(Number(charge.estimate_points)).toBeGreaterThan(needed);
  // Every call settled once, against the charge (from its hold, and past it from the balance).
  const usage = await ctx.db
    .selectFrom("provider_usage")
    .select((eb) => eb.fn.count<string>("id").as("n"))
    .where("run_id", "=", runId)
    .where("provider", "=", "openai")
    .executeTakeFirstOrThrow();
  expect(Number(usage.n)).toBe(pictures.length);
  const settled = await ctx.db
    .selectFrom("compute_ledger")
    .select((eb) => eb.fn.sum<string>(sql`points + reserved_change`).as("points"))
    .where("charge_id", "=", charge.id)
    .where("kind", "=", "settle")
    .executeTakeFirstOrThrow();
  expect(-Number(settled.points)).toBeCloseTo(Number(charge.settled), 4);
  expect(Number(charge.settled)).toBeCloseTo(pictures.length * 4.2, 4);
  const after = await account();
  expect(Number(after.reserved)).toBe(0);
  // Never below zero on the way.
  const low = await ctx.db
    .selectFrom("compute_ledger")
    .select((eb) => eb.fn.min<string>("balance_after").as("min"))
    .where("account_id", "=", after.id)
    .executeTakeFirstOrThrow();
  expect(Number(low.min)).toBeGreaterThanOrEqual(0);
});
