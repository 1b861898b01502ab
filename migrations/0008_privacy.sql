-- `[privacy] redact_deleted_customers`: a deleted customer's row keeps only
-- Stripe's deleted stub, `{"id", "object": "customer", "deleted": true}`.
--
-- Enforced by a trigger on the table rather than in the writers, so that it
-- holds for every writer (apply workers, backfill and sweep pages, resolves,
-- every replica, and writers added later) from the moment the tombstone is
-- written, and so that nothing can put the data back: the write path may
-- later "complete" a stub tombstone with a full object (a late
-- `customer.deleted` carrying the customer), and the trigger turns that into
-- the stub again. Rows tombstoned before the setting was on are rewritten by
-- `prune` (src/privacy.rs). The typed columns are generated after BEFORE
-- triggers run, so `email`, `name` … become NULL with the data.
--
-- The daemon stores the configured value here when `serve` or `prune`
-- starts; the trigger reads it only for rows written deleted.
CREATE TABLE stripe_mirror.privacy (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  redact_deleted_customers boolean NOT NULL DEFAULT false,
  -- False from the moment the setting is turned on until prune has
  -- rewritten the customers tombstoned before: the trigger covers the rest.
  backlog_redacted boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO stripe_mirror.privacy DEFAULT VALUES;

CREATE FUNCTION stripe_mirror.redact_deleted_customer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT redact_deleted_customers FROM stripe_mirror.privacy) THEN
    NEW.data := jsonb_build_object('id', NEW.id, 'object', 'customer', 'deleted', true);
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER redact_deleted BEFORE INSERT OR UPDATE ON "{{schema}}".customers
  FOR EACH ROW WHEN (NEW.deleted) EXECUTE FUNCTION stripe_mirror.redact_deleted_customer();
