import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import pkg from "../package.json" with { type: "json" };
import { createSessionCache, type SessionCache } from "./auth/session-cache.ts";
import { type AccessClaims, createIssuer, createSupabaseVerifier, type TokenIssuer } from "./auth/tokens.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";
import type { Logger } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics/registry.ts";
import { createProviderResolver, type ProviderResolver } from "./providers/registry.ts";
import { createRealtimeHub, type RealtimeHub } from "./realtime/hub.ts";
import { createRateLimiter, type RateLimiter } from "./services/rate-limit.ts";
import { createRuntimeConfig, type RuntimeConfig } from "./services/runtime-config.ts";
import { createStorage } from "./storage/index.ts";
import type { Storage } from "./storage/types.ts";

/** Everything a request handler needs, built once per process and passed to every module. */
export interface Deps {
  config: Config;
  db: Db;
  log: Logger;
  issuer: TokenIssuer;
  /** Set in Supabase mode: verifies Supabase Auth access tokens. */
  verifySupabase: ((token: string) => Promise<AccessClaims>) | null;
  /** Set in Supabase mode: a fresh, session-less supabase-js client for one auth call. */
  supabaseClient: (() => SupabaseClient) | null;
  storage: Storage;
  /** Secret of the local driver's signed file links; null when files live in Supabase. */
  fileLinkSecret: string | null;
  /** The models of each capability's chain (for the few routes that ask a provider directly). */
  providers: ProviderResolver;
  /** This process's live-event hub (one LISTEN connection, opened on first use or `start()`). */
  realtime: RealtimeHub;
  /** This process's metrics registry, served at GET /metrics when METRICS_TOKEN is set. */
  metrics: Metrics;
  /** This process's share of the rate-limit windows kept in Postgres. */
  rateLimiter: RateLimiter;
  /** The users behind live sessions, kept true by the database's notifications. */
  sessions: SessionCache;
  /** The stored run-time configuration this process follows (ADMIN PATCH /admin/config). */
  runtime: RuntimeConfig;
  startedAt: number;
}

export interface DepsOverrides {
  /** Lets tests point jose's JWKS fetch and supabase-js at local servers. */
  fetch?: typeof fetch;
  /** The database the realtime hub LISTENs on, when config.databaseUrl is not it (embedded Postgres). */
  databaseUrl?: string;
  /** The process's registry when it was needed before the deps (to watch the pool of `db`). */
  metrics?: Metrics;
  /** The environment `config` was loaded from (default process.env): what run-time overrides are laid over. */
  env?: Record<string, string | undefined>;
}

export async function createDeps(config: Config, db: Db, log: Logger, overrides: DepsOverrides = {}): Promise<Deps> {
  const sb = config.supabase;
  const { storage, linkSecret } = await createStorage(config, overrides.fetch);
  const metrics = overrides.metrics ?? createMetrics({ process: "api", version: pkg.version, log });
  const realtime = createRealtimeHub({
    db,
    log,
    connectionString: overrides.databaseUrl ?? config.databaseUrl,
    mode: config.queue.mode,
    pollIntervalMs: config.queue.pollIntervalMs,
    broadcast: sb?.serviceRoleKey ? { url: sb.url, serviceRoleKey: sb.serviceRoleKey, fetch: overrides.fetch } : null,
  });
  metrics.watchQueues(db);
  metrics.watchRealtime(() => realtime.subscriberCount());
  return {
    config,
    db,
    log,
    issuer: await createIssuer(config, db),
    verifySupabase: sb ? createSupabaseVerifier(sb, overrides.fetch) : null,
    supabaseClient: sb
      ? () =>
          createClient(sb.url, sb.anonKey, {
            auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
            global: overrides.fetch ? { fetch: overrides.fetch } : {},
          })
      : null,
    storage,
    fileLinkSecret: linkSecret,
    providers: createProviderResolver({ config, db, log, calls: metrics.providers }),
    realtime,
    metrics,
    rateLimiter: createRateLimiter(db),
    sessions: createSessionCache({
      connectionString: config.queue.mode === "poll-only" ? null : (overrides.databaseUrl ?? config.databaseUrl),
      log,
    }),
    runtime: createRuntimeConfig({
      db,
      config,
      baseEnv: overrides.env ?? process.env,
      log,
      connectionString: config.queue.mode === "poll-only" ? null : (overrides.databaseUrl ?? config.databaseUrl),
    }),
    startedAt: Date.now(),
  };
}
