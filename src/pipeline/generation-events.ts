import type { Selectable } from "kysely";
import type { GenerationEventData, GenerationEventName } from "../core/generation-event.ts";
import type { Db } from "../db/client.ts";
import type { GenerationsTable } from "../db/types.ts";
import { appendUserEvent } from "../realtime/user-events.ts";

/** The columns of a generation its events repeat: read back by the statement that changed it. */
export const LOGGED_COLUMNS = ["id", "user_id", "kind", "status", "progress"] as const;

type Logged = Pick<Selectable<GenerationsTable>, (typeof LOGGED_COLUMNS)[number]>;

/**
 * Logs a generation's new state on its owner's feed (SSE, WebSocket "generations", Realtime
 * topic user:<id>). Call it in the transaction that changed the row, last: the append holds the
 * feed's lock until commit, and an event then never tells of a change that rolled back.
 */
export async function logGeneration(
  trx: Db,
  event: GenerationEventName,
  g: Logged,
  extra: Pick<GenerationEventData, "message" | "work_ids" | "error"> = {},
): Promise<void> {
  await appendUserEvent(trx, g.user_id, event, {
    task_id: g.id,
    kind: g.kind,
    status: g.status,
    progress: g.progress,
    ...extra,
  });
}
