// Direct generations' events on their owner's own feed: task_progress, task_complete and
// task_failed (seed 004's names) over SSE at GET /api/v1/generate/events (resumable with
// Last-Event-ID), the "generations" channel of /ws, and Supabase Realtime broadcast on the topic
// user:<id> (against a local fake). Real generations on the local painter, and one that fal
// refuses (the fake fal answering 422).
import { afterAll, describe, expect, test } from "bun:test";
import { createRealtimeHub } from "../src/realtime/hub.ts";
import { startFakeFal } from "./support/fake-fal.ts";
import { startFakeRealtime } from "./support/fake-realtime.ts";
import { pipelineContext, waitUntil } from "./support/pipeline.ts";

const fal = await startFakeFal();
const realtime = startFakeRealtime();
const ctx = await pipelineContext({
  FAL_KEY: fal.key,
  FAL_BASE_URL: fal.url,
  FAL_POLL_INTERVAL_MS: "20",
  LIMIT_FREE_IMAGES_PER_DAY: "1000",
});
await ctx.startWorker();

/** A second API process's hub on the same database, the one that broadcasts (ctx's has no Supabase). */
const caster = createRealtimeHub({
  db: ctx.db,
  log: ctx.deps.log,
  connectionString: ctx.url,
  checkEveryMs: 100,
  broadcast: { url: realtime.url, serviceRoleKey: realtime.serviceRoleKey },
});
await caster.start();
const server = ctx.app.listen({ hostname: "127.0.0.1", port: 0 });
const wsBase = `ws://127.0.0.1:${server.server!.port}/ws`;
// Registered after the context: runs before its database is dropped.
afterAll(async () => {
  await server.stop(true);
  await caster.close();
  fal.stop();
  realtime.stop();
});

type User = Awaited<ReturnType<typeof ctx.register>>;

interface GenerationData {
  task_id: string;
  kind: string;
  status: string;
  progress: number;
  message?: string;
  work_ids?: string[];
  error?: { code: string; message: string };
}

interface Logged {
  id: number;
  event: string;
  data: GenerationData;
}

// ---- SSE client over app.handle ------------------------------------------------------------

function parseFrame(block: string): { id?: string; event?: string; data?: string; comment?: string } {
  const frame: { id?: string; event?: string; data?: string; comment?: string } = {};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim();
    const m = /^(id|event|data): ?(.*)$/.exec(line);
    if (m) frame[m[1] as "id" | "event" | "data"] = m[2]!;
  }
  return frame;
}

/** The caller's generation events stream, read in the background into `events`. */
async function openSse(options: { token?: string; query?: string; headers?: Record<string, string> }) {
  const abort = new AbortController();
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await ctx.app.handle(
    new Request(`http://localhost/api/v1/generate/events${options.query ?? ""}`, { headers, signal: abort.signal }),
  );
  const events: Logged[] = [];
  if (response.ok && response.body) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (let cut = buffer.indexOf("\n\n"); cut >= 0; cut = buffer.indexOf("\n\n")) {
          const f = parseFrame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (f.event) events.push({ id: Number(f.id), event: f.event, data: JSON.parse(f.data!) });
        }
      }
    })();
  }
  return {
    response,
    events,
    of: (taskId: string) => events.filter((e) => e.data.task_id === taskId),
    close: () => abort.abort(),
  };
}

type Stream = Awaited<ReturnType<typeof openSse>>;

const isEnd = (e: { event: string }) => e.event === "task_complete" || e.event === "task_failed";

/** Waits for the task's final event on the stream; returns the task's events. */
function untilEnd(sse: Stream, taskId: string) {
  return waitUntil(`the end of task ${taskId} on SSE`, () => {
    const mine = sse.of(taskId);
    return mine.some(isEnd) ? mine : null;
  });
}

