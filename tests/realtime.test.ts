// Live project events: the per-process hub over LISTEN/NOTIFY, SSE (resumable by Last-Event-ID),
// our WebSocket protocol (subscribe/unsubscribe frames), and the Supabase Realtime broadcast (against a local fake).
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { createApp } from "../src/app.ts";
import type { ProjectEventData, ProjectEventName } from "../src/core/project-event.ts";
import { createLogger } from "../src/log.ts";
import { broadcastBody, createBroadcastSender } from "../src/realtime/broadcast.ts";
import { appendEvent, type ProjectEvent } from "../src/realtime/events.ts";
import { createRealtimeHub, type RealtimeHub, type RealtimeHubOptions } from "../src/realtime/hub.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { startFakeRealtime } from "./support/fake-realtime.ts";

const ctx = await createTestContext();
/** A second database, for the broadcast leader election (its own hubs only). */
const bctx = await createTestContext();
const hubs: RealtimeHub[] = [ctx.deps.realtime, bctx.deps.realtime];
// Registered after the contexts: runs before their databases are dropped.
afterAll(async () => {
  await Promise.all(hubs.map((h) => h.close()));
});

function newHub(overrides: Partial<RealtimeHubOptions> = {}, c: TestContext = ctx) {
  const hub = createRealtimeHub({
    db: c.db,
    log: c.deps.log,
    connectionString: c.url,
    checkEveryMs: 100,
    ...overrides,
  });
  hubs.push(hub);
  return hub;
}

/** Resolves once `check()` is truthy; polls quickly, fails after `timeoutMs`. */
async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 120_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

type User = Awaited<ReturnType<TestContext["register"]>>;

async function newProject(user: User, c: TestContext = ctx): Promise<string> {
  const row = await c.db
    .insertInto("projects")
    .values({
      space_id: user.user.current_space_id,
      owner_id: user.user.id,
      name: "Seaside story",
      input_type: "novel",
      input_text: "Once upon a time",
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

const RUN = "7d9f3c1e-2b4a-4c8e-9f10-1a2b3c4d5e6f";
const EXPORT = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";

function append(
  projectId: string,
  event: ProjectEventName = "progress",
  extra: Partial<ProjectEventData> = {},
  c: TestContext = ctx,
) {
  return appendEvent(c.db, event, {
    project_id: projectId,
    run_id: RUN,
    stage: "storyline",
    status: "running",
    progress: 10,
    current_step: "Writing the storyline",
    ...extra,
  });
}

// ---- SSE client over app.handle ------------------------------------------------------------

interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
  retry?: string;
}

function parseFrame(block: string): SseFrame {
  const frame: SseFrame = {};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim();
    const m = /^(id|event|data|retry): ?(.*)$/.exec(line);
    if (m) frame[m[1] as "id" | "event" | "data" | "retry"] = m[2]!;
  }
  return frame;
}

async function openSse(
  projectId: string,
  options: {
    token?: string;
    query?: string;
    headers?: Record<string, string>;
    app?: { handle(r: Request): Promise<Response> };
  } = {},
) {
  const abort = new AbortController();
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const app = options.app ?? ctx.app;
  const response = await app.handle(
    new Request(`http://localhost/api/v1/projects/${projectId}/events${options.query ?? ""}`, {
      headers,
      signal: abort.signal,
    }),
  );
  const frames: SseFrame[] = [];
  let failure: unknown = null;
  if (response.body && response.headers.get("content-type")?.startsWith("text/event-stream")) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          for (let cut = buffer.indexOf("\n\n"); cut >= 0; cut = buffer.indexOf("\n\n")) {
            frames.push(parseFrame(buffer.slice(0, cut)));
            buffer = buffer.slice(cut + 2);
          }
        }
      } catch (err) {
        failure = err;
      }
    })();
    return {
      response,
      frames,
      events: () => frames.filter((f) => f.event),
      ids: () => frames.filter((f) => f.id).map((f) => Number(f.id)),
      failure: () => failure,
      close: async () => {
        abort.abort();
        await reader.cancel().catch(() => {});
      },
    };
  }
  return { response, frames, events: () => frames, ids: () => [], failure: () => failure, close: async () => {} };
}

const alice = await ctx.register("alice");
const bob = await ctx.register("bob");

