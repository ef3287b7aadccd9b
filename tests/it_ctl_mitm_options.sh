#!/usr/bin/env bash
# it_ctl_mitm_options.sh — dpi-dualctl mitm-options: the addon's options from
# the YAML, and --check against real mitmdumps loading the addon:
#  1. printed: one line of --set arguments with mitm.socket (resolved from
#     run_dir), verdict_deadline_ms, trusted_proxies and body_bytes;
#  2. a mitmdump started with exactly those arguments loads the addon (it
#     accepts every option) and --check says it agrees (exit 0);
#  3. a mitmdump with another deadline and the default socket: --check names
#     both differences (exit 1), the default one as the addon's default;
#  4. none running: said, exit 1.
# ctest sets BUILD_DIR and SOURCE_DIR.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
addon="$SOURCE_DIR/deploy/mitmproxy/dpi_bridge.py"
fail () { echo "it_ctl_mitm_options: FAIL: $*" >&2; exit 1; }
command -v mitmdump > /dev/null || fail "mitmdump is missing (deploy/install-deps.sh)"
work=$(mktemp -d)
pids=()
cleanup () {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cat > "$work/cfg.yaml" <<YAML
global:
  run_dir: $work/run
mitm:
  verdict_deadline_ms: 7
  trusted_proxies: ["127.0.0.1", "10.0.0.0/8"]
  body_bytes: 4096
YAML
port () { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# mitmdump_up PORT: mitmdump listens (it has loaded its addon). Not its log line: with
# stdout on a file, Python buffers it (a fresh machine has no PYTHONUNBUFFERED)
mitmdump_up () {
    for _ in $(seq 150); do
        (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
        sleep 0.2
    done
    return 1
}
export PYTHONUNBUFFERED=1       # the logs, when a failure prints them

# --- 1. printed --------------------------------------------------------------------
line=$("$CTL" mitm-options -c "$work/cfg.yaml")
echo "printed: $line"
[ "$line" = "--set dpi_socket=$work/run/bridge-mitm.sock --set dpi_verdict_deadline_ms=7 --set dpi_trusted_proxies=127.0.0.1,10.0.0.0/8 --set dpi_body_bytes=4096" ] \
    || fail "printed: $line"
echo "ok   the options printed from the YAML"

# --- 4. none running ------------------------------------------------------------------
rc=0; "$CTL" mitm-options -c "$work/cfg.yaml" --check > "$work/out" 2> "$work/err" || rc=$?
if ! pgrep -f dpi_bridge.py > /dev/null; then
    [ $rc -eq 1 ] && grep -q "no running process loads dpi_bridge.py" "$work/err" \
        || fail "none running: exit $rc: $(cat "$work/err")"
    echo "ok   none running: said, exit 1"
else
    echo "     another mitmdump with the addon runs on this machine: 'none running' not checked"
fi

# --- 2. started with the printed options ------------------------------------------------
# shellcheck disable=SC2086
p1=$(port)
mitmdump -s "$addon" $line --set confdir="$work/mitmproxy" --listen-host 127.0.0.1 \
    --listen-port "$p1" > "$work/m1.log" 2>&1 &
pids+=($!); m1=$!
mitmdump_up "$p1" || fail "mitmdump with the printed options: $(tail -5 "$work/m1.log")"
"$CTL" mitm-options -c "$work/cfg.yaml" --check > "$work/out" 2> "$work/err" || true
grep -q "^mitmdump pid $m1: agrees" "$work/out" || fail "check: $(cat "$work/out" "$work/err")"
echo "ok   a mitmdump started with them loads the addon and agrees: $(grep "pid $m1" "$work/out")"

# --- 3. one that differs ---------------------------------------------------------------
p2=$(port)
mitmdump -s "$addon" --set dpi_verdict_deadline_ms=5 --set dpi_trusted_proxies=127.0.0.1,10.0.0.0/8 \
    --set dpi_body_bytes=4096 --set confdir="$work/mitmproxy" --listen-host 127.0.0.1 \
    --listen-port "$p2" > "$work/m2.log" 2>&1 &
pids+=($!); m2=$!
mitmdump_up "$p2" || fail "second mitmdump: $(tail -5 "$work/m2.log")"
rc=0; "$CTL" mitm-options -c "$work/cfg.yaml" --check > "$work/out" 2> "$work/err" || rc=$?
cat "$work/out"
[ $rc -eq 1 ] || fail "check with one differing: exit $rc"
grep -q "^mitmdump pid $m2: dpi_verdict_deadline_ms is 5, the YAML says 7" "$work/out" || fail "deadline not named"
grep -q "^mitmdump pid $m2: dpi_socket is /run/dpi-dual/bridge-mitm.sock (the addon's default; mitmproxy's config.yaml not read), the YAML says $work/run/bridge-mitm.sock" "$work/out" \
    || fail "socket not named"
grep -q "^mitmdump pid $m1: agrees" "$work/out" || fail "the first one no longer agrees"
echo "ok   a mitmdump that differs: each difference named, exit 1"
echo "it_ctl_mitm_options: passed"
