#!/usr/bin/env bash
# One command for every benchmark: builds them in Release, runs them and rewrites docs/benchmarks.md
# with the figures, the machine, the compiler and the command.
#
#   scripts/benchmarks.sh            full run: planning at N = 10^4..10^6 against every baseline (and
#                                    10^7 for concord and the floor when the machine has the memory),
#                                    streaming 10^8 entities, apply 10^5 actions, compile times.
#   scripts/benchmarks.sh --quick    small sizes (about a minute), for CI or a smoke test.
#
# Environment: CXX (default g++), CONCORD_BENCH_BUILD_DIR (default build/bench),
#              CONCORD_BENCH_OUT (default docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done
build="${CONCORD_BENCH_BUILD_DIR:-build/bench}"
out="${CONCORD_BENCH_OUT:-docs/benchmarks.md}"
cxx="${CXX:-g++}"
command_line="scripts/benchmarks.sh${1:+ $1}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== configure + build ($build, Release, $cxx)" >&2
configure() {
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
          -DCONCORD_BUILD_BENCHMARKS=ON >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log" >&2; exit 1; }
}
release() { grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt"; }
configure
# A build directory configured before with another compiler: CMake then deletes its cache and
# configures again without this command's other settings, so the build type is lost and the figures
# would be those of an unoptimised build. A second run applies them.
release || configure
release || { cat "$tmp/configure.log" >&2; echo "benchmarks: $build is not a Release build after configuring twice (log above); remove it and run again" >&2; exit 1; }
cmake --build "$build" --target concord_benchmarks -j"${CONCORD_BENCH_JOBS:-2}" >&2

bin="$build/benchmarks"
if [[ $quick == 1 ]]; then
    sizes="10000,100000"; reps="--reps 3"; stream_n=1000000; actions=10000
else
    sizes="10000,100000,1000000"; reps=""; stream_n=100000000; actions=100000
    # 10^7 needs about 10 GiB for the inputs (remote records carry metadata maps) plus the working set.
    avail_kib=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    if (( avail_kib > 14 * 1024 * 1024 )); then sizes="$sizes,10000000"; fi
fi

# CONCORD_BENCH_REUSE=<dir>: take a section from <dir>/<section>.md when it exists instead of running
# it again (for assembling the page after a long run was interrupted; the page says so).
reuse="${CONCORD_BENCH_REUSE:-}"
reused=()
section() {  # name command...: runs the command into $tmp/name.md unless reused
    local name="$1"; shift
    if [[ -n $reuse && -f $reuse/$name.md ]]; then
        cp "$reuse/$name.md" "$tmp/$name.md"; reused+=("$name"); echo "== $name: reused from $reuse" >&2
    else
        echo "== $name" >&2
        "$@" >"$tmp/$name.md"
    fi
}
section plan "$bin/plan/concord_plan_bench" plan --sizes "$sizes" --baseline-max 1000000 $reps
# The same, with glibc's malloc putting its heap on transparent huge pages (glibc >= 2.35): every
# contender's inputs and working set then cost far fewer TLB misses, which on this virtual machine are
# what makes single runs vary by 2x. Same data, same process for all contenders.
section plan_thp env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$bin/plan/concord_plan_bench" plan --sizes "$sizes" \
    --baseline-max 1000000 $reps
section stream "$bin/streaming/concord_stream_bench" --n "$stream_n"
section apply "$bin/plan/concord_plan_bench" apply --actions "$actions"

# Other engineers' benchmarks (benchmarks/timeline, benchmarks/roundtrips, ...): every executable
# under benchmarks/<dir>/ that is not one of the above prints its own Markdown section. A failing one
# is reported on the page and does not stop the run.
run_others() {
for dir in "$bin"/*/; do
    name="$(basename "$dir")"
    [[ $name == plan || $name == streaming || $name == CMakeFiles ]] && continue
    for exe in "$dir"*; do
        [[ -f $exe && -x $exe ]] || continue
        echo "== $name: $(basename "$exe")" >&2
        local rc=0
        if [[ $quick == 1 ]]; then "$exe" --quick || rc=$?; else "$exe" || rc=$?; fi
        if [[ $rc != 0 ]]; then
            echo
            echo "**benchmarks/$name/$(basename "$exe") failed (exit code $rc); its output above is incomplete.**"
        fi
        echo
    done
done
}
section others run_others

# ------------------------------------------------------------------------------ compile time
echo "== compile time" >&2
flags=(-std=c++20 -O2 -Iinclude)
xxhash_inc="$(awk -F= '/^CONCORD_XXHASH_INCLUDE_DIR:/ {print $2}' "$build/CMakeCache.txt")"
if [[ -n $xxhash_inc && $xxhash_inc != /usr/include ]]; then flags+=(-isystem "$xxhash_inc"); fi
compile_runs=$([[ $quick == 1 ]] && echo 1 || echo 3)
median_compile() {  # median wall seconds of `$cxx flags $1 $2` ($compile_runs runs); $1: -c or -fsyntax-only
    local times=()
    for ((i = 0; i < compile_runs; i++)); do
        local t0 t1
        t0=$(date +%s.%N)
        if [[ $1 == -c ]]; then "$cxx" "${flags[@]}" -c "$2" -o "$tmp/obj.o"; else "$cxx" "${flags[@]}" -fsyntax-only "$2"; fi
        t1=$(date +%s.%N)
        times+=("$(echo "$t1 - $t0" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
compile_row() {  # label file
    local full syntax
    full=$(median_compile -c "$2")
    syntax=$(median_compile -fsyntax-only "$2")
    printf '| %s | %.2f | %.2fx | %.2f | %.2fx |\n' "$1" "$full" "$(echo "$full / $hana_full" | bc -l)" \
        "$syntax" "$(echo "$syntax / $hana_syntax" | bc -l)"
}
hana_full=$(median_compile -c benchmarks/compile/hana_only.cpp)
hana_syntax=$(median_compile -fsyntax-only benchmarks/compile/hana_only.cpp)
{
    echo "### Compile time"
    echo
    echo "\`$cxx ${flags[*]} -c <file>\` (whole compile) and \`-fsyntax-only\` (parsing and template"
    echo "instantiation, no code generation), wall clock, median of $compile_runs run(s) for the two baselines"
    echo "and one run for the examples."
    echo
    echo "| file | -c seconds | vs Hana alone | -fsyntax-only seconds | vs Hana alone |"
    echo "|---|---|---|---|---|"
    compile_row "<vector> + <string> only" benchmarks/compile/vector_string.cpp
    compile_row "<boost/hana.hpp> alone" benchmarks/compile/hana_only.cpp
    compile_runs=1  # the examples take tens of seconds each: one run
    compile_row "examples/quickstart [goal < 2x]" examples/quickstart/main.cpp
    if [[ -f examples/payments/main.cpp ]]; then compile_row "examples/payments" examples/payments/main.cpp; fi
    echo
} >"$tmp/compile.md"

# Costliest headers of the quickstart, from clang's -ftime-trace (inclusive front-end time per header
# included directly or through concord's headers).
if command -v clang++ >/dev/null; then
    clang++ "${flags[@]}" -ftime-trace -c examples/quickstart/main.cpp -o "$tmp/quickstart.o"
    python3 - "$tmp/quickstart.json" >>"$tmp/compile.md" <<'PY'
import json, sys, os
events = json.load(open(sys.argv[1]))["traceEvents"]
total = {e["name"]: e["dur"] for e in events if e.get("name", "").startswith("Total ")}
src = [e for e in events if e.get("name") == "Source" and e.get("ph") == "X"]
# Keep the outermost Source event of each header (inclusive time of its whole include subtree).
src.sort(key=lambda e: (e["ts"], -e["dur"]))
top, end = [], -1
for e in src:
    if e["ts"] >= end:
        top.append(e); end = e["ts"] + e["dur"]
incl = {}
for e in src:
    p = e["args"]["detail"]
    incl[p] = max(incl.get(p, 0), e["dur"])
def short(p):
    for pre in ("/usr/include/", "include/", os.getcwd() + "/include/"):
        if p.startswith(pre): return p[len(pre):]
    return p
fe = total.get("Total Frontend", 0) / 1e6
be = total.get("Total Backend", 0) / 1e6
print("clang++ -ftime-trace of examples/quickstart: front end %.2f s, back end (code generation) %.2f s." % (fe, be))
print()
print("Headers included directly by the quickstart, by inclusive parse time:")
print()
print("| header | ms |")
print("|---|---|")
for e in sorted(top, key=lambda e: -e["dur"])[:8]:
    print("| %s | %.0f |" % (short(e["args"]["detail"]), e["dur"] / 1e3))
print()
print("Costliest headers anywhere in the include tree (inclusive, so nested headers overlap):")
print()
print("| header | ms |")
print("|---|---|")
for p, d in sorted(incl.items(), key=lambda kv: -kv[1])[:12]:
    print("| %s | %.0f |" % (short(p), d / 1e3))
print()
print("Template instantiation (clang totals): functions %.2f s, classes %.2f s." % (
    total.get("Total InstantiateFunction", 0) / 1e6, total.get("Total InstantiateClass", 0) / 1e6))
print()
PY
fi

# ------------------------------------------------------------------------------ the page
cpu="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1024 / 1024}' /proc/meminfo)"
compiler="$("$cxx" --version | head -1)"
sqlite_version="$(awk '/define SQLITE_VERSION / {gsub(/"/, "", $3); print $3}' /usr/include/sqlite3.h 2>/dev/null || true)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
mkdir -p "$(dirname "$out")"
{
    cat <<EOF
# Benchmarks

Produced by \`$command_line\` (it builds the benchmarks in Release and rewrites this page) on
$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit$([[ $quick == 1 ]] && echo ", **quick mode: small sizes**").
$([[ ${#reused[@]} -gt 0 ]] && echo "Sections reused from an earlier run of the same command (CONCORD_BENCH_REUSE): ${reused[*]}.")

| machine | |
|---|---|
| CPU | $cpu |
| cores (nproc) | $(nproc) |
| memory | $mem |
| compiler | $compiler, CMake Release (-O3) |
| SQLite | ${sqlite_version:-system library} |

Every comparison below was measured in the same run, on the same data, and the figures are medians.
Ratios read "how many times faster concord is". Every contender must report the same case counts or
the run fails. The machine is a virtual machine whose page faults are slow and vary from run to run
(the same binary can differ by 30% between runs), so single figures are noisy; the medians and
ratios within one run are what to compare. Each contender runs its repetitions back to back (so it
follows its own previous run, not another contender's teardown): concord (each thread count) and the floor 15 times at
10^4, 9 times up to 10^6 and 3 times at 10^7; the baselines 15, 7 and 3 times.

## What is measured

* **concord plan_from**: \`reconciler::plan_from(status, adopted, local, links, remote)\` end to end from the
  entity structs: identity keys (XXH3-128 of the natural key), ownership checks of every remote record
  (owner tag, identity key and generation in its metadata, identity recomputed from the content),
  content fingerprints, the join with links, the trust_local policy and the plan with its actions
  (SHA-256 idempotency keys for the 3% that need a remote effect). The join sorts 24-byte key rows
  in place (radix on the top bytes) and decides "in sync" from the rows alone; the few other
  identities become cases after the rows are freed; the inputs are only read. One thread
  (\`reconciler_options::threads = 1\`, the default) in the main tables.
* **concord, 2 threads**: the same call with \`threads = 2\`: the row passes, sorts, link look-up and
  case building split into slices on two threads (the plan is the same). Its own table, because every
  other contender, the floor included, runs on one thread.
* **floor**: the same two hashes per entity, then a radix-partitioned hash join over (identity,
  fingerprint) pairs (one partitioning pass into at most 4096 cache-sized partitions, open-addressing
  table per partition, arrays on transparent huge pages like concord's rows); no links, no ownership,
  no plan.
* **std::map / std::unordered_map diff**: what a user writes by hand: index both sides by the natural
  key, walk them, compare the content members with ==. No hashing of content, no links, no ownership.
* **SQLite**: both sides loaded into an in-memory database (natural key as PRIMARY KEY), classified with
  two LEFT JOINs whose rows are stepped through; "query" is the joins alone, "load + query" adds
  opening the database, creating the tables, the inserts and closing it.
* **The data**: each side (local entities, remote records, links) is built in its own random identity
  order, one object after the other as a loader or a paged listing would materialise them, so an
  object's heap data (strings, metadata map nodes) lies near its neighbours in the vector.

EOF
    cat "$tmp/plan.md"
    cat <<EOF

## Planning again, with the heap on transparent huge pages

The same benchmark in a second process started with \`GLIBC_TUNABLES=glibc.malloc.hugetlb=1\`: glibc's
malloc then asks for transparent huge pages for its heap (the machine's THP mode is
\`$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)\`), so reading the inputs
(a remote record with its metadata map is several heap objects) takes far fewer TLB misses. It applies
to every contender alike: same data, same process. An application with large books can set the same
variable; nothing in concord depends on it.

EOF
    sed 's/^### Planning/### Huge-page heap: planning/' "$tmp/plan_thp.md"
    cat "$tmp/stream.md" "$tmp/apply.md"
    cat "$tmp/others.md"
    cat "$tmp/compile.md"
    if [[ -f benchmarks/NOTES.md ]]; then cat benchmarks/NOTES.md; fi
} >"$out"
echo "== wrote $out" >&2
