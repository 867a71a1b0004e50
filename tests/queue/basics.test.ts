// The queue's SQL state machine and API without a worker: enqueue, claim, outcomes, retries,
// rescue, cancel, unique keys, transactional enqueue, pruning, cron and schedules.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { Db } from "../../src/db/client.ts";
import {
  type ClaimedJob,
  cancelJob,
  claimJobs,
  completeJobs,
  defineSchedules,
  enqueue,
  enqueueDueSchedules,
  enqueueMany,
  failJobs,
  heartbeatJobs,
  nextRun,
  parseCron,
  pruneHistory,
  queueDepth,
  rescueExpired,
  retryJob,
} from "../../src/queue/index.ts";
import { queueTest, waitFor } from "../support/queue.ts";

const claim = (db: Db, limit = 10, queue = "default", leaseMs = 30_000) =>
  claimJobs(db, { queues: [queue], limit, workerId: "test", leaseMs });

/** Claims until `n` jobs of the queue were claimed (waiting out their run_at). */
async function claimAll(db: Db, n: number, queue = "default"): Promise<ClaimedJob[]> {
  const got: ClaimedJob[] = [];
  await waitFor(
    `${n} claimable jobs in ${queue}`,
    async () => {
      got.push(...(await claim(db, n - got.length, queue)));
      return got.length >= n;
    },
    5000,
    10,
  );
  return got;
}

const completeAll = (db: Db, jobs: ClaimedJob[]) =>
  completeJobs(
    db,
    jobs.map((j) => ({ id: j.id, token: j.lease_token, result: { ok: j.id } })),
  );

describe("enqueue and claim", () => {
  test("claims in priority, then run_at order; a delayed job waits for its run_at", async () => {
    const q = await queueTest();
    const low = await enqueue(q.db, { kind: "k", priority: 5 });
    const early = await enqueue(q.db, { kind: "k", priority: 0, runAt: new Date(Date.now() - 60_000) });
    const late = await enqueue(q.db, { kind: "k", priority: 0, runAt: new Date(Date.now() - 1_000) });
    const mid = await enqueue(q.db, { kind: "k", priority: 1 });
    const delayed = await enqueue(q.db, { kind: "k", runAt: new Date(Date.now() + 1000) });
    await enqueue(q.db, { kind: "k", queue: "elsewhere" });
    expect(low).toMatchObject({ queue: "default", kind: "k", state: "ready", created: true });

    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const got = await claim(q.db, 1);
      expect(got.length).toBe(1);
      order.push(got[0]!.id);
    }
    expect(order).toEqual([early.id, late.id, mid.id, low.id]);
    expect(await claim(q.db, 10)).toEqual([]);
    expect(await queueDepth(q.db)).toEqual({ ready: 2, running: 4, waiting: 0 });

    const [got] = await claimAll(q.db, 1);
    expect(got!.id).toBe(delayed.id);
    expect(got).toMatchObject({
      kind: "k",
      queue: "default",
      attempt: 1,
      max_attempts: 5,
      timeout_ms: 300_000,
      payload: {},
    });
  });

  test("a claimed job is leased: completion needs the current lease token, and a heartbeat extends the lease", async () => {
    const q = await queueTest();
    const job = await enqueue(q.db, { kind: "k", payload: { a: 1 } });
    const [c] = await claim(q.db, 5, "default", 1000);
    expect(c!.payload).toEqual({ a: 1 });
    const wrong = crypto.randomUUID();
    expect((await completeJobs(q.db, [{ id: job.id, token: wrong, result: 1 }])).size).toBe(0);
    expect((await heartbeatJobs(q.db, [{ id: job.id, token: wrong }], 60_000)).size).toBe(0);
    const before = (await q.live(job.id))!.locked_until!;
    expect(await heartbeatJobs(q.db, [{ id: job.id, token: c!.lease_token }], 60_000)).toEqual(
      new Map([[job.id, false]]),
    );
    expect((await q.live(job.id))!.locked_until!.getTime()).toBeGreaterThan(before.getTime() + 50_000);
    expect(await completeJobs(q.db, [{ id: job.id, token: c!.lease_token, result: { done: true } }])).toEqual(
      new Set([job.id]),
    );
    expect(await q.live(job.id)).toBeUndefined();
    expect(await q.history(job.id)).toMatchObject({
      state: "completed",
      attempt: 1,
      result: { done: true },
      progress: 100,
    });
    // A second completion of the same attempt is not accepted.
    expect((await completeJobs(q.db, [{ id: job.id, token: c!.lease_token, result: 2 }])).size).toBe(0);
  });

  test("rescue returns an expired lease to ready, and fails a job with no attempts left", async () => {
    const q = await queueTest();
    const job = await enqueue(q.db, { kind: "k", maxAttempts: 2, backoffMs: 0 });
    const healthy = await enqueue(q.db, { kind: "k", queue: "other" });
    await claim(q.db, 1, "default", 100);
    await claim(q.db, 1, "other", 60_000);
    await Bun.sleep(200); // the 100 ms lease running out is what rescue is about
    expect(await rescueExpired(q.db)).toBe(1);
    expect(await q.live(job.id)).toMatchObject({
      state: "ready",
      attempt: 1,
      lease_token: null,
      last_error: { message: expect.stringContaining("lease expired") },
    });
    expect((await q.live(healthy.id))!.state).toBe("running");

    expect((await claim(q.db, 1, "default", 100)).map((c) => ({ id: c.id, attempt: c.attempt }))).toEqual([
      { id: job.id, attempt: 2 },
    ]);
    await Bun.sleep(200); // the second 100 ms lease runs out
    expect(await rescueExpired(q.db)).toBe(1);
    expect(await q.history(job.id)).toMatchObject({
      state: "failed",
      attempt: 2,
      last_error: { message: expect.stringContaining("lease expired") },
    });
    expect(await rescueExpired(q.db)).toBe(0);
  });
});

