-- Compute power (算力, seeds 003 and 004): points a user — or a team space, for work that
-- belongs to one — spends on provider calls. Points = provider cost in USD × markup × points per
-- USD (COMPUTE_MARKUP, COMPUTE_POINTS_PER_USD).
--
-- compute_accounts holds the running balance; compute_ledger is append-only, one row per change,
-- each with the balance it left. An entry and its account's update are written in one transaction
-- under the account's row lock, so the balance is never read, changed and written back by two
-- requests at once. (ref, kind) is unique: every entry has a key derived from what caused it (a
-- charge, a provider_usage row, a grant, a code, a payment), so repeating it — a retried job, a
-- replayed webhook — adds nothing.
--
-- A paid request opens a compute_charge and reserves its estimate (balance → reserved) in the
-- transaction that enqueues its work; every provider call settles its cost against the charge
-- (reserved → used, or balance → used past the reservation); the work's end releases what is left.
create table compute_accounts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid unique references users (id) on delete cascade,
  space_id uuid unique references spaces (id) on delete cascade,
  -- Points free to spend (settled costs past a reservation may take it below zero; reserving never does).
  balance numeric(20, 4) not null default 0,
  reserved numeric(20, 4) not null default 0 check (reserved >= 0),
  used numeric(20, 4) not null default 0,
  -- Points granted free (monthly grants, admin gifts) and bought, over the account's life.
  gifted numeric(20, 4) not null default 0,
  recharged numeric(20, 4) not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((user_id is null) <> (space_id is null))
);

create table compute_charges (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references compute_accounts (id) on delete cascade,
  user_id uuid references users (id) on delete set null,
  kind text not null check (kind in ('run', 'export', 'regenerate', 'batch_video', 'generate')),
  -- The run, export, generation or batch the points pay for (settlements find the charge by it).
  subject_id uuid not null,
  estimate_points numeric(20, 4) not null,
  estimate_usd numeric(14, 6) not null,
  -- What is still held of the reservation, and what the calls cost so far.
  held numeric(20, 4) not null check (held >= 0),
  settled numeric(20, 4) not null default 0,
  breakdown jsonb not null default '[]',
  status text not null default 'open' check (status in ('open', 'closed')),
  created_at timestamptz not null default now(),
  -- After this an open charge whose work is not live any more is released by the sweep (kind expire).
  expires_at timestamptz not null,
  closed_at timestamptz
);
create index compute_charges_subject on compute_charges (subject_id) where status = 'open';
create index compute_charges_expiry on compute_charges (expires_at) where status = 'open';

create table compute_ledger (
  id bigint generated always as identity primary key,
  account_id uuid not null references compute_accounts (id) on delete cascade,
  kind text not null check (kind in ('grant', 'recharge', 'reserve', 'settle', 'release', 'refund', 'expire')),
  ref text not null,
  -- The change to the free balance and to the reserved points (settle: both may move).
  points numeric(20, 4) not null,
  reserved_change numeric(20, 4) not null default 0,
  balance_after numeric(20, 4) not null,
  reserved_after numeric(20, 4) not null,
  charge_id uuid references compute_charges (id) on delete set null,
  usage_id bigint,
  usd numeric(14, 6),
  reason text,
  actor_id uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  unique (ref, kind)
);
create index compute_ledger_account on compute_ledger (account_id, id desc);

-- A run's jobs are queued at its payer's tier's priority (LIMIT_<TIER>_QUEUE_PRIORITY; lower first).
alter table runs add column priority integer not null default 0;

-- The unlimited tier: an ADMIN's own work is metered but never refused.
alter table users drop constraint users_tier_check;
alter table users add constraint users_tier_check check (tier in ('free', 'vip', 'unlimited'));
