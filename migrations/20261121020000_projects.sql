-- Projects, their versioned material packages, runs of the pipeline, assets, exports and the
-- per-project event log that live progress is served from.

create table projects (
  id uuid primary key default gen_random_uuid(),
  space_id uuid not null references spaces (id) on delete cascade,
  owner_id uuid references users (id) on delete set null,
  name text not null,
  input_type text not null check (input_type in ('novel', 'script', 'storyboard')),
  input_text text not null,
  options jsonb not null default '{}',
  status text not null default 'draft' check (status in ('draft', 'generating', 'editing', 'completed', 'failed')),
  stage text,
  progress integer not null default 0,
  current_step text,
  active_package_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index projects_space_updated on projects (space_id, updated_at desc, id);

-- A material package version: what the stages produced (storyline, art style, characters, scenes,
-- music); its shots live in package_shots so per-shot jobs never contend for one row.
create table packages (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references projects (id) on delete cascade,
  version integer not null,
  name text not null,
  parent_id uuid references packages (id) on delete set null,
  storyline jsonb,
  art_style jsonb,
  characters jsonb not null default '[]',
  scenes jsonb not null default '[]',
  music jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (project_id, version)
);
alter table projects add constraint projects_active_package_fk foreign key (active_package_id) references packages (id) on delete set null;

create table package_shots (
  package_id uuid not null references packages (id) on delete cascade,
  shot_id text not null,
  position integer not null,
  data jsonb not null,
  primary key (package_id, shot_id)
);
create index package_shots_order on package_shots (package_id, position);

create table runs (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references projects (id) on delete cascade,
  package_id uuid references packages (id) on delete set null,
  created_by uuid references users (id) on delete set null,
  mode text not null check (mode in ('auto', 'step')),
  from_stage text,
  to_stage text,
  status text not null default 'queued' check (status in ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled')),
  progress integer not null default 0,
  current_step text,
  stages jsonb not null,
  error jsonb,
  export_id uuid,
  created_at timestamptz not null default now(),
  finished_at timestamptz
);
create index runs_project on runs (project_id, created_at desc);
-- At most one run of a project is in progress.
create unique index runs_one_active on runs (project_id) where status in ('queued', 'running');

-- Every file produced or uploaded. input_digest names what it was made from: the same digest in
-- the same project is the same asset, reused instead of computed twice.
create table assets (
  id uuid primary key default gen_random_uuid(),
  space_id uuid not null references spaces (id) on delete cascade,
  project_id uuid references projects (id) on delete cascade,
  package_id uuid references packages (id) on delete set null,
  owner_id uuid references users (id) on delete set null,
  kind text not null,
  mime_type text not null,
  size bigint not null,
  sha256 text not null,
  input_digest text not null,
  storage_key text not null unique,
  meta jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create unique index assets_reuse on assets (project_id, kind, input_digest);

create table exports (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references projects (id) on delete cascade,
  package_id uuid references packages (id) on delete set null,
  run_id uuid references runs (id) on delete set null,
  created_by uuid references users (id) on delete set null,
  options jsonb not null,
  status text not null default 'queued' check (status in ('queued', 'running', 'completed', 'failed', 'cancelled')),
  progress integer not null default 0,
  error jsonb,
  files jsonb not null default '[]',
  stats jsonb,
  created_at timestamptz not null default now(),
  completed_at timestamptz
);
create index exports_project on exports (project_id, created_at desc);

create table project_events (
  id bigint generated always as identity primary key,
  project_id uuid not null references projects (id) on delete cascade,
  run_id uuid,
  event text not null,
  data jsonb not null,
  created_at timestamptz not null default now()
);
create index project_events_project on project_events (project_id, id);
