#!/bin/bash
# The whole test suite: install what is needed, build twice (normal, and
# ASan+UBSan), and run every ctest test in both builds, then every libFuzzer
# harness of tests/fuzz over its seeds plus 30 s of fuzzing (a third build,
# clang). After each run it
# prints how many tests were skipped and which, and fails when a test not
# labelled `external` skipped (tests/check_skips.py).
#   tests/run-all.sh            (from the top of the source tree, as root)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
# CrowdSec, for the CrowdSec test (offline install, our parser and scenarios)
command -v cscli > /dev/null || deploy/install-crowdsec.sh

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$jobs"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DDPI_SANITIZE=ON > /dev/null
cmake --build build-sanitize -j "$jobs"
# The libFuzzer harnesses (tests/fuzz): clang, ASan + UBSan + coverage
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DDPI_FUZZ=ON > /dev/null
cmake --build build-fuzz --target fuzz-all -j "$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# run_tests NAME DIR TIMEOUT: every test of the build in DIR, then the skip
# rule on that run (ctest's JUnit report and its list of tests with labels)
run_tests () {
    local name=$1 dir=$2 timeout=$3 rc=0
    local junit=$PWD/$dir/ctest-junit.xml list=$PWD/$dir/ctest-tests.json
    echo "== tests: $name"
    rm -f "$junit" "$list"
    (cd "$dir" && ctest --output-on-failure --timeout "$timeout" --output-junit "$junit") || rc=1
    (cd "$dir" && ctest --show-only=json-v1 > "$list") || rc=1
    python3 tests/check_skips.py --build "$name" "$junit" "$list" || rc=1
    return $rc
}

status=0
run_tests "normal build" build 600 || status=1
run_tests "sanitizer build (ASan + UBSan)" build-sanitize 900 || status=1
echo "== fuzz harnesses: every seed and kept crash input, then 30 s of fuzzing each"
JOBS=$jobs tests/fuzz/run.sh build-fuzz 30 || status=1
[ $status -eq 0 ] && echo "run-all: both builds passed" || echo "run-all: FAILED"
exit $status
