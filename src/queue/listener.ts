import pg from "pg";
import type { Logger } from "../log.ts";

export const WAKE_CHANNEL = "inkreel_jobs";
export const CANCEL_CHANNEL = "inkreel_jobs_cancel";
export const LISTEN_APPLICATION_NAME = "inkreel-listen";

const CHECK_EVERY_MS = 2000;
const CHECK_TIMEOUT_MS = 3000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export interface Listener {
  close(): Promise<void>;
}

export interface ListenHandlers {
  wake(queue: string): void;
  cancel(id: string): void;
  /** After a reconnection: notifications may have been missed, so look now. */
  reconnected(): void;
}

/**
 * LISTEN for wake-ups and cancellations on a dedicated connection that reconnects by itself,
 * with a periodic liveness query to notice a silently dead connection. Only an accelerator: the
 * worker's polling keeps everything correct when notifications are lost (e.g. behind a
 * transaction-mode pooler). Every client keeps an error handler for its whole life, so a
 * terminated backend can never surface as an unhandled error.
 */
export async function listen(connectionString: string, log: Logger, handlers: ListenHandlers): Promise<Listener> {
  let client: pg.Client | null = null;
  let closed = false;
  let reconnecting = false;
  let checkTimer: ReturnType<typeof setInterval> | null = null;

  async function open(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString, application_name: LISTEN_APPLICATION_NAME, keepAlive: true });
    c.on("error", (err) => {
      if (c === client) lost(err);
    });
    c.on("end", () => {
      if (c === client) lost(new Error("connection ended"));
    });
    c.on("notification", (n) => {
      if (n.channel === WAKE_CHANNEL) handlers.wake(n.payload ?? "");
      else if (n.channel === CANCEL_CHANNEL && n.payload) handlers.cancel(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${WAKE_CHANNEL}; LISTEN ${CANCEL_CHANNEL}`);
      return c;
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
  }

  function lost(err: Error) {
    if (closed || reconnecting) return;
    log.warn("listen connection lost; polling continues while it reconnects", { error: err });
    const dead = client;
    client = null;
    void dead?.end().catch(() => {});
    void reconnect();
  }

  async function reconnect() {
    reconnecting = true;
    for (let attempt = 0; !closed; attempt++) {
      await Bun.sleep(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt));
      if (closed) break;
      try {
        const c = await open();
        if (closed) {
          await c.end().catch(() => {});
          break;
        }
        client = c;
        log.info("listen connection restored", { attempts: attempt + 1 });
        handlers.reconnected();
        break;
      } catch (err) {
        log.debug("listen reconnect attempt failed", { error: err as Error, attempt: attempt + 1 });
      }
    }
    reconnecting = false;
  }

  async function check() {
    const c = client;
    if (!c || reconnecting) return;
    const timeout = Bun.sleep(CHECK_TIMEOUT_MS).then(() => {
      throw new Error("liveness query timed out");
    });
    try {
      await Promise.race([c.query("select 1"), timeout]);
    } catch (err) {
      if (c === client) lost(err as Error);
    }
  }

  client = await open();
  checkTimer = setInterval(() => void check(), CHECK_EVERY_MS);
  return {
    async close() {
      closed = true;
      if (checkTimer) clearInterval(checkTimer);
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
