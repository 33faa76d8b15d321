#!/usr/bin/env bash
# The log collector (split/observability/rsyslog.conf, Debian's rsyslog) as Docker's `syslog` log driver feeds
# it: rsyslogd started as a non-root user (nobody when this runs as root) on a free loopback UDP port with its
# files in a temporary directory; then datagrams built byte for byte as the driver builds them (moby's
# daemon/logger/syslog with RackSec/srslog: `syslog-format` rfc5424micro, rfc5424, rfc3164 and the default;
# `tag: "{{.Name}}"` with swarm and compose container names; a trailing newline; stdout as severity info,
# stderr as err) carrying service log lines in the services' JSON shape. Checks: each line lands as it was sent
# (the message part only) in <service>.jsonl, all.jsonl and containers/<container>.jsonl, in order; every
# line of every file is JSON; a line that is not JSON is kept, wrapped in a JSON object; a tag cannot write
# outside the directory; README.md's command follows one request id across every replica.
#   log_collector_test.sh
# Exit 77 (skipped) only when rsyslog is missing and cannot be installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
observability="$split_tests_root/split/observability"
need_tool rsyslogd rsyslog || { echo "SKIPPED: rsyslog is not installed and could not be installed"; exit 77; }

work=$(mktemp -d)
collector_pid=""
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  # Not as root: the collector needs no privilege on a port above 1023.
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  chown nobody:nogroup "$work"
fi
start_ms=$(( $(date +%s%N) / 1000000 ))
step() { echo "[log-collector-test +$(( $(date +%s%N) / 1000000 - start_ms )) ms] $*"; }
stop_collector() {
  [ -n "$collector_pid" ] || return 0
  kill -TERM "$collector_pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$collector_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$collector_pid" 2>/dev/null || true
  wait "$collector_pid" 2>/dev/null || true
  collector_pid=""
}
cleanup() {
  local status=$?
  if [ $status -ne 0 ] && [ $status -ne 77 ]; then
    echo "---- rsyslogd output ----"; cat "$work/rsyslogd.log" 2>/dev/null || true
    echo "---- files ----"; (cd "$work" && find logs -type f -print -exec cat {} \; 2>/dev/null) || true
  fi
  stop_collector
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

# The configuration as committed; copied so that a user without access to the checkout can read it.
cp "$observability/rsyslog.conf" "$work/rsyslog.conf"
chmod 644 "$work/rsyslog.conf"
logs="$work/logs"

# send_docker FORMAT PORT SEVERITY TAG LINE: one datagram as the syslog driver sends LINE (srslog's formatters).
send_docker() {
  python3 - "$@" <<'PY'
import datetime, socket, sys
fmt, port, severity, tag, line = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
# The driver's facility is daemon (3) unless syslog-facility says otherwise; stdout is sent with Info, stderr with Err.
pri = 3 * 8 + {"info": 6, "err": 3}[severity]
hostname, pid = "swarm-node-1", 1234  # os.Hostname() and the pid of dockerd
now = datetime.datetime.now().astimezone()
def go_rfc3339(fraction):
    ts = now.strftime("%Y-%m-%dT%H:%M:%S") + (now.strftime(".%f") if fraction else "")
    offset = now.strftime("%z")
    return ts + ("Z" if offset == "+0000" else offset[:3] + ":" + offset[3:])
stamp = now.strftime("%b ") + f"{now.day:2d}" + now.strftime(" %H:%M:%S")  # Go's time.Stamp, "Jan _2 15:04:05"
line += "\n"  # srslog's Writer.write ends every message with a newline
if fmt == "rfc5424micro":   # moby: rfc5424microformatterWithAppNameAsTag
    message = f"<{pri}>1 {go_rfc3339(True)} {hostname} {tag} {pid} {tag} - {line}"
elif fmt == "rfc5424":      # moby: rfc5424formatterWithAppNameAsTag
    message = f"<{pri}>1 {go_rfc3339(False)} {hostname} {tag} {pid} {tag} - {line}"
elif fmt == "rfc3164":      # srslog.RFC3164Formatter
    message = f"<{pri}>{stamp} {hostname} {tag}[{pid}]: {line}"
elif fmt == "default":      # srslog.UnixFormatter, when syslog-format is not set
    message = f"<{pri}>{stamp} {tag}[{pid}]: {line}"
else:
    sys.exit(f"unknown format {fmt}")
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(message.encode(), ("127.0.0.1", port))
PY
}

# Started on a free UDP port; ready once a probe datagram comes out in a file. Another process may take the port
# between the pick and rsyslogd's bind: then the probe never arrives and a new port is tried (at most 3 times).
for attempt in 1 2 3; do
  port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$work" && SHOP_LOG_ADDRESS=127.0.0.1 SHOP_LOG_PORT=$port SHOP_LOG_DIR=$logs \
     exec "${as_user[@]}" rsyslogd -n -iNONE -f "$work/rsyslog.conf") >"$work/rsyslogd.log" 2>&1 &
  collector_pid=$!
  ready=0
  for i in $(seq 1 50); do
    send_docker rfc5424micro "$port" info probe '{"probe":true}'
    [ -s "$logs/probe.jsonl" ] && { ready=1; break; }
    kill -0 "$collector_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ $ready = 1 ] && break
  echo "rsyslogd did not take lines on port $port (attempt $attempt):"; cat "$work/rsyslogd.log"
  stop_collector
done
[ -n "$collector_pid" ] || exit 1
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$collector_pid/status")
[ "$uid" != 0 ] || { echo "rsyslogd runs as root"; exit 1; }
step "rsyslogd (pid $collector_pid, uid $uid) takes datagrams on 127.0.0.1:$port/udp"

# One request through the gateway (compose v2 name), orders (compose v1 name), two products replicas (swarm task
# names), each replica's driver in another syslog-format; plus other services' lines, a line on stderr that is not
# JSON, and a tag that tries to leave the directory. Lines in the services' shape (modules/platform's JSON log).
rid="trace-me-$$"
line() {  # line SERVICE MSG [EXTRA]
  printf '{"time":"%s","level":"info","service":"%s","msg":"%s"%s}' "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$1" "$2" "${3:-}"
}
req() {  # req SERVICE ROUTE STATUS: a request line for the request id above
  line "$1" request ",\"request_id\":\"$rid\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"method\":\"POST\",\"route\":\"$2\",\"status\":$3,\"duration_ms\":1.25"
}
sent="$work/sent.tsv"  # SERVICE CONTAINER KIND LINE, in the order sent
: >"$sent"
send() {  # send FORMAT SEVERITY SERVICE CONTAINER LINE [json|text]
  send_docker "$1" "$port" "$2" "$4" "$5"
  printf '%s\t%s\t%s\t%s\n' "$3" "$4" "${6:-json}" "$5" >>"$sent"
}
products1=shop_products.1.k2x9w0q8vd4mz3n5r6t7y8u9i
products2=shop_products.2.p0o9i8u7y6t5r4e3w2q1a2s3d
send rfc5424micro info users shop_users.1.a1s2d3f4g5h6j7k8l9z0x1c2v "$(line users listening ',"host":"0.0.0.0","port":8080')"
send rfc5424micro info gateway split-gateway-1 "$(req gateway proxy 201)"
send rfc5424 info orders split_orders_1 "$(req orders /orders 201)"
send rfc5424micro info products "$products1" "$(req products /internal/reservations 200)"
send rfc3164 info products "$products2" "$(req products /internal/reservations 200)"
send default info products "$products2" "$(line products 'event published' ',"type":"shop.orders.order_placed.v1"')"
send rfc5424micro err orders split_orders_1 'terminate called after throwing an instance of "std::bad_alloc"	(core dumped)' text
send rfc5424micro info products "$products1" "$(line products request ',"request_id":"other-request","status":200')"
send_docker rfc5424micro "$port" info '../../escaped' '{"escaped":true}'
want=$(wc -l <"$sent")

# Lines come out in the order they were sent (one UDP socket, one rsyslog queue); wait for the last one.
all_count() { grep -vc '"probe":true' "$logs/all.jsonl" 2>/dev/null || true; }
for i in $(seq 1 100); do
  [ "$(all_count)" -ge $((want + 1)) ] && break
  sleep 0.1
done
step "$(all_count) lines in all.jsonl (sent $want, plus one with a bad tag)"

python3 - "$sent" "$logs" "$uid" <<'PY'
import collections, json, os, sys
sent_path, logs, uid = sys.argv[1], sys.argv[2], int(sys.argv[3])
problems = []
sent = [l.rstrip("\n").split("\t", 3) for l in open(sent_path)]

def read(name):
    path = os.path.join(logs, name)
    if not os.path.exists(path):
        problems.append(f"{name}: missing")
        return []
    if os.stat(path).st_uid != uid:
        problems.append(f"{name}: owned by uid {os.stat(path).st_uid}, not the collector's {uid}")
    lines = open(path, encoding="utf-8").read().split("\n")
    if lines[-1] != "":
        problems.append(f"{name}: last line not ended by a newline")
    lines = lines[:-1]
    for n, l in enumerate(lines, 1):
        try:
            json.loads(l)
        except ValueError as e:
            problems.append(f"{name}:{n}: not JSON ({e}): {l!r}")
    return [l for l in lines if '"probe":true' not in l]

def expected(entry):
    service, container, kind, line = entry
    if kind == "json":
        return lambda got: got == line
    def wrapped(got):
        try:
            o = json.loads(got)
        except ValueError:
            return False
        # rsyslog escapes control characters on receive (a tab as #011), as for any syslog input.
        return (o.get("msg") == line.replace("\t", "#011") and o.get("service") == service
                and o.get("container") == container and o.get("level") == "err" and o.get("collector") == "not-json")
    return wrapped

def check(name, entries):
    got = [l for l in read(name) if '"escaped":true' not in l]
    if len(got) != len(entries):
        problems.append(f"{name}: {len(got)} lines, want {len(entries)}")
    for n, (entry, g) in enumerate(zip(entries, got), 1):
        if not expected(entry)(g):
            problems.append(f"{name}:{n}: got {g!r}, want {entry[3]!r} ({entry[2]})")

all_lines = read("all.jsonl")
bad_tag = [l for l in all_lines if '"escaped":true' in l]
if len(bad_tag) != 1:
    problems.append(f"the line with tag ../../escaped: {len(bad_tag)} times in all.jsonl, want once")
check("all.jsonl", sent)
by_service, by_container = collections.defaultdict(list), collections.defaultdict(list)
for e in sent:
    by_service[e[0]].append(e)
    by_container[e[1]].append(e)
for service, entries in by_service.items():
    check(f"{service}.jsonl", entries)
for container, entries in by_container.items():
    check(f"containers/{container}.jsonl", entries)
unknown = read("unknown.jsonl")
if unknown != bad_tag:
    problems.append(f"unknown.jsonl: {unknown!r}, want the bad-tag line only")
for root, dirs, files in os.walk(os.path.dirname(logs)):
    for f in files:
        path = os.path.join(root, f)
        if f.endswith(".jsonl") and not path.startswith(logs + "/"):
            problems.append(f"{path}: written outside the log directory")
print("\n".join(problems) if problems else "files as expected")
sys.exit(1 if problems else 0)
PY

# README.md's way to follow one request: every line of it, and which replicas it crossed.
crossed=$(grep -h "\"request_id\":\"$rid\"" "$logs/all.jsonl" | python3 -c 'import json, sys; print(" ".join(json.loads(l)["service"] for l in sys.stdin))')
replicas=$(cd "$logs/containers" && grep -l "\"request_id\":\"$rid\"" ./*.jsonl | sed 's|^\./||; s|\.jsonl$||' | sort | tr '\n' ' ')
step "request $rid crossed: $crossed; replicas: $replicas"
[ "$crossed" = "gateway orders products products" ] || { echo "request $rid: lines from '$crossed'"; exit 1; }
[ "$replicas" = "$products1 $products2 split-gateway-1 split_orders_1 " ] || { echo "request $rid: replicas '$replicas'"; exit 1; }

stop_collector
step "passed"