describe("transactional enqueue", () => {
  test("rolled back: no job, no state change; committed: both", async () => {
    const q = await queueTest();
    await sql`create table tx_state (id text primary key)`.execute(q.db);
    const other = q.pool(2);

    let inside = "";
    const rollback = q.db.transaction().execute(async (trx) => {
      await sql`insert into tx_state values ('a')`.execute(trx);
      const job = await enqueue(trx, { kind: "tx", payload: { state: "a" } });
      const child = await enqueue(trx, { kind: "tx-child", parents: [job.id] });
      expect(child.state).toBe("waiting");
      inside = job.id;
      // Invisible to everyone else until commit.
      expect(await other.selectFrom("jobs").select("id").where("id", "=", job.id).executeTakeFirst()).toBeUndefined();
      throw new Error("rollback");
    });
    await expect(rollback).rejects.toThrow("rollback");
    expect(inside).not.toBe("");
    const counts = async () => {
      const { rows } = await sql<{ jobs: number; history: number; parents: number; state: number }>`
        select (select count(*)::int from jobs) as jobs, (select count(*)::int from job_history) as history,
               (select count(*)::int from job_parents) as parents, (select count(*)::int from tx_state) as state`.execute(
        q.db,
      );
      return rows[0]!;
    };
    expect(await counts()).toEqual({ jobs: 0, history: 0, parents: 0, state: 0 });
    expect(await claim(q.db)).toEqual([]);

    const committed = await q.db.transaction().execute(async (trx) => {
      await sql`insert into tx_state values ('b')`.execute(trx);
      return enqueue(trx, { kind: "tx", payload: { state: "b" } });
    });
    expect(await counts()).toEqual({ jobs: 1, history: 0, parents: 0, state: 1 });
    expect((await claim(q.db)).map((c) => c.id)).toEqual([committed.id]);
  });
});

describe("unique keys", () => {
  test("20 concurrent enqueues with one key make one job; after completion the key returns the completed job", async () => {
    const q = await queueTest();
    const pool = q.pool(20);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => enqueue(pool, { kind: "render", uniqueKey: "render:42", payload: { i } })),
    );
    const ids = new Set(results.map((r) => r.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created).length).toBe(1);
    expect(results.every((r) => r.state === "ready" && r.kind === "render")).toBe(true);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from jobs where unique_key = 'render:42'`.execute(q.db);
    expect(rows[0]!.n).toBe(1);

    const [c] = await claim(q.db);
    expect(c!.id).toBe(results[0]!.id);
    await completeAll(q.db, [c!]);
    const again = await Promise.all(
      Array.from({ length: 5 }, () => enqueue(pool, { kind: "render", uniqueKey: "render:42" })),
    );
    for (const a of again)
      expect(a).toEqual({ id: c!.id, queue: "default", kind: "render", state: "completed", created: false });
    expect(await queueDepth(q.db)).toEqual({ ready: 0, running: 0, waiting: 0 });
  });

  test("concurrent enqueues of one key with parents (the transactional path) also make one job", async () => {
    const q = await queueTest();
    const pool = q.pool(10);
    const parent = await enqueue(q.db, { kind: "p" });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => enqueue(pool, { kind: "c", uniqueKey: "child:1", parents: [parent.id] })),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => r.created).length).toBe(1);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from job_parents where parent_id = ${parent.id}`.execute(q.db);
    expect(rows[0]!.n).toBe(1);
  });
});

