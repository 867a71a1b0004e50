import { createDb, type DbOptions } from "../db/client.ts";
import { createLogger, type Logger } from "../log.ts";
import { type JobAttempt, type JobObserver, noJobObserver } from "../metrics/observers.ts";
import { rescueExpired } from "./admin.ts";
import { abort, Context, type ContextShared, type Running } from "./attempt.ts";
import { type ClaimKey, claimJobs } from "./claim.ts";
import {
  type Completion,
  completeJobs,
  type Failure,
  failJobs,
  finishCancelled,
  heartbeatJobs,
  releaseJobs,
} from "./finish.ts";
import { type Listener, listen } from "./listener.ts";
import { enqueueDueSchedules } from "./schedules.ts";
import { type ClaimedJob, type Handler, PermanentJobError, SnoozeJob } from "./types.ts";

export interface WorkerOptions {
  connectionString: string;
  handlers: Record<string, Handler>;
  queues?: string[];
  concurrency?: number;
  log?: Logger;
  /** "poll-only" for transaction-mode poolers, where LISTEN does not work. */
  mode?: "listen" | "poll-only";
  pollIntervalMs?: number;
  leaseMs?: number;
  heartbeatMs?: number;
  rescueIntervalMs?: number;
  /** Also enqueue due recurring jobs (any number of workers may; each run is enqueued once). */
  schedules?: boolean;
  /** How long stop() lets in-flight jobs finish before aborting and releasing them. */
  shutdownDeadlineMs?: number;
  /**
   * Jobs claimed ahead of free slots and held (leased) in memory, so that short jobs are not
   * bound by one claim round trip per slot (default 1000). Used only while recent jobs average
   * under `fastJobMs` (default 10): a full local queue then drains within about
   * localQueueSize × fastJobMs / concurrency (1 s), and slow jobs such as renders are never
   * hoarded away from other workers. 0 disables.
   */
  localQueueSize?: number;
  fastJobMs?: number;
  workerId?: string;
  /** Told how every attempt ends and how many jobs each sweep rescues (the process's metrics). */
  observer?: JobObserver;
  /** Receives this worker's database pool (the process's metrics report its use). */
  onPool?: DbOptions["onPool"];
}

export interface Worker {
  readonly id: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Jobs this worker is running now. */
  running(): number;
}

const FULL_SCAN_MS = 250;

/** Claim order: priority, then run_at, then id. */
function compareKeys(a: ClaimKey, b: ClaimKey): number {
  const byText = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return a.priority - b.priority || byText(a.run_at, b.run_at) || byText(a.id, b.id);
}

const errorInfo = (err: unknown) =>
  err instanceof Error ? { name: err.name, message: err.message } : { name: "Error", message: String(err) };

