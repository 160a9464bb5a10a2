#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time over its corpus (tests/fuzz/corpus/<name>, kept in
# the repo) and fails on the first crash, leak or sanitizer report. Called by scripts/ci-extra.sh as
#   scripts/fuzz.sh <build-dir>          (the build must be configured with -DCONCORD_FUZZ=ON, clang++)
# FUZZ_SECONDS (default 25) sets the time per target. New inputs go to a scratch directory, so the
# checked-in corpus only changes when someone copies an interesting input there on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:?usage: scripts/fuzz.sh <build-dir>}"
seconds="${FUZZ_SECONDS:-25}"
targets=(paging owner_tag witness decisions)
cmake --build "$build" --target "${targets[@]/#/fuzz_}" -j2
status=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  corpus="tests/fuzz/corpus/$t"
  scratch="$(mktemp -d)"
  echo "== fuzz_$t for ${seconds}s over $corpus"
  if ! ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
       -print_final_stats=1 -artifact_prefix="$scratch/" "$scratch" "$corpus" 2>&1 | tail -n 12; then
    echo "== fuzz_$t FAILED: reproducer(s) in $scratch"
    status=1
    continue
  fi
  rm -rf "$scratch"
done
exit $status
