-- stripe-mirror: the `{{schema}}` schema (Stripe's data, read by applications)
-- and the `stripe_mirror` schema (our bookkeeping). Forward-only, never
-- destructive. `{{schema}}` is replaced by `database.schema` from config.toml.
--
-- Typed columns are GENERATED from `data`, so they can never disagree with the
-- object we stored, and the writers only move (id, data, version). The helper
-- functions below read a field whether Stripe sent it as an id string or as an
-- expanded object, and return NULL rather than failing on an unexpected type:
-- unknown shapes are kept, never fatal.

CREATE SCHEMA IF NOT EXISTS stripe_mirror;
CREATE SCHEMA IF NOT EXISTS "{{schema}}";

CREATE FUNCTION stripe_mirror.str(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' END
$$;

-- An expandable reference: "cus_123" or {"id": "cus_123", ...}.
CREATE FUNCTION stripe_mirror.ref_id(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
    WHEN 'string' THEN v #>> '{}'
    WHEN 'object' THEN stripe_mirror.str(v -> 'id')
  END
$$;

CREATE FUNCTION stripe_mirror.int8(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'number'
              AND (v::numeric) BETWEEN -9223372036854775808 AND 9223372036854775807
         THEN round(v::numeric)::bigint END
$$;

CREATE FUNCTION stripe_mirror.bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v) WHEN 'boolean' THEN v::boolean END
$$;

-- Stripe timestamps are integer Unix seconds.
CREATE FUNCTION stripe_mirror.ts(v jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'number'
              AND (v::numeric) BETWEEN -1e11 AND 1e11
         THEN to_timestamp(v::numeric::double precision) END
$$;

-- A subscription's current period: top-level in API versions before
-- 2025-03-31.basil, on each subscription item since. Stripe's own list filter
-- uses the latest item start and the earliest item end, and so do we.
CREATE FUNCTION stripe_mirror.sub_period_start(d jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(
    stripe_mirror.ts(d -> 'current_period_start'),
    (SELECT max(stripe_mirror.ts(i -> 'current_period_start'))
       FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d #> '{items,data}') = 'array'
                                      THEN d #> '{items,data}' ELSE '[]'::jsonb END) i))
$$;

CREATE FUNCTION stripe_mirror.sub_period_end(d jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(
    stripe_mirror.ts(d -> 'current_period_end'),
    (SELECT min(stripe_mirror.ts(i -> 'current_period_end'))
       FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d #> '{items,data}') = 'array'
                                      THEN d #> '{items,data}' ELSE '[]'::jsonb END) i))
$$;

-- Common columns of every table:
--   id        Stripe's id
--   data      the object exactly as Stripe sent it (unknown fields included)
--   deleted   true once Stripe deleted the object; the last known data is kept
--   version   Unix seconds of the Stripe state in `data` (event `created`, or
--             the API response's `Date`); newest wins, see README
--   synced_at when stripe-mirror last wrote the row

CREATE TABLE "{{schema}}".products (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  name text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'name')) STORED,
  active boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'active')) STORED,
  default_price text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'default_price')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED,
  updated timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'updated')) STORED
);

CREATE TABLE "{{schema}}".prices (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  product text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'product')) STORED,
  active boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'active')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  unit_amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'unit_amount')) STORED,
  type text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'type')) STORED,
  recurring_interval text GENERATED ALWAYS AS (stripe_mirror.str(data #> '{recurring,interval}')) STORED,
  recurring_interval_count bigint GENERATED ALWAYS AS (stripe_mirror.int8(data #> '{recurring,interval_count}')) STORED,
  lookup_key text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'lookup_key')) STORED,
  nickname text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'nickname')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX prices_product_idx ON "{{schema}}".prices (product);

CREATE TABLE "{{schema}}".customers (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  email text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'email')) STORED,
  name text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'name')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  balance bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'balance')) STORED,
  delinquent boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'delinquent')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX customers_email_idx ON "{{schema}}".customers (email);

CREATE TABLE "{{schema}}".subscriptions (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  collection_method text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'collection_method')) STORED,
  cancel_at_period_end boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'cancel_at_period_end')) STORED,
  current_period_start timestamptz GENERATED ALWAYS AS (stripe_mirror.sub_period_start(data)) STORED,
  current_period_end timestamptz GENERATED ALWAYS AS (stripe_mirror.sub_period_end(data)) STORED,
  cancel_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'cancel_at')) STORED,
  canceled_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'canceled_at')) STORED,
  ended_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'ended_at')) STORED,
  trial_end timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'trial_end')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX subscriptions_customer_idx ON "{{schema}}".subscriptions (customer);
