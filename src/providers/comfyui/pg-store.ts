import { sql } from "kysely";
import type { Db } from "../../db/client.ts";
import type { ComfyPromptOwner, ComfyPromptRef, ComfyPromptStore } from "./prompt-store.ts";

/**
 * ComfyUI prompts in the tables fal's requests use: provider_requests holds the live ref (key →
 * server, prompt id) and submit_intents the record of each prompt (provider 'comfyui', its nonce
 * the prompt id): pending once reserved, submitted once the server took it, then downloaded or
 * dead. Each write is its own committed statement or transaction.
 */

/** The intent and the live ref of a prompt about to be sent, in one transaction. */
async function reservePrompt(db: Db, key: string, ref: ComfyPromptRef, owner: ComfyPromptOwner) {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto("submit_intents")
      .values({
        nonce: ref.promptId,
        key,
        provider: "comfyui",
        endpoint_id: ref.server,
        job_id: owner.jobId,
        attempt: owner.attempt,
        request_id: ref.promptId,
      })
      .execute();
    await trx
      .insertInto("provider_requests")
      .values({ key, endpoint_id: ref.server, request_id: ref.promptId })
      .onConflict((oc) =>
        oc.column("key").doUpdateSet({ endpoint_id: ref.server, request_id: ref.promptId, created_at: new Date() }),
      )
      .execute();
  });
}

async function liveRef(db: Db, key: string): Promise<ComfyPromptRef | null> {
  const row = await db
    .selectFrom("provider_requests")
    .select(["endpoint_id", "request_id"])
    .where("key", "=", key)
    .executeTakeFirst();
  return row ? { server: row.endpoint_id, promptId: row.request_id } : null;
}

/** The prompt an earlier attempt of the job downloaded (its output may never have been kept). */
async function downloadedEarlier(db: Db, key: string, owner: { jobId: string; attempt: number }) {
  const row = await db
    .selectFrom("submit_intents")
    .select(["endpoint_id", "request_id"])
    .where("key", "=", key)
    .where("job_id", "=", owner.jobId)
    .where("provider", "=", "comfyui")
    .where("state", "=", "downloaded")
    .where("attempt", "<", owner.attempt)
    .orderBy("created_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.request_id ? { server: row.endpoint_id, promptId: row.request_id } : null;
}

async function acceptPrompt(db: Db, key: string, reserved: string, promptId: string) {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable("submit_intents")
      .set({
        request_id: promptId,
        state: "submitted",
        adopted_by: "answer",
        submitted_at: sql<Date>`clock_timestamp()`,
      })
      .where("nonce", "=", reserved)
      .where("state", "=", "pending")
      .execute();
    if (promptId !== reserved)
      await trx
        .updateTable("provider_requests")
        .set({ request_id: promptId })
        .where("key", "=", key)
        .where("request_id", "=", reserved)
        .execute();
  });
}

async function closePrompt(db: Db, key: string, promptId: string, state: "downloaded" | "dead") {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom("provider_requests").where("key", "=", key).where("request_id", "=", promptId).execute();
    await trx
      .updateTable("submit_intents")
      .set({ state, closed_at: sql<Date>`clock_timestamp()` })
      .where("key", "=", key)
      .where("request_id", "=", promptId)
      .where("state", "in", ["pending", "submitted"])
      .execute();
  });
}

/** The Postgres prompt store of the registry's ComfyUI models. */
export function pgPromptStore(db: Db): ComfyPromptStore {
  return {
    async find(key, owner) {
      const live = await liveRef(db, key);
      if (live || !owner.jobId || owner.attempt === null) return live;
      return downloadedEarlier(db, key, { jobId: owner.jobId, attempt: owner.attempt });
    },
    reserve: (key, ref, owner) => reservePrompt(db, key, ref, owner),
    accepted: (key, reserved, promptId) => acceptPrompt(db, key, reserved, promptId),
    close: (key, promptId, state) => closePrompt(db, key, promptId, state),
  };
}
