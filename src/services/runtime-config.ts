import { type Config, ConfigError, loadConfig, type TierLimits } from "../config.ts";
import { validation } from "../core/errors.ts";
import { page } from "../core/page.ts";
import type { Db } from "../db/client.ts";
import { type ListenConnection, openListenConnection } from "../db/listen.ts";
import type { ConfigChange, ConfigOverrides, UserTier } from "../db/types.ts";
import type { Logger } from "../log.ts";

/**
 * Global configuration an ADMIN changes at run time (seed 000's /admin/config): overrides of the
 * environment's values, by the same variable names, validated by the same `loadConfig` as the
 * environment, stored in Postgres (migrations/20261206100000_runtime_config.sql) and applied in
 * place to the live sections of every process's Config — on NOTIFY, with a poll as backup.
 */

export type Env = Record<string, string | undefined>;

/** The channel a change NOTIFYs on (its payload: the new version). */
export const CONFIG_CHANNEL = "inkreel_config";
/** How often a process checks the version when no notification came (the backup of NOTIFY). */
const POLL_MS = 1000;

const TIERS: UserTier[] = ["free", "vip", "unlimited"];
const TIER_KEYS: Array<keyof TierLimits> = [
  "imagesPerDay",
  "videosPerDay",
  "apiCallsPerHour",
  "monthlyPoints",
  "queuePriority",
  "batchesPerHour",
  "retriesPerHour",
  "taskListsPerHour",
  "taskPollsPerHour",
];
const envSuffix = (key: string) => key.replace(/[A-Z]/g, (m) => `_${m}`).toUpperCase();

/**
 * What may change at run time, each read from a Config: the tiers and their limits, prices,
 * rate and upload limits. What a process fixes when it starts (ports, the body limit, the
 * database, keys) is not here: those need a restart.
 */
export const RUNTIME_SETTINGS: Readonly<Record<string, (c: Config) => number>> = {
  ...Object.fromEntries(
    TIERS.flatMap((tier) =>
      TIER_KEYS.map((key) => [`LIMIT_${tier.toUpperCase()}_${envSuffix(key)}`, (c: Config) => c.tiers[tier][key]]),
    ),
  ),
  COMPUTE_MARKUP: (c) => c.compute.markup,
  COMPUTE_POINTS_PER_USD: (c) => c.compute.pointsPerUsd,
  COMPUTE_RESERVATION_TTL_S: (c) => c.compute.reservationTtlS,
  COMPUTE_LOCAL_USD_PER_IMAGE: (c) => c.compute.localUsd.per_image,
  COMPUTE_LOCAL_USD_PER_AUDIO_SECOND: (c) => c.compute.localUsd.per_audio_second,
  COMPUTE_LOCAL_USD_PER_VIDEO_SECOND: (c) => c.compute.localUsd.per_video_second,
  RATE_LIMIT_AUTH_PER_MIN: (c) => c.limits.authPerMinute,
  RATE_LIMIT_USER_PER_MIN: (c) => c.limits.userPerMinute,
  UPLOADS_PER_USER: (c) => c.uploads.perUser,
};

/** The environment with the overrides on it, checked as the environment is: a bad value throws ConfigError naming it. */
export function configWith(baseEnv: Env, overrides: ConfigOverrides): Config {
  return loadConfig({ ...baseEnv, ...overrides });
}

/** Copies the live sections of `next` into `target`, in place: every holder of those objects sees the change. */
export function applyLive(target: Config, next: Config): void {
  for (const tier of TIERS) Object.assign(target.tiers[tier], next.tiers[tier]);
  const { localUsd, ...compute } = next.compute;
  Object.assign(target.compute, compute);
  Object.assign(target.compute.localUsd, localUsd);
  target.limits.authPerMinute = next.limits.authPerMinute;
  target.limits.userPerMinute = next.limits.userPerMinute;
  target.uploads.perUser = next.uploads.perUser;
}

export interface RuntimeConfig {
  /** The environment this process started from (what an override is laid over). */
  readonly baseEnv: Env;
  /** The stored version this process has applied (-1: none read yet). */
  readonly version: number;
  /** Reads the stored version and applies it if it is newer. */
  refresh(): Promise<void>;
  /** Applies what is stored, then follows changes (LISTEN, and a poll every second). */
  start(): Promise<void>;
  close(): Promise<void>;
}

async function stored(db: Db) {
  return db.selectFrom("runtime_config").selectAll().executeTakeFirstOrThrow();
}

