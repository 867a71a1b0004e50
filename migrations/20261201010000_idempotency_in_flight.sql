-- An Idempotency-Key is claimed before its work runs (a row with no answer yet), so two concurrent
-- requests with one key cannot both do the work: the second sees the claim and is told to retry.
alter table idempotency_keys alter column status drop not null;
alter table idempotency_keys alter column response drop not null;
alter table idempotency_keys add constraint idempotency_keys_answered_together
  check ((status is null) = (response is null));
