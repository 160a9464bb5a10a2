#!/usr/bin/env bash
# CI stages beyond the README's test command: a clang++ build with warnings as errors that runs the
# suite under AddressSanitizer + UndefinedBehaviorSanitizer, each fuzzer for a bounded time, and the
# tests of plan()'s threads (reconciler_options::threads) under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
s=$(date +%s)
echo "== clang++ + ASan/UBSan: configure and build"
# -O1 with line tables only: readable sanitizer stacks at a fraction of full debug info's build cost.
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only" -DCMAKE_CXX_COMPILER=clang++ \
      -DCONCORD_SANITIZE=ON -DCONCORD_BUILD_BENCHMARKS=OFF -DCONCORD_FUZZ=ON
cmake --build build/asan -j"$jobs"
echo "== build took $(( $(date +%s) - s )) s"
s=$(date +%s)
echo "== ctest under ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build/asan --output-on-failure -j"$jobs" -LE "no_sanitizer"
echo "== ctest under sanitizers took $(( $(date +%s) - s )) s"
if [[ -x scripts/fuzz.sh ]]; then
  s=$(date +%s)
  scripts/fuzz.sh build/asan
  echo "== fuzzing took $(( $(date +%s) - s )) s"
fi
s=$(date +%s)
echo "== clang++ + ThreadSanitizer: engine tests tagged [threads], examples/parallel_plan"
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only -fsanitize=thread" \
      -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_CXX_COMPILER=clang++ -DCONCORD_BUILD_BENCHMARKS=OFF
cmake --build build/tsan -j"$jobs" --target engine_tests parallel_plan
TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/engine/engine_tests "[threads]"
TSAN_OPTIONS=halt_on_error=1 build/tsan/examples/parallel_plan/parallel_plan 60000 2
echo "== ThreadSanitizer took $(( $(date +%s) - s )) s"
