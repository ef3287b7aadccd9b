#!/bin/bash
# it_faults_hwm.sh — issue 19, "Faults": a subscriber past its high-water mark
# (tests/lib/faults.sh: the one-host pipeline in a namespace, the reference tail).
# dpi-correlator frozen (SIGSTOP) for 10 s while dpi-testpub, standing in for the
# collector on its endpoint, publishes 20000 tap.flow at ~1 a millisecond (bus.sndhwm
# and bus.rcvhwm 1000 here): ZeroMQ drops for the frozen subscriber only, and the
# publisher cannot see it (a PUB socket's drop at the high-water mark is silent: its
# sent counts them, DESIGN §2); after SIGCONT the correlator counts the gap, exactly as
# many as it lost (the publisher's sequence numbers); dpi-api, subscribed to the same
# and not frozen, loses nothing or counts it. Then the collector is started again and a
# window of load checks every edge (tests/lib/fault_table.py). Never fails on timing.
NAME=it_faults_hwm
. "$SOURCE_DIR/tests/lib/faults.sh"
faults_setup


load_start
sleep 2
quiet "no fault"

# --- HWM: a subscriber that stops reading -----------------------------------------------
N "$ctl" stop -c "$CFG" collector > "$TMP/stop.out" 2>&1 || fail "stop collector: $(cat "$TMP/stop.out")"
N "$BUILD_DIR/tests/dpi-testpub" -c "$CFG" --name collector --bind "ipc://$RUN/collector.pub" \
    -n 20000 --interval-ms 1 --wait-subscriber 10000 --heartbeat -q > /dev/null 2> "$TMP/testpub.err" &
testpub_pid=$!
sleep 2
freeze HWM correlator
wait "$testpub_pid" || fail "dpi-testpub: $(cat "$TMP/testpub.err")"
restart collector
ok=false
$PY - "$TMP/tail.jsonl" "$t_cont" > "$TMP/hwm.txt" <<'PY' && ok=true
import json, sys
# the correlator's gaps for the collector's source after SIGCONT: the HWM was reached
t0, g = int(sys.argv[2]), 0
for l in open(sys.argv[1]):
    if '"sys.heartbeat"' in l and '"name":"correlator"' in l:
        m = json.loads(l)
        if m["header"]["ts_ns"] > t0:
            for r in m.get("received", []):
                if r["source"].startswith("collector@"):
                    g = max(g, int(r.get("gaps", 0)))
print(g)
sys.exit(0 if g > 0 else 1)
PY
state HWM correlator $ok "the high-water mark was reached (gaps counted: $(cat "$TMP/hwm.txt"))"
quiet "after HWM"
ok "HWM: the correlator frozen under 20000 tap.flow, SIGCONT; the collector back"

load_start                                  # a last window: the collector restarted
sleep 2
quiet "after all"
faults_report
faults_finish
echo "$NAME: ok"
