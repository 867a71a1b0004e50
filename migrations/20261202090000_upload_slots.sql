-- Uploads streaming in, one row each while its bytes arrive, so every API process counts a
-- user's uploads in flight against UPLOADS_PER_USER. A process that dies mid-upload leaves its
-- row behind; it stops counting when its lease runs out.
create table upload_slots (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  expires_at timestamptz not null
);
create index upload_slots_user on upload_slots (user_id, expires_at);
