-- The asset library (seed 003 §6): a space's characters, styles, voices and music, kept apart
-- from any one project so that every project and episode casting them gets the same face, look
-- and voice. `data` holds what each kind has of its own (src/core/library-item.ts).
create table library_items (
  id uuid primary key default gen_random_uuid(),
  space_id uuid not null references spaces (id) on delete cascade,
  kind text not null check (kind in ('character', 'style', 'voice', 'music')),
  name text not null,
  description text not null default '',
  tags text[] not null default '{}',
  data jsonb not null,
  usage_count integer not null default 0 check (usage_count >= 0),
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index library_items_space_kind on library_items (space_id, kind, created_at desc, id);
create index library_items_tags on library_items using gin (tags);

-- Which projects have cast which items: a project counts once however often it uses an item.
-- usage_count is this table's count per item, kept by the trigger below in the very
-- transaction that adds or removes a use (a project deleted takes its uses with it), so it
-- stays exact under concurrent uses: each use's update waits on the item's row lock.
create table library_uses (
  item_id uuid not null references library_items (id) on delete cascade,
  project_id uuid not null references projects (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (item_id, project_id)
);
create index library_uses_project on library_uses (project_id);

create function library_uses_count() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    update library_items set usage_count = usage_count + 1 where id = new.item_id;
    return new;
  end if;
  update library_items set usage_count = usage_count - 1 where id = old.item_id;
  return old;
end $$;
create trigger library_uses_count after insert or delete on library_uses
  for each row execute function library_uses_count();

-- Files attached to a project with a label (seed 003 §2.2): `character` and `style` ones are
-- used by the pipeline as references (metadata.character names whose reference a photo is).
create table project_attachments (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references projects (id) on delete cascade,
  asset_id uuid not null references assets (id) on delete cascade,
  label text not null,
  metadata jsonb not null default '{}',
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  unique (project_id, asset_id)
);
