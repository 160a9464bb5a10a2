#!/usr/bin/env bash
# Installs what concord's build, tests, examples and benchmarks need on Debian (bookworm), and
# nothing when everything is already there. Usage: scripts/setup-debian.sh [core|all]
set -euo pipefail
what="${1:-all}"
core=(cmake ninja-build g++ pkg-config libboost-dev librange-v3-dev catch2 libxxhash-dev libssl-dev libsqlite3-dev)
extra=(clang libclang-rt-14-dev libpq-dev postgresql libbenchmark-dev librapidcheck-dev sqlite3 time)
pkgs=("${core[@]}")
[[ "$what" == all ]] && pkgs+=("${extra[@]}")

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
