-- What a creator asked to be made outside a run (a new keyframe, clip video, character sheet,
-- scene picture, voice or music), one row per thing made; a batch of clip videos is a parent row
-- with one child per clip. The job on the queue does the work; this row is what the creator sees.
create table generation_tasks (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references projects (id) on delete cascade,
  package_id uuid references packages (id) on delete cascade,
  user_id uuid references users (id) on delete set null,
  parent_id uuid references generation_tasks (id) on delete cascade,
  job_id uuid,
  kind text not null check (kind in ('keyframe', 'clip_video', 'video_batch', 'character_image', 'scene_image', 'voice', 'bgm')),
  target jsonb not null,
  params jsonb not null default '{}',
  status text not null default 'pending' check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  progress integer not null default 0 check (progress between 0 and 100),
  result jsonb,
  error jsonb,
  cost_estimate_usd numeric(12, 6),
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);
create index generation_tasks_project on generation_tasks (project_id, created_at desc);
create index generation_tasks_parent on generation_tasks (parent_id) where parent_id is not null;
create index generation_tasks_job on generation_tasks (job_id) where job_id is not null;
