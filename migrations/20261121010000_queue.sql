-- The job queue. Live jobs (waiting, ready, running) stay in `jobs`, a small hot table; a job
-- leaves it the moment it finishes, into `job_history`, which maintenance prunes. The claim is
-- served by a partial index over ready rows only.

create table jobs (
  id uuid primary key default gen_random_uuid(),
  queue text not null default 'default',
  kind text not null,
  payload jsonb not null default '{}',
  -- waiting: parents not done yet; ready: claimable from run_at; running: leased to a worker
  state text not null default 'ready' check (state in ('waiting', 'ready', 'running')),
  priority integer not null default 0,
  run_at timestamptz not null default now(),
  attempt integer not null default 0,
  max_attempts integer not null default 5 check (max_attempts between 1 and 1000),
  timeout_ms integer not null default 300000 check (timeout_ms > 0),
  -- first retry delay; each further retry doubles it (capped at an hour), with ±25% jitter
  backoff_ms integer not null default 1000 check (backoff_ms >= 0),
  lease_token uuid,
  locked_by text,
  locked_until timestamptz,
  unique_key text,
  concurrency_key text,
  concurrency_limit integer check (concurrency_limit > 0),
  on_parent_failure text not null default 'fail' check (on_parent_failure in ('fail', 'proceed')),
  progress smallint not null default 0,
  progress_message text,
  last_error jsonb,
  cancel_requested_at timestamptz,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  -- A lease token exists exactly while running. Outcomes therefore match on (id, lease_token)
  -- alone, and every statement joining a batch also says `id = any(ids)`: the planner must go
  -- through the primary key whatever the (always stale) statistics of this busy table say.
  constraint jobs_lease_only_when_running check ((state = 'running') = (lease_token is not null))
) with (fillfactor = 80);

create index jobs_claim_idx on jobs (queue, priority, run_at, id) where state = 'ready' and concurrency_key is null;
create index jobs_claim_keyed_idx on jobs (queue, priority, run_at, id) where state = 'ready' and concurrency_key is not null;
create index jobs_running_key_idx on jobs (concurrency_key) where state = 'running' and concurrency_key is not null;
create index jobs_lease_idx on jobs (locked_until) where state = 'running';
create index jobs_waiting_idx on jobs (created_at) where state = 'waiting';
create unique index jobs_unique_key_idx on jobs (unique_key) where unique_key is not null;

create table job_parents (
  parent_id uuid not null,
  child_id uuid not null,
  primary key (parent_id, child_id)
);
create index job_parents_child_idx on job_parents (child_id);

create table job_history (
  id uuid primary key,
  queue text not null,
  kind text not null,
  payload jsonb not null,
  state text not null check (state in ('completed', 'failed', 'cancelled')),
  priority integer not null,
  attempt integer not null,
  max_attempts integer not null,
  timeout_ms integer not null,
  backoff_ms integer not null,
  unique_key text,
  concurrency_key text,
  concurrency_limit integer,
  on_parent_failure text not null,
  progress smallint not null,
  progress_message text,
  result jsonb,
  last_error jsonb,
  created_at timestamptz not null,
  started_at timestamptz,
  finished_at timestamptz not null default now()
);
-- Kept cheap to insert into, since every finished job lands here: BRIN for the time-ordered
-- pruning, and a partial index for the (few) failed and cancelled jobs operators look for.
create index job_history_finished_idx on job_history using brin (finished_at);
create index job_history_unfinished_business_idx on job_history (state, finished_at desc) where state <> 'completed';
create index job_history_unique_key_idx on job_history (unique_key) where unique_key is not null;

-- Recurring jobs: each row is claimed when due by whichever worker gets it first.
create table job_schedules (
  name text primary key,
  cron text not null,
  queue text not null default 'maintenance',
  kind text not null,
  payload jsonb not null default '{}',
  next_run_at timestamptz not null,
  last_run_at timestamptz
);

-- Leases the given ready jobs to a worker (one attempt each, a fresh lease token) and returns
-- what the worker needs to run them. Both claim paths (plain and keyed) lease through here.
create function inkreel_jobs_lease(p_ids uuid[], p_worker text, p_lease_ms int)
returns table (id uuid, queue text, kind text, payload jsonb, attempt int, max_attempts int, timeout_ms int,
  lease_token uuid, priority int, run_at text)
