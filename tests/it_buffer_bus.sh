#!/bin/bash
# dpi-buffer live on the bus, fed by dpi-testpub --jsonl standing in for the bridge
# (recorded mitm.* lines published on the bridge's endpoint):
# (a) the analysis queue bound: a burst far faster than one analysis thread — every
#     request received (no gap), requests = analysed + not_analysed, not_analysed > 0,
#     the queue never above buffer.queue_size;
# (b) the ring wraps: dump holds the newest buffer.size requests; a client's context
#     after the wrap holds exactly its requests among them, each paired with its
#     response; responses to requests gone are counted unmatched;
# (c) unusable messages (no request_id, a bad client_ip, oversized) are counted, the
#     worker goes on; so are bus messages that do not decode (the heartbeat's
#     decode_errors, a warning in the log);
# (d) a decision (BAN) for a buffered client replays it;
# (e) memory at the default ring size (10000) full of typical requests: RSS printed and
#     checked against the figure the README states (under 160 MiB);
# (f) a second dpi-buffer on the same run directory is refused; SIGTERM stops the first
#     with exit 0 and removes its socket files (bus and query).
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
buffer="$BUILD_DIR/buffer/dpi-buffer"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
pub="$BUILD_DIR/tests/dpi-testpub"
gen="$SOURCE_DIR/tests/lib/mitm_requests.py"
tmp=$(mktemp -d)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    [ $rc -ne 0 ] && [ -s "$tmp/buffer.log" ] && { echo "--- buffer.log"; tail -n 30 "$tmp/buffer.log"; }
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_buffer_bus: FAIL: $*"; exit 1; }
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}
# config FILE SIZE QUEUE [more YAML lines under buffer:]
config() {
    local file=$1 size=$2 queue=$3; shift 3
    cat > "$file" <<YAML
global:
  run_dir: $tmp/run
bus:
  heartbeat_interval: 1
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  size: $size
  queue_size: $queue
  replay_on_score: 0
YAML
    for line in "$@"; do echo "  $line" >> "$file"; done
}
start_buffer() {
    "$buffer" -c "$1" > "$tmp/buffer.log" 2>&1 &
    buffer_pid=$!; pids+=($buffer_pid)
    wait_for 30 test -S "$tmp/run/buffer.query" || fail "dpi-buffer did not start"
}
stop_buffer() { kill "$buffer_pid"; wait "$buffer_pid" || true; }
# publish FILE: as the bridge, once dpi-buffer has subscribed
publish() {
    "$pub" -c "$cfg" --name bridge-mitm --bind "ipc://$tmp/run/bridge-mitm.pub" \
        --wait-subscriber 10000 --jsonl "$1" || fail "dpi-testpub --jsonl $1"
}
stats() { "$ctl" buffer stats -c "$cfg" --json; }
# settled COUNT: COUNT requests received and each analysed or not
settled() {
    stats > "$tmp/stats.json" 2> /dev/null && $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["requests"] == int(sys.argv[2]) and s["requests"] == s["analysed"] + s["not_analysed"] + s["bad_messages"] + s["oversized"] else 1)' "$tmp/stats.json" "$1"
}

# --- (a) + (b) ---------------------------------------------------------------------
cfg="$tmp/small.yaml"
config "$cfg" 64 8 "analysis_threads: 1"
start_buffer "$cfg"
$PY "$gen" mixed 3000 > "$tmp/burst.jsonl"
publish "$tmp/burst.jsonl"
wait_for 120 settled 3000 || fail "(a) not settled: $(cat "$tmp/stats.json")"
$PY - "$tmp/stats.json" <<'PY' || fail "(a) $(cat "$tmp/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["not_analysed"] > 0 and s["analysed"] > 0 and s["queue_max"] <= 8, s
assert s["responses"] == 3000 and s["ring_entries"] == 64, s
print(f"  burst of 3000: {s['analysed']} analysed, {s['not_analysed']} not (queue max {s['queue_max']})")
PY
"$ctl" buffer dump 100 -c "$cfg" --json > "$tmp/dump.json" || fail "(b) dump"
"$ctl" context 10.0.0.8 --window 3600 -c "$cfg" --json > "$tmp/ctx.json" || fail "(b) context"
$PY - "$tmp/dump.json" "$tmp/ctx.json" "$tmp/stats.json" <<'PY' || fail "(b) ring after wrap"
import json, sys
dump, ctx, s = (json.load(open(p)) for p in sys.argv[1:4])
ids = [r["request_id"] for r in dump["requests"]]
assert ids == [f"r{i}" for i in range(2999, 2935, -1)], ids[:5]
want = [f"r{i}" for i in range(2999, 2935, -1) if i % 50 == 7]   # 10.0.0.8's
assert [r["request_id"] for r in ctx["requests"]] == want, (ctx["requests"], want)
assert all(r["status"] == 200 for r in ctx["requests"]), ctx
# a response right after its request: every one found its request (the ring is 64)
assert s["responses_unmatched"] == 0 and s["ring_overwritten"] == 3000 - 64, s
PY
echo "ok (a) the queue bound: ingest took every request, the excess counted not_analysed"
echo "ok (b) the ring after wrap: newest 64, a client's context, responses paired"