describe("retries", () => {
  test("backoff: each retry waits backoffMs × 2^(attempt-1) with ±25% jitter; after max_attempts failed, re-driven, completed", async () => {
    const q = await queueTest();
    const n = 30;
    await enqueueMany(
      q.db,
      Array.from({ length: n }, (_, i) => ({
        kind: "flaky",
        queue: "backoff",
        backoffMs: 200,
        maxAttempts: 4,
        payload: { i },
      })),
    );
    for (const attempt of [1, 2, 3]) {
      const claimed = await claimAll(q.db, n, "backoff");
      expect(claimed.every((c) => c.attempt === attempt)).toBe(true);
      // In the failing transaction, run_at - now() is exactly the delay the SQL chose.
      const delays = await q.db.transaction().execute(async (trx) => {
        const failed = claimed.map((c) => ({
          id: c.id,
          token: c.lease_token,
          error: { message: `boom ${attempt}` },
          permanent: false,
        }));
        expect((await failJobs(trx, failed)).size).toBe(n);
        const { rows } = await sql<{ ms: number }>`
          select (extract(epoch from run_at - now()) * 1000)::float8 as ms from jobs where queue = 'backoff' and state = 'ready'`.execute(
          trx,
        );
        return rows.map((r) => r.ms);
      });
      const base = 200 * 2 ** (attempt - 1);
      expect(delays.length).toBe(n);
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0.75 * base - 1);
      expect(Math.max(...delays)).toBeLessThanOrEqual(1.25 * base + 1);
      // Jittered (not all equal), and centred on the base.
      expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(0.1 * base);
      const mean = delays.reduce((a, b) => a + b, 0) / n;
      expect(mean).toBeGreaterThan(0.88 * base);
      expect(mean).toBeLessThan(1.12 * base);
    }
    const last = await claimAll(q.db, n, "backoff");
    expect(last.every((c) => c.attempt === 4)).toBe(true);
    await failJobs(
      q.db,
      last.map((c) => ({ id: c.id, token: c.lease_token, error: { message: "boom 4" }, permanent: false })),
    );
    const { rows } = await sql<{ state: string; attempt: number; message: string; n: number }>`
      select state, attempt, last_error->>'message' as message, count(*)::int as n
      from job_history group by 1, 2, 3`.execute(q.db);
    expect(rows).toEqual([{ state: "failed", attempt: 4, message: "boom 4", n }]);
    expect(await queueDepth(q.db)).toEqual({ ready: 0, running: 0, waiting: 0 });

    const dead = last[0]!.id;
    expect(await retryJob(q.db, dead)).toBe(true);
    expect(await retryJob(q.db, dead)).toBe(false);
    expect(await q.live(dead)).toMatchObject({ state: "ready", attempt: 0, last_error: { message: "boom 4" } });
    const [again] = await claimAll(q.db, 1, "backoff");
    expect(again).toMatchObject({ id: dead, attempt: 1 });
    await completeAll(q.db, [again!]);
    expect(await q.history(dead)).toMatchObject({ state: "completed", attempt: 1 });
    expect(await retryJob(q.db, dead)).toBe(false);
  });

  test("a permanent failure goes to failed at once, attempts left or not", async () => {
    const q = await queueTest();
    const job = await enqueue(q.db, { kind: "k", maxAttempts: 5 });
    const [c] = await claim(q.db);
    await failJobs(q.db, [
      {
        id: job.id,
        token: c!.lease_token,
        error: { name: "PermanentJobError", message: "bad input" },
        permanent: true,
      },
    ]);
    expect(await q.history(job.id)).toMatchObject({
      state: "failed",
      attempt: 1,
      last_error: { message: "bad input" },
    });
  });
});

