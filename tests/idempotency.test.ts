// Idempotency-Key under concurrency: the key is claimed before the work runs, so concurrent
// retries never start the work twice; a failed request releases its key; an abandoned claim
// (its process died) is taken over after ten minutes.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { AppError } from "../src/core/errors.ts";
import { idempotent } from "../src/http/idempotency.ts";
import { createTestContext } from "./support/context.ts";
import { SHORT_STORY } from "./support/pipeline.ts";

const ctx = await createTestContext();

async function newProject(token: string) {
  const res = await ctx.call("POST", "/api/v1/projects", {
    token,
    body: { input: { type: "novel", text: SHORT_STORY } },
  });
  expect(res.status).toBe(201);
  return res.json.data as { id: string };
}

const runsOf = async (projectId: string) =>
  (await ctx.db.selectFrom("runs").select("id").where("project_id", "=", projectId).execute()).map((r) => r.id);

describe("Idempotency-Key", () => {
  test("concurrent calls with one key run the work once, while it is still running", async () => {
    const me = await ctx.register();
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const work = async () => {
      calls++;
      await gate;
      return { n: calls };
    };
    let settled = 0;
    const outcomes = Array.from({ length: 20 }, () => {
      const p = idempotent(ctx.db, me.user.id, "one-key", "route", { a: 1 }, {}, work);
      // The work is held until every other call has given up: they overlap it for certain.
      p.catch(() => undefined).finally(() => {
        if (++settled === 19) release();
      });
      return p;
    });
    const results = await Promise.allSettled(outcomes);
    expect(calls).toBe(1);
    const fulfilled = results.filter((r) => r.status === "fulfilled");
    expect(fulfilled).toEqual([{ status: "fulfilled", value: { n: 1 } }]);
    for (const r of results.filter((r) => r.status === "rejected")) {
      const e = (r as PromiseRejectedResult).reason;
      expect(e).toBeInstanceOf(AppError);
      expect([e.code, e.headers["retry-after"]]).toEqual(["CONFLICT", "1"]);
    }
    expect(await idempotent(ctx.db, me.user.id, "one-key", "route", { a: 1 }, {}, work)).toEqual({ n: 1 });
    expect(calls).toBe(1);
  });

  test("20 concurrent requests with one key start one run; the others replay it or are told to retry", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const headers = { "idempotency-key": `burst-${crypto.randomUUID()}` };
    const body = { mode: "step", to_stage: "storyline" };
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        ctx.call("POST", `/api/v1/projects/${project.id}/runs`, { token: me.token, headers, body }),
      ),
    );
    const runs = await runsOf(project.id);
    expect(runs).toHaveLength(1);
    for (const a of answers) {
      if (a.status === 202) expect(a.json.data.id).toBe(runs[0]);
      else {
        expect(a.status).toBe(409);
        expect(a.json).toMatchObject({ success: false, data: null, error: { code: "CONFLICT" } });
        expect(a.headers.get("retry-after")).toBe("1");
      }
    }
    expect(answers.filter((a) => a.status === 202).length).toBeGreaterThanOrEqual(1);
    // Once the first has answered, every repeat replays it.
    const again = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, { token: me.token, headers, body });
    expect(again.status).toBe(202);
    expect(again.json.data.id).toBe(runs[0]);
    expect(await runsOf(project.id)).toHaveLength(1);
  });

  test("a request that fails releases its key: the same key and body run once the cause is gone", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const path = `/api/v1/projects/${project.id}/runs`;
    const body = { mode: "step", to_stage: "storyline" };
    const first = await ctx.call("POST", path, { token: me.token, body });
    expect(first.status).toBe(202);
    const headers = { "idempotency-key": `after-failure-${crypto.randomUUID()}` };
    const refused = await ctx.call("POST", path, { token: me.token, headers, body });
    expect(refused.status).toBe(409); // a run is already active: the work itself refused
    const claims = () =>
      ctx.db
        .selectFrom("idempotency_keys")
        .select("status")
        .where("user_id", "=", me.user.id)
        .where("key", "=", headers["idempotency-key"])
        .execute();
    expect(await claims()).toEqual([]);
    expect((await ctx.call("POST", `/api/v1/runs/${first.json.data.id}/cancel`, { token: me.token })).status).toBe(200);
    const retried = await ctx.call("POST", path, { token: me.token, headers, body });
    expect(retried.status).toBe(202);
    expect(retried.json.data.id).not.toBe(first.json.data.id);
    expect(await claims()).toEqual([{ status: 202 }]);
  });

  test("a claim left without an answer is honoured for ten minutes, then taken over", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const path = `/api/v1/projects/${project.id}/runs`;
    const body = { mode: "step", to_stage: "storyline" };
    const key = `abandoned-${crypto.randomUUID()}`;
    const claim = async (ageS: number) => {
      await ctx.db.deleteFrom("idempotency_keys").where("key", "=", key).execute();
      await ctx.db
        .insertInto("idempotency_keys")
        .values({
          user_id: me.user.id,
          key,
          route: `runs:${project.id}`,
          body_hash: "from a process that died",
          status: null,
          response: null,
          created_at: sql<Date>`now() - make_interval(secs => ${ageS})`,
        })
        .execute();
    };
    await claim(60);
    const fresh = await ctx.call("POST", path, { token: me.token, headers: { "idempotency-key": key }, body });
    expect(fresh.status).toBe(409);
    expect(await runsOf(project.id)).toEqual([]);
    await claim(601);
    const taken = await ctx.call("POST", path, { token: me.token, headers: { "idempotency-key": key }, body });
    expect(taken.status).toBe(202);
    expect(await runsOf(project.id)).toEqual([taken.json.data.id]);
  });

  test("an answer and its status are stored together (the schema refuses one without the other)", async () => {
    const me = await ctx.register();
    const insert = ctx.db
      .insertInto("idempotency_keys")
      .values({ user_id: me.user.id, key: "half", route: "r", body_hash: "h", status: 202, response: null })
      .execute();
    await expect(insert).rejects.toThrow(/idempotency_keys_answered_together/);
  });
});