export function createWorker(options: WorkerOptions): Worker {
  const id = options.workerId ?? `${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const queues = options.queues ?? ["default"];
  const concurrency = options.concurrency ?? 10;
  const leaseMs = options.leaseMs ?? 30_000;
  const heartbeatMs = options.heartbeatMs ?? Math.min(1000, leaseMs / 3);
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const log = (options.log ?? createLogger("info")).child({ worker_id: id });
  const localQueueSize = options.localQueueSize ?? 1000;
  const fastJobMs = options.fastJobMs ?? 10;
  const db = createDb(options.connectionString, {
    max: 4,
    onPool: options.onPool,
    prepare: options.mode !== "poll-only",
  });
  const observer = options.observer ?? noJobObserver;
  const running = new Map<string, Running>();
  // Claimed, leased, not started yet (the local queue).
  const buffered: ClaimedJob[] = [];
  // Moving average of handler durations; starts "slow" so nothing is hoarded before we know.
  let avgJobMs = Number.POSITIVE_INFINITY;
  const completions: Completion[] = [];
  const failures: Failure[] = [];
  let flushing: Promise<void> | null = null;
  let listener: Listener | null = null;
  let stopping = false;
  let loopDone: Promise<void> = Promise.resolve();
  const timers: ReturnType<typeof setInterval>[] = [];

  // Wake-ups: a notification, a freed slot or a timer resolves the loop's wait.
  let wakeUp: (() => void) | null = null;
  let woken = false;
  const wake = () => {
    woken = true;
    wakeUp?.();
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken) return resolve();
      const t = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => {
      wakeUp = null;
      woken = false;
    });

  /** Sends buffered completions and failures, one batch per round trip. */
  function flush(): Promise<void> {
    if (flushing) return flushing;
    flushing = (async () => {
      // Let the outcomes of this tick join the batch.
      await new Promise((resolve) => setImmediate(resolve));
      while (completions.length || failures.length) {
        const done = completions.splice(0, completions.length);
        const failed = failures.splice(0, failures.length);
        try {
          const [okDone, okFailed] = await Promise.all([completeJobs(db, done), failJobs(db, failed)]);
          for (const d of done)
            if (!okDone.has(d.id)) log.warn("completion of a stale attempt rejected", { job_id: d.id });
          for (const f of failed)
            if (!okFailed.has(f.id)) log.warn("failure of a stale attempt rejected", { job_id: f.id });
        } catch (err) {
          // The leases are still held: retry shortly; if this process dies, rescue takes over.
          log.error("recording job outcomes failed; retrying", { error: err as Error });
          completions.unshift(...done);
          failures.unshift(...failed);
          await Bun.sleep(200);
        }
      }
    })().finally(() => {
      flushing = null;
    });
    return flushing;
  }

  const debug = log.level === "debug";
  const shared: ContextShared = { db, log, leaseMs };

  async function run(job: ClaimedJob, entry: Running) {
    const handler = options.handlers[job.kind];
    const ctx = new Context(shared, job, entry);
    let timeout: ReturnType<typeof setTimeout> | undefined;
    const started = performance.now();
    let outcome: Pick<JobAttempt, "outcome" | "reason"> = { outcome: "lost" };
    try {
      if (!handler) throw new PermanentJobError(`no handler registered for kind "${job.kind}"`);
      let result = handler(job.payload, ctx);
      // Only work that goes asynchronous can overrun: arm the timeout then, not for every job.
      if (typeof (result as PromiseLike<unknown> | null)?.then === "function") {
        timeout = setTimeout(() => abort(entry, "timeout"), job.timeout_ms);
        result = await result;
      }
      if (entry.aborted === "lease-lost") return;
      completions.push({ id: job.id, token: job.lease_token, result: result ?? null });
      outcome = { outcome: "completed" };
      if (debug)
        log.debug("job completed", {
          job_id: job.id,
          kind: job.kind,
          attempt: job.attempt,
          duration_ms: Math.round(performance.now() - started),
        });
    } catch (err) {
      const reason = entry.aborted;
      if (reason === "lease-lost") {
        ctx.log.warn("job lost its lease; another worker owns it now");
      } else if (entry.cancelRequested || reason === "cancelled") {
        outcome = { outcome: "cancelled" };
        await finishCancelled(db, job.id, job.lease_token);
        ctx.log.info("job cancelled while running");
      } else if (reason === "shutdown" || err instanceof SnoozeJob) {
        outcome = { outcome: "released" };
        await releaseJobs(db, [{ id: job.id, token: job.lease_token }], err instanceof SnoozeJob ? err.delayMs : 0);
        ctx.log.info(reason === "shutdown" ? "job released at shutdown" : "job snoozed");
      } else {
        const error =
          reason === "timeout"
            ? { name: "TimeoutError", message: `timed out after ${job.timeout_ms} ms` }
            : errorInfo(err);
        const permanent = err instanceof PermanentJobError;
        failures.push({ id: job.id, token: job.lease_token, error, permanent });
        outcome = { outcome: "failed", reason: reason === "timeout" ? "timeout" : permanent ? "permanent" : "error" };
        ctx.log.warn("job attempt failed", { error, duration_ms: Math.round(performance.now() - started) });
      }
    } finally {
      clearTimeout(timeout);
      const ms = performance.now() - started;
      avgJobMs = Number.isFinite(avgJobMs) ? avgJobMs * 0.9 + ms * 0.1 : ms;
      running.delete(job.id);
      void flush();
      dispatch();
      // Wake the claim loop only when it has something to claim for.
      if (wanted() > 0) wake();
      observer.attempted({
        queue: job.queue,
        kind: handler ? job.kind : "unregistered",
        ...outcome,
        seconds: ms / 1000,
      });
    }
  }

  function startJob(job: ClaimedJob) {
    // `done` is the attempt itself, which needs the entry: a settled placeholder until it starts, just below.
    const entry: Running = { job, aborted: null, controller: null, cancelRequested: false, done: Promise.resolve() };
    running.set(job.id, entry);
    entry.done = run(job, entry);
  }

  /** Starts buffered jobs while slots are free. */
  function dispatch() {
    while (!stopping && running.size < concurrency && buffered.length > 0) startJob(buffered.shift()!);
  }

  /** How many jobs to claim now: free slots, plus a local-queue refill while jobs are short. */
  function wanted(): number {
    const free = concurrency - running.size - buffered.length;
    if (localQueueSize === 0 || avgJobMs >= fastJobMs) return Math.max(0, free);
    // Refill the local queue once three quarters of it have started, in one claim.
    if (buffered.length > localQueueSize / 4) return 0;
    return concurrency + localQueueSize - running.size - buffered.length;
  }

  // Where this worker's last claims ended, per queue (see ClaimOptions.after). A scan from the
  // start runs whenever a resumed scan comes up short and at least every FULL_SCAN_MS, so jobs
  // that sort earlier (a higher priority enqueued later) wait at most that long.
  const resumeAt = new Map<string, ClaimKey>();
  // When each claimed job's lease was last set (claim or renewal), for the heartbeat.
  const leasedAt = new WeakMap<ClaimedJob, number>();
  let lastFullScan = 0;

  async function claim(limit: number): Promise<number> {
    const full = resumeAt.size === 0 || performance.now() - lastFullScan > FULL_SCAN_MS;
    if (full) {
      resumeAt.clear();
      lastFullScan = performance.now();
    }
    const jobs = await claimJobs(db, { queues, limit, workerId: id, leaseMs, after: resumeAt });
    for (const job of jobs) {
      const last = resumeAt.get(job.queue);
      if (!last || compareKeys(job, last) > 0)
        resumeAt.set(job.queue, { priority: job.priority, run_at: job.run_at, id: job.id });
    }
    const now = performance.now();
    for (const job of jobs) leasedAt.set(job, now);
    buffered.push(...jobs);
    dispatch();
    // Short from a resumed scan proves nothing about the rows before it: look from the start.
    if (!full && jobs.length < limit) {
      resumeAt.clear();
      return claim(limit - jobs.length).then((more) => jobs.length + more);
    }
    return jobs.length;
  }

  async function loop() {
    while (!stopping) {
      const free = wanted();
      let claimed = 0;
      if (free > 0) {
        try {
          claimed = await claim(free);
        } catch (err) {
          log.error("claim failed", { error: err as Error });
          await Bun.sleep(Math.min(pollIntervalMs, 1000));
        }
      }
      // A full batch means more may be waiting: go again at once. Otherwise wait to be woken.
      if (stopping || (free > 0 && claimed === free)) continue;
      await sleep(pollIntervalMs);
    }
  }

  async function heartbeat() {
    // Judge only the attempts this heartbeat asked about: jobs claimed during its round trip
    // are missing from the answer without having lost anything.
    // Running attempts are always renewed (that is also how a cancel reaches them without
    // NOTIFY); buffered ones only once a third of their lease has passed, so a full local queue
    // does not rewrite a thousand rows every second.
    const sent = [...running.values()];
    const startedAt = performance.now();
    const waiting = buffered.filter((j) => startedAt - (leasedAt.get(j) ?? 0) > leaseMs / 3);
    const leases = [...sent.map((r) => r.job), ...waiting].map((j) => ({ id: j.id, token: j.lease_token }));
    if (leases.length === 0) return;
    try {
      const held = await heartbeatJobs(db, leases, leaseMs);
      for (const job of waiting) if (held.has(job.id)) leasedAt.set(job, startedAt);
      for (const r of sent) {
        if (running.get(r.job.id) !== r) continue;
        if (!held.has(r.job.id)) abort(r, "lease-lost");
        else if (held.get(r.job.id)) cancelLocal(r.job.id);
      }
      for (const job of waiting) {
        if (held.has(job.id) && !held.get(job.id)) continue;
        const at = buffered.indexOf(job);
        if (at < 0) continue;
        buffered.splice(at, 1);
        // Lost (rescued elsewhere): just forget it. Cancel requested: it never started.
        if (held.get(job.id)) await finishCancelled(db, job.id, job.lease_token);
      }
    } catch (err) {
      log.warn("heartbeat failed", { error: err as Error });
    }
  }

  function cancelLocal(jobId: string) {
    const at = buffered.findIndex((j) => j.id === jobId);
    if (at >= 0) {
      const [job] = buffered.splice(at, 1);
      void finishCancelled(db, job!.id, job!.lease_token).catch((err) =>
        log.warn("cancel failed", { error: err as Error }),
      );
      return;
    }
    const r = running.get(jobId);
    if (!r || r.cancelRequested) return;
    r.cancelRequested = true;
    abort(r, "cancelled");
  }

  return {
    id,
    running: () => running.size,
    async start() {
      if (options.mode !== "poll-only") {
        try {
          listener = await listen(options.connectionString, log, {
            wake: (queue) => queues.includes(queue) && wake(),
            cancel: cancelLocal,
            reconnected: wake,
          });
        } catch (err) {
          log.warn("LISTEN unavailable; polling only", { error: err as Error });
        }
      }
      timers.push(setInterval(() => void heartbeat(), heartbeatMs));
      timers.push(
        setInterval(async () => {
          try {
            const rescued = await rescueExpired(db);
            observer.rescued(rescued);
            if (rescued > 0) wake();
            if (options.schedules && (await enqueueDueSchedules(db)) > 0) wake();
          } catch (err) {
            log.warn("maintenance sweep failed", { error: err as Error });
          }
        }, options.rescueIntervalMs ?? 15_000),
      );
      loopDone = loop();
      log.info("worker started", {
        queues,
        concurrency,
        mode: listener ? "listen" : "poll-only",
        kinds: Object.keys(options.handlers),
      });
    },
    async stop() {
      stopping = true;
      wake();
      await loopDone;
      // Jobs claimed but not started go straight back, their attempt unspent.
      const unstarted = buffered.splice(0, buffered.length);
      if (unstarted.length)
        await releaseJobs(
          db,
          unstarted.map((j) => ({ id: j.id, token: j.lease_token })),
          0,
        );
      const deadline = options.shutdownDeadlineMs ?? 10_000;
      const inFlight = [...running.values()];
      const finished = Promise.all(inFlight.map((r) => r.done));
      const timedOut = await Promise.race([finished.then(() => false), Bun.sleep(deadline).then(() => true)]);
      if (timedOut) {
        for (const r of running.values()) abort(r, "shutdown");
        // Handlers that ignore the signal get one more second; their leases expire for rescue.
        await Promise.race([Promise.all([...running.values()].map((r) => r.done)), Bun.sleep(1000)]);
      }
      for (const t of timers) clearInterval(t);
      await flush();
      await listener?.close().catch(() => {});
      await db.destroy();
      log.info("worker stopped", { released: timedOut ? inFlight.length : 0 });
    },
  };
}
