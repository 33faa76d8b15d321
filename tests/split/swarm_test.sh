#!/usr/bin/env bash
# Both layouts on Docker Swarm, end to end, on this one machine. The split layout (split/stack.yml, the default):
#   install what is missing (docker.io, debootstrap, docker-registry), start dockerd if no engine answers,
#   `docker swarm init --advertise-addr 127.0.0.1` if this engine is in no swarm; build the images from
#   BIN_DIR (split/build-images.sh), push them to Debian's docker-registry on a free loopback port and deploy
#   the stack by digest (split/push-images.sh's env file), replicas users 1, products 2, orders 2, gateway 2;
#   then through the published entry:
#     * the e2e API suite;
#     * one products task killed (SIGKILL) under a bounded load (GET /products/ID, POST /orders): no failed
#       request from 1 s after the kill, Swarm starts a new task, and the registry (GET /admin/services) drops
#       the dead instance and lists the new one;
#     * one request id (X-Request-Id on POST /orders) in the collected logs of gateway, orders and products;
#     * Prometheus (its HTTP API) has every registered instance as a target, up.
#   The single binary (split/stack-monolith.yml, layout `monolith`; local images, no registry): 2 replicas on one
#   PostgreSQL server, each serving the product made through the edge and accepting the same token; the e2e
#   API suite through its edge.
#   Then removes the stack, its volumes, secrets and network, stops the registry, leaves the swarm if it
#   joined it and stops dockerd if it started it.
#   swarm_test.sh BIN_DIR E2E_TEST_BINARY [split|monolith]
# SHOP_SWARM_KEEP=1 keeps the stack running at the end (for a look around; remove it by hand).
set -euo pipefail
bin_dir=$1 e2e=$2 layout=${3:-split}
case "$layout" in split|monolith) ;; *) echo "swarm_test: layout is split or monolith, not $layout" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/split/lib.sh"
start=$(date +%s.%N)
last=$start
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
step() {
  local t
  t=$(date +%s.%N)
  echo "[swarm-test +$(sub "$t" "$start")s, step before took $(sub "$t" "$last")s] $*"
  last=$t
}
fail() { echo "swarm-test: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds; fails after SECONDS.
wait_for() {
  local deadline=$(( $(date +%s) + $1 ))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
elapsed_since() { sub "$(now)" "$1"; }

work=$(mktemp -d /tmp/shop-swarm-test.XXXXXX)
stack="shopswarm$$" mono_stack="shopmono$$"
started_dockerd="" joined_swarm="" gwbridge_existed="" gwbridge_left="" registry_pid="" registry_port="" logs_container=""
export SHOP_ADMIN_EMAIL=swarm-admin@example.com

start_dockerd() {
  local i
  dockerd >>"$work/dockerd.log" 2>&1 &
  started_dockerd=$!
  for i in $(seq 1 150); do docker info >/dev/null 2>&1 && return 0; kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.2; done
  return 1
}
stop_dockerd() {
  local i
  kill "$started_dockerd" 2>/dev/null
  for i in $(seq 1 150); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.2; done
  wait "$started_dockerd" 2>/dev/null
}

cleanup() {
  local status=$? i
  set +e
  if [ $status -ne 0 ] && [ -n "$stack" ]; then
    echo "---- stack services ----"
    docker stack ps "$stack" --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' 2>/dev/null | head -40
    for s in users products orders gateway edge postgres prometheus; do
      echo "---- $s (docker service logs is empty with the syslog driver: the collector's file) ----"
      [ -n "$logs_container" ] && docker exec "$logs_container" tail -n 15 "/logs/$s.jsonl" 2>/dev/null
    done
  fi
  if [ "${SHOP_SWARM_KEEP:-}" = 1 ]; then
    echo "SHOP_SWARM_KEEP=1: stack $stack left running (edge port $SHOP_PORT, Prometheus $SHOP_PROMETHEUS_PORT)"
    exit $status
  fi
  step "cleanup: stack rm"
  docker stack rm "$stack" "$mono_stack" >/dev/null 2>&1
  for ns in "$stack" "$mono_stack"; do
    for i in $(seq 1 150); do
      [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$ns")" ] &&
        [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$ns")" ] && break
      sleep 0.2
    done
    docker volume ls -q --filter "label=com.docker.stack.namespace=$ns" | xargs -r docker volume rm >/dev/null
    docker secret ls -q --filter "label=com.docker.stack.namespace=$ns" | xargs -r docker secret rm >/dev/null 2>&1
  done
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null
    docker images --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$registry_port/" | xargs -r docker rmi >/dev/null 2>&1
    docker images --format '{{.Repository}}@{{.Digest}}' | grep "^127.0.0.1:$registry_port/" | xargs -r docker rmi >/dev/null 2>&1
  fi
  if [ -n "$joined_swarm" ]; then
    docker swarm leave --force >/dev/null 2>&1
    # The bridge `swarm init` made for the node's own traffic stays after leaving: remove it if it did.
    # dockerd 20.10 often keeps a stale swarm endpoint on it after the leave ("has active endpoints")
    # until it restarts: tried for a few seconds, then after a restart of the dockerd this test started.
    if [ -z "$gwbridge_existed" ]; then
      gwbridge_left=1
      for i in $(seq 1 25); do docker network rm docker_gwbridge >/dev/null 2>&1 && { gwbridge_left=""; break; }; sleep 0.2; done
    fi
  fi
  if [ -n "$started_dockerd" ]; then
    stop_dockerd
    if [ -n "$gwbridge_left" ]; then
      start_dockerd && docker network rm docker_gwbridge >/dev/null && gwbridge_left=""
      stop_dockerd
    fi
  fi
  [ -z "$gwbridge_left" ] ||
    echo "note: docker_gwbridge (made by swarm init) keeps a stale endpoint until dockerd restarts; remove it then: docker network rm docker_gwbridge"
  rm -rf "$work"
  step "cleanup done"
  exit $status
}
trap cleanup EXIT

# ---- what the test needs on the machine
step "tools"
need_tool dockerd docker.io || exit 77
need_tool debootstrap debootstrap || exit 77
use_registry=""
if [ "$layout" = split ]; then
  use_registry=1
  need_tool docker-registry docker-registry || { use_registry=""; echo "no docker-registry: deploying local images, not by digest"; }
fi
if ! docker info >/dev/null 2>&1; then
  step "starting dockerd"
  start_dockerd || { tail -20 "$work/dockerd.log"; fail "dockerd did not start"; }
fi
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  step "docker swarm init --advertise-addr 127.0.0.1"
  docker network inspect docker_gwbridge >/dev/null 2>&1 && gwbridge_existed=1
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  joined_swarm=1
fi
[ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] || fail "this engine is a swarm worker: deploy from a manager"

# ---- images: built from BIN_DIR, pushed to a registry on loopback, deployed by digest
step "images (split/build-images.sh)"
"$root/split/build-images.sh" --bin-dir "$bin_dir"
if [ -n "$use_registry" ]; then
  registry_port=$(free_port)
  mkdir -p "$work/registry"
  cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$registry_port
EOF
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for i in $(seq 1 100); do curl -fs "http://127.0.0.1:$registry_port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$registry_port/v2/" >/dev/null || { cat "$work/registry.log"; fail "docker-registry did not start"; }
  step "push to 127.0.0.1:$registry_port (split/push-images.sh)"
  "$root/split/push-images.sh" "127.0.0.1:$registry_port" --out "$work/images.env" 2>"$work/push.log" ||
    { tail -20 "$work/push.log"; fail "push-images.sh"; }
  cat "$work/images.env"
  set -a; source "$work/images.env"; set +a
  [ "$(grep -c '^SHOP_[A-Z]*_IMAGE=127.0.0.1:[0-9]*/shop/[a-z]*@sha256:[0-9a-f]\{64\}$' "$work/images.env")" = 6 ] ||
    fail "images.env does not name the 6 images by digest"
fi

run_e2e() {  # BASE_URL
  local e2e_status=0
  SHOP_E2E_BASE_URL=$1 SHOP_E2E_ADMIN_EMAIL=$SHOP_ADMIN_EMAIL SHOP_E2E_ADMIN_PASSWORD=$admin_password \
    "$e2e" --order-by=file >"$work/e2e.log" 2>&1 || e2e_status=$?
  tail -4 "$work/e2e.log"
  [ "$e2e_status" = 0 ] || { grep -B2 -A8 'ERROR' "$work/e2e.log" | head -80; fail "e2e suite"; }
  step "e2e: $(grep -E '^\[doctest\] test cases' "$work/e2e.log" | tr -s ' ')"
}

# ---- secrets, ports, deploy
"$root/split/make-stack-secrets.sh" "$work/secrets" >/dev/null
export SHOP_SECRETS_DIR="$work/secrets"
export SHOP_PORT=$(free_port) SHOP_PROMETHEUS_PORT=$(free_port)
export SHOP_LOG_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SHOP_ENDPOINT_MODE=dnsrr SHOP_PUBLISH_MODE=host SHOP_MONOLITH_PORT=$SHOP_PORT
admin_password=$(head -n 1 "$work/secrets/admin_password")
base="http://127.0.0.1:$SHOP_PORT"
# ---- the single binary's layout (split/stack-monolith.yml): 2 replicas of `shop` on one PostgreSQL server
if [ "$layout" = monolith ]; then
  mono="http://127.0.0.1:$SHOP_MONOLITH_PORT"
  step "docker stack deploy $mono_stack (split/stack-monolith.yml, edge :$SHOP_MONOLITH_PORT, logs :$SHOP_LOG_PORT/udp)"
  docker stack deploy --resolve-image never -c "$root/split/stack-monolith.yml" "$mono_stack" >/dev/null
  mono_running() {
    [ "$(docker service ls --filter "label=com.docker.stack.namespace=$mono_stack" --format '{{.Replicas}}' | sort | tr '\n' ' ')" = "1/1 1/1 1/1 1/1 2/2 " ]
  }
  mono_ready() { mono_running && curl -fs -o /dev/null "$mono/health/ready"; }
  wait_for 180 mono_ready || { docker service ls --filter "label=com.docker.stack.namespace=$mono_stack"; fail "the monolith stack does not run its replicas"; }
  step "e2e API suite through the monolith's edge"
  run_e2e "$mono"
  mono_admin=$(python3 -c 'import json,sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' "$SHOP_ADMIN_EMAIL" "$admin_password" |
    curl -fs -X POST "$mono/auth/token" -H 'Content-Type: application/json' --data-binary @- | json 'd["access_token"]') ||
    fail "no admin token from the monolith stack"
  mono_product=$(curl -fs -X POST "$mono/products" -H "Authorization: Bearer $mono_admin" -H 'Content-Type: application/json' \
    -d '{"sku":"swarm-mono-1","name":"Mono","price_cents":100,"stock":7}' | json 'd["id"]') || fail "create product (monolith)"
  # Each replica asked directly, from inside its container (its port is not published).
  replica_get() {  # CONTAINER PATH [TOKEN]: the status line and the body
    docker exec -e TOKEN="${3:-}" -e TARGET="$2" "$1" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080
      auth=""; [ -z "$TOKEN" ] || auth="Authorization: Bearer $TOKEN"$'"'"'\r\n'"'"'
      printf "GET %s HTTP/1.1\r\nHost: shop\r\n%sConnection: close\r\n\r\n" "$TARGET" "$auth" >&3
      cat <&3' | sed -n '1p;$p'
  }
  replicas=$(docker ps -q --filter "label=com.docker.swarm.service.name=${mono_stack}_shop")
  [ "$(echo "$replicas" | wc -l)" = 2 ] || fail "want 2 monolith replicas, have: $replicas"
  for c in $replicas; do
    answer=$(replica_get "$c" "/products/$mono_product")
    case "$answer" in "HTTP/1.1 200 "*'"sku":"swarm-mono-1"'*) ;; *) fail "monolith replica $c: GET /products/$mono_product: $answer" ;; esac
    answer=$(replica_get "$c" /users/me "$mono_admin")
    case "$answer" in "HTTP/1.1 200 "*'"role":"admin"'*) ;; *) fail "monolith replica $c: the token does not hold: $answer" ;; esac
  done
  step "2 replicas of shop on one PostgreSQL server: each serves the product made through the edge and accepts its token"
  step "passed"
  exit 0
