#!/usr/bin/env bash
# The long simulation run: builds concord_simulate (RelWithDebInfo, g++) and runs SEEDS seeds (default
# 1,000,000) of STEPS steps (default 200) in JOBS parallel shards (default: nproc), each printing seeds
# per second and its coverage probes. A failing seed prints its shrunk step list and the replay
# command (concord_simulate --seed <n> --trace). Figures of the last long run are in docs/testing.md.
#   scripts/simulate.sh [SEEDS] [FIRST_SEED]
# RETAG=1 lets foreign writers take over objects of ours as well (concord_simulate --retag).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-1000000}"
first="${2:-1}"
steps="${STEPS:-200}"
jobs="${JOBS:-$(nproc)}"
build="${CONCORD_BUILD_DIR:-build/simulate}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="${CXX:-g++}" \
      -DCONCORD_BUILD_BENCHMARKS=OFF -DCONCORD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target concord_simulate -j2
per=$(( (seeds + jobs - 1) / jobs ))
start=$(date +%s)
pids=()
for ((j = 0; j < jobs; j++)); do
  f=$(( first + j * per ))
  n=$(( per ))
  if (( f + n > first + seeds )); then n=$(( first + seeds - f )); fi
  (( n > 0 )) || continue
  "$build/tests/simulation/concord_simulate" --first "$f" --seeds "$n" --steps "$steps" ${RETAG:+--retag} \
      > "$build/simulate-shard-$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
secs=$(( $(date +%s) - start ))
cat "$build"/simulate-shard-*.log
echo "== $seeds seeds x $steps steps in ${secs}s: $(( seeds / (secs > 0 ? secs : 1) )) seeds/s over $jobs shards"
exit $status
