-- Every API process remembers the user behind each live session (src/auth/session-cache.ts), so
-- that an authenticated request costs one query instead of two. These triggers make that memory
-- safe across processes: any change that could make a remembered row wrong is announced on
-- `inkreel_auth` ("s:<session id>", "u:<user id>") when its transaction commits, whoever made it
-- (the API, a worker, an operator in psql).
create or replace function inkreel_notify_session_changed() returns trigger
language plpgsql as $$
begin
  perform pg_notify('inkreel_auth', 's:' || old.id::text);
  return null;
end $$;

create or replace function inkreel_notify_user_changed() returns trigger
language plpgsql as $$
begin
  perform pg_notify('inkreel_auth', 'u:' || old.id::text);
  return null;
end $$;

-- A session matters to the cache only once revoked or gone (expiry is checked from the row itself).
create trigger sessions_notify_auth
  after update of revoked_at, expires_at, user_id or delete on sessions
  for each row execute function inkreel_notify_session_changed();

create trigger users_notify_auth
  after update or delete on users
  for each row execute function inkreel_notify_user_changed();
