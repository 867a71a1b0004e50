import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { CAPABILITIES, PROVIDERS, type ProviderChoice } from "./core/capabilities.ts";

/** The one typed configuration of every Inkreel process, read from the environment. */
export interface Config {
  /** Absent: the embedded PostgreSQL under `dataDir` is used. */
  databaseUrl: string | null;
  host: string;
  port: number;
  dataDir: string;
  /** Public base URL of the API, used in printed URLs and signed links. */
  publicUrl: string;
  logLevel: "debug" | "info" | "warn" | "error";
  jwt: {
    /** When set, access tokens are HS256 with this secret; otherwise ES256 with a stored key. */
    secret: string | null;
    issuer: string;
    accessTtlS: number;
    refreshTtlS: number;
  };
  supabase: {
    url: string;
    anonKey: string;
    serviceRoleKey: string | null;
    jwtSecret: string | null;
  } | null;
  cors: { origins: string[] };
  cookieSecure: boolean;
  trustProxy: boolean;
  storage: {
    /** "local": files under DATA_DIR/files behind signed links; "supabase": Supabase Storage. */
    driver: "local" | "supabase";
    bucket: string;
    /** HMAC secret of local signed links; generated and kept under DATA_DIR when absent. */
    signingSecret: string | null;
  };
  queue: {
    /** "poll-only" behind transaction-mode poolers (e.g. Supabase's port 6543), where LISTEN fails. */
    mode: "listen" | "poll-only";
    pollIntervalMs: number;
    leaseMs: number;
    /** How long finished jobs stay in job_history. */
    retentionHours: number;
  };
  /** Which provider serves each capability (TEXT_PROVIDER, IMAGE_PROVIDER, …; "local" by default). */
  providers: ProviderChoice;
  /**
   * Cloud provider credentials and default models from the environment; a provider chosen above
   * must have its key. Keys set through the admin API (stored encrypted) take precedence.
   */
  cloud: {
    openai: {
      apiKey: string | null;
      baseUrl: string | null;
      textModel: string;
      imageModel: string;
      /** OPENAI_TEXT_API: the built-in openai provider's text API, Chat Completions (default) or the Responses API. */
      textApi: "chat" | "responses";
      /** OPENAI_VIDEO_MODEL: Sora, "sora-2" (default) or "sora-2-pro". */
      videoModel: string;
      /** OPENAI_VIDEO_POLL_MS: time between status polls of a rendering Sora video (default 5000). */
      videoPollIntervalMs: number;
    };
    fal: {
      key: string | null;
      /** Routes fal's queue and REST calls through this host (a proxy); default fal's own hosts. */
      baseUrl: string | null;
      imageModel: string;
      videoModel: string;
      /** Set when PUBLIC_URL is: requests are submitted with this webhook, else polled. */
      webhookUrl: string | null;
      /** fal's webhook signing keys (JWKS). */
      jwksUrl: string;
      /** Time between status polls of a queued request; null: the model's default (1 s images, 3 s videos). */
      pollIntervalMs: number | null;
      /**
       * FAL_ORPHAN_WAIT_MS: how long a rescued job waits for the webhook of a submission its dead
       * predecessor sent but never stored the id of, before submitting (and paying) again.
       */
      orphanWaitMs: number;
    };
    elevenlabs: { apiKey: string | null; baseUrl: string | null; speechModel: string; musicModel: string };
    /**
     * COMFYUI_URL: the ComfyUI server of the built-in `comfyui` provider (the operator's, so it may
     * be on loopback); COMFYUI_API_KEY: a bearer token for a server behind an authenticating proxy.
     */
    comfyui: {
      url: string | null;
      apiKey: string | null;
      /** COMFYUI_POLL_INTERVAL_MS: the safety poll of /history while the WebSocket is quiet. */
      pollIntervalMs: number;
      /** COMFYUI_VIDEO_FPS: `{{fps}}` of image-to-video workflows; `{{frames}}` = duration × fps. */
      videoFps: number;
    };
  };
  /** Encrypts API keys stored in Postgres (PROVIDER_SECRET_KEY; generated under DATA_DIR when absent). */
  providerSecret: string | null;
  /** Custom provider URLs may resolve to loopback, private or link-local addresses (ALLOW_PRIVATE_PROVIDER_URLS). */
  allowPrivateProviderUrls: boolean;
  /**
   * PROVIDER_REQUEST_TIMEOUT_MS: how long one HTTP request to OpenAI or ElevenLabs may go unanswered
   * before it counts as failed (retried by the SDK, then failed over to the chain's next link);
   * null: each SDK's own default (300 s OpenAI, 240 s ElevenLabs).
   */
  providerRequestTimeoutMs: number | null;
  /** Pipeline jobs a worker process runs at once (they are CPU-bound): PIPELINE_CONCURRENCY, default one per core. */
  pipelineConcurrency: number;
  /** Media files whose inspection (kind, size, length, digest) a worker process remembers: MEDIA_INSPECT_CACHE_ENTRIES. */
  mediaInspectCacheEntries: number;
  limits: {
    bodyBytes: number;
    authPerMinute: number;
    userPerMinute: number;
  };
  /**
   * Per-user limits of direct generation by tier (seed 004): pictures and videos a UTC day, calls of
   * the generation API an hour. LIMIT_<TIER>_IMAGES_PER_DAY, …_VIDEOS_PER_DAY, …_API_CALLS_PER_HOUR.
   */
  tiers: Record<"free" | "vip" | "unlimited", TierLimits>;
  /** Compute power (算力): what a unit of work costs in points, and how long a reservation may stay open. */
  compute: ComputeConfig;
  payments: {
    /**
     * PAYMENT_WEBHOOK_SECRET: the HMAC-SHA256 key of the payment provider's webhook
     * (POST /api/v1/webhooks/payments, header X-Inkreel-Signature); null: the webhook answers 404
     * and recharge intents stay pending.
     */
    webhookSecret: string | null;
  };
  /** SQUARE_FEED_CACHE_MS: how long an API process may serve a square feed page it read (default 1000; 0: never). */
  squareFeedCacheMs: number;
  uploads: {
    /** UPLOAD_MAX_BYTES: the largest file POST /uploads takes (default 100 MB). */
    maxBytes: number;
    /** UPLOADS_PER_USER: uploads one user may have streaming in at once, across API processes (default 3). */
    perUser: number;
    /** ASSET_TRASH_RETENTION_DAYS: how long a trashed asset waits before it is purged (default 30; 0 purges at the next sweep). */
    trashRetentionDays: number;
  };
  metrics: {
    /** METRICS_TOKEN: the bearer token of GET /metrics; without it the API has no /metrics route. */
    token: string | null;
    /** WORKER_METRICS_PORT: where `inkreel worker` serves its own /metrics (0: any free port); null: nowhere. */
    workerPort: number | null;
  };
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | null {
  const v = env[name]?.trim();
  return v ? v : null;
}

export interface TierLimits {
  imagesPerDay: number;
  videosPerDay: number;
  apiCallsPerHour: number;
  /** LIMIT_<TIER>_MONTHLY_POINTS: compute power granted free at the start of each UTC month. */
  monthlyPoints: number;
  /** LIMIT_<TIER>_QUEUE_PRIORITY: the queue priority of the tier's runs and generations (lower is claimed first). */
  queuePriority: number;
  /** LIMIT_<TIER>_BATCHES_PER_HOUR: batches of clip videos and of episodes started (seed 000: 5). */
  batchesPerHour: number;
  /** LIMIT_<TIER>_RETRIES_PER_HOUR: run retries and single regenerations (seed 000: 20). */
  retriesPerHour: number;
  /** LIMIT_<TIER>_TASK_LISTS_PER_HOUR and …_TASK_POLLS_PER_HOUR: task lists and task status reads (seed 001: 100 and 1,000). */
  taskListsPerHour: number;
  taskPollsPerHour: number;
}

export interface ComputeConfig {
  /** COMPUTE_MARKUP: provider list price × this is what a user pays (default 1). */
  markup: number;
  /** COMPUTE_POINTS_PER_USD: points one US dollar buys (default 100: a point is a cent). */
  pointsPerUsd: number;
  /** COMPUTE_RESERVATION_TTL_S: after this an open reservation whose work has ended is released by the sweep (default 6 h). */
  reservationTtlS: number;
  /**
   * A nominal price for the local providers, which cost nothing by default: COMPUTE_LOCAL_USD_PER_IMAGE,
   * …_PER_AUDIO_SECOND, …_PER_VIDEO_SECOND (US dollars, before the markup).
   */
  localUsd: { per_image: number; per_audio_second: number; per_video_second: number };
}

function signedInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new ConfigError(name, `must be a decimal number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function computeConfig(env: Env): ComputeConfig {
  return {
    markup: decimal(env, "COMPUTE_MARKUP", 1, 0, 1000),
    pointsPerUsd: decimal(env, "COMPUTE_POINTS_PER_USD", 100, 0.0001, 1_000_000),
    reservationTtlS: int(env, "COMPUTE_RESERVATION_TTL_S", 21_600, 60, 30 * 86_400),
    localUsd: {
      per_image: decimal(env, "COMPUTE_LOCAL_USD_PER_IMAGE", 0, 0, 100),
      per_audio_second: decimal(env, "COMPUTE_LOCAL_USD_PER_AUDIO_SECOND", 0, 0, 100),
      per_video_second: decimal(env, "COMPUTE_LOCAL_USD_PER_VIDEO_SECOND", 0, 0, 100),
    },
  };
}

function tierLimits(env: Env, tier: string, d: TierLimits): TierLimits {
  return {
    monthlyPoints: int(env, `LIMIT_${tier}_MONTHLY_POINTS`, d.monthlyPoints, 0, 1_000_000_000),
    queuePriority: signedInt(env, `LIMIT_${tier}_QUEUE_PRIORITY`, d.queuePriority, -1000, 1000),
    imagesPerDay: int(env, `LIMIT_${tier}_IMAGES_PER_DAY`, d.imagesPerDay, 0, 1_000_000),
    videosPerDay: int(env, `LIMIT_${tier}_VIDEOS_PER_DAY`, d.videosPerDay, 0, 1_000_000),
    apiCallsPerHour: int(env, `LIMIT_${tier}_API_CALLS_PER_HOUR`, d.apiCallsPerHour, 0, 10_000_000),
    batchesPerHour: int(env, `LIMIT_${tier}_BATCHES_PER_HOUR`, d.batchesPerHour, 0, 10_000_000),
    retriesPerHour: int(env, `LIMIT_${tier}_RETRIES_PER_HOUR`, d.retriesPerHour, 0, 10_000_000),
    taskListsPerHour: int(env, `LIMIT_${tier}_TASK_LISTS_PER_HOUR`, d.taskListsPerHour, 0, 100_000_000),
    taskPollsPerHour: int(env, `LIMIT_${tier}_TASK_POLLS_PER_HOUR`, d.taskPollsPerHour, 0, 100_000_000),
  };
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const raw = str(env, name);
  if (raw === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, "must be a URL");
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(" or ")}`);
  }
  return raw.replace(/\/+$/, "");
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

