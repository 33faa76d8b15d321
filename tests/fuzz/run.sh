#!/usr/bin/env bash
# Builds the libFuzzer harnesses (build-fuzz/, clang++-16, ASan + UBSan) and runs each for a bounded time.
#
#   tests/fuzz/run.sh [--seconds N] [--jobs J] [--build-only] [harness...] [-- libFuzzer flags...]
#
#   harness      request chunked json_body token response (default: all, in that order)
#   --seconds N  fuzzing time per harness (default 60)
#   --jobs J     harnesses run at once (default 1); one libFuzzer process each
#   --build-only configure and build build-fuzz/, run nothing
#   -- ...       passed to every harness, e.g. `-- -fork=2` (two worker processes per harness)
#
# Each harness starts from its committed seeds (tests/fuzz/corpus/<harness>, copied) plus a work corpus
# that persists in build-fuzz/fuzz/work/<harness>; findings (crash-*, leak-*, timeout-*, oom-*) are
# written to build-fuzz/fuzz/findings/<harness>/, its whole log to build-fuzz/fuzz/logs/<harness>.log.
# Prints one line per harness; exits 1 when any harness found something (and shows the finding).
# See tests/fuzz/README.md.
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/../.."

all=(request chunked json_body token response)
declare -A max_len=([request]=65536 [chunked]=65536 [json_body]=16384 [token]=8192 [response]=81920)

seconds=60
jobs=1
build_only=0
harnesses=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$self"; exit 0 ;;
    *)
      [[ -n "${max_len[$1]:-}" ]] || { echo "fuzz: unknown harness '$1' (one of: ${all[*]})" >&2; exit 2; }
      harnesses+=("$1"); shift ;;
  esac
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --seconds needs a positive number (0 would mean forever)" >&2; exit 2; }

build="build-fuzz"
out=$build/fuzz
cxx=${SHOP_FUZZ_CXX:-clang++-16}
command -v "$cxx" >/dev/null || {
  echo "fuzz: $cxx not found; install clang-16 and libclang-rt-16-dev (.ci/install-deps.sh does)" >&2
  exit 1
}

# Configure (only what the harnesses need) and build.
start=$(date +%s)
mkdir -p "$out/logs"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOP_FUZZ=ON \
         -DSHOP_BUILD_TESTS=OFF -DSHOP_BUILD_BENCH=OFF -DSHOP_SPLIT=OFF -DSHOP_SANITIZE=OFF &&
       cmake --build "$build" --target fuzzers -j"$(nproc)"; } >"$out/logs/build.log" 2>&1; then
  tail -n 40 "$out/logs/build.log"
  echo "fuzz: the build failed (whole log: $out/logs/build.log)" >&2
  exit 1
fi
if [ "$build_only" -eq 1 ]; then
  echo "fuzz: harnesses built in $(($(date +%s) - start)) s: $out/{$(IFS=,; echo "${all[*]}")}_fuzz"
  exit 0
fi
echo "fuzz: harnesses built in $(($(date +%s) - start)) s; fuzzing ${#harnesses[@]} harness(es) for ${seconds} s each, $jobs at a time"

# Symbolised stacks need an llvm-symbolizer; clang-16 alone does not bring one.
for s in llvm-symbolizer-16 /usr/lib/llvm-16/bin/llvm-symbolizer llvm-symbolizer; do
  if command -v "$s" >/dev/null; then
    export ASAN_SYMBOLIZER_PATH; ASAN_SYMBOLIZER_PATH=$(command -v "$s")
    break
  fi
done
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Runs one harness; its summary line goes to $out/logs/<harness>.summary, status 1 on a finding.
run_one() {
  local h=$1
  local seeds=$out/seeds/$h work=$out/work/$h findings=$out/findings/$h log=$out/logs/$h.log
  rm -rf "$seeds"
  mkdir -p "$seeds" "$work" "$findings"
  cp -R "tests/fuzz/corpus/$h/." "$seeds/"
  local marker=$out/logs/$h.start
  touch "$marker"
  local rc=0
  "$out/${h}_fuzz" "$work" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len="${max_len[$h]}" -dict="tests/fuzz/dict/$h.dict" -artifact_prefix="$findings/" \
    -print_final_stats=1 "${extra[@]}" >"$log" 2>&1 || rc=$?
  # The last status line: "#N ... cov: C ft: F corp: U/Sb ... exec/s: E ...".
  local status runs cov corp rate
  status=$(grep -E 'cov: [0-9]+' "$log" | tail -n 1 || true)
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  [ -n "$runs" ] || runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$status")
  cov=$(grep -oE 'cov: [0-9]+' <<<"$status" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+(/[0-9]+[a-zA-Z]+)?' <<<"$status" | sed 's/corp: //' || true)
  rate=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  [ -n "$rate" ] || rate=$(grep -oE 'exec/s: [0-9]+' <<<"$status" | grep -oE '[0-9]+' || true)
  local found
  found=$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
            -newer "$marker" | sort)
  local line
  line=$(printf '%-10s %s executions (%s/s), coverage %s, corpus %s' "$h" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${corp:-?}")
  if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
    echo "ok    $line, no findings" >"$out/logs/$h.summary"
    return 0
  fi
  {
    echo "FAIL  $line, $(wc -w <<<"$found") finding(s) (exit $rc):"
    for f in $found; do echo "        $f"; done
    # The report: from the first error line, at most 60 lines.
    grep -n -m1 -E 'fuzz invariant violated|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|Assertion .* failed' "$log" |
      cut -d: -f1 | { read -r first || first=1; tail -n +"$first" "$log" | head -n 60 | sed 's/^/        | /'; }
    echo "        reproduce: $out/${h}_fuzz <file>   (whole log: $log)"
  } >"$out/logs/$h.summary"
  return 1
}

failed=0
running=0
for h in "${harnesses[@]}"; do
  run_one "$h" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
for h in "${harnesses[@]}"; do cat "$out/logs/$h.summary"; done
echo "fuzz: $( [ $failed -eq 0 ] && echo "no findings" || echo "FINDINGS (see above)" ) after $(($(date +%s) - start)) s"
exit $failed
