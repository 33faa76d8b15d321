# Sourced by the PostgreSQL tests (tests/postgres/*.sh): the server fixture (tests/support/pg_server.sh), installed
# first when it is missing, and small helpers.
#   pg_test_start [--fail-if-not-started]
#                       installs PostgreSQL 15 if missing (as root or with sudo) and starts a server (pg_server_start:
#                       PG_SERVER_URL, PG_SERVER_PORT, ...). Exits 77 (CTest: skipped) with the reason when it
#                       cannot be installed or started; with --fail-if-not-started, a server that is installed but
#                       does not start fails the test instead (the fixture's own test).
#   pg_test_init_services
#                       runs split/postgres/init.sql with the test passwords below (roles and databases users,
#                       products, orders)
#   service_url ROLE [DATABASE]
#                       the URL of ROLE (its test password) in DATABASE (default: its own)
#   step TEXT           prints TEXT with the time since the test started
#   fail TEXT           prints FAILED: TEXT and exits 1
# The caller sets `trap pg_server_stop EXIT` (or a trap that calls it) before pg_test_start.
pg_tests_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$pg_tests_root/tests/split/lib.sh"  # need_tool
source "$pg_tests_root/tests/support/pg_server.sh"
PATH="$PG_SERVER_BIN:$PATH"  # psql and pg_isready of version 15 first
export PGCONNECT_TIMEOUT=10

# Obvious test values: the server lives for one test, on loopback, in a temporary directory.
declare -A pg_test_password=([users]=users-test-password [products]=products-test-password
                             [orders]=orders-test-password)

pg_test_start_ms=$(($(date +%s%N) / 1000000))
step() { echo "[$(basename "$0") +$(($(date +%s%N) / 1000000 - pg_test_start_ms)) ms] $*"; }
fail() {
  echo "FAILED: $*"
  exit 1
}

pg_test_start() {
  local status=0
  if ! pg_server_installed; then
    need_tool initdb postgresql-15 && pg_server_installed ||
      { echo "SKIPPED: PostgreSQL 15 is not installed and could not be installed (apt-get install postgresql-15)"; exit 77; }
  fi
  pg_server_start || status=$?
  [ $status = 0 ] && return 0
  if [ $status = 77 ] || [ "${1:-}" != --fail-if-not-started ]; then
    echo "SKIPPED: the PostgreSQL server could not be started (its output is above)"
    exit 77
  fi
  fail "the PostgreSQL server is installed but did not start (its output is above)"
}

pg_test_init_services() {
  psql "$PG_SERVER_URL" -X -q -v ON_ERROR_STOP=1 -v users_password="${pg_test_password[users]}" \
    -v products_password="${pg_test_password[products]}" -v orders_password="${pg_test_password[orders]}" \
    -f "$pg_tests_root/split/postgres/init.sql" >/dev/null || fail "split/postgres/init.sql failed"
}

service_url() {
  echo "postgresql://$1:${pg_test_password[$1]}@127.0.0.1:$PG_SERVER_PORT/${2:-$1}"
}

# pg_test_workdir: a fresh temporary directory in $work; on exit, whatever the status, the test's server is
# stopped and the directory removed, and the test exits with its own status.
pg_test_workdir() {
  work=$(mktemp -d)
  trap pg_test_cleanup EXIT
}
pg_test_cleanup() {
  local status=$?
  pg_server_stop
  rm -rf "$work"
  exit $status
}
