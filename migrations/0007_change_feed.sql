-- The durable change feed: every change to a mirrored row, in an order a
-- reader can follow without skipping any, read through
-- `stripe_mirror.changes_after(after, max_rows)`.
--
-- Why positions are transaction-major. Numbers taken from a sequence while
-- writing commit out of order: T1 takes 10, T2 takes 11 and commits, a
-- reader reads 11 and stores it, T1 commits 10 — skipped for ever. Here a
-- change's position is `xid * 2^24 + n`: the writing transaction's id
-- (`pg_current_xact_id()`) in the high bits, the change's number within that
-- transaction (1, 2, …) in the low 24. `changes_after` returns only changes
-- of transactions below its snapshot's xmin: every one of those has ended, so
-- all of their rows are visible at once, and every transaction that can still
-- commit has an xid at or above xmin, so its changes get larger positions
-- than anything returned so far. A reader that stores the last position it
-- processed and asks again misses nothing.
--
-- The price: a transaction that holds an xid (has written anything, in any
-- database of the cluster) and stays open holds the feed back at its xid
-- until it ends; read-only transactions do not. The mirror's own writes are
-- short transactions (an apply batch, a page); an operator's forgotten
-- `BEGIN; UPDATE …` in psql is what this looks like.
--
-- Limits, by construction: 2^24 - 1 (16,777,215) changes in one transaction
-- (more fails that transaction, loudly); xids up to 2^39 (a cluster's 550
-- billionth write transaction) before the position leaves bigint.
--
-- `op` is what the NOTIFY payload says (0001, `notify_change`): `insert` a new
-- row (`delete` if it arrives deleted), `delete` the row became deleted,
-- `update` its data changed; and a deleted row written live again (a custom
-- id created again) is an `insert`. A write that changes neither `data` nor
-- `deleted` (the version or synced_at moved) is not a change.

CREATE TABLE stripe_mirror.changes (
  -- xid * 2^24 + n; the xid is position >> 24, so it needs no column (and
  -- no index) of its own: "below xmin" is a range of this primary key.
  position bigint PRIMARY KEY,
  table_name text NOT NULL,
  id text NOT NULL,
  op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  -- now() of the writing transaction: the row's synced_at.
  changed_at timestamptz NOT NULL
);

