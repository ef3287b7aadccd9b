#!/bin/bash
# Quick start: install what is needed, build, and run the main job on an
# embedded default. Run as root from the top of the source tree:
#     deploy/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)"

run=$(mktemp -d /tmp/dpi-dual-demo.XXXXXX)
trap 'rm -rf "$run"' EXIT
cat > "$run/dpi-dual.yaml" <<YAML
global:
  run_dir: $run
YAML

echo "== demo: a test publisher sends 8 flow events on the bus; dpi-dualctl tail decodes them"
build/ctl/dpi-dualctl tail -c "$run/dpi-dual.yaml" -n 8 --timeout 15 &
tail_pid=$!
build/tests/dpi-testpub -c "$run/dpi-dual.yaml" --name collector -n 8 --quiet --wait-subscriber 10000
wait $tail_pid