describe("cancel", () => {
  test("a ready or waiting job is cancelled at once; a running one is flagged; a finished one is not live", async () => {
    const q = await queueTest();
    const ready = await enqueue(q.db, { kind: "k", runAt: new Date(Date.now() + 3_600_000) });
    expect(await cancelJob(q.db, ready.id)).toBe("cancelled");
    expect(await q.live(ready.id)).toBeUndefined();
    expect(await q.history(ready.id)).toMatchObject({ state: "cancelled", last_error: { message: "cancelled" } });
    expect(await cancelJob(q.db, ready.id)).toBeNull();
    expect(await cancelJob(q.db, crypto.randomUUID())).toBeNull();

    const parent = await enqueue(q.db, { kind: "p", queue: "parked" });
    const waiting = await enqueue(q.db, { kind: "c", parents: [parent.id] });
    expect(await cancelJob(q.db, waiting.id)).toBe("cancelled");
    expect((await q.history(waiting.id))!.state).toBe("cancelled");

    const running = await enqueue(q.db, { kind: "k" });
    const [c] = await claim(q.db);
    expect(c!.id).toBe(running.id);
    expect(await cancelJob(q.db, running.id)).toBe("cancelling");
    expect((await q.live(running.id))!.cancel_requested_at).toBeInstanceOf(Date);
    expect(await heartbeatJobs(q.db, [{ id: running.id, token: c!.lease_token }], 30_000)).toEqual(
      new Map([[running.id, true]]),
    );
  });

  // BUG: rescue puts a job whose cancel was acknowledged ('cancelling') back to ready, and the
  // next claim clears cancel_requested_at, so the cancelled job runs again.
  test("a running job cancelled and then abandoned (its worker died) is not run again after rescue", async () => {
    const q = await queueTest();
    const job = await enqueue(q.db, { kind: "k", backoffMs: 0 });
    await claim(q.db, 1, "default", 100);
    expect(await cancelJob(q.db, job.id)).toBe("cancelling");
    await Bun.sleep(200); // the abandoned attempt's 100 ms lease runs out (its worker died)
    await rescueExpired(q.db);
    expect(await claim(q.db)).toEqual([]);
    expect((await q.history(job.id))?.state).toBe("cancelled");
  });

  // BUG: same root cause: an attempt failing after its cancel was requested is retried.
  test("a running job whose cancel was requested is not retried when its attempt then fails", async () => {
    const q = await queueTest();
    const job = await enqueue(q.db, { kind: "k", backoffMs: 0 });
    const [c] = await claim(q.db);
    expect(await cancelJob(q.db, job.id)).toBe("cancelling");
    await failJobs(q.db, [
      { id: job.id, token: c!.lease_token, error: { message: "failed before it saw the cancel" }, permanent: false },
    ]);
    // Retried (backoff 0), it would be live again and claimable at once: it is neither.
    expect(await q.live(job.id)).toBeUndefined();
    expect(await claim(q.db)).toEqual([]);
    expect((await q.history(job.id))?.state).toBe("cancelled");
  });
});

describe("fan-in without a worker", () => {
  // BUG: a child enqueued when every parent has already finished, one of them failed, is
  // inserted 'ready', and settle_children only looks at 'waiting' children: it runs anyway.
  test("a child enqueued after a parent already failed fails at once (default policy)", async () => {
    const q = await queueTest();
    const ok = await enqueue(q.db, { kind: "p" });
    const bad = await enqueue(q.db, { kind: "p" });
    const claimed = await claim(q.db, 2);
    const badClaim = claimed.find((c) => c.id === bad.id)!;
    await completeAll(
      q.db,
      claimed.filter((c) => c.id === ok.id),
    );
    await failJobs(q.db, [{ id: bad.id, token: badClaim.lease_token, error: { message: "no" }, permanent: true }]);
    expect((await q.history(bad.id))!.state).toBe("failed");

    const child = await enqueue(q.db, { kind: "c", parents: [ok.id, bad.id] });
    expect(child.state).toBe("failed");
    expect(await claim(q.db)).toEqual([]);
    expect((await q.history(child.id))?.state).toBe("failed");
  });

  test("with onParentFailure 'proceed', a child enqueued after a parent failed is ready at once", async () => {
    const q = await queueTest();
    const bad = await enqueue(q.db, { kind: "p" });
    const [c] = await claim(q.db);
    await failJobs(q.db, [{ id: bad.id, token: c!.lease_token, error: { message: "no" }, permanent: true }]);
    const child = await enqueue(q.db, { kind: "c", parents: [bad.id], onParentFailure: "proceed" });
    expect(child).toMatchObject({ state: "ready", created: true });
    expect((await claim(q.db)).map((x) => x.id)).toEqual([child.id]);
  });
});

