import pg from "pg";
import type { Logger } from "../log.ts";

export interface ListenOptions {
  connectionString: string;
  channels: string[];
  /** Names the connection in pg_stat_activity. */
  applicationName: string;
  /** Names it in log lines. */
  name: string;
  log: Logger;
  /** "throw": a first connection that fails is the caller's error; "retry": keep trying in the background. */
  firstFailure: "throw" | "retry";
  /** Liveness query period; also when `check` runs (leader election). */
  checkEveryMs?: number;
  checkTimeoutMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface ListenHandlers {
  notify(channel: string, payload: string): void;
  /**
   * A (re)connection is live and listening. After a reconnection notifications may have been
   * missed: re-read from the log. Session state (advisory locks) starts afresh on `client`.
   */
  connected?(client: pg.Client, reconnected: boolean): void | Promise<void>;
  /** The connection was lost (session state, e.g. advisory locks, is gone with it). */
  lost?(): void;
  /** The periodic liveness query on the live connection; `select 1` when absent. */
  check?(client: pg.Client): Promise<unknown>;
}

export interface ListenConnection {
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * LISTEN on channels over a dedicated connection that reconnects by itself (exponential
 * backoff), with a periodic liveness query to notice a silently dead connection. Every client
 * keeps its error handler for its whole life, so a terminated backend never surfaces as an
 * unhandled error. Hooks let a caller keep session state on the connection (the realtime
 * broadcaster's leader lock) and catch up after a reconnection. The queue's wake-ups and the
 * project event log both listen through this.
 */
export async function openListenConnection(
  options: ListenOptions,
  handlers: ListenHandlers,
): Promise<ListenConnection> {
  const { connectionString, channels, log, name } = options;
  const checkEveryMs = options.checkEveryMs ?? 2000;
  const checkTimeoutMs = options.checkTimeoutMs ?? 3000;
  const retryMinMs = options.retryMinMs ?? 250;
  const retryMaxMs = options.retryMaxMs ?? 5000;
  for (const channel of channels)
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`invalid channel name: ${channel}`);

  let client: pg.Client | null = null;
  let closed = false;
  let reconnecting = false;
  let checking = false;

  async function open(): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString,
      application_name: options.applicationName,
      keepAlive: true,
      connectionTimeoutMillis: 5000,
    });
    c.on("error", (err) => {
      if (c === client) lost(err);
    });
    c.on("end", () => {
      if (c === client) lost(new Error("connection ended"));
    });
    c.on("notification", (n) => {
      if (channels.includes(n.channel) && n.payload) handlers.notify(n.channel, n.payload);
    });
    try {
      await c.connect();
      await c.query(channels.map((ch) => `LISTEN ${ch}`).join("; "));
      return c;
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
  }

  async function adopt(c: pg.Client, reconnected: boolean) {
    client = c;
    try {
      await handlers.connected?.(c, reconnected);
    } catch (err) {
      log.warn(`${name}: connected hook failed`, { error: err as Error });
    }
  }

  function lost(err: Error) {
    if (closed || reconnecting) return;
    log.warn(`${name} connection lost; polling covers the gap while it reconnects`, { error: err });
    const dead = client;
    client = null;
    void dead?.end().catch(() => {});
    handlers.lost?.();
    void reconnect();
  }

  async function reconnect() {
    reconnecting = true;
    for (let attempt = 0; !closed; attempt++) {
      await Bun.sleep(Math.min(retryMaxMs, retryMinMs * 2 ** attempt));
      if (closed) break;
      try {
        const c = await open();
        if (closed) {
          await c.end().catch(() => {});
          break;
        }
        log.info(`${name} connection restored`, { attempts: attempt + 1 });
        reconnecting = false;
        await adopt(c, true);
        return;
      } catch (err) {
        log.debug(`${name} reconnect attempt failed`, { error: err as Error, attempt: attempt + 1 });
      }
    }
    reconnecting = false;
  }

  async function check() {
    const c = client;
    if (!c || reconnecting || checking || closed) return;
    checking = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("liveness query timed out")), checkTimeoutMs);
    });
    try {
      await Promise.race([handlers.check ? handlers.check(c) : c.query("select 1"), timeout]);
    } catch (err) {
      if (c === client) lost(err as Error);
    } finally {
      clearTimeout(timer);
      checking = false;
    }
  }

  try {
    await adopt(await open(), false);
  } catch (err) {
    if (options.firstFailure === "throw") throw err;
    log.warn(`${name} could not connect; retrying in the background`, { error: err as Error });
    void reconnect();
  }
  const checkTimer = setInterval(() => void check(), checkEveryMs);
  return {
    get connected() {
      return client !== null;
    },
    async close() {
      closed = true;
      clearInterval(checkTimer);
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
