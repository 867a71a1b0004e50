/**
 * The square's data for bench:square, made by a few set-based SQL statements (generate_series),
 * never row by row from here. Deterministic for a given size (setseed), on one connection (its
 * temporary tables are per session).
 *
 *   users          `users` rows, unique username/email, no password;
 *   works          `works` rows, completed, a third videos; 9 in 10 published at a time spread
 *                  over the last 90 days, the tenth unpublished;
 *   work_likes     exactly `likes` distinct (work, user) pairs on the published works, skewed: the
 *                  works in a random order get likes ∝ rank^-0.7 (the first few dozen are liked by
 *                  every user, the last by a handful), each from consecutive users (mod users)
 *                  from a random offset, so a work's likers are distinct;
 *   work_favorites a work's likes / 8 from other consecutive users;
 *   counts         likes_count and favorites_count set to the true counts (one UPDATE from each
 *                  aggregate), plays_count a multiple of the likes; `hot` follows (generated);
 *   VACUUM ANALYZE the state autovacuum brings a table to soon after such a load (dead tuples of
 *                  the UPDATEs gone, visibility map set, statistics taken), here at once and
 *                  always, rather than at some point during the measurement.
 */
import type pg from "pg";

export interface SeedSizes {
  users: number;
  works: number;
  likes: number;
}

export interface SeedFigures {
  users: number;
  works: number;
  published: number;
  published_video: number;
  likes: number;
  favorites: number;
  max_likes_per_work: number;
  median_likes_per_published_work: number;
  seconds: Record<string, number>;
  seed_s: number;
}

/** Likes ∝ rank^-SKEW. */
const SKEW = 0.7;

/**
 * The scale k for which Σ min(users, ⌊k·r^-SKEW⌋) over the ranks 1..published reaches `likes`
 * (the cap: a work has at most one like per user). Bisection; the SQL then takes exactly `likes`.
 */
export function likeScale(published: number, users: number, likes: number): number {
  const total = (k: number) => {
    let sum = 0;
    for (let r = 1; r <= published; r++) sum += Math.min(users, Math.floor(k * r ** -SKEW));
    return sum;
  };
  if (published * users < likes) throw new Error(`${likes} likes do not fit in ${published} works × ${users} users`);
  let lo = 0;
  let hi = 1;
  while (total(hi) < likes) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (total(mid) >= likes) hi = mid;
    else lo = mid;
  }
  return hi;
}

