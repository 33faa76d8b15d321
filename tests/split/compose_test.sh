#!/usr/bin/env bash
# The split layout under docker compose, end to end:
#   install docker.io and docker-compose if missing, start dockerd if no engine answers, make the
#   base image if needed, build, up, wait for the gateway, run the e2e API suite through it,
#   stop `users` and check products and orders still serve, check data survives down + up,
#   then down -v. Service identities come from split/make-secrets.sh --containers.
#   compose_test.sh E2E_TEST_BINARY
set -euo pipefail
e2e=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
compose_file="$root/split/docker-compose.yml"
project="shoptest$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SHOP_PORT=$port SHOP_ADMIN_EMAIL=compose-admin@example.com SHOP_ADMIN_PASSWORD=compose-admin-password
start=$(date +%s)
step() { echo "[compose-test +$(( $(date +%s) - start ))s] $*"; }

if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then
  step "installing docker.io docker-compose debootstrap"
  sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  step "starting dockerd"
  (dockerd >/tmp/shop-dockerd.log 2>&1 &)
  for i in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 /tmp/shop-dockerd.log; exit 1; }
fi
"$root/split/make-base-image.sh"
# Service identities: the client secrets compose hands to users and orders (made once, kept after).
"$root/split/make-secrets.sh" --containers

if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
dc() { "${compose[@]}" -p "$project" -f "$compose_file" "$@"; }
cleanup() {
  local status=$?
  if [ $status -ne 0 ]; then
    echo "---- compose logs (last 80 lines) ----"
    dc logs --no-color 2>/dev/null | tail -80 || true
  fi
  dc --profile monolith down -v --remove-orphans >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT

step "build (${compose[*]})"
dc build --quiet users nats >/dev/null 2>&1 || dc build users nats
step "up"
dc up -d
base="http://127.0.0.1:$port"
wait_ready() {
  for i in $(seq 1 600); do
    curl -fs "$base/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "gateway not ready"; return 1
}
wait_ready
step "gateway ready; e2e API suite through it"
SHOP_E2E_BASE_URL=$base SHOP_E2E_ADMIN_EMAIL=$SHOP_ADMIN_EMAIL SHOP_E2E_ADMIN_PASSWORD=$SHOP_ADMIN_PASSWORD \
  "$e2e" --order-by=file

step "internal routes refuse a caller without a service identity"
# From inside the products container (its port is not published): no token, 401, nothing reserved.
internal=$(dc exec -T products bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080
  printf "POST /internal/reservations HTTP/1.1\r\nHost: products\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}" >&3
  IFS= read -r status <&3; echo "$status"')
case "$internal" in "HTTP/1.1 401 "*) ;; *) echo "POST /internal/reservations without identity answered: $internal"; exit 1 ;; esac

step "fault isolation: users stopped"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
curl -fs -X POST "$base/users" -H 'Content-Type: application/json' \
  -d '{"email":"compose-buyer@example.com","password":"buyer-password","name":"Buyer"}' >/dev/null
token=$(curl -fs -X POST "$base/auth/token" -H 'Content-Type: application/json' \
  -d '{"email":"compose-buyer@example.com","password":"buyer-password"}' | json '["access_token"]')
admin=$(curl -fs -X POST "$base/auth/token" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$SHOP_ADMIN_EMAIL\",\"password\":\"$SHOP_ADMIN_PASSWORD\"}" | json '["access_token"]')
product=$(curl -fs -X POST "$base/products" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"sku":"compose-1","name":"Compose","price_cents":500,"stock":50}' | json '["id"]')
dc stop users >/dev/null 2>&1
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$base/products/$product")" = 200 ] || { echo "GET /products failed with users down"; exit 1; }
[ "$(code -X POST "$base/orders" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
     -d "{\"items\":[{\"product_id\":$product,\"quantity\":2}]}")" = 201 ] || { echo "POST /orders failed with users down"; exit 1; }
[ "$(code "$base/orders" -H "Authorization: Bearer $token")" = 200 ] || { echo "GET /orders failed with users down"; exit 1; }
[ "$(code "$base/users/me" -H "Authorization: Bearer $token")" = 503 ] || { echo "GET /users/me should be 503 with users down"; exit 1; }
dc start users >/dev/null 2>&1

step "data survives down and up"
dc down >/dev/null 2>&1
dc up -d >/dev/null 2>&1
wait_ready
stock=$(curl -fs "$base/products/$product" | json '["stock"]')
[ "$stock" = 48 ] || { echo "product stock after down/up is $stock, want 48"; exit 1; }
orders=$(curl -fs "$base/orders" -H "Authorization: Bearer $token" | json '["items"].__len__()')
[ "$orders" = 1 ] || { echo "orders after down/up: $orders, want 1"; exit 1; }

step "monolith profile serves the same API"
mono_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SHOP_MONOLITH_PORT=$mono_port dc --profile monolith up -d monolith >/dev/null 2>&1
for i in $(seq 1 300); do curl -fs "http://127.0.0.1:$mono_port/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
[ "$(code "http://127.0.0.1:$mono_port/products")" = 200 ] || { echo "monolith container not serving"; exit 1; }

step "down -v"
dc --profile monolith down -v --remove-orphans >/dev/null 2>&1
trap - EXIT
step "passed"
