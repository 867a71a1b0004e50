-- Global configuration changed at run time by an ADMIN (seed 000's GET/PATCH /admin/config):
-- the overrides of the environment's values (by their environment variable names), one row, its
-- version bumped and NOTIFY inkreel_config sent in the transaction that changes it; every API and
-- worker process applies it (src/services/runtime-config.ts). Every change is kept in the history.
create table runtime_config (
  id boolean primary key default true check (id),
  version bigint not null default 0,
  overrides jsonb not null default '{}' check (jsonb_typeof(overrides) = 'object'),
  updated_at timestamptz not null default now(),
  updated_by uuid references users (id) on delete set null
);
insert into runtime_config default values;

create table runtime_config_history (
  id bigserial primary key,
  version bigint not null unique,
  actor_id uuid references users (id) on delete set null,
  changed_at timestamptz not null default now(),
  -- The names changed, with their override before and after (null: the environment's value).
  before jsonb not null,
  after jsonb not null
);