-- Positions at or below `pruned_through` were deleted by retention (0 while
-- nothing was): `changes_after` refuses to answer for a reader behind it.
CREATE TABLE stripe_mirror.changes_horizon (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO stripe_mirror.changes_horizon DEFAULT VALUES;

-- Records the changes of one INSERT or UPDATE statement (statement-level,
-- with transition tables: one INSERT into the feed per statement, not one
-- per row; an upsert fires both). The transaction's change counter is kept
-- in a transaction-local setting, tagged with the xid so a value set any
-- other way is never taken for this transaction's; a savepoint rolled back
-- rolls the counter back with the rows it numbered.
CREATE FUNCTION stripe_mirror.record_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  -- Assigned once the statement wrote a row; NULL means it wrote none (and
  -- asking for one with pg_current_xact_id() would make a read-only
  -- transaction a writing one).
  x xid8 := pg_current_xact_id_if_assigned();
  counter text;
  n bigint := 0;
  added bigint;
BEGIN
  IF x IS NULL THEN
    RETURN NULL;
  END IF;
  counter := current_setting('stripe_mirror.change_seq', true);
  IF split_part(counter, ':', 1) = x::text THEN
    n := split_part(counter, ':', 2)::bigint;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stripe_mirror.changes (position, table_name, id, op, changed_at)
    SELECT x::text::bigint * 16777216 + n + row_number() OVER (), TG_TABLE_NAME, w.id,
           CASE WHEN w.deleted THEN 'delete' ELSE 'insert' END, now()
    FROM new_rows w;
  ELSE
    INSERT INTO stripe_mirror.changes (position, table_name, id, op, changed_at)
    SELECT x::text::bigint * 16777216 + n + row_number() OVER (), TG_TABLE_NAME, c.id, c.op, now()
    FROM (SELECT w.id, CASE
                 WHEN w.deleted AND NOT o.deleted THEN 'delete'
                 WHEN o.deleted AND NOT w.deleted THEN 'insert'
                 WHEN w.data IS DISTINCT FROM o.data THEN 'update'
               END AS op
          FROM new_rows w JOIN old_rows o ON o.id = w.id) c
    WHERE c.op IS NOT NULL;
  END IF;
  GET DIAGNOSTICS added = ROW_COUNT;
  IF added > 0 THEN
    IF n + added > 16777215 THEN
      RAISE EXCEPTION 'more than 16,777,215 changes to mirrored tables in one transaction'
        USING HINT = 'The change feed numbers a transaction''s changes in 24 bits; split the transaction.';
    END IF;
    PERFORM set_config('stripe_mirror.change_seq', x::text || ':' || (n + added), true);
  END IF;
  RETURN NULL;
END
$$;

-- Puts a mirrored table in the feed: one line per table, here and in the
-- migrations that add tables.
CREATE FUNCTION stripe_mirror.track_changes(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TRIGGER record_inserts AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
                  FOR EACH STATEMENT EXECUTE FUNCTION stripe_mirror.record_changes()', t);
  EXECUTE format('CREATE TRIGGER record_updates AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                  FOR EACH STATEMENT EXECUTE FUNCTION stripe_mirror.record_changes()', t);
END
$$;
REVOKE EXECUTE ON FUNCTION stripe_mirror.track_changes(regclass) FROM PUBLIC;

SELECT stripe_mirror.track_changes('"{{schema}}".products');
SELECT stripe_mirror.track_changes('"{{schema}}".prices');
SELECT stripe_mirror.track_changes('"{{schema}}".customers');
SELECT stripe_mirror.track_changes('"{{schema}}".subscriptions');
SELECT stripe_mirror.track_changes('"{{schema}}".subscription_items');
SELECT stripe_mirror.track_changes('"{{schema}}".invoices');
SELECT stripe_mirror.track_changes('"{{schema}}".invoice_line_items');

-- The first position not yet readable: that of the oldest transaction that
-- may still commit (the snapshot's xmin).
CREATE FUNCTION stripe_mirror.changes_limit() RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 16777216
$$;

-- Where a new reader starts: read this, then the tables (in the same
-- snapshot, or a later one), then follow changes_after(this). Everything at
-- or below it is in the tables already; anything that commits later is
-- above it.
CREATE FUNCTION stripe_mirror.changes_head() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT greatest((SELECT pruned_through FROM stripe_mirror.changes_horizon), stripe_mirror.changes_limit() - 1)
$$;

-- Up to max_rows changes after position `after`, in ascending position.
-- Readable by grant-reader's role (SECURITY DEFINER; EXECUTE granted by
-- grant-reader only), with a fixed search_path.
CREATE FUNCTION stripe_mirror.changes_after(after bigint, max_rows integer)
RETURNS TABLE ("position" bigint, table_name text, id text, op text, changed_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  horizon bigint;
BEGIN
  IF after IS NULL OR max_rows IS NULL OR max_rows < 0 THEN
    RAISE EXCEPTION 'changes_after(%, %): after must be a position and max_rows 0 or more',
      coalesce(after::text, 'NULL'), coalesce(max_rows::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Start with after = 0, or stripe_mirror.changes_head() after reading the tables.';
  END IF;
  SELECT h.pruned_through INTO horizon FROM stripe_mirror.changes_horizon h;
  -- A horizon of 0 means nothing was pruned: every position is still answered.
  IF horizon > 0 AND after < horizon THEN
    RAISE EXCEPTION 'position % is older than the change feed keeps: changes up to % were pruned (retention.events_days)', after, horizon
      USING ERRCODE = 'SM001',
            HINT = 'Re-read the tables you need and continue from stripe_mirror.changes_head(), taken before that read.';
  END IF;
  RETURN QUERY
    SELECT c.position, c.table_name, c.id, c.op, c.changed_at
    FROM stripe_mirror.changes c
    WHERE c.position > after AND c.position < stripe_mirror.changes_limit()
    ORDER BY c.position
    LIMIT max_rows;
END
$$;

-- Functions are executable by PUBLIC by default; these read the feed with
-- the owner's rights, so only grant-reader's role gets them.
REVOKE EXECUTE ON FUNCTION stripe_mirror.changes_after(bigint, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION stripe_mirror.changes_head() FROM PUBLIC;
