#!/usr/bin/env bash
# Runs the end-to-end API suite, unchanged, against the split layout: starts it with
# split/run-local.sh on a free port and points the suite at the gateway, and at the layout's NATS
# server for the events tests (the `run-local: nats URL` line).
#   run_e2e_through_gateway.sh BIN_DIR E2E_TEST_BINARY
# With SHOP_USERS_DATABASE_URL, SHOP_PRODUCTS_DATABASE_URL and SHOP_ORDERS_DATABASE_URL set (as
# tests/postgres/with_postgres.sh sets them: e2e_api_split_on_postgres), each service runs on that
# PostgreSQL database (run-local.sh --<service>-database-url); otherwise on SQLite, as by default.
set -euo pipefail
bin_dir=$1 e2e=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
work=$(mktemp -d)
export SHOP_ADMIN_EMAIL=e2e-admin@example.com SHOP_ADMIN_PASSWORD=e2e-admin-password
cleanup() {
  stop_layout
  rm -rf "$work"
}
trap cleanup EXIT
databases=()
for service in users products orders; do
  var=SHOP_${service^^}_DATABASE_URL
  if [ -n "${!var:-}" ]; then databases+=("--$service-database-url" "${!var}"); fi
done
start_layout "$bin_dir" "$work" "${databases[@]}" || exit 1
port=$layout_port nats_url=$layout_nats_url
[ -n "$nats_url" ] || echo "run-local printed no NATS URL: the events tests will be skipped"
status=0
SHOP_E2E_BASE_URL="http://127.0.0.1:$port" SHOP_E2E_ADMIN_EMAIL=$SHOP_ADMIN_EMAIL \
  SHOP_E2E_ADMIN_PASSWORD=$SHOP_ADMIN_PASSWORD SHOP_E2E_NATS_URL=$nats_url "$e2e" --order-by=file || status=$?
if [ $status -ne 0 ]; then
  echo "---- split layout log (last 60 lines) ----"
  tail -60 "$work/layout.log"
fi
exit $status
