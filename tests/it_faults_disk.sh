#!/bin/bash
# it_faults_disk.sh — a full disk under every file a worker writes (issue 19, Faults), on a
# tmpfs of 8 MiB mounted in a private mount namespace of the test (unshare -m: the mount goes
# with the test). The real pipeline on loopback: requests sent to dpi-bridge-mitm's socket
# as the addon sends them (tests/lib/bridge_send.py: SQL injections of attackers, clean
# requests), dpi-buffer (CRS, forensic log mode all), dpi-correlator (threats, bans,
# correlation.output), global.compat. Files on the tmpfs: the bridge's threats.log, the
# forensic log, correlation.output, the compat files (correlated-threats.json,
# ip-reputation.json, dpi-buffer.json), the correlator's state; and dpi-collector --jsonl.
# Phases: 1 traffic with room; 2 the disk filled (dd until ENOSPC) and traffic; 3 the filler
# removed and traffic again. Checked:
#  - during the fault: every live verdict answered, the workers up, each failure logged
#    with the path and the errno (rate-limited: fewer lines than failures) and counted in
#    the heartbeat;
#  - after: every line of every JSON-lines file is whole, valid JSON (no half line) and the
#    lines lost as counted equal the lines actually missing: threats.log lines +
#    threats_log_errors = blocks answered; correlation.output and correlated-threats.json
#    lines + output_errors = 2 x threats; forensic records exported (dpi-dualctl forensic
#    export) = forensic_records, and analysed = records + forensic_write_errors +
#    forensic_skipped; writing resumed (phase 3's attackers are in every file);
#  - the compat snapshots are whole JSON (never a part) and failures counted (compat_errors,
#    output_errors of the buffer);
#  - the correlator's state: a save on a full disk fails (logged, counted), the old file is
#    kept whole and loaded by the next start;
#  - dpi-collector -r --jsonl on a full disk: exit 3, whole lines, lines in the file + lines
#    lost (its log) = the lines of the same run on a disk with room.
# A table of the cases with the figures is printed at the end.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
if [[ -z ${IT_FAULTS_DISK_NS:-} ]]; then
    IT_FAULTS_DISK_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
PY=/usr/bin/python3
b=$BUILD_DIR
. "$SOURCE_DIR/tests/lib/pipeline.sh"     # pl_yaml, pl_start, pl_snap, pl_counter, pl_send
ctl="$b/ctl/dpi-dualctl"
tmp=$(mktemp -d /tmp/it_faults_disk.XXXXXX)
disk=$tmp/disk
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for log in bridge.log buffer.log correlator.log correlator2.log correlator3.log; do
            [ -s "$tmp/$log" ] && { echo "--- $log"; tail -n 25 "$tmp/$log"; }
        done
    fi
    umount "$disk" 2> /dev/null || true
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_faults_disk: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done
}
rows=()
row() { rows+=("$(printf '%-44s %s' "$1" "$2")"); }

mkdir -p "$disk"
mount -t tmpfs -o size=8m,mode=0755 it_faults_disk "$disk" || fail "cannot mount a tmpfs"
run=$tmp/run
mkdir -p "$run"
cfg=$tmp/dpi-dual.yaml
cat > "$cfg" <<YAML
global:
  host: faultdisk
  run_dir: $run
  state_dir: $disk/state
  compat: true
  compat_dir: $disk/compat
correlation:
  output: $disk/threats.jsonl
  threat_threshold: 50
YAML
{ pl_yaml "$run"; pl_yaml_buffer; } >> "$cfg"
cat >> "$cfg" <<YAML
  forensic:
    mode: all
    dir: $disk/forensic
    key_file: $tmp/forensic.key
YAML
"$ctl" keys forensic -c "$cfg" > /dev/null || fail "dpi-dualctl keys forensic"
"$ctl" config check "$cfg" > /dev/null || fail "config check refuses the test config"

# --- heartbeat counters: one status snapshot, then counter WORKER NAME ------------------------
snap() { pl_snap "$cfg" "$tmp/status.json"; }
counter() { pl_counter "$tmp/status.json" "$1" "$2"; }
# until every counter of WORKER named in NAMES... holds still over two snapshots
settle() {
    local worker=$1; shift
    local prev= cur= n
    for _ in $(seq 1 40); do
        snap
        cur=
        for n in "$@"; do cur+="$(counter "$worker" "$n") "; done
        [[ -n $prev && $cur == "$prev" && $cur != *-1* ]] && return 0
        prev=$cur
    done
    return 1
}
# jsonl_check FILE: every line whole, valid JSON (a dict); prints the count of lines
jsonl_check() {
    $PY - "$1" <<'EOF'
import json, sys
data = open(sys.argv[1], "rb").read()
if data and not data.endswith(b"\n"):
    sys.exit("%s: ends in half a line: %r" % (sys.argv[1], data[-80:]))
n = 0
for i, line in enumerate(data.split(b"\n")[:-1], 1):
    try:
        assert isinstance(json.loads(line), dict)
    except Exception as e:
        sys.exit("%s: line %d is not whole JSON (%s): %r" % (sys.argv[1], i, e, line[:120]))
    n += 1
print(n)
EOF
}
count_in() { grep -c -F -- "$2" "$1" || true; }

