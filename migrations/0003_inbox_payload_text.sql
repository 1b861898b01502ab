-- The inbox keeps each event as the JSON text Stripe signed, not as jsonb.
-- Nothing queries inside the payload in SQL: the daemon parses it anyway, so
-- jsonb only cost Postgres a parse on every webhook insert and a render on
-- every claim. lz4 (as for the mirrored tables) keeps a typical event inline
-- and compresses several times faster than the default pglz.
--
-- Existing rows are kept: the column is rewritten in place with their JSON
-- rendered as text (this takes the table lock for the duration of the rewrite,
-- a few seconds per million events). A daemon still running the previous
-- version keeps working: its `::jsonb` insert is cast back to text, and its
-- claim reads `payload::text`.
ALTER TABLE stripe_mirror.events
  ALTER COLUMN payload TYPE text USING payload::text,
  ALTER COLUMN payload SET COMPRESSION lz4;

-- Apply workers claim the oldest pending events (ORDER BY created, id): this
-- index hands them over in that order, so a claim reads a batch, not the
-- whole backlog, and it replaces the pending index on next_attempt_at (a
-- claim filters on next_attempt_at while it walks this one).
CREATE INDEX events_claim_idx ON stripe_mirror.events (created, id) WHERE status = 'pending';
DROP INDEX stripe_mirror.events_pending_idx;
