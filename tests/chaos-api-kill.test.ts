// The API process killed while a client streams SSE: two API processes on one database, a client
// streaming a project's events from the first; the first is SIGKILLed once the client has seen
// some events, and the client resumes on the second with Last-Event-ID. Between them it gets
// every event of the log exactly once, in order.
import { afterAll, describe, expect, test } from "bun:test";
import { type ApiProcess, spawnApi } from "./support/api-process.ts";
import {
  type PipelineWorkerProcess,
  pipelineContext,
  SHORT_STORY,
  spawnPipelineWorker,
  WAIT_MS,
  waitUntil,
} from "./support/pipeline.ts";
import { type SseClient, streamEvents } from "./support/sse-client.ts";

const ctx = await pipelineContext();
const apis: ApiProcess[] = [];
const workers: PipelineWorkerProcess[] = [];
const clients: SseClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([...apis.map((a) => a.stop()), ...workers.map((w) => w.stop(2000))]);
});

const logIds = async (projectId: string) =>
  (
    await ctx.db.selectFrom("project_events").select("id").where("project_id", "=", projectId).orderBy("id").execute()
  ).map((r) => Number(r.id));

describe("the API process killed under an SSE client", () => {
  test("the client resumes on another API process with Last-Event-ID and misses nothing, repeats nothing", async () => {
    const [first, second] = await Promise.all([spawnApi(ctx), spawnApi(ctx)]);
    apis.push(first!, second!);
    expect(first!.base).not.toBe(second!.base);
    const me = await ctx.register("sse");
    const created = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      body: { input: { type: "novel", text: SHORT_STORY } },
    });
    expect(created.status).toBe(201);
    const projectId = created.json.data.id as string;
    const path = `/api/v1/projects/${projectId}/events`;
    const auth = { authorization: `Bearer ${me.token}` };

    const one = await streamEvents(`${first!.base}${path}`, auth);
    clients.push(one);
    workers.push(await spawnPipelineWorker(ctx, { concurrency: 2 }));
    const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    expect(started.status).toBe(202);
    const runId = started.json.data.id as string;

    // Positive signal: the client has seen events of the run, which goes on.
    await waitUntil("the first client to see five events", () => one.events.length >= 5, WAIT_MS, 10);
    await first!.kill9();
    expect(first!.proc.signalCode).toBe("SIGKILL");
    // The stream breaks with the process; what it delivered before is all the client has.
    expect(await one.ended).not.toBeNull();
    const seen = one.events.map((e) => e.id);
    const lastId = seen.at(-1)!;

    const two = await streamEvents(`${second!.base}${path}`, { ...auth, "last-event-id": String(lastId) });
    clients.push(two);
    const run = await ctx.waitForRun(me.token, runId, ["completed", "failed", "cancelled"]);
    expect(run.status).toBe("completed");
    const log = await logIds(projectId);
    const finalId = log.at(-1)!;
    await waitUntil("the second client to reach the last event of the log", () =>
      two.events.some((e) => e.id === finalId),
    );
    two.close();

    const resumed = two.events.map((e) => e.id);
    // Events happened after the kill, and the second client got only those.
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed.every((id) => id > lastId)).toBe(true);
    // Together: the whole log, each event once, in order.
    expect([...seen, ...resumed]).toEqual(log);
    // The payloads are the log's too (the first and last of the resumed part).
    const rows = await ctx.db
      .selectFrom("project_events")
      .select(["id", "event", "data"])
      .where("id", "in", [resumed[0]!, finalId])
      .orderBy("id")
      .execute();
    expect(rows.map((r) => ({ id: Number(r.id), event: r.event as string, data: r.data as unknown }))).toEqual(
      [two.events[0]!, two.events.at(-1)!].map((e) => ({ id: e.id, event: e.event, data: e.data })),
    );
  });
});
