#!/bin/sh
# What the change feed's triggers cost per row written, measured in Postgres
# alone (no daemon, no HTTP, no load generator), so it can run on a busy box:
# the same upserts with the feed's triggers enabled and disabled, alternated
# in rounds so that drift of the machine's speed hits both alike.
#
# The upsert has the shape of store.rs's (INSERT … ON CONFLICT DO UPDATE …
# WHERE newer), each transaction with synchronous_commit = off as an apply
# batch commits. Workloads, per transaction:
#   insert100  100 new customers           (backfill page, burst of creates)
#   update100  100 customers, data changed (an apply batch under load)
#   noop100    100 customers, same data, newer version (a sweep re-listing)
#   update1    1 customer, data changed    (an apply batch at low load: one webhook)
# Prints, per workload and setting, the CPU time the backend spent per
# transaction (from /proc/PID/schedstat: what the box's load does not move
# much), the wall time per transaction (which it does), WAL bytes per
# transaction, and the feed table's size per million changes.
#
# Run: sh benches/sql/feed_cost.sh   (needs the PostgreSQL server binaries;
# FEED_BENCH_TX=N transactions per run, FEED_BENCH_ROUNDS=N rounds)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" >&2; exit 1; }
tx=${FEED_BENCH_TX:-1000}
rounds=${FEED_BENCH_ROUNDS:-3}
dir=$(mktemp -d /tmp/feed-bench.XXXXXX)
port=$((20000 + $$ % 20000))
as=""
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; as="runuser -u postgres --"; fi
cleanup() { $as "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
$as "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
$as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses='' -c shared_buffers=256MB -c max_wal_size=4GB -c wal_compression=lz4" start >/dev/null
psql="psql -X -q -h $dir -p $port -U postgres -v ON_ERROR_STOP=1"
$psql -c "CREATE DATABASE bench"
for f in "$root"/migrations/*.sql; do sed 's/{{schema}}/stripe/g' "$f" | $psql -d bench >/dev/null; done
# The customer fixture as the document every row carries (~1.2 KB).
$psql -d bench -v doc="$(cat "$root/tests/fixtures/customer.json")" <<'SQL'
CREATE TABLE bench_doc AS SELECT :'doc'::jsonb AS doc;
INSERT INTO stripe.customers (id, data, version)
SELECT 'cus_k_' || g, jsonb_set(doc, '{id}', to_jsonb('cus_k_' || g)), 1 FROM bench_doc, generate_series(1, 100000) g;
VACUUM ANALYZE;
SQL

upsert='ON CONFLICT (id) DO UPDATE SET data = excluded.data, deleted = false,
  version = GREATEST(s.version, excluded.version), synced_at = now() WHERE s.version < excluded.version;'
newer='(extract(epoch FROM clock_timestamp()) * 1000000)::bigint'
# One transaction of each workload; the keys are drawn in SQL.
insert100="BEGIN; SET LOCAL synchronous_commit = off;
INSERT INTO stripe.customers AS s (id, data, version, synced_at)
SELECT 'cus_n_' || p || '_' || g, jsonb_set(doc, '{id}', to_jsonb('cus_n_' || p || '_' || g)), 2, now()
FROM bench_doc, (SELECT md5(random()::text) AS p) p, generate_series(1, 100) g $upsert COMMIT;"
update100="BEGIN; SET LOCAL synchronous_commit = off;
INSERT INTO stripe.customers AS s (id, data, version, synced_at)
SELECT 'cus_k_' || g, jsonb_set(jsonb_set(doc, '{id}', to_jsonb('cus_k_' || g)), '{name}', to_jsonb(random()::text)), $newer, now()
FROM bench_doc, (SELECT (random() * 999)::int AS b) b, generate_series(b * 100 + 1, b * 100 + 100) g $upsert COMMIT;"
noop100="BEGIN; SET LOCAL synchronous_commit = off;
INSERT INTO stripe.customers AS s (id, data, version, synced_at)
SELECT c.id, c.data, $newer, now() FROM stripe.customers c
WHERE c.id IN (SELECT 'cus_k_' || g FROM (SELECT (random() * 999)::int AS b) b, generate_series(b * 100 + 1, b * 100 + 100) g) $upsert COMMIT;"
update1="BEGIN; SET LOCAL synchronous_commit = off;
INSERT INTO stripe.customers AS s (id, data, version, synced_at)
SELECT 'cus_k_' || k, jsonb_set(jsonb_set(doc, '{id}', to_jsonb('cus_k_' || k)), '{name}', to_jsonb(random()::text)), $newer, now()
FROM bench_doc, (SELECT 1 + (random() * 99999)::int AS k) k $upsert COMMIT;"

# A psql script: the backend's CPU time (ns, /proc/PID/schedstat), WAL
# position and clock before; N transactions; the differences per transaction.
script() { # workload transactions
  eval "body=\$$1"
  {
    echo "SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)::bigint AS cpu0,
                 pg_current_wal_lsn() AS lsn0, clock_timestamp() AS t0 \gset"
    seq "$2" | while read -r _; do printf '%s\n' "$body"; done
    echo "SELECT round((split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)::bigint - :cpu0) / $2 / 1000.0, 1),
                 round(extract(epoch FROM clock_timestamp() - :'t0') * 1000000 / $2, 1),
                 round(pg_wal_lsn_diff(pg_current_wal_lsn(), :'lsn0') / $2)"
  } >"$dir/$1.$2.sql"
}
run() { # workload setting transactions
  if [ "$2" = on ]; then t=ENABLE; else t=DISABLE; fi
  $psql -d bench -c "ALTER TABLE stripe.customers $t TRIGGER record_inserts" -c "ALTER TABLE stripe.customers $t TRIGGER record_updates"
  [ -f "$dir/$1.$3.sql" ] || script "$1" "$3"
  $psql -d bench -At -F ' ' -f "$dir/$1.$3.sql" | tail -1 | {
    read -r cpu wall wal
    printf '%-10s feed %-3s  backend CPU %8s us/tx  wall %8s us/tx  WAL %7s bytes/tx\n' "$1" "$2" "$cpu" "$wall" "$wal"
  }
  $psql -d bench -c "CHECKPOINT" >/dev/null
}
echo "PostgreSQL $($psql -d bench -Atc 'SHOW server_version'), $tx transactions per run (update1: x10), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  for w in insert100 update100 noop100; do run $w on "$tx"; run $w off "$tx"; done
  run update1 on $((tx * 10)); run update1 off $((tx * 10))
done
$psql -d bench -Atc "SELECT 'feed: ' || count(*) || ' changes, ' || pg_size_pretty(pg_total_relation_size('stripe_mirror.changes'))
  || ' with its index, ' || pg_size_pretty((pg_total_relation_size('stripe_mirror.changes') * 1000000 / greatest(count(*), 1))::bigint)
  || ' per million changes' FROM stripe_mirror.changes"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
