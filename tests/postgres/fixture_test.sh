#!/usr/bin/env bash
# The PostgreSQL test fixture itself (tests/support/pg_server.sh): what it starts and that it leaves nothing behind.
#   1. the server runs as an unprivileged user (nobody when this runs as root), on 127.0.0.1 only, on the port it
#      reports, with no Unix socket and durability off, its data in a fresh directory only that user can enter;
#   2. pg_server_stop leaves no process (postmaster, backends, the watchdog) and no directory;
#   3. the same when the test using it fails (set -e, its EXIT trap), is stopped by SIGTERM, or is killed with
#      SIGKILL (then the watchdog stops the server within a few seconds);
#   4. started and stopped as a command (pg_server.sh start / stop DIR, as tests/support/pg_server.cpp does);
#   5. two at once are independent.
# Exit 77 (skipped) only when PostgreSQL cannot be installed; a server that is installed but does not start fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
unset SHOP_KEEP_TEST_DIRS  # this test checks that the directory goes
work=$(mktemp -d)
cleanup() {
  local status=$?
  pg_server_stop
  # A server a failing check left running, by the directory it recorded.
  for dir in $(cat "$work"/*.dir 2>/dev/null); do "$pg_tests_root/tests/support/pg_server.sh" stop "$dir" || true; done
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
script=$pg_tests_root/tests/support/pg_server.sh

# The live processes of the server in DIR: the postmaster and everything it forked (they all work in DIR/data),
# and the watchdog's session.
server_processes() {
  local dir=$1 watchdog
  _pg_server_pids_in "$dir/data"
  watchdog=$(cat "$dir/watchdog.pid" 2>/dev/null) || return 0
  ps -o pid= -s "$watchdog" 2>/dev/null | tr -d ' ' || true
}
# left_behind DIR PIDS...: fails unless none of PIDS is alive (an exited process not yet reaped by init counts as
# gone), nothing works in DIR/data, and DIR is gone.
left_behind() {
  local dir=$1 pid
  shift
  for pid in "$@"; do
    _pg_server_alive "$pid" && fail "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)) outlived the server's stop"
  done
  [ -z "$(_pg_server_pids_in "$dir/data")" ] || fail "a process still works in $dir/data"
  [ ! -e "$dir" ] || fail "$dir was not removed"
}
# wait_for FILE: until FILE is non-empty (10 s at most).
wait_for() {
  local i
  for ((i = 0; i < 100; i++)); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  fail "$1 was not written within 10 s"
}

step "start: user, address, socket, durability, directory"
pg_test_start --fail-if-not-started
echo "$PG_SERVER_DIR" >"$work/main.dir"
expected_user=$(id -un)
[ "$(id -u)" -eq 0 ] && expected_user=nobody
[ "$PG_SERVER_USER" = "$expected_user" ] || fail "the server runs as $PG_SERVER_USER, expected $expected_user"
[ "$(ps -o user= -p "$PG_SERVER_PID")" = "$expected_user" ] || fail "postmaster $PG_SERVER_PID is not $expected_user's"
[ "$(stat -c '%U %a' "$PG_SERVER_DIR/data")" = "$expected_user 700" ] || fail "data directory: $(stat -c '%U %a' "$PG_SERVER_DIR/data")"
settings=$(psql "$PG_SERVER_URL" -X -At -F ' ' -c "SELECT current_setting('listen_addresses'),
  current_setting('port'), '[' || current_setting('unix_socket_directories') || ']', current_setting('fsync'),
  current_setting('synchronous_commit'), current_setting('full_page_writes'), inet_server_addr()")
[ "$settings" = "127.0.0.1 $PG_SERVER_PORT [] off off off 127.0.0.1" ] || fail "server settings: $settings"
[ -z "$(find "$PG_SERVER_DIR" /tmp /var/run/postgresql -maxdepth 1 -name ".s.PGSQL.$PG_SERVER_PORT" 2>/dev/null)" ] ||
  fail "the server made a Unix socket"
dir=$PG_SERVER_DIR
mapfile -t pids < <(server_processes "$dir")
[ ${#pids[@]} -ge 3 ] || fail "expected the postmaster, its background processes and the watchdog; found ${pids[*]}"

step "stop: ${#pids[@]} processes and the directory gone"
pg_server_stop || fail "pg_server_stop reported a failure"
left_behind "$dir" "${pids[@]}"
[ -z "$PG_SERVER_DIR$PG_SERVER_PID$PG_SERVER_URL" ] || fail "pg_server_stop left the variables set"
pg_server_stop || fail "a second pg_server_stop failed"

# run_owner NAME ENDING: a test script that starts a server, records it, then ends by ENDING.
run_owner() {
  cat >"$work/$1.sh" <<EOF
set -euo pipefail
source "$script"
trap pg_server_stop EXIT
pg_server_start
echo "\$PG_SERVER_DIR" >"$work/$1.dir"
for ((i = 0; i < 200; i++)); do [ -e "$work/$1.go" ] && break; sleep 0.05; done  # until its processes are listed
$2
EOF
  bash "$work/$1.sh" >"$work/$1.log" 2>&1 &
  owner=$!
  wait_for "$work/$1.dir"
  owner_dir=$(cat "$work/$1.dir")
  wait_for "$owner_dir/server.pid"
  for ((i = 0; i < 100; i++)); do  # the postmaster and its background processes, started
    mapfile -t owner_pids < <(server_processes "$owner_dir")
    [ ${#owner_pids[@]} -ge 3 ] && break
    sleep 0.1
  done
  touch "$work/$1.go"
}

step "a failing test (set -e): its EXIT trap stops the server"
run_owner failing 'false'
wait $owner && fail "the failing script succeeded"
left_behind "$owner_dir" "${owner_pids[@]}"

step "a test stopped by SIGTERM: its EXIT trap stops the server"
run_owner terminated 'sleep 60'
kill -TERM $owner
wait $owner && fail "the terminated script exited 0"
left_behind "$owner_dir" "${owner_pids[@]}"

step "a test killed with SIGKILL: the watchdog stops the server"
run_owner killed 'sleep 60'
kill -KILL $owner
wait $owner 2>/dev/null || true
for ((i = 0; i < 100; i++)); do  # the watchdog looks every 0.5 s; the stop takes about 1 s
  [ -e "$owner_dir" ] || break
  sleep 0.1
done
left_behind "$owner_dir" "${owner_pids[@]}"
step "  gone $((i * 100)) ms after the kill"

step "as a command: pg_server.sh start, then stop DIR"
bash "$script" start --owner $$ >"$work/command.out" || fail "pg_server.sh start failed"
command_dir=$(sed -n 's/^PG_SERVER_DIR=//p' "$work/command.out")
echo "$command_dir" >"$work/command.dir"
command_url=$(sed -n 's/^PG_SERVER_URL=//p' "$work/command.out")
[ "$(psql "$command_url" -X -At -c 'SELECT 1')" = 1 ] || fail "the URL pg_server.sh start printed does not connect"
mapfile -t pids < <(server_processes "$command_dir")

step "two at once are independent"
pg_server_start || fail "a second server did not start"
echo "$PG_SERVER_DIR" >"$work/second.dir"
[ "$PG_SERVER_PORT" != "$(sed -n 's/^PG_SERVER_PORT=//p' "$work/command.out")" ] || fail "two servers share a port"
psql "$PG_SERVER_URL" -X -q -c 'CREATE DATABASE only_in_second'
[ "$(psql "$command_url" -X -At -c "SELECT count(*) FROM pg_database WHERE datname = 'only_in_second'")" = 0 ] ||
  fail "the servers share data"
bash "$script" stop "$command_dir" || fail "pg_server.sh stop failed"
left_behind "$command_dir" "${pids[@]}"
[ "$(psql "$PG_SERVER_URL" -X -At -c 'SELECT 1')" = 1 ] || fail "stopping one server stopped the other"
dir=$PG_SERVER_DIR
mapfile -t pids < <(server_processes "$dir")
pg_server_stop || fail "pg_server_stop reported a failure"
left_behind "$dir" "${pids[@]}"

step "passed"