CREATE INDEX subscriptions_status_idx ON "{{schema}}".subscriptions (status);

-- Child rows carry their parent's id as a plain column written by us: older
-- API versions' line items have no `invoice` field.
CREATE TABLE "{{schema}}".subscription_items (
  id text PRIMARY KEY,
  subscription text NOT NULL,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  price text GENERATED ALWAYS AS (COALESCE(stripe_mirror.ref_id(data -> 'price'), stripe_mirror.ref_id(data -> 'plan'))) STORED,
  product text GENERATED ALWAYS AS (stripe_mirror.ref_id(data #> '{price,product}')) STORED,
  quantity bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'quantity')) STORED,
  current_period_start timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'current_period_start')) STORED,
  current_period_end timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'current_period_end')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX subscription_items_subscription_idx ON "{{schema}}".subscription_items (subscription);

CREATE TABLE "{{schema}}".invoices (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  -- `subscription` before 2025-03-31.basil, `parent.subscription_details.subscription` since.
  subscription text GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.ref_id(data -> 'subscription'),
    stripe_mirror.ref_id(data #> '{parent,subscription_details,subscription}'))) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  number text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'number')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  amount_due bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_due')) STORED,
  amount_paid bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_paid')) STORED,
  amount_remaining bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_remaining')) STORED,
  subtotal bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'subtotal')) STORED,
  total bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'total')) STORED,
  due_date timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'due_date')) STORED,
  period_start timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'period_start')) STORED,
  period_end timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'period_end')) STORED,
  paid_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{status_transitions,paid_at}')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX invoices_customer_idx ON "{{schema}}".invoices (customer);
CREATE INDEX invoices_subscription_idx ON "{{schema}}".invoices (subscription);

CREATE TABLE "{{schema}}".invoice_line_items (
  id text PRIMARY KEY,
  invoice text NOT NULL,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  description text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'description')) STORED,
  quantity bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'quantity')) STORED,
  -- `price` before 2025-03-31.basil, `pricing.price_details.price` since.
  price text GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.ref_id(data -> 'price'),
    stripe_mirror.ref_id(data #> '{pricing,price_details,price}'))) STORED,
  -- `subscription` before, `parent.subscription_item_details.subscription` since.
  subscription text GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.ref_id(data -> 'subscription'),
    stripe_mirror.ref_id(data #> '{parent,subscription_item_details,subscription}'))) STORED,
  period_start timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{period,start}')) STORED,
  period_end timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{period,end}')) STORED
);
CREATE INDEX invoice_line_items_invoice_idx ON "{{schema}}".invoice_line_items (invoice);

-- Readers can react: after a change commits, NOTIFY stripe_mirror with
-- {"table", "id", "op"}; op is insert, update or delete (the row became
-- deleted). A version bump that changes no data notifies nobody.
CREATE FUNCTION stripe_mirror.notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM pg_notify('stripe_mirror', json_build_object('table', TG_TABLE_NAME, 'id', NEW.id, 'op',
      CASE WHEN NEW.deleted THEN 'delete' ELSE 'insert' END)::text);
  ELSIF NEW.deleted AND NOT OLD.deleted THEN
    PERFORM pg_notify('stripe_mirror', json_build_object('table', TG_TABLE_NAME, 'id', NEW.id, 'op', 'delete')::text);
  ELSIF NEW.data IS DISTINCT FROM OLD.data THEN
    PERFORM pg_notify('stripe_mirror', json_build_object('table', TG_TABLE_NAME, 'id', NEW.id, 'op', 'update')::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER notify AFTER INSERT OR UPDATE ON "{{schema}}".products FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change();
CREATE TRIGGER notify AFTER INSERT OR UPDATE ON "{{schema}}".prices FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change();
CREATE TRIGGER notify AFTER INSERT OR UPDATE ON "{{schema}}".customers FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change();
CREATE TRIGGER notify AFTER INSERT OR UPDATE ON "{{schema}}".subscriptions FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change();
CREATE TRIGGER notify AFTER INSERT OR UPDATE ON "{{schema}}".subscription_items FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change();
CREATE TRIGGER notify AFTER INSERT OR UPDATE ON "{{schema}}".invoices FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change();
CREATE TRIGGER notify AFTER INSERT OR UPDATE ON "{{schema}}".invoice_line_items FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change();