fi

step "docker stack deploy $stack (edge :$SHOP_PORT, Prometheus :$SHOP_PROMETHEUS_PORT, logs :$SHOP_LOG_PORT/udp)"
docker stack deploy --resolve-image never -c "$root/split/stack.yml" "$stack" >/dev/null
[ -z "$use_registry" ] || {
  image=$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "${stack}_products")
  [ "$image" = "$SHOP_APP_IMAGE" ] || fail "products runs $image, not $SHOP_APP_IMAGE"
}

declare -A want=([users]=1 [products]=2 [orders]=2 [gateway]=2 [edge]=1 [postgres]=1 [nats]=1 [logs]=1 [prometheus]=1)
running_tasks() { docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}'; }
all_running() {
  local s line
  for s in "${!want[@]}"; do
    line=$(running_tasks | grep "^${stack}_$s " || true)
    [ "$line" = "${stack}_$s ${want[$s]}/${want[$s]}" ] || return 1
  done
}
wait_for 180 all_running || { running_tasks; fail "not every service runs its replicas within 180 s"; }
step "every service runs its replicas: $(running_tasks | sed "s/^${stack}_//" | sort | tr '\n' ' ')"
wait_for 60 curl -fs -o /dev/null "$base/health/ready" || fail "the gateway is not ready through the edge within 60 s"
logs_container=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_logs" | head -1)

