import { openListenConnection } from "../db/listen.ts";
import type { Logger } from "../log.ts";

export const WAKE_CHANNEL = "inkreel_jobs";
export const CANCEL_CHANNEL = "inkreel_jobs_cancel";
export const LISTEN_APPLICATION_NAME = "inkreel-listen";

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
 * LISTEN for wake-ups and cancellations on a dedicated, self-reconnecting connection
 * (db/listen.ts). Only an accelerator: the worker's polling keeps everything correct when
 * notifications are lost (e.g. behind a transaction-mode pooler). A first connection that fails
 * is the caller's error (the worker then polls only).
 */
export function listen(connectionString: string, log: Logger, handlers: ListenHandlers): Promise<Listener> {
  return openListenConnection(
    {
      connectionString,
      channels: [WAKE_CHANNEL, CANCEL_CHANNEL],
      applicationName: LISTEN_APPLICATION_NAME,
      name: "listen",
      log,
      firstFailure: "throw",
    },
    {
      notify: (channel, payload) => (channel === WAKE_CHANNEL ? handlers.wake(payload) : handlers.cancel(payload)),
      connected: (_client, reconnected) => {
        if (reconnected) handlers.reconnected();
      },
    },
  );
}
