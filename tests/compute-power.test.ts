// Compute power on a real Postgres and a real worker: the local painter metered at a nominal
// price (COMPUTE_LOCAL_USD_PER_IMAGE = $0.01 → 1 point a picture), a free tier of 3 points a
// month. A paid request reserves its estimate in the transaction that queues it, every call
// settles once, the end releases the rest; over the balance is 402 and nothing is queued.
import { expect, test } from "bun:test";
import { sql } from "kysely";
import { regenerateJob } from "../src/pipeline/jobs.ts";
import { queueTasks } from "../src/pipeline/tasks.ts";
import { expireCharges } from "../src/providers/compute-ledger.ts";
import { cancelJob } from "../src/queue/admin.ts";
import { tasksPayer } from "../src/services/compute.ts";
import { THREE_CHAPTERS } from "./fixtures/season.ts";
import { completedProject, pipelineContext, waitUntil } from "./support/pipeline.ts";

const ctx = await pipelineContext({
  COMPUTE_LOCAL_USD_PER_IMAGE: "0.01",
  LIMIT_FREE_MONTHLY_POINTS: "3",
  LIMIT_VIP_MONTHLY_POINTS: "100000",
  LIMIT_FREE_IMAGES_PER_DAY: "1000",
  LIMIT_FREE_API_CALLS_PER_HOUR: "1000",
});
await ctx.startWorker(2);

/** The user's account as stored (asking GET /me/compute-power first makes it, with the month's grant). */
const account = async (me: { token: string; user: { id: string } }) => {
  expect((await ctx.call("GET", "/api/v1/me/compute-power", { token: me.token })).status).toBe(200);
  const a = await ctx.db
    .selectFrom("compute_accounts")
    .selectAll()
    .where("user_id", "=", me.user.id)
    .executeTakeFirstOrThrow();
  return { balance: Number(a.balance), reserved: Number(a.reserved), used: Number(a.used) };
};

const vip = async () => {
  const me = await ctx.register("vip");
  await ctx.db.updateTable("users").set({ tier: "vip" }).where("id", "=", me.user.id).execute();
  return me;
};

const picture = (token: string, num_images = 1) =>
  ctx.call("POST", "/api/v1/generate/text-to-image", {
    token,
    body: { prompt: "雨夜的茶馆，窗边一盏灯", width: 256, height: 256, num_images },
  });

test("20 concurrent paid requests against a balance for 3: exactly 3 accepted, 17 × 402, the balance never below zero", async () => {
  // Two requests of the same user at once lock the same account row; the worker is kept out by
  // asking before it could settle anything (the reservations are what is counted).
  const me = await ctx.register("crowd");
  expect((await ctx.call("GET", "/api/v1/me/compute-power", { token: me.token })).json.data).toMatchObject({
    remaining: 3,
    reserved: 0,
    tier: "free",
  });
  const answers = await Promise.all(Array.from({ length: 20 }, () => picture(me.token)));
  const accepted = answers.filter((a) => a.status === 202);
  const refused = answers.filter((a) => a.status === 402);
  expect([accepted.length, refused.length]).toEqual([3, 17]);
  for (const r of refused) {
    expect(r.json.error.code).toBe("QUOTA_EXCEEDED");
    expect(r.json.error.details).toEqual({ needed: 1, balance: 0 });
  }
  for (const a of accepted) expect(a.json.data.compute).toMatchObject({ points: 1, usd: 0.01 });
  // Refused requests left nothing: one generation and one reservation per accepted request.
  const generations = await ctx.db.selectFrom("generations").select("id").where("user_id", "=", me.user.id).execute();
  expect(generations).toHaveLength(3);
  const entries = await ctx.db
    .selectFrom("compute_ledger")
    .innerJoin("compute_accounts", "compute_accounts.id", "compute_ledger.account_id")
    .select(["kind", "balance_after"])
    .where("compute_accounts.user_id", "=", me.user.id)
    .orderBy("compute_ledger.id")
    .execute();
  expect(entries.filter((e) => e.kind === "reserve")).toHaveLength(3);
  expect(entries.every((e) => Number(e.balance_after) >= 0)).toBe(true);
  // Each generation then settles its picture and closes its charge: 3 used, nothing held.
  for (const g of generations)
    await waitUntil(`generation ${g.id} to end`, async () => {
      const row = await ctx.db
        .selectFrom("generations")
        .select("status")
        .where("id", "=", g.id)
        .executeTakeFirstOrThrow();
      return row.status === "completed" ? row : null;
    });
  expect(await account(me)).toEqual({ balance: 0, reserved: 0, used: 3 });
});

