#!/usr/bin/env bash
# Builds the Swarm stack's images (split/images/Dockerfile) from the executables built on this host,
# without compiling anything inside Docker:
#   split/build-images.sh [--bin-dir DIR] [--tag TAG] [TARGET...]
#     --bin-dir  the split build's executables (default: build-split/bin; build them first with
#                cmake -S . -B build-split -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOP_SPLIT=ON && cmake --build build-split)
#     --tag      the images' tag (default: local): shop/app:TAG, shop/postgres:TAG, shop/nats:TAG,
#                shop/rsyslog:TAG, shop/prometheus:TAG, shop/edge:TAG
#     TARGET...  only these (app postgres nats rsyslog prometheus edge); default: all
# Makes the local base image debian:bookworm-slim first when the engine has none (make-base-image.sh).
# Package layers are cached by Docker: after the first build, a new executable rebuilds only `app`'s
# last layers (seconds).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir="$root/build-split/bin" tag=local targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-images: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(app postgres nats rsyslog prometheus edge)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "build-images: unknown target $t (one of: ${all[*]})" >&2; exit 2; }
done

executables=(shop shop-users shop-products shop-orders shop-gateway)
if [[ " ${targets[*]} " == *" app "* ]]; then
  for e in "${executables[@]}"; do
    [ -x "$bin_dir/$e" ] || { echo "build-images: $bin_dir/$e is missing: build the split layout first (see --help)" >&2; exit 1; }
  done
fi

"$root/split/make-base-image.sh"

# The build context: only what the images copy, staged so the repository (and its build trees) is not sent.
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/bin"
if [[ " ${targets[*]} " == *" app "* ]]; then
  for e in "${executables[@]}"; do
    strip -o "$context/bin/$e" "$bin_dir/$e" 2>/dev/null || cp "$bin_dir/$e" "$context/bin/$e"
  done
fi
cp "$root/split/healthcheck.sh" "$root/split/postgres/init.sql" \
   "$root/split/observability/rsyslog.conf" "$root/split/observability/prometheus.yml" \
   "$root/split/observability/shop-rules.yml" "$root/split/observability/admin-token.sh" \
   "$root/split/images/app-entrypoint.sh" "$root/split/images/postgres-entrypoint.sh" \
   "$root/split/images/prometheus-entrypoint.sh" "$root/split/images/haproxy.cfg" "$context/"

for t in "${targets[@]}"; do
  started=$(date +%s)
  log="$context/build-$t.log"
  if ! docker build -f "$root/split/images/Dockerfile" --target "$t" -t "shop/$t:$tag" "$context" >"$log" 2>&1; then
    echo "build-images: shop/$t:$tag failed:" >&2
    tail -30 "$log" >&2
    exit 1
  fi
  echo "build-images: shop/$t:$tag $(docker image inspect -f '{{.Id}}' "shop/$t:$tag" | cut -c1-19) ($(( $(date +%s) - started )) s)"
done
