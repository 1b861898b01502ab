-- Which Stripe account and mode the tables mirror, learned once (from
-- `GET /v1/account` and the key's prefix, or `stripe.account_id` for a key
-- that may not read the account) and checked by every pull-path command
-- before it writes: a key of another account or mode must never touch them.
-- One row at most.
CREATE TABLE stripe_mirror.identity (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  account_id text NOT NULL,
  livemode boolean NOT NULL,
  -- 'api': read from GET /v1/account; 'config': stripe.account_id.
  source text NOT NULL CHECK (source IN ('api', 'config')),
  -- stripe.api_version when the identity was learned, for `status`.
  api_version text NOT NULL,
  learned_at timestamptz NOT NULL DEFAULT now()
);
