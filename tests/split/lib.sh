# Helpers shared by the split layout's shell tests (sourced, not run):
#   free_port                      prints a free loopback TCP port
#   start_layout BIN_DIR WORK [ARGS...]
#                                  starts split/run-local.sh (ARGS passed on, e.g. --replicas products=2) on a free
#                                  port with its data in WORK/data and its output in WORK/layout.log; sets
#                                  layout_pid, layout_port and layout_nats_url ("" when run-local printed none).
#                                  Returns 1 if it did not become ready in 3 attempts.
#   stop_layout                    SIGTERM to run-local.sh (it stops everything it started) and waits for it
#   need_tool COMMAND PACKAGE      0 if COMMAND is there, after installing Debian's PACKAGE if it was not (as root
#                                  or with sudo); 1, with the reason on stderr, if it cannot be had
split_tests_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
layout_pid="" layout_port="" layout_nats_url=""

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_layout() {
  local bin_dir=$1 work=$2 attempt i ready
  shift 2
  # The gateway's port is picked free, then bound by the gateway: another test may take it in
  # between, so a layout that fails to start is tried again on a new port (at most 3 times).
  for attempt in 1 2 3; do
    layout_port=$(free_port)
    rm -rf "$work/data"
    "$split_tests_root/split/run-local.sh" --bin-dir "$bin_dir" --port "$layout_port" --data-dir "$work/data" "$@" \
      >"$work/layout.log" 2>&1 &
    layout_pid=$!
    ready=0
    for i in $(seq 1 300); do
      grep -q "run-local: ready" "$work/layout.log" && { ready=1; break; }
      kill -0 "$layout_pid" 2>/dev/null || break
      sleep 0.1
    done
    if [ $ready = 1 ]; then
      layout_nats_url=$(sed -n 's/^run-local: nats \(nats:\/\/[^ ]*\)$/\1/p' "$work/layout.log" | head -1)
      return 0
    fi
    echo "split layout did not start (attempt $attempt):"
    tail -20 "$work/layout.log"
    stop_layout
  done
  return 1
}

stop_layout() {
  if [ -n "$layout_pid" ]; then
    kill -TERM "$layout_pid" 2>/dev/null || true
    wait "$layout_pid" 2>/dev/null || true
    layout_pid=""
  fi
}

need_tool() {
  local command=$1 package=$2 sudo=() dir
  # Daemons (rsyslogd, nats-server) are in sbin, which a non-root user's PATH often lacks.
  for dir in /usr/sbin /sbin; do
    case ":$PATH:" in *":$dir:"*) ;; *) PATH=$PATH:$dir ;; esac
  done
  command -v "$command" >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null ||
      { echo "$command is missing and cannot be installed here (not root, no sudo): apt-get install $package" >&2; return 1; }
    sudo=(sudo -n)
  fi
  command -v apt-get >/dev/null || { echo "$command is missing and this machine has no apt-get to install $package" >&2; return 1; }
  echo "installing $package (for $command)" >&2
  # As .ci/install-deps.sh does: a server package (rsyslog, prometheus) must not start as a system service.
  local policy=/usr/sbin/policy-rc.d made_policy="" status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod +x "$policy" && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; } ||
    status=1
  [ -n "$made_policy" ] && "${sudo[@]}" rm -f "$policy"
  [ $status = 0 ] || { echo "$command is missing and apt-get could not install $package" >&2; return 1; }
  command -v "$command" >/dev/null || { echo "$package installed but $command is still not found" >&2; return 1; }
}
