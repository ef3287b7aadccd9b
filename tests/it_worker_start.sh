#!/bin/bash
# The worker skeleton (common/worker.c) with the real collector and bridge:
#  1. one instance per run directory: a second collector (offline, same
#     config) and a second bridge exit 1 "NAME already running (pid N)" and
#     leave the first one's sockets alone (it keeps publishing);
#  2. a worker killed with -9 leaves a stale socket; the next one starts
#     anyway, and a clean exit removes the socket files it bound;
#  3. an offline run loses nothing to a subscriber started before it, with
#     no --wait-subscriber (five runs in a row, every event counted), and
#     says how many events went to no subscriber when there is none;
#  4. a full disk: --jsonl /dev/full is an error naming the file, exit 3;
#  5. SIGHUP reopens --jsonl (logrotate) and does not stop the collector;
#  6. the common options: --help (every option, the exit codes), --version,
#     -q (no info lines), bad usage and bad numbers exit 2; SIGINT ends a
#     --wait-subscriber wait.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
tmp=$(mktemp -d)
cleanup () {
    for pid in $(jobs -p); do kill -9 "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
collector="$BUILD_DIR/collector/dpi-collector"; bridge="$BUILD_DIR/bridge-mitm/dpi-bridge-mitm"
ctl="$BUILD_DIR/ctl/dpi-dualctl"; gen="$BUILD_DIR/tests/dpi-pcapgen"; py=/usr/bin/python3
fail () { echo "it_worker_start: FAIL: $*" >&2; exit 1; }
run=$tmp/run
cat > "$tmp/cfg.yaml" <<YAML
global:
  run_dir: $run
  host: starthost
mitm:
  rules_file: ""
bus:
  heartbeat_interval: 1
YAML
"$gen" tcp-http "$tmp/http.pcap" > /dev/null
"$gen" dns "$tmp/dns.pcap" > /dev/null

# wait_for FILE: until it exists (30 s at most: sanitizer builds start slowly)
wait_for () { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
# heartbeat_pid: the pid in the next heartbeat of NAME on the bus
heartbeat_pid () {
    "$ctl" tail -c "$tmp/cfg.yaml" -n 1 --timeout 5 sys.heartbeat 2> /dev/null \
        | "$py" -c 'import json,sys; print(json.loads(sys.stdin.readline())["pid"])'
}

# --- 1. a second instance --------------------------------------------------------
"$collector" -c "$tmp/cfg.yaml" -i lo -q 2> "$tmp/live.err" &
live=$!
wait_for "$run/collector.pub" || fail "the live collector did not bind: $(cat "$tmp/live.err")"
inode=$(stat -c %i "$run/collector.pub")
rc=0; "$collector" -c "$tmp/cfg.yaml" -r "$tmp/dns.pcap" 2> "$tmp/second.err" || rc=$?
[ $rc -eq 1 ] || fail "second collector: exit $rc, expected 1: $(cat "$tmp/second.err")"
grep -q "collector already running (pid $live; lock $run/collector.lock)" "$tmp/second.err" \
    || fail "second collector: $(cat "$tmp/second.err")"
[ "$(stat -c %i "$run/collector.pub")" = "$inode" ] || fail "the second collector replaced the socket"
[ "$(heartbeat_pid)" = "$live" ] || fail "the first collector no longer answers on the bus"
"$ctl" status -c "$tmp/cfg.yaml" --timeout 3 > "$tmp/status" 2>&1 || true
grep -q "^collector@starthost: running, pid $live" "$tmp/status" || fail "status: $(cat "$tmp/status")"
echo "ok   second collector refused; the first one still publishes (pid $live)"

"$bridge" -c "$tmp/cfg.yaml" 2> "$tmp/bridge1.err" &
bridge1=$!
wait_for "$run/bridge-mitm.sock" || fail "the bridge did not start: $(cat "$tmp/bridge1.err")"
sock_inode=$(stat -c %i "$run/bridge-mitm.sock"); pub_inode=$(stat -c %i "$run/bridge-mitm.pub")
rc=0; "$bridge" -c "$tmp/cfg.yaml" 2> "$tmp/bridge2.err" || rc=$?
[ $rc -eq 1 ] || fail "second bridge: exit $rc"
grep -q "bridge-mitm already running (pid $bridge1;" "$tmp/bridge2.err" || fail "$(cat "$tmp/bridge2.err")"
[ "$(stat -c %i "$run/bridge-mitm.sock")" = "$sock_inode" ] \
    && [ "$(stat -c %i "$run/bridge-mitm.pub")" = "$pub_inode" ] \
    || fail "the second bridge touched the first one's sockets"
kill -TERM $bridge1; wait $bridge1 || fail "bridge: exit $? on SIGTERM"
for f in bridge-mitm.sock bridge-mitm.pub; do
    [ -e "$run/$f" ] && fail "the bridge left $f behind"
done
echo "ok   second bridge refused; a clean exit removed its sockets"

# --- 2. a stale socket -------------------------------------------------------------
kill -9 $live; wait $live 2> /dev/null || true
[ -S "$run/collector.pub" ] || fail "expected a stale socket after kill -9"
"$collector" -c "$tmp/cfg.yaml" -i lo -q 2> "$tmp/live2.err" &
live=$!
sleep 0.5
[ "$(heartbeat_pid)" = "$live" ] || fail "the new collector does not publish: $(cat "$tmp/live2.err")"

# --- 5. (with this live collector) SIGHUP reopens --jsonl ----------------------------
kill -INT $live; wait $live || fail "collector: exit $? on SIGINT"
[ -e "$run/collector.pub" ] && fail "a clean exit left collector.pub behind"
[ -e "$run/collector.lock" ] || fail "the lock file should stay"
echo "ok   after kill -9 a new collector starts; SIGINT removes its socket"

"$collector" -c "$tmp/cfg.yaml" -i lo --jsonl "$tmp/live.jsonl" 2> "$tmp/hup.err" &
live=$!
wait_for "$tmp/live.jsonl" || fail "no --jsonl file"
sleep 0.3
mv "$tmp/live.jsonl" "$tmp/live.jsonl.1"
kill -HUP $live
wait_for "$tmp/live.jsonl" || fail "SIGHUP did not reopen --jsonl: $(cat "$tmp/hup.err")"
kill -0 $live 2> /dev/null || fail "SIGHUP stopped the collector"
"$py" - <<'PY'
import socket, time
for port in range(40100, 40110):     # UDP flows on lo: END (shutdown) events at exit
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x" * 20, ("127.0.0.1", port)); s.close()
time.sleep(0.3)
PY
kill -INT $live; wait $live || fail "collector: exit $? after SIGHUP and SIGINT"
grep -q "live.jsonl reopened" "$tmp/hup.err" || fail "$(cat "$tmp/hup.err")"
grep -q '"event":"END"' "$tmp/live.jsonl" || fail "no END event in the reopened file"
echo "ok   SIGHUP reopened --jsonl ($(wc -l < "$tmp/live.jsonl") events after it), the collector went on"

# --- 3. offline: a subscriber started first loses nothing ----------------------------
for i in 1 2 3 4 5; do
    "$ctl" tail -c "$tmp/cfg.yaml" --count-only --timeout 15 tap.flow > /dev/null 2> "$tmp/tail.err" &
    tail_pid=$!
    sleep 1                 # tail is running (and trying to connect) before the run
    "$collector" -c "$tmp/cfg.yaml" -r "$tmp/http.pcap" -r "$tmp/dns.pcap" 2> "$tmp/off.err" \
        || fail "offline run $i: exit $?"
    kill -INT $tail_pid; wait $tail_pid || true
    events=$(sed -n 's/.*events: \([0-9]*\) detected, \([0-9]*\) update, \([0-9]*\) end, \([0-9]*\) not delivered.*/\1 \2 \3 \4/p' "$tmp/off.err")
    read -r d u e nd <<< "$events"
    got=$(sed -n 's/^tail: \([0-9]*\) messages.*/\1/p' "$tmp/tail.err")
    [ -n "$d" ] && [ "$got" = $((d + u + e)) ] && [ "$nd" = 0 ] \
        || fail "offline run $i: tail received ${got:-?} of $((d + u + e)) events (not delivered $nd)"
done
echo "ok   five offline runs: the subscriber received all $got events each time"
"$collector" -c "$tmp/cfg.yaml" -r "$tmp/http.pcap" 2> "$tmp/alone.err"
grep -Eq "events: ([0-9]+) detected, 0 update, ([0-9]+) end, ([1-9][0-9]*) not delivered \(\3 with no subscriber" \
    "$tmp/alone.err" || fail "no subscriber, yet: $(grep events "$tmp/alone.err")"
echo "ok   with no subscriber the summary says the events went to nobody"

# --- 4. a full disk ----------------------------------------------------------------
rc=0; "$collector" -c "$tmp/cfg.yaml" -r "$tmp/dns.pcap" --no-bus --jsonl /dev/full 2> "$tmp/full.err" || rc=$?
[ $rc -eq 3 ] || fail "--jsonl /dev/full: exit $rc, expected 3"
grep -q "/dev/full: cannot write: No space left on device" "$tmp/full.err" || fail "$(cat "$tmp/full.err")"
echo "ok   --jsonl /dev/full: exit 3, the path and the error said"

# --- 6. the common options -----------------------------------------------------------
for bin in "$collector" "$bridge"; do
    name=$(basename "$bin")
    "$bin" --help > "$tmp/help" || fail "$name --help: exit $?"
    for word in -c, --config -q, --quiet -v, --verbose --version -h, --help "Exit status:" \
                "  3  data:" "SIGHUP" "SIGINT"; do
        grep -qe "$word" "$tmp/help" || fail "$name --help lacks '$word'"
    done
    "$bin" --version | grep -q "^$name [0-9]" || fail "$name --version"
    rc=0; "$bin" --no-such-option 2> /dev/null || rc=$?
    [ $rc -eq 2 ] || fail "$name --no-such-option: exit $rc, expected 2"
done
for word in --interface --read --jsonl --no-bus --wait-subscriber; do
    grep -qe "$word" <("$collector" --help) || fail "dpi-collector --help lacks $word"
done
for bad in abc -5 1e9 3x ""; do
    rc=0; "$collector" -r "$tmp/dns.pcap" --no-bus --wait-subscriber "$bad" 2> "$tmp/num.err" || rc=$?
    [ $rc -eq 2 ] && grep -q "expected seconds" "$tmp/num.err" \
        || fail "--wait-subscriber '$bad': exit $rc: $(cat "$tmp/num.err")"
done
"$collector" -c "$tmp/cfg.yaml" -r "$tmp/dns.pcap" --no-bus -q 2> "$tmp/quiet.err"
[ ! -s "$tmp/quiet.err" ] || fail "collector -q printed: $(cat "$tmp/quiet.err")"
"$bridge" -c "$tmp/cfg.yaml" -q 2> "$tmp/bq.err" &
bq=$!; wait_for "$run/bridge-mitm.sock"; kill -TERM $bq; wait $bq
grep -q " info: " "$tmp/bq.err" && fail "bridge -q logged info lines: $(cat "$tmp/bq.err")"
# SIGINT ends a --wait-subscriber wait at once (signals are read during it)
"$collector" -c "$tmp/cfg.yaml" -r "$tmp/dns.pcap" --wait-subscriber 600 -q 2> "$tmp/waitint.err" &
w=$!; sleep 1; start=$(date +%s); kill -INT $w
rc=0; wait $w || rc=$?
[ $rc -eq 0 ] && [ $(( $(date +%s) - start )) -lt 60 ] \
    || fail "SIGINT during --wait-subscriber: exit $rc after $(( $(date +%s) - start )) s"
echo "it_worker_start: ok"