export async function seed(client: pg.Client, sizes: SeedSizes, say: (...a: unknown[]) => void) {
  const seconds: Record<string, number> = {};
  const started = performance.now();
  const step = async (name: string, text: string, values: unknown[] = []) => {
    const t0 = performance.now();
    const r = await client.query(text, values);
    seconds[name] = Number(((performance.now() - t0) / 1000).toFixed(2));
    say(`seed: ${name} ${seconds[name]} s${r.rowCount !== null ? ` (${r.rowCount} rows)` : ""}`);
    return r;
  };
  const { users: U, works: W, likes: L } = sizes;
  await client.query("select setseed(0.42)");
  await step(
    "users",
    `insert into users (username, email)
     select 'square' || i, 'square' || i || '@bench.inkreel.local' from generate_series(1, $1::int) i`,
    [U],
  );
  await step(
    "bench_users",
    `create temp table bench_users as
     select (row_number() over (order by username) - 1)::int as n, id from users where email like '%@bench.inkreel.local'`,
  );
  await client.query("alter table bench_users add primary key (n)");
  // One statement inserts every work: the per-row trigger that keeps square_counts would update
  // the same three counter rows 100,000 times in one transaction. It is off for the load and the
  // counts are set from the rows after it, as a bulk import would do.
  await client.query("alter table works disable trigger works_square_count_insert");
  await step(
    "works",
    `insert into works (user_id, type, title, status, file_key, mime_type, thumbnail_key, width, height,
                        duration_s, description, tags, published_at, created_at)
     select u.id,
            t.type,
            'Square work ' || i,
            'completed',
            'works/' || i || case when t.type = 'video' then '.mp4' else '.png' end,
            case when t.type = 'video' then 'video/mp4' else 'image/png' end,
            'thumbnails/' || i || '.webp',
            1024, case when t.type = 'video' then 576 else 1024 end,
            case when t.type = 'video' then 5 + (i % 20) else null end,
            'A work of the square benchmark',
            array['bench'],
            p.published_at,
            coalesce(p.published_at, now() - random() * interval '90 days') - interval '1 minute'
     from generate_series(1, $1::int) i
     join bench_users u on u.n = i % $2::int
     cross join lateral (select case when i % 3 = 0 then 'video' else 'image' end as type) t
     cross join lateral (select case when i % 10 = 0 then null else now() - random() * interval '90 days' end
                           as published_at) p`,
    [W, U],
  );
  await client.query("alter table works enable trigger works_square_count_insert");
  await step(
    "square_counts",
    `update square_counts c set n = (select count(*) from works w
       where w.published_at is not null and (c.type = 'all' or w.type = c.type))`,
  );
  const published = W - Math.floor(W / 10);
  const k = likeScale(published, U, L);
  await step(
    "bench_rank",
    `create temp table bench_rank as
     select id, row_number() over (order by random())::int as r, floor(random() * $1::int)::int as off
     from works where published_at is not null`,
    [U],
  );
  await step(
    "work_likes",
    `insert into work_likes (work_id, user_id, created_at)
     select b.id, u.id, now() - random() * interval '90 days'
     from bench_rank b
     cross join lateral generate_series(0, least($1::int, floor($2::float8 * power(b.r, -$3::float8))::int) - 1) j
     join bench_users u on u.n = (b.off + j) % $1::int
     limit $4::int`,
    [U, k, SKEW, L],
  );
  await step(
    "work_favorites",
    `insert into work_favorites (work_id, user_id, created_at)
     select b.id, u.id, now() - random() * interval '90 days'
     from bench_rank b
     cross join lateral generate_series(0, least($1::int, floor($2::float8 * power(b.r, -$3::float8))::int) / 8 - 1) j
     join bench_users u on u.n = (b.off + $1::int / 2 + j) % $1::int`,
    [U, k, SKEW],
  );
  await step(
    "likes_count",
    `update works w set likes_count = l.n, plays_count = l.n * (5 + floor(random() * 20)::int) + floor(random() * 50)::int
     from (select work_id, count(*)::int as n from work_likes group by work_id) l
     where w.id = l.work_id`,
  );
  await step(
    "favorites_count",
    `update works w set favorites_count = f.n
     from (select work_id, count(*)::int as n from work_favorites group by work_id) f
     where w.id = f.work_id`,
  );
  await step("vacuum_analyze", "vacuum (analyze) users, works, work_likes, work_favorites");
  const seedS = Number(((performance.now() - started) / 1000).toFixed(2));
  const { rows } = await client.query<Omit<SeedFigures, "seconds" | "seed_s">>(
    `select (select count(*) from users)::int as users,
            (select count(*) from works)::int as works,
            (select count(*) from works where published_at is not null)::int as published,
            (select count(*) from works where published_at is not null and type = 'video')::int as published_video,
            (select count(*) from work_likes)::int as likes,
            (select count(*) from work_favorites)::int as favorites,
            (select max(likes_count) from works)::int as max_likes_per_work,
            (select percentile_disc(0.5) within group (order by likes_count) from works
              where published_at is not null)::int as median_likes_per_published_work`,
  );
  const figures = rows[0]!;
  // The counts the square shows must be the true ones.
  const { rows: wrong } = await client.query<{ n: number }>(
    `select count(*)::int as n from works w
     where likes_count <> (select count(*) from work_likes l where l.work_id = w.id)
        or favorites_count <> (select count(*) from work_favorites f where f.work_id = w.id)`,
  );
  if (wrong[0]!.n !== 0) throw new Error(`${wrong[0]!.n} works have wrong counts`);
  if (figures.likes !== L) throw new Error(`seeded ${figures.likes} likes, not ${L}`);
  return { ...figures, seconds, seed_s: seedS } satisfies SeedFigures;
}