test("a generation settles each call once against its charge and releases the rest when it ends", async () => {
  const me = await vip();
  const estimate = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "generate", type: "text_to_image", num_images: 2 },
  });
  expect(estimate.status).toBe(200);
  expect(estimate.json.data).toMatchObject({ points: 2, usd: 0.02 });
  expect(estimate.json.data.breakdown).toEqual([
    expect.objectContaining({ capability: "image", provider: "local", units: { images: 2 }, points: 2 }),
  ]);
  const before = await account(me);
  const r = await picture(me.token, 2);
  expect(r.status).toBe(202);
  expect(r.json.data.compute.points).toBe(estimate.json.data.points);
  const chargeId = r.json.data.compute.charge_id as string;
  await waitUntil("the charge to close", async () => {
    const c = await ctx.db
      .selectFrom("compute_charges")
      .selectAll()
      .where("id", "=", chargeId)
      .executeTakeFirstOrThrow();
    return c.status === "closed" ? c : null;
  });
  const charge = await ctx.db
    .selectFrom("compute_charges")
    .selectAll()
    .where("id", "=", chargeId)
    .executeTakeFirstOrThrow();
  expect([Number(charge.settled), Number(charge.held)]).toEqual([2, 0]);
  const ledger = await ctx.db
    .selectFrom("compute_ledger")
    .select(["kind", "points", "reserved_change", "usage_id"])
    .where("charge_id", "=", chargeId)
    .orderBy("id")
    .execute();
  expect(ledger.map((e) => e.kind)).toEqual(["reserve", "settle", "settle", "release"]);
  // One settlement per provider_usage row, each of them a picture of the local painter.
  const usage = await ctx.db
    .selectFrom("provider_usage")
    .select(["id", "images"])
    .where(
      "id",
      "in",
      ledger.filter((e) => e.usage_id).map((e) => e.usage_id!),
    )
    .execute();
  expect(usage.map((u) => u.images)).toEqual([1, 1]);
  expect(await account(me)).toEqual({ balance: before.balance - 2, reserved: 0, used: before.used + 2 });
  // The ledger page shows the same entries, newest first.
  const page = await ctx.call("GET", "/api/v1/me/ledger?page_size=4", { token: me.token });
  expect(page.status).toBe(200);
  expect(page.json.data.items.map((e: { kind: string }) => e.kind)).toEqual(["release", "settle", "settle", "reserve"]);
});

