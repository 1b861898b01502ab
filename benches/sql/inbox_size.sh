#!/bin/sh
# The inbox's size per million events, before and after retention: 100,000
# synthetic `applied` events 40 days old (half `customer.updated` around the
# customer fixture, ~1.5 KB, half `invoice.paid` around the invoice fixture,
# ~5.5 KB: the webhook benchmark's mix) in a throwaway cluster, migrated and
# pruned by the real binary (`stripe-mirror migrate`, `stripe-mirror prune`,
# retention.events_days = 30). Sizes are pg_total_relation_size (heap, TOAST,
# indexes) after VACUUM; the per-million figure is 10x the 100,000 (the
# inbox's size is linear in its rows: every event is one row and one entry
# per index).
#
# Run: cargo build && sh benches/sql/inbox_size.sh   (INBOX_BENCH_EVENTS=N)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
mirror=${STRIPE_MIRROR_BIN:-$root/target/debug/stripe-mirror}
[ -x "$mirror" ] || { echo "build first: cargo build (or set STRIPE_MIRROR_BIN)" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" >&2; exit 1; }
events=${INBOX_BENCH_EVENTS:-100000}
dir=$(mktemp -d /tmp/inbox-size.XXXXXX)
port=$((20000 + $$ % 20000))
as=""
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; as="runuser -u postgres --"; fi
cleanup() { $as "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
$as "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
$as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=''" start >/dev/null
psql="psql -X -q -h $dir -p $port -U postgres -v ON_ERROR_STOP=1"
$psql -c "CREATE DATABASE bench"
export RUST_LOG=warn
export DATABASE_URL="postgres://postgres@localhost/bench?host=$dir&port=$port"
(cd "$dir" && "$mirror" migrate >/dev/null)

$psql -d bench -v customer="$(cat "$root/tests/fixtures/customer.json")" -v invoice="$(cat "$root/tests/fixtures/invoice.json")" \
  -v n="$events" <<'SQL'
-- The envelope Stripe sends around each object; ids differ per event.
INSERT INTO stripe_mirror.events (id, type, object_id, created, payload, status, processed_at)
SELECT 'evt_' || md5(g::text), t.type, t.object_id, t.created,
       jsonb_build_object('id', 'evt_' || md5(g::text), 'object', 'event', 'api_version', '2026-08-26.dahlia',
         'created', t.created, 'livemode', false, 'pending_webhooks', 1, 'type', t.type,
         'request', jsonb_build_object('id', 'req_' || md5((g + 1)::text), 'idempotency_key', null),
         'data', jsonb_build_object('object', jsonb_set(t.doc, '{id}', to_jsonb(t.object_id))))::text,
       'applied', now()
FROM generate_series(1, :n) g
CROSS JOIN LATERAL (
  SELECT CASE WHEN g % 2 = 0 THEN 'customer.updated' ELSE 'invoice.paid' END AS type,
         CASE WHEN g % 2 = 0 THEN 'cus_' ELSE 'in_' END || substr(md5((g * 7)::text), 1, 14) AS object_id,
         extract(epoch FROM now() - interval '40 days')::bigint + g % 86400 AS created,
         CASE WHEN g % 2 = 0 THEN :'customer'::jsonb ELSE :'invoice'::jsonb END AS doc) t;
VACUUM ANALYZE stripe_mirror.events;
SQL
size() {
  $psql -d bench -Atc "SELECT count(*), pg_total_relation_size('stripe_mirror.events'),
    pg_relation_size('stripe_mirror.events'), pg_total_relation_size('stripe_mirror.events') - pg_relation_size('stripe_mirror.events') - pg_indexes_size('stripe_mirror.events'),
    pg_indexes_size('stripe_mirror.events') FROM stripe_mirror.events" | {
    IFS='|' read -r rows total heap toast idx
    per=$(( total * 1000000 / events ))
    printf '%-34s %8s rows  total %6s MB (heap %s, TOAST %s, indexes %s MB)  = %s MB per million events\n' "$1" "$rows" \
      $((total / 1048576)) $((heap / 1048576)) $((toast / 1048576)) $((idx / 1048576)) $((per / 1048576))
  }
}
echo "$events events, PostgreSQL $($psql -d bench -Atc 'SHOW server_version'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
size "before prune"
(cd "$dir" && /usr/bin/time -f "prune took %e s" "$mirror" prune)
$psql -d bench -c "VACUUM stripe_mirror.events"
size "after prune + VACUUM (space reusable)"
$psql -d bench -c "VACUUM FULL stripe_mirror.events"
size "after VACUUM FULL (files shrunk)"
