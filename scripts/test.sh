#!/usr/bin/env bash
# README command 2: installs what is missing, builds everything (g++, warnings as errors) and runs
# every test and example through ctest. Prints how long each stage took.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
stage() { printf '\n== %s\n' "$1"; stage_start=$(date +%s); }
stage_end() { echo "== $1 took $(( $(date +%s) - stage_start )) s"; }

stage "setup"; scripts/setup-debian.sh all; stage_end "setup"

build="${CONCORD_BUILD_DIR:-build/test}"
stage "configure ($build)"
# -O2 without debug info: debug info for Hana/range-v3 instantiations costs a third of the build.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O2 -DCMAKE_CXX_COMPILER="${CXX:-g++}" \
      -DCONCORD_BUILD_BENCHMARKS=ON ${CONCORD_CMAKE_ARGS:-}
stage_end "configure"

stage "build"; cmake --build "$build" -j"$jobs"; stage_end "build"

stage "ctest"
ctest --test-dir "$build" --output-on-failure -j"$jobs" ${CONCORD_CTEST_ARGS:-}
stage_end "ctest"
