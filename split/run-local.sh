#!/usr/bin/env bash
# Starts the whole split layout on loopback: NATS (JetStream), then users, products, orders and the
# gateway, every service on a free port, found by the others through the registry.
#   split/run-local.sh --bin-dir DIR --port P --data-dir D [--replicas products=2,orders=2] [--nats-url URL]
#                      [--users-database-url URL] [--products-database-url URL] [--orders-database-url URL]
# Without --nats-url a nats-server is started with its data in D/nats (Debian's nats-server, -js).
# Instances of one service share its SQLite database in D/<service> (WAL mode), or, with
# --<service>-database-url, that PostgreSQL database (postgresql://ROLE:PASSWORD@HOST:PORT/DB; one per
# service, split/postgres/init.sql), handed over in the environment (SHOP_DATABASE_URL), never on a
# command line or in a message: the password is left out where a URL is shown. Each process's log
# lines are shown prefixed with its name (one tail and one awk for all of them). Ready when the
# gateway's /health/ready answers 200 and every instance is registered. Ctrl-C or SIGTERM stops them
# all (each finishes its in-flight requests).
# On stderr, for scripts: `run-local: nats URL` once the NATS server is known (where the domain
# events are published), and a line starting `run-local: ready` once ready.
# Service identities need no typing: the client secrets are made on first start in D/secrets
# (split/make-secrets.sh: directory 0700, files 0600) and handed to users and orders as files.
set -euo pipefail

bin_dir=build/bin port=8080 data_dir=./data-split replicas="" nats_url=""
declare -A database_url=([users]="" [products]="" [orders]="")
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --data-dir) data_dir=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --nats-url) nats_url=$2; shift 2 ;;
    --users-database-url) database_url[users]=$2; shift 2 ;;
    --products-database-url) database_url[products]=$2; shift 2 ;;
    --orders-database-url) database_url[orders]=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-local: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for exe in shop-users shop-products shop-orders shop-gateway; do
  [ -x "$bin_dir/$exe" ] || { echo "run-local: $bin_dir/$exe not found; build with -DSHOP_SPLIT=ON" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "run-local: curl is needed" >&2; exit 1; }
if [ -z "$nats_url" ]; then
  command -v nats-server >/dev/null || { echo "run-local: nats-server is needed (apt-get install nats-server)" >&2; exit 1; }
fi

