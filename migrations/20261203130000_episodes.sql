-- A season's plan: the project's storyboard cut into episodes, each a run of consecutive shots
-- (first_shot .. last_shot, in storyboard order) of the package it was planned from. The plan is
-- replaced as a whole (POST /projects/:id/episodes/plan, PUT /projects/:id/episodes).
create table episodes (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references projects (id) on delete cascade,
  package_id uuid not null references packages (id) on delete cascade,
  n integer not null check (n >= 1),
  title text not null check (length(title) between 1 and 200),
  first_shot text not null,
  last_shot text not null,
  chapters jsonb not null default '[]',
  shot_count integer not null check (shot_count >= 1),
  estimated_s real not null check (estimated_s >= 0),
  created_at timestamptz not null default now(),
  unique (project_id, n)
);
