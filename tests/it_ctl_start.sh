#!/usr/bin/env bash
# it_ctl_start.sh — dpi-dualctl start | stop | restart in daemon mode (no
# init system here), with the real workers in a temporary run_dir:
#  1. start (this host's workers: all four of mode dual; the collector live
#     on lo) waits until each is up: pid files hold the lock holders, each
#     is dpi-NAME; status says "started as a daemon by dpi-dualctl start";
#  2. start again: "already running", no second copy (same pids, one start
#     marker in each log);
#  3. restart of one worker: a new pid, the old one gone;
#  4. a stale pid file (the worker killed -9, its pid file given the pid of
#     a live unrelated `sleep`): stop signals nothing, the sleep survives;
#  5. a worker started by hand: status says so, stop leaves it running
#     (exit 3), stop --lock-holder stops it;
#  6. a worker that ignores SIGTERM (SIGSTOPped): stop says so (exit 1),
#     stop --kill ends it;
#  7. a worker whose config fails is reported with its exit status and its
#     own error (exit 1), no pid file left; a missing binary is said;
#  8. stop: every worker gone, every lock free, the unrelated sleep alive;
#  9. usage: an unknown worker, a worker not of this host's mode: exit 2;
# 10. --via systemd with a stand-in systemctl on PATH (PID 1 here is not
#     systemd): start calls `systemctl start dpi-dual-NAME.service`, waits
#     for the lock and heartbeat, writes no pid file; stop asks the unit's
#     MainPID and calls `systemctl stop`;
# 11. workers that drop root to global.user (nobody) are started, found by
#     their lock and stopped.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
sleeper=
cleanup () {
    # only what this test started: the pids in its own run directories
    for f in "$work"/run*/*.lock; do
        [ -e "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        [ -n "$pid" ] && flock -n "$f" true 2>/dev/null || { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; }
    done
    [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null || true
    for pid in $(jobs -p); do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
run_dir=$work/run
cat > cfg.yaml <<YAML
global:
  run_dir: $run_dir
  state_dir: $work/state
bus:
  heartbeat_interval: 1
tap:
  interface: lo
mitm:
  rules_file: ""
YAML
source "$here/ctl_checks.sh"
# run with more time than ctl_checks' 10 s (sanitizer builds start slowly)
run () {
    set +e
    timeout 60 "$CTL" "$@" >"$work/out" 2>"$work/err" </dev/null
    status=$?
    set -e
}
has () { grep -qF -- "$1" "$work/out"; }
err_has () { grep -qF -- "$1" "$work/err"; }
workers="collector bridge-mitm buffer correlator"
pidof_worker () { cat "$run_dir/$1.pid" 2>/dev/null || true; }
lock_free () { flock -n "$run_dir/$1.lock" true; }
holds_lock () {     # holds_lock NAME PID: PID holds NAME.lock (/proc/locks)
    local ino
    ino=$(stat -c %i "$run_dir/$1.lock")
    grep -E "FLOCK +ADVISORY +WRITE +$2 [0-9a-f]+:[0-9a-f]+:$ino " /proc/locks > /dev/null
}
is_binary () { [ "$(basename "$(readlink "/proc/$1/exe")")" = "dpi-$2" ]; }
alive () { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone () { ! alive "$1"; }

# --- 1. start ------------------------------------------------------------------
t0=$(date +%s.%N)
run start -c cfg.yaml
t1=$(date +%s.%N)
echo "start of 4 workers: exit $status in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
check "start: exit 0 (got $status)" test "$status" -eq 0
declare -A pid
for w in $workers; do
    check "start: $w started" has "$w: started (pid "
    pid[$w]=$(pidof_worker "$w")
    check "start: $w has a pid file" test -n "${pid[$w]}"
    check "start: $w's pid holds $w.lock" holds_lock "$w" "${pid[$w]}"
    check "start: $w's pid is dpi-$w" is_binary "${pid[$w]}" "$w"
    check "start: $w's log has its start line" grep -q "^--- dpi-dualctl start: " "$run_dir/$w.log"
done
run status -c cfg.yaml --timeout 3
check "status: exit 0 (got $status)" test "$status" -eq 0
for w in $workers; do
    check "status: $w started as a daemon" \
        has "started:   as a daemon by dpi-dualctl start (pid ${pid[$w]}, pid file $run_dir/$w.pid)"
done
run status -c cfg.yaml --timeout 3 --json
check "status --json: started daemon" \
    bash -c "grep -c '\"started\":\"daemon\"' '$work/out' | grep -qx 4"

# --- 2. start again --------------------------------------------------------------
run start -c cfg.yaml
check "start again: exit 0 (got $status)" test "$status" -eq 0
for w in $workers; do
    check "start again: $w already running" has "$w: already running, started as a daemon"
    check "start again: $w same pid" test "$(pidof_worker "$w")" = "${pid[$w]}"
    check "start again: no second start of $w" \
        test "$(grep -c '^--- dpi-dualctl start' "$run_dir/$w.log")" -eq 1
done

# --- 3. restart one --------------------------------------------------------------
old=${pid[bridge-mitm]}
run restart -c cfg.yaml bridge-mitm
check "restart bridge-mitm: exit 0 (got $status)" test "$status" -eq 0
check "restart: stopped the old one" has "bridge-mitm: stopped (pid $old)"
pid[bridge-mitm]=$(pidof_worker bridge-mitm)
check "restart: a new pid" test -n "${pid[bridge-mitm]}" -a "${pid[bridge-mitm]}" != "$old"
# (stop returns once the old one is a zombie or gone; a moment later it may be 'X',
# being reaped, which kill -0 still finds: wait a little)
gone_soon () { for _ in $(seq 20); do gone "$1" && return 0; sleep 0.1; done
               echo "  pid $1: $(grep '^State' "/proc/$1/status" 2>&1)"; return 1; }
check "restart: the old pid is gone" gone_soon "$old"
check "restart: the new one holds the lock" holds_lock bridge-mitm "${pid[bridge-mitm]}"
check "restart: the others untouched" alive "${pid[collector]}"
echo "restarted bridge-mitm: pid $old -> ${pid[bridge-mitm]}"

# --- 4. a stale pid file: the pid reused by an unrelated process -----------------
kill -9 "${pid[buffer]}"
for _ in $(seq 100); do lock_free buffer && break; sleep 0.1; done
sleep 300 &
sleeper=$!
echo "$sleeper" > "$run_dir/buffer.pid"
run stop -c cfg.yaml buffer
check "stale pid file: stop exit 0 (got $status)" test "$status" -eq 0
check "stale pid file: said" has "buffer: stale pid file (pid $sleeper does not hold buffer.lock): removed, nothing signalled"
check "stale pid file: the unrelated sleep survives" alive "$sleeper"
check "stale pid file: removed" test ! -e "$run_dir/buffer.pid"
echo "$sleeper" > "$run_dir/buffer.pid"
run start -c cfg.yaml buffer
check "start over a stale pid file: exit 0 (got $status)" test "$status" -eq 0
pid[buffer]=$(pidof_worker buffer)
check "start over a stale pid file: a real pid" holds_lock buffer "${pid[buffer]}"
check "start over a stale pid file: the sleep survives" alive "$sleeper"

# --- 5. started by hand -----------------------------------------------------------
run stop -c cfg.yaml correlator
check "stop correlator: exit 0 (got $status)" test "$status" -eq 0
"$BUILD_DIR/correlator/dpi-correlator" -c cfg.yaml -q > /dev/null 2>&1 &
hand=$!
for _ in $(seq 300); do holds_lock correlator "$hand" 2>/dev/null && break; sleep 0.1; done
run status -c cfg.yaml --timeout 3
check "status: correlator started by hand" \
    has "started:   not by dpi-dualctl start (pid $hand holds correlator.lock, no pid file of it)"
run stop -c cfg.yaml correlator
check "stop of a hand-started worker: exit 3 (got $status)" test "$status" -eq 3
check "stop of a hand-started worker: says why" err_has "correlator: running (pid $hand holds correlator.lock) but not started by dpi-dualctl start"
check "stop of a hand-started worker: left running" alive "$hand"
run start -c cfg.yaml correlator
check "start: a hand-started worker is already running (got $status)" test "$status" -eq 0
check "start: says it was not started by dpi-dualctl" has "correlator: already running, started not by dpi-dualctl start"
run stop -c cfg.yaml --lock-holder correlator
check "stop --lock-holder: exit 0 (got $status)" test "$status" -eq 0
check "stop --lock-holder: stopped it" gone "$hand"
wait "$hand" 2>/dev/null || true
run start -c cfg.yaml correlator
check "start correlator again: exit 0 (got $status)" test "$status" -eq 0
pid[correlator]=$(pidof_worker correlator)

# --- 6. a worker that does not stop on SIGTERM ------------------------------------
kill -STOP "${pid[buffer]}"
run stop -c cfg.yaml --stop-timeout 1 buffer
check "stop of a stuck worker: exit 1 (got $status)" test "$status" -eq 1
check "stop of a stuck worker: said, not killed" err_has "buffer: pid ${pid[buffer]} still running 1 s after SIGTERM: not killed"
check "stop of a stuck worker: still there, pid file kept" test -e "$run_dir/buffer.pid"
run stop -c cfg.yaml --stop-timeout 0.5 --kill buffer
check "stop --kill: exit 0 (got $status)" test "$status" -eq 0
check "stop --kill: SIGKILL said" err_has "SIGKILL sent"
check "stop --kill: gone" gone "${pid[buffer]}"

# --- 7. a worker that cannot start -------------------------------------------------
cat > bad.yaml <<YAML
global:
  run_dir: $work/run2
  workers: [collector]
bus:
  heartbeat_interval: 1
tap:
  interface: nosuchdev0
YAML
run start -c bad.yaml
check "failing worker: exit 1 (got $status)" test "$status" -eq 1
check "failing worker: its exit status" err_has "dpi-dualctl start: collector exited 1; the last lines of $work/run2/collector.log:"
check "failing worker: its own error" err_has "nosuchdev0"
check "failing worker: no pid file" test ! -e "$work/run2/collector.pid"
sed -n '1,8p' "$work/err" | sed 's/^/    /'
run start -c bad.yaml --bin-dir "$work/nowhere"
check "missing binary: exit 1 (got $status)" test "$status" -eq 1
check "missing binary: said" err_has "collector: no executable $work/nowhere/dpi-collector (in --bin-dir)"

# --- 8. stop all ------------------------------------------------------------------
pid[buffer]=
run stop -c cfg.yaml
check "stop: exit 0 (got $status)" test "$status" -eq 0
for w in collector bridge-mitm correlator; do
    check "stop: $w stopped" has "$w: stopped (pid ${pid[$w]})"
    check "stop: $w's pid gone" gone "${pid[$w]}"
done
check "stop: buffer was not running" has "buffer: not running"
for w in $workers; do
    check "stop: $w.lock free" lock_free "$w"
    check "stop: no $w.pid left" test ! -e "$run_dir/$w.pid"
done
check "stop: the unrelated sleep is alive" alive "$sleeper"
run stop -c cfg.yaml
check "stop again: exit 0 (got $status)" test "$status" -eq 0

# --- 9. usage ---------------------------------------------------------------------
run start -c cfg.yaml frobnicator
check "unknown worker: exit 2 (got $status)" test "$status" -eq 2
check "unknown worker: said" err_has "'frobnicator' is not a worker"
cat > tap.yaml <<YAML
global:
  mode: tap-only
  run_dir: $work/run3
YAML
run start -c tap.yaml bridge-mitm
check "a worker not of the mode: exit 2 (got $status)" test "$status" -eq 2
check "a worker not of the mode: said" err_has "bridge-mitm is not one of this host's workers (global.mode tap-only)"

# --- 10. through systemd (a stand-in systemctl) ---------------------------------------
mkdir "$work/fake"
cat > "$work/fake/systemctl" <<FAKE
#!/bin/bash
echo "systemctl \$*" >> "$work/systemctl.calls"
unit=\${@: -1}; name=\${unit#dpi-dual-}; name=\${name%.service}
case "\$1" in
    start) setsid "$BUILD_DIR/\$name/dpi-\$name" -c "$work/cfg.yaml" -q > /dev/null 2>&1 < /dev/null &
           echo \$! > "$work/main.\$name" ;;
    stop)  pid=\$(cat "$work/main.\$name"); kill \$pid
           for _ in \$(seq 100); do grep -q '^State:.*[^Z] ' /proc/\$pid/status 2>/dev/null || break; sleep 0.1; done ;;
    show)  cat "$work/main.\$name" 2>/dev/null || echo 0 ;;
esac
FAKE
chmod +x "$work/fake/systemctl"
PATH="$work/fake:$PATH" run start -c cfg.yaml --via systemd correlator
check "start --via systemd: exit 0 (got $status)" test "$status" -eq 0
check "start --via systemd: systemctl start called" grep -qx "systemctl start dpi-dual-correlator.service" "$work/systemctl.calls"
main=$(cat "$work/main.correlator" 2>/dev/null || true)
check "start --via systemd: up, by systemd" has "correlator: started (pid $main, by systemd)"
check "start --via systemd: the unit's config is not -c's: said" err_has "the systemd services read their own configuration"
check "start --via systemd: no pid file" test ! -e "$run_dir/correlator.pid"
PATH="$work/fake:$PATH" run stop -c cfg.yaml --via systemd correlator
check "stop --via systemd: exit 0 (got $status)" test "$status" -eq 0
check "stop --via systemd: MainPID asked" grep -qx "systemctl show -p MainPID --value dpi-dual-correlator.service" "$work/systemctl.calls"
check "stop --via systemd: systemctl stop called" grep -qx "systemctl stop dpi-dual-correlator.service" "$work/systemctl.calls"
check "stop --via systemd: stopped" has "correlator: stopped (pid $main)"
check "stop --via systemd: gone" gone "$main"

# --- 11. workers that drop root (global.user) are still found by their lock ----------
cat > user.yaml <<YAML
global:
  run_dir: $work/run4
  state_dir: $work/state4
  user: nobody
  workers: [collector, correlator]
bus:
  heartbeat_interval: 1
tap:
  interface: lo
YAML
run start -c user.yaml
check "start as root with global.user: exit 0 (got $status)" test "$status" -eq 0
dropped=()
for w in collector correlator; do
    p=$(cat "$work/run4/$w.pid" 2>/dev/null || true)
    dropped+=("$p")
    check "global.user: $w runs as nobody" test "$(stat -c %U "/proc/$p" 2>/dev/null)" = nobody
done
run stop -c user.yaml
check "stop of workers that dropped root: exit 0 (got $status)" test "$status" -eq 0
for p in "${dropped[@]}"; do check "global.user: pid $p gone" gone "$p"; done

echo "it_ctl_start: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
