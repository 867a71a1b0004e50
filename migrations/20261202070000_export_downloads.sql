-- How often a file was handed out for download (GET /exports/:id/files/:fileId/download-url).
alter table assets add column download_count integer not null default 0;
