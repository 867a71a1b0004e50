import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { createLru } from "../core/lru.ts";
import type { Db } from "../db/client.ts";
import { type ListenConnection, openListenConnection } from "../db/listen.ts";
import type { User } from "../db/types.ts";
import type { Logger } from "../log.ts";

/** The channel the `sessions` and `users` triggers NOTIFY on (migration 20261202010000). */
export const AUTH_CHANNEL = "inkreel_auth";
const SESSION_CACHE_ENTRIES = 10_000;
/** A safety net only: every change that matters is announced by a trigger. */
const SESSION_CACHE_TTL_MS = 60_000;

export interface SessionKey {
  userId: string;
  sessionId: string;
}

export interface SessionCache {
  /** The user of a live session, or null when the session is revoked, expired or not this user's. */
  load(db: Db, key: SessionKey): Promise<User | null>;
  /** Drops everything remembered (this process wrote something that may have changed a user or session). */
  forgetAll(): void;
  /**
   * Resolves once every notification committed before the call has been handled here (a NOTIFY
   * of its own comes back after them: Postgres delivers notifications in commit order), or at once
   * while not live. What a caller needs before relying on what this cache holds.
   */
  settled(db: Db): Promise<void>;
  /** Opens the LISTEN connection; until it is up every load asks the database. Never throws. */
  start(): Promise<void>;
  close(): Promise<void>;
  readonly size: number;
  /** True while the LISTEN connection is up, the only time entries are served. */
  readonly live: boolean;
}

/** One query: the user, if the session is theirs, not revoked and not expired. */
async function selectSessionUser(
  db: Db,
  { userId, sessionId }: SessionKey,
): Promise<{ user: User; expiresAt: Date } | null> {
  const user = await db
    .selectFrom("users")
    .innerJoin("sessions", "sessions.user_id", "users.id")
    .selectAll("users")
    .select("sessions.expires_at as session_expires_at")
    .where("users.id", "=", userId)
    .where("sessions.id", "=", sessionId)
    .where("sessions.revoked_at", "is", null)
    .where("sessions.expires_at", ">", new Date())
    .executeTakeFirst();
  if (!user) return null;
  const { session_expires_at: expiresAt, ...row } = user;
  return { user: row, expiresAt };
}

/**
 * Remembers, per session, the user row behind it, so that an authenticated request costs one
 * query (its own) instead of two. Correct across API processes because the database announces
 * every change that could make an entry wrong: triggers on `sessions` (revoked, deleted) and
 * `users` (any update or delete: role, current space, the row itself) NOTIFY `inkreel_auth`, and
 * every process drops the entries named. While the LISTEN connection is down, and until it is up,
 * nothing is served from memory (a notification may have been missed: the cache is emptied on
 * every reconnection). A notification that arrives while a load is in flight bumps `generation`,
 * and that load's result is not kept: a row read before a change is never remembered after it.
 * Within this process, every write (a request with any method but GET, HEAD or OPTIONS) empties
 * the cache before its answer goes out, so a change made here is seen by the very next request
 * without waiting for the notification; other processes see it when the notification arrives.
 */
export function createSessionCache(options: {
  /** Null (no database URL to LISTEN on, or a transaction-mode pooler): nothing is remembered. */
  connectionString: string | null;
  log: Logger;
  capacity?: number;
  ttlMs?: number;
}): SessionCache {
  const ttlMs = options.ttlMs ?? SESSION_CACHE_TTL_MS;
  const entries = createLru<string, { user: User; until: number }>(options.capacity ?? SESSION_CACHE_ENTRIES);
  let listening: ListenConnection | null = null;
  let opening: Promise<void> | null = null;
  let live = false;
  let generation = 0;
  // The settled() calls waiting for their own notification to come back, by nonce.
  const barriers = new Map<string, () => void>();
  const releaseBarriers = () => {
    for (const release of barriers.values()) release();
    barriers.clear();
  };

  const forgetUser = (userId: string) => {
    generation++;
    entries.deleteWhere((entry) => entry.user.id === userId);
  };
  const forgetAll = () => {
    generation++;
    entries.clear();
  };

  function notified(payload: string) {
    // "s:<session id>", "u:<user id>" or "y:<nonce>" (a settled() barrier); anything else
    // empties the cache rather than guess.
    const [kind, id] = [payload.slice(0, 2), payload.slice(2)];
    if (kind === "y:") {
      barriers.get(id)?.();
      barriers.delete(id);
    } else if (kind === "s:") {
      generation++;
      entries.delete(id);
    } else if (kind === "u:") forgetUser(id);
    else forgetAll();
  }

  return {
    get size() {
      return entries.size;
    },
    get live() {
      return live;
    },
    async load(db, key) {
      const hit = live ? entries.get(key.sessionId) : undefined;
      if (hit && hit.user.id === key.userId && Date.now() < hit.until) return hit.user;
      const before = generation;
      const found = await selectSessionUser(db, key);
      if (!found) return null;
      if (live && generation === before) {
        entries.set(key.sessionId, {
          user: found.user,
          until: Math.min(Date.now() + ttlMs, found.expiresAt.getTime()),
        });
      }
      return found.user;
    },
    forgetAll,
    async settled(db) {
      if (!live) return;
      const nonce = randomUUID();
      const back = new Promise<void>((resolve) => barriers.set(nonce, resolve));
      try {
        await sql`select pg_notify(${AUTH_CHANNEL}, ${`y:${nonce}`})`.execute(db);
      } catch (err) {
        barriers.delete(nonce);
        throw err;
      }
      await back;
    },
    start() {
      const { connectionString } = options;
      if (!connectionString) return Promise.resolve();
      opening ??= openListenConnection(
        {
          connectionString,
          channels: [AUTH_CHANNEL],
          applicationName: "inkreel-auth-listen",
          name: "session cache",
          log: options.log,
          firstFailure: "retry",
        },
        {
          notify: (_channel, payload) => notified(payload),
          connected: () => {
            forgetAll();
            live = true;
          },
          lost: () => {
            live = false;
            forgetAll();
            releaseBarriers();
          },
        },
      ).then((connection) => {
        listening = connection;
      });
      return opening;
    },
    async close() {
      await opening;
      await listening?.close();
      live = false;
      forgetAll();
      releaseBarriers();
    },
  };
}