/** Queues a small local text-to-image generation: its task id and the works it will make. */
async function paint(user: User, body: Record<string, unknown> = {}) {
  const r = await ctx.call("POST", "/api/v1/generate/text-to-image", {
    token: user.token,
    body: { prompt: "雨夜，狐狸坐在茶馆的窗边。", width: 128, height: 96, num_images: 2, seed: 3, ...body },
  });
  expect(r.status).toBe(202);
  return { taskId: r.json.data.task_id as string, workIds: r.json.data.work_ids as string[] };
}

const alice = await ctx.register("alice");
const bob = await ctx.register("bob");

/** Alice's first generation, followed on an SSE stream opened before it was queued. */
let first: Promise<{ sse: Stream; taskId: string; workIds: string[]; events: Logged[] }> | null = null;
function firstGeneration() {
  first ??= (async () => {
    const sse = await openSse({ token: alice.token });
    expect(sse.response.status).toBe(200);
    const { taskId, workIds } = await paint(alice);
    return { sse, taskId, workIds, events: await untilEnd(sse, taskId) };
  })();
  return first;
}

// ---- SSE ---------------------------------------------------------------------------------------

describe("SSE /api/v1/generate/events", () => {
  test("a local text-to-image generation's events arrive in order, ending with task_complete naming its works", async () => {
    const { sse, taskId, workIds, events } = await firstGeneration();
    expect(sse.response.headers.get("content-type")).toStartWith("text/event-stream");
    expect(sse.response.headers.get("cache-control")).toContain("no-cache");
    // Started, one step per picture, done.
    expect(events.map((e) => e.event)).toEqual(["task_progress", "task_progress", "task_progress", "task_complete"]);
    expect(events.map((e) => e.data.progress)).toEqual([5, 50, 90, 100]);
    const ids = events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(events[0]!.data).toEqual({ task_id: taskId, kind: "text_to_image", status: "processing", progress: 5 });
    expect(events.at(-1)!.data).toEqual({
      task_id: taskId,
      kind: "text_to_image",
      status: "completed",
      progress: 100,
      work_ids: workIds,
    });
    // The event tells what the task says.
    const task = await ctx.call("GET", `/api/v1/generate/tasks/${taskId}`, { token: alice.token });
    expect(task.json.data).toMatchObject({ status: "completed", progress: 100, work_ids: workIds });
  });

  test("resuming with Last-Event-ID gives only later events, then the live ones", async () => {
    const { sse, events } = await firstGeneration();
    const resumeAfter = events[1]!.id;
    const resumed = await openSse({ token: alice.token, headers: { "Last-Event-ID": String(resumeAfter) } });
    await waitUntil("the backlog after the resume point", () =>
      resumed.events.length >= sse.events.filter((e) => e.id > resumeAfter).length ? true : null,
    );
    const next = await paint(alice, { num_images: 1 });
    await untilEnd(resumed, next.taskId);
    await untilEnd(sse, next.taskId);
    // Exactly the first stream's events after the resume point: none missed, none repeated.
    expect(resumed.events.map((e) => e.id)).toEqual(sse.events.filter((e) => e.id > resumeAfter).map((e) => e.id));
    expect(resumed.events[0]!.id).toBeGreaterThan(resumeAfter);
    expect(resumed.of(next.taskId).map((e) => e.event)).toEqual(["task_progress", "task_progress", "task_complete"]);

    // ?last_event_id= does the same (EventSource cannot send the header on a first connect).
    const viaQuery = await openSse({ token: alice.token, query: `?last_event_id=${events.at(-1)!.id}` });
    await untilEnd(viaQuery, next.taskId);
    expect(viaQuery.events.map((e) => e.id)).toEqual(resumed.of(next.taskId).map((e) => e.id));
    for (const s of [resumed, viaQuery]) s.close();
  });

  test("another user's stream never sees them; a missing or forged token is 401, ?token= works", async () => {
    const theirs = await openSse({ query: `?token=${encodeURIComponent(bob.token)}` });
    expect(theirs.response.status).toBe(200);
    const { taskId: alices } = await firstGeneration();
    const mine = await openSse({ token: alice.token });
    const another = await paint(alice, { num_images: 1 });
    await untilEnd(mine, another.taskId);
    // Bob's own generation, queued after alice's ended, is the marker that his stream is caught up.
    const own = await paint(bob, { num_images: 1 });
    const bobs = await untilEnd(theirs, own.taskId);
    expect(bobs.at(-1)!.event).toBe("task_complete");
    expect(new Set(theirs.events.map((e) => e.data.task_id))).toEqual(new Set([own.taskId]));
    expect(theirs.of(alices)).toEqual([]);
    expect(mine.of(own.taskId)).toEqual([]);
    for (const s of [theirs, mine]) s.close();

    const anonymous = await openSse({});
    expect(anonymous.response.status).toBe(401);
    expect(await anonymous.response.json()).toMatchObject({ success: false, error: { code: "UNAUTHORIZED" } });
    const forged = await openSse({ query: "?token=not-a-token" });
    expect(forged.response.status).toBe(401);
    const bad = await openSse({ token: alice.token, headers: { "Last-Event-ID": "soon" } });
    expect(bad.response.status).toBe(400);
    // The token in the query never reaches the log.
    expect(ctx.logs.some((l) => l.includes(bob.token))).toBe(false);
  });

  test("a generation the provider refuses ends with task_failed, saying why", async () => {
    fal.fault({
      call: "submit",
      status: 422,
      body: {
        detail: [{ loc: ["body", "prompt"], msg: "content policy: this prompt was refused", type: "value_error" }],
      },
      times: Number.POSITIVE_INFINITY,
    });
    try {
      const sse = await openSse({ token: alice.token, query: "?last_event_id=0" });
      const { taskId, workIds } = await paint(alice, { model: "flux", width: 512, height: 512, num_images: 1 });
      const events = await untilEnd(sse, taskId);
      expect(events.map((e) => e.event)).toEqual(["task_progress", "task_failed"]);
      const failed = events.at(-1)!.data;
      expect(failed).toMatchObject({ task_id: taskId, kind: "text_to_image", status: "failed", work_ids: workIds });
      expect(failed.error?.code).toBe("AI_SERVICE_ERROR");
      expect(failed.message).toContain("content policy");
      expect(failed.message).toBe(failed.error!.message);
      const task = await ctx.call("GET", `/api/v1/generate/tasks/${taskId}`, { token: alice.token });
      expect(task.json.data).toMatchObject({ status: "failed", error: failed.error });
      sse.close();
    } finally {
      fal.reset();
    }
  });

  test("is documented in OpenAPI as text/event-stream", async () => {
    const spec = (await ctx.call("GET", "/openapi.json")).json;
    const op = spec.paths["/api/v1/generate/events"].get;
    expect(op.summary).toContain("Server-Sent Events");
    expect(op.description).toContain("Last-Event-ID");
    expect(op.description).toContain("task_complete");
    expect(op.tags).toContain("generate");
    expect(op.responses["200"].content["text/event-stream"]).toBeDefined();
    expect(op.responses["401"]).toBeDefined();
  });
});