# --- start: bridge, buffer, correlator ------------------------------------------------------
pl_start "$cfg" "$run" "$tmp"
bridge_pid=${pl_pid[bridge-mitm]} buffer_pid=${pl_pid[buffer]} cor_pid=${pl_pid[correlator]}
ok "bridge, buffer, correlator up and subscribed"

send() {  # send NET ATTACKERS BENIGN: appends the driver's result to $tmp/sent.jsonl
    pl_send "$run/bridge-mitm.sock" "$1" "$2" "$3" | tee -a "$tmp/sent.jsonl" > "$tmp/last.json"
}
field() { $PY -c "import json,sys; print(json.load(open('$tmp/last.json'))['$1'])"; }
alive() { local p; for p in $bridge_pid $buffer_pid $cor_pid; do kill -0 "$p" 2> /dev/null || return 1; done; }

# --- phase 1: room -------------------------------------------------------------------------
send 11 20 20
[[ $(field timeouts) -eq 0 ]] || fail "phase 1: $(field timeouts) verdicts not answered"
settle correlator threats output_errors || fail "phase 1: the correlator's counters never settled"
t1=$(counter correlator threats)
[[ $t1 -ge 20 ]] || fail "phase 1: $t1 threats for 20 attackers"
grep -q '"ip":"10.11.0.1"' "$disk/threats.jsonl" || fail "phase 1: no threat line for 10.11.0.1"
ok "phase 1 (room): $t1 threats, files written"

# --- phase 2: the disk full ----------------------------------------------------------------
dd if=/dev/zero of="$disk/filler" bs=64k 2> /dev/null || true
[[ $(df --output=avail -B1 "$disk" | tail -1) -lt 65536 ]] || fail "the tmpfs is not full"
t_full=$(date +%s%N)
send 12 40 40
p2_timeouts=$(field timeouts) p2_verdicts=$(field verdicts) p2_ms=$(field ms_max)
[[ $p2_timeouts -eq 0 ]] || fail "phase 2: $p2_timeouts live verdicts not answered on a full disk"
alive || fail "a worker died on the full disk"
settle correlator threats output_errors || fail "phase 2: the correlator's counters never settled"
sleep 11            # the compat snapshots (every 10 s) meet the full disk too
snap
e_out=$(counter correlator output_errors) e_compat=$(counter correlator compat_errors)
e_fx=$(counter buffer forensic_write_errors) e_bcompat=$(counter buffer output_errors)
e_tl=$(counter bridge-mitm threats_log_errors)
[[ $e_out -gt 0 ]] || fail "phase 2: no output_errors counted on a full disk"
[[ $e_fx -gt 0 ]] || fail "phase 2: no forensic_write_errors counted on a full disk"
[[ $e_tl -gt 0 ]] || fail "phase 2: no threats_log_errors counted on a full disk"
[[ $e_compat -gt 0 ]] || fail "phase 2: ip-reputation.json: no compat_errors counted"
[[ $e_bcompat -gt 0 ]] || fail "phase 2: dpi-buffer.json: no output_errors counted"
for pat in "$disk/threats.jsonl: cannot write: No space left on device" \
           "$disk/compat/correlated-threats.json: cannot write: No space left on device" \
           "$disk/compat/ip-reputation.json: cannot write: No space left on device"; do
    grep -qF "$pat" "$tmp/correlator.log" || fail "the correlator did not log: $pat"
done
grep -qE "$disk/forensic/forensic-.*: cannot (write|create): No space left on device" "$tmp/buffer.log" \
    || fail "the buffer did not log the forensic log's full disk"
grep -qF "$disk/compat/dpi-buffer.json: cannot write: No space left on device" "$tmp/buffer.log" \
    || fail "the buffer did not log dpi-buffer.json's full disk"
grep -qF "$disk/compat/threats.log: cannot append: No space left on device" "$tmp/bridge.log" \
    || fail "the bridge did not log threats.log's full disk"
