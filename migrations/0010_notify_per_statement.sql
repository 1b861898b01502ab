-- Notifications are sent by the change feed's statement-level trigger, in
-- the statement that records the changes, instead of by a row-level trigger
-- of their own. The payloads, the channel, the order (the feed's), the
-- queue limit and the skipped count are as before; what goes is one
-- PL/pgSQL call per written row and the queue-limit lookup per row —
-- measured on a 100,600-object backfill (200,600 rows with items and
-- lines): 4.6 s of Postgres time in `notify_change`, 23 µs a row, about a
-- tenth of the upserts' (BENCHMARKS.md, "Where a backfill's Postgres time
-- goes").
--
-- A statement over the queue limit skips all of its notifications (the
-- limit is read once per statement: a statement of a page overshoots it by
-- at most a page's rows in an 8 GB queue).

CREATE OR REPLACE FUNCTION stripe_mirror.record_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  -- Assigned once the statement wrote a row; NULL means it wrote none (and
  -- asking for one with pg_current_xact_id() would make a read-only
  -- transaction a writing one).
  x xid8 := pg_current_xact_id_if_assigned();
  counter text;
  n bigint := 0;
  added bigint;
  notify boolean;
BEGIN
  IF x IS NULL THEN
    RETURN NULL;
  END IF;
  counter := current_setting('stripe_mirror.change_seq', true);
  IF split_part(counter, ':', 1) = x::text THEN
    n := split_part(counter, ':', 2)::bigint;
  END IF;
  notify := pg_notification_queue_usage() < stripe_mirror.notify_queue_limit();
  -- The feed's rows, then one notification each in their order; the CTE
  -- holding pg_notify is volatile, so it is evaluated in full, not inlined.
  IF TG_OP = 'INSERT' THEN
    WITH c AS (
      INSERT INTO stripe_mirror.changes (position, table_name, id, op, changed_at)
      SELECT x::text::bigint * 16777216 + n + row_number() OVER (), TG_TABLE_NAME, w.id,
             CASE WHEN w.deleted THEN 'delete' ELSE 'insert' END, now()
      FROM new_rows w
      RETURNING position, id, op),
    sent AS (
      SELECT pg_notify('stripe_mirror', json_build_object('table', TG_TABLE_NAME, 'id', c.id, 'op', c.op)::text)
      FROM c WHERE notify ORDER BY c.position)
    SELECT (SELECT count(*) FROM c) + 0 * (SELECT count(*) FROM sent) INTO added;
  ELSE
    WITH c AS (
      INSERT INTO stripe_mirror.changes (position, table_name, id, op, changed_at)
      SELECT x::text::bigint * 16777216 + n + row_number() OVER (), TG_TABLE_NAME, d.id, d.op, now()
      FROM (SELECT w.id, CASE
                   WHEN w.deleted AND NOT o.deleted THEN 'delete'
                   WHEN o.deleted AND NOT w.deleted THEN 'insert'
                   WHEN w.data IS DISTINCT FROM o.data THEN 'update'
                 END AS op
            FROM new_rows w JOIN old_rows o ON o.id = w.id) d
      WHERE d.op IS NOT NULL
      RETURNING position, id, op),
    sent AS (
      SELECT pg_notify('stripe_mirror', json_build_object('table', TG_TABLE_NAME, 'id', c.id, 'op', c.op)::text)
      FROM c WHERE notify ORDER BY c.position)
    SELECT (SELECT count(*) FROM c) + 0 * (SELECT count(*) FROM sent) INTO added;
  END IF;
  IF added > 0 THEN
    IF n + added > 16777215 THEN
      RAISE EXCEPTION 'more than 16,777,215 changes to mirrored tables in one transaction'
        USING HINT = 'The change feed numbers a transaction''s changes in 24 bits; split the transaction.';
    END IF;
    IF NOT notify THEN
      PERFORM nextval('stripe_mirror.notifications_skipped') FROM generate_series(1, added);
    END IF;
    PERFORM set_config('stripe_mirror.change_seq', x::text || ':' || (n + added), true);
  END IF;
  RETURN NULL;
END
$$;

-- Every table that notified by row now notifies through its feed triggers.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT tgrelid::regclass FROM pg_trigger
           WHERE tgname = 'notify' AND tgfoid = 'stripe_mirror.notify_change()'::regprocedure
  LOOP
    EXECUTE format('DROP TRIGGER notify ON %s', t);
  END LOOP;
END
$$;
DROP FUNCTION stripe_mirror.notify_change();

-- A table a later migration adds: its feed triggers, which notify too.
CREATE OR REPLACE FUNCTION stripe_mirror.mirror_table(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stripe_mirror.track_changes(t);
END
$$;
