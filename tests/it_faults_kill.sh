#!/bin/bash
# it_faults_kill.sh — issue 19, "Faults": kill -9 of each worker under load, and its
# restart by `dpi-dualctl start NAME` (tests/lib/faults.sh: the one-host pipeline in a
# namespace, the load through mitmdump + dpi_bridge.py, the reference tail).
# For each of dpi-collector, dpi-bridge-mitm, dpi-buffer, dpi-correlator, dpi-api, in a
# window of its own between two quiet points (the load runs across the kill and the
# restart):
#   - what the others did: the first message of the new instance on the bus, and by when
#     every subscriber of it had counted the restart (tests/lib/fault_table.py);
#   - messages lost as counted (the subscribers' gaps, the addon's undelivered records)
#     against as lost (the publishers' sequence numbers; the load's requests): equal on
#     every edge, or the test fails;
#   - what the design keeps: dpi-buffer's forensic records written before the kill are
#     exported after it (the cut file reported as such); dpi-correlator's reputation
#     (the banned client is still banned, from reputation.db); the bans are sent again to
#     a restarted bridge (the banned client refused 403 again); while the bridge is gone
#     the addon fails open (every request answered 200, none failed) and counts what it
#     could not hand over; dpi-api answers again.
# A window without a fault comes first (the accounting itself checked). Never fails on
# timing: the times are printed.
NAME=it_faults_kill
. "$SOURCE_DIR/tests/lib/faults.sh"
faults_setup

hb_counter() {      # hb_counter WORKER COUNTER: its value in WORKER's last heartbeat
    $PY - "$TMP/tail.jsonl" "$1" "$2" <<'PY'
import json, sys
v = 0
for l in open(sys.argv[1]):
    if '"sys.heartbeat"' in l and '"name":"%s"' % sys.argv[2] in l:
        m = json.loads(l)
        for c in m.get("counters", []):
            if c["name"] == sys.argv[3]:
                v = c.get("value", 0)
print(v)
PY
}
forensic_count() {  # records exported; the export's stderr in TMP/forensic.err
    { N "$ctl" forensic export -c "$CFG" 2> "$TMP/forensic.err" || true; } | wc -l
}

load_start
sleep 3
quiet "no fault"

kill_case() {       # kill_case WORKER: kill -9 under load, dpi-dualctl start WORKER
    local w=$1 old t_fault t_start before=0 n ok
    load_start
    sleep 1.5
    [ "$w" = buffer ] && before=$(hb_counter buffer forensic_records)
    old=$(wpid "$w")
    t_fault=$(now_ns)
    kill -9 "$old"
    chain_wait 5 bash -c "! kill -0 $old 2> /dev/null" || fail "$w ($old) survived kill -9"
    sleep 1                                 # down, under load
    t_start=$(now_ns)
    restart "$w"
    event "{\"kind\":\"case\",\"case\":\"kill -9\",\"worker\":\"$w\",\"t_fault\":$t_fault,\"t_recover\":$t_start,\"old_pid\":$old}"
    case $w in
    bridge-mitm)
        ok=false
        chain_wait 20 banned_403 && ok=true
        state "kill -9" "$w" $ok "bans sent again ($BANNED 403 again)"
        ok=false
        grep -q "bridge-mitm@[^ ]* (instance [0-9]*) is new to us: [1-9][0-9]* running bans sent again" \
            "$RUN/correlator.log" && ok=true
        state "kill -9" "$w" $ok "correlator: running bans sent again" ;;
    buffer)
        n=$(forensic_count)
        ok=false
        [ "$n" -ge "$before" ] && [ "$before" -gt 0 ] && ok=true
        state "kill -9" "$w" $ok "forensic: $n records readable, $before written before the kill"
        echo "  forensic export after the kill: $(tr '\n' ' ' < "$TMP/forensic.err")" ;;
    correlator)
        ok=false
        N "$ctl" reputation "$BANNED" --json -c "$CFG" > "$TMP/rep.json" 2>&1 \
            && $PY -c 'import json,sys,time; r=json.load(open(sys.argv[1])); r=r.get("reputation",r); sys.exit(0 if r.get("banned_until_ns",0)>time.time()*1e9 else 1)' \
                "$TMP/rep.json" && ok=true
        state "kill -9" "$w" $ok "reputation: $BANNED still banned"
        ok=false
        banned_403 && ok=true
        state "kill -9" "$w" $ok "the bridge still refuses $BANNED" ;;
    api)
        ok=false
        api_status() {
            [ "$(N curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$TMP/api.token")" \
                http://127.0.0.1:8470/api/dpi/status)" = 200 ]
        }
        chain_wait 20 api_status && ok=true
        state "kill -9" "$w" $ok "/api/dpi/status answers 200" ;;
    esac
    sleep 1.5                               # up again, under load
    quiet "after kill -9 $w"
}

for w in collector bridge-mitm buffer correlator api; do
    kill_case "$w"
    ok "kill -9 $w: restarted (pid $(wpid "$w"))"
done
load_start                                  # a last window: the restarted api's counters
sleep 3
quiet "after all"
faults_report
faults_finish
echo "$NAME: ok"