admin_token() {
  python3 -c 'import json,sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' \
    "$SHOP_ADMIN_EMAIL" "$admin_password" |
    curl -fs -X POST "$base/auth/token" -H 'Content-Type: application/json' --data-binary @- | json 'd["access_token"]'
}
admin=$(admin_token) || fail "no admin token"
# "service host host..." per service, from the registry as the admin API shows it.
registry_hosts() {
  curl -fs "$base/admin/services" -H "Authorization: Bearer $admin" |
    python3 -c 'import json,sys,urllib.parse
for s in json.load(sys.stdin)["services"]:
    print(s["name"], " ".join(sorted(urllib.parse.urlsplit(i["url"]).hostname for i in s["instances"])))'
}
registered() {
  local hosts
  hosts=$(registry_hosts) || return 1
  [ "$(echo "$hosts" | awk '$1=="users"{print NF-1}')" = 1 ] && [ "$(echo "$hosts" | awk '$1=="products"{print NF-1}')" = 2 ] &&
    [ "$(echo "$hosts" | awk '$1=="orders"{print NF-1}')" = 2 ] && [ "$(echo "$hosts" | awk '$1=="gateway"{print NF-1}')" = 2 ]
}
wait_for 60 registered || { registry_hosts; fail "the registry does not list users 1, products 2, orders 2, gateway 2 within 60 s"; }
step "gateway ready; registry lists $(registry_hosts | awk '{printf "%s %d, ", $1, NF-1}')"

