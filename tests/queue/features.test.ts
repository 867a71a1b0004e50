// The worker (in this process, on a real database): cancellation, retries with backoff,
// permanent failure, snooze, timeout, progress, fan-in, graceful stop, LISTEN loss.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import {
  cancelJob,
  enqueue,
  enqueueMany,
  type Handler,
  PermanentJobError,
  retryJob,
  SnoozeJob,
} from "../../src/queue/index.ts";
import { type QueueTest, queueTest, waitFor } from "../support/queue.ts";

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Rejects with the signal's reason when it aborts (a handler that hangs until stopped). */
const untilAborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

const listenBackends = async (q: QueueTest) =>
  (
    await sql<{ pid: number }>`
      select pid from pg_stat_activity where application_name = 'inkreel-listen' and datname = current_database()`.execute(
      q.db,
    )
  ).rows.map((r) => r.pid);

describe("cancellation", () => {
  /** A handler that runs until its signal aborts; reports when it started and what aborted it. */
  function hanging() {
    const started = deferred<number>();
    const aborted = deferred<{ at: number; reason: unknown }>();
    const handler: Handler = async (_payload, ctx) => {
      started.resolve(performance.now());
      try {
        await untilAborted(ctx.signal);
      } finally {
        aborted.resolve({ at: performance.now(), reason: ctx.signal.reason });
      }
    };
    return { started, aborted, handler };
  }

  test("cancel of a running job: its handler sees the abort within a second (NOTIFY), the job ends cancelled", async () => {
    const q = await queueTest();
    const h = hanging();
    // Heartbeats far apart: only the NOTIFY can deliver the cancel in time.
    await q.worker({ handlers: { hang: h.handler }, leaseMs: 60_000, heartbeatMs: 20_000 });
    const job = await enqueue(q.db, { kind: "hang" });
    await h.started.promise;
    const t0 = performance.now();
    expect(await cancelJob(q.db, job.id)).toBe("cancelling");
    const { at, reason } = await h.aborted.promise;
    expect(reason).toBe("cancelled");
    expect(at - t0).toBeLessThan(1000);
    const done = await q.finished(job.id, 3000);
    expect(done).toMatchObject({ state: "cancelled", attempt: 1, last_error: { message: "cancelled while running" } });
    expect(await q.live(job.id)).toBeUndefined();
  });

  test("poll-only mode: pickup by polling, no LISTEN connection, and a cancel reaches the handler through the heartbeat", async () => {
    const q = await queueTest();
    const h = hanging();
    await q.worker({ handlers: { hang: h.handler }, mode: "poll-only", pollIntervalMs: 100, heartbeatMs: 300 });
    const job = await enqueue(q.db, { kind: "hang" });
    await h.started.promise;
    expect(await listenBackends(q)).toEqual([]);
    const t0 = performance.now();
    expect(await cancelJob(q.db, job.id)).toBe("cancelling");
    const { at, reason } = await h.aborted.promise;
    expect(reason).toBe("cancelled");
    expect(at - t0).toBeLessThan(1000);
    expect((await q.finished(job.id, 3000)).state).toBe("cancelled");
  });

  test("cancel of a ready job moves it to cancelled at once; it never runs", async () => {
    const q = await queueTest();
    const ran: string[] = [];
    await q.worker({ handlers: { later: (_p, c) => void ran.push(c.id) }, pollIntervalMs: 100 });
    const runAt = Date.now() + 400;
    const job = await enqueue(q.db, { kind: "later", runAt: new Date(runAt) });
    expect(await cancelJob(q.db, job.id)).toBe("cancelled");
    expect(await q.history(job.id)).toMatchObject({ state: "cancelled", attempt: 0 });
    expect(await q.live(job.id)).toBeUndefined();
    // A job due after it has run: claims go in run_at order, so the cancelled one would have run first.
    const after = await enqueue(q.db, { kind: "later", runAt: new Date(runAt + 100) });
    await q.finished(after.id);
    expect(ran).toEqual([after.id]);
  });
});

