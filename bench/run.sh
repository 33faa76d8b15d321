#!/usr/bin/env bash
# Benchmarks the monolith against the split layout (one and two products instances, found through the
# NATS registry) under identical load and writes a report.
#   bench/run.sh [--quick] [--bin-dir DIR] [--out DIR] [options]
#     --quick        about four minutes: 1,000 products, 100 users, 16 connections, 2 s runs, 1 repeat
#                    (the full run: 10,000 products, 1,000 users, 1/16/64 connections, 3 x 5 s; ~20 min, plus ~4 for the
#                    cost ladder and an estimated 25-35 for the scaled section)
#     --bin-dir DIR  use these executables (shop; shop-users, shop-products, shop-orders, shop-gateway for
#                    the split layouts; shop-bench-products, shop-bench-events for the micro-benchmarks)
#                    instead of building them in build-bench/
#     --out DIR      where report.md, chart.png and results.json go (default bench/results/)
#     --no-scaled    no "Scaled out (PostgreSQL)" section (layouts monolith-pg, monolith-pg2, split-pg, split2-pg:
#                    the data in a PostgreSQL 15 server started per layout, pinned and measured with it; 1 and 2
#                    replicas; --quick runs monolith-pg2 and split2-pg only). Skipped with a note without postgresql-15.
#   options for experiments: --duration S, --warmup S, --repeats N, --conns 1,16,64, --products N, --users N,
#     --layouts monolith,split,split2,monolith-pg,monolith-pg2,split-pg,split2-pg,
#     --workloads health,product,list,order,mix, --no-nginx, --no-micro,
#     --no-events, --no-peer, --events-samples N, --server-cpus LIST, --wrk-cpus LIST, --server-threads N
#     (--threads for every shop process), --no-ladder (no cost ladder of one GetProduct), --ladder-only (only the
#     ladder and the micro-benchmark its first steps come from; with --quick its cheap steps only)
# Peer row: GET /products/{id} against a Moleculer app (bench/peer/moleculer, `npm ci` on first use), one
# process and split over its TCP transporter; skipped with a note without node/npm (SHOP_BENCH_NODE=PATH picks
# a node, SHOP_BENCH_NODE=none simulates none) or when the install fails.
# Cost ladder: one GetProduct in process, through the HTTP pipeline, over loopback, through the gateway, and (full
# run, with a Docker engine and the base image) container to container and Swarm task to task; whatever it makes
# on the Docker engine is removed at the end, also on Ctrl-C.
# Events (every SQLite layout): cancel -> stock back latency and the CPU events cost per order.
# The run exits non-zero, after writing the report, when any request of any run errs (non-2xx/3xx, socket error,
# timeout), a layout or step does not start or seed, or a cancel's stock is not back within API.md's 1 s; the
# report's "Self-checks" and stderr's "bench: FAILED:" lines say which.
# Needs wrk, taskset, nats-server (split layouts), nginx (reference row, monolith-pg2), postgresql-15 (scaled
# section), node 20+ and npm (peer row),
# /usr/bin/python3 and, to build, cmake, ninja, g++.
# Everything runs on 127.0.0.1 from fresh temporary data dirs; every process started is stopped on exit
# and on Ctrl-C. Prints the report's table at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0 bin_dir="" out="$repo/bench/results" pass=() shown=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; pass+=(--quick); shift ;;
    --bin-dir) bin_dir=$(cd "$2" && pwd) || { echo "bench: --bin-dir $2 does not exist" >&2; exit 2; }; shift 2 ;;
    --out) mkdir -p "$2"; out=$(cd "$2" && pwd); shift 2 ;;
    --duration|--warmup|--repeats|--conns|--products|--users|--layouts|--workloads|--server-cpus|--wrk-cpus|--server-threads|--events-samples)
      [ $# -ge 2 ] || { echo "bench: $1 needs a value" >&2; exit 2; }
      pass+=("$1" "$2"); shown+=("$1" "$2"); shift 2 ;;
    --no-nginx|--no-micro|--no-events|--no-peer|--no-ladder|--ladder-only|--no-scaled) pass+=("$1"); shown+=("$1"); shift ;;
    -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

python=/usr/bin/python3
for tool in wrk taskset "$python"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed (apt-get install wrk util-linux python3)" >&2; exit 1; }
done
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || echo "bench: nginx not found; the nginx reference row is skipped (apt-get install nginx)" >&2
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || echo "bench: nats-server not found; the split layouts are skipped (apt-get install nats-server)" >&2

