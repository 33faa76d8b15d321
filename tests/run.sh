#!/usr/bin/env bash
# Builds both configurations and runs every test: ./tests/run.sh
#   1. the monolith alone (SHOP_SPLIT=OFF): unit, contract, e2e and standard-tool tests;
#   2. monolith plus split mode (SHOP_SPLIT=ON): the same, plus contract tests against the HTTP
#      clients, the e2e suite through the gateway, fault isolation, docker compose end to end,
#      and a quick benchmark run.
# Installs what a fresh Debian 12 machine lacks first. The last line printed is CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

./.ci/install-deps.sh
jobs=$(nproc)

echo "== monolith (SHOP_SPLIT=OFF) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== monolith + split mode (SHOP_SPLIT=ON) =="
cmake -S . -B build-split -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOP_SPLIT=ON >/dev/null
cmake --build build-split -j"$jobs"
cd build-split
ctest --output-on-failure -j"$jobs" "$@"
