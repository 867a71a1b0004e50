-- Recharge (issue 19 §5): the ways points come into a user's compute account besides the monthly
-- grant — an ADMIN's gift (a ledger entry only, kind grant, ref admin-grant:<uuid>), a redeem code
-- and a payment. Every credit is a compute_ledger entry (providers/compute-ledger.ts) written in the
-- transaction that marks its code redeemed or its payment succeeded, keyed by the code's or the
-- payment intent's id, so a race or a replay credits once.

-- Single-use codes an ADMIN makes in batches. Only the code's SHA-256 is stored: the clear code is
-- shown once, in the answer that made it. Redeeming is one conditional UPDATE (not yet redeemed,
-- not expired), so of two redemptions at once exactly one gets the row back.
create table redeem_codes (
  id uuid primary key default gen_random_uuid(),
  -- Hex SHA-256 of the normalised code (upper-case Crockford base32, no separators).
  code_hash text not null constraint redeem_codes_code_hash_key unique
    constraint redeem_codes_code_hash_check check (code_hash ~ '^[0-9a-f]{64}$'),
  -- The codes made by one request share a batch.
  batch_id uuid not null,
  points integer not null constraint redeem_codes_points_check check (points between 1 and 10000000),
  note text,
  created_by uuid constraint redeem_codes_created_by_fkey references users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  redeemed_by uuid constraint redeem_codes_redeemed_by_fkey references users (id) on delete set null,
  redeemed_at timestamptz,
  -- A code with a redeemer has been redeemed (the redeemer may later be deleted: it stays redeemed).
  constraint redeem_codes_redeemed_check check (redeemed_by is null or redeemed_at is not null)
);
create index redeem_codes_batch on redeem_codes (batch_id);
create index redeem_codes_redeemed_by on redeem_codes (redeemed_by) where redeemed_by is not null;

-- A user's failed redemptions (unknown, used or expired codes) in the last 10 minutes: past 10 of
-- them the next attempt is refused (429) before any code is looked at. Attempts of one user are
-- counted and written under a transaction-scoped advisory lock, so concurrent guesses cannot get
-- past the limit; each attempt drops its user's rows older than the window.
create table redeem_failures (
  id bigint generated always as identity primary key,
  user_id uuid not null constraint redeem_failures_user_id_fkey references users (id) on delete cascade,
  at timestamptz not null default now()
);
create index redeem_failures_user on redeem_failures (user_id, at);

-- A recharge a user started: points to buy for an amount in USD (COMPUTE_POINTS_PER_USD), pending
-- until the payment provider's signed webhook (POST /api/v1/webhooks/payments) says succeeded or
-- failed. Completing is one conditional UPDATE of a pending intent; provider_payment_id is unique,
-- so neither a replayed delivery nor one payment reported for two intents credits twice.
create table payment_intents (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint payment_intents_user_id_fkey references users (id) on delete cascade,
  points integer not null constraint payment_intents_points_check check (points between 1 and 10000000),
  amount numeric(14, 2) not null constraint payment_intents_amount_check check (amount > 0),
  currency text not null default 'USD' constraint payment_intents_currency_check check (currency = 'USD'),
  -- Which payment provider the client means to pay with (informative; null: not said).
  provider text,
  status text not null default 'pending'
    constraint payment_intents_status_check check (status in ('pending', 'succeeded', 'failed')),
  provider_payment_id text constraint payment_intents_provider_payment_id_key unique,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  constraint payment_intents_completed_check check ((status = 'pending') = (completed_at is null))
);
create index payment_intents_user on payment_intents (user_id, created_at desc);
