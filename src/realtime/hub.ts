import type pg from "pg";
import type { Db } from "../db/client.ts";
import { type ListenConnection, openListenConnection } from "../db/listen.ts";
import type { Logger } from "../log.ts";
import { type BroadcastTarget, createBroadcastSender, type SendBroadcast } from "./broadcast.ts";
import { EVENTS_CHANNEL, EVENTS_LOCK_CLASS } from "./events.ts";
import { type FeedKey, userFeedKey } from "./feed-key.ts";
import { type EventNote, eventsOfNotes, type FeedEvent, feedEventsAfter, latestEventIds } from "./reads.ts";

/** Names the hub's LISTEN connection in pg_stat_activity. */
export const BUS_APPLICATION_NAME = "inkreel-events";

/** Session advisory lock (class, object) held by the one API process that sends broadcasts. */
const LEADER_LOCK: [number, number] = [EVENTS_LOCK_CLASS + 1, 0];
const READ_BATCH = 500;
const MAX_PENDING_BROADCASTS = 10_000;

export interface RealtimeHubOptions {
  db: Db;
  log: Logger;
  /** Null: no LISTEN connection; subscribers are served by polling the log. */
  connectionString: string | null;
  /** "poll-only" behind transaction-mode poolers, where LISTEN and session locks do not work. */
  mode?: "listen" | "poll-only";
  /** How often the log is polled in poll-only mode (a slower backstop in listen mode). */
  pollIntervalMs?: number;
  /** SSE heartbeat comment period. */
  heartbeatMs?: number;
  /** Liveness query period of the LISTEN connection, which also runs the leader election. */
  checkEveryMs?: number;
  /** Set (Supabase URL + service role key): committed events are also broadcast to Realtime. */
  broadcast?: BroadcastTarget | null;
}

/** One subscriber's view of one feed's log: paused until `start()`. */
export interface Subscription {
  /** Begin delivery (backlog, then live); call after acknowledging the subscription. */
  start(): void;
  close(): void;
}

/** Takes a batch of one feed's events (a project feed's are ProjectEvents, a user feed's GenerationEvents). */
export type Deliver = (events: FeedEvent[]) => void;

export interface RealtimeHub {
  readonly heartbeatMs: number;
  /** Opens the LISTEN connection (otherwise done by the first subscription). Never throws. */
  start(): Promise<void>;
  /**
   * Subscribes to a feed's events after `from` (an event id; "live": only events appended from
   * now on): a project's (the key is its id) or a user's own (`userFeedKey`). The subscriber is
   * registered before the log is read, and every delivery is "id > its cursor" in id order, so
   * the backlog and the live stream neither overlap nor leave a gap. Whoever calls it has checked
   * that the caller may see the feed.
   */
  subscribe(feed: FeedKey, from: number | "live", deliver: Deliver, ended?: () => void): Promise<Subscription>;
  /** Registers a long-lived connection to end when the hub closes (shutdown); returns an unregister. */
  track(end: () => void): () => void;
  isBroadcastLeader(): boolean;
  /** Feed subscriptions and tracked connections (SSE streams, WebSockets) open now. */
  subscriberCount(): { subscriptions: number; connections: number };
  close(): Promise<void>;
}

interface Sub {
  cursor: number;
  active: boolean;
  deliver: Deliver;
  ended?: () => void;
}

interface Feed {
  key: FeedKey;
  subs: Set<Sub>;
  reading: boolean;
  again: boolean;
}

/** A NOTIFY payload: the feed it concerns, and which log the event id is of. */
interface Note extends EventNote {
  key: FeedKey;
}

function parseNote(payload: string): Note | null {
  let note: { project_id?: unknown; user_id?: unknown; id?: unknown };
  try {
    note = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof note.id !== "number") return null;
  if (typeof note.project_id === "string") return { key: note.project_id, user: false, id: note.id };
  if (typeof note.user_id === "string") return { key: userFeedKey(note.user_id), user: true, id: note.id };
  return null;
}