describe("pruneHistory", () => {
  test("deletes only finished jobs older than the retention, in batches", async () => {
    const q = await queueTest();
    const made = await enqueueMany(
      q.db,
      Array.from({ length: 8 }, (_, i) => ({ kind: "k", payload: { i } })),
    );
    await completeAll(q.db, await claim(q.db, 8));
    const live = await enqueue(q.db, { kind: "k", runAt: new Date(Date.now() - 10 * 3_600_000) });
    const ids = made.map((m) => m.id);
    const old = ids.slice(0, 5);
    const recent = ids.slice(5);
    await sql`update job_history set finished_at = now() - interval '2 hours' where id = any(${old}::uuid[])`.execute(
      q.db,
    );
    await sql`update job_history set finished_at = now() - interval '59 minutes' where id = ${recent[0]}`.execute(q.db);

    expect(await pruneHistory(q.db, 3_600_000, 2)).toBe(5);
    const { rows } = await sql<{ id: string }>`select id from job_history order by id`.execute(q.db);
    expect(rows.map((r) => r.id)).toEqual([...recent].sort());
    expect(await pruneHistory(q.db, 3_600_000)).toBe(0);
    expect((await q.live(live.id))!.state).toBe("ready");
    // A shorter retention reaches the 59-minute-old row too.
    expect(await pruneHistory(q.db, 30 * 60_000)).toBe(1);
  });
});

describe("cron", () => {
  const at = (iso: string) => new Date(iso);

  test("parses steps, ranges, lists and day-of-week 7 as Sunday", () => {
    const every15 = parseCron("*/15 * * * *");
    expect([...every15.minutes].sort((a, b) => a - b)).toEqual([0, 15, 30, 45]);
    expect(every15.hours.size).toBe(24);
    expect([...parseCron("5/20 * * * *").minutes]).toEqual([5, 25, 45]);
    const office = parseCron("0 9-17 * * 1-5");
    expect([...office.hours]).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect([...office.weekdays]).toEqual([1, 2, 3, 4, 5]);
    const lists = parseCron("0,30 8,20 1,15 1-3,12 *");
    expect([...lists.minutes]).toEqual([0, 30]);
    expect([...lists.hours]).toEqual([8, 20]);
    expect([...lists.days]).toEqual([1, 15]);
    expect([...lists.months]).toEqual([1, 2, 3, 12]);
    expect([...parseCron("0 0 * * 7").weekdays]).toEqual([0]);
    expect([...parseCron("0 0 * * 5-7").weekdays].sort()).toEqual([0, 5, 6]);
  });

  test("nextRun is the first matching minute strictly after the given time (UTC)", () => {
    // 2026-03-04 is a Wednesday.
    expect(nextRun(parseCron("*/15 * * * *"), at("2026-03-04T10:07:30Z"))).toEqual(at("2026-03-04T10:15:00Z"));
    expect(nextRun(parseCron("*/15 * * * *"), at("2026-03-04T10:15:00Z"))).toEqual(at("2026-03-04T10:30:00Z"));
    expect(nextRun(parseCron("*/15 * * * *"), at("2026-03-04T23:59:59Z"))).toEqual(at("2026-03-05T00:00:00Z"));
    // Friday 17:30 → Monday 09:00.
    expect(nextRun(parseCron("0 9-17 * * 1-5"), at("2026-03-06T17:30:00Z"))).toEqual(at("2026-03-09T09:00:00Z"));
    expect(nextRun(parseCron("0 0 * * 7"), at("2026-03-04T10:00:00Z"))).toEqual(at("2026-03-08T00:00:00Z"));
    expect(nextRun(parseCron("0 0 * * 0"), at("2026-03-04T10:00:00Z"))).toEqual(at("2026-03-08T00:00:00Z"));
    expect(nextRun(parseCron("0,30 8,20 1,15 * *"), at("2026-03-01T20:30:00Z"))).toEqual(at("2026-03-15T08:00:00Z"));
    expect(nextRun(parseCron("0 0 1 1 *"), at("2026-06-01T00:00:00Z"))).toEqual(at("2027-01-01T00:00:00Z"));
    expect(nextRun(parseCron("0 12 29 2 *"), at("2026-03-01T00:00:00Z"))).toEqual(at("2028-02-29T12:00:00Z"));
    // Both day fields restricted: either matches (the 13th, or a Friday).
    expect(nextRun(parseCron("0 0 13 * 5"), at("2026-03-04T00:00:00Z"))).toEqual(at("2026-03-06T00:00:00Z"));
    expect(nextRun(parseCron("0 0 13 * 5"), at("2026-03-10T00:00:00Z"))).toEqual(at("2026-03-13T00:00:00Z"));
    // A day field starting with "*" counts as unrestricted (Vixie cron): "*/2" with Mondays is
    // every Monday, not "odd days or Mondays" (Thursday 2026-03-05 is odd, and not chosen).
    expect(nextRun(parseCron("0 0 */2 * 1"), at("2026-03-04T10:00:00Z"))).toEqual(at("2026-03-09T00:00:00Z"));
  });

  test("invalid expressions throw", () => {
    for (const bad of [
      "* * * *",
      "* * * * * *",
      "60 * * * *",
      "* 24 * * *",
      "* * 0 * *",
      "* * 32 * *",
      "* * * 13 *",
      "* * * * 8",
      "*/0 * * * *",
      "5-1 * * * *",
      "a * * * *",
      "1,,2 * * * *",
      "",
      "-1 * * * *",
    ]) {
      expect(() => parseCron(bad)).toThrow();
    }
    expect(() => nextRun(parseCron("0 0 30 2 *"), at("2026-01-01T00:00:00Z"))).toThrow(/never matches/);
  });
});

