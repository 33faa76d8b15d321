#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for one test (Debian's postgresql-15, binaries in /usr/lib/postgresql/15/bin):
# initdb in a fresh temporary directory, the server listening on 127.0.0.1 only, on a free port, with no Unix
# socket; stopped by its PID and the directory removed afterwards.
#
# PostgreSQL refuses to run as root. As root the server runs as `nobody` (PG_SERVER_RUN_AS overrides): every
# Debian machine has that user, so a test changes nothing on the machine (no account created and left behind),
# and it is what the other non-root test servers here use (tests/split/observability). As any other user it
# runs as that user. The server holds test data only; the superuser `postgres` gets a random password.
# Durability is off (fsync, synchronous_commit, full_page_writes): a crash loses the data, which a test
# discards anyway, and initdb and every commit skip their fsyncs.
#
# Sourced by a test:
#   source tests/support/pg_server.sh
#   trap pg_server_stop EXIT        # stops it also when the test fails or is interrupted
#   pg_server_start || exit $?      # 77 (CTest's skip) when the server is not installed; sets the variables below
#   psql "$PG_SERVER_URL" -c 'SELECT 1'
#   pg_server_stop                  # stops it (SIGINT, then SIGQUIT, then SIGKILL, by PID) and removes the directory
# Call pg_server_start directly, not in $(...): it sets variables in the calling shell.
#
# Run (tests/support/pg_server.{h,cpp} does this):
#   pg_server.sh start [--owner PID]    prints PG_SERVER_DIR=, PG_SERVER_PID=, PG_SERVER_PORT=, PG_SERVER_USER=,
#                                       PG_SERVER_URL= lines; the server keeps running after the script exits
#   pg_server.sh stop DIR               stops the server started in DIR and removes DIR
#
# Variables set by pg_server_start:
#   PG_SERVER_URL   postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres (the superuser)
#   PG_SERVER_PORT, PG_SERVER_PASSWORD, PG_SERVER_PID (the postmaster), PG_SERVER_DIR (the data in its data/, the log in
#   its server.log), PG_SERVER_USER (the OS user it runs as), PG_SERVER_BIN (where initdb, postgres, psql are)
# A watchdog (its own session, so it outlives a killed process group) stops the server when the owner exits
# without stopping it (kill -9, a CTest timeout): the owner is the sourcing shell, or --owner PID.
# SHOP_KEEP_TEST_DIRS=1 keeps the directory (data and server.log) after the server is stopped.
# PG_SERVER_OPTIONS: more server settings, words of `-c name=value` (split on spaces), e.g.
#   PG_SERVER_OPTIONS='-c shared_preload_libraries=pg_stat_statements -c max_connections=200' (bench/lib/bench.py)

PG_SERVER_BIN=${PG_SERVER_BIN:-/usr/lib/postgresql/15/bin}
PG_SERVER_URL="" PG_SERVER_PORT="" PG_SERVER_PASSWORD="" PG_SERVER_PID="" PG_SERVER_DIR="" PG_SERVER_USER=""
_pg_server_script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

# 0 when PID is a live process (a zombie, exited but not yet reaped, counts as gone).
_pg_server_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Waits up to $2 tenths of a second for PID $1 to be gone.
_pg_server_wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    _pg_server_alive "$1" || return 0
    sleep 0.1
  done
  ! _pg_server_alive "$1"
}

# The PIDs of processes whose working directory is DIR: the postmaster and every backend it forked chdir to the
# data directory, so this finds all of them, also orphans of a postmaster that was killed.
_pg_server_pids_in() {
  # find exits 1 when a process vanishes while it looks: not an error here (also under the caller's set -e).
  find /proc -mindepth 2 -maxdepth 2 -path '/proc/[0-9]*/cwd' -lname "$1" 2>/dev/null | cut -d/ -f3 || true
}

pg_server_installed() {
  [ -x "$PG_SERVER_BIN/initdb" ] && [ -x "$PG_SERVER_BIN/postgres" ] && [ -x "$PG_SERVER_BIN/pg_isready" ] &&
    [ -x "$PG_SERVER_BIN/psql" ]
}

