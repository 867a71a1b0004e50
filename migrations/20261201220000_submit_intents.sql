-- The write-ahead record of a paid submission (a fal queue request). The row is committed before
-- the provider is asked and holds the provider's request id once it answers, so a worker killed in
-- between leaves a trace: the job's next attempt finds an intent without a request id and knows a
-- submission may have been accepted and billed. fal is told the intent's nonce (in our webhook
-- URL); a webhook for a request id we never stored is adopted by the intent with that nonce.
create table submit_intents (
  -- Random, sent with the submission: the only link between fal's request and this row until the
  -- request id is stored.
  nonce text primary key,
  -- The request's fingerprint (endpoint, input, uploaded files' sha256), as provider_requests.key.
  key text not null,
  provider text not null,
  endpoint_id text not null,
  -- The queue job and attempt that submitted (null outside the queue).
  job_id uuid,
  attempt integer,
  request_id text,
  -- pending: written, no answer yet; submitted: the request id is known; downloaded: the output was
  -- fetched; dead: failed for good or cancelled; abandoned: given up after a crash and submitted again.
  state text not null default 'pending'
    check (state in ('pending', 'submitted', 'downloaded', 'dead', 'abandoned')),
  -- Who stored the request id: the provider's answer, or a webhook adopting the orphan.
  adopted_by text check (adopted_by in ('answer', 'webhook')),
  created_at timestamptz not null default clock_timestamp(),
  submitted_at timestamptz,
  closed_at timestamptz
);
create index submit_intents_key on submit_intents (key, created_at);
create index submit_intents_request on submit_intents (request_id);
create index submit_intents_created on submit_intents (created_at);
