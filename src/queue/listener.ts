import createSubscriber from "pg-listen";
import type { Logger } from "../log.ts";

export const WAKE_CHANNEL = "inkreel_jobs";
export const CANCEL_CHANNEL = "inkreel_jobs_cancel";

export interface Listener {
  close(): Promise<void>;
}

/**
 * LISTEN for wake-ups and cancellations on a dedicated connection that reconnects by itself
 * (pg-listen, with a periodic liveness query). Only an accelerator: the worker's polling keeps
 * everything correct when notifications are lost, e.g. behind a transaction-mode pooler.
 */
export async function listen(
  connectionString: string,
  log: Logger,
  handlers: { wake(queue: string): void; cancel(id: string): void; reconnected(): void },
): Promise<Listener> {
  const subscriber = createSubscriber(
    { connectionString, application_name: "inkreel-listen" },
    { parse: (s) => s, paranoidChecking: 2000, retryInterval: 500, retryLimit: Number.POSITIVE_INFINITY, retryTimeout: 365 * 86_400_000 },
  );
  subscriber.notifications.on(WAKE_CHANNEL, (queue: string) => handlers.wake(queue));
  subscriber.notifications.on(CANCEL_CHANNEL, (id: string) => handlers.cancel(id));
  subscriber.events.on("error", (err) => log.warn("listen connection error; polling continues", { error: err }));
  subscriber.events.on("reconnect", (attempt) => log.info("listen connection reconnecting", { attempt }));
  subscriber.events.on("connected", () => handlers.reconnected());
  await subscriber.connect();
  await subscriber.listenTo(WAKE_CHANNEL);
  await subscriber.listenTo(CANCEL_CHANNEL);
  return { close: () => subscriber.close() };
}
