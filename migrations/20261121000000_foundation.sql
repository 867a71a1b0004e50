-- Identity, sessions, spaces and rate limits: the foundation every later module builds on.

create table users (
  id uuid primary key default gen_random_uuid(),
  username text not null,
  email text not null,
  -- null for users whose password lives in Supabase Auth
  password_hash text,
  role text not null default 'USER' check (role in ('USER', 'ADMIN')),
  auth_provider text not null default 'local' check (auth_provider in ('local', 'supabase')),
  avatar_url text,
  current_space_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_username_key on users (lower(username));
create unique index users_email_key on users (lower(email));

-- One session per login; its refresh tokens form a family revoked together.
create table sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  revoked_reason text
);
create index sessions_user_id_idx on sessions (user_id);

create table refresh_tokens (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references sessions (id) on delete cascade,
  -- sha256 of the opaque token; the token itself is never stored
  token_hash bytea not null unique,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index refresh_tokens_session_id_idx on refresh_tokens (session_id);

-- Keys of our own token issuer, shared by every API process.
create table signing_keys (
  kid text primary key,
  alg text not null,
  private_jwk jsonb not null,
  public_jwk jsonb not null,
  created_at timestamptz not null default now()
);

create table spaces (
  id uuid primary key default gen_random_uuid(),
  type text not null check (type in ('personal', 'team')),
  name text not null,
  logo_url text,
  -- the creator; a personal space is deleted with its owner, a team space outlives them
  owner_id uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index spaces_one_personal_per_user on spaces (owner_id) where type = 'personal';

alter table users
  add constraint users_current_space_fk foreign key (current_space_id) references spaces (id) on delete set null;

create table space_members (
  space_id uuid not null references spaces (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  role text not null check (role in ('admin', 'editor', 'viewer')),
  joined_at timestamptz not null default now(),
  last_accessed_at timestamptz,
  primary key (space_id, user_id)
);
create index space_members_user_id_idx on space_members (user_id);

create table space_invites (
  id uuid primary key default gen_random_uuid(),
  space_id uuid not null references spaces (id) on delete cascade,
  code text not null unique,
  role text not null check (role in ('admin', 'editor', 'viewer')),
  max_uses integer not null check (max_uses > 0),
  uses integer not null default 0,
  expires_at timestamptz not null,
  revoked_at timestamptz,
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now()
);
create index space_invites_space_id_idx on space_invites (space_id);

-- Fixed-window counters shared by every API process. Unlogged: losing counts in a crash is fine.
create unlogged table rate_limits (
  key text not null,
  window_start timestamptz not null,
  count integer not null,
  primary key (key, window_start)
);
create index rate_limits_window_start_idx on rate_limits (window_start);