# ---- the e2e API suite through the entry
step "e2e API suite through the edge"
run_e2e "$base"

# ---- one products task killed under load
buyer='{"email":"swarm-buyer@example.com","password":"buyer-password","name":"Buyer"}'
curl -fs -X POST "$base/users" -H 'Content-Type: application/json' -d "$buyer" >/dev/null || fail "register buyer"
curl -fs -X POST "$base/auth/token" -H 'Content-Type: application/json' \
  -d '{"email":"swarm-buyer@example.com","password":"buyer-password"}' | json 'd["access_token"]' >"$work/buyer-token"
product=$(curl -fs -X POST "$base/products" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"sku":"swarm-1","name":"Swarm","price_cents":100,"stock":1000000}' | json 'd["id"]') || fail "create product"

products_containers() { docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_products" --filter status=running | sort; }
before=$(products_containers)
[ "$(echo "$before" | wc -l)" = 2 ] || fail "want 2 products containers, have: $before"
victim=$(echo "$before" | head -1)
victim_host=$(docker inspect -f '{{.Config.Hostname}}' "$victim")
registry_hosts | grep -q "^products .*\b$victim_host\b" || fail "products container $victim_host is not in the registry"
step "load on, then docker kill (SIGKILL) products container $victim_host"
python3 "$root/tests/split/swarm_load.py" "$SHOP_PORT" "$product" "$work/buyer-token" "$work/stop-load" 60 "$work/load.jsonl" &
load_pid=$!
for i in $(seq 1 100); do [ -e "$work/load.jsonl.answered" ] && break; sleep 0.1; done
[ -e "$work/load.jsonl.answered" ] || fail "the load got no answer within 10 s"
# Then one second of load before the kill (time passing, not a wait for something to happen).
until_time() { while [ "$(awk -v a="$(now)" -v b="$1" 'BEGIN { print (a < b) }')" = 1 ]; do sleep 0.1; done; }
until_time "$(awk -v a="$(now)" 'BEGIN { printf "%.3f", a + 1 }')"
t_kill=$(now)
docker kill "$victim" >/dev/null
replaced="" dropped="" followed=""
for i in $(seq 1 300); do
  current=$(products_containers)
  if [ -z "$replaced" ] && [ "$(echo "$current" | grep -c .)" = 2 ] && ! echo "$current" | grep -q "^$victim"; then
    replaced=$(elapsed_since "$t_kill")
    new=$(echo "$current" | grep -vxF "$(echo "$before" | tail -1)")
    new_host=$(docker inspect -f '{{.Config.Hostname}}' "$new")
  fi
  hosts=$(registry_hosts | awk '$1=="products"')
  [ -n "$dropped" ] || echo "$hosts" | grep -qw "$victim_host" || dropped=$(elapsed_since "$t_kill")
  if [ -n "$replaced" ] && [ -n "$dropped" ] && echo "$hosts" | grep -qw "$new_host" && [ "$(echo "$hosts" | wc -w)" = 3 ]; then
    followed=$(elapsed_since "$t_kill"); break
  fi
  sleep 0.2
done
# A little load after the registry followed: the new instance takes traffic too.
until_time "$(awk -v a="$(now)" 'BEGIN { printf "%.3f", a + 2 }')"
touch "$work/stop-load"
wait "$load_pid" || fail "the load generator failed"
[ -n "$replaced" ] || fail "Swarm did not start a new products task within 60 s"
[ -n "$followed" ] || { registry_hosts; fail "the registry did not drop $victim_host and list $new_host within 60 s"; }
python3 - "$work/load.jsonl" "$t_kill" <<'EOF' || fail "requests failed more than 1 s after the kill"
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
t_kill = float(sys.argv[2])
ok = {"get": 200, "order": 201}
failed = [r for r in records if r["status"] != ok[r["kind"]]]
late = [r for r in failed if r["start"] > t_kill + 1.0]
after = [r for r in records if r["start"] > t_kill]
print("load: %d requests (%d before the kill, %d after it), %d failed in the first second after it, %d failed later"
      % (len(records), len(records) - len(after), len(after), len(failed) - len(late), len(late)))
for r in late[:10]:
    print("  late failure:", r)
sys.exit(1 if late or len(after) < 20 else 0)
EOF
step "the registry dropped $victim_host $dropped s after the kill; Swarm started $new_host after $replaced s; the registry listed it after $followed s"

# ---- one request id in the logs of every service it crossed
rid="swarm-test-$$-$(date +%s)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/orders" -H "X-Request-Id: $rid" \
  -H "Authorization: Bearer $(cat "$work/buyer-token")" -H 'Content-Type: application/json' \
  -d "{\"items\":[{\"product_id\":$product,\"quantity\":1}]}")
