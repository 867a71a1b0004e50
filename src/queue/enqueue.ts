import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "../db/types.ts";
import type { EnqueueInput } from "./types.ts";

type Executor = Kysely<Database> | Transaction<Database>;

export interface EnqueuedJob {
  id: string;
  queue: string;
  kind: string;
  state: string;
  /** False when an existing job with the same unique key was returned instead. */
  created: boolean;
}

function row(input: EnqueueInput, state: "ready" | "waiting") {
  return {
    // Time-ordered ids keep the primary-key index append-only.
    id: Bun.randomUUIDv7(),
    queue: input.queue ?? "default",
    kind: input.kind,
    payload: JSON.stringify(input.payload ?? {}),
    state,
    priority: input.priority ?? 0,
    run_at: input.runAt ?? sql<Date>`now()`,
    max_attempts: input.maxAttempts ?? 5,
    timeout_ms: input.timeoutMs ?? 300_000,
    backoff_ms: input.backoffMs ?? 1000,
    unique_key: input.uniqueKey ?? null,
    concurrency_key: input.concurrencyKey ?? null,
    concurrency_limit: input.concurrencyKey ? (input.concurrencyLimit ?? 1) : null,
    on_parent_failure: input.onParentFailure ?? "fail",
  };
}

async function existingByKey(db: Executor, key: string): Promise<EnqueuedJob | undefined> {
  const live = await db
    .selectFrom("jobs")
    .select(["id", "queue", "kind", "state"])
    .where("unique_key", "=", key)
    .executeTakeFirst();
  if (live) return { ...live, created: false };
  const done = await db
    .selectFrom("job_history")
    .select(["id", "queue", "kind", "state"])
    .where("unique_key", "=", key)
    .where("state", "=", "completed")
    .orderBy("finished_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return done ? { ...done, created: false } : undefined;
}

async function enqueueWithParents(trx: Transaction<Database>, input: EnqueueInput): Promise<EnqueuedJob> {
  const parents = [...new Set(input.parents)];
  // Lock the live parents: a parent finishing now waits for this commit, then sees this child.
  const live = await trx.selectFrom("jobs").select("id").where("id", "in", parents).forKeyShare().execute();
  const failed = await trx
    .selectFrom("job_history")
    .select("id")
    .where("id", "in", parents)
    .where("state", "in", ["failed", "cancelled"])
    .execute();
  const doomed = failed.length > 0 && (input.onParentFailure ?? "fail") === "fail";
  // A doomed child goes in 'waiting' so that settling its failed parents fails it.
  const values = row(input, live.length > 0 || doomed ? "waiting" : "ready");
  const inserted = await trx
    .insertInto("jobs")
    .values(values)
    .onConflict((oc) => oc.column("unique_key").where("unique_key", "is not", null).doNothing())
    .returning(["id", "queue", "kind", "state"])
    .executeTakeFirst();
  if (!inserted) return (await existingByKey(trx, input.uniqueKey!))!;
  await trx
    .insertInto("job_parents")
    .values(parents.map((parent_id) => ({ parent_id, child_id: inserted.id })))
    .execute();
  if (doomed) {
    await sql`select inkreel_jobs_settle_children(${sql.val(failed.map((f) => f.id))}::uuid[])`.execute(trx);
    const after = await trx.selectFrom("job_history").select("state").where("id", "=", inserted.id).executeTakeFirst();
    if (after) return { ...inserted, state: after.state, created: true };
  }
  return { ...inserted, created: true };
}

/**
 * Adds a job. Pass a transaction to commit it together with the state change it belongs to.
 * With `uniqueKey`, an existing live (or completed) job with that key is returned instead.
 */
export async function enqueue(db: Executor, input: EnqueueInput): Promise<EnqueuedJob> {
  if (input.uniqueKey) {
    const existing = await existingByKey(db, input.uniqueKey);
    if (existing) return existing;
  }
  if (input.parents?.length) {
    return db.isTransaction
      ? enqueueWithParents(db as Transaction<Database>, input)
      : db.transaction().execute((trx) => enqueueWithParents(trx, input));
  }
  const inserted = await db
    .insertInto("jobs")
    .values(row(input, "ready"))
    .onConflict((oc) => oc.column("unique_key").where("unique_key", "is not", null).doNothing())
    .returning(["id", "queue", "kind", "state"])
    .executeTakeFirst();
  if (inserted) return { ...inserted, created: true };
  // Lost a race with a concurrent enqueue of the same key.
  return (await existingByKey(db, input.uniqueKey!))!;
}

/** Adds many independent jobs in one INSERT (no parents; unique keys skip duplicates). */
export async function enqueueMany(db: Executor, inputs: EnqueueInput[]): Promise<EnqueuedJob[]> {
  if (inputs.length === 0) return [];
  const rows = await db
    .insertInto("jobs")
    .values(inputs.map((i) => row(i, "ready")))
    .onConflict((oc) => oc.column("unique_key").where("unique_key", "is not", null).doNothing())
    .returning(["id", "queue", "kind", "state"])
    .execute();
  return rows.map((r) => ({ ...r, created: true }));
}
