#!/usr/bin/env bash
# README command 1: installs what is missing, builds the flagship example and runs it on the
# embedded defaults (a SQLite file in a temporary folder, the simulated payment provider).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh core
flagship="${CONCORD_FLAGSHIP:-payments}"
[[ -d examples/$flagship ]] || flagship=quickstart
cmake -S . -B build/quickstart -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCONCORD_BUILD_TESTS=OFF -DCONCORD_BUILD_BENCHMARKS=OFF -DCONCORD_WITH_POSTGRES=OFF >/dev/null
cmake --build build/quickstart --target "$flagship" -j"$(nproc)"
exec "build/quickstart/examples/$flagship/$flagship" "$@"
