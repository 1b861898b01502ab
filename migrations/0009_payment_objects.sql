-- The rest of the account's billing and payment objects, one table per type
-- of the registry (`src/registry/`): coupons, promotion codes, tax rates,
-- invoice items, credit notes (with their lines), subscription schedules,
-- payment intents, charges, refunds, disputes, payment methods, setup
-- intents, checkout sessions (with their line items).
--
-- Every table has the columns of 0001 (`id`, `data` as Stripe sent it,
-- `deleted`, `version`, `synced_at`) and typed columns GENERATED from
-- `data` with the helpers of 0001, so they can never disagree with the
-- object. Child tables carry their parent's id in a plain column written by
-- the mirror (Stripe's credit note lines and checkout line items do not
-- name their parent). Foreign ids are indexed: readers join on them, and
-- the mirror's own child statements reach children through the parent's.
--
-- Fields that moved between API versions are read from either place, as in
-- 0001: a promotion code's coupon (`coupon` before 2025-09-30.clover,
-- `promotion.coupon` since), an invoice item's subscription and price
-- (top level before 2025-03-31.basil, `parent.subscription_details` and
-- `pricing.price_details` since).

-- A JSON number as numeric (percentages are decimals: 25.5), NULL otherwise.
CREATE FUNCTION stripe_mirror.num(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v) WHEN 'number' THEN v::numeric END
$$;

-- A mirrored table gets its triggers here, in one line per table: the
-- NOTIFY of 0001 and, where the change feed is installed
-- (`stripe_mirror.track_changes`), the feed's triggers too, so a table added
-- by a later migration is one `SELECT stripe_mirror.mirror_table(…)`.
CREATE FUNCTION stripe_mirror.mirror_table(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TRIGGER notify AFTER INSERT OR UPDATE ON %s
                  FOR EACH ROW EXECUTE FUNCTION stripe_mirror.notify_change()', t);
  IF to_regprocedure('stripe_mirror.track_changes(regclass)') IS NOT NULL THEN
    EXECUTE 'SELECT stripe_mirror.track_changes($1)' USING t;
  END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION stripe_mirror.mirror_table(regclass) FROM PUBLIC;

CREATE TABLE "{{schema}}".coupons (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  name text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'name')) STORED,
  amount_off bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_off')) STORED,
  percent_off numeric GENERATED ALWAYS AS (stripe_mirror.num(data -> 'percent_off')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  duration text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'duration')) STORED,
  duration_in_months bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'duration_in_months')) STORED,
  max_redemptions bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'max_redemptions')) STORED,
  times_redeemed bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'times_redeemed')) STORED,
  redeem_by timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'redeem_by')) STORED,
  valid boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'valid')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);

CREATE TABLE "{{schema}}".promotion_codes (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  code text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'code')) STORED,
  coupon text GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.ref_id(data -> 'coupon'),
    stripe_mirror.ref_id(data #> '{promotion,coupon}'))) STORED,
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  active boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'active')) STORED,
  expires_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'expires_at')) STORED,
  max_redemptions bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'max_redemptions')) STORED,
  times_redeemed bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'times_redeemed')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX promotion_codes_coupon_idx ON "{{schema}}".promotion_codes (coupon);
CREATE INDEX promotion_codes_customer_idx ON "{{schema}}".promotion_codes (customer);
CREATE INDEX promotion_codes_code_idx ON "{{schema}}".promotion_codes (code);

CREATE TABLE "{{schema}}".tax_rates (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  display_name text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'display_name')) STORED,
  percentage numeric GENERATED ALWAYS AS (stripe_mirror.num(data -> 'percentage')) STORED,
  inclusive boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'inclusive')) STORED,
  active boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'active')) STORED,
  country text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'country')) STORED,
  state text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'state')) STORED,
  jurisdiction text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'jurisdiction')) STORED,
  tax_type text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'tax_type')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);

-- Invoice items have `date` where other objects have `created` (both are
-- the creation time); `created` reads either, so every table has one.
CREATE TABLE "{{schema}}".invoice_items (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  invoice text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'invoice')) STORED,
  subscription text GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.ref_id(data -> 'subscription'),
    stripe_mirror.ref_id(data #> '{parent,subscription_details,subscription}'))) STORED,
  price text GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.ref_id(data -> 'price'),
    stripe_mirror.ref_id(data #> '{pricing,price_details,price}'))) STORED,
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  quantity bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'quantity')) STORED,
  description text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'description')) STORED,
  proration boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'proration')) STORED,
  period_start timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{period,start}')) STORED,
  period_end timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{period,end}')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.ts(data -> 'created'), stripe_mirror.ts(data -> 'date'))) STORED
);
CREATE INDEX invoice_items_customer_idx ON "{{schema}}".invoice_items (customer);
CREATE INDEX invoice_items_invoice_idx ON "{{schema}}".invoice_items (invoice);
CREATE INDEX invoice_items_subscription_idx ON "{{schema}}".invoice_items (subscription);

