#!/bin/bash
# dpi-bridge-mitm on its unix socket and the bus: verdicts (allow, rule,
# ban file, decisions from the bus with expiry and UNBAN), mitm.request /
# mitm.response / mitm.verdict with an independently computed Community ID,
# garbage counted by reason in the heartbeat while the bridge keeps serving,
# threats.log (global.compat), SIGHUP reload of the ban file, start-up
# errors, stale socket, clean exit on SIGTERM.
set -euo pipefail
tmp=$(mktemp -d)
cleanup () {
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
bridge="$BUILD_DIR/bridge-mitm/dpi-bridge-mitm"
testpub="$BUILD_DIR/tests/dpi-testpub"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
rules="$SOURCE_DIR/deploy/bridge-mitm/rules.yaml"
py=/usr/bin/python3
helper="$SOURCE_DIR/tests/mitm/bridge_socket.py"

fail () { echo "it_bridge_socket: $*"; echo "--- bridge stderr"; cat "$tmp"/*.err 2>/dev/null || true; exit 1; }

# must_fail NAME CONFIG: the bridge refuses to start: exit status 1, a
# clean exit (no sanitizer report), stderr in $tmp/NAME.log
must_fail () {
    local rc=0
    "$bridge" -c "$2" 2> "$tmp/$1.log" || rc=$?
    test $rc -eq 1 || fail "$1: exit status $rc, expected 1: $(cat "$tmp/$1.log")"
    if grep -q Sanitizer "$tmp/$1.log"; then fail "$1: $(cat "$tmp/$1.log")"; fi
}

write_config () {   # NAME RULES_FILE_LINE BAN_FILE
    cat > "$tmp/$1.yaml" <<YAML
global:
  host: bridgehost
  run_dir: $tmp/run-$1
  compat: true
  compat_dir: $tmp/compat-$1
bus:
  heartbeat_interval: 1
tap:
  community_id_seed: 0
mitm:
$2
  ban_file: "$3"
  max_record_bytes: 4096
  body_bytes: 1024
YAML
}

# --- 1. start-up errors name what failed --------------------------------
write_config missing "  rules_file: $tmp/nope.yaml" ""
must_fail start1 "$tmp/missing.yaml"
grep -q "$tmp/nope.yaml: cannot open: No such file or directory" "$tmp/start1.log" \
    || fail "missing rules file not named: $(cat "$tmp/start1.log")"
test ! -e "$tmp/run-missing/bridge-mitm.sock" || fail "socket left behind by a failed start"

cat > "$tmp/broken-rules.yaml" <<'YAML'
rules:
  - id: good
    category: x
    severity: 2
    fields: [path]
    pattern: 'abc'
  - id: broken-rule
    category: x
    severity: 2
    fields: [query]
    pattern: '(abc'
YAML
write_config badrules "  rules_file: $tmp/broken-rules.yaml" ""
must_fail start2 "$tmp/badrules.yaml"
grep -q "broken-rules.yaml:7: rule 'broken-rule': pattern does not compile" "$tmp/start2.log" \
    || fail "bad pattern not named: $(cat "$tmp/start2.log")"

printf '192.0.2.1\n192.0.2.0/99\n' > "$tmp/bad.bans"
write_config badbans "  rules_file: $rules" "$tmp/bad.bans"
must_fail start3 "$tmp/badbans.yaml"
grep -q "bad.bans:2: prefix /99 is out of range for IPv4" "$tmp/start3.log" \
    || fail "bad ban file line not named: $(cat "$tmp/start3.log")"

# a path that exists and is not a socket is never removed
write_config notsock "  rules_file: $rules" ""
mkdir -p "$tmp/run-notsock"; echo keep > "$tmp/run-notsock/bridge-mitm.sock"
must_fail start4 "$tmp/notsock.yaml"
grep -q "bridge-mitm.sock: exists and is not a socket" "$tmp/start4.log" || fail "$(cat "$tmp/start4.log")"
grep -q keep "$tmp/run-notsock/bridge-mitm.sock"

# rules_file left at its default (rules.yaml beside $DPI_DUAL_CONFIG; never
# /etc in a test) and absent: ban list only, said and counted
write_config default "" ""
DPI_DUAL_CONFIG="$tmp/etc/dpi-dual.yaml" "$bridge" -c "$tmp/default.yaml" 2> "$tmp/default.err" &
pid=$!
"$ctl" tail -c "$tmp/default.yaml" -n 1 --timeout 10 sys.heartbeat > "$tmp/default.hb" 2> /dev/null
grep -q "$tmp/etc/rules.yaml (the default mitm.rules_file) does not exist: running with the ban list only" \
    "$tmp/default.err" || fail "no warning for the absent default rules file"
grep -q '{"name":"rules_loaded","value":0}' "$tmp/default.hb" || fail "rules_loaded not 0: $(cat "$tmp/default.hb")"
kill -TERM $pid; wait $pid || fail "bridge (default rules) did not exit 0"
echo "start-up errors and the default rules path: ok"

# --- 2. the real run ---------------------------------------------------------
printf '# static bans\n192.0.2.66\n2001:db8:bad::/48 3600  # a range\n' > "$tmp/bans"
write_config main "  rules_file: $rules" "$tmp/bans"
cfg="$tmp/main.yaml"
sock="$tmp/run-main/bridge-mitm.sock"
# a stale socket from a bridge that died is replaced
mkdir -p "$tmp/run-main"
$py "$helper" stale-socket "$sock"
test -S "$sock"
"$bridge" -c "$cfg" 2> "$tmp/main.err" &
bridge_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/main.err" && break; sleep 0.1; done
grep -q "listening on $sock" "$tmp/main.err" || fail "bridge did not start"
grep -q "mitm.max_record_bytes 4096 is below the addon's largest record (64512 bytes)" \
    "$tmp/main.err" || fail "no warning for a max_record_bytes the addon can exceed"
test "$(stat -c %a "$sock")" = 660 || fail "socket mode $(stat -c %a "$sock")"

# tail connects to the bridge only: the decision publishers below must wait
# for the bridge's own subscription, not for tail's
"$ctl" tail -c "$cfg" --connect "ipc://$tmp/run-main/bridge-mitm.pub" mitm. \
    > "$tmp/mitm.jsonl" 2> "$tmp/tail.err" &
tail_pid=$!

# the exchange with the bridge, then its heartbeat and threats.log (each step
# in tests/mitm/bridge_socket.py)
$py "$helper" exchange "$cfg" "$sock" "$tmp" "$testpub" "$ctl" "$bridge_pid"

kill -INT $tail_pid 2>/dev/null || true
wait $tail_pid 2>/dev/null || true
grep -q "tail: bridge-mitm@bridgehost: received [0-9]*, gaps 0" "$tmp/tail.err" \
    || fail "gaps on the bus: $(cat "$tmp/tail.err")"

# --- 3. SIGTERM: clean exit, socket removed ---------------------------------
kill -TERM $bridge_pid
rc=0; wait $bridge_pid || rc=$?
test $rc -eq 0 || fail "bridge exit status $rc"
test ! -e "$sock" || fail "socket file left after SIGTERM"
grep -q "verdicts:" "$tmp/main.err" || fail "no summary at exit"
if grep -q Sanitizer "$tmp/main.err"; then fail "sanitizer report"; fi
echo "it_bridge_socket: ok"
