// A worker killed with -9 while fal renders a direct image-to-video generation (`veo`): the request
// id was stored before the worker began to poll, so the rescued job polls that request again and
// downloads its result — fal is submitted to once, and the ledger has one paid row. The kill point
// is chosen by state (the request stored and polled), not by timing.
import { afterAll, expect, test } from "bun:test";
import { startFakeFal } from "./support/fake-fal.ts";
import { type PipelineWorkerProcess, pipelineContext, spawnPipelineWorker, waitUntil } from "./support/pipeline.ts";
import { solidPng } from "./support/upload-file.ts";

const fal = await startFakeFal();
const FAL_ENV = { FAL_KEY: fal.key, FAL_BASE_URL: fal.url, FAL_POLL_INTERVAL_MS: "20" };
const ctx = await pipelineContext(FAL_ENV);
const spawned: PipelineWorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(spawned.map((p) => p.stop(2000)));
  fal.stop();
});

async function spawn() {
  const p = await spawnPipelineWorker(ctx, { leaseMs: 2000, rescueIntervalMs: 300, env: FAL_ENV });
  spawned.push(p);
  return p;
}

const ENDPOINT = "fal-ai/veo3.1/image-to-video";

test("a worker killed while fal renders a veo clip: the rescued job resumes the request, one submission, one ledger row", async () => {
  const me = await ctx.register("crashed");
  // The request stays in progress until the test lets it finish.
  fal.script(["IN_QUEUE", "IN_PROGRESS"]);
  const first = await spawn();
  const form = new FormData();
  form.set("prompt", "waves breaking on a lighthouse rock");
  form.set("model", "veo");
  form.set("duration", "4");
  form.set("image", new File([await solidPng("navy", "720x1280")], "rock.png", { type: "image/png" }));
  const res = await ctx.app.handle(
    new Request("http://localhost/api/v1/generate/image-to-video", {
      method: "POST",
      headers: { authorization: `Bearer ${me.token}` },
      body: form,
    }),
  );
  expect(res.status).toBe(202);
  const taskId: string = (await res.json()).data.task_id;

  const inFlight = await waitUntil("the submission stored in Postgres and polled", async () => {
    const sub = fal.submissions.find((s) => s.endpoint === ENDPOINT);
    if (!sub || sub.polls === 0) return null;
    const stored = await ctx.db.selectFrom("provider_requests").select("request_id").execute();
    return stored.some((r) => r.request_id === sub.requestId) ? sub : null;
  });
  await first.kill9();

  // fal finishes the render the dead worker was waiting for; another worker takes over.
  fal.script(["COMPLETED"]);
  for (const s of fal.submissions) s.statuses = ["COMPLETED"];
  await spawn();
  const task = await waitUntil("the task to end", async () => {
    const t = (await ctx.call("GET", `/api/v1/generate/tasks/${taskId}`, { token: me.token })).json.data;
    return ["completed", "failed"].includes(t.status) ? t : null;
  });
  expect(task.error).toBeNull();
  expect(task.status).toBe("completed");

  expect(fal.submissions.filter((s) => s.endpoint === ENDPOINT)).toHaveLength(1);
  expect(fal.calls("result", inFlight.requestId).length).toBeGreaterThanOrEqual(1);
  const rows = await ctx.db
    .selectFrom("provider_usage")
    .select(["provider", "model", "outcome", "request_id", "error", "video_seconds"])
    .where("user_id", "=", me.user.id)
    .execute();
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({
    provider: "fal",
    model: ENDPOINT,
    outcome: "ok",
    request_id: inFlight.requestId,
    error: null,
  });
  expect(Number(rows[0]!.video_seconds)).toBe(4);
  // The work is complete with the one clip; the stored ref is gone once downloaded.
  const work = await ctx.db
    .selectFrom("works")
    .select(["status", "file_key"])
    .where("generation_id", "=", taskId)
    .executeTakeFirstOrThrow();
  expect(work.status).toBe("completed");
  expect(await ctx.deps.storage.stat(work.file_key!)).not.toBeNull();
  expect(await ctx.db.selectFrom("provider_requests").selectAll().execute()).toEqual([]);
});