describe("SSE /api/v1/projects/:id/events", () => {
  test("sends the backlog then live events, in order, as id/event/data frames", async () => {
    const project = await newProject(alice);
    const before = [
      await append(project, "stage", { stage: "storyline", progress: 0 }),
      await append(project, "progress", { progress: 20 }),
    ];
    const sse = await openSse(project, { token: alice.token });
    expect(sse.response.status).toBe(200);
    expect(sse.response.headers.get("content-type")).toStartWith("text/event-stream");
    expect(sse.response.headers.get("cache-control")).toContain("no-cache");
    expect(sse.response.headers.get("x-request-id")).toBeTruthy();
    await waitFor(() => sse.events().length === 2, "the backlog");
    const live = [];
    for (let i = 3; i <= 5; i++)
      live.push(await append(project, "progress", { progress: i * 10, message: `step ${i}` }));
    live.push(await append(project, "completed", { status: "completed", progress: 100, current_step: null }));
    await waitFor(() => sse.events().length === 6, "the live events");
    expect(sse.ids()).toEqual([...before, ...live]);
    const frames = sse.events();
    expect(frames.map((f) => f.event)).toEqual(["stage", "progress", "progress", "progress", "progress", "completed"]);
    expect(JSON.parse(frames[3]!.data!)).toEqual({
      project_id: project,
      run_id: RUN,
      stage: "storyline",
      status: "running",
      progress: 40,
      current_step: "Writing the storyline",
      message: "step 4",
    });
    expect(JSON.parse(frames[5]!.data!)).toMatchObject({ status: "completed", progress: 100, current_step: null });
    expect(sse.frames[0]?.retry).toBeDefined();
    await sse.close();
  });

  test("resuming with Last-Event-ID misses none and repeats none, including events appended while away", async () => {
    const project = await newProject(alice);
    const all: number[] = [];
    for (let i = 0; i < 3; i++) all.push(await append(project, "progress", { progress: i }));
    const first = await openSse(project, { token: alice.token });
    await waitFor(() => first.ids().length === 3, "the first three");
    all.push(await append(project, "progress", { progress: 3 }));
    await waitFor(() => first.ids().length === 4, "the fourth");
    const lastSeen = first.ids().at(-1)!;
    await first.close();

    // While disconnected.
    for (let i = 4; i < 7; i++) all.push(await append(project, "progress", { progress: i }));
    const second = await openSse(project, { token: alice.token, headers: { "Last-Event-ID": String(lastSeen) } });
    // And while the backlog is being read and after.
    const during = Promise.all([
      append(project, "stage", { stage: "art_style" }),
      append(project, "progress", { progress: 8 }),
    ]);
    all.push(...(await during));
    all.push(await append(project, "progress", { progress: 9 }));
    await waitFor(() => second.ids().length >= 6, "the rest");
    // A duplicate would arrive before a later event: once that one is in, nothing more is coming.
    all.push(await append(project, "progress", { progress: 10 }));
    await waitFor(() => second.ids().at(-1) === all.at(-1), "a later event");
    expect([...first.ids(), ...second.ids()]).toEqual([...all].sort((a, b) => a - b));
    await second.close();

    // ?last_event_id= does the same (EventSource cannot set the header on a first connect).
    const third = await openSse(project, { token: alice.token, query: `?last_event_id=${all[6]}` });
    await waitFor(() => third.ids().length === all.length - 7, "the tail");
    expect(third.ids()).toEqual([...all].sort((a, b) => a - b).slice(7));
    await third.close();
  });

  test("concurrent appends reach every subscriber exactly once, in id order", async () => {
    const project = await newProject(alice);
    const early = await openSse(project, { token: alice.token });
    const writes: Promise<number>[] = [];
    for (let i = 0; i < 40; i++) writes.push(append(project, "progress", { progress: i % 100, message: `shot ${i}` }));
    // A subscriber joining mid-burst, resuming from the middle of what exists.
    await waitFor(() => early.ids().length >= 10, "some events");
    const from = early.ids()[4]!;
    const late = await openSse(project, { token: alice.token, headers: { "last-event-id": String(from) } });
    const ids = (await Promise.all(writes)).sort((a, b) => a - b);
    await waitFor(() => early.ids().length === 40, "all forty (early)");
    await waitFor(() => late.ids().length === ids.filter((id) => id > from).length, "the rest (late)");
    expect(early.ids()).toEqual(ids);
    expect(late.ids()).toEqual(ids.filter((id) => id > from));
    await early.close();
    await late.close();
  });

  test("another user's project is 404; a missing token or a bad one is 401; ?token= works", async () => {
    const project = await newProject(alice);
    const theirs = await openSse(project, { token: bob.token });
    expect(theirs.response.status).toBe(404);
    expect(await theirs.response.json()).toMatchObject({ success: false, error: { code: "NOT_FOUND" } });
    const missing = await openSse(crypto.randomUUID(), { token: alice.token });
    expect(missing.response.status).toBe(404);

    const anonymous = await openSse(project);
    expect(anonymous.response.status).toBe(401);
    expect(await anonymous.response.json()).toMatchObject({ success: false, error: { code: "UNAUTHORIZED" } });
    const forged = await openSse(project, { query: "?token=not-a-token" });
    expect(forged.response.status).toBe(401);

    const id = await append(project);
    const viaQuery = await openSse(project, { query: `?token=${encodeURIComponent(alice.token)}` });
    expect(viaQuery.response.status).toBe(200);
    await waitFor(() => viaQuery.ids().length === 1, "the event");
    expect(viaQuery.ids()).toEqual([id]);
    await viaQuery.close();
    // The token in the query never reaches the access log.
    expect(ctx.logs.some((l) => l.includes(alice.token))).toBe(false);

    const bad = await openSse(project, { token: alice.token, headers: { "Last-Event-ID": "soon" } });
    expect(bad.response.status).toBe(400);
    const badPath = await openSse("not-a-uuid", { token: alice.token });
    expect(badPath.response.status).toBe(400);
  });

  test("sends a heartbeat comment (interval injected through the hub)", async () => {
    const hub = newHub({ heartbeatMs: 40 });
    const app = createApp({ ...ctx.deps, realtime: hub });
    const project = await newProject(alice);
    const sse = await openSse(project, { token: alice.token, app });
    await waitFor(() => sse.frames.filter((f) => f.comment === "ping").length >= 2, "two pings");
    await sse.close();
  });

  test("a disconnecting client releases its subscription", async () => {
    const hub = newHub();
    const app = createApp({ ...ctx.deps, realtime: hub });
    const project = await newProject(alice);
    let delivered = 0;
    const watcher = await hub.subscribe(project, "live", (events) => (delivered += events.length));
    watcher.start();
    const sse = await openSse(project, { token: alice.token, app });
    await append(project);
    await waitFor(() => sse.ids().length === 1 && delivered === 1, "the first event");
    await sse.close();
    await append(project);
    await waitFor(() => delivered === 2, "the second event (watcher)");
    expect(sse.ids().length).toBe(1);
    watcher.close();
  });

  test("is documented in OpenAPI as text/event-stream", async () => {
    const spec = (await ctx.call("GET", "/openapi.json")).json;
    const op = spec.paths["/api/v1/projects/{id}/events"].get;
    expect(op.summary).toContain("Server-Sent Events");
    expect(op.description).toContain("Last-Event-ID");
    expect(op.responses["200"].content["text/event-stream"]).toBeDefined();
    expect(op.responses["404"]).toBeDefined();
  });
});

