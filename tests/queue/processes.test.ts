// The queue across several real worker processes (tests/support/queue-worker.ts), each
// reporting its handler runs in the test database's `test_runs` table.
import { describe, expect, test } from "bun:test";
import { type RawBuilder, sql } from "kysely";
import {
  completeJobs,
  type EnqueueInput,
  enqueue,
  enqueueMany,
  failJobs,
  heartbeatJobs,
} from "../../src/queue/index.ts";
import { type QueueTest, queueTest, waitFor } from "../support/queue.ts";

async function one<T>(q: QueueTest, query: RawBuilder<T>): Promise<T> {
  const { rows } = await query.execute(q.db);
  return rows[0]!;
}

describe("queue across worker processes", () => {
  test("4 processes × concurrency 10 × 5,000 jobs: every job completed exactly once, none lost", async () => {
    const q = await queueTest();
    const procs = await Promise.all([1, 2, 3, 4].map(() => q.spawn({ concurrency: 10 })));

    // Enqueued while the four are already claiming, so they contend from the first job.
    const ids: string[] = [];
    for (let i = 0; i < 5000; i += 1000) {
      const batch = await enqueueMany(
        q.db,
        Array.from({ length: 1000 }, (_, k) => ({ kind: "record", payload: { n: i + k } })),
      );
      ids.push(...batch.map((b) => b.id));
    }
    expect(new Set(ids).size).toBe(5000);

    // A few seconds normally. Jobs still live after 20 s are waiting for the 30 s lease to expire:
    // their completion was lost (see the "bursts" test in features.test.ts).
    await waitFor(
      "5,000 jobs in history",
      async () => (await one(q, sql<{ n: number }>`select count(*)::int as n from job_history`)).n >= 5000,
      20_000,
      100,
    ).catch(() => {});
    const { rows: live } = await sql<{
      state: string;
      n: number;
    }>`select state, count(*)::int as n from jobs group by state`.execute(q.db);
    expect(live).toEqual([]);
    const codes = await Promise.all(procs.map((p) => p.stop()));
    expect(codes).toEqual([0, 0, 0, 0]);

    const history = await one(
      q,
      sql<{ n: number; completed: number; ours: number; first_attempt: number }>`
        select count(*)::int as n,
               count(*) filter (where state = 'completed')::int as completed,
               count(*) filter (where id = any(${ids}::uuid[]))::int as ours,
               count(*) filter (where attempt = 1)::int as first_attempt
        from job_history`,
    );
    expect(history).toEqual({ n: 5000, completed: 5000, ours: 5000, first_attempt: 5000 });
    expect((await one(q, sql<{ n: number }>`select count(*)::int as n from jobs`)).n).toBe(0);

    const runs = await one(
      q,
      sql<{ n: number; jobs: number; most: number; pids: number }>`
        select count(*)::int as n, count(distinct job_id)::int as jobs,
               (select max(c)::int from (select count(*) as c from test_runs group by job_id) g) as most,
               count(distinct pid)::int as pids
        from test_runs`,
    );
    // One handler run per job, no job run twice, and all four processes took part.
    expect(runs).toEqual({ n: 5000, jobs: 5000, most: 1, pids: 4 });
    // Each recorded result is the one of the process that ran the job.
    const mismatched = await one(
      q,
      sql<{ n: number }>`
        select count(*)::int as n from job_history h left join test_runs r on r.job_id = h.id
        where r.pid is null or (h.result->>'pid')::int <> r.pid`,
    );
    expect(mismatched.n).toBe(0);
  });

  test("kill -9 mid-job: rescued after its lease, completed once by another process; the stale completion is rejected", async () => {
    const q = await queueTest();
    const options = { concurrency: 2, leaseMs: 1500, heartbeatMs: 300, rescueIntervalMs: 300, pollIntervalMs: 200 };
    const [a, b] = await Promise.all([q.spawn(options), q.spawn(options)]);
    const job = await enqueue(q.db, {
      kind: "tracked",
      payload: { firstSleepMs: 60_000, sleepMs: 700 },
      backoffMs: 50,
    });

    const first = await waitFor("attempt 1 to start", async () => (await q.runs(job.id))[0]);
    const held = (await q.live(job.id))!;
    expect(held.state).toBe("running");
    expect(held.attempt).toBe(1);
    const oldToken = held.lease_token!;
    const victim = first.pid === a!.pid ? a! : b!;
    const survivor = victim === a ? b! : a!;
    expect(held.locked_by!.startsWith(`${victim.pid}-`)).toBe(true);

    // Once a heartbeat has extended the lease, kill the process holding the job.
    const leaseAtKill = await waitFor("a heartbeat extending the lease", async () => {
      const until = (await q.live(job.id))!.locked_until!;
      return until.getTime() > held.locked_until!.getTime() ? until : null;
    });
    expect(leaseAtKill.getTime()).toBeGreaterThan(held.locked_until!.getTime());
    await victim.kill9();

    const second = await waitFor(
      "attempt 2 to start",
      async () => (await q.runs(job.id)).find((r) => r.attempt === 2),
      8000,
    );
    expect(second.pid).toBe(survivor.pid);
    // The rescue waited for the lease to expire (both server clocks)…
    const afterLease = second.started_at.getTime() - leaseAtKill.getTime();
    expect(afterLease).toBeGreaterThanOrEqual(0);
    // …and came soon after (rescue sweep 300 ms + backoff ~50 ms + poll 200 ms, with slack).
    expect(afterLease).toBeLessThan(2500);

    // While attempt 2 runs, the killed attempt's completion, failure and heartbeat are all refused.
    expect((await completeJobs(q.db, [{ id: job.id, token: oldToken, result: { late: true } }])).size).toBe(0);
    expect(
      (await failJobs(q.db, [{ id: job.id, token: oldToken, error: { message: "late" }, permanent: true }])).size,
    ).toBe(0);
    expect((await heartbeatJobs(q.db, [{ id: job.id, token: oldToken }], 60_000)).size).toBe(0);
    const running = (await q.live(job.id))!;
    expect(running.state).toBe("running");
    expect(running.attempt).toBe(2);
    expect(running.lease_token).not.toBe(oldToken);
    expect(running.locked_by!.startsWith(`${survivor.pid}-`)).toBe(true);

    const done = await q.finished(job.id, 5000);
    expect(done.state).toBe("completed");
    expect(done.attempt).toBe(2);
    expect(done.result).toEqual({ pid: survivor.pid });

    // After completion, the late completion is still rejected and history is unchanged.
    expect((await completeJobs(q.db, [{ id: job.id, token: oldToken, result: { late: true } }])).size).toBe(0);
    expect(await q.history(job.id)).toEqual(done);
    expect(await q.live(job.id)).toBeUndefined();

    const runs = await q.runs(job.id);
    expect(runs.map((r) => ({ attempt: r.attempt, pid: r.pid, finished: r.finished_at !== null }))).toEqual([
      { attempt: 1, pid: victim.pid, finished: false },
      { attempt: 2, pid: survivor.pid, finished: true },
    ]);
  });

  test("concurrency keys: the maximum running per key never exceeds its limit, across 3 processes", async () => {
    const q = await queueTest();
    const procs = await Promise.all([1, 2, 3].map(() => q.spawn({ concurrency: 10, pollIntervalMs: 50 })));
    // Jobs long enough (60 ms) that runs of one key overlap and every process gets slots even on a loaded machine.
    const inputs: EnqueueInput[] = [];
    for (let i = 0; i < 100; i++) {
      inputs.push({ kind: "tracked", payload: { sleepMs: 60 }, concurrencyKey: "user:1", concurrencyLimit: 2 });
      inputs.push({ kind: "tracked", payload: { sleepMs: 60 }, concurrencyKey: "user:2", concurrencyLimit: 3 });
    }
    await enqueueMany(q.db, inputs);

    await waitFor(
      "200 keyed jobs in history",
      async () => (await one(q, sql<{ n: number }>`select count(*)::int as n from job_history`)).n >= 200,
      45_000,
      100,
    );
    await Promise.all(procs.map((p) => p.stop()));

    const totals = await one(
      q,
      sql<{ completed: number; runs: number; finished: number; pids: number }>`
        select (select count(*)::int from job_history where state = 'completed') as completed,
               count(*)::int as runs, count(finished_at)::int as finished, count(distinct pid)::int as pids
        from test_runs`,
    );
    expect(totals).toEqual({ completed: 200, runs: 200, finished: 200, pids: 3 });

    // The most handlers of one key running at the same instant, from their start/end intervals
    // (at equal timestamps an end counts before a start).
    const { rows } = await sql<{ key: string; most: number }>`
      with runs as (
        select h.concurrency_key as key, r.started_at, r.finished_at
        from test_runs r join job_history h on h.id = r.job_id
      ), events as (
        select key, started_at as t, 1 as d from runs
        union all
        select key, finished_at as t, -1 as d from runs
      )
      select key, max(running)::int as most from (
        select key, sum(d) over (partition by key order by t, d rows unbounded preceding) as running from events
      ) x group by key order by key`.execute(q.db);
    // At the limit (the test is not vacuous), never above it.
    expect(rows).toEqual([
      { key: "user:1", most: 2 },
      { key: "user:2", most: 3 },
    ]);
  });
});
