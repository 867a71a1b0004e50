-- Cloud providers: which provider and model serve each capability, the requests they were sent
-- (so a rescued job resumes instead of paying again), fal's webhooks, and the cost ledger.

-- Built-in providers (local, openai, fal, elevenlabs) are upserted at start-up; custom ones are
-- OpenAI-compatible endpoints added by an ADMIN. An API key is stored encrypted (AES-256-GCM under
-- the server key, see src/providers/secrets.ts) and never returned; a built-in provider without
-- one uses the key of the environment.
create table providers (
  id text primary key check (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text not null,
  kind text not null check (kind in ('local', 'openai', 'fal', 'elevenlabs', 'openai_compatible')),
  builtin boolean not null default false,
  enabled boolean not null default true,
  base_url text,
  api_key_enc text,
  -- The models it offers per capability: {"text": ["gpt-4o-mini"], "image": ["gpt-image-1"]}.
  models jsonb not null default '{}'::jsonb,
  -- {"concurrency": 4, "rate_per_minute": 60, "prices": {"<model>": {...}}}
  config jsonb not null default '{}'::jsonb,
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Per capability, the ordered chain of {provider, model}: the first is the default, the others
-- are tried in turn when it fails with a 5xx, a timeout or exhausted 429s. No row: the chain of
-- the environment (TEXT_PROVIDER, OPENAI_TEXT_MODEL, …).
create table provider_chains (
  capability text primary key check (capability in ('text', 'image', 'video', 'speech', 'music')),
  chain jsonb not null,
  updated_by uuid references users (id) on delete set null,
  updated_at timestamptz not null default now()
);

-- Submitted queue requests (fal), keyed by a fingerprint of the request; written before waiting
-- and deleted once the result is stored.
create table provider_requests (
  key text primary key,
  endpoint_id text not null,
  request_id text not null,
  created_at timestamptz not null default now()
);
create index provider_requests_request on provider_requests (request_id);

-- fal webhook deliveries that passed the signature check; a signature seen twice is a replay.
create table fal_webhooks (
  signature text primary key,
  request_id text not null,
  status text,
  received_at timestamptz not null default now()
);
create index fal_webhooks_request on fal_webhooks (request_id);
create index fal_webhooks_received on fal_webhooks (received_at);

-- Every provider call: what it used and cost, for whom. Failed calls are recorded too; a failed
-- call followed by a call to the next model of the chain is a failover.
create table provider_usage (
  id bigint generated always as identity primary key,
  created_at timestamptz not null default now(),
  user_id uuid references users (id) on delete set null,
  space_id uuid,
  project_id uuid references projects (id) on delete cascade,
  run_id uuid references runs (id) on delete set null,
  stage text,
  shot_id text,
  capability text not null,
  provider text not null,
  model text not null,
  outcome text not null check (outcome in ('ok', 'failed')),
  failed_over boolean not null default false,
  error text,
  request_id text,
  input_tokens integer not null default 0,
  output_tokens integer not null default 0,
  images integer not null default 0,
  audio_seconds numeric(12, 3) not null default 0,
  video_seconds numeric(12, 3) not null default 0,
  cost_usd numeric(14, 6) not null default 0,
  duration_ms integer not null default 0
);
create index provider_usage_project on provider_usage (project_id, created_at);
create index provider_usage_run on provider_usage (run_id);
create index provider_usage_user on provider_usage (user_id, created_at);

-- Calls started per provider, for per-minute rate limits shared by every worker.
create table provider_calls (
  provider text not null,
  at timestamptz not null default clock_timestamp()
);
create index provider_calls_at on provider_calls (provider, at);

-- The voice library: the voices each speech provider offers, refreshed from its API.
create table voices (
  provider text not null,
  voice_id text not null,
  name text not null,
  gender text,
  age text,
  accent text,
  language text,
  description text,
  preview_url text,
  labels jsonb not null default '{}'::jsonb,
  synced_at timestamptz not null default now(),
  primary key (provider, voice_id)
);
