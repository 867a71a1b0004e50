-- A space's saved project settings (seed 003 §2.3): a named set of project options that a new
-- project can start from.
create table config_templates (
  id uuid primary key default gen_random_uuid(),
  space_id uuid not null references spaces (id) on delete cascade,
  name text not null,
  description text not null default '',
  options jsonb not null,
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  unique (space_id, name)
);
