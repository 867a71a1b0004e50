import { AppError, type ErrorCode } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import type { Caller } from "../../http/auth-guard.ts";
import { type FeedKey, userFeedKey } from "../../realtime/feed-key.ts";
import type { Subscription } from "../../realtime/hub.ts";
import { clientFrame, generationFrame } from "../../realtime/mapping.ts";
import { type FeedEvent, isGenerationEvent } from "../../realtime/reads.ts";
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

/** The caller's own feed of direct generations, as the protocol names it. */
const GENERATIONS = "generations";

/** What one subscription is to: its feed, how acks and errors name it, who may see it, its frames. */
interface Target {
  key: FeedKey;
  /** The fields of its subscribed/unsubscribed acks. */
  ack: Record<string, string>;
  /** The fields an error frame about it carries. */
  about: Record<string, string>;
  /** Throws (NOT_FOUND, …) when the caller may not see the feed. */
  authorize(): Promise<unknown>;
  /** The frame of one of its events. */
  frame(e: FeedEvent): unknown;
}

/**
 * One WebSocket connection speaking our subscribe protocol. Client → server:
 * `{"action": "subscribe" | "unsubscribe", "channel": "project", "project_id": "…",
 * "last_event_id"?: n}`, the same with `"channel": "generations"` (no id: the caller's own direct
 * generations), and `{"action": "ping"}`. Server → client: `{"event": "subscribed" |
 * "unsubscribed", "channel", "project_id"?}` acks, `{"event": "error", "project_id"? | "channel"?,
 * "data": {code, message}}` (the connection stays open), and events: a project's `{"event":
 * "generation.progress" | …, "project_id", "id", "data"}`, the generations channel's `{"event":
 * "task_progress" | "task_complete" | "task_failed", "channel": "generations", "id", "data"}`. A
 * project the caller cannot see is an error, never data.
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

  const error = (code: ErrorCode, message: string, about: Record<string, string> = {}) =>
    send({ event: "error", ...about, data: { code, message } });

  function closeAll() {
    closed = true;
    for (const s of subs.values()) if (s !== "pending") s.close();
    subs.clear();
    untrack();
  }

  function projectTarget(projectId: string): Target {
    return {
      key: projectId,
      ack: { channel: "project", project_id: projectId },
      about: { project_id: projectId },
      authorize: () => requireProject(deps.db, { userId: caller.user.id, projectId }, "viewer"),
      frame: (e) => (isGenerationEvent(e) ? null : clientFrame(e)),
    };
  }

  /** Only ever the caller's own feed: there is no id to name anyone else's. */
  function generationsTarget(): Target {
    return {
      key: userFeedKey(caller.user.id),
      ack: { channel: GENERATIONS },
      about: { channel: GENERATIONS },
      authorize: async () => {},
      frame: (e) => (isGenerationEvent(e) ? generationFrame(e) : null),
    };
  }

  /**
   * The target a message names, or null after answering an error frame. Subscribing names its
   * channel and a real project id; unsubscribing is lenient (any channel but generations is a
   * project, any string its id), as it always was.
   */
  function targetOf(msg: ClientMessage): Target | null {
    if (msg.channel === GENERATIONS) return generationsTarget();
    const subscribing = msg.action === "subscribe";
    if (subscribing && msg.channel !== "project") {
      error("VALIDATION_ERROR", `channel must be "project" or "${GENERATIONS}"`);
      return null;
    }
    const projectId = msg.project_id;
    if (typeof projectId !== "string" || (subscribing && !UUID.test(projectId))) {
      error("VALIDATION_ERROR", "project_id must be a UUID");
      return null;
    }
    return projectTarget(projectId);
  }

  async function subscribe(msg: ClientMessage) {
    const target = targetOf(msg);
    if (!target) return;
    const from = msg.last_event_id;
    if (from !== undefined && (typeof from !== "number" || !Number.isSafeInteger(from) || from < 0)) {
      return error("VALIDATION_ERROR", "last_event_id must be a non-negative integer", target.about);
    }
    const { key } = target;
    const ack = () => send({ event: "subscribed", ...target.ack });
    if (subs.has(key)) return ack();
    if (subs.size >= MAX_SUBSCRIPTIONS)
      return error("VALIDATION_ERROR", `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`, target.about);
    subs.set(key, "pending");
    try {
      await target.authorize();
      const sub = await deps.realtime.subscribe(key, from ?? "live", (events) => {
        for (const e of events) {
          const frame = target.frame(e);
          if (frame) send(frame);
        }
      });
      if (closed || subs.get(key) !== "pending") return sub.close();
      subs.set(key, sub);
      ack();
      sub.start();
    } catch (err) {
      if (subs.get(key) === "pending") subs.delete(key);
      if (err instanceof AppError) return error(err.code, err.message, target.about);
      deps.log.error("websocket subscribe failed", { ...target.about, error: err as Error });
      error("INTERNAL_ERROR", "internal error", target.about);
    }
  }

  function unsubscribe(msg: ClientMessage) {
    const target = targetOf(msg);
    if (!target) return;
    const sub = subs.get(target.key);
    subs.delete(target.key);
    if (sub && sub !== "pending") sub.close();
    send({ event: "unsubscribed", ...target.ack });
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