[ "$code" = 201 ] || fail "POST /orders with X-Request-Id answered $code"
files=""
for i in $(seq 1 100); do
  files=$(docker exec "$logs_container" sh -c "grep -l '\"request_id\":\"$rid\"' /logs/*.jsonl" 2>/dev/null | xargs -rn1 basename | sort | tr '\n' ' ')
  case "$files" in *gateway.jsonl*) case "$files" in *orders.jsonl*) case "$files" in *products.jsonl*) break ;; esac ;; esac ;; esac
  sleep 0.1
done
for s in gateway orders products; do
  case "$files" in *"$s.jsonl"*) ;; *) fail "request id $rid not in $s's collected log (found in: $files)" ;; esac
done
containers=$(docker exec "$logs_container" sh -c "grep -l '\"request_id\":\"$rid\"' /logs/containers/*.jsonl" | wc -l)
step "request id $rid found in: $files(and $containers replica files under containers/)"

# ---- Prometheus: every registered instance a target, up
prom="http://127.0.0.1:$SHOP_PROMETHEUS_PORT"
prometheus_ok() {
  local ids up
  ids=$(curl -fs "$base/admin/services" -H "Authorization: Bearer $admin" |
        python3 -c 'import json,sys; print("\n".join(sorted(i["id"] for s in json.load(sys.stdin)["services"] for i in s["instances"])))') || return 1
  up=$(curl -fs "$prom/api/v1/query" --data-urlencode 'query=up{job="shop"}' |
       python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print("\n".join(sorted(x["metric"]["instance"] for x in r if x["value"][1]=="1")))') || return 1
  prom_summary="$(echo "$ids" | wc -l) instances registered, $(echo "$up" | grep -c .) targets up"
  [ -n "$ids" ] && [ "$ids" = "$up" ]
}
prom_summary=""
wait_for 90 prometheus_ok || { curl -s "$prom/api/v1/targets" | head -c 3000; echo; fail "Prometheus: $prom_summary"; }
step "Prometheus: $prom_summary (every one)"

step "passed"
