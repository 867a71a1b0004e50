-- Per-endpoint limits (seed 000: batch generation 5 an hour, single retries 20 an hour; seed 001:
-- task lists 100 and task status reads 1,000 an hour), counted per user in usage_counters'
-- fixed hourly windows like the generation limits.
alter table usage_counters drop constraint usage_counters_metric_check;
alter table usage_counters add constraint usage_counters_metric_check check (metric in (
  'images_per_day', 'videos_per_day', 'api_calls_per_hour',
  'batches_per_hour', 'retries_per_hour', 'task_lists_per_hour', 'task_polls_per_hour'
));