test("a local run: the estimate is what the run reserves and, per picture, what it settles; the rest is released", async () => {
  const me = await vip();
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: THREE_CHAPTERS } },
  });
  const projectId = created.json.data.id as string;
  // Analysed up to the storyboard first: the rest is then priced on the real shots.
  const step = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: me.token,
    body: { mode: "step", to_stage: "storyboard" },
  });
  expect(step.status).toBe(202);
  expect(step.json.data.compute.points).toBeGreaterThan(0);
  await ctx.waitForRun(me.token, step.json.data.id, ["paused"]);
  // A paused run holds nothing: what it did not use went back (it reserves again if it goes on).
  const paused = await ctx.db
    .selectFrom("compute_ledger")
    .select("kind")
    .where("charge_id", "=", step.json.data.compute.charge_id)
    .where("kind", "in", ["release", "refund"])
    .execute();
  expect(paused).toEqual([{ kind: "release" }]);
  expect((await account(me)).reserved).toBe(0);
  const estimate = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "run", project_id: projectId },
  });
  expect(estimate.status).toBe(200);
  const shots = await ctx.db
    .selectFrom("package_shots")
    .innerJoin("projects", "projects.active_package_id", "package_shots.package_id")
    .select("package_shots.shot_id")
    .where("projects.id", "=", projectId)
    .execute();
  const keyframes = estimate.json.data.breakdown.find((l: { stage: string }) => l.stage === "keyframes");
  expect(keyframes).toMatchObject({ provider: "local", units: { images: shots.length }, points: shots.length });
  expect(estimate.json.data.breakdown.map((l: { stage: string }) => l.stage)).not.toContain("storyline");

  const rest = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: me.token,
    body: { mode: "auto" },
  });
  expect(rest.status).toBe(202);
  expect(rest.json.data.compute).toMatchObject({
    points: estimate.json.data.points,
    breakdown: estimate.json.data.breakdown,
  });
  const run = await ctx.waitForRun(me.token, rest.json.data.id, ["completed"]);
  const charge = await ctx.db
    .selectFrom("compute_charges")
    .selectAll()
    .where("subject_id", "=", run.id)
    .executeTakeFirstOrThrow();
  expect(charge.status).toBe("closed");
  // Prices unchanged: the run settled exactly what it was estimated.
  expect(Number(charge.settled)).toBe(Number(charge.estimate_points));
  const pictures = await ctx.db
    .selectFrom("provider_usage")
    .select((eb) => eb.fn.sum<string>("images").as("n"))
    .where("run_id", "=", run.id)
    .executeTakeFirstOrThrow();
  expect(Number(charge.settled)).toBe(Number(pictures.n));
  expect((await account(me)).reserved).toBe(0);
  // A VIP's work queues ahead (LIMIT_VIP_QUEUE_PRIORITY, -10 by default): every job of the run, stage, shot and join.
  const jobs = await sql<{ kind: string; priority: number }>`
    select kind, priority from job_history where payload->>'run_id' = ${run.id}
    union all select kind, priority from jobs where payload->>'run_id' = ${run.id}`.execute(ctx.db);
  expect(new Set(jobs.rows.map((j) => j.kind))).toEqual(new Set(["pipeline.stage", "pipeline.shot", "pipeline.join"]));
  expect(new Set(jobs.rows.map((j) => j.priority))).toEqual(new Set([-10]));
});

test("over the balance a run is 402 with what it needs, and no run is queued", async () => {
  const me = await ctx.register("poor");
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: me.token,
    body: { input: { type: "novel", text: THREE_CHAPTERS } },
  });
  const projectId = created.json.data.id as string;
  const estimate = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "run", project_id: projectId },
  });
  expect(estimate.json.data.points).toBeGreaterThan(3);
  const refused = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: me.token,
    body: { mode: "auto" },
  });
  expect(refused.status).toBe(402);
  expect(refused.json.error).toMatchObject({
    code: "QUOTA_EXCEEDED",
    details: { needed: estimate.json.data.points, balance: 3 },
  });
  expect(await ctx.db.selectFrom("runs").select("id").where("project_id", "=", projectId).execute()).toEqual([]);
  expect(await account(me)).toEqual({ balance: 3, reserved: 0, used: 0 });
  const free = await ctx.call("POST", "/api/v1/generate/text-to-image", {
    token: me.token,
    body: { prompt: "灯", width: 256, height: 256 },
  });
  expect(free.status).toBe(202);
  const queued = await ctx.db
    .selectFrom("generations")
    .innerJoin("job_history", "job_history.id", "generations.job_id")
    .select("job_history.priority")
    .where("generations.id", "=", free.json.data.task_id)
    .union(
      ctx.db
        .selectFrom("generations")
        .innerJoin("jobs", "jobs.id", "generations.job_id")
        .select("jobs.priority")
        .where("generations.id", "=", free.json.data.task_id),
    )
    .execute();
  expect(queued).toEqual([{ priority: 0 }]);
  // An ADMIN is never refused (metered all the same).
  await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", me.user.id).execute();
  const admitted = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: me.token,
    body: { mode: "step", to_stage: "storyline" },
  });
  expect(admitted.status).toBe(202);
  await ctx.waitForRun(me.token, admitted.json.data.id, ["paused"]);
});