# --- (c) ---------------------------------------------------------------------------
$PY - "$tmp/bad.jsonl" <<'PY'
import json, sys
base = {"topic": "mitm.request", "client_ip": "10.0.0.1", "method": "GET", "path": "/", "host": "h"}
rows = [dict(base, request_id=""), dict(base, request_id="b1", client_ip="not-an-ip"),
        dict(base, request_id="b2", headers=[{"name": "X-Big", "value": "x" * 140000}]),
        dict(base, request_id="b3")]
with open(sys.argv[1], "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
PY
publish "$tmp/bad.jsonl"
wait_for 20 settled 3004 || fail "(c) $(cat "$tmp/stats.json")"
grep -q '"bad_messages":2' "$tmp/stats.json" && grep -q '"oversized":1' "$tmp/stats.json" \
    || fail "(c) counters: $(cat "$tmp/stats.json")"
grep -q "without request_id" "$tmp/buffer.log" || fail "(c) nothing logged"
"$pub" -c "$cfg" --bind "ipc://$tmp/run/bridge-mitm.pub" --topic mitm.request --garbage 30 \
    --wait-subscriber 1000 || fail "(c) garbage not sent"
publish "$tmp/bad.jsonl"          # and the buffer still takes good messages after it
wait_for 20 settled 3008 || fail "(c) after garbage: $(cat "$tmp/stats.json")"
heartbeat_errors() {
    "$ctl" tail -c "$cfg" -n 1 --timeout 5 sys.heartbeat > "$tmp/hb.json" 2> /dev/null \
        && $PY -c 'import json,sys; h=json.load(open(sys.argv[1])); sys.exit(0 if h["name"] == "buffer" and h["decode_errors"] >= 20 else 1)' "$tmp/hb.json"
}
wait_for 20 heartbeat_errors || fail "(c) decode errors not in the heartbeat: $(cat "$tmp/hb.json")"
grep -q "dropped a message on 'mitm.request'" "$tmp/buffer.log" || fail "(c) decode errors not logged"
echo "ok (c) unusable messages and undecodable ones counted and logged; the worker goes on"

# --- (d) ---------------------------------------------------------------------------
"$pub" -c "$cfg" --name correlator --bind "ipc://$tmp/run/correlator.pub" --topic decision \
    --action ban --value 10.0.0.8 -n 1 --wait-subscriber 10000 > /dev/null \
    || fail "(d) decision not published"
replayed() { stats > "$tmp/stats.json" && grep -q '"replays":1' "$tmp/stats.json"; }
wait_for 20 replayed || fail "(d) no replay: $(cat "$tmp/stats.json")"
grep -q "replay of 10.0.0.8 (decision)" "$tmp/buffer.log" || fail "(d) not logged"
echo "ok (d) a BAN decision replays the client"
stop_buffer

# --- (e) ---------------------------------------------------------------------------
cfg="$tmp/default.yaml"
config "$cfg" 10000 16           # few analysed: memory, not speed, is measured here
start_buffer "$cfg"
$PY "$gen" typical 12000 > "$tmp/typical.jsonl"
publish "$tmp/typical.jsonl"
wait_for 120 settled 12000 || fail "(e) not settled: $(cat "$tmp/stats.json")"
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$buffer_pid/status")
bytes=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["ring_bytes"])' "$tmp/stats.json")
echo "  default ring full (10000 typical requests, $((bytes / 1024)) KiB stored): RSS $((rss_kb / 1024)) MiB"
# The sanitizer build's allocator and shadow memory multiply RSS: there the ring's own
# accounting is held to the README's figure for stored requests instead.
if grep -q '^DPI_SANITIZE:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
    [ "$bytes" -lt $((16 * 1024 * 1024)) ] || fail "(e) ring_bytes $bytes over 16 MiB"
else
    [ "$rss_kb" -lt $((160 * 1024)) ] || fail "(e) RSS ${rss_kb} KiB is over the 160 MiB the README states"
fi
echo "ok (e) memory at the default size within the stated bound"

# --- (f) ---------------------------------------------------------------------------
status=0; "$buffer" -c "$cfg" > "$tmp/second.log" 2>&1 || status=$?
[ "$status" = 1 ] && grep -q "already running" "$tmp/second.log" \
    || fail "(f) a second dpi-buffer: exit $status: $(cat "$tmp/second.log")"
kill -0 "$buffer_pid" || fail "(f) the second instance stopped the first"
kill -TERM "$buffer_pid"
status=0; wait "$buffer_pid" || status=$?
[ "$status" = 0 ] || fail "(f) SIGTERM: exit $status"
[ ! -e "$tmp/run/buffer.query" ] && [ ! -e "$tmp/run/buffer.pub" ] \
    || fail "(f) socket files left: $(ls "$tmp/run")"
echo "ok (f) one instance per run directory; SIGTERM exits 0 and removes its sockets"
