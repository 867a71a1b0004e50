import { Elysia, t } from "elysia";
import { validation } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import { spaceRoleDoc } from "../../http/auth-guard.ts";
import { ErrorEnvelope } from "../../http/envelope.ts";
import { type FeedKey, userFeedKey } from "../../realtime/feed-key.ts";
import { feedEventStream } from "../../realtime/sse.ts";
import { requireProject } from "../../services/project-access.ts";
import { streamCaller } from "./stream-auth.ts";
import { createWsSession, type WsSession } from "./ws.ts";

const security = [{ bearer: [] }];

const EventsParams = t.Object({ id: t.String({ format: "uuid" }) });
const EventsQuery = t.Object({
  token: t.Optional(
    t.String({ description: "Access token, for clients that cannot send an Authorization header (EventSource)" }),
  ),
  last_event_id: t.Optional(
    t.String({
      pattern: "^[0-9]{1,15}$",
      description: "Resume after this event id (same as the Last-Event-ID header)",
    }),
  ),
});

const EventsHeaders = t.Object({
  "last-event-id": t.Optional(
    t.String({ pattern: "^\\s*[0-9]{1,15}\\s*$", description: "Resume after this event id" }),
  ),
});

const errorSchema = JSON.parse(JSON.stringify(ErrorEnvelope));
const errorResponsesOf = (errors: Array<[number, string]>) =>
  Object.fromEntries(
    errors.map(([status, description]) => [
      status,
      { description, content: { "application/json": { schema: errorSchema } } },
    ]),
  );
const errorResponses = errorResponsesOf([
  [400, "Invalid project id or Last-Event-ID"],
  [401, "Missing, invalid or revoked token"],
  [404, "No such project, or not yours to see"],
  [429, "Over the per-user rate limit"],
]);
const generationErrorResponses = errorResponsesOf([
  [400, "Invalid Last-Event-ID"],
  [401, "Missing, invalid or revoked token"],
  [429, "Over the per-user rate limit"],
]);

const SSE_EXAMPLE =
  'retry: 2000\n\nid: 42\nevent: progress\ndata: {"project_id":"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9","run_id":"7d9f3c1e-2b4a-4c8e-9f10-1a2b3c4d5e6f","stage":"characters","status":"running","progress":60,"current_step":"Drawing characters"}\n\n: ping\n\n';

const SSE_DESCRIPTION = `Server-Sent Events of one project: first every logged event after \`Last-Event-ID\` (header, or
\`?last_event_id=\`; without either, the whole log), then live events as they happen. Each event has
\`id:\` (resume with it), \`event:\` one of \`progress\`, \`stage\`, \`completed\`, \`failed\`, \`cancelled\`
(runs and exports), \`task_progress\`, \`task_completed\`, \`task_failed\` (generation tasks, \`GET /tasks/:id\`)
or \`quota_insufficient\` (a run paused for want of compute power: \`data.required\` points more than it holds,
\`data.remaining\` free; it goes on by itself when points are added),
and \`data:\` JSON \`{project_id, run_id, stage?, status, progress, current_step, message?, export_id?, task_id?,
parent_task_id?, task_kind?, target?}\` (\`export_id\` when it concerns an export, \`task_id\` a task). A \`: ping\` comment arrives every 15 s. Authenticate with the
Authorization header or \`?token=\` (EventSource cannot send headers). Projects you cannot see answer 404.

The same events are served over a WebSocket at \`/ws?token=…\` (our subscribe protocol): send
\`{"action":"subscribe","channel":"project","project_id":"…"}\` (optionally \`"last_event_id": n\`) or
\`unsubscribe\`; the server acks with \`{"event":"subscribed"}\` or answers \`{"event":"error","data":{code,message}}\`,
then pushes \`{"event","project_id","id","data"}\` with \`event\` one of \`generation.progress\`,
\`generation.completed\`, \`generation.failed\`, \`generation.cancelled\` (runs and generation tasks),
\`video.progress\`, \`video.completed\`, \`video.failed\` (clip-video tasks; \`video.progress\` also for exports),
\`export.completed\`, \`export.failed\`, \`export.cancelled\` (exports), \`quota.insufficient\` (seed 003's, with \`required\` and \`remaining\`). With Supabase configured, the same
payloads are broadcast on the Realtime topic \`project:<id>\` (private channel). Your direct generations,
which belong to no project, have their own feed: \`GET /generate/events\` and the \`generations\` channel.`;

const GENERATION_SSE_EXAMPLE =
  'retry: 2000\n\nid: 7\nevent: task_progress\ndata: {"task_id":"5f0c2a9e-1b3d-4e6f-8a7b-9c0d1e2f3a4b","kind":"text_to_image","status":"processing","progress":50}\n\nid: 8\nevent: task_complete\ndata: {"task_id":"5f0c2a9e-1b3d-4e6f-8a7b-9c0d1e2f3a4b","kind":"text_to_image","status":"completed","progress":100,"work_ids":["3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"]}\n\n: ping\n\n';

