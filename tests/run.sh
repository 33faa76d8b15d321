#!/usr/bin/env bash
# Builds both configurations and runs every test: ./tests/run.sh
#   1. the monolith alone (SHOP_SPLIT=OFF): unit, contract, e2e and standard-tool tests, and the
#      PostgreSQL groundwork (a server per test, database per service, migrations; ctest -L postgres);
#   2. the monolith again with AddressSanitizer (+ leak check) and UBSan, every finding fatal
#      (preset `debug`, in build-asan/): the same tests, the e2e suite against the sanitized `shop`;
#   3. monolith plus split mode (SHOP_SPLIT=ON): the same, plus contract tests against the HTTP
#      clients, the e2e suite through the gateway, fault isolation, docker compose end to end,
#      Prometheus and the log collector (split/observability), and a quick benchmark run.
# Installs what a fresh Debian 12 machine lacks first. The last line printed is CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

./.ci/install-deps.sh
jobs=$(nproc)

echo "== monolith (SHOP_SPLIT=OFF) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== sanitizers (ASan+UBSan) =="
# CMakePresets.json `debug`: SHOP_SANITIZE=ON (modules/cmake/sanitize.cmake), Debug (-O0), no split,
# no benchmarks. A developer runs the same with: cmake --preset debug && cmake --build --preset debug &&
# ctest --preset debug. Nothing is excluded: no test here measures time strictly enough to suffer
# (the password-timing tests compare two paths that both slow down alike), and the e2e suite's last case
# fails on any sanitizer report in the server's stderr or an unclean exit.
cmake --preset debug >/dev/null
cmake --build --preset debug -j"$jobs"
ctest --preset debug -j"$jobs"

echo "== fuzzing (libFuzzer, ASan+UBSan, 60 s per harness) =="
# tests/fuzz/README.md: builds build-fuzz/ with clang++-16, runs each harness 60 s from its seeds, one line
# each; a finding stops here with its report and reproducer.
tests/fuzz/run.sh --seconds 60

echo "== monolith + split mode (SHOP_SPLIT=ON) =="
cmake -S . -B build-split -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOP_SPLIT=ON >/dev/null
cmake --build build-split -j"$jobs"
cd build-split
ctest --output-on-failure -j"$jobs" "$@"