n_log=$(grep -c 'threats.jsonl: cannot write' "$tmp/correlator.log")
[[ $n_log -lt $e_out ]] || fail "not rate-limited: $n_log log lines for $e_out failures"
row "full disk: live verdicts answered" "$p2_verdicts/$((p2_verdicts + p2_timeouts)), slowest $p2_ms ms"
row "full disk: correlator.output lines failed" "$e_out counted, $n_log log lines (rate-limited)"
row "full disk: forensic records lost" "$e_fx counted"
row "full disk: threats.log lines failed" "$e_tl counted"
row "full disk: compat snapshots failed" "ip-reputation $e_compat, dpi-buffer $e_bcompat"
ok "phase 2 (full): verdicts answered, workers up, failures logged and counted"

# --- phase 3: room again --------------------------------------------------------------------
rm -f "$disk/filler"
t_free=$(date +%s%N)
send 13 20 20
[[ $(field timeouts) -eq 0 ]] || fail "phase 3: $(field timeouts) verdicts not answered"
resumed() { grep -q '"ip":"10.13.0.1"' "$disk/threats.jsonl" 2> /dev/null; }
wait_for 30 resumed || fail "phase 3: correlation.output did not resume"
t_resumed=$(date +%s%N)
row "recovery: first line after the space freed" "$(( (t_resumed - t_free) / 1000000 )) ms (traffic included)"
settle correlator threats output_errors || fail "phase 3: counters never settled"
settle buffer analysed forensic_records forensic_write_errors || fail "phase 3: buffer counters"
settle bridge-mitm threats_logged threats_log_errors || fail "phase 3: bridge counters"
sleep 11
snap
alive || fail "a worker died"

# --- exactness: counted lost = actually lost ------------------------------------------------
blocks=$(cat "$tmp/pl_warm.jsonl" "$tmp/sent.jsonl" | jq -s 'map(.blocks) | add')
tl_lines=$(jsonl_check "$disk/compat/threats.log") || fail "threats.log: $tl_lines"
tl_err=$(counter bridge-mitm threats_log_errors) tl_ok=$(counter bridge-mitm threats_logged)
[[ $tl_lines -eq $tl_ok && $((tl_lines + tl_err)) -eq $blocks ]] \
    || fail "threats.log: $tl_lines lines + $tl_err counted lost != $blocks blocks (threats_logged $tl_ok)"
row "threats.log: lines + counted lost = blocks" "$tl_lines + $tl_err = $blocks"
threats=$(counter correlator threats) out_err=$(counter correlator output_errors)
o_lines=$(jsonl_check "$disk/threats.jsonl") || fail "$o_lines"
c_lines=$(jsonl_check "$disk/compat/correlated-threats.json") || fail "$c_lines"
[[ $((o_lines + c_lines + out_err)) -eq $((2 * threats)) ]] \
    || fail "correlator: $o_lines + $c_lines lines + $out_err counted lost != 2 x $threats threats"
row "correlation.output + compat lines + lost = 2T" "$o_lines + $c_lines + $out_err = 2 x $threats"
for f in threats.jsonl compat/correlated-threats.json compat/threats.log; do
    grep -q '10.13.0.1"' "$disk/$f" || fail "$f: writing did not resume (no 10.13.0.1)"
done
for f in compat/ip-reputation.json compat/dpi-buffer.json; do
    $PY -c "import json; json.load(open('$disk/$f'))" || fail "$f is not whole JSON"
done
grep -q '"10.13.0.1"' "$disk/compat/ip-reputation.json" || fail "ip-reputation.json not replaced after the fault"
ls "$disk/compat" | grep -q '\.tmp\.' && fail "a temporary snapshot file left in compat/"
row "compat snapshots after the fault" "whole JSON, replaced again, no temporary file"
analysed=$(counter buffer analysed) recs=$(counter buffer forensic_records)
fx_err=$(counter buffer forensic_write_errors) skipped=$(counter buffer forensic_skipped)
kill -TERM $buffer_pid; wait $buffer_pid || true
set +e
"$ctl" forensic export -c "$cfg" > "$tmp/forensic.jsonl" 2> "$tmp/forensic.err"
fx_status=$?
set -e
[[ $fx_status -eq 0 || $fx_status -eq 3 ]] || { cat "$tmp/forensic.err"; fail "forensic export: exit $fx_status"; }
exported=$(jsonl_check "$tmp/forensic.jsonl") || fail "forensic export: $exported"
grep -q 'tampered\|authentication' "$tmp/forensic.err" && { cat "$tmp/forensic.err"; fail "forensic: a file reads as tampered"; }
cut_files=$(grep -c '(truncated)' "$tmp/forensic.err" || true)
[[ $exported -eq $recs ]] || { cat "$tmp/forensic.err"; fail "forensic: $exported records read back, $recs written"; }
[[ $analysed -eq $((recs + fx_err + skipped)) ]] \
    || fail "forensic: analysed $analysed != $recs written + $fx_err lost + $skipped skipped"