CREATE TABLE "{{schema}}".credit_notes (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  invoice text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'invoice')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  type text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'type')) STORED,
  number text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'number')) STORED,
  reason text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'reason')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  subtotal bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'subtotal')) STORED,
  total bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'total')) STORED,
  effective_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'effective_at')) STORED,
  voided_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'voided_at')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX credit_notes_customer_idx ON "{{schema}}".credit_notes (customer);
CREATE INDEX credit_notes_invoice_idx ON "{{schema}}".credit_notes (invoice);

CREATE TABLE "{{schema}}".credit_note_line_items (
  id text PRIMARY KEY,
  credit_note text NOT NULL,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  type text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'type')) STORED,
  invoice_line_item text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'invoice_line_item')) STORED,
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  quantity bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'quantity')) STORED,
  unit_amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'unit_amount')) STORED,
  description text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'description')) STORED
);
CREATE INDEX credit_note_line_items_credit_note_idx ON "{{schema}}".credit_note_line_items (credit_note);

CREATE TABLE "{{schema}}".subscription_schedules (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  subscription text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'subscription')) STORED,
  released_subscription text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'released_subscription')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  end_behavior text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'end_behavior')) STORED,
  current_phase_start timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{current_phase,start_date}')) STORED,
  current_phase_end timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{current_phase,end_date}')) STORED,
  canceled_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'canceled_at')) STORED,
  completed_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'completed_at')) STORED,
  released_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'released_at')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX subscription_schedules_customer_idx ON "{{schema}}".subscription_schedules (customer);
CREATE INDEX subscription_schedules_subscription_idx ON "{{schema}}".subscription_schedules (subscription);

-- `invoice` on payment intents and charges exists in API versions before
-- 2025-03-31.basil (since then invoices point at their payments instead);
-- it is NULL in rows of later versions.
CREATE TABLE "{{schema}}".payment_intents (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  amount_received bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_received')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  payment_method text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_method')) STORED,
  latest_charge text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'latest_charge')) STORED,
  invoice text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'invoice')) STORED,
  description text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'description')) STORED,
  canceled_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'canceled_at')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX payment_intents_customer_idx ON "{{schema}}".payment_intents (customer);
CREATE INDEX payment_intents_latest_charge_idx ON "{{schema}}".payment_intents (latest_charge);
CREATE INDEX payment_intents_invoice_idx ON "{{schema}}".payment_intents (invoice);

CREATE TABLE "{{schema}}".charges (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  payment_intent text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_intent')) STORED,
  invoice text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'invoice')) STORED,
  payment_method text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_method')) STORED,
  balance_transaction text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'balance_transaction')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  amount_captured bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_captured')) STORED,
  amount_refunded bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_refunded')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  paid boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'paid')) STORED,
  captured boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'captured')) STORED,
  refunded boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'refunded')) STORED,
  disputed boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'disputed')) STORED,
  failure_code text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'failure_code')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX charges_customer_idx ON "{{schema}}".charges (customer);
CREATE INDEX charges_payment_intent_idx ON "{{schema}}".charges (payment_intent);
CREATE INDEX charges_invoice_idx ON "{{schema}}".charges (invoice);
CREATE INDEX charges_created_idx ON "{{schema}}".charges (created);

CREATE TABLE "{{schema}}".refunds (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  charge text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'charge')) STORED,
  payment_intent text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_intent')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  reason text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'reason')) STORED,
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX refunds_charge_idx ON "{{schema}}".refunds (charge);
CREATE INDEX refunds_payment_intent_idx ON "{{schema}}".refunds (payment_intent);
CREATE INDEX refunds_created_idx ON "{{schema}}".refunds (created);

CREATE TABLE "{{schema}}".disputes (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  charge text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'charge')) STORED,
  payment_intent text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_intent')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  reason text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'reason')) STORED,
  amount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  evidence_due_by timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data #> '{evidence_details,due_by}')) STORED,
  is_charge_refundable boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'is_charge_refundable')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX disputes_charge_idx ON "{{schema}}".disputes (charge);
CREATE INDEX disputes_payment_intent_idx ON "{{schema}}".disputes (payment_intent);