describe("schedules", () => {
  test("defineSchedules keeps the next run unless the expression changed", async () => {
    const q = await queueTest();
    await defineSchedules(q.db, [{ name: "sweep", cron: "*/5 * * * *", kind: "sweep" }]);
    const row = await q.db
      .selectFrom("job_schedules")
      .selectAll()
      .where("name", "=", "sweep")
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ queue: "maintenance", kind: "sweep", last_run_at: null });
    expect(row.next_run_at.getTime()).toBe(
      nextRun(parseCron("*/5 * * * *"), new Date(row.next_run_at.getTime() - 60_000)).getTime(),
    );
    expect(row.next_run_at.getUTCMinutes() % 5).toBe(0);
    await sql`update job_schedules set next_run_at = '2030-01-01T00:00:00Z'`.execute(q.db);
    await defineSchedules(q.db, [{ name: "sweep", cron: "*/5 * * * *", kind: "sweep", payload: { v: 2 } }]);
    const same = await q.db
      .selectFrom("job_schedules")
      .selectAll()
      .where("name", "=", "sweep")
      .executeTakeFirstOrThrow();
    expect(same.next_run_at).toEqual(new Date("2030-01-01T00:00:00Z"));
    expect(same.payload).toEqual({ v: 2 });
    await defineSchedules(q.db, [{ name: "sweep", cron: "0 * * * *", kind: "sweep" }]);
    const changed = await q.db
      .selectFrom("job_schedules")
      .selectAll()
      .where("name", "=", "sweep")
      .executeTakeFirstOrThrow();
    expect(changed.next_run_at.getTime()).toBeLessThan(Date.now() + 3_600_000 + 1000);
    expect(changed.next_run_at.getUTCMinutes()).toBe(0);
  });

  test("concurrent enqueueDueSchedules callers enqueue each due run exactly once", async () => {
    const q = await queueTest();
    await defineSchedules(q.db, [{ name: "prune", cron: "* * * * *", kind: "prune-history", payload: { keep: "7d" } }]);
    const callers = [q.pool(2), q.pool(2), q.pool(2), q.pool(2)];
    expect(await enqueueDueSchedules(q.db)).toBe(0);
    // A run is keyed by its due time: give each round its own due minute, all in the past.
    const base = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000);
    for (let round = 1; round <= 5; round++) {
      const { rows } = await sql<{ due: Date }>`
        update job_schedules set next_run_at = ${new Date(base.getTime() + round * 60_000)} returning next_run_at as due`.execute(
        q.db,
      );
      const due = rows[0]!.due;
      const counts = await Promise.all(callers.map((c) => enqueueDueSchedules(c)));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
      const jobs = await q.db.selectFrom("jobs").selectAll().where("kind", "=", "prune-history").execute();
      expect(jobs.length).toBe(round);
      expect(
        jobs
          .filter((j) => j.unique_key === `schedule:prune:${due.toISOString()}`)
          .map((j) => ({ queue: j.queue, payload: j.payload })),
      ).toEqual([{ queue: "maintenance", payload: { keep: "7d" } }]);
      const s = await q.db.selectFrom("job_schedules").selectAll().executeTakeFirstOrThrow();
      expect(s.last_run_at).toEqual(due);
      expect(s.next_run_at.getTime()).toBeGreaterThan(Date.now());
      expect((await Promise.all(callers.map((c) => enqueueDueSchedules(c)))).reduce((a, b) => a + b, 0)).toBe(0);
    }
  });
});
