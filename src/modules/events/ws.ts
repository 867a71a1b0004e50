import { AppError, type ErrorCode } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import type { Caller } from "../../http/auth-guard.ts";
import type { Subscription } from "../../realtime/hub.ts";
import { clientFrame } from "../../realtime/mapping.ts";
import { requireProject } from "../../services/project-access.ts";

/** The part of Bun's ServerWebSocket a session uses. */
export interface SocketLike {
  send(data: string): number;
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet written (Bun's ServerWebSocket has it; Elysia's type omits it). */
  getBufferedAmount?(): number;
  readonly readyState: number;
}

const OPEN = 1;
const MAX_SUBSCRIPTIONS = 20;
const MAX_MESSAGE_CHARS = 4096;
/** Client messages allowed per window; more answer RATE_LIMITED frames. */
const MESSAGE_LIMIT = 60;
const MESSAGE_WINDOW_MS = 10_000;
/** Unsent bytes a slow client may pile up before we close it (it resubscribes with last_event_id). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type ClientMessage = { action?: unknown; channel?: unknown; project_id?: unknown; last_event_id?: unknown };

/**
 * One WebSocket connection speaking our subscribe protocol. Client → server:
 * `{"action": "subscribe" | "unsubscribe", "channel": "project", "project_id": "…",
 * "last_event_id"?: n}` and `{"action": "ping"}`. Server → client: `{"event": "subscribed" |
 * "unsubscribed", "channel", "project_id"}` acks, `{"event": "error", "project_id"?, "data":
 * {code, message}}` (the connection stays open), and events `{"event": "generation.progress" |
 * …, "project_id", "id", "data"}`. A project the caller cannot see is an error, never data.
 */
export function createWsSession(deps: Deps, caller: Caller, socket: SocketLike) {
  const subs = new Map<string, Subscription | "pending">();
  let closed = false;
  let windowStart = Date.now();
  let messages = 0;
  const untrack = deps.realtime.track(() => {
    closeAll();
    if (socket.readyState === OPEN) socket.close(1001, "server shutting down");
  });

  function send(frame: unknown) {
    if (closed || socket.readyState !== OPEN) return;
    socket.send(JSON.stringify(frame));
    if ((socket.getBufferedAmount?.() ?? 0) > MAX_BUFFERED_BYTES) {
      deps.log.info("websocket client too slow; closing it", { user_id: caller.user.id });
      closeAll();
      socket.close(1013, "too slow; resubscribe with last_event_id");
    }
  }

  const error = (code: ErrorCode, message: string, projectId?: string) =>
    send({ event: "error", ...(projectId ? { project_id: projectId } : {}), data: { code, message } });

  function closeAll() {
    closed = true;
    for (const s of subs.values()) if (s !== "pending") s.close();
    subs.clear();
    untrack();
  }

  async function subscribe(msg: ClientMessage) {
    const projectId = msg.project_id;
    if (msg.channel !== "project") return error("VALIDATION_ERROR", 'channel must be "project"');
    if (typeof projectId !== "string" || !UUID.test(projectId))
      return error("VALIDATION_ERROR", "project_id must be a UUID");
    const from = msg.last_event_id;
    if (from !== undefined && (typeof from !== "number" || !Number.isSafeInteger(from) || from < 0)) {
      return error("VALIDATION_ERROR", "last_event_id must be a non-negative integer", projectId);
    }
    const ack = () => send({ event: "subscribed", channel: "project", project_id: projectId });
    if (subs.has(projectId)) return ack();
    if (subs.size >= MAX_SUBSCRIPTIONS)
      return error("VALIDATION_ERROR", `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`, projectId);
    subs.set(projectId, "pending");
    try {
      await requireProject(deps.db, { userId: caller.user.id, projectId }, "viewer");
      const sub = await deps.realtime.subscribe(projectId, from ?? "live", (events) => {
        for (const e of events) send(clientFrame(e));
      });
      if (closed || subs.get(projectId) !== "pending") return sub.close();
      subs.set(projectId, sub);
      ack();
      sub.start();
    } catch (err) {
      if (subs.get(projectId) === "pending") subs.delete(projectId);
      if (err instanceof AppError) return error(err.code, err.message, projectId);
      deps.log.error("websocket subscribe failed", { project_id: projectId, error: err as Error });
      error("INTERNAL_ERROR", "internal error", projectId);
    }
  }

  function unsubscribe(msg: ClientMessage) {
    const projectId = msg.project_id;
    if (typeof projectId !== "string") return error("VALIDATION_ERROR", "project_id must be a UUID");
    const sub = subs.get(projectId);
    subs.delete(projectId);
    if (sub && sub !== "pending") sub.close();
    send({ event: "unsubscribed", channel: "project", project_id: projectId });
  }

  return {
    /** A frame from the client, as Elysia parsed it (objects for JSON, strings otherwise). */
    async message(raw: unknown) {
      const now = Date.now();
      if (now - windowStart > MESSAGE_WINDOW_MS) {
        windowStart = now;
        messages = 0;
      }
      if (++messages > MESSAGE_LIMIT) return error("RATE_LIMITED", "too many messages; slow down");
      if (typeof raw === "string" && raw.length > MAX_MESSAGE_CHARS)
        return error("PAYLOAD_TOO_LARGE", "message too large");
      if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
        return error("VALIDATION_ERROR", "messages must be JSON objects with an action");
      }
      const msg = raw as ClientMessage;
      switch (msg.action) {
        case "subscribe":
          return subscribe(msg);
        case "unsubscribe":
          return unsubscribe(msg);
        case "ping":
          return send({ event: "pong" });
        default:
          return error("VALIDATION_ERROR", 'action must be "subscribe", "unsubscribe" or "ping"');
      }
    },
    close: closeAll,
  };
}

export type WsSession = ReturnType<typeof createWsSession>;
