#!/usr/bin/env bash
# Prometheus (Debian's package) with split/observability/prometheus.yml against a running split layout:
#   the layout (split/run-local.sh, two products instances) on a free port; Prometheus on a free port with the
#   repository's prometheus.yml, whose one deployment-specific line (the discovery URL) is pointed at this layout's
#   gateway, first with a wrong token in its credentials file (the discovery is refused: 401), then with an admin
#   token written over it by split/observability/admin-token.sh while Prometheus runs; then, polling
#   Prometheus's HTTP API (bounded loops, no fixed waits):
#   - every instance that GET /admin/services/prometheus lists has `up == 1`, with the discovery's service,
#     instance and version labels on its series, and nothing else is scraped;
#   - the rules file is loaded and its rules evaluate without error;
#   - a products instance started afterwards (no configuration change) is discovered and scraped too;
#   - the discovery route still refuses a request without the admin token.
# Everything started here is stopped by its PID on exit.
#   prometheus_test.sh BIN_DIR
# Exit 77 (skipped) only when Prometheus is missing and cannot be installed.
set -euo pipefail
bin_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
observability="$split_tests_root/split/observability"
need_tool prometheus prometheus || { echo "SKIPPED: Prometheus is not installed and could not be installed"; exit 77; }

work=$(mktemp -d)
prometheus_pid="" extra_pid=""
export SHOP_ADMIN_EMAIL=prometheus-admin@example.com SHOP_ADMIN_PASSWORD=prometheus-admin-password
start_ms=$(( $(date +%s%N) / 1000000 ))
step() { echo "[prometheus-test +$(( $(date +%s%N) / 1000000 - start_ms )) ms] $*"; }
# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s until it succeeds, at most SECONDS.
wait_until() {
  local seconds=$1 what=$2 deadline
  shift 2
  deadline=$(( $(date +%s) + seconds ))
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "not within ${seconds} s: $what"; cat "$work/up.why" 2>/dev/null || true
      return 1
    fi
    sleep 0.5
  done
}
stop_pid() {  # stop_pid PID: SIGTERM, then wait for it
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local status=$?
  if [ $status -ne 0 ] && [ $status -ne 77 ]; then
    echo "---- prometheus log (last 30 lines) ----"; tail -30 "$work/prometheus.log" 2>/dev/null || true
    echo "---- split layout log (last 30 lines) ----"; tail -30 "$work/layout.log" 2>/dev/null || true
  fi
  [ -n "$extra_pid" ] && stop_pid "$extra_pid"
  [ -n "$prometheus_pid" ] && stop_pid "$prometheus_pid"
  stop_layout
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

step "split layout (products=2)"
start_layout "$bin_dir" "$work" --replicas products=2 || exit 1
gateway="http://127.0.0.1:$layout_port"

step "Prometheus configuration pointed at $gateway, with a token the admin API refuses"
mkdir -p "$work/prometheus"
(umask 077; echo not-a-token >"$work/prometheus/admin-token")
cp "$observability/shop-rules.yml" "$work/prometheus/"
default_url='http://127.0.0.1:8080/admin/services/prometheus'
[ "$(grep -c -F "url: $default_url" "$observability/prometheus.yml")" = 1 ] ||
  { echo "prometheus.yml: expected exactly one 'url: $default_url' line to point at the test's gateway"; exit 1; }
sed "s|url: $default_url|url: $gateway/admin/services/prometheus|" "$observability/prometheus.yml" >"$work/prometheus/prometheus.yml"
# Nothing but that one line differs from the repository's file.
[ "$(diff "$observability/prometheus.yml" "$work/prometheus/prometheus.yml" | grep -c '^[<>]')" = 2 ]

for attempt in 1 2 3; do
  prometheus_port=$(free_port)
  prometheus --config.file="$work/prometheus/prometheus.yml" --storage.tsdb.path="$work/prometheus/data" \
    --web.listen-address="127.0.0.1:$prometheus_port" --log.level=info >"$work/prometheus.log" 2>&1 &
  prometheus_pid=$!
  ready=0
  for i in $(seq 1 200); do
    curl -fs "http://127.0.0.1:$prometheus_port/-/ready" >/dev/null 2>&1 && { ready=1; break; }
    kill -0 "$prometheus_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ $ready = 1 ] && break
  echo "Prometheus did not start (attempt $attempt):"; tail -10 "$work/prometheus.log"
  stop_pid "$prometheus_pid"; prometheus_pid=""
done
[ -n "$prometheus_pid" ] || exit 1
api="http://127.0.0.1:$prometheus_port/api/v1"
step "Prometheus ready on 127.0.0.1:$prometheus_port"
# Prometheus asks at once; the gateway counts the answer in its own metrics.
refused() { curl -fs "$gateway/metrics" | grep -q '^shop_http_requests_total{method="GET",route="/admin/services/prometheus",status="401"} [1-9]'; }
wait_until 15 "the discovery refused with a wrong token" refused
step "discovery refused (401); an admin token from admin-token.sh written over the file while Prometheus runs"
"$observability/admin-token.sh" --gateway "$gateway" --out "$work/prometheus/admin-token"

# check_up [INSTANCE]: 0 when every instance the gateway's discovery lists (INSTANCE among them) is scraped by
# Prometheus with up == 1 and the discovery's labels, and Prometheus scrapes nothing else; otherwise 1, with
# what is missing in $work/up.why.
check_up() {
  curl -fs "$gateway/admin/services/prometheus" -H "Authorization: Bearer $(cat "$work/prometheus/admin-token")" \
    >"$work/sd.json" || { echo "discovery route did not answer" >"$work/up.why"; return 1; }
  curl -fs "$api/query" --data-urlencode 'query=up{job="shop"}' >"$work/up.json" ||
    { echo "Prometheus query failed" >"$work/up.why"; return 1; }
  python3 - "$work/sd.json" "$work/up.json" "${1:-}" >"$work/up.why" <<'PY'
import json, sys
sd = json.load(open(sys.argv[1]))
required = sys.argv[3]
up = json.load(open(sys.argv[2]))["data"]["result"]
want = {g["labels"]["instance"]: (g["targets"][0], g["labels"]) for g in sd}
got = {r["metric"].get("instance"): r for r in up}
problems = []
if len(want) < 5:
    problems.append(f"discovery lists {len(want)} instances, want at least 5 (users, 2 products, orders, gateway)")
for instance, (target, labels) in sorted(want.items()):
    r = got.get(instance)
    if r is None:
        problems.append(f"{instance} ({target}): no up series yet")
        continue
    m = r["metric"]
    for key in ("service", "version"):
        if m.get(key) != labels[key]:
            problems.append(f"{instance}: label {key}={m.get(key)!r}, discovery says {labels[key]!r}")
    if m.get("address") != target:
        problems.append(f"{instance}: label address={m.get('address')!r}, discovery says {target!r}")
    if r["value"][1] != "1":
        problems.append(f"{instance}: up = {r['value'][1]}")
if required and required not in want:
    problems.append(f"{required}: not in the discovery yet")
for instance in sorted(set(got) - set(want)):
    problems.append(f"{instance}: scraped but not in the discovery")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
}


# The file is read again at the next discovery refresh; then one scrape interval (10 s each in prometheus.yml).
wait_until 40 "every discovered instance up in Prometheus" check_up
step "every instance up: $(python3 -c 'import json,sys; print(", ".join(sorted(g["labels"]["instance"] for g in json.load(open(sys.argv[1])))))' "$work/sd.json")"

step "rules loaded and evaluating"
rules_ok() {
  curl -fs "$api/rules" >"$work/rules.json" || return 1
  python3 - "$work/rules.json" >"$work/up.why" <<'PY'
import json, sys
groups = json.load(open(sys.argv[1]))["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
bad = [f'{r.get("name")}: {r.get("health")} {r.get("lastError", "")}' for r in rules if r.get("health") != "ok"]
names = {g["name"] for g in groups}
problems = []
if names != {"shop-http", "shop-outbox", "shop-instances"}:
    problems.append(f"rule groups loaded: {sorted(names)}")
if len(rules) != 12:
    problems.append(f"{len(rules)} rules loaded, want 12")
problems += bad
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
}
# A rule's health is "unknown" until its group's first evaluation (10 s).
wait_until 30 "every rule evaluated without error" rules_ok

step "a products instance started now is discovered and scraped without a configuration change"
env SHOP_LOG_LEVEL=info "$bin_dir/shop-products" --port 0 --nats-url "$layout_nats_url" --data-dir "$work/data/products" \
  >"$work/extra.log" 2>&1 &
extra_pid=$!
wait_until 20 "the new products instance registered" grep -q '"msg":"registered"' "$work/extra.log"
extra_id=$(sed -n 's/.*"msg":"instance","id":"\([^"]*\)".*/\1/p' "$work/extra.log" | head -1)
[ -n "$extra_id" ] || { echo "the new instance logged no id"; cat "$work/extra.log"; exit 1; }
# Discovery refresh (10 s) plus the first scrape (up to 10 s), with margin.
wait_until 45 "new instance $extra_id up in Prometheus" check_up "$extra_id"
step "$extra_id up"

step "the discovery route still needs the admin token"
code=$(curl -s -o /dev/null -w '%{http_code}' "$gateway/admin/services/prometheus")
[ "$code" = 401 ] || { echo "GET /admin/services/prometheus without a token answered $code, want 401"; exit 1; }
step "passed"
