-- Asset lifecycle: a trashed asset is hidden from lists and purged (row and file) after the
-- retention unless something still uses it; permanent deletion (ADMIN) is confirmed with a
-- token from a first request, valid five minutes.
alter table assets add column trashed_at timestamptz;
create index assets_trashed on assets (trashed_at) where trashed_at is not null;
create table asset_delete_tokens (
  token text primary key,
  asset_id uuid not null references assets (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  expires_at timestamptz not null
);