-- A detached payment method keeps its row with `customer` NULL.
CREATE TABLE "{{schema}}".payment_methods (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  type text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'type')) STORED,
  card_brand text GENERATED ALWAYS AS (stripe_mirror.str(data #> '{card,brand}')) STORED,
  card_last4 text GENERATED ALWAYS AS (stripe_mirror.str(data #> '{card,last4}')) STORED,
  card_exp_month bigint GENERATED ALWAYS AS (stripe_mirror.int8(data #> '{card,exp_month}')) STORED,
  card_exp_year bigint GENERATED ALWAYS AS (stripe_mirror.int8(data #> '{card,exp_year}')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX payment_methods_customer_idx ON "{{schema}}".payment_methods (customer);

CREATE TABLE "{{schema}}".setup_intents (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  payment_method text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_method')) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  usage text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'usage')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX setup_intents_customer_idx ON "{{schema}}".setup_intents (customer);
CREATE INDEX setup_intents_payment_method_idx ON "{{schema}}".setup_intents (payment_method);

CREATE TABLE "{{schema}}".checkout_sessions (
  id text PRIMARY KEY,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  customer text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'customer')) STORED,
  customer_email text GENERATED ALWAYS AS (COALESCE(
    stripe_mirror.str(data #> '{customer_details,email}'), stripe_mirror.str(data -> 'customer_email'))) STORED,
  status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'status')) STORED,
  payment_status text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'payment_status')) STORED,
  mode text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'mode')) STORED,
  amount_subtotal bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_subtotal')) STORED,
  amount_total bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_total')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  payment_intent text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_intent')) STORED,
  setup_intent text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'setup_intent')) STORED,
  subscription text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'subscription')) STORED,
  invoice text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'invoice')) STORED,
  payment_link text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'payment_link')) STORED,
  client_reference_id text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'client_reference_id')) STORED,
  expires_at timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'expires_at')) STORED,
  livemode boolean GENERATED ALWAYS AS (stripe_mirror.bool(data -> 'livemode')) STORED,
  created timestamptz GENERATED ALWAYS AS (stripe_mirror.ts(data -> 'created')) STORED
);
CREATE INDEX checkout_sessions_customer_idx ON "{{schema}}".checkout_sessions (customer);
CREATE INDEX checkout_sessions_payment_intent_idx ON "{{schema}}".checkout_sessions (payment_intent);
CREATE INDEX checkout_sessions_subscription_idx ON "{{schema}}".checkout_sessions (subscription);
CREATE INDEX checkout_sessions_invoice_idx ON "{{schema}}".checkout_sessions (invoice);

CREATE TABLE "{{schema}}".checkout_session_line_items (
  id text PRIMARY KEY,
  checkout_session text NOT NULL,
  data jsonb COMPRESSION lz4 NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  price text GENERATED ALWAYS AS (stripe_mirror.ref_id(data -> 'price')) STORED,
  product text GENERATED ALWAYS AS (stripe_mirror.ref_id(data #> '{price,product}')) STORED,
  quantity bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'quantity')) STORED,
  currency text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'currency')) STORED,
  amount_subtotal bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_subtotal')) STORED,
  amount_discount bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_discount')) STORED,
  amount_tax bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_tax')) STORED,
  amount_total bigint GENERATED ALWAYS AS (stripe_mirror.int8(data -> 'amount_total')) STORED,
  description text GENERATED ALWAYS AS (stripe_mirror.str(data -> 'description')) STORED
);
CREATE INDEX checkout_session_line_items_checkout_session_idx
  ON "{{schema}}".checkout_session_line_items (checkout_session);
CREATE INDEX checkout_session_line_items_price_idx ON "{{schema}}".checkout_session_line_items (price);

SELECT stripe_mirror.mirror_table('"{{schema}}".coupons');
SELECT stripe_mirror.mirror_table('"{{schema}}".promotion_codes');
SELECT stripe_mirror.mirror_table('"{{schema}}".tax_rates');
SELECT stripe_mirror.mirror_table('"{{schema}}".invoice_items');
SELECT stripe_mirror.mirror_table('"{{schema}}".credit_notes');
SELECT stripe_mirror.mirror_table('"{{schema}}".credit_note_line_items');
SELECT stripe_mirror.mirror_table('"{{schema}}".subscription_schedules');
SELECT stripe_mirror.mirror_table('"{{schema}}".payment_intents');
SELECT stripe_mirror.mirror_table('"{{schema}}".charges');
SELECT stripe_mirror.mirror_table('"{{schema}}".refunds');
SELECT stripe_mirror.mirror_table('"{{schema}}".disputes');
SELECT stripe_mirror.mirror_table('"{{schema}}".payment_methods');
SELECT stripe_mirror.mirror_table('"{{schema}}".setup_intents');
SELECT stripe_mirror.mirror_table('"{{schema}}".checkout_sessions');
SELECT stripe_mirror.mirror_table('"{{schema}}".checkout_session_line_items');