function storageConfig(env: Env, supabase: Config["supabase"]): Config["storage"] {
  const driver = oneOf(env, "STORAGE_DRIVER", ["local", "supabase"] as const, "local");
  if (driver === "supabase" && !supabase)
    throw new ConfigError("STORAGE_DRIVER", "is supabase but SUPABASE_URL is not set");
  if (driver === "supabase" && !supabase?.serviceRoleKey) {
    throw new ConfigError("SUPABASE_SERVICE_ROLE_KEY", "is required when STORAGE_DRIVER is supabase");
  }
  const bucket = str(env, "SUPABASE_STORAGE_BUCKET") ?? "inkreel";
  if (!/^[a-z0-9][a-z0-9._-]{1,62}$/.test(bucket))
    throw new ConfigError("SUPABASE_STORAGE_BUCKET", "must be a valid bucket name");
  const signingSecret = str(env, "STORAGE_SIGNING_SECRET");
  if (signingSecret !== null && signingSecret.length < 32)
    throw new ConfigError("STORAGE_SIGNING_SECRET", "must be at least 32 characters");
  return { driver, bucket, signingSecret };
}

function metricsConfig(env: Env): Config["metrics"] {
  const token = str(env, "METRICS_TOKEN");
  if (token !== null && (token.length < 16 || /\s/.test(token)))
    throw new ConfigError("METRICS_TOKEN", "must be at least 16 characters without spaces");
  const workerPort = str(env, "WORKER_METRICS_PORT") === null ? null : int(env, "WORKER_METRICS_PORT", 0, 0, 65535);
  if (workerPort !== null && token === null)
    throw new ConfigError("METRICS_TOKEN", "is required when WORKER_METRICS_PORT is set");
  return { token, workerPort };
}

