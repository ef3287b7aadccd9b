#!/bin/bash
# Run the libFuzzer harnesses of a fuzz build (tests/fuzz/README.md).
#   tests/fuzz/run.sh BUILD_DIR SECONDS [HARNESS...]
# For each harness (all of BUILD_DIR/tests/fuzz/fuzz_* when none is named):
#   1. every input of its seeds is run once: tests/fuzz/corpus/NAME (checked
#      in), tests/fuzz/regress/NAME (inputs that once crashed it: kept
#      forever) and what tests/fuzz/seeds.sh generates from the tests' own
#      material; any crash fails;
#   2. SECONDS of fuzzing from those seeds plus the corpus kept in WORK/NAME.
# Then a table: executions, edges covered (libFuzzer's cov), features (ft),
# corpus size and crashes per harness. Exit 1 when any harness crashed; the
# crashing input is in WORK/artifacts/NAME/ (keep it in tests/fuzz/regress/NAME
# once fixed).
# Environment: JOBS (harnesses run at once, default 1), RUNS (stop each harness
# after that many executions, before SECONDS if it gets there), WORK (default
# BUILD_DIR/fuzz-work: the corpora grow there from one run to the next),
# ASAN_OPTIONS (added to the defaults below: AddressSanitizer's allocator made
# cheaper).
set -uo pipefail
# ASan keeps 256 MB of freed blocks in quarantine by default, and gives free
# pages back to the kernel every 5 s: the harnesses allocate a few hundred
# blocks per input, so most of their time went to page faults on recycled
# memory. 16 MB of quarantine still holds the frees of the last hundreds of
# inputs (a use after free within an input, or a few inputs later, is
# caught). strict_string_checks as tests/run-all.sh sets it (a harness that
# hands the input to a str* function without a NUL is caught here too). A
# caller's ASAN_OPTIONS come after these, so they win where they overlap.
export ASAN_OPTIONS="quarantine_size_mb=16:allocator_release_to_os_interval_ms=-1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR SECONDS [HARNESS...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd) || exit 2
seconds=$2
shift 2
work=${WORK:-$build/fuzz-work}
jobs=${JOBS:-1}
mkdir -p "$work"
if [ $# -gt 0 ]; then
    names=("$@")
else
    mapfile -t names < <(cd "$build/tests/fuzz" && ls fuzz_* 2>/dev/null | grep -v '\.' | sort)
fi
[ ${#names[@]} -gt 0 ] || { echo "$0: no harness in $build/tests/fuzz (cmake -DDPI_FUZZ=ON, target fuzz-all)" >&2; exit 2; }

# fuzz_one NAME: regression pass then SECONDS of fuzzing; writes WORK/NAME.stats
fuzz_one () {
    local name=$1 bin=$build/tests/fuzz/$1 log=$work/$1.log
    local seeds=$work/seeds/$1 corpus=$work/$1 art=$work/artifacts/$1
    local dirs=() opts=() rc
    rm -rf "$seeds" "$art"
    mkdir -p "$seeds" "$corpus" "$art"
    if ! "$here/seeds.sh" "$name" "$seeds" "$build" > "$work/$name.seeds.log" 2>&1; then
        echo "$name: seed generation failed:" >&2
        tail -5 "$work/$name.seeds.log" >&2
        echo "$name 0 0 0 0 0 seeds-failed" > "$work/$name.stats"
        return
    fi
    for d in "$here/corpus/$name" "$here/regress/$name" "$seeds"; do
        [ -d "$d" ] && dirs+=("$d")
    done
    [ -f "$here/$name.dict" ] && opts+=("-dict=$here/$name.dict")
    # libFuzzer's own limits: a slow input (10 s) or 2 GB of memory is a crash too
    opts+=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/")
    # 1. regression: every seed once (-runs=0 runs the initial corpus, nothing else)
    if ! "$bin" "${opts[@]}" -runs=0 "${dirs[@]}" > "$log" 2>&1; then
        echo "$name: CRASH on a seed (regression); see $log" >&2
        grep -m3 -E "ERROR|runtime error|==ABORT" "$log" >&2
        echo "$name 0 0 0 0 1 regression" > "$work/$name.stats"
        return
    fi
    # 2. fuzzing: the kept corpus first (new inputs go there), then the seeds
    local runs=()
    [ -n "${RUNS:-}" ] && runs=(-runs="$RUNS")
    "$bin" "${opts[@]}" -max_total_time="$seconds" "${runs[@]}" "$corpus" "${dirs[@]}" >> "$log" 2>&1
    rc=$?
    local execs cov ft corp crashes
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    cov=$(grep -oE ' cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    ft=$(grep -oE ' ft: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    corp=$(find "$corpus" -type f | wc -l)
    crashes=$(find "$art" -type f | wc -l)
    [ $rc -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
    echo "$name ${execs:-0} ${cov:-0} ${ft:-0} $corp $crashes fuzz" > "$work/$name.stats"
    if [ "$crashes" -ne 0 ]; then
        echo "$name: CRASH while fuzzing (exit $rc); input in $art, log $log" >&2
        grep -m3 -E "ERROR|runtime error|==ABORT" "$log" >&2
    fi
}

echo "fuzz: ${#names[@]} harness(es), ${seconds} s each, $jobs at once, work dir $work, ASAN_OPTIONS=$ASAN_OPTIONS"
running=0
for n in "${names[@]}"; do
    [ -x "$build/tests/fuzz/$n" ] || { echo "$0: no harness $n in $build/tests/fuzz" >&2; exit 2; }
    rm -f "$work/$n.stats"
    fuzz_one "$n" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

status=0
printf '%-24s %12s %8s %8s %8s %7s\n' harness execs edges features corpus crashes
for n in "${names[@]}"; do
    if [ ! -f "$work/$n.stats" ]; then
        printf '%-24s %s\n' "$n" "no result (see $work/$n.log)"; status=1; continue
    fi
    read -r _ execs cov ft corp crashes phase < "$work/$n.stats"
    printf '%-24s %12s %8s %8s %8s %7s' "$n" "$execs" "$cov" "$ft" "$corp" "$crashes"
    [ "$phase" != fuzz ] && printf '  (%s)' "$phase"
    echo
    [ "$crashes" != 0 ] && status=1
done
[ $status -eq 0 ] && echo "fuzz: no crash" || echo "fuzz: FAILED"
exit $status
