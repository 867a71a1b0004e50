-- Fan-in under concurrency: inkreel_jobs_settle_children (20261121010000_queue.sql) decided from
-- its statement's snapshot whether a waiting child's parents had all left. When the last two
-- parents of a child finished in two transactions at the same time, each saw the other still in
-- `jobs`, and the child was never made ready (found as a project's file removal that never ran,
-- waiting on jobs cancelled together). The children are now locked before they are judged.
create or replace function inkreel_jobs_settle_children(p_parent_ids uuid[]) returns void language plpgsql as $$
declare
  frontier uuid[] := p_parent_ids;
  doomed uuid[];
  n integer;
begin
  while coalesce(cardinality(frontier), 0) > 0 loop
    -- Lock the waiting children first, in id order. Two transactions finishing the last two
    -- parents of one child each see the other's parent still live in their own snapshot, and
    -- neither would promote it: the child would wait forever. With the lock the second waits for
    -- the first to commit, and its next statement (a new snapshot) sees both parents gone.
    perform 1 from jobs c
    where c.state = 'waiting' and c.id in (select child_id from job_parents where parent_id = any(frontier))
    order by c.id
    for update;
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
