#!/bin/bash
# dpi-collector on crafted captures: every scenario of dpi-pcapgen (see
# tests/tools/pcapgen.c) is generated with what the collector must report,
# run through `dpi-collector -r FILE --no-bus --jsonl OUT -c CFG`, and checked
# by tests/collector/check_pcap.py: exit code, summary counters, and per flow
# the tuple, vlan, proto, events and end reason, packets and bytes per
# direction, metadata and the Community ID (computed by the checker).
# Every scenario runs again with tap.threads 3 (but evict). Then: a missing
# file is exit 1 naming it. Any mismatch fails the test.
set -uo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gen="$BUILD_DIR/tests/dpi-pcapgen"
collector="$BUILD_DIR/collector/dpi-collector"
check="$SOURCE_DIR/tests/collector/check_pcap.py"
py=/usr/bin/python3
failed=()

scenarios=$("$gen" --list) || { echo "dpi-pcapgen --list failed"; exit 1; }
test "$(echo "$scenarios" | wc -l)" -ge 20 || { echo "too few scenarios: $scenarios"; exit 1; }
# run_one SCENARIO [THREADS]: generate, run the collector, check
run_one() {
    local s=$1 threads=${2:-} label=$1 f="$tmp/$1.pcap" out="$tmp/$1${2:+.t$2}" rc=0
    [ -n "$threads" ] && label="$s/threads=$threads"
    if ! "$gen" "$s" "$f" "$tmp/$s.expect.json"; then
        echo "FAIL $label: dpi-pcapgen failed"; failed+=("$label"); return
    fi
    "$py" "$check" config "$tmp/$s.expect.json" $threads > "$out.yaml"
    "$collector" -r "$f" --no-bus --jsonl "$out.jsonl" -c "$out.yaml" 2> "$out.err" || rc=$?
    if ! "$py" "$check" check "$tmp/$s.expect.json" "$f" "$out.jsonl" "$out.err" "$rc" "$label"
    then
        failed+=("$label")
        echo "---- $label: collector stderr (exit $rc)"; tail -n 15 "$out.err"
    fi
}

for s in $scenarios; do
    run_one "$s"
done
# the same with 3 worker threads (tap.threads): flows hashed to workers must
# come out the same. Not evict: its table size is per worker there.
for s in $scenarios; do
    [ "$s" = evict ] || run_one "$s" 3
done

# a missing file: exit 1, its name on stderr, nothing read
rc=0
"$collector" -r "$tmp/no-such.pcap" --no-bus --jsonl "$tmp/missing.jsonl" \
    2> "$tmp/missing.err" || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "no-such.pcap" "$tmp/missing.err" \
   || grep -q "Sanitizer" "$tmp/missing.err"; then
    echo "FAIL missing-file: exit $rc (expected 1), stderr:"; cat "$tmp/missing.err"
    failed+=(missing-file)
else
    echo "ok   missing-file: exit 1 naming the file"
fi

if [ ${#failed[@]} -ne 0 ]; then
    echo "it_collector_pcap: FAILED: ${failed[*]}"
    exit 1
fi
echo "it_collector_pcap: ok"
