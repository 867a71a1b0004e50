-- Episodes rendered: each episode is its own material-package lineage (packages.episode_id), made
-- by its own runs (runs.episode_id). A batch (series_batches) starts many episode runs at once and
-- keeps at most `parallelism` of them in flight; the rest wait `held` (no job queued) until one of
-- the batch's runs ends, which releases the next in the same transaction.
create table series_batches (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references projects (id) on delete cascade,
  created_by uuid references users (id) on delete set null,
  parallelism integer not null check (parallelism between 1 and 16),
  -- The cards each episode's export carries: a "previously" line first, a "next episode" card last.
  recap boolean not null default true,
  next_card boolean not null default true,
  created_at timestamptz not null default now()
);

alter table runs add column episode_id uuid references episodes (id) on delete set null;
alter table runs add column batch_id uuid references series_batches (id) on delete set null;
alter table runs add column held boolean not null default false;
create index runs_episode_idx on runs (episode_id) where episode_id is not null;
create index runs_batch_held_idx on runs (batch_id) where held;

alter table packages add column episode_id uuid references episodes (id) on delete set null;

-- The episode's latest package (what its last run made or is making).
alter table episodes add column current_package_id uuid references packages (id) on delete set null;
-- The characters its shots show or voice (staleness is judged on them).
alter table episodes add column cast_names text[] not null default '{}';

-- A re-saved plan keeps the episodes whose shots did not change (and their renders), renumbering
-- them within one transaction: the numbers are checked at commit.
alter table episodes drop constraint episodes_project_id_n_key;
alter table episodes add constraint episodes_project_id_n_key unique (project_id, n) deferrable initially deferred;

-- One run in progress per project and per episode: the project's own runs exclude each other, an
-- episode's runs exclude only that episode's (the batch's parallelism bounds the rest).
drop index runs_one_active;
create unique index runs_one_active on runs (project_id) where status in ('queued', 'running') and episode_id is null;
create unique index runs_one_active_episode on runs (episode_id) where status in ('queued', 'running') and episode_id is not null;
