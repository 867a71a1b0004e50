-- Seed 003 §3.4 save-new: a version carries the creator's note and free metadata.
alter table packages add column note text not null default '';
alter table packages add column metadata jsonb not null default '{}';

-- Seed 003 §3.5: a project's conversation log, every edit instruction and the system's answer.
create table project_conversation (
  id bigint generated always as identity primary key,
  project_id uuid not null references projects (id) on delete cascade,
  package_id uuid references packages (id) on delete set null,
  user_id uuid references users (id) on delete set null,
  role text not null check (role in ('user', 'system')),
  -- What was asked or answered, in words a creator reads.
  content text not null,
  -- The edit as data: the route's action and its target (element and id).
  action jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index project_conversation_project on project_conversation (project_id, id desc);
