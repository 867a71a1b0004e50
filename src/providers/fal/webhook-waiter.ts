import type pg from "pg";
import { type ListenConnection, openListenConnection } from "../../db/listen.ts";
import type { Logger } from "../../log.ts";
import { abortReason } from "./http.ts";

/** The channel the webhook route notifies with fal's request id (src/modules/webhooks). */
export const FAL_WAKE_CHANNEL = "inkreel_fal";

export interface FalWakeupsOptions {
  connectionString: string;
  log: Logger;
  /** How long a notification nobody waited for yet is kept for a wait that starts late (default 10 min). */
  rememberMs?: number;
}

export interface FalWakeups {
  /**
   * Resolves when the webhook of `requestId` arrives (or arrived since the last wait for it), or
   * after `ms` at the latest; rejects with the signal's reason on abort. Meant as `FalConnectionOptions.wait`.
   */
  wait(requestId: string, ms: number, signal?: AbortSignal): Promise<void>;
  /** Resolves once the LISTEN connection is up the first time (tests; the caller need not wait). */
  readonly ready: Promise<void>;
  readonly connected: boolean;
  /** Closes the connection; pending waits are released (their callers poll), later waits are plain timers. */
  stop(): Promise<void>;
}

/** Notifications remembered at most (every process hears every delivery, also for others' requests). */
const MAX_REMEMBERED = 10_000;

/**
 * Wakes fal requests' waiters when their webhook arrives: the route records the delivery and
 * NOTIFYs `inkreel_fal` with the request id; one LISTEN connection per process (db/listen.ts,
 * self-reconnecting) resolves the matching waits. Only an accelerator: a wait always ends by its
 * timeout, and the caller then polls fal, so a lost notification costs latency, never the result.
 *
 * Two races are closed. A webhook that lands between the caller's status poll and its `wait` is
 * remembered (briefly, consumed once) and ends that wait at once. Deliveries missed while the
 * connection was down or not yet up are looked up in fal_webhooks on every (re)connection.
 */
export function createFalWakeups(o: FalWakeupsOptions): FalWakeups {
  const { log } = o;
  const rememberMs = o.rememberMs ?? 10 * 60_000;
  const waiters = new Map<string, Set<() => void>>();
  /** request id → when its notification came, in arrival order (oldest first). */
  const recent = new Map<string, number>();
  let stopped = false;
  let connection: ListenConnection | null = null;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  function remember(requestId: string) {
    const now = Date.now();
    recent.delete(requestId);
    recent.set(requestId, now);
    for (const [id, at] of recent) {
      if (recent.size <= MAX_REMEMBERED && now - at <= rememberMs) break;
      recent.delete(id);
    }
  }

  function wake(requestId: string) {
    const set = waiters.get(requestId);
    if (!set?.size) {
      remember(requestId);
      return;
    }
    for (const done of [...set]) done();
  }

  /** After a (re)connection: deliveries that came while nobody listened, for the requests waited on now. */
  async function catchUp(client: pg.Client) {
    const ids = [...waiters.keys()];
    if (!ids.length) return;
    const { rows } = await client.query<{ request_id: string }>(
      "select distinct request_id from fal_webhooks where request_id = any($1::text[])",
      [ids],
    );
    for (const r of rows) wake(r.request_id);
  }

  const opening = openListenConnection(
    {
      connectionString: o.connectionString,
      channels: [FAL_WAKE_CHANNEL],
      applicationName: "inkreel-fal-wakeups",
      name: "fal wake-ups",
      log,
      firstFailure: "retry",
    },
    {
      notify: (_channel, requestId) => wake(requestId),
      connected: async (client) => {
        markReady();
        await catchUp(client);
      },
    },
  ).then(
    async (c) => {
      connection = c;
      if (stopped) await c.close();
    },
    (err) => log.warn("fal wake-ups could not listen; fal requests are polled", { error: err as Error }),
  );

  return {
    ready,
    get connected() {
      return connection?.connected ?? false;
    },
    wait(requestId, ms, signal) {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      if (recent.delete(requestId)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const set = waiters.get(requestId) ?? new Set();
        waiters.set(requestId, set);
        const cleanup = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          set.delete(done);
          if (!set.size && waiters.get(requestId) === set) waiters.delete(requestId);
        };
        const done = () => {
          cleanup();
          resolve();
        };
        const onAbort = () => {
          cleanup();
          reject(abortReason(signal!));
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", onAbort, { once: true });
        set.add(done);
      });
    },
    async stop() {
      stopped = true;
      await opening;
      await connection?.close();
      for (const set of [...waiters.values()]) for (const done of [...set]) done();
    },
  };
}
