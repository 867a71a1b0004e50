/** Spawns and drives the worker processes (worker.ts) of one measurement. */
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { SystemName } from "./adapter.ts";
import type { FromWorker, ToWorker } from "./worker.ts";

const WORKER_ENTRY = join(import.meta.dir, "worker.ts");
const BOOT_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

export interface WorkerGroup {
  /** Tells every process to start its system's worker. */
  go(): void;
  /** Resolves once every process's worker start() resolved. */
  started(): Promise<void>;
  /** Wall-clock ms of the first handler start in any process; resolves once one started. */
  firstJob(): Promise<number>;
  /** Called for each probe job's handler start: probe number and wall-clock ms. */
  onPickup(listener: (probe: number, t: number) => void): void;
  /** Rejects when a process reports an error or exits unexpectedly. */
  failure: Promise<never>;
  /** Graceful stop of every process; resolves with the number of handlers run in all of them. */
  stop(): Promise<number>;
  /** Immediate SIGKILL of every process still running. */
  kill(): void;
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Spawns `count` worker processes and resolves once all of them loaded their modules. */
export async function spawnWorkers(
  system: SystemName,
  url: string,
  count: number,
  concurrency: number,
): Promise<WorkerGroup> {
  const listeners: Array<(probe: number, t: number) => void> = [];
  const failure = deferred<never>();
  const first = deferred<number>();
  let firstAt = Infinity;
  failure.promise.catch(() => {}); // observed by whoever races it
  let stopping = false;

  const children = Array.from({ length: count }, (_, index) => {
    const booted = deferred<void>();
    const started = deferred<void>();
    const stopped = deferred<number>();
    const proc: Subprocess = Bun.spawn({
      cmd: [process.execPath, WORKER_ENTRY, system, url, String(concurrency)],
      // Worker stdout carries only per-job logs, if any; errors come on stderr.
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, LOG_LEVEL: "warn" },
      serialization: "json",
      ipc(message: FromWorker) {
        switch (message.type) {
          case "booted":
            booted.resolve();
            break;
          case "started":
            started.resolve();
            break;
          case "first":
            firstAt = Math.min(firstAt, message.t);
            first.resolve(firstAt);
            break;
          case "pickup":
            for (const listener of listeners) listener(message.probe, message.t);
            break;
          case "stopped":
            stopped.resolve(message.handled);
            break;
          case "error":
            failure.reject(new Error(`worker ${index} (${system}): ${message.message}`));
            break;
        }
      },
    });
    void proc.exited.then((code) => {
      const err = new Error(`worker ${index} (${system}) exited with code ${code}`);
      if (!stopping || code !== 0) failure.reject(err);
      booted.reject(err);
      started.reject(err);
      stopped.reject(err);
    });
    for (const d of [booted, started, stopped]) d.promise.catch(() => {});
    return { proc, booted, started, stopped };
  });

  const group: WorkerGroup = {
    go() {
      for (const c of children) c.proc.send({ type: "go" } satisfies ToWorker);
    },
    async started() {
      await withTimeout(Promise.all(children.map((c) => c.started.promise)), BOOT_TIMEOUT_MS, "worker start");
    },
    async firstJob() {
      await first.promise;
      return firstAt;
    },
    onPickup(listener) {
      listeners.push(listener);
    },
    failure: failure.promise,
    async stop() {
      stopping = true;
      for (const c of children) if (c.proc.exitCode === null) c.proc.send({ type: "stop" } satisfies ToWorker);
      try {
        const handled = await withTimeout(
          Promise.all(children.map((c) => c.stopped.promise)),
          STOP_TIMEOUT_MS,
          "worker stop",
        );
        await Promise.all(children.map((c) => c.proc.exited));
        return handled.reduce((a, b) => a + b, 0);
      } finally {
        group.kill();
      }
    },
    kill() {
      stopping = true;
      for (const c of children) if (c.proc.exitCode === null && !c.proc.killed) c.proc.kill("SIGKILL");
    },
  };

  try {
    await withTimeout(Promise.all(children.map((c) => c.booted.promise)), BOOT_TIMEOUT_MS, "worker boot");
  } catch (err) {
    group.kill();
    throw err;
  }
  return group;
}