// ---- WebSocket ---------------------------------------------------------------------------------

async function openWs(token: string) {
  const ws = new WebSocket(`${wsBase}?token=${encodeURIComponent(token)}`);
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
    send: (msg: unknown) => ws.send(JSON.stringify(msg)),
    // biome-ignore lint: frames are arbitrary JSON
    next: (pred: (f: any) => boolean, what: string) => waitUntil(what, () => frames.find(pred)),
    ofTask: (taskId: string) => frames.filter((f) => f.id !== undefined && f.data?.task_id === taskId),
  };
}

describe("WebSocket /ws, channel generations", () => {
  test("subscribe gets the same events as SSE, as {event, channel, id, data} frames; only the caller's own", async () => {
    const c = await openWs(alice.token);
    c.send({ action: "subscribe", channel: "generations" });
    await c.next((f) => f.event === "subscribed", "the ack");
    expect(c.frames[0]).toEqual({ event: "subscribed", channel: "generations" });
    const watcher = await openWs(bob.token);
    watcher.send({ action: "subscribe", channel: "generations", last_event_id: 0 });
    await watcher.next((f) => f.event === "subscribed", "bob's ack");

    const sse = await openSse({ token: alice.token, query: "?last_event_id=0" });
    const { taskId, workIds } = await paint(alice);
    const logged = await untilEnd(sse, taskId);
    await c.next((f) => f.event === "task_complete" && f.data.task_id === taskId, "task_complete");
    const frames = c.ofTask(taskId);
    expect(frames.map((f) => f.event)).toEqual(logged.map((e) => e.event));
    expect(frames.map((f) => f.id)).toEqual(logged.map((e) => e.id));
    expect(frames.at(-1)).toEqual({
      event: "task_complete",
      channel: "generations",
      id: logged.at(-1)!.id,
      data: {
        event_id: logged.at(-1)!.id,
        task_id: taskId,
        kind: "text_to_image",
        status: "completed",
        progress: 100,
        work_ids: workIds,
        created_at: expect.any(String),
      },
    });

    // Bob's subscription (his whole log) holds only his own generation.
    const own = await paint(bob, { num_images: 1 });
    await watcher.next((f) => f.event === "task_complete" && f.data.task_id === own.taskId, "bob's task_complete");
    const seen = new Set(watcher.frames.filter((f) => f.id !== undefined).map((f) => f.data.task_id));
    expect(seen.has(taskId)).toBe(false);
    expect(c.ofTask(own.taskId)).toEqual([]);

    // Resuming from an id replays exactly what came after it.
    const again = await openWs(alice.token);
    again.send({ action: "subscribe", channel: "generations", last_event_id: logged[0]!.id });
    await again.next((f) => f.event === "task_complete" && f.data.task_id === taskId, "the resumed task_complete");
    expect(again.ofTask(taskId).map((f) => f.id)).toEqual(logged.slice(1).map((e) => e.id));

    c.send({ action: "unsubscribe", channel: "generations" });
    await c.next((f) => f.event === "unsubscribed", "the unsubscribe ack");
    expect(c.frames.find((f) => f.event === "unsubscribed")).toEqual({ event: "unsubscribed", channel: "generations" });
    c.send({ action: "subscribe", channel: "nowhere" });
    const err = await c.next((f) => f.event === "error", "an error frame");
    expect(err.data.code).toBe("VALIDATION_ERROR");
    for (const s of [c, watcher, again]) s.ws.close();
    sse.close();
  });
});

