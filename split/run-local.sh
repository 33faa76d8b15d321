#!/usr/bin/env bash
# Starts the whole split layout on loopback: the gateway on --port, the services on free ports.
#   split/run-local.sh --bin-dir DIR --port P --data-dir D
# Each process's log lines are prefixed with its name. Ready when every /health/ready answers 200.
# Ctrl-C or SIGTERM stops them all (each finishes its in-flight requests).
# Service identities need no typing: the client secrets are made on first start in D/secrets
# (split/make-secrets.sh: directory 0700, files 0600) and handed to users and orders as files.
set -euo pipefail

bin_dir=build/bin port=8080 data_dir=./data-split
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --data-dir) data_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-local: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for exe in shop-users shop-products shop-orders shop-gateway; do
  [ -x "$bin_dir/$exe" ] || { echo "run-local: $bin_dir/$exe not found; build with -DSHOP_SPLIT=ON" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "run-local: curl is needed" >&2; exit 1; }

mkdir -p "$data_dir"/{users,products,orders}
secrets_dir="$data_dir/secrets"
"$(dirname "$0")/make-secrets.sh" "$secrets_dir"
log_dir=$(mktemp -d)
pids=() tails=()

stop_all() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ ${#tails[@]} -gt 0 ] && kill "${tails[@]}" 2>/dev/null || true
  rm -rf "$log_dir"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# start NAME COMMAND...: runs it with its log prefixed, and prints the port it listens on.
start() {
  local name=$1; shift
  local log="$log_dir/$name.log"
  : >"$log"
  "$@" >>"$log" 2>&1 &
  pids+=($!)
  tail -n +1 -F "$log" 2>/dev/null | sed -u "s/^/[$name] /" &
  tails+=($!)
  local found="" i
  for i in $(seq 1 200); do
    found=$(grep -o '"msg":"listening".*"port":[0-9]*' "$log" | grep -o '[0-9]*$' | head -1 || true)
    [ -n "$found" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "run-local: $name exited; see its log above" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$found" ] || { echo "run-local: $name did not start listening" >&2; exit 1; }
  eval "${name}_port=$found"
}

start users "$bin_dir/shop-users" --port 0 --data-dir "$data_dir/users" --service-credentials-dir "$secrets_dir"
start products "$bin_dir/shop-products" --port 0 --data-dir "$data_dir/products" --users-url "http://127.0.0.1:$users_port"
start orders env SHOP_SERVICE_SECRET_FILE="$secrets_dir/orders" "$bin_dir/shop-orders" --port 0 --data-dir "$data_dir/orders" \
  --users-url "http://127.0.0.1:$users_port" --products-url "http://127.0.0.1:$products_port"
start gateway "$bin_dir/shop-gateway" --port "$port" --users-url "http://127.0.0.1:$users_port" \
  --products-url "http://127.0.0.1:$products_port" --orders-url "http://127.0.0.1:$orders_port"

for i in $(seq 1 300); do
  if curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null; then
    echo "run-local: ready: gateway http://127.0.0.1:$port (users :$users_port, products :$products_port, orders :$orders_port)" >&2
    break
  fi
  [ "$i" = 300 ] && { echo "run-local: not ready after 30 s" >&2; exit 1; }
  sleep 0.1
done
wait "${pids[@]}"
