#!/usr/bin/env bash
# Installs, from Debian 12's archive, whatever this project needs and the machine lacks.
# Safe to run again: it installs nothing when everything is present.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config ccache mold
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libssl-dev libsodium-dev doctest-dev
  python3 python3-jwt python3-cryptography prometheus curl
  rsyslog  # split/observability: the log collector (tests/split/observability); prometheus above runs there too
  libbenchmark-dev wrk nginx gnuplot-nox
  docker.io docker-compose debootstrap
  docker-registry  # tests/split/swarm_test.sh: the stack's images pushed to it on loopback, deployed by digest
  nats-server libnats-dev  # events on NATS (both layouts); split: registry, central configuration (JetStream KV)
  clang-16 libclang-rt-16-dev  # tests/fuzz: libFuzzer with ASan/UBSan (clang 14 cannot compile <expected>)
  # PostgreSQL per service (issue 11): the server tests start (tests/postgres, as a non-root user, in a temporary
  # directory; the package's own cluster is not started, see policy-rc.d below) and its client library; the
  # sqlite3 CLI builds the SQLite schema the PostgreSQL migrations are compared with.
  postgresql-15 libpq-dev sqlite3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo; missing: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# Installing a server package (nginx for the benchmark's reference) must not start it as a service.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