describe("failures and retries", () => {
  test("backoff between attempts doubles (±25% jitter); max_attempts → failed with last_error; retryJob re-drives it to completion", async () => {
    const q = await queueTest();
    let failing = true;
    await q.worker({
      handlers: {
        flaky: async (_p, ctx) => {
          const run = await q.recordStart(ctx.id, ctx.attempt);
          await q.recordEnd(run);
          if (failing) throw new Error(`boom ${ctx.attempt}`);
          return { attempt: ctx.attempt };
        },
      },
      pollIntervalMs: 50,
    });
    const job = await enqueue(q.db, { kind: "flaky", backoffMs: 200, maxAttempts: 4 });
    const dead = await q.finished(job.id, 8000);
    expect(dead).toMatchObject({ state: "failed", attempt: 4, last_error: { name: "Error", message: "boom 4" } });
    const runs = await q.runs(job.id);
    expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3, 4]);
    // From the end of attempt n to the start of attempt n+1: the backoff (200, 400, 800 ms ±25%),
    // plus at most a poll interval (50 ms) and a few round trips.
    for (let n = 1; n < 4; n++) {
      const base = 200 * 2 ** (n - 1);
      const gap = runs[n]!.started_at.getTime() - runs[n - 1]!.finished_at!.getTime();
      expect(gap).toBeGreaterThanOrEqual(0.75 * base - 2);
      expect(gap).toBeLessThanOrEqual(1.25 * base + 300);
    }

    failing = false;
    expect(await retryJob(q.db, job.id)).toBe(true);
    const done = await q.finished(job.id, 3000);
    expect(done).toMatchObject({ state: "completed", attempt: 1, result: { attempt: 1 } });
    expect((await q.runs(job.id)).length).toBe(5);
  });

  test("PermanentJobError fails at once without retries; a kind without a handler too", async () => {
    const q = await queueTest();
    await q.worker({
      handlers: {
        bad: async (_p, ctx) => {
          await q.recordStart(ctx.id, ctx.attempt);
          throw new PermanentJobError("input can never work");
        },
      },
      pollIntervalMs: 50,
    });
    const job = await enqueue(q.db, { kind: "bad", maxAttempts: 5, backoffMs: 0 });
    const orphan = await enqueue(q.db, { kind: "unknown-kind", maxAttempts: 5, backoffMs: 0 });
    expect(await q.finished(job.id)).toMatchObject({
      state: "failed",
      attempt: 1,
      last_error: { name: "PermanentJobError", message: "input can never work" },
    });
    expect(await q.finished(orphan.id)).toMatchObject({
      state: "failed",
      attempt: 1,
      last_error: { message: expect.stringContaining("no handler") },
    });
    // A retry (backoff 0) would be due before a job enqueued now: once that one has run, none came.
    const after = await enqueue(q.db, { kind: "bad", maxAttempts: 1 });
    await q.finished(after.id);
    expect(await q.live(job.id)).toBeUndefined();
    expect((await q.runs(job.id)).length).toBe(1);
  });

  test("SnoozeJob runs the job again after the delay without spending an attempt", async () => {
    const q = await queueTest();
    let calls = 0;
    await q.worker({
      handlers: {
        snoozy: async (_p, ctx) => {
          const run = await q.recordStart(ctx.id, ctx.attempt);
          await q.recordEnd(run);
          if (++calls === 1) throw new SnoozeJob(300);
          return { calls };
        },
      },
      pollIntervalMs: 50,
    });
    const job = await enqueue(q.db, { kind: "snoozy", maxAttempts: 1 });
    const done = await q.finished(job.id, 3000);
    // max_attempts 1, yet it ran twice: the snooze did not count.
    expect(done).toMatchObject({ state: "completed", attempt: 1, result: { calls: 2 } });
    const runs = await q.runs(job.id);
    expect(runs.map((r) => r.attempt)).toEqual([1, 1]);
    expect(runs[1]!.started_at.getTime() - runs[0]!.finished_at!.getTime()).toBeGreaterThanOrEqual(290);
  });

  test("timeoutMs aborts a hanging handler with reason 'timeout' and fails the attempt", async () => {
    const q = await queueTest();
    let startedAt = 0;
    const aborted = deferred<{ at: number; reason: unknown }>();
    await q.worker({
      handlers: {
        hang: async (_p, ctx) => {
          startedAt = performance.now();
          await untilAborted(ctx.signal).catch((err) => {
            aborted.resolve({ at: performance.now(), reason: ctx.signal.reason });
            throw err;
          });
        },
      },
    });
    const job = await enqueue(q.db, { kind: "hang", timeoutMs: 300, maxAttempts: 1 });
    const { at, reason } = await aborted.promise;
    expect(reason).toBe("timeout");
    expect(at - startedAt).toBeGreaterThanOrEqual(280);
    expect(at - startedAt).toBeLessThan(1000);
    expect(await q.finished(job.id)).toMatchObject({
      state: "failed",
      attempt: 1,
      last_error: { name: "TimeoutError", message: "timed out after 300 ms" },
    });
  });

  test("progress is visible while running and 100 once completed", async () => {
    const q = await queueTest();
    const gate = deferred();
    await q.worker({
      handlers: {
        slow: async (_p, ctx) => {
          await ctx.progress(40, "drawing panels");
          await gate.promise;
          return "ok";
        },
      },
    });
    const job = await enqueue(q.db, { kind: "slow" });
    await waitFor("progress 40", async () => (await q.live(job.id))?.progress === 40);
    expect(await q.live(job.id)).toMatchObject({ state: "running", progress: 40, progress_message: "drawing panels" });
    gate.resolve();
    expect(await q.finished(job.id)).toMatchObject({ state: "completed", progress: 100, result: "ok" });
  });

  // BUG (src/queue/worker.ts heartbeat): the heartbeat snapshots the leases it sends, but then
  // aborts with "lease-lost" every job in `running` missing from the answer, including the jobs
  // claimed during its round trip (never sent). Such a job's handler is aborted and, if it
  // returns anyway, its completion is dropped: the job stays 'running' until its lease expires,
  // is rescued and runs again. Made deterministic here by holding a row lock that blocks one
  // heartbeat while a second job is claimed.
  test("a job claimed while a heartbeat is in flight keeps its lease and completes", async () => {
    const q = await queueTest();
    const gates = { a: deferred(), b: deferred() };
    const started = { a: deferred(), b: deferred() };
    let bAbort: unknown = null;
    await q.worker({
      handlers: {
        gated: async (p: { name: "a" | "b" }, ctx) => {
          ctx.signal.addEventListener("abort", () => {
            if (p.name === "b") bAbort = ctx.signal.reason;
          });
          started[p.name].resolve();
          await gates[p.name].promise;
          return p.name;
        },
      },
      heartbeatMs: 100,
      leaseMs: 30_000,
      pollIntervalMs: 100,
    });
    const a = await enqueue(q.db, { kind: "gated", payload: { name: "a" } });
    await started.a.promise;

    // Lock A's row: the next heartbeat's UPDATE waits on it.
    const hold = deferred();
    const locked = deferred();
    const holder = q
      .pool(1)
      .transaction()
      .execute(async (trx) => {
        await sql`select 1 from jobs where id = ${a.id} for update`.execute(trx);
        locked.resolve();
        await hold.promise;
      });
    await locked.promise;
    await waitFor("a heartbeat blocked on the row lock", async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query like '%locked_until%'`.execute(q.db);
      return rows[0]!.n > 0;
    });
    const b = await enqueue(q.db, { kind: "gated", payload: { name: "b" } });
    await started.b.promise;
    const claimedUntil = (await q.live(b.id))!.locked_until!.getTime();
    hold.resolve();
    await holder;
    // Later heartbeats queue behind the blocked one on A's row lock: once one of them has renewed
    // B's lease, the blocked heartbeat's answer (which did not ask about B) has been judged.
    await waitFor(
      "a heartbeat after the blocked one renewing B's lease",
      async () => bAbort !== null || (await q.live(b.id))!.locked_until!.getTime() > claimedUntil,
    );
    expect(bAbort).toBeNull();

    gates.a.resolve();
    gates.b.resolve();
    expect(await q.finished(a.id)).toMatchObject({ state: "completed", result: "a" });
    expect(await q.finished(b.id, 2000)).toMatchObject({ state: "completed", attempt: 1, result: "b" });
  });

  // The same bug under load: heartbeats during bursts of claims drop completions.
  test("bursts of short jobs all complete promptly, each run once (no completion dropped)", async () => {
    const q = await queueTest();
    const attempts = new Map<string, number>();
    await q.worker({
      handlers: {
        quick: async (_p, ctx) => {
          attempts.set(ctx.id, (attempts.get(ctx.id) ?? 0) + 1);
          await ctx.progress(50);
          await ctx.progress(60);
          return null;
        },
      },
      concurrency: 20,
      heartbeatMs: 100,
    });
    const live = async () => (await sql<{ n: number }>`select count(*)::int as n from jobs`.execute(q.db)).rows[0]!.n;
    const rounds: string[] = [];
    for (let round = 1; round <= 8; round++) {
      await enqueueMany(
        q.db,
        Array.from({ length: 500 }, () => ({ kind: "quick" })),
      );
      // Each round takes a few hundred ms; a lost completion keeps its job running for the 30 s lease.
      const drained = await waitFor("the burst to drain", async () => (await live()) === 0, 3000, 20).then(
        () => true,
        () => false,
      );
      rounds.push(drained ? "drained" : `round ${round}: ${await live()} jobs still live`);
      if (!drained) break;
    }
    expect(rounds).toEqual(Array(8).fill("drained"));
    const { rows } = await sql<{ n: number; first: number }>`
      select count(*)::int as n, count(*) filter (where attempt = 1 and state = 'completed')::int as first from job_history`.execute(
      q.db,
    );
    expect(rows[0]).toEqual({ n: 4000, first: 4000 });
    expect(attempts.size).toBe(4000);
    expect(Math.max(...attempts.values())).toBe(1);
  });
});

describe("fan-in", () => {
  /** `gated` jobs wait for release(name) (and fail permanently when payload.fail); `child` just runs. */
  function fanIn(q: QueueTest) {
    const gates = new Map<string, ReturnType<typeof deferred<void>>>();
    const gate = (name: string) => {
      if (!gates.has(name)) gates.set(name, deferred());
      return gates.get(name)!;
    };
    const handlers: Record<string, Handler> = {
      gated: async (p: { name: string; fail?: boolean }, ctx) => {
        const run = await q.recordStart(ctx.id, ctx.attempt, p.name);
        await Promise.race([gate(p.name).promise, untilAborted(ctx.signal)]);
        await q.recordEnd(run);
        if (p.fail) throw new PermanentJobError(`${p.name} failed`);
        return { name: p.name };
      },
      child: async (_p, ctx) => {
        const run = await q.recordStart(ctx.id, ctx.attempt, "child");
        await q.recordEnd(run);
        return "child done";
      },
    };
    const parents = (specs: { name: string; fail?: boolean }[]) =>
      Promise.all(specs.map((payload) => enqueue(q.db, { kind: "gated", payload, maxAttempts: 1 })));
    return { handlers, release: (name: string) => gate(name).resolve(), parents };
  }

  test("a child of 3 parents waits until all 3 completed, then runs once", async () => {
    const q = await queueTest();
    const f = fanIn(q);
    await q.worker({ handlers: f.handlers, pollIntervalMs: 100 });
    const [p1, p2, p3] = await f.parents([{ name: "p1" }, { name: "p2" }, { name: "p3" }]);
    const child = await enqueue(q.db, { kind: "child", parents: [p1!.id, p2!.id, p3!.id] });
    expect(child.state).toBe("waiting");

    f.release("p1");
    expect((await q.finished(p1!.id)).state).toBe("completed");
    f.release("p2");
    expect((await q.finished(p2!.id)).state).toBe("completed");
    // Children are settled in the transaction that archives their parent: nothing to wait for.
    expect((await q.live(child.id))!.state).toBe("waiting");
    expect(await q.runs(child.id)).toEqual([]);

    f.release("p3");
    const last = await q.finished(p3!.id);
    const done = await q.finished(child.id);
    expect(done).toMatchObject({ state: "completed", attempt: 1, result: "child done" });
    const runs = await q.runs(child.id);
    expect(runs.length).toBe(1);
    expect(runs[0]!.started_at.getTime()).toBeGreaterThanOrEqual(last.finished_at.getTime());
    // Not run again: not live any more, and a child-kind job enqueued now has run since.
    expect(await q.live(child.id)).toBeUndefined();
    await q.finished((await enqueue(q.db, { kind: "child" })).id);
    expect((await q.runs(child.id)).length).toBe(1);
  });

  test("when a parent fails permanently, a waiting child fails at once (default policy) and never runs", async () => {
    const q = await queueTest();
    const f = fanIn(q);
    await q.worker({ handlers: f.handlers, pollIntervalMs: 100 });
    const [p1, p2, p3] = await f.parents([{ name: "p1" }, { name: "p2", fail: true }, { name: "p3" }]);
    const child = await enqueue(q.db, { kind: "child", parents: [p1!.id, p2!.id, p3!.id] });
    const grandchild = await enqueue(q.db, { kind: "child", parents: [child.id] });
    expect(child.state).toBe("waiting");

    f.release("p2");
    expect(await q.finished(p2!.id)).toMatchObject({ state: "failed", last_error: { message: "p2 failed" } });
    const failed = await q.finished(child.id, 2000);
    expect(failed).toMatchObject({
      state: "failed",
      attempt: 0,
      last_error: { message: expect.stringContaining("parent") },
    });
    // …down the tree too, while the other parents are still running.
    expect((await q.finished(grandchild.id, 2000)).state).toBe("failed");
    expect((await q.live(p1!.id))!.state).toBe("running");

    f.release("p1");
    f.release("p3");
    await q.finished(p1!.id);
    await q.finished(p3!.id);
    // The other parents' completions (which settle children in their transaction) did not revive it.
    expect(await q.live(child.id)).toBeUndefined();
    expect(await q.runs(child.id)).toEqual([]);
    expect((await q.history(child.id))!.state).toBe("failed");
  });

  test("with onParentFailure 'proceed', the child still waits for every parent, then runs", async () => {
    const q = await queueTest();
    const f = fanIn(q);
    await q.worker({ handlers: f.handlers, pollIntervalMs: 100 });
    const [p1, p2, p3] = await f.parents([{ name: "p1" }, { name: "p2", fail: true }, { name: "p3" }]);
    const child = await enqueue(q.db, { kind: "child", parents: [p1!.id, p2!.id, p3!.id], onParentFailure: "proceed" });

    f.release("p2");
    expect((await q.finished(p2!.id)).state).toBe("failed");
    f.release("p1");
    await q.finished(p1!.id);
    // Settled with p1's completion, in its transaction: still waiting for p3.
    expect((await q.live(child.id))!.state).toBe("waiting");

    f.release("p3");
    expect(await q.finished(child.id)).toMatchObject({ state: "completed", result: "child done" });
    expect((await q.runs(child.id)).length).toBe(1);
  });

  test("a child enqueued after its parents completed is ready at once", async () => {
    const q = await queueTest();
    const f = fanIn(q);
    await q.worker({ handlers: f.handlers, pollIntervalMs: 100 });
    const ps = await f.parents([{ name: "a" }, { name: "b" }]);
    f.release("a");
    f.release("b");
    for (const p of ps) await q.finished(p.id);
    const child = await enqueue(q.db, { kind: "child", parents: ps.map((p) => p.id) });
    expect(child).toMatchObject({ state: "ready", created: true });
    expect((await q.finished(child.id)).state).toBe("completed");
  });
});

describe("graceful stop", () => {
  test("stop() while a short job runs: it finishes and is recorded; nothing new is claimed", async () => {
    const q = await queueTest();
    const started = deferred();
    const w = await q.worker({
      handlers: {
        short: async () => {
          started.resolve();
          // The job's work: stop() is called and another job enqueued while it runs.
          await Bun.sleep(300);
          return "finished";
        },
      },
      shutdownDeadlineMs: 5000,
    });
    const job = await enqueue(q.db, { kind: "short" });
    await started.promise;
    const t0 = performance.now();
    const stopping = q.stopWorker(w);
    const late = await enqueue(q.db, { kind: "short" });
    await stopping;
    const took = performance.now() - t0;
    expect(took).toBeGreaterThan(150);
    expect(took).toBeLessThan(4000);
    expect(await q.history(job.id)).toMatchObject({ state: "completed", result: "finished" });
    expect(await q.live(late.id)).toMatchObject({ state: "ready", attempt: 0 });
  });

  test("past shutdownDeadlineMs the handler is aborted with 'shutdown' and the job is released, its attempt not spent", async () => {
    const q = await queueTest();
    const started = deferred();
    let reason: unknown;
    const w = await q.worker({
      handlers: {
        hang: async (_p, ctx) => {
          started.resolve();
          await untilAborted(ctx.signal).catch((err) => {
            reason = ctx.signal.reason;
            throw err;
          });
        },
      },
      shutdownDeadlineMs: 300,
    });
    const job = await enqueue(q.db, { kind: "hang", maxAttempts: 1 });
    await started.promise;
    const t0 = performance.now();
    await q.stopWorker(w);
    const took = performance.now() - t0;
    expect(reason).toBe("shutdown");
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(2000);
    expect(await q.live(job.id)).toMatchObject({ state: "ready", attempt: 0, lease_token: null, locked_by: null });
    expect(await q.history(job.id)).toBeUndefined();

    // max_attempts 1: it can still run, because the released attempt was not spent.
    await q.worker({ handlers: { hang: (_p, ctx) => ({ attempt: ctx.attempt }) } });
    expect(await q.finished(job.id)).toMatchObject({ state: "completed", attempt: 1, result: { attempt: 1 } });
  });
});

describe("LISTEN connection loss", () => {
  test("LISTEN backend terminated: jobs are still picked up by polling, LISTEN reconnects and pickup is fast again", async () => {
    const q = await queueTest();
    const seen = new Map<string, number>();
    await q.worker({ handlers: { ping: (_p, ctx) => void seen.set(ctx.id, performance.now()) }, pollIntervalMs: 1000 });
    const pickup = async () => {
      const t0 = performance.now();
      const job = await enqueue(q.db, { kind: "ping" });
      await waitFor(`pickup of ${job.id}`, () => seen.has(job.id), 5000, 2);
      return seen.get(job.id)! - t0;
    };
    // Woken by NOTIFY, a pickup takes a few ms. With 1 s polling alone, at least 4 of 5 pickups
    // under 150 ms happen by chance about once in 500 runs; one slow pickup is tolerated (load).
    const fastPickups = async () => {
      let fast = 0;
      for (let i = 0; i < 5; i++) {
        // Random gaps: pickups at random phases of the 1 s poll, so only NOTIFY makes them all fast.
        await Bun.sleep(50 + Math.random() * 150);
        if ((await pickup()) < 150) fast++;
      }
      return fast;
    };

    const [old] = await waitFor("the LISTEN backend", async () => {
      const pids = await listenBackends(q);
      return pids.length === 1 ? pids : null;
    });
    expect(await fastPickups()).toBeGreaterThanOrEqual(4);

    const { rows } = await sql<{ ok: boolean }>`select pg_terminate_backend(${old}::int) as ok`.execute(q.db);
    expect(rows[0]!.ok).toBe(true);
    // Right after the loss: still picked up (by the 1 s poll at worst).
    expect(await pickup()).toBeLessThan(2000);
    expect(await pickup()).toBeLessThan(2000);

    const [fresh] = await waitFor(
      "a new LISTEN backend",
      async () => {
        const pids = await listenBackends(q);
        return pids.length === 1 && pids[0] !== old ? pids : null;
      },
      8000,
      50,
    );
    expect(fresh).not.toBe(old);
    // Its first statement is the LISTEN: once it has finished a statement, it listens.
    await waitFor("the new backend's LISTEN", async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity where pid = ${fresh} and state = 'idle' and query <> ''`.execute(
        q.db,
      );
      return rows[0]!.n === 1;
    });
    expect(await fastPickups()).toBeGreaterThanOrEqual(4);
  });
});