describe("hub", () => {
  test("a subscriber resuming from an older id while a read is under way misses nothing (no timing involved)", async () => {
    // A poll-only hub with a long poll, so reads happen only when a subscriber starts.
    const hub = newHub({ connectionString: null, pollIntervalMs: 600_000 });
    const project = await newProject(alice);
    const ids: number[] = [];
    for (let i = 0; i < 25; i++) ids.push(await append(project));
    const early: number[] = [];
    const late: number[] = [];
    const first = await hub.subscribe(project, ids[19]!, (events) => early.push(...events.map((e) => e.id)));
    // The log is locked: the early subscriber's read (from its cursor, event 20) waits on it.
    const locked = await ctx.db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      await sql`lock table project_events in access exclusive mode`.execute(conn);
      first.start();
      // Asked on another connection: inside a transaction pg_stat_activity is one snapshot.
      await waitFor(async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
           where wait_event_type = 'Lock' and query like '%project_events%'`.execute(ctx.db);
        return rows[0]!.n > 0;
      }, "the early read to wait on the lock");
      // Now one resuming from event 5 starts while that read is under way.
      const second = await hub.subscribe(project, ids[4]!, (events) => late.push(...events.map((e) => e.id)));
      second.start();
      await sql`commit`.execute(conn);
      return second;
    });
    await waitFor(() => early.length === 5 && late.length === 20, "both subscribers served");
    expect(early).toEqual(ids.slice(20));
    expect(late).toEqual(ids.slice(5));
    first.close();
    locked.close();
  });

  test("poll-only mode (no LISTEN connection) still delivers every event", async () => {
    const hub = newHub({ connectionString: null, pollIntervalMs: 30 });
    const project = await newProject(alice);
    const got: number[] = [];
    const sub = await hub.subscribe(project, 0, (events) => got.push(...events.map((e) => e.id)));
    sub.start();
    const ids = [await append(project), await append(project), await append(project)];
    await waitFor(() => got.length === 3, "three events by polling");
    expect(got).toEqual(ids);
    sub.close();
  });

  test("after the LISTEN connection is killed it reconnects and re-reads the log", async () => {
    const hub = newHub({ pollIntervalMs: 60_000 }); // no backstop poll within the test: only the reconnection re-read
    const project = await newProject(alice);
    const got: number[] = [];
    const sub = await hub.subscribe(project, "live", (events) => got.push(...events.map((e) => e.id)));
    sub.start();
    const first = await append(project);
    await waitFor(() => got.length === 1, "the first event");
    const admin = new pg.Client({ connectionString: ctx.url });
    await admin.connect();
    const killed = await admin.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'inkreel-events' and datname = current_database() and pid <> pg_backend_pid()",
    );
    expect(killed.rowCount).toBeGreaterThan(0);
    // Appended while the bus is down: no NOTIFY reaches it.
    const second = await append(project);
    const third = await append(project);
    await waitFor(() => got.length === 3, "the events missed during the outage", 8000);
    expect(got).toEqual([first, second, third]);
    await admin.end();
    sub.close();
  });
});

// ---- WebSocket --------------------------------------------------------------------------------

const server = ctx.app.listen({ hostname: "127.0.0.1", port: 0 });
afterAll(() => server.stop(true));
const wsBase = `ws://127.0.0.1:${server.server!.port}/ws`;

async function openWs(token?: string) {
  const ws = new WebSocket(token ? `${wsBase}?token=${encodeURIComponent(token)}` : wsBase);
  // biome-ignore lint: frames are arbitrary JSON
  const frames: any[] = [];
  ws.addEventListener("message", (m) => frames.push(JSON.parse(String(m.data))));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("websocket failed to open")), { once: true });
  });
  return {
    ws,
    frames,
    send: (msg: unknown) => ws.send(typeof msg === "string" ? msg : JSON.stringify(msg)),
    // biome-ignore lint: frames are arbitrary JSON
    next: (pred: (f: any) => boolean, what: string) => waitFor(() => frames.find(pred), what),
  };
}

describe("WebSocket /ws", () => {
  test("subscribe is acked, then run and export events arrive as the protocol's event types", async () => {
    const project = await newProject(alice);
    await append(project); // before the subscription: not sent (live only without last_event_id)
    const c = await openWs(alice.token);
    c.send({ action: "subscribe", channel: "project", project_id: project });
    await c.next((f) => f.event === "subscribed" && f.project_id === project, "the ack");

    const progress = await append(project, "progress", {
      progress: 60,
      current_step: "Drawing characters",
      stage: "characters",
    });
    await append(project, "stage", { stage: "scenes", status: "running", progress: 70 });
    await append(project, "completed", { status: "completed", progress: 100, current_step: null });
    await append(project, "progress", {
      run_id: null,
      export_id: EXPORT,
      stage: "export",
      progress: 40,
      current_step: "Encoding",
    });
    await append(project, "completed", {
      run_id: null,
      export_id: EXPORT,
      stage: "export",
      status: "completed",
      progress: 100,
    });
    await append(project, "failed", { status: "failed", message: "provider timed out" });
    const data = () => c.frames.filter((f) => f.id !== undefined);
    await waitFor(() => data().length === 6, "six events");
    expect(data().map((f) => f.event)).toEqual([
      "generation.progress",
      "generation.progress",
      "generation.completed",
      "video.progress",
      "export.completed",
      "generation.failed",
    ]);
    expect(data()[0]).toEqual({
      event: "generation.progress",
      project_id: project,
      id: progress,
      data: {
        event_id: progress,
        kind: "progress",
        project_id: project,
        run_id: RUN,
        stage: "characters",
        status: "running",
        progress: 60,
        current_step: "Drawing characters",
        created_at: expect.any(String),
      },
    });
    expect(data()[4].data).toMatchObject({
      export_id: EXPORT,
      run_id: null,
      status: "completed",
      progress: 100,
      kind: "completed",
    });

    // Unsubscribed: nothing more from that project.
    c.send({ action: "unsubscribe", channel: "project", project_id: project });
    await c.next((f) => f.event === "unsubscribed", "the unsubscribe ack");
    await append(project);
    const other = await newProject(alice);
    c.send({ action: "subscribe", channel: "project", project_id: other, last_event_id: 0 });
    const marker = await append(other);
    await c.next((f) => f.id === marker, "the other project's event");
    expect(data().length).toBe(7);
    c.ws.close();
  });

  test("a project without access is an error frame, never data; bad JSON keeps the connection open", async () => {
    const project = await newProject(alice);
    const c = await openWs(bob.token);
    c.send({ action: "subscribe", channel: "project", project_id: project, last_event_id: 0 });
    const err = await c.next((f) => f.event === "error", "an error frame");
    expect(err).toEqual({
      event: "error",
      project_id: project,
      data: { code: "NOT_FOUND", message: "project not found" },
    });

    c.send("{not json");
    await waitFor(() => c.frames.filter((f) => f.event === "error").length === 2, "the bad-JSON error");
    c.send({ action: "dance" });
    c.send({ action: "subscribe", channel: "project", project_id: "nope" });
    await waitFor(() => c.frames.filter((f) => f.event === "error").length === 4, "two more errors");
    expect(c.frames.filter((f) => f.event === "error").map((f) => f.data.code)).toEqual([
      "NOT_FOUND",
      "VALIDATION_ERROR",
      "VALIDATION_ERROR",
      "VALIDATION_ERROR",
    ]);
    c.send({ action: "ping" });
    await c.next((f) => f.event === "pong", "pong");
    expect(c.ws.readyState).toBe(WebSocket.OPEN);

    // Events of alice's project never reach bob.
    await append(project);
    const own = await newProject(bob);
    c.send({ action: "subscribe", channel: "project", project_id: own });
    await c.next((f) => f.event === "subscribed", "bob's own ack");
    const mine = await append(own);
    await c.next((f) => f.id === mine, "bob's own event");
    expect(c.frames.filter((f) => f.project_id === project && f.event !== "error")).toEqual([]);
    c.ws.close();
  });

  test("resumes from last_event_id; without a token the upgrade is refused", async () => {
    const project = await newProject(alice);
    const ids = [await append(project), await append(project), await append(project)];
    const c = await openWs(alice.token);
    c.send({ action: "subscribe", channel: "project", project_id: project, last_event_id: ids[0] });
    await waitFor(() => c.frames.filter((f) => f.id).length === 2, "two resumed events");
    expect(c.frames[0].event).toBe("subscribed");
    expect(c.frames.filter((f) => f.id).map((f) => f.id)).toEqual(ids.slice(1));
    c.ws.close();

    await expect(openWs()).rejects.toThrow();
    await expect(openWs("forged")).rejects.toThrow();
    const res = await fetch(`http://127.0.0.1:${server.server!.port}/ws`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    expect(res.status).toBe(401);
  });
});

// ---- Supabase Realtime broadcast ----------------------------------------------------------------

describe("Supabase Realtime broadcast", () => {
  const fake = startFakeRealtime();
  afterAll(() => fake.stop());
  const logs: string[] = [];
  const log = createLogger("debug", {}, (line) => logs.push(line));
  const target = { url: fake.url, serviceRoleKey: fake.serviceRoleKey };

  const sample = (id: number, event: ProjectEventName, extra: Partial<ProjectEventData> = {}): ProjectEvent => ({
    id,
    event,
    created_at: new Date("2026-11-21T08:00:00Z"),
    data: {
      project_id: "11111111-2222-4333-8444-555555555555",
      run_id: RUN,
      stage: "scenes",
      status: "running",
      progress: 50,
      current_step: "Painting scenes",
      ...extra,
    },
  });

  test("posts {messages: [{topic, event, payload, private}]} with the service role key to /realtime/v1/api/broadcast", async () => {
    const send = createBroadcastSender(target, log);
    const before = fake.requests.length;
    expect(
      await send([
        sample(1, "progress"),
        sample(2, "completed", { run_id: null, export_id: EXPORT, status: "completed", progress: 100 }),
      ]),
    ).toBe(true);
    const req = fake.requests[before]!;
    expect(req).toMatchObject({ method: "POST", path: "/realtime/v1/api/broadcast", status: 202 });
    expect(req.headers.apikey).toBe(fake.serviceRoleKey);
    expect(req.headers.authorization).toBe(`Bearer ${fake.serviceRoleKey}`);
    expect(req.headers["content-type"]).toStartWith("application/json");
    expect(req.body).toEqual(
      broadcastBody(
        [
          sample(1, "progress"),
          sample(2, "completed", { run_id: null, export_id: EXPORT, status: "completed", progress: 100 }),
        ],
        true,
      ),
    );
    expect(fake.messages.slice(-2)).toEqual([
      {
        topic: "project:11111111-2222-4333-8444-555555555555",
        event: "generation.progress",
        private: true,
        payload: {
          event_id: 1,
          kind: "progress",
          project_id: "11111111-2222-4333-8444-555555555555",
          run_id: RUN,
          stage: "scenes",
          status: "running",
          progress: 50,
          current_step: "Painting scenes",
          created_at: "2026-11-21T08:00:00.000Z",
        },
      },
      expect.objectContaining({
        event: "export.completed",
        payload: expect.objectContaining({ export_id: EXPORT, status: "completed" }),
      }),
    ]);
  });

  test("a failure is logged without the key and never thrown", async () => {
    fake.settings.failWith = 500;
    const send = createBroadcastSender(target, log);
    expect(await send([sample(3, "progress")])).toBe(false);
    fake.settings.failWith = null;
    const wrongKey = createBroadcastSender({ ...target, serviceRoleKey: "sb_secret_wrong_key_abcdefghijklmnop" }, log);
    expect(await wrongKey([sample(4, "progress")])).toBe(false);
    const closed = Bun.serve({ port: 0, fetch: () => new Response() });
    const deadUrl = `http://127.0.0.1:${closed.port}`;
    await closed.stop(true);
    const unreachable = createBroadcastSender({ ...target, url: deadUrl, timeoutMs: 2000 }, log);
    expect(await unreachable([sample(5, "progress")])).toBe(false);
    const warnings = logs.filter((l) => l.includes("supabase broadcast"));
    expect(warnings.length).toBe(3);
    expect(warnings[0]).toContain('"status":500');
    for (const line of logs) {
      expect(line).not.toContain(fake.serviceRoleKey);
      expect(line).not.toContain("sb_secret_wrong_key");
    }
  });

  test("of several API processes exactly one broadcasts each committed event; another takes over when it stops", async () => {
    const owner = await bctx.register("caster");
    const project = await newProject(owner, bctx);
    const topic = `project:${project}`;
    const ofProject = () => fake.messages.filter((m) => m.topic === topic);
    const a = newHub({ broadcast: target, log }, bctx);
    const b = newHub({ broadcast: target, log }, bctx);
    await Promise.all([a.start(), b.start()]);
    await waitFor(() => a.isBroadcastLeader() || b.isBroadcastLeader(), "a leader");
    expect(a.isBroadcastLeader() && b.isBroadcastLeader()).toBe(false);

    const ids = [
      await append(project, "stage", {}, bctx),
      await append(project, "progress", {}, bctx),
      await append(project, "completed", { status: "completed", progress: 100 }, bctx),
    ];
    // A rolled-back append is never broadcast.
    await bctx.db
      .transaction()
      .execute(async (trx) => {
        await appendEvent(trx, "failed", {
          project_id: project,
          run_id: RUN,
          status: "failed",
          progress: 0,
          current_step: null,
        });
        throw new Error("roll back");
      })
      .catch(() => {});
    const sentinel = await append(project, "progress", { message: "sentinel" }, bctx);
    await fake.waitUntil(() => ofProject().some((m) => m.payload.event_id === sentinel));
    expect(ofProject().map((m) => m.payload.event_id)).toEqual([...ids, sentinel]);
    expect(ofProject().map((m) => m.event)).toEqual([
      "generation.progress",
      "generation.progress",
      "generation.completed",
      "generation.progress",
    ]);

    const [leader, follower] = a.isBroadcastLeader() ? [a, b] : [b, a];
    await leader.close();
    await waitFor(() => follower.isBroadcastLeader(), "the follower to take over");
    const after = await append(project, "progress", { message: "after failover" }, bctx);
    await fake.waitUntil(() => ofProject().some((m) => m.payload.event_id === after));
    expect(ofProject().filter((m) => m.payload.event_id === after).length).toBe(1);
    expect(ofProject().length).toBe(5);
  });
});