const GENERATION_SSE_DESCRIPTION = `Server-Sent Events of your own direct generations (\`POST /generate/*\`, which belong to no
project): first every logged event after \`Last-Event-ID\` (header, or \`?last_event_id=\`; without either, your
whole log), then live events. Each event has \`id:\` (resume with it; these ids are your feed's own),
\`event:\` one of \`task_progress\` (the task started, or its progress moved), \`task_complete\`,
\`task_failed\` (seed 004's names), and \`data:\` JSON \`{task_id, kind, status, progress, message?, work_ids?,
error?}\` (\`work_ids\` on the final event; \`message\` and \`error: {code, message}\` on \`task_failed\`). Follow
one task's full result at \`GET /generate/tasks/:taskId\`. A \`: ping\` comment arrives every 15 s. Authenticate
with the Authorization header or \`?token=\`; you only ever see your own generations.

On the WebSocket at \`/ws?token=…\` send \`{"action":"subscribe","channel":"generations"}\` (optionally
\`"last_event_id": n\`); the ack is \`{"event":"subscribed","channel":"generations"}\`, then frames
\`{"event":"task_progress"|"task_complete"|"task_failed","channel":"generations","id","data"}\` whose \`data\` is the
event's data plus \`event_id\` and \`created_at\`. With Supabase configured, the same payloads are broadcast on
the Realtime topic \`user:<your id>\` (private channel).`;

function lastEventId(header: string | null, query: string | undefined): number {
  const raw = header?.trim() || query;
  if (raw === undefined || raw === "") return 0;
  if (!/^\d{1,15}$/.test(raw))
    throw validation([{ path: "/last_event_id", message: "must be a non-negative integer" }]);
  return Number(raw);
}

interface StreamRequest {
  request: Request;
  query: { last_event_id?: string };
  server: { timeout(request: Request, seconds: number): void } | null;
  set: { headers: Record<string, unknown> };
}

/** Live events: SSE of a project (/api/v1/projects/:id/events) or of your generations (/api/v1/generate/events), and the WebSocket at /ws. */
export function eventsModule(deps: Deps) {
  const { db, log } = deps;
  const sessions = new Map<string, WsSession>();

  /** A feed the caller may see, as an SSE response resuming after Last-Event-ID. */
  function stream(feed: FeedKey, { request, query, server, set }: StreamRequest): Response {
    const after = lastEventId(request.headers.get("last-event-id"), query.last_event_id);
    // Bun ends a response idle for 10 s; this stream is meant to stay open (heartbeats aside).
    server?.timeout(request, 0);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(set.headers)) if (typeof v === "string") headers[k] = v;
    return feedEventStream({ hub: deps.realtime, feed, after, signal: request.signal, log, headers });
  }

  return new Elysia({ tags: ["projects"] })
    .resolve(async ({ request }) => ({ caller: await streamCaller(deps, request) }))
    .get(
      "/api/v1/projects/:id/events",
      async (c) => {
        await requireProject(db, { userId: c.caller.user.id, projectId: c.params.id }, "viewer");
        return stream(c.params.id, c);
      },
      {
        params: EventsParams,
        query: EventsQuery,
        headers: EventsHeaders,
        // No `response` schemas: the generator would replace these responses, and the stream is
        // not JSON. Failures are the usual envelope.
        detail: {
          ...spaceRoleDoc("viewer"),
          summary: "Live events of a project (Server-Sent Events, resumable with Last-Event-ID)",
          description: SSE_DESCRIPTION,
          security,
          responses: {
            200: {
              description: "An endless text/event-stream of the project's events",
              content: { "text/event-stream": { schema: { type: "string" }, example: SSE_EXAMPLE } },
            },
            ...errorResponses,
          },
        },
      },
    )
    .get("/api/v1/generate/events", (c) => stream(userFeedKey(c.caller.user.id), c), {
      query: EventsQuery,
      headers: EventsHeaders,
      // As above: no `response` schemas; failures are the usual envelope.
      detail: {
        tags: ["generate"],
        summary: "Live events of your generations (Server-Sent Events, resumable with Last-Event-ID)",
        description: GENERATION_SSE_DESCRIPTION,
        security,
        responses: {
          200: {
            description: "An endless text/event-stream of your generation tasks' events",
            content: { "text/event-stream": { schema: { type: "string" }, example: GENERATION_SSE_EXAMPLE } },
          },
          ...generationErrorResponses,
        },
      },
    })
    .ws("/ws", {
      query: t.Object({ token: t.Optional(t.String()) }),
      detail: { hide: true },
      open(ws) {
        sessions.set(ws.id, createWsSession(deps, ws.data.caller, ws.raw));
      },
      async message(ws, message) {
        await sessions.get(ws.id)?.message(message);
      },
      close(ws) {
        sessions.get(ws.id)?.close();
        sessions.delete(ws.id);
      },
    });
}
