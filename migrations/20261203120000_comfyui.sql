-- ComfyUI: a provider kind (a built-in one whose server is COMFYUI_URL, and custom ones an ADMIN
-- adds with their own URL), and the API-format workflows an ADMIN uploads. Prompts queued on a
-- ComfyUI server reuse provider_requests and submit_intents (provider 'comfyui'): the prompt id is
-- chosen by us and committed before the prompt is sent, so a rescued job polls the same prompt.
alter table providers drop constraint providers_kind_check;
alter table providers add constraint providers_kind_check
  check (kind in ('local', 'openai', 'fal', 'elevenlabs', 'openai_compatible', 'comfyui'));

-- Uploaded workflows, by name; one with the name of a shipped workflow (txt2img, img2img, img2vid)
-- replaces it. `graph` is ComfyUI's API format: {"<node id>": {"class_type", "inputs", "_meta"?}},
-- checked when saved (links, placeholders, an output node).
create table comfyui_workflows (
  name text primary key check (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  kind text not null check (kind in ('text_to_image', 'image_to_image', 'image_to_video')),
  description text,
  graph jsonb not null,
  updated_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
