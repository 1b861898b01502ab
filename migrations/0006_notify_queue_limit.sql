-- A reader that LISTENs and stops reading (a stuck client, a session left
-- idle in a transaction) holds back Postgres' notification queue, which is
-- shared by the whole cluster (8 GB). When it is full every NOTIFY fails,
-- and a NOTIFY fired by a trigger fails the write that fired it: one slow
-- reader would stop every write of the mirror. So past a limit the change
-- trigger skips the notification, and the write goes through.
--
-- The limit is a fraction of the queue, read from the setting
-- `stripe_mirror.notify_queue_limit` (ALTER DATABASE … SET, or per session),
-- 0.5 when unset or not a number: half the queue, where Postgres starts
-- warning about it in its log (naming the backend that holds it back).
-- Skipped notifications are counted in a sequence — no row lock, so writers
-- never queue behind the count — which `status` and `/metrics` show.
-- Readers miss nothing durable: the rows keep `synced_at`, and re-reading
-- after a reconnect is already what the README asks of them.

CREATE SEQUENCE stripe_mirror.notifications_skipped;

CREATE FUNCTION stripe_mirror.notify_queue_limit() RETURNS float8
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN s ~ '^\s*[0-9]*\.?[0-9]+\s*$' THEN s::float8 ELSE 0.5 END
  FROM COALESCE(current_setting('stripe_mirror.notify_queue_limit', true), '') AS s
$$;

CREATE OR REPLACE FUNCTION stripe_mirror.notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  op text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    op := CASE WHEN NEW.deleted THEN 'delete' ELSE 'insert' END;
  ELSIF NEW.deleted AND NOT OLD.deleted THEN
    op := 'delete';
  ELSIF OLD.deleted AND NOT NEW.deleted THEN
    -- A custom id created again replaced its tombstone: a new object.
    op := 'insert';
  ELSIF NEW.data IS DISTINCT FROM OLD.data THEN
    op := 'update';
  ELSE
    RETURN NULL;
  END IF;
  IF pg_notification_queue_usage() >= stripe_mirror.notify_queue_limit() THEN
    PERFORM nextval('stripe_mirror.notifications_skipped');
  ELSE
    PERFORM pg_notify('stripe_mirror', json_build_object('table', TG_TABLE_NAME, 'id', NEW.id, 'op', op)::text);
  END IF;
  RETURN NULL;
END
$$;
