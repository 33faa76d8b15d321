#!/usr/bin/env bash
# Runs the end-to-end API suite, unchanged, against the split layout: starts it with
# split/run-local.sh on a free port and points the suite at the gateway, and at the layout's NATS
# server for the events tests (the `run-local: nats URL` line).
#   run_e2e_through_gateway.sh BIN_DIR E2E_TEST_BINARY
set -euo pipefail
bin_dir=$1 e2e=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
export SHOP_ADMIN_EMAIL=e2e-admin@example.com SHOP_ADMIN_PASSWORD=e2e-admin-password
layout=""
cleanup() {
  if [ -n "$layout" ]; then
    kill -TERM "$layout" 2>/dev/null || true
    wait "$layout" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# The gateway's port is picked free, then bound by the gateway: another test may take it in
# between, so a layout that fails to start is tried again on a new port (at most 3 times).
for attempt in 1 2 3; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/data"
  "$here/../../split/run-local.sh" --bin-dir "$bin_dir" --port "$port" --data-dir "$work/data" >"$work/layout.log" 2>&1 &
  layout=$!
  ready=0
  for i in $(seq 1 300); do
    grep -q "run-local: ready" "$work/layout.log" && { ready=1; break; }
    kill -0 "$layout" 2>/dev/null || break
    sleep 0.1
  done
  [ $ready = 1 ] && break
  echo "split layout did not start (attempt $attempt):"
  tail -20 "$work/layout.log"
  kill -TERM "$layout" 2>/dev/null || true
  wait "$layout" 2>/dev/null || true
  layout=""
done
[ -n "$layout" ] || exit 1
nats_url=$(sed -n 's/^run-local: nats \(nats:\/\/[^ ]*\)$/\1/p' "$work/layout.log" | head -1)
[ -n "$nats_url" ] || echo "run-local printed no NATS URL: the events tests will be skipped"
status=0
SHOP_E2E_BASE_URL="http://127.0.0.1:$port" SHOP_E2E_ADMIN_EMAIL=$SHOP_ADMIN_EMAIL \
  SHOP_E2E_ADMIN_PASSWORD=$SHOP_ADMIN_PASSWORD SHOP_E2E_NATS_URL=$nats_url "$e2e" --order-by=file || status=$?
if [ $status -ne 0 ]; then
  echo "---- split layout log (last 60 lines) ----"
  tail -60 "$work/layout.log"
fi
exit $status