// ---- Supabase Realtime broadcast ---------------------------------------------------------------

describe("Supabase Realtime broadcast on user:<id>", () => {
  test("each event is broadcast once, in order, on its owner's private topic", async () => {
    await waitUntil("the broadcasting hub to lead", () => caster.isBroadcastLeader());
    const sse = await openSse({ token: bob.token, query: "?last_event_id=0" });
    const { taskId, workIds } = await paint(bob);
    const logged = await untilEnd(sse, taskId);
    const topic = `user:${bob.user.id}`;
    const ofTask = () => realtime.messages.filter((m) => m.payload.task_id === taskId);
    await realtime.waitUntil(() => ofTask().some((m) => m.event === "task_complete"));
    const sent = ofTask();
    expect(sent.map((m) => m.topic)).toEqual(logged.map(() => topic));
    expect(sent.map((m) => m.payload.event_id)).toEqual(logged.map((e) => e.id));
    expect(sent.map((m) => m.event)).toEqual(logged.map((e) => e.event));
    expect(sent.every((m) => m.private)).toBe(true);
    expect(sent.at(-1)!.payload).toEqual({
      event_id: logged.at(-1)!.id,
      task_id: taskId,
      kind: "text_to_image",
      status: "completed",
      progress: 100,
      work_ids: workIds,
      created_at: expect.any(String),
    });
    // Nothing of it on anyone else's topic, and a project topic never carries generation events.
    expect(realtime.messages.filter((m) => m.topic !== topic && m.payload.task_id === taskId)).toEqual([]);
    expect(realtime.messages.filter((m) => m.topic.startsWith("project:"))).toEqual([]);
    sse.close();
  });
});
