-- Direct generation (seed 004, seed 002's videogen), works, the public square, and per-user limits.

-- The limits a user's tier gives (GET /me shows it; an ADMIN sets it).
alter table users add column tier text not null default 'free' check (tier in ('free', 'vip'));

-- One direct generation outside any project: text or an image in, pictures or a clip out. The job
-- on the queue does the work; this row is what its owner follows (GET /api/v1/generate/tasks/:id).
create table generations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  kind text not null check (kind in ('text_to_image', 'image_to_image', 'text_to_video', 'image_to_video', 'story_video')),
  -- What the caller asked for (an alias such as "sora", a "provider/model" id, or null: the default chain).
  model text,
  provider text not null,
  provider_model text not null,
  params jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  progress integer not null default 0 check (progress between 0 and 100),
  estimated_time_s integer not null,
  result jsonb,
  error jsonb,
  job_id uuid,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);
create index generations_user on generations (user_id, created_at desc, id desc);

-- The hot score: engagement on a log scale plus the publication time, so a newer work needs ten
-- times the engagement to outrank one 12.5 hours older. Sorting by it is sorting by engagement
-- decayed by age, and since it depends only on the row it is a stored column with an index
-- (a score computed against now() could not be). Immutable: epoch seconds do not depend on the
-- time zone.
create function inkreel_hot_score(likes integer, favorites integer, plays integer, published timestamptz)
returns double precision language sql immutable parallel safe as $$
  select case when published is null then null else
    log(greatest(1, likes + 2 * favorites + plays / 10.0)::numeric)::double precision
      + extract(epoch from published)::double precision / 45000
  end
$$;

-- A finished thing a user made: a direct generation (created with it, `processing` until it ends)
-- or a completed export of one of their projects. Files are storage keys; a file may be shared
-- with an export or another work (deleting the work then keeps it).
create table works (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  generation_id uuid references generations (id) on delete set null,
  -- Which of the generation's pictures (0 for a video).
  position integer not null default 0,
  export_id uuid unique references exports (id) on delete set null,
  type text not null check (type in ('image', 'video')),
  title text not null,
  status text not null default 'processing' check (status in ('processing', 'completed', 'failed')),
  file_key text,
  mime_type text,
  size bigint,
  width integer,
  height integer,
  duration_s double precision,
  thumbnail_key text,
  description text not null default '',
  tags text[] not null default '{}',
  published_at timestamptz,
  likes_count integer not null default 0 check (likes_count >= 0),
  favorites_count integer not null default 0 check (favorites_count >= 0),
  plays_count integer not null default 0 check (plays_count >= 0),
  hot double precision generated always as (inkreel_hot_score(likes_count, favorites_count, plays_count, published_at)) stored,
  created_at timestamptz not null default now(),
  check (published_at is null or status = 'completed'),
  unique (generation_id, position)
);
create index works_user on works (user_id, created_at desc, id desc);
create index works_user_published on works (user_id, published_at desc, id desc) where published_at is not null;
-- The square's two orders, for all types and per type.
create index works_feed_hot on works (hot desc, id desc) where published_at is not null;
create index works_feed_latest on works (published_at desc, id desc) where published_at is not null;
create index works_feed_type_hot on works (type, hot desc, id desc) where published_at is not null;
create index works_feed_type_latest on works (type, published_at desc, id desc) where published_at is not null;
-- Deleting a work must find whether another work still names its file.
create index works_file_key on works (file_key) where file_key is not null;

-- How many works the square shows, in all and per type: kept exact by a trigger in the
-- transaction that publishes, unpublishes or deletes, so a feed page never counts 100,000 rows.
-- Only a change of publication or type fires it (likes and plays do not touch these rows).
-- `version` moves with every such change: an API process may keep a feed page for a moment, but
-- never past a version change, so a deleted work leaves every process's feed at once.
create table square_counts (
  type text primary key check (type in ('all', 'image', 'video')),
  n bigint not null default 0 check (n >= 0),
  version bigint not null default 0
);
insert into square_counts (type) values ('all'), ('image'), ('video');

create function inkreel_square_count() returns trigger language plpgsql as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and old.published_at is not null then
    update square_counts set n = n - 1, version = version + 1 where type in ('all', old.type);
  end if;
  if tg_op in ('INSERT', 'UPDATE') and new.published_at is not null then
    update square_counts set n = n + 1, version = version + 1 where type in ('all', new.type);
  end if;
  return null;
end
$$;
create trigger works_square_count_insert after insert on works
  for each row when (new.published_at is not null) execute function inkreel_square_count();
create trigger works_square_count_update after update of published_at, type on works
  for each row when ((old.published_at is null) is distinct from (new.published_at is null) or old.type is distinct from new.type)
  execute function inkreel_square_count();
create trigger works_square_count_delete after delete on works
  for each row when (old.published_at is not null) execute function inkreel_square_count();

create table work_likes (
  work_id uuid not null references works (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (work_id, user_id)
);
create index work_likes_user on work_likes (user_id);

create table work_favorites (
  work_id uuid not null references works (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (work_id, user_id)
);
create index work_favorites_user on work_favorites (user_id, created_at desc);

-- The last counted play of a work per viewer (a user id, or a hash of the IP address).
create table work_plays (
  work_id uuid not null references works (id) on delete cascade,
  viewer text not null,
  counted_at timestamptz not null,
  primary key (work_id, viewer)
);

-- Per-user counters of fixed windows (a UTC day, an hour): images and videos made, API calls.
create table usage_counters (
  user_id uuid not null references users (id) on delete cascade,
  metric text not null check (metric in ('images_per_day', 'videos_per_day', 'api_calls_per_hour')),
  window_start timestamptz not null,
  count integer not null check (count >= 0),
  primary key (user_id, metric, window_start)
);
create index usage_counters_window on usage_counters (window_start);