notes=()
if [ -z "$bin_dir" ]; then
  build="$repo/build-bench"
  blog=$(mktemp /tmp/shop-bench-build.XXXXXX.log)
  echo "bench: building in $build (log $blog)" >&2
  split=1
  if ! cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOP_SPLIT=ON -DSHOP_BUILD_TESTS=OFF >"$blog" 2>&1; then
    tail -n 15 "$blog" >&2
    echo "bench: configuring with -DSHOP_SPLIT=ON failed (above); building the monolith only, the split layouts are SKIPPED" >&2
    notes+=(--note "the split layouts were skipped: configuring with -DSHOP_SPLIT=ON failed")
    split=0
    cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOP_SPLIT=OFF -DSHOP_BUILD_TESTS=OFF >>"$blog" 2>&1 \
      || { tail -n 30 "$blog" >&2; echo "bench: cannot configure the build" >&2; exit 1; }
  fi
  cmake --build "$build" --target shop >>"$blog" 2>&1 \
    || { tail -n 30 "$blog" >&2; echo "bench: building shop failed (log $blog)" >&2; exit 1; }
  if [ $split = 1 ] && ! cmake --build "$build" --target shop-users shop-products shop-orders shop-gateway >>"$blog" 2>&1; then
    grep -m 10 -E 'error|FAILED' "$blog" >&2 || true
    echo "bench: building the split executables failed (log $blog); the split layouts are SKIPPED" >&2
    notes+=(--note "the split layouts were skipped: their executables did not build")
    split=0
  fi
  # Stale executables from an earlier build must not stand in for ones that did not build now.
  [ $split = 1 ] || pass+=(--layouts monolith)
  targets=$(cmake --build "$build" --target help 2>/dev/null || true)
  for micro in shop-bench-products shop-bench-events; do
    if ! grep -q "$micro" <<<"$targets"; then
      echo "bench: no $micro target (needs libbenchmark-dev and add_subdirectory(bench)); it is SKIPPED" >&2
      notes+=(--note "the micro-benchmark $micro was skipped: no such target in this build")
      pass+=(--skip-micro "$micro")
    elif ! cmake --build "$build" --target "$micro" >>"$blog" 2>&1; then
      grep -m 10 -E 'error|FAILED' "$blog" >&2 || true
      echo "bench: building $micro failed (log $blog); it is SKIPPED" >&2
      notes+=(--note "the micro-benchmark $micro was skipped: it did not build")
      pass+=(--skip-micro "$micro")
    fi
  done
  rm -f "$blog"
  bin_dir="$build/bin"
fi
[ -x "$bin_dir/shop" ] || { echo "bench: $bin_dir/shop not found" >&2; exit 1; }

work=$(mktemp -d /tmp/shop-bench.XXXXXX)
chmod 711 "$work"  # nginx's worker (nobody, when run as root) must reach its files below
driver=""
cleanup() {
  trap - EXIT INT TERM HUP
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  # Last resort: anything this run started (they all carry SHOP_BENCH_RUN=$work) that is still alive.
  local env_file pid
  for env_file in /proc/[0-9]*/environ; do
    pid=${env_file#/proc/}; pid=${pid%/environ}
    [ "$pid" = $$ ] && continue
    if grep -qzxF "SHOP_BENCH_RUN=$work" "$env_file" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # The cost ladder lists what it made on the Docker engine (compose project, stack, swarm) in this script and
  # removes it when done; if the driver could not, it is undone here.
  if [ -f "$work/ladder-cleanup.sh" ]; then
    echo "bench: removing what the cost ladder left on the Docker engine" >&2
    bash "$work/ladder-cleanup.sh" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM HUP

command_line="bench/run.sh"
[ $quick = 1 ] && command_line+=" --quick"
[ ${#shown[@]} -gt 0 ] && command_line+=" ${shown[*]}"
# Run in the background and wait, so that a signal to this script is handled at once.
TMPDIR="$work" "$python" "$repo/bench/lib/bench.py" --bin-dir "$bin_dir" --out "$out" --work "$work" \
  --command "$command_line" ${pass[@]+"${pass[@]}"} ${notes[@]+"${notes[@]}"} &
driver=$!
rc=0
wait "$driver" || rc=$?
driver=""
exit $rc
