-- Seed 003 §1.3 project fields, and the user settings of §1.1.3.
alter table projects add column description text not null default '';
alter table projects add column tags text[] not null default '{}';
-- An empty project (created before its story arrives) has no input yet; a run refuses it.
alter table projects add column has_input boolean not null default true;

alter table users add column language text check (language in ('zh', 'en'));
alter table users add column theme text not null default 'system' check (theme in ('light', 'dark', 'system'));
