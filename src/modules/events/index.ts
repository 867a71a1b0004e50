import { Elysia, t } from "elysia";
import { validation } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import { spaceRoleDoc } from "../../http/auth-guard.ts";
import { ErrorEnvelope } from "../../http/envelope.ts";
import { projectEventStream } from "../../realtime/sse.ts";
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
const errorResponses = Object.fromEntries(
  [
    [400, "Invalid project id or Last-Event-ID"],
    [401, "Missing, invalid or revoked token"],
    [404, "No such project, or not yours to see"],
    [429, "Over the per-user rate limit"],
  ].map(([status, description]) => [status, { description, content: { "application/json": { schema: errorSchema } } }]),
);

const SSE_EXAMPLE =
  'retry: 2000\n\nid: 42\nevent: progress\ndata: {"project_id":"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9","run_id":"7d9f3c1e-2b4a-4c8e-9f10-1a2b3c4d5e6f","stage":"characters","status":"running","progress":60,"current_step":"Drawing characters"}\n\n: ping\n\n';

const SSE_DESCRIPTION = `Server-Sent Events of one project: first every logged event after \`Last-Event-ID\` (header, or
\`?last_event_id=\`; without either, the whole log), then live events as they happen. Each event has
\`id:\` (resume with it), \`event:\` one of \`progress\`, \`stage\`, \`completed\`, \`failed\`, \`cancelled\`
(runs and exports) or \`task_progress\`, \`task_completed\`, \`task_failed\` (generation tasks, \`GET /tasks/:id\`),
and \`data:\` JSON \`{project_id, run_id, stage?, status, progress, current_step, message?, export_id?, task_id?,
parent_task_id?, task_kind?, target?}\` (\`export_id\` when it concerns an export, \`task_id\` a task). A \`: ping\` comment arrives every 15 s. Authenticate with the
Authorization header or \`?token=\` (EventSource cannot send headers). Projects you cannot see answer 404.

The same events are served over a WebSocket at \`/ws?token=…\` (our subscribe protocol): send
\`{"action":"subscribe","channel":"project","project_id":"…"}\` (optionally \`"last_event_id": n\`) or
\`unsubscribe\`; the server acks with \`{"event":"subscribed"}\` or answers \`{"event":"error","data":{code,message}}\`,
then pushes \`{"event","project_id","id","data"}\` with \`event\` one of \`generation.progress\`,
\`generation.completed\`, \`generation.failed\`, \`generation.cancelled\` (runs and generation tasks),
\`video.progress\`, \`video.completed\`, \`video.failed\` (clip-video tasks; \`video.progress\` also for exports),
\`export.completed\`, \`export.failed\`, \`export.cancelled\` (exports). With Supabase configured, the same
payloads are broadcast on the Realtime topic \`project:<id>\` (private channel).`;

function lastEventId(header: string | null, query: string | undefined): number {
  const raw = header?.trim() || query;
  if (raw === undefined || raw === "") return 0;
  if (!/^\d{1,15}$/.test(raw))
    throw validation([{ path: "/last_event_id", message: "must be a non-negative integer" }]);
  return Number(raw);
}

/** Live project events: SSE at /api/v1/projects/:id/events and the WebSocket at /ws. */
export function eventsModule(deps: Deps) {
  const { db, log } = deps;
  const sessions = new Map<string, WsSession>();
  return new Elysia({ tags: ["projects"] })
    .resolve(async ({ request }) => ({ caller: await streamCaller(deps, request) }))
    .get(
      "/api/v1/projects/:id/events",
      async ({ params, query, request, caller, server, set }) => {
        await requireProject(db, { userId: caller.user.id, projectId: params.id }, "viewer");
        const after = lastEventId(request.headers.get("last-event-id"), query.last_event_id);
        // Bun ends a response idle for 10 s; this stream is meant to stay open (heartbeats aside).
        server?.timeout(request, 0);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(set.headers)) if (typeof v === "string") headers[k] = v;
        return projectEventStream({
          hub: deps.realtime,
          projectId: params.id,
          after,
          signal: request.signal,
          log,
          headers,
        });
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
