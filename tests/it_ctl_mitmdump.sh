#!/usr/bin/env bash
# it_ctl_mitmdump.sh — dpi-dualctl start runs mitmdump (mitm.mitmdump.*), with
# the real bridge, mitmdump + addon and a backend, as daemons on loopback:
#  1. mitmdump --dry-run: the command line from the YAML (addon from the
#     source tree, the four options, then mitm.mitmdump.args);
#  2. start (global.workers [bridge-mitm], mitm.mitmdump.start true): the
#     bridge, then mitmdump, each said started; mitmdump listens where
#     args say, holds RUN_DIR/mitmdump.lock, a pid file names it;
#  3. through it: a clean request 200, a SQL injection 403 from the bridge's
#     rule (the addon reaches the bridge's socket: the options agree), and
#     mitm-options --check agrees; status shows how it was started;
#  4. start again: both "already running"; a second `dpi-dualctl mitmdump`
#     of the same run directory is refused (exit 1, names the holder);
#  5. stop: mitmdump first, then the bridge; both gone, pid files removed;
#  6. a mitmdump that cannot start (bad args): start exits 1, naming its
#     exit status and the last lines of its log; the bridge stays up;
#  7. start false and a mitmdump started by hand with another deadline:
#     start says it is not its own and names the difference (exit 0);
#  8. a stale pid file (a live pid that is not mitmdump): stop signals
#     nothing.
# ctest sets BUILD_DIR and SOURCE_DIR.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
fail () {
    echo "it_ctl_mitmdump: FAIL: $*" >&2
    for f in "$work"/run/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
    exit 1
}
command -v mitmdump > /dev/null || { echo "mitmdump is missing (deploy/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup () {
    "$CTL" stop -c "$work/cfg.yaml" --kill > /dev/null 2>&1 || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
# alive PID: running, not a zombie (daemons are reparented: PID 1 may reap late)
alive () { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
port () { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
backend=$(port); mport=$(port)
mkdir -p "$work/site" && echo hello > "$work/site/index.html"
/usr/bin/python3 -m http.server "$backend" --bind 127.0.0.1 --directory "$work/site" \
    > "$work/backend.log" 2>&1 &
pids+=($!)
# write_cfg START ARGS...: the configuration, mitmdump's args as given
write_cfg () {
    local start=$1; shift
    local args="" a
    for a in "$@"; do args+="${args:+, }\"$a\""; done
    cat > "$work/cfg.yaml" <<YAML
global:
  run_dir: $work/run
  workers: [bridge-mitm]
bus:
  heartbeat_interval: 1
  endpoints:
    bridge_mitm: ipc://$work/run/bridge.pub
mitm:
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
  verdict_deadline_ms: 200
  mitmdump:
    start: $start
    args: [$args]
YAML
}
good_args=(--mode "reverse:http://127.0.0.1:$backend" --listen-host 127.0.0.1
           --listen-port "$mport" --set "confdir=$work/mitmproxy"
           --set connection_strategy=lazy --set flow_detail=0)
write_cfg true "${good_args[@]}"
export PYTHONUNBUFFERED=1

# --- 1. the command line ------------------------------------------------------------
line=$("$CTL" mitmdump -c "$work/cfg.yaml" --dry-run)
want="mitmdump -s $SOURCE_DIR/deploy/mitmproxy/dpi_bridge.py --set dpi_socket=$work/run/bridge-mitm.sock --set dpi_verdict_deadline_ms=200 --set dpi_trusted_proxies=127.0.0.1,::1 --set dpi_body_bytes=16384 ${good_args[*]}"
[ "$line" = "$want" ] || fail "dry run: $line"
echo "ok   1. --dry-run: $line"

# --- 2. start ------------------------------------------------------------------------
"$CTL" start -c "$work/cfg.yaml" --timeout 60 > "$work/start.out" 2> "$work/start.err" \
    || fail "start: exit $?: $(cat "$work/start.out" "$work/start.err")"
cat "$work/start.out"
grep -q "^bridge-mitm: started (pid [0-9]*, a daemon" "$work/start.out" || fail "start: no bridge line"
grep -q "^mitmdump: started (pid [0-9]*, a daemon; log $work/run/mitmdump.log; listening on 127.0.0.1:$mport)" \
    "$work/start.out" || fail "start: no mitmdump line"
[ "$(sed -n 1p "$work/start.out" | cut -d: -f1)" = bridge-mitm ] || fail "mitmdump started before the bridge"
mpid=$(sed -n 's/^mitmdump: started (pid \([0-9]*\),.*/\1/p' "$work/start.out")
[ "$(cat "$work/run/mitmdump.pid")" = "$mpid" ] || fail "pid file: $(cat "$work/run/mitmdump.pid")"
grep -q "FLOCK .* $mpid " /proc/locks || fail "mitmdump $mpid holds no lock"
tr '\0' ' ' < "/proc/$mpid/cmdline" | grep -q "dpi_bridge.py --set dpi_socket=$work/run/bridge-mitm.sock" \
    || fail "mitmdump's command line: $(tr '\0' ' ' < "/proc/$mpid/cmdline")"
echo "ok   2. start: the bridge, then mitmdump (pid $mpid, holds mitmdump.lock, pid file)"

# --- 3. traffic, check, status ----------------------------------------------------------
code=$(curl -s -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$mport/index.html")
[ "$code" = 200 ] && grep -q hello "$work/body" || fail "clean request: $code"
sqli='/?id=1%27%20UNION%20SELECT%20password%20FROM%20users'
code=$(curl -s -o /dev/null -D "$work/headers" -w '%{http_code}' "http://127.0.0.1:$mport$sqli")
[ "$code" = 403 ] || fail "SQL injection: $code (the addon does not reach the bridge?)"
grep -qi "^X-DPI-Dual-Block: rule" "$work/headers" || fail "403 not from a bridge rule: $(cat "$work/headers")"
! grep -qi union "$work/backend.log" || fail "the blocked request reached the backend"
"$CTL" mitm-options -c "$work/cfg.yaml" --check > "$work/check.out" 2>&1 || true
grep -q "^mitmdump pid $mpid: agrees" "$work/check.out" || fail "check: $(cat "$work/check.out")"
"$CTL" status -c "$work/cfg.yaml" --timeout 3 > "$work/status.out" 2>&1 || true
grep -A1 "^mitmdump: running, pid $mpid" "$work/status.out" \
    | grep -q "started: *as a daemon by dpi-dualctl start (pid $mpid" || fail "status: $(cat "$work/status.out")"
"$CTL" status -c "$work/cfg.yaml" --timeout 3 --json > "$work/status.json" 2>&1 || true
grep -q "^{\"worker\":\"mitmdump\",\"running\":true,\"pid\":$mpid,\"started\":\"daemon\"" \
    "$work/status.json" || fail "status --json: $(cat "$work/status.json")"
echo "ok   3. clean 200, SQLi 403 (X-DPI-Dual-Block: rule), check agrees, status says how it started"

# --- 4. again --------------------------------------------------------------------------
"$CTL" start -c "$work/cfg.yaml" > "$work/again.out" 2>&1 || fail "start again: $(cat "$work/again.out")"
grep -q "^mitmdump: already running, started as a daemon by dpi-dualctl start (pid $mpid" \
    "$work/again.out" || fail "start again: $(cat "$work/again.out")"
grep -q "^bridge-mitm: already running" "$work/again.out" || fail "start again: $(cat "$work/again.out")"
rc=0; "$CTL" mitmdump -c "$work/cfg.yaml" > "$work/second.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "another mitmdump of this run directory runs (pid $mpid holds $work/run/mitmdump.lock)" \
    "$work/second.out" || fail "second mitmdump: exit $rc: $(cat "$work/second.out")"
echo "ok   4. start again: already running; a second mitmdump refused (exit 1)"

# --- 5. stop ---------------------------------------------------------------------------
bpid=$(cat "$work/run/bridge-mitm.pid")
"$CTL" stop -c "$work/cfg.yaml" > "$work/stop.out" 2>&1 || fail "stop: $(cat "$work/stop.out")"
[ "$(sed -n 1p "$work/stop.out")" = "mitmdump: stopped (pid $mpid)" ] \
    && grep -q "^bridge-mitm: stopped (pid $bpid)" "$work/stop.out" || fail "stop: $(cat "$work/stop.out")"
! alive "$mpid" && ! alive "$bpid" || fail "still running after stop"
[ ! -e "$work/run/mitmdump.pid" ] && [ ! -e "$work/run/bridge-mitm.pid" ] || fail "pid files left"
echo "ok   5. stop: mitmdump first, then the bridge; both gone, pid files removed"

# --- 6. a mitmdump that cannot start ------------------------------------------------------
write_cfg true --listen-port notaport --set "confdir=$work/mitmproxy"
rc=0; "$CTL" start -c "$work/cfg.yaml" --timeout 60 > "$work/bad.out" 2> "$work/bad.err" || rc=$?
[ $rc -eq 1 ] || fail "bad args: start exit $rc"
grep -q "^dpi-dualctl start: mitmdump exited [0-9]*; the last lines of $work/run/mitmdump.log:" "$work/bad.err" \
    && grep -q "notaport" "$work/bad.err" || fail "bad args: $(cat "$work/bad.err")"
grep -q "^bridge-mitm: started" "$work/bad.out" || fail "bad args: the bridge: $(cat "$work/bad.out")"
[ ! -e "$work/run/mitmdump.pid" ] || fail "bad args: a pid file was left"
echo "ok   6. bad args: start exit 1, $(grep -m1 'mitmdump exited' "$work/bad.err" | cut -d';' -f1)"

# --- 7. start false, one started by hand ---------------------------------------------------
write_cfg false "${good_args[@]}"
mitmdump -s "$SOURCE_DIR/deploy/mitmproxy/dpi_bridge.py" --set dpi_socket="$work/run/bridge-mitm.sock" \
    --set dpi_verdict_deadline_ms=5 "${good_args[@]}" > "$work/hand.log" 2>&1 &
hand=$!; pids+=($hand)
for _ in $(seq 150); do (exec 3<> "/dev/tcp/127.0.0.1/$mport") 2> /dev/null && break; sleep 0.2; done
rc=0; "$CTL" start -c "$work/cfg.yaml" > "$work/hand.out" 2> "$work/hand.err" || rc=$?
[ $rc -eq 0 ] || fail "start false: exit $rc: $(cat "$work/hand.err")"
grep -q "^mitmdump: not started by dpi-dualctl (mitm.mitmdump.start is false)" "$work/hand.out" \
    && grep -q "^  mitmdump pid $hand: dpi_verdict_deadline_ms is 5, the YAML says 200" "$work/hand.out" \
    && grep -q "warning: no mitmdump with the addon agrees" "$work/hand.err" \
    || fail "start false: $(cat "$work/hand.out" "$work/hand.err")"
"$CTL" stop -c "$work/cfg.yaml" > "$work/stop2.out" 2>&1 || fail "stop: $(cat "$work/stop2.out")"
alive $hand || fail "stop stopped the mitmdump started by hand"
kill $hand; wait $hand 2>/dev/null || true
echo "ok   7. start false: the hand-started mitmdump checked, its deadline named; stop leaves it"

# --- 8. a stale pid file ------------------------------------------------------------------
sleep 60 & other=$!; pids+=($other)
echo "$other" > "$work/run/mitmdump.pid"
"$CTL" stop -c "$work/cfg.yaml" mitmdump > "$work/stale.out" 2>&1 || fail "stale: $(cat "$work/stale.out")"
grep -q "mitmdump: stale pid file (pid $other does not hold mitmdump.lock): removed, nothing signalled" \
    "$work/stale.out" || fail "stale: $(cat "$work/stale.out")"
alive $other || fail "stop signalled the stale pid"
echo "ok   8. a stale pid file: removed, nothing signalled"
echo "it_ctl_mitmdump: passed"
