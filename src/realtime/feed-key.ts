/**
 * The hub's feeds are named by string keys: a project's log by the project's uuid (so every
 * project caller reads as it did before user feeds existed) and a user's own log by
 * `user:<uuid>` (no uuid starts with "user:"). The key is also what the append lock hashes.
 */
export type FeedKey = string;

export type Feed = { project: string } | { user: string };

const USER_PREFIX = "user:";

/** The feed of a user's direct generations (their `user_events`). */
export const userFeedKey = (userId: string): FeedKey => `${USER_PREFIX}${userId}`;

export function parseFeedKey(key: FeedKey): Feed {
  return key.startsWith(USER_PREFIX) ? { user: key.slice(USER_PREFIX.length) } : { project: key };
}