test("estimates and ledgers are the caller's own: another's project or space is 404, bad bodies 400", async () => {
  const owner = await ctx.register("owner");
  const other = await ctx.register("other");
  const created = await ctx.call("POST", "/api/v1/projects", {
    token: owner.token,
    body: { input: { type: "novel", text: THREE_CHAPTERS } },
  });
  const theirs = await ctx.call("POST", "/api/v1/estimates", {
    token: other.token,
    body: { kind: "run", project_id: created.json.data.id },
  });
  expect(theirs.status).toBe(404);
  const team = await ctx.call("POST", "/api/v1/spaces", { token: owner.token, body: { name: "Studio" } });
  expect(team.status).toBe(201);
  const spaceId = team.json.data.id as string;
  expect((await ctx.call("GET", `/api/v1/spaces/${spaceId}/ledger`, { token: other.token })).status).toBe(404);
  expect((await ctx.call("GET", `/api/v1/spaces/${spaceId}/compute-power`, { token: other.token })).status).toBe(404);
  const mine = await ctx.call("GET", `/api/v1/spaces/${spaceId}/compute-power`, { token: owner.token });
  expect(mine.status).toBe(200);
  // A team space pays for its own work; it gets the month's grant of its owner's tier.
  expect(mine.json.data).toMatchObject({ remaining: 3, gifted: 3, reserved: 0, tier: null });
  // Work in the space draws from the space's account, not its member's.
  const inSpace = await ctx.call("POST", "/api/v1/projects", {
    token: owner.token,
    body: { space_id: spaceId, input: { type: "novel", text: THREE_CHAPTERS } },
  });
  expect(inSpace.status).toBe(201);
  const spaceRun = await ctx.call("POST", `/api/v1/projects/${inSpace.json.data.id}/runs`, {
    token: owner.token,
    body: { mode: "step", to_stage: "characters" },
  });
  expect(spaceRun.status).toBe(202);
  const paidBy = await ctx.db
    .selectFrom("compute_charges")
    .innerJoin("compute_accounts", "compute_accounts.id", "compute_charges.account_id")
    .select(["compute_accounts.space_id", "compute_accounts.user_id"])
    .where("compute_charges.id", "=", spaceRun.json.data.compute.charge_id)
    .executeTakeFirstOrThrow();
  expect(paidBy).toEqual({ space_id: spaceId, user_id: null });
  await ctx.waitForRun(owner.token, spaceRun.json.data.id, ["paused"]);
  for (const body of [
    { kind: "run" },
    { kind: "run", project_id: "not-a-uuid" },
    { kind: "generate", type: "text_to_sound" },
    { kind: "generate", type: "text_to_image", num_images: 9 },
    { kind: "bill" },
    { kind: "regenerate", project_id: created.json.data.id, what: "sound" },
    { kind: "regenerate", project_id: created.json.data.id, what: "music", count: 9 },
    { kind: "batch_video", project_id: created.json.data.id, clip_ids: [] },
    { kind: "export", project_id: created.json.data.id, cover: { cover_type: "auto" } },
  ]) {
    const bad = await ctx.call("POST", "/api/v1/estimates", { token: owner.token, body });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("VALIDATION_ERROR");
  }
  expect((await ctx.call("GET", "/api/v1/me/compute-power")).status).toBe(401);
});

