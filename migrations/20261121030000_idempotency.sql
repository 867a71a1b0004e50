-- Writes that start paid work accept an Idempotency-Key: the same key and body replays the first
-- answer; the same key with another body is a conflict.
create table idempotency_keys (
  user_id uuid not null references users (id) on delete cascade,
  key text not null,
  route text not null,
  body_hash text not null,
  status integer not null,
  response jsonb not null,
  created_at timestamptz not null default now(),
  primary key (user_id, key)
);
create index idempotency_keys_created on idempotency_keys (created_at);