/**
 * The per-process realtime hub: one LISTEN connection on the events channel (the NOTIFY payload
 * is `{project_id, id}` for a project's log, `{user_id, id}` for a user's own), fanning out in
 * memory to every SSE/WebSocket subscriber. Each project or user with subscribers is a feed read
 * from its log in batches ("id > the lowest subscriber cursor"),
 * one read at a time; notifications arriving during a read coalesce into one more read. Polling
 * backs NOTIFY up (and replaces it in poll-only mode), and after a reconnection every feed is
 * re-read, so a lost notification delays an event but never loses it.
 *
 * Supabase broadcast dedupe: every API process receives every NOTIFY, so only the process that
 * holds a session advisory lock on its LISTEN connection sends broadcasts (the others retry the
 * lock on each liveness check; a dead leader's lock goes with its connection). Broadcasting at
 * append time instead would have to run in every process that appends (workers) and could send
 * events whose transaction later rolls back; NOTIFY is delivered only at commit.
 */
export function createRealtimeHub(options: RealtimeHubOptions): RealtimeHub {
  const { db, log } = options;
  const mode = options.connectionString ? (options.mode ?? "listen") : "poll-only";
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const backstopMs = mode === "listen" ? Math.max(5000, pollIntervalMs * 5) : pollIntervalMs;
  const feeds = new Map<string, Feed>();
  const tracked = new Set<() => void>();
  const wantsLeader = Boolean(options.broadcast) && mode === "listen";
  const send: SendBroadcast | null = options.broadcast ? createBroadcastSender(options.broadcast, log) : null;

  let started: Promise<void> | null = null;
  let closed = false;
  let bus: ListenConnection | null = null;
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  let leader = false;

  if (options.broadcast && !wantsLeader) {
    log.warn("supabase broadcast needs a session connection (QUEUE_MODE=listen); it is off in poll-only mode");
  }

  // ---- feeds -------------------------------------------------------------------------------

  function minCursor(feed: Feed): number | null {
    let min: number | null = null;
    for (const s of feed.subs) if (s.active && (min === null || s.cursor < min)) min = s.cursor;
    return min;
  }

  async function pump(feed: Feed) {
    if (feed.reading) {
      feed.again = true;
      return;
    }
    feed.reading = true;
    try {
      do {
        feed.again = false;
        const from = minCursor(feed);
        if (from === null) break;
        const events = await feedEventsAfter(db, feed.key, from, READ_BATCH);
        for (const sub of feed.subs) {
          if (!sub.active) continue;
          // A subscriber that started while this read was under way, behind where it began
          // (resuming from an older Last-Event-ID), is not served from it: taking its later
          // events would skip those between its cursor and `from`. The next read starts at it.
          if (sub.cursor < from) {
            feed.again = true;
            continue;
          }
          const mine = sub.cursor === from ? events : events.filter((e) => e.id > sub.cursor);
          if (!mine.length) continue;
          sub.cursor = mine[mine.length - 1]!.id;
          try {
            sub.deliver(mine);
          } catch (err) {
            log.warn("realtime subscriber failed to take events", { error: err as Error });
          }
        }
        if (events.length === READ_BATCH) feed.again = true;
      } while (feed.again && !closed);
    } catch (err) {
      // The next poll (or reconnection) reads again from the same cursors.
      log.warn("realtime: reading the event log failed", { feed: feed.key, error: err as Error });
    } finally {
      feed.reading = false;
      if (!feed.subs.size) feeds.delete(feed.key);
    }
  }

  /** One query for every feed: pump those whose log has moved past their lowest cursor. */
  async function poll() {
    const active = [...feeds.values()].filter((f) => minCursor(f) !== null);
    if (!active.length) return;
    try {
      const latest = await latestEventIds(
        db,
        active.map((f) => f.key),
      );
      for (const feed of active) {
        const min = minCursor(feed);
        if (min !== null && (latest.get(feed.key) ?? 0) > min) void pump(feed);
      }
    } catch (err) {
      log.debug("realtime poll failed", { error: err as Error });
    }
  }

  function onNotify(payload: string) {
    const note = parseNote(payload);
    if (!note) return;
    const feed = feeds.get(note.key);
    if (feed) {
      const min = minCursor(feed);
      if (min !== null && note.id > min) void pump(feed);
    }
    if (leader) queueBroadcast({ user: note.user, id: note.id });
  }

  // ---- broadcast (leader only) ------------------------------------------------------------

  let pendingNotes: EventNote[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | null = null;
  let chain: Promise<void> = Promise.resolve();
  /** Events handed to the chain and not sent yet: bounds memory while Realtime is slow or down. */
  let inFlight = 0;
  let dropping = false;

  function queueBroadcast(note: EventNote) {
    if (pendingNotes.length + inFlight >= MAX_PENDING_BROADCASTS) {
      if (!dropping)
        log.warn("supabase broadcast backlog full; dropping events until it drains", {
          backlog: pendingNotes.length + inFlight,
        });
      dropping = true;
      return;
    }
    dropping = false;
    pendingNotes.push(note);
    // Notifications of one commit burst arrive together: read and send them as one batch.
    flushTimer ??= setTimeout(flushBroadcasts, 5);
  }

  function flushBroadcasts() {
    flushTimer = null;
    const notes = pendingNotes;
    pendingNotes = [];
    if (!notes.length || !send) return;
    // One request at a time, in notification (commit) order.
    inFlight += notes.length;
    chain = chain.then(async () => {
      try {
        const events = await eventsOfNotes(db, notes);
        if (events.length) await send(events);
      } catch (err) {
        log.warn("supabase broadcast: reading events failed", { error: err as Error, events: notes.length });
      } finally {
        inFlight -= notes.length;
      }
    });
  }

  async function tryLead(client: pg.Client) {
    const res = await client.query<{ ok: boolean }>("select pg_try_advisory_lock($1::int, $2::int) as ok", LEADER_LOCK);
    if (res.rows[0]?.ok && !closed) {
      leader = true;
      log.info("realtime: this process sends the Supabase broadcasts");
    }
  }

  // ---- lifecycle --------------------------------------------------------------------------

  async function startOnce() {
    if (mode === "listen" && options.connectionString) {
      bus = await openListenConnection(
        {
          connectionString: options.connectionString,
          channels: [EVENTS_CHANNEL],
          applicationName: BUS_APPLICATION_NAME,
          name: "event bus",
          log,
          checkEveryMs: options.checkEveryMs,
          firstFailure: "retry",
        },
        {
          notify: (_channel, payload) => onNotify(payload),
          async connected(client, reconnected) {
            leader = false;
            if (wantsLeader) await tryLead(client);
            // Whatever was appended before LISTEN took effect (or while reconnecting) is read now.
            if (reconnected || feeds.size) await poll();
          },
          lost() {
            if (leader) log.warn("realtime: lost the broadcast lock with the connection");
            leader = false;
          },
          async check(client) {
            if (wantsLeader && !leader) return tryLead(client);
            return client.query("select 1");
          },
        },
      );
      if (closed) await bus.close();
    }
    if (!closed) pollTimer = setInterval(() => void poll(), backstopMs);
  }

  const hub: RealtimeHub = {
    heartbeatMs: options.heartbeatMs ?? 15_000,
    start() {
      started ??= startOnce();
      return started;
    },
    async subscribe(key, from, deliver, ended) {
      if (closed) throw new Error("realtime hub is closed");
      // Listening before the log is read: a NOTIFY after the read cannot be missed.
      await hub.start();
      const sub: Sub = { cursor: typeof from === "number" ? from : 0, active: false, deliver, ended };
      let feed = feeds.get(key);
      if (!feed) {
        feed = { key, subs: new Set(), reading: false, again: false };
        feeds.set(key, feed);
      }
      feed.subs.add(sub);
      // Registered first, then the cursor: an event committed from here on is delivered.
      if (from === "live") {
        try {
          sub.cursor = (await latestEventIds(db, [key])).get(key) ?? 0;
        } catch (err) {
          feed.subs.delete(sub);
          if (!feed.subs.size && !feed.reading) feeds.delete(key);
          throw err;
        }
      }
      const f = feed;
      return {
        start() {
          if (!f.subs.has(sub) || sub.active) return;
          sub.active = true;
          void pump(f);
        },
        close() {
          f.subs.delete(sub);
          if (!f.subs.size && !f.reading) feeds.delete(key);
        },
      };
    },
    track(end) {
      tracked.add(end);
      return () => tracked.delete(end);
    },
    isBroadcastLeader: () => leader,
    subscriberCount() {
      let subscriptions = 0;
      for (const feed of feeds.values()) subscriptions += feed.subs.size;
      return { subscriptions, connections: tracked.size };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (pollTimer) clearInterval(pollTimer);
      await started?.catch(() => {});
      leader = false;
      await bus?.close();
      for (const feed of feeds.values()) {
        for (const sub of feed.subs) {
          try {
            sub.ended?.();
          } catch {}
        }
      }
      feeds.clear();
      for (const end of [...tracked]) {
        try {
          end();
        } catch {}
      }
      tracked.clear();
      if (flushTimer) {
        clearTimeout(flushTimer);
        flushBroadcasts();
      }
      await chain;
    },
  };
  return hub;
}