/** A generation task as GET /tasks/:id shows it, once it has ended. */
const taskEnded = (token: string, id: string) =>
  waitUntil(`task ${id} to end`, async () => {
    const t = (await ctx.call("GET", `/api/v1/tasks/${id}`, { token })).json.data;
    return ["completed", "failed", "cancelled"].includes(t.status) ? t : null;
  });

const chargeOf = (subjectId: string) =>
  ctx.db.selectFrom("compute_charges").selectAll().where("subject_id", "=", subjectId).executeTakeFirstOrThrow();

test("a regeneration, a batch of clip videos and a standalone export each reserve their estimate, settle against it and release the rest", async () => {
  const me = await vip();
  const { project } = await completedProject(ctx, me.token);
  const shots = await ctx.db
    .selectFrom("package_shots")
    .innerJoin("projects", "projects.active_package_id", "package_shots.package_id")
    .select("package_shots.shot_id")
    .where("projects.id", "=", project.id)
    .orderBy("package_shots.position")
    .execute();
  const clipId = shots[0]!.shot_id;

  // A new keyframe: one picture, reserved on the task and settled against it.
  const estimate = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "regenerate", project_id: project.id, what: "keyframe", target: clipId },
  });
  expect(estimate.status).toBe(200);
  expect(estimate.json.data).toMatchObject({ points: 1, usd: 0.01 });
  const unnamed = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "regenerate", project_id: project.id, what: "keyframe" },
  });
  expect(unnamed.status).toBe(400);
  expect(unnamed.json.error.details.fields).toEqual([{ path: "/target", message: expect.any(String) }]);
  const unknown = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "batch_video", project_id: project.id, clip_ids: ["no-such-clip"] },
  });
  expect(unknown.status).toBe(404);
  const regen = await ctx.call("POST", `/api/v1/projects/${project.id}/timeline/clips/${clipId}/regenerate-image`, {
    token: me.token,
    body: {},
  });
  expect(regen.status).toBe(202);
  expect(regen.json.data.compute).toMatchObject({ points: 1, breakdown: estimate.json.data.breakdown });
  const taskId = regen.json.data.task_ids[0] as string;
  expect((await taskEnded(me.token, taskId)).status).toBe("completed");
  const charge = await chargeOf(taskId);
  expect(charge).toMatchObject({ kind: "regenerate", status: "closed", id: regen.json.data.compute.charge_id });
  expect(Number(charge.settled)).toBe(1);
  expect((await account(me)).reserved).toBe(0);

  // A batch: one charge for the batch task, none for its per-clip children.
  const batchEstimate = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "batch_video", project_id: project.id, clip_ids: [clipId, shots[1]!.shot_id] },
  });
  expect(batchEstimate.status).toBe(200);
  expect(batchEstimate.json.data.breakdown).toHaveLength(2);
  const batch = await ctx.call("POST", `/api/v1/projects/${project.id}/timeline/generate-videos`, {
    token: me.token,
    body: { clip_ids: [clipId, shots[1]!.shot_id] },
  });
  expect(batch.status).toBe(202);
  expect(batch.json.data.compute).toMatchObject({
    points: batchEstimate.json.data.points,
    breakdown: batchEstimate.json.data.breakdown,
  });
  const ended = await taskEnded(me.token, batch.json.data.task_id);
  expect(ended.status).toBe("completed");
  expect(await chargeOf(batch.json.data.task_id)).toMatchObject({ kind: "batch_video", status: "closed" });
  const childCharges = await ctx.db
    .selectFrom("compute_charges")
    .select("id")
    .where("subject_id", "in", batch.json.data.task_ids)
    .execute();
  expect(childCharges).toEqual([]);

  // A standalone export: its automatic cover's poster at most (the run painted it already, so
  // it may be found again and cost nothing); what it does not spend goes back.
  const exportEstimate = await ctx.call("POST", "/api/v1/estimates", {
    token: me.token,
    body: { kind: "export", project_id: project.id },
  });
  expect(exportEstimate.status).toBe(200);
  const poster = exportEstimate.json.data.breakdown.find((l: { capability: string }) => l.capability === "image");
  expect(poster).toMatchObject({ stage: "export", units: { images: 1 } });
  const started = await ctx.call("POST", `/api/v1/projects/${project.id}/exports`, { token: me.token, body: {} });
  expect(started.status).toBe(202);
  expect(started.json.data.compute).toMatchObject({ points: exportEstimate.json.data.points });
  const done = await ctx.waitForExport(me.token, started.json.data.id);
  expect(done.status).toBe("completed");
  const exportCharge = await chargeOf(started.json.data.id);
  expect(exportCharge).toMatchObject({ kind: "export", status: "closed" });
  expect(Number(exportCharge.settled)).toBeLessThanOrEqual(Number(exportCharge.estimate_points));
  expect((await account(me)).reserved).toBe(0);

  // Over the balance: 402 and no task, no job, nothing held.
  const before = await ctx.db
    .selectFrom("generation_tasks")
    .select("id")
    .where("project_id", "=", project.id)
    .execute();
  await ctx.db.updateTable("compute_accounts").set({ balance: "0" }).where("user_id", "=", me.user.id).execute();
  const refused = await ctx.call("POST", `/api/v1/projects/${project.id}/timeline/clips/${clipId}/regenerate-image`, {
    token: me.token,
    body: {},
  });
  expect(refused.status).toBe(402);
  expect(refused.json.error).toMatchObject({ code: "QUOTA_EXCEEDED", details: { needed: 1, balance: 0 } });
  const refusedExport = await ctx.call("POST", `/api/v1/projects/${project.id}/exports`, { token: me.token, body: {} });
  expect(refusedExport.status).toBe(402);
  const after = await ctx.db.selectFrom("generation_tasks").select("id").where("project_id", "=", project.id).execute();
  expect(after).toHaveLength(before.length);
  expect(await account(me)).toMatchObject({ balance: 0, reserved: 0 });
});

