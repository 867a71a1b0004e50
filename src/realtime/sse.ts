import type { Logger } from "../log.ts";
import type { FeedKey } from "./feed-key.ts";
import type { RealtimeHub, Subscription } from "./hub.ts";
import type { FeedEvent } from "./reads.ts";

/** Chunks a slow client may leave unread before we end its stream (it resumes by Last-Event-ID). */
const MAX_QUEUED_CHUNKS = 2000;
/** What EventSource waits before reconnecting. */
const RETRY_MS = 2000;

/** One event in the SSE wire format; JSON never contains a raw newline, so `data:` is one line. */
export function sseFrame(e: FeedEvent): string {
  return `id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export interface FeedStreamOptions {
  hub: RealtimeHub;
  /** A project's feed (its id) or a user's own (`userFeedKey`), which the caller may see. */
  feed: FeedKey;
  /** Deliver events with an id above this (Last-Event-ID; 0 for the whole log). */
  after: number;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  log: Logger;
  headers?: Record<string, string>;
}

/**
 * A feed's events as `text/event-stream`: the backlog after `after`, then live events, with a
 * `: ping` comment every `hub.heartbeatMs` so proxies keep the connection open. Everything is
 * released when the client disconnects, the stream is cancelled or the hub shuts down.
 */
export function feedEventStream(options: FeedStreamOptions): Response {
  const { hub, feed, after, signal, log } = options;
  const encoder = new TextEncoder();
  let sub: Subscription | null = null;
  let heartbeat: ReturnType<typeof setInterval> | null = null;
  let untrack: (() => void) | null = null;
  let done = false;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | null = null;

  function cleanup(closeStream: boolean) {
    if (done) return;
    done = true;
    if (heartbeat) clearInterval(heartbeat);
    sub?.close();
    untrack?.();
    signal.removeEventListener("abort", onAbort);
    if (closeStream) {
      try {
        controllerRef?.close();
      } catch {}
    }
  }
  const onAbort = () => cleanup(true);

  function write(text: string) {
    const c = controllerRef;
    if (done || !c) return;
    try {
      c.enqueue(encoder.encode(text));
      if ((c.desiredSize ?? 0) < -MAX_QUEUED_CHUNKS) {
        log.info("sse client too slow; ending its stream", { feed });
        cleanup(true);
      }
    } catch {
      cleanup(false);
    }
  }

  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      controllerRef = controller;
      if (signal.aborted) return cleanup(true);
      signal.addEventListener("abort", onAbort);
      untrack = hub.track(() => cleanup(true));
      write(`retry: ${RETRY_MS}\n\n`);
      heartbeat = setInterval(() => write(": ping\n\n"), hub.heartbeatMs);
      try {
        const s = await hub.subscribe(
          feed,
          after,
          (events) => write(events.map(sseFrame).join("")),
          () => cleanup(true),
        );
        if (done) return s.close();
        sub = s;
        s.start();
      } catch (err) {
        log.warn("sse subscription failed", { feed, error: err as Error });
        cleanup(true);
      }
    },
    cancel() {
      cleanup(false);
    },
  });

  return new Response(stream, {
    status: 200,
    headers: {
      ...options.headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      // Tells nginx-style proxies not to buffer the stream.
      "x-accel-buffering": "no",
    },
  });
}
