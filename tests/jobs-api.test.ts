import { describe, expect, test } from "bun:test";
import { claimJobs, enqueue, failJobs } from "../src/queue/index.ts";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();
const admin = await ctx.register("ops");
await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
const user = await ctx.register("plain");

/** A job that has failed for good, through the real claim and fail path. */
async function deadJob(kind: string) {
  const job = await enqueue(ctx.db, { kind, queue: `q-${kind}`, maxAttempts: 1 });
  const [claimed] = await claimJobs(ctx.db, { queues: [`q-${kind}`], limit: 1, workerId: "test", leaseMs: 10_000 });
  await failJobs(ctx.db, [
    { id: claimed!.id, token: claimed!.lease_token, error: { message: "boom" }, permanent: false },
  ]);
  return job;
}

describe("admin jobs API", () => {
  test("lists live and finished jobs with filters; health counts the queue", async () => {
    await enqueue(ctx.db, { kind: "render", queue: "video", payload: { shot: 1 } });
    await enqueue(ctx.db, { kind: "render", queue: "video", payload: { shot: 2 } });
    const failed = await deadJob("speak");
    const ready = await ctx.call("GET", "/api/v1/admin/jobs?state=ready&queue=video", { token: admin.token });
    expect(ready.status).toBe(200);
    expect(ready.json.data.total).toBe(2);
    expect(ready.json.data.items[0]).toMatchObject({ kind: "render", queue: "video", state: "ready", attempt: 0 });
    const dead = await ctx.call("GET", "/api/v1/admin/jobs?state=failed", { token: admin.token });
    expect(dead.json.data.items.map((j: { id: string }) => j.id)).toContain(failed.id);
    expect(dead.json.data.items[0].last_error).toMatchObject({ message: "boom" });
    const byKind = await ctx.call("GET", "/api/v1/admin/jobs?kind=speak", { token: admin.token });
    expect(byKind.json.data.total).toBe(1);
    const health = await ctx.call("GET", "/health");
    expect(health.json.data.queue).toMatchObject({ ready: 2, running: 0 });
  });

  test("retry re-drives a failed job; retrying a ready one is 409", async () => {
    const failed = await deadJob("retryme");
    const res = await ctx.call("POST", `/api/v1/admin/jobs/${failed.id}/retry`, { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ id: failed.id, state: "ready", attempt: 0 });
    const again = await ctx.call("POST", `/api/v1/admin/jobs/${failed.id}/retry`, { token: admin.token });
    expect(again.status).toBe(409);
  });

  test("retrying a failed job whose unique key a live job now holds is 409, and changes nothing", async () => {
    const job = await enqueue(ctx.db, { kind: "keyed", queue: "q-keyed", maxAttempts: 1, uniqueKey: "render:shot-7" });
    const [claimed] = await claimJobs(ctx.db, { queues: ["q-keyed"], limit: 1, workerId: "test", leaseMs: 10_000 });
    await failJobs(ctx.db, [
      { id: claimed!.id, token: claimed!.lease_token, error: { message: "boom" }, permanent: true },
    ]);
    const successor = await enqueue(ctx.db, { kind: "keyed", queue: "q-keyed", uniqueKey: "render:shot-7" });
    expect(successor.id).not.toBe(job.id);
    const res = await ctx.call("POST", `/api/v1/admin/jobs/${job.id}/retry`, { token: admin.token });
    expect(res.status).toBe(409);
    expect(res.json.message).toContain("unique key");
    expect((await ctx.call("GET", `/api/v1/admin/jobs/${job.id}`, { token: admin.token })).json.data.state).toBe(
      "failed",
    );
  });

  test("cancel a ready job at once; a finished one is 409; unknown is 404", async () => {
    const job = await enqueue(ctx.db, { kind: "cancelme", queue: "c" });
    const res = await ctx.call("POST", `/api/v1/admin/jobs/${job.id}/cancel`, { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ state: "cancelled", cancellation: "cancelled" });
    expect((await ctx.call("POST", `/api/v1/admin/jobs/${job.id}/cancel`, { token: admin.token })).status).toBe(409);
    expect((await ctx.call("GET", `/api/v1/admin/jobs/${crypto.randomUUID()}`, { token: admin.token })).status).toBe(
      404,
    );
    expect((await ctx.call("GET", `/api/v1/admin/jobs/${job.id}`, { token: admin.token })).json.data.state).toBe(
      "cancelled",
    );
  });

  test("only ADMINs: others get 403, no token 401; bad filters are 400", async () => {
    const job = await enqueue(ctx.db, { kind: "secret" });
    expect((await ctx.call("GET", "/api/v1/admin/jobs", { token: user.token })).status).toBe(403);
    expect((await ctx.call("POST", `/api/v1/admin/jobs/${job.id}/cancel`, { token: user.token })).status).toBe(403);
    expect((await ctx.call("GET", "/api/v1/admin/jobs")).status).toBe(401);
    expect((await ctx.call("GET", "/api/v1/admin/jobs?state=exploded", { token: admin.token })).status).toBe(400);
    expect((await ctx.call("GET", "/api/v1/admin/jobs/not-a-uuid", { token: admin.token })).status).toBe(400);
    expect((await ctx.call("GET", "/api/v1/admin/jobs?page_size=1000", { token: admin.token })).status).toBe(400);
    // The job is untouched by the refused calls.
    expect((await ctx.call("GET", `/api/v1/admin/jobs/${job.id}`, { token: admin.token })).json.data.state).toBe(
      "ready",
    );
  });
});
