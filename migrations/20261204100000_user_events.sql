-- A user's own event log: what their direct generations (which belong to no project) report, in
-- seed 004's names (task_progress, task_complete, task_failed). Served like a project's log:
-- GET /api/v1/generate/events (SSE, resumable by Last-Event-ID), the "generations" channel of
-- /ws, and the Supabase Realtime topic user:<id>.
--
-- Its own table rather than a nullable project_events.project_id: every reader of the project log
-- keeps a non-null project and the project event's data shape. The ordering works the same way:
-- appends take a transaction-scoped advisory lock on the feed ("user:<id>"), so one user's ids
-- become visible in id order and "id > cursor" never skips a late commit.
create table user_events (
  id bigint generated always as identity primary key,
  user_id uuid not null references users (id) on delete cascade,
  event text not null,
  data jsonb not null,
  created_at timestamptz not null default now()
);
create index user_events_user on user_events (user_id, id);
