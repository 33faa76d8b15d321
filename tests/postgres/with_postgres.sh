#!/usr/bin/env bash
# Runs COMMAND against a PostgreSQL 15 server of its own: started for this run in a temporary directory, as an
# unprivileged user, on a free loopback port (tests/support/pg_server.sh), with the roles and databases of
# split/postgres/init.sql, one per service. COMMAND gets their URLs as SHOP_USERS_DATABASE_URL,
# SHOP_PRODUCTS_DATABASE_URL and SHOP_ORDERS_DATABASE_URL (what `shop` reads; tests/split/run_e2e_through_gateway.sh
# hands them to each split service), each with its own role, so the database-per-service rule holds as deployed.
# The server is stopped and its directory removed when COMMAND ends, whatever its status, which is this script's.
# Exit 77 (CTest: skipped) only when PostgreSQL 15 cannot be installed or started.
#   with_postgres.sh COMMAND [ARGS...]
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ $# -ge 1 ] || { echo "usage: with_postgres.sh COMMAND [ARGS...]" >&2; exit 2; }
pg_test_workdir
pg_test_start
pg_test_init_services
export SHOP_USERS_DATABASE_URL=$(service_url users) SHOP_PRODUCTS_DATABASE_URL=$(service_url products) \
  SHOP_ORDERS_DATABASE_URL=$(service_url orders)
step "PostgreSQL on 127.0.0.1:$PG_SERVER_PORT (databases users, products, orders); running $(basename "$1")"
status=0
"$@" || status=$?
[ $status = 77 ] && status=1  # a skip is this script's to say, not COMMAND's
step "$(basename "$1") exited with $status"
exit $status
