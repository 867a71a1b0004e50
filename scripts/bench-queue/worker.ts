/**
 * A benchmark worker process: `bun scripts/bench-queue/worker.ts <system> <dbUrl> <concurrency>`,
 * spawned by main.ts with an IPC channel.
 *
 *   child → parent  {type: "booted"}                 modules loaded, waiting for "go"
 *   parent → child  {type: "go"}                     start the system's worker
 *   child → parent  {type: "started"}                its start() resolved
 *   child → parent  {type: "first", t}               the first handler in this process started at t
 *   child → parent  {type: "pickup", probe, t}       a probe job's handler started at t (ms, wall clock)
 *   parent → child  {type: "stop"}                   stop gracefully, then exit
 *   child → parent  {type: "stopped", handled}       jobs whose handler ran in this process
 *   child → parent  {type: "error", message}
 */
import { type BenchPayload, isSystem, loadAdapter, nowMs, type RunningWorker } from "./adapter.ts";

export type ToWorker = { type: "go" } | { type: "stop" };
export type FromWorker =
  | { type: "booted" }
  | { type: "started" }
  | { type: "first"; t: number }
  | { type: "pickup"; probe: number; t: number }
  | { type: "stopped"; handled: number }
  | { type: "error"; message: string };

const send = (message: FromWorker) => process.send?.(message);

async function main() {
  const [system, url, concurrencyArg] = process.argv.slice(2);
  const concurrency = Number(concurrencyArg);
  if (!system || !isSystem(system) || !url || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error("usage: bun scripts/bench-queue/worker.ts <system> <dbUrl> <concurrency>");
  }
  if (!process.send) throw new Error("worker.ts must be spawned with an IPC channel (see main.ts)");
  const adapter = await loadAdapter(system);

  let handled = 0;
  const onJob = (payload: BenchPayload) => {
    const t = nowMs();
    if (handled++ === 0) send({ type: "first", t });
    if (typeof payload?.probe === "number") send({ type: "pickup", probe: payload.probe, t });
  };

  let worker: RunningWorker | null = null;
  let stopping = false;
  process.on("message", (message: ToWorker) => {
    if (message.type === "go" && !worker) {
      adapter
        .startWorker(url, concurrency, onJob)
        .then((w) => {
          worker = w;
          send({ type: "started" });
          if (stopping) void stop();
        })
        .catch(fail);
    } else if (message.type === "stop") {
      stopping = true;
      if (worker) void stop();
    }
  });

  const stop = async () => {
    try {
      await worker?.stop();
      send({ type: "stopped", handled });
      // Leave the IPC message time to leave before exiting.
      setTimeout(() => process.exit(0), 100);
    } catch (err) {
      fail(err);
    }
  };

  send({ type: "booted" });
}

function fail(err: unknown) {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(`[bench worker ${process.pid}] ${message}`);
  send({ type: "error", message: err instanceof Error ? err.message : String(err) });
  setTimeout(() => process.exit(1), 50);
}

main().catch(fail);
