-- Bookkeeping lives in `stripe_mirror`, so `{{schema}}` holds only Stripe's data.

-- The event inbox. A webhook is acknowledged only after its row commits here;
-- apply workers claim pending rows with FOR UPDATE SKIP LOCKED. The primary
-- key on Stripe's event id is what makes a redelivery a no-op.
CREATE TABLE stripe_mirror.events (
  id text PRIMARY KEY,
  type text NOT NULL,
  object_id text,
  created bigint NOT NULL,
  payload jsonb NOT NULL,
  source text NOT NULL DEFAULT 'webhook' CHECK (source IN ('webhook', 'events_api')),
  received_at timestamptz NOT NULL DEFAULT now(),
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'applied', 'stale', 'ignored', 'failed')),
  outcome_detail text,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  processed_at timestamptz
);
CREATE INDEX events_pending_idx ON stripe_mirror.events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX events_failed_idx ON stripe_mirror.events (received_at) WHERE status = 'failed';
CREATE INDEX events_object_idx ON stripe_mirror.events (object_id, created);
CREATE INDEX events_created_idx ON stripe_mirror.events (created);

-- Named positions: backfill checkpoints per object type, the Events API cursor.
CREATE TABLE stripe_mirror.cursors (
  name text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per backfill / reconcile run.
CREATE TABLE stripe_mirror.runs (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  counts jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text
);
CREATE INDEX runs_kind_idx ON stripe_mirror.runs (kind, started_at DESC);