/** This process's follower of the stored configuration; `connectionString` null: polling only. */
export function createRuntimeConfig(o: {
  db: Db;
  config: Config;
  baseEnv: Env;
  log: Logger;
  connectionString: string | null;
}): RuntimeConfig {
  // -1: nothing read yet, so the first read applies even version 0 (what is stored may predate it).
  let version = -1;
  let listen: ListenConnection | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  // One refresh at a time: a notification and the poll arriving together apply the version once.
  let running: Promise<void> | null = null;
  const apply = async () => {
    const row = await stored(o.db);
    if (row.version === version) return;
    try {
      applyLive(o.config, configWith(o.baseEnv, row.overrides));
      version = row.version;
      o.log.info("runtime config applied", { version, overrides: Object.keys(row.overrides) });
    } catch (e) {
      // Valid where it was saved, not over this process's environment: keep what runs now.
      o.log.error("runtime config not applied", {
        version: row.version,
        error: e instanceof Error ? e.message : String(e),
      });
      version = row.version;
    }
  };
  const refresh = () => {
    running ??= apply().finally(() => {
      running = null;
    });
    return running;
  };
  const quietly = () =>
    refresh().catch((e) =>
      o.log.warn("runtime config check failed", { error: e instanceof Error ? e.message : String(e) }),
    );
  return {
    baseEnv: o.baseEnv,
    get version() {
      return version;
    },
    refresh,
    async start() {
      await quietly();
      timer = setInterval(quietly, POLL_MS);
      timer.unref?.();
      if (o.connectionString)
        listen = await openListenConnection(
          {
            connectionString: o.connectionString,
            channels: [CONFIG_CHANNEL],
            applicationName: "inkreel-config",
            name: "runtime config",
            log: o.log,
            firstFailure: "retry",
          },
          { notify: () => void quietly(), connected: () => void quietly() },
        );
    },
    async close() {
      if (timer) clearInterval(timer);
      await listen?.close();
      await running?.catch(() => {});
    },
  };
}

// ---- what the admin routes do ---------------------------------------------------------------

/** The effective value of every runtime setting in this process, as the environment writes it. */
function effective(config: Config): Record<string, string> {
  return Object.fromEntries(Object.entries(RUNTIME_SETTINGS).map(([name, get]) => [name, String(get(config))]));
}

export async function configView(deps: { db: Db; config: Config; runtime: RuntimeConfig }) {
  const row = await stored(deps.db);
  return {
    version: row.version,
    applied_version: deps.runtime.version,
    updated_at: row.updated_at.toISOString(),
    updated_by: row.updated_by,
    overrides: row.overrides,
    values: effective(deps.config),
    editable: Object.keys(RUNTIME_SETTINGS),
  };
}

/**
 * Sets (a value) or clears (null: back to the environment's) runtime settings: checked with the
 * environment's own rules (400 naming the field), stored with its history under the row's lock,
 * announced to every process in the same commit, and applied here before answering.
 */
export async function patchConfig(
  deps: { db: Db; config: Config; runtime: RuntimeConfig },
  p: { actorId: string; set: Record<string, string | number | null> },
) {
  const unknown = Object.keys(p.set).filter((name) => !(name in RUNTIME_SETTINGS));
  if (unknown.length)
    throw validation(
      unknown.map((name) => ({ path: `/set/${name}`, message: "not a setting that changes at run time" })),
      "unknown settings",
    );
  await deps.db.transaction().execute(async (trx) => {
    // One change at a time: two admins' PATCHes each see the other's result, never a lost update.
    const row = await trx.selectFrom("runtime_config").selectAll().forUpdate().executeTakeFirstOrThrow();
    const next: ConfigOverrides = { ...row.overrides };
    const before: ConfigChange = {};
    const after: ConfigChange = {};
    for (const [name, value] of Object.entries(p.set)) {
      before[name] = row.overrides[name] ?? null;
      if (value === null) delete next[name];
      else next[name] = String(value);
      after[name] = next[name] ?? null;
    }
    try {
      configWith(deps.runtime.baseEnv, next);
    } catch (e) {
      if (e instanceof ConfigError) throw validation([{ path: `/set/${e.variable}`, message: e.message }]);
      throw e;
    }
    const version = row.version + 1;
    await trx
      .updateTable("runtime_config")
      .set({ overrides: JSON.stringify(next), version, updated_at: new Date(), updated_by: p.actorId })
      .execute();
    await trx
      .insertInto("runtime_config_history")
      .values({ version, actor_id: p.actorId, before: JSON.stringify(before), after: JSON.stringify(after) })
      .execute();
    await trx
      .selectNoFrom((eb) => eb.fn("pg_notify", [eb.val(CONFIG_CHANNEL), eb.val(String(version))]).as("n"))
      .execute();
  });
  await deps.runtime.refresh();
  return configView(deps);
}

export async function configHistory(db: Db, q: { page?: number; page_size?: number }) {
  const pageNo = q.page ?? 1;
  const size = q.page_size ?? 20;
  const [rows, count] = await Promise.all([
    db
      .selectFrom("runtime_config_history")
      .leftJoin("users", "users.id", "runtime_config_history.actor_id")
      .selectAll("runtime_config_history")
      .select("users.username as actor_username")
      .orderBy("runtime_config_history.version", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    db
      .selectFrom("runtime_config_history")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow(),
  ]);
  const items = rows.map((r) => ({
    version: r.version,
    actor_id: r.actor_id,
    actor_username: r.actor_username,
    changed_at: r.changed_at.toISOString(),
    before: r.before,
    after: r.after,
  }));
  return page(items, Number(count.n), pageNo, size);
}