function providerChoice(env: Env): ProviderChoice {
  const choice: Record<string, string> = {};
  for (const c of CAPABILITIES) choice[c] = oneOf(env, `${c.toUpperCase()}_PROVIDER`, PROVIDERS[c], "local");
  return choice as ProviderChoice;
}

const KEYS = { openai: "OPENAI_API_KEY", fal: "FAL_KEY", elevenlabs: "ELEVENLABS_API_KEY" } as const;

function cloudConfig(env: Env, choice: ProviderChoice, publicUrl: string | null): Config["cloud"] {
  for (const c of CAPABILITIES) {
    const name = choice[c] as string;
    if (name !== "local" && !str(env, KEYS[name as keyof typeof KEYS]))
      throw new ConfigError(KEYS[name as keyof typeof KEYS], `is required when ${c.toUpperCase()}_PROVIDER is ${name}`);
  }
  return {
    openai: {
      apiKey: str(env, "OPENAI_API_KEY"),
      baseUrl: url(env, "OPENAI_BASE_URL", ["http:", "https:"]),
      textModel: str(env, "OPENAI_TEXT_MODEL") ?? "gpt-4o-mini",
      imageModel: str(env, "OPENAI_IMAGE_MODEL") ?? "gpt-image-1",
      textApi: oneOf(env, "OPENAI_TEXT_API", ["chat", "responses"] as const, "chat"),
      videoModel: str(env, "OPENAI_VIDEO_MODEL") ?? "sora-2",
      videoPollIntervalMs: int(env, "OPENAI_VIDEO_POLL_MS", 5000, 1, 600_000),
    },
    fal: {
      key: str(env, "FAL_KEY"),
      baseUrl: url(env, "FAL_BASE_URL", ["http:", "https:"]),
      imageModel: str(env, "FAL_IMAGE_MODEL") ?? "fal-ai/flux/dev",
      videoModel: str(env, "FAL_VIDEO_MODEL") ?? "fal-ai/kling-video/v2.1/standard/image-to-video",
      webhookUrl: publicUrl ? `${publicUrl}/api/v1/webhooks/fal` : null,
      jwksUrl: url(env, "FAL_JWKS_URL", ["http:", "https:"]) ?? "https://rest.alpha.fal.ai/.well-known/jwks.json",
      pollIntervalMs:
        str(env, "FAL_POLL_INTERVAL_MS") === null ? null : int(env, "FAL_POLL_INTERVAL_MS", 1000, 10, 60_000),
      orphanWaitMs: int(env, "FAL_ORPHAN_WAIT_MS", 5000, 0, 600_000),
    },
    elevenlabs: {
      apiKey: str(env, "ELEVENLABS_API_KEY"),
      baseUrl: url(env, "ELEVENLABS_BASE_URL", ["http:", "https:"]),
      speechModel: str(env, "ELEVENLABS_SPEECH_MODEL") ?? "eleven_multilingual_v2",
      musicModel: str(env, "ELEVENLABS_MUSIC_MODEL") ?? "music_v2_5",
    },
    comfyui: {
      url: url(env, "COMFYUI_URL", ["http:", "https:"]),
      apiKey: str(env, "COMFYUI_API_KEY"),
      pollIntervalMs: int(env, "COMFYUI_POLL_INTERVAL_MS", 2000, 10, 60_000),
      videoFps: int(env, "COMFYUI_VIDEO_FPS", 8, 1, 60),
    },
  };
}

