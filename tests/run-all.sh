#!/bin/bash
# The whole test suite: install what is needed, build twice (normal, and
# ASan+UBSan), and run every ctest test in both builds.
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

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
echo "== tests: normal build"
(cd build && ctest --output-on-failure --timeout 600) || status=1
echo "== tests: sanitizer build (ASan + UBSan)"
(cd build-sanitize && ctest --output-on-failure --timeout 900) || status=1
[ $status -eq 0 ] && echo "run-all: both builds passed" || echo "run-all: FAILED"
exit $status