grep -q '"client_ip":"10.11.0.1"' "$tmp/forensic.jsonl" || fail "forensic: phase 1's records not readable"
grep -q '"client_ip":"10.13.0.1"' "$tmp/forensic.jsonl" || fail "forensic: writing did not resume"
row "forensic: read back + counted lost = analysed" "$exported + $fx_err + $skipped = $analysed ($cut_files files cut short by the full disk)"
ok "exact: every line whole, counted lost = actually lost, writing resumed"

# --- the correlator's state: a save on a full disk keeps the old file ----------------------
kill -TERM $cor_pid; wait $cor_pid || true
state=$disk/state/reputation.db      # (the bridge keeps its compiled rules there too)
[[ -s $state ]] || fail "no $state after a stop with room"
"$b/correlator/dpi-correlator" -c "$cfg" > "$tmp/correlator2.log" 2>&1 & pids+=($!); cor_pid=$!
wait_for 30 test -S "$run/correlator.query" || fail "dpi-correlator (2) did not start"
sleep 2             # its first save (at start) done; the next one is due in 60 s
dd if=/dev/zero of="$disk/filler" bs=64k 2> /dev/null || true
cp "$state" "$tmp/state.before"
kill -TERM $cor_pid; wait $cor_pid || true
grep -qF "$state" "$tmp/correlator2.log" && grep -q 'No space left on device' "$tmp/correlator2.log" \
    || fail "the failed state save was not logged"
cmp -s "$state" "$tmp/state.before" || fail "the state file changed on a failed save"
ls "$disk/state" | grep -q '\.tmp\.' && fail "a temporary state file left behind"
rm -f "$disk/filler"
"$b/correlator/dpi-correlator" -c "$cfg" > "$tmp/correlator3.log" 2>&1 & pids+=($!); cor_pid=$!
wait_for 30 test -S "$run/correlator.query" || fail "dpi-correlator (3) did not start"
"$ctl" reputation 10.11.0.1 -c "$cfg" --json > "$tmp/rep.json" || fail "dpi-dualctl reputation"
$PY -c "import json; d=json.load(open('$tmp/rep.json')); assert d.get('events', 0) >= 1, d" \
    || fail "the state kept on the failed save was not loaded: $(cat "$tmp/rep.json")"
row "state: save on a full disk" "logged, old file kept whole, loaded on the next start"
ok "correlator state: a failed save keeps the old file, the next start loads it"

# --- dpi-collector -r --jsonl on a full disk --------------------------------------------------
"$b/tests/dpi-pcapgen" evict "$tmp/cap.pcap" > /dev/null      # 2200 flow events
ccfg=$tmp/collector.yaml
printf 'global:\n  run_dir: %s/crun\n' "$tmp" > "$ccfg"
"$b/collector/dpi-collector" -c "$ccfg" -r "$tmp/cap.pcap" --no-bus --jsonl "$tmp/ref.jsonl" \
    > /dev/null 2> "$tmp/cref.log" || fail "dpi-collector -r (room) failed"
ref=$(jsonl_check "$tmp/ref.jsonl") || fail "$ref"
head -c 100000 /dev/zero > "$disk/room"      # ~100 kB left once the rest is full
dd if=/dev/zero of="$disk/filler" bs=64k 2> /dev/null || true
rm -f "$disk/room"
set +e
"$b/collector/dpi-collector" -c "$ccfg" -r "$tmp/cap.pcap" --no-bus --jsonl "$disk/x" \
    > /dev/null 2> "$tmp/cfull.log"
cstatus=$?
set -e
[[ $cstatus -eq 3 ]] || { cat "$tmp/cfull.log"; fail "dpi-collector on a full disk: exit $cstatus, not 3"; }
got=$(jsonl_check "$disk/x") || fail "$got"
lost=$(sed -n 's/.*writes failed (see above), \([0-9]*\) --jsonl lines lost.*/\1/p' "$tmp/cfull.log")
[[ -n $lost && $((got + lost)) -eq $ref ]] \
    || { cat "$tmp/cfull.log"; fail "collector --jsonl: $got lines + ${lost:-?} lost != $ref"; }
grep -qF "$disk/x: cannot write: No space left on device" "$tmp/cfull.log" || fail "collector: no precise error"
row "collector --jsonl: lines + counted lost = ref" "$got + $lost = $ref (exit 3)"
ok "dpi-collector --jsonl on a full disk: exit 3, whole lines, exact loss"

pl_clean_logs "$tmp"/*.log
echo
echo "it_faults_disk: case                                        figures"
for r in "${rows[@]}"; do echo "  $r"; done
echo "it_faults_disk: ok"
