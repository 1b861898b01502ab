#!/bin/bash
# A whole-account backfill of the simulator's account, timed, with the CPU
# each part spent: the mirror (from its own rusage), the simulator (from
# /proc) and the machine as a whole (from /proc/stat; the rest of it is
# Postgres when nothing else runs). The account is backfill-vs-peer's
# (200 products, 400 prices, 50,000 customers, 25,000 subscriptions with 2
# items, 25,000 invoices with 2 lines); every run starts on an empty database.
#
# Run from the project's root after `cargo build --release -p stripe-mirror -p stripe-sim`:
#   PG_BASE=postgres://postgres:postgres@127.0.0.1:5432 sh benches/backfill_cpu.sh
# Env: PG_BASE (a cluster this user may create databases in), ROUNDS (1),
#      OBJECTS (a TOML list for [mirror] objects; default: all types),
#      CUSTOMERS (50000) SUBSCRIPTIONS (25000) INVOICES (25000).
set -eu
PG_BASE=${PG_BASE:-postgres://postgres:postgres@127.0.0.1:5432}
ROUNDS=${ROUNDS:-1}
BIN=target/release/stripe-mirror
SIM=target/release/stripe-sim
KEY=sk_test_backfill_cpu
work=$(mktemp -d /tmp/backfill-cpu.XXXXXX)
[ -x "$BIN" ] && [ -x "$SIM" ] || { echo "build first: cargo build --release -p stripe-mirror -p stripe-sim"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SIM" --listen "127.0.0.1:$port" --api-key "$KEY" --seed-products 200 --seed-prices-per-product 2 \
  --seed-customers "${CUSTOMERS:-50000}" --seed-subscriptions "${SUBSCRIPTIONS:-25000}" --seed-items-per-subscription 2 \
  --seed-invoices "${INVOICES:-25000}" --seed-lines-per-invoice 2 >"$work/sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null' EXIT
for _ in $(seq 1 240); do curl -s -o /dev/null "http://127.0.0.1:$port/v1/products" && break; sleep 0.25; done

{ printf '[stripe]\nrequests_per_second = 100000\n'; [ -n "${OBJECTS:-}" ] && printf '[mirror]\nobjects = %s\n' "$OBJECTS"; } >"$work/mirror.toml"
cpu_of() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }
machine() { awk '/^cpu /{printf "%.2f", ($2+$3+$4+$7+$8)/100}' /proc/stat; }
for r in $(seq 1 "$ROUNDS"); do
  db=backfill_cpu_$$
  PGOPTIONS="-c client_min_messages=warning" psql "$PG_BASE/postgres" -qAtX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
  export DATABASE_URL=$PG_BASE/$db STRIPE_API_BASE=http://127.0.0.1:$port STRIPE_SECRET_KEY=$KEY STRIPE_WEBHOOK_SECRET=whsec_backfill_cpu
  "$BIN" --config "$work/mirror.toml" migrate >"$work/migrate.log" 2>&1
  s0=$(cpu_of $sim); m0=$(machine); t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/rusage" "$BIN" --config "$work/mirror.toml" backfill >"$work/backfill.log" 2>&1
  t1=$(date +%s.%N); s1=$(cpu_of $sim); m1=$(machine)
  read -r mu ms <"$work/rusage"
  awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v m0="$m0" -v m1="$m1" -v mu="$mu" -v ms="$ms" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
    'BEGIN { printf "round: wall %.2f s; CPU: machine %.2f s, mirror %.2f s, simulator %.2f s, the rest %.2f s; load %s\n",
             t1-t0, m1-m0, mu+ms, s1-s0, (m1-m0)-(mu+ms)-(s1-s0), load }'
  psql "$PG_BASE/postgres" -qAtX -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
done