# pg_server_start [--owner PID]: 0 when the server accepts the superuser's connections; 77 when PostgreSQL is not
# installed; 1, with the reason and the server's log on stderr, when it could not be started.
pg_server_start() {
  local -  # the caller's `set -e` would stop this half way: every failure here is handled
  set +e
  local owner=$BASHPID
  [ "${1:-}" = --owner ] && { owner=$2; shift 2; }
  if [ -n "$PG_SERVER_DIR" ]; then
    echo "pg_server_start: a server is already running in $PG_SERVER_DIR" >&2
    return 1
  fi
  if ! pg_server_installed; then
    echo "pg_server_start: PostgreSQL 15 is not installed (no initdb/postgres/pg_isready/psql in $PG_SERVER_BIN;" \
      "apt-get install postgresql-15)" >&2
    return 77
  fi
  local run_as=() user group
  user=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    user=${PG_SERVER_RUN_AS:-nobody}
    group=$(id -gn "$user") || return 1
    run_as=(setpriv --reuid="$user" --regid="$group" --clear-groups --)
  fi

  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/shop-pg-XXXXXX") || return 1
  PG_SERVER_DIR=$dir
  # The server's user enters this directory but owns only DATA (initdb insists on owning it, mode 0700).
  chmod 711 "$dir"
  mkdir -m 700 "$dir/data"
  PG_SERVER_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$PG_SERVER_PASSWORD" >"$dir/password"
  if [ ${#run_as[@]} -gt 0 ]; then
    chown "$user:$group" "$dir/data" "$dir/password"
  fi
  if ! "${run_as[@]}" test -w "$dir/data"; then
    echo "pg_server_start: $user cannot write $dir/data (is ${TMPDIR:-/tmp} closed to other users?)" >&2
    pg_server_stop "$dir"
    return 1
  fi
  PG_SERVER_USER=$user

  # English messages whatever the caller's locale; the cluster's default locale C (byte order, ASCII case rules).
  local env=(env -u LANGUAGE LC_ALL=C LANG=C HOME="$dir")
  if ! "${run_as[@]}" "${env[@]}" "$PG_SERVER_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/password" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
    echo "pg_server_start: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    pg_server_stop "$dir"
    return 1
  fi
  rm -f "$dir/password"
  # Only TCP from loopback, every user by password (the default file also has lines for a Unix socket).
  printf 'host all all 127.0.0.1/32 scram-sha-256\n' | "${run_as[@]}" tee "$dir/data/pg_hba.conf" >/dev/null

  # The watchdog first, so that even a start interrupted half way is cleaned up.
  setsid bash -c 'echo $$ >"$1/watchdog.pid"; tail --pid="$2" -s 0.5 -f /dev/null; exec bash "$3" stop "$1"' \
    pg-server-watchdog "$dir" "$owner" "$_pg_server_script" </dev/null >/dev/null 2>&1 &

  local attempt pid port i ready
  for attempt in 1 2 3; do
    # Picked free, then bound by the server: another process may take it in between, hence the attempts.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') ||
      { pg_server_stop "$dir"; return 1; }
    "${run_as[@]}" "${env[@]}" "$PG_SERVER_BIN/postgres" -D "$dir/data" -c listen_addresses=127.0.0.1 -c port="$port" \
      -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
      ${PG_SERVER_OPTIONS:-} </dev/null >>"$dir/server.log" 2>&1 &
    pid=$!  # setpriv and env exec: this is the postmaster
    echo "$pid" >"$dir/server.pid"
    PG_SERVER_PID=$pid
    ready=0
    for ((i = 0; i < 300; i++)); do  # 30 s at most; typically ready within 0.1-0.3 s
      if "$PG_SERVER_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
        ready=1
        break
      fi
      _pg_server_alive "$pid" || break
      sleep 0.1
    done
    if [ $ready = 1 ]; then
      PG_SERVER_PORT=$port
      PG_SERVER_URL="postgresql://postgres:$PG_SERVER_PASSWORD@127.0.0.1:$port/postgres"
      # pg_isready says it accepts connections; a real one proves the password and the authentication rules.
      if PGCONNECT_TIMEOUT=5 "$PG_SERVER_BIN/psql" "$PG_SERVER_URL" -XAtqc 'SELECT 1' >/dev/null; then
        return 0
      fi
      echo "pg_server_start: the server on port $port is up but refuses the superuser:" >&2
      break
    fi
    if _pg_server_alive "$pid" || ! grep -q 'Address already in use' "$dir/server.log"; then
      echo "pg_server_start: the server did not become ready (attempt $attempt, port $port):" >&2
      break
    fi
    wait "$pid" 2>/dev/null
  done
  tail -n 30 "$dir/server.log" >&2
  pg_server_stop "$dir"
  return 1
}

# pg_server_stop [DIR]: stops the server started in DIR (default: the one this shell started) and removes DIR.
# 0 when nothing of it is left running; safe to call twice, or when nothing was started.
pg_server_stop() {
  local -
  set +e
  local dir=${1:-$PG_SERVER_DIR} pid watchdog status=0 leftover
  [ -n "$dir" ] && [ -d "$dir" ] || { PG_SERVER_DIR=""; return 0; }
  # The watchdog is a session of its own: its group id is its PID (it runs a `tail`, stopped with it).
  # Not when this is the watchdog itself, stopping the server of an owner that died.
  watchdog=$(cat "$dir/watchdog.pid" 2>/dev/null)
  if [ -n "$watchdog" ] && [ "$watchdog" != "$BASHPID" ] && _pg_server_alive "$watchdog"; then
    kill -TERM -- "-$watchdog" 2>/dev/null
  fi
  pid=$(cat "$dir/server.pid" 2>/dev/null)
  # Only the postmaster of this directory (its working directory is DATA), never a process that got its PID since.
  if [ -n "$pid" ] && _pg_server_alive "$pid" && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir/data" ]; then
    kill -INT "$pid" 2>/dev/null  # fast shutdown: ends the sessions, checkpoints, exits
    if ! _pg_server_wait_gone "$pid" 150; then
      echo "pg_server_stop: postmaster $pid still running 15 s after SIGINT; SIGQUIT" >&2
      kill -QUIT "$pid" 2>/dev/null
      _pg_server_wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null
    fi
  fi
  for leftover in $(_pg_server_pids_in "$dir/data"); do
    echo "pg_server_stop: process $leftover still in $dir/data; SIGKILL" >&2
    kill -KILL "$leftover" 2>/dev/null
    _pg_server_wait_gone "$leftover" 50 || status=1
  done
  # Reaps the postmaster when this shell started it; never waits for one still running (that would block for good).
  [ -n "$pid" ] && ! _pg_server_alive "$pid" && wait "$pid" 2>/dev/null
  if [ "${SHOP_KEEP_TEST_DIRS:-}" = 1 ]; then
    echo "pg_server_stop: kept $dir (SHOP_KEEP_TEST_DIRS=1)" >&2
  else
    rm -rf "$dir" || status=1
  fi
  if [ "$dir" = "$PG_SERVER_DIR" ]; then
    PG_SERVER_URL="" PG_SERVER_PORT="" PG_SERVER_PASSWORD="" PG_SERVER_PID="" PG_SERVER_DIR="" PG_SERVER_USER=""
  fi
  return $status
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    start)
      shift
      owner=$PPID
      [ "${1:-}" = --owner ] && owner=$2
      pg_server_start --owner "$owner" || exit $?
      for name in PG_SERVER_DIR PG_SERVER_PID PG_SERVER_PORT PG_SERVER_USER PG_SERVER_URL; do
        echo "$name=${!name}"
      done
      ;;
    stop)
      [ -n "${2:-}" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
      pg_server_stop "$2"
      ;;
    *)
      echo "usage: $0 start [--owner PID] | stop DIR" >&2
      exit 2
      ;;
  esac
fi