test("the sweep leaves a task's charge while its job is on the queue and expires it once the job is gone", async () => {
  const me = await vip();
  const { project } = await completedProject(ctx, me.token);
  const { active_package_id } = await ctx.db
    .selectFrom("projects")
    .select("active_package_id")
    .where("id", "=", project.id)
    .executeTakeFirstOrThrow();
  const packageId = active_package_id!;
  const payer = await tasksPayer(ctx.pipelineDeps, { userId: me.user.id });
  // Not before tomorrow: no worker claims it while the test looks at it.
  const job = regenerateJob({
    project_id: project.id,
    package_id: packageId,
    target: packageId,
    what: "music",
    user_id: me.user.id,
    seed: 7,
    count: 1,
  });
  const { tasks } = await queueTasks(
    ctx.db,
    { projectId: project.id, packageId, userId: me.user.id },
    [
      {
        kind: "bgm",
        target: { type: "package", id: packageId },
        params: { seed: 7 },
        job: { ...job, runAt: new Date(Date.now() + 86_400_000) },
      },
    ],
    undefined,
    payer.pay,
  );
  const task = tasks[0]!;
  const chargeId = payer.reserved()!.charge_id;
  await ctx.db
    .updateTable("compute_charges")
    .set({ expires_at: new Date(0) })
    .where("id", "=", chargeId)
    .execute();
  await expireCharges(ctx.db);
  expect((await chargeOf(task.id)).status).toBe("open");
  // An operator cancels the job: the task never hears of it, and the sweep gives the hold back.
  expect(await cancelJob(ctx.db, task.job_id!)).toBe("cancelled");
  await expireCharges(ctx.db);
  expect((await chargeOf(task.id)).status).toBe("closed");
  const closedBy = await ctx.db
    .selectFrom("compute_ledger")
    .select("kind")
    .where("charge_id", "=", chargeId)
    .where("kind", "in", ["release", "refund", "expire"])
    .execute();
  expect(closedBy).toEqual([{ kind: "expire" }]);
});
