#!/bin/bash
# it_faults_stop.sh — issue 19, "Faults": a frozen worker (tests/lib/faults.sh: the
# one-host pipeline in a namespace, the load through HAProxy -> mitmdump +
# dpi_bridge.py, the reference tail; the high-water mark: it_faults_hwm.sh).
#   - SIGSTOP for 10 s then SIGCONT, under load, of each of dpi-collector,
#     dpi-bridge-mitm, dpi-buffer, dpi-correlator, dpi-api: a frozen publisher and
#     subscriber at once. Within the high-water marks (bus.sndhwm/rcvhwm 1000 here)
#     nothing may be lost; the addon fails open while the bridge is frozen (every
#     request answered, none failed) and counts what it could not hand over; the
#     worker goes on with the same pid; the bridge refuses the banned client again;
# In every window between two quiet points: messages lost as counted (the subscribers'
# gaps, the addon's undelivered) against as lost (the publishers' sequence numbers, the
# load's requests), equal on every edge or the test fails (tests/lib/fault_table.py).
# Never fails on timing: the times are printed.
NAME=it_faults_stop
. "$SOURCE_DIR/tests/lib/faults.sh"
faults_setup


load_start
sleep 3
quiet "no fault"

stop_case() {       # stop_case WORKER: SIGSTOP 10 s under load, SIGCONT
    local w=$1 p ok
    load_start
    sleep 1
    p=$(wpid "$w")
    freeze "SIGSTOP 10 s" "$w"
    sleep 1
    ok=false
    alive "$p" && [ "$(wpid "$w")" = "$p" ] && ok=true
    state "SIGSTOP 10 s" "$w" $ok "goes on (same pid)"
    if [ "$w" = bridge-mitm ]; then
        ok=false
        chain_wait 10 banned_403 && ok=true
        state "SIGSTOP 10 s" "$w" $ok "$BANNED refused again (403)"
    fi
    quiet "after SIGSTOP $w"
}

for w in collector bridge-mitm buffer correlator api; do
    stop_case "$w"
    ok "SIGSTOP 10 s $w, SIGCONT: goes on (pid $(wpid "$w"))"
done

load_start                                  # a last window
sleep 2
quiet "after all"
faults_report
faults_finish
echo "$NAME: ok"