# redact URL: the URL without its password (user:PASSWORD@ and a password= parameter).
redact() {
  sed -E 's#^([a-z]+://[^:/@?]*):[^/?]*@#\1@#; s#([?&]password=)[^&]*#\1***#g' <<<"$1"
}
for service in users products orders; do
  url=${database_url[$service]}
  [ -z "$url" ] || [[ "$url" =~ ^postgres(ql)?:// ]] ||
    { echo "run-local: --$service-database-url must be a postgresql:// URL, not $(redact "$url")" >&2; exit 2; }
done

declare -A count=([users]=1 [products]=1 [orders]=1 [gateway]=1)
IFS=, read -ra pairs <<<"$replicas"
for pair in "${pairs[@]}"; do
  name=${pair%%=*} n=${pair#*=}
  [[ -n "${count[$name]:-}" && "$n" =~ ^[1-9][0-9]?$ ]] || { echo "run-local: bad --replicas entry '$pair'" >&2; exit 2; }
  [ "$name" = gateway ] && [ "$n" != 1 ] && { echo "run-local: one gateway per --port" >&2; exit 2; }
  count[$name]=$n
done

mkdir -p "$data_dir"/{users,products,orders,nats}
secrets_dir="$data_dir/secrets"
"$(dirname "$0")/make-secrets.sh" "$secrets_dir"
log_dir=$(mktemp -d)
pids=() follower="" prefixer=""

stop_all() {
  trap - INT TERM EXIT
  # Services first (they deregister on NATS), then NATS itself.
  local n=${#pids[@]}
  if [ "$n" -gt 0 ]; then
    local services=("${pids[@]:1}")
    [ -z "$nats_url_started" ] && services=("${pids[@]}")
    [ ${#services[@]} -gt 0 ] && kill -TERM "${services[@]}" 2>/dev/null || true
    for pid in "${services[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -n "$nats_url_started" ] && { kill -TERM "${pids[0]}" 2>/dev/null || true; wait "${pids[0]}" 2>/dev/null || true; }
  fi
  # The follower goes last, so the services' last lines are shown; its awk ends at end of input.
  [ -n "$follower" ] && { kill "$follower" 2>/dev/null || true; wait "$follower" 2>/dev/null || true; }
  [ -n "$prefixer" ] && { wait "$prefixer" 2>/dev/null || true; }
  rm -rf "$log_dir"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# launch NAME COMMAND...: runs it in the background, its output in $log_dir/NAME.log.
launch() {
  local name=$1; shift
  local log="$log_dir/$name.log"
  : >"$log"
  "$@" >>"$log" 2>&1 &
  pids+=($!)
}

# follow_logs: shows every process's log lines prefixed with its name, with one tail and one awk for
# the whole layout (not a pair per process): tail names the file before each run of its lines, awk
# turns that into the prefix. Killing the tail (stop_all) ends both. Both run under SCHED_IDLE
# (chrt --idle; nice 19 where chrt is missing): they get only CPU time no service wants, so under load
# the display lags instead of taking time from the services (measured: README, "Split mode").
follow_logs() {
  local idle=(chrt --idle 0)
  command -v chrt >/dev/null || idle=(nice -n 19)
  mkfifo "$log_dir/follow"
  "${idle[@]}" awk '
    /^==> .* <==$/ { name = $2; sub(/.*\//, "", name); sub(/\.log$/, "", name); next }
    NF == 0 { next }  # tail separates files with an empty line; log lines are never empty
    { print "[" name "] " $0; fflush() }' <"$log_dir/follow" &
  prefixer=$!
  "${idle[@]}" tail -n +1 -F "$log_dir"/*.log >"$log_dir/follow" 2>/dev/null &
  follower=$!
}

# wait_for NAME PATTERN: waits until the log of NAME matches PATTERN; prints the match.
wait_for() {
  local name=$1 pattern=$2 pid=${pids[-1]} found="" i
  for i in $(seq 1 200); do
    found=$(grep -o "$pattern" "$log_dir/$name.log" | head -1 || true)
    [ -n "$found" ] && { echo "$found"; return 0; }
    kill -0 "$pid" 2>/dev/null || { echo "run-local: $name exited; its log:" >&2; cat "$log_dir/$name.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "run-local: $name did not start" >&2
  exit 1
}

nats_url_started=""
if [ -z "$nats_url" ]; then
  launch nats nats-server -js -sd "$data_dir/nats" -a 127.0.0.1 -p -1
  nats_port=$(wait_for nats 'client connections on 127.0.0.1:[0-9]*' | grep -o '[0-9]*$')
  nats_url="nats://127.0.0.1:$nats_port"
  nats_url_started=1
fi
echo "run-local: nats $nats_url" >&2
common=(--port 0 --nats-url "$nats_url")
# db_env SERVICE: sets db_env_args to what `env` needs to point SERVICE's instances at its database: the URL
# in the environment (not on the command line, where ps shows it); nothing for SQLite in D/SERVICE.
db_env() {
  local url=${database_url[$1]}
  db_env_args=()
  if [ -n "$url" ]; then
    db_env_args=("SHOP_DATABASE_URL=$url")
    echo "run-local: $1 on $(redact "$url")" >&2
  fi
}
db_env users
launch users env "${db_env_args[@]}" "$bin_dir/shop-users" "${common[@]}" --data-dir "$data_dir/users" \
  --service-credentials-dir "$secrets_dir"
db_env products
for i in $(seq 1 "${count[products]}"); do
  launch "products$i" env "${db_env_args[@]}" "$bin_dir/shop-products" "${common[@]}" --data-dir "$data_dir/products"
done
db_env orders
for i in $(seq 1 "${count[orders]}"); do
  launch "orders$i" env "${db_env_args[@]}" SHOP_SERVICE_SECRET_FILE="$secrets_dir/orders" "$bin_dir/shop-orders" \
    "${common[@]}" --data-dir "$data_dir/orders"
done
launch gateway "$bin_dir/shop-gateway" --port "$port" --nats-url "$nats_url"
follow_logs
wait_for gateway '"msg":"listening"' >/dev/null

want=$((1 + count[products] + count[orders] + 1))
for i in $(seq 1 300); do
  if curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null &&
     [ "$(cat "$log_dir"/*.log | grep -c '"msg":"registered"')" -ge "$want" ]; then
    echo "run-local: ready: gateway http://127.0.0.1:$port, NATS $nats_url (users 1, products ${count[products]}, orders ${count[orders]})" >&2
    break
  fi
  [ "$i" = 300 ] && { echo "run-local: not ready after 30 s" >&2; exit 1; }
  sleep 0.1
done
wait "${pids[@]}"
