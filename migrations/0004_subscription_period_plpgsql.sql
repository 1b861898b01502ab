-- A subscription's current period, by the same rule as in 0001 (top level in
-- API versions before 2025-03-31.basil; since then the latest item start and
-- the earliest item end), written in PL/pgSQL instead of SQL. The SQL bodies
-- walk the items with a subquery, which Postgres cannot inline into the
-- generated column, so every call started an executor of its own — two for
-- every subscription written. PL/pgSQL evaluates the same expressions
-- directly: inserting 50,000 subscriptions took 6.1–6.4 s with the SQL
-- functions and 4.4–4.8 s in PL/pgSQL (best of four runs each; 3.1 s with no
-- generated columns at all). One function serves both ends, behind the two
-- names the columns use (30,000 subscriptions: 3.3–3.4 s with the SQL
-- functions, 2.6–2.9 s with two PL/pgSQL copies, 2.7–2.9 s with this one).
--
-- Same results for every input, so the stored columns stay valid and nothing
-- is recomputed. Non-numbers are skipped, as `stripe_mirror.ts` returns NULL
-- for them and max/min ignored NULLs.

-- `latest`: the latest item value (a period's start), else the earliest (its
-- end).
CREATE FUNCTION stripe_mirror.sub_period(d jsonb, field text, latest boolean) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  items jsonb := d #> '{items,data}';
  best timestamptz := stripe_mirror.ts(d -> field);
  t timestamptz;
BEGIN
  IF best IS NOT NULL OR jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
    RETURN best;
  END IF;
  FOR i IN 0 .. jsonb_array_length(items) - 1 LOOP
    t := stripe_mirror.ts(items -> i -> field);
    IF best IS NULL OR (CASE WHEN latest THEN t > best ELSE t < best END) THEN
      best := t;
    END IF;
  END LOOP;
  RETURN best;
END
$$;

-- The generated columns call these; each inlines to the call above.
CREATE OR REPLACE FUNCTION stripe_mirror.sub_period_start(d jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT stripe_mirror.sub_period(d, 'current_period_start', true)
$$;

CREATE OR REPLACE FUNCTION stripe_mirror.sub_period_end(d jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT stripe_mirror.sub_period(d, 'current_period_end', false)
$$;