language plpgsql as $$
#variable_conflict use_column
begin
  return query
  update jobs j set state = 'running', attempt = j.attempt + 1, lease_token = gen_random_uuid(), locked_by = p_worker,
    locked_until = now() + make_interval(secs => p_lease_ms / 1000.0), started_at = now(), cancel_requested_at = null
  where j.id = any(p_ids)
  returning j.id, j.queue, j.kind, j.payload, j.attempt, j.max_attempts, j.timeout_ms, j.lease_token, j.priority,
    -- Fixed-width UTC text with microseconds: exact when passed back, and sorts as it compares.
    to_char(j.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
end $$;

-- Claims up to p_limit ready jobs without a concurrency key, in one statement: per queue (a
-- lateral scan, since `queue = any(...)` would read and sort every ready row), the partial index
-- yields ready rows in (priority, run_at, id) order starting after the given key (where this
-- worker's last claim ended, so dead index entries left behind a held-back vacuum are not walked
-- again); SKIP LOCKED passes over rows another worker is claiming; the lease goes through the
-- primary key. A function, so its plan is prepared once per connection.
create function inkreel_jobs_claim(p_queues text[], p_after_priority int[], p_after_run_at timestamptz[],
  p_after_id uuid[], p_limit int, p_worker text, p_lease_ms int)
returns table (id uuid, queue text, kind text, payload jsonb, attempt int, max_attempts int, timeout_ms int,
  lease_token uuid, priority int, run_at text)
language plpgsql as $$
#variable_conflict use_column
begin
  return query
  select * from inkreel_jobs_lease(array(
    select c.id from unnest(p_queues, p_after_priority, p_after_run_at, p_after_id) as q(name, priority, run_at, id)
    cross join lateral (
      select r.id, r.priority, r.run_at from jobs r
      where r.state = 'ready' and r.concurrency_key is null and r.queue = q.name and r.run_at <= now()
        and (r.priority, r.run_at, r.id) > (q.priority, q.run_at, q.id)
      order by r.priority, r.run_at, r.id
      limit p_limit
      for update skip locked
    ) c
    order by c.priority, c.run_at, c.id
    limit p_limit
  ), p_worker, p_lease_ms);
end $$;

-- Wake-ups: one notification per queue per inserting statement.
create function inkreel_jobs_notify_insert() returns trigger language plpgsql as $$
declare q text;
begin
  for q in select distinct queue from inserted where state = 'ready' loop
    perform pg_notify('inkreel_jobs', q);
  end loop;
  return null;
end $$;
create trigger jobs_notify_insert after insert on jobs
  referencing new table as inserted for each statement execute function inkreel_jobs_notify_insert();

-- Moves live jobs to history in one state, with a result or an error each (the failure and
-- cancellation paths; completion has its own single statement). Returns the ids moved.
create function inkreel_jobs_archive(p_ids uuid[], p_state text, p_results jsonb[], p_errors jsonb[])
returns setof uuid language sql as $$
  delete from job_parents where child_id = any(p_ids);
  with gone as (
    delete from jobs j using unnest(p_ids, p_results, p_errors) as d(id, result, error)
    where j.id = any(p_ids) and j.id = d.id
    returning j.*, d.result as new_result, d.error as new_error
  )
  insert into job_history (id, queue, kind, payload, state, priority, attempt, max_attempts, timeout_ms, backoff_ms,
    unique_key, concurrency_key, concurrency_limit, on_parent_failure, progress, progress_message, result, last_error,
    created_at, started_at)
  select id, queue, kind, payload, p_state, priority, attempt, max_attempts, timeout_ms, backoff_ms,
    unique_key, concurrency_key, concurrency_limit, on_parent_failure,
    case when p_state = 'completed' then 100 else progress end, progress_message,
    new_result, coalesce(new_error, last_error), created_at, started_at
  from gone
  returning id
$$;

-- After jobs left `jobs`, settles their waiting children: a child whose parents have all left
-- becomes ready; a child of a failed or cancelled parent fails too (policy 'fail', and so on
-- down the tree) or goes on (policy 'proceed'). Each statement sees children committed by
-- concurrent enqueues (enqueue locks the parents it waits for, so it commits before we run).
create function inkreel_jobs_settle_children(p_parent_ids uuid[]) returns void language plpgsql as $$
declare
  frontier uuid[] := p_parent_ids;
  doomed uuid[];
  n integer;
begin
  while coalesce(cardinality(frontier), 0) > 0 loop
    select array_agg(c.id) into doomed
    from jobs c
    where c.state = 'waiting' and c.on_parent_failure = 'fail'
      and c.id in (select child_id from job_parents where parent_id = any(frontier))
      and exists (
        select 1 from job_parents p join job_history h on h.id = p.parent_id
        where p.child_id = c.id and h.state in ('failed', 'cancelled'));
    if doomed is not null then
      perform inkreel_jobs_archive(doomed, 'failed', array_fill(null::jsonb, array[cardinality(doomed)]),
        array_fill('{"message": "a parent job failed or was cancelled", "permanent": true}'::jsonb, array[cardinality(doomed)]));
    end if;
    with promoted as (
      update jobs c set state = 'ready', run_at = greatest(c.run_at, now())
      where c.state = 'waiting'
        and c.id in (select child_id from job_parents where parent_id = any(frontier))
        and not exists (select 1 from job_parents p join jobs pj on pj.id = p.parent_id where p.child_id = c.id)
      returning c.queue
    )
    select count(pg_notify('inkreel_jobs', q.queue)) into n from (select distinct queue from promoted) q;
    frontier := doomed;
  end loop;
end $$;

-- Completes running jobs whose lease token still matches (a stale attempt's completion is
-- ignored) in one statement that moves them to history, then settles their children.
-- Returns the ids completed. This is the hot path: one round trip per batch of outcomes.
create function inkreel_jobs_complete(p_ids uuid[], p_tokens uuid[], p_results jsonb[]) returns setof uuid
language plpgsql as $$
declare
  done uuid[];
begin
  with gone as (
    delete from jobs j using unnest(p_ids, p_tokens, p_results) as t(id, token, result)
    where j.id = any(p_ids) and j.id = t.id and j.lease_token = t.token
    returning j.*, t.result as new_result
  ), moved as (
    insert into job_history (id, queue, kind, payload, state, priority, attempt, max_attempts, timeout_ms, backoff_ms,
      unique_key, concurrency_key, concurrency_limit, on_parent_failure, progress, progress_message, result, last_error,
      created_at, started_at)
    select id, queue, kind, payload, 'completed', priority, attempt, max_attempts, timeout_ms, backoff_ms,
      unique_key, concurrency_key, concurrency_limit, on_parent_failure, 100, progress_message, new_result, last_error,
      created_at, started_at
    from gone
    returning id
  )
  select array_agg(id) into done from moved;
  if done is null then return; end if;
  if exists (select 1 from job_parents where parent_id = any(done)) then
    perform inkreel_jobs_settle_children(done);
  end if;
  return query select unnest(done);
end $$;

-- Fails running attempts whose lease token matches: with attempts left and not permanent, the
-- job is ready again after an exponential backoff with jitter; otherwise it moves to history as
-- failed (re-drivable) and its children are settled. An attempt whose cancel was acknowledged
-- ends the job as cancelled instead. Returns the ids accepted.
create function inkreel_jobs_fail(p_ids uuid[], p_tokens uuid[], p_errors jsonb[], p_permanent boolean[])
returns setof uuid language plpgsql as $$
declare
  v_ids uuid[];
  v_errors jsonb[];
  v_dead boolean[];
  v_cancelled boolean[];
  v_dead_ids uuid[];
  v_dead_errors jsonb[];
  v_gone uuid[];
begin
  with locked as (
    select t.id, t.error, (t.permanent or j.attempt >= j.max_attempts) as dead, j.cancel_requested_at is not null as cancelled
    from unnest(p_ids, p_tokens, p_errors, p_permanent) as t(id, token, error, permanent)
    join jobs j on j.id = t.id and j.lease_token = t.token
    where j.id = any(p_ids)
    for update of j
  )
  select array_agg(id), array_agg(error), array_agg(dead), array_agg(cancelled) into v_ids, v_errors, v_dead, v_cancelled from locked;
  if v_ids is null then return; end if;
  update jobs j set
    state = 'ready',
    run_at = now() + make_interval(secs => least(3600, j.backoff_ms / 1000.0 * power(2, j.attempt - 1)) * (0.75 + random() * 0.5)),
    lease_token = null, locked_by = null, locked_until = null, last_error = f.error
  from unnest(v_ids, v_errors, v_dead, v_cancelled) as f(id, error, dead, cancelled)
  where j.id = any(v_ids) and j.id = f.id and not f.dead and not f.cancelled;
  select array_agg(f.id) into v_gone from unnest(v_ids, v_cancelled) as f(id, cancelled) where f.cancelled;
  if v_gone is not null then
    perform inkreel_jobs_archive(v_gone, 'cancelled', array_fill(null::jsonb, array[cardinality(v_gone)]),
      array_fill('{"message": "cancelled while running"}'::jsonb, array[cardinality(v_gone)]));
    perform inkreel_jobs_settle_children(v_gone);
  end if;
  select array_agg(f.id), array_agg(f.error) into v_dead_ids, v_dead_errors
  from unnest(v_ids, v_errors, v_dead, v_cancelled) as f(id, error, dead, cancelled) where f.dead and not f.cancelled;
  if v_dead_ids is not null then
    perform inkreel_jobs_archive(v_dead_ids, 'failed', array_fill(null::jsonb, array[cardinality(v_dead_ids)]), v_dead_errors);
    perform inkreel_jobs_settle_children(v_dead_ids);
  end if;
  return query select unnest(v_ids);
end $$;

-- Returns expired leases to ready (or, with no attempts left, to failed; or, when a cancel was
-- acknowledged, to cancelled): the worker that held them crashed or hung. Returns how many.
create function inkreel_jobs_rescue() returns integer language plpgsql as $$
declare
  expired uuid[];
  exhausted uuid[];
  v_cancelled uuid[];
  lease_error constant jsonb := '{"message": "lease expired: the worker stopped heartbeating"}';
begin
  select array_agg(id) into expired from (
    select id from jobs where state = 'running' and locked_until < now() for update skip locked
  ) s;
  if expired is null then return 0; end if;
  select array_agg(id) into v_cancelled from jobs where id = any(expired) and cancel_requested_at is not null;
  select array_agg(id) into exhausted from jobs where id = any(expired) and cancel_requested_at is null and attempt >= max_attempts;
  update jobs j set
    state = 'ready',
    run_at = now() + make_interval(secs => least(3600, j.backoff_ms / 1000.0 * power(2, j.attempt - 1)) * (0.75 + random() * 0.5)),
    lease_token = null, locked_by = null, locked_until = null, last_error = lease_error
  where j.id = any(expired) and j.attempt < j.max_attempts and j.cancel_requested_at is null;
  if v_cancelled is not null then
    perform inkreel_jobs_archive(v_cancelled, 'cancelled', array_fill(null::jsonb, array[cardinality(v_cancelled)]),
      array_fill('{"message": "cancelled while running; its worker stopped"}'::jsonb, array[cardinality(v_cancelled)]));
    perform inkreel_jobs_settle_children(v_cancelled);
  end if;
  if exhausted is not null then
    perform inkreel_jobs_archive(exhausted, 'failed', array_fill(null::jsonb, array[cardinality(exhausted)]),
      array_fill(lease_error, array[cardinality(exhausted)]));
    perform inkreel_jobs_settle_children(exhausted);
  end if;
  return cardinality(expired);
end $$;

-- Cancels a job: a waiting or ready one at once; a running one is asked to stop (its worker is
-- told through NOTIFY, and sees the flag at its next heartbeat). Returns 'cancelled',
-- 'cancelling', or null when the job is not live.
create function inkreel_jobs_cancel(p_id uuid) returns text language plpgsql as $$
declare s text;
begin
  select state into s from jobs where id = p_id for update;
  if not found then return null; end if;
  if s <> 'running' then
    perform inkreel_jobs_archive(array[p_id], 'cancelled', array[null::jsonb], array['{"message": "cancelled"}'::jsonb]);
    perform inkreel_jobs_settle_children(array[p_id]);
    return 'cancelled';
  end if;
  update jobs set cancel_requested_at = coalesce(cancel_requested_at, now()) where id = p_id;
  perform pg_notify('inkreel_jobs_cancel', p_id::text);
  return 'cancelling';
end $$;

-- A running attempt that stopped because it was cancelled.
create function inkreel_jobs_finish_cancelled(p_id uuid, p_token uuid) returns boolean language plpgsql as $$
begin
  perform 1 from jobs where id = p_id and lease_token = p_token for update;
  if not found then return false; end if;
  perform inkreel_jobs_archive(array[p_id], 'cancelled', array[null::jsonb], array['{"message": "cancelled while running"}'::jsonb]);
  perform inkreel_jobs_settle_children(array[p_id]);
  return true;
end $$;

-- Re-drives a failed or cancelled job: back to ready with a fresh attempt budget.
create function inkreel_jobs_retry(p_id uuid) returns boolean language plpgsql as $$
begin
  with h as (delete from job_history where id = p_id and state in ('failed', 'cancelled') returning *)
  insert into jobs (id, queue, kind, payload, state, priority, run_at, attempt, max_attempts, timeout_ms, backoff_ms,
    unique_key, concurrency_key, concurrency_limit, on_parent_failure, last_error, created_at)
  select id, queue, kind, payload, 'ready', priority, now(), 0, max_attempts, timeout_ms, backoff_ms,
    unique_key, concurrency_key, concurrency_limit, on_parent_failure, last_error, created_at
  from h;
  return found;
end $$;