/** Reads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const port = int(env, "PORT", 3000, 0, 65535);
  const host = str(env, "HOST") ?? "0.0.0.0";
  const secret = str(env, "JWT_SECRET");
  if (secret !== null && secret.length < 32) {
    throw new ConfigError("JWT_SECRET", "must be at least 32 characters");
  }
  const supabaseUrl = url(env, "SUPABASE_URL", ["http:", "https:"]);
  let supabase: Config["supabase"] = null;
  if (supabaseUrl) {
    const anonKey = str(env, "SUPABASE_ANON_KEY");
    if (!anonKey) throw new ConfigError("SUPABASE_ANON_KEY", "is required when SUPABASE_URL is set");
    supabase = {
      url: supabaseUrl,
      anonKey,
      serviceRoleKey: str(env, "SUPABASE_SERVICE_ROLE_KEY"),
      jwtSecret: str(env, "SUPABASE_JWT_SECRET"),
    };
  }
  const origins = (str(env, "CORS_ORIGINS") ?? "")
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (origin === "*") continue;
    try {
      new URL(origin);
    } catch {
      throw new ConfigError("CORS_ORIGINS", `contains "${origin}", which is not an origin URL or *`);
    }
  }
  const accessTtlS = int(env, "JWT_ACCESS_TTL_S", 900, 30, 86_400);
  const providers = providerChoice(env);
  const publicUrl = url(env, "PUBLIC_URL", ["http:", "https:"]);
  const providerSecret = str(env, "PROVIDER_SECRET_KEY");
  if (providerSecret !== null && providerSecret.length < 32)
    throw new ConfigError("PROVIDER_SECRET_KEY", "must be at least 32 characters");
  return {
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
    host,
    port,
    dataDir: resolve(str(env, "DATA_DIR") ?? ".inkreel"),
    publicUrl: publicUrl ?? `http://localhost:${port}`,
    logLevel: oneOf(env, "LOG_LEVEL", ["debug", "info", "warn", "error"] as const, "info"),
    jwt: {
      secret,
      issuer: supabase ? `${supabase.url}/auth/v1` : (str(env, "JWT_ISSUER") ?? "inkreel"),
      accessTtlS,
      refreshTtlS: int(env, "JWT_REFRESH_TTL_S", 30 * 86_400, accessTtlS, 365 * 86_400),
    },
    supabase,
    cors: { origins },
    cookieSecure: bool(env, "COOKIE_SECURE", true),
    trustProxy: bool(env, "TRUST_PROXY", false),
    storage: storageConfig(env, supabase),
    queue: {
      mode: oneOf(env, "QUEUE_MODE", ["listen", "poll-only"] as const, "listen"),
      pollIntervalMs: int(env, "QUEUE_POLL_INTERVAL_MS", 1000, 10, 60_000),
      leaseMs: int(env, "QUEUE_LEASE_MS", 30_000, 1000, 3_600_000),
      retentionHours: int(env, "JOB_RETENTION_HOURS", 168, 1, 24 * 365),
    },
    providers,
    cloud: cloudConfig(env, providers, publicUrl),
    providerSecret,
    allowPrivateProviderUrls: bool(env, "ALLOW_PRIVATE_PROVIDER_URLS", false),
    providerRequestTimeoutMs:
      str(env, "PROVIDER_REQUEST_TIMEOUT_MS") === null
        ? null
        : int(env, "PROVIDER_REQUEST_TIMEOUT_MS", 300_000, 100, 3_600_000),
    pipelineConcurrency: int(env, "PIPELINE_CONCURRENCY", availableParallelism(), 1, 256),
    mediaInspectCacheEntries: int(env, "MEDIA_INSPECT_CACHE_ENTRIES", 512, 1, 1_000_000),
    limits: {
      bodyBytes: int(env, "BODY_LIMIT_BYTES", 1_048_576, 1024, 1_073_741_824),
      authPerMinute: int(env, "RATE_LIMIT_AUTH_PER_MIN", 10, 1, 1_000_000),
      userPerMinute: int(env, "RATE_LIMIT_USER_PER_MIN", 60, 1, 1_000_000),
    },
    squareFeedCacheMs: int(env, "SQUARE_FEED_CACHE_MS", 1000, 0, 60_000),
    tiers: {
      free: tierLimits(env, "FREE", {
        imagesPerDay: 10,
        videosPerDay: 3,
        apiCallsPerHour: 100,
        monthlyPoints: 500,
        queuePriority: 0,
        batchesPerHour: 5,
        retriesPerHour: 20,
        taskListsPerHour: 100,
        taskPollsPerHour: 1000,
      }),
      vip: tierLimits(env, "VIP", {
        imagesPerDay: 100,
        videosPerDay: 20,
        apiCallsPerHour: 1000,
        monthlyPoints: 5000,
        queuePriority: -10,
        batchesPerHour: 20,
        retriesPerHour: 100,
        taskListsPerHour: 1000,
        taskPollsPerHour: 10_000,
      }),
      // Not refused by points (ADMIN callers have it too); the counters still bound a runaway script.
      unlimited: tierLimits(env, "UNLIMITED", {
        imagesPerDay: 1_000_000,
        videosPerDay: 1_000_000,
        apiCallsPerHour: 10_000_000,
        monthlyPoints: 0,
        queuePriority: -10,
        batchesPerHour: 10_000_000,
        retriesPerHour: 10_000_000,
        taskListsPerHour: 100_000_000,
        taskPollsPerHour: 100_000_000,
      }),
    },
    compute: computeConfig(env),
    payments: { webhookSecret: str(env, "PAYMENT_WEBHOOK_SECRET") },
    uploads: {
      maxBytes: int(env, "UPLOAD_MAX_BYTES", 100 * 1024 * 1024, 1024, 10 * 1024 * 1024 * 1024),
      perUser: int(env, "UPLOADS_PER_USER", 3, 1, 100),
      trashRetentionDays: int(env, "ASSET_TRASH_RETENTION_DAYS", 30, 0, 3650),
    },
    metrics: metricsConfig(env),
  };
}
