// Fan-in when the last parents of a child finish at the same moment, in two transactions: each
// sees the other's parent still live in its own snapshot. Made deterministic with two open
// transactions on two connections, instead of hoping two workers collide.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { claimJobs, enqueue } from "../../src/queue/index.ts";
import { queueTest, waitFor } from "../support/queue.ts";

const q = await queueTest();

/** A connection with a transaction open on it. */
async function openTransaction() {
  const client = new pg.Client({ connectionString: q.url });
  await client.connect();
  await client.query("begin");
  const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
  return { client, pid: rows[0]!.pid };
}

const complete = (client: pg.Client, job: { id: string; lease_token: string }) =>
  client.query("select inkreel_jobs_complete(array[$1]::uuid[], array[$2]::uuid[], array['null']::jsonb[])", [
    job.id,
    job.lease_token,
  ]);

describe("fan-in under concurrent completions", () => {
  test.each(["complete", "fail"] as const)(
    "the last two parents finished at once (%s): the child is made ready, never left waiting",
    async (how) => {
      const queue = `race-${how}`;
      const parents = await Promise.all([1, 2].map(() => enqueue(q.db, { kind: "parent", queue, maxAttempts: 1 })));
      const child = await enqueue(q.db, {
        kind: "child",
        queue: `${queue}-child`,
        parents: parents.map((p) => p.id),
        onParentFailure: "proceed",
      });
      expect(child.state).toBe("waiting");
      const claimed = await claimJobs(q.db, { queues: [queue], limit: 2, workerId: "race", leaseMs: 60_000 });
      expect(claimed).toHaveLength(2);

      const first = await openTransaction();
      const second = await openTransaction();
      try {
        const finish = (client: pg.Client, job: (typeof claimed)[number]) =>
          how === "complete"
            ? complete(client, job)
            : client.query(
                `select inkreel_jobs_fail(array[$1]::uuid[], array[$2]::uuid[],
                   array['{"message":"no"}']::jsonb[], array[true])`,
                [job.id, job.lease_token],
              );
        await finish(first.client, claimed[0]!);
        // The second starts while the first is not committed: its snapshot still holds parent 1.
        let returned = false;
        const secondDone = finish(second.client, claimed[1]!).then(() => {
          returned = true;
        });
        // It either returns (it did not wait for the first) or blocks on the child's lock.
        const outcome = await waitFor("the second completion to return or wait on a lock", async () => {
          if (returned) return "returned" as const;
          const waiting = await sql<{ n: number }>`
            select count(*)::int as n from pg_stat_activity where pid = ${second.pid} and wait_event_type = 'Lock'`.execute(
            q.db,
          );
          return waiting.rows[0]!.n > 0 ? ("blocked" as const) : null;
        });
        expect(outcome).toBe("blocked");
        await first.client.query("commit");
        await secondDone;
        await second.client.query("commit");
      } finally {
        await Promise.all([first.client.end(), second.client.end()]);
      }

      const row = await q.db.selectFrom("jobs").select("state").where("id", "=", child.id).executeTakeFirst();
      expect(row?.state).toBe("ready");
    },
  );
});
