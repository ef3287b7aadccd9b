# tests/lib/faults.sh — the one-host pipeline under load for the fault tests
# (tests/it_faults_kill.sh, tests/it_faults_stop.sh; issue 19 "Faults"), sourced (bash).
#
# In a network namespace of its own (so the capture sees only the test's traffic):
# the five workers started by `dpi-dualctl start` (daemons, run_dir in TMP, heartbeat
# every second, the forensic log on, dpi-api enabled), the MITM chain of
# tests/lib/mitm_chain.sh (client -TLS-> HAProxy on 127.0.0.1:8443 -> mitmdump +
# dpi_bridge.py -> backend; the clients are 127.0.0.10-13 and the banned 127.0.0.66),
# dpi-collector capturing lo (the clients' side, port 8443), and `dpi-dualctl tail` on every topic of
# every worker: the reference. Its sequence numbers say what each publisher sent, its
# heartbeats what each subscriber counted (tests/lib/fault_table.py does the accounting).
#
# The caller sets BUILD_DIR, SOURCE_DIR, NAME (for messages), then:
#   faults_setup                  everything above; the load not yet running
#   load_start / load_stop        the traffic generator (clean clients, 5 requests a second
#                                 each, a new connection per request; the banned client
#                                 once a second), records every answer in TMP/load.jsonl
#   quiet LABEL                   load stopped: wait until each worker's heartbeats came
#                                 after it (a quiet point where the counters are read)
#   event JSON                    a line into TMP/events.jsonl for fault_table.py
#   state CASE WORKER true|false WHAT   a kept-state check, into the table
#   one_request IP, banned_403    a request through the chain; BANNED is refused 403
#   wpid NAME                     the pid from dpi-dualctl start's pid file
#   restart NAME                  dpi-dualctl start NAME (fails the test when it fails)
#   freeze CASE NAME              SIGSTOP NAME for 10 s, then SIGCONT (t_cont), the case recorded
#   faults_report                 the table (fault_table.py); fails on an inexact counter
#   faults_finish                 sanitizer reports, no worker died, dpi-dualctl stop
# A fault case records {"kind":"case", "case", "worker", "t_fault", "t_recover"} and its
# state checks {"kind":"state", "case", "ok", "what"}.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}" "${NAME:?}"
PY=/usr/bin/python3
ctl="$BUILD_DIR/ctl/dpi-dualctl"
TMP=$(mktemp -d)
RUN=$TMP/run
CFG=$TMP/dpi-dual.yaml
EVENTS=$TMP/events.jsonl
WORKERS=(collector bridge-mitm buffer correlator api)
BANNED=127.0.0.66
fns=dpiflt$$
tail_pid=
load_pid=
t_begin=$SECONDS
fail() { echo "$NAME: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
. "$SOURCE_DIR/tests/lib/mitm_chain.sh"
CHAIN_NETNS=$fns
N() { ip netns exec "$fns" "$@"; }
now_ns() { date +%s%N; }
alive() { kill -0 "$1" 2> /dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2> /dev/null; }
wpid() { cat "$RUN/$1.pid" 2> /dev/null; }
event() { echo "$1" >> "$EVENTS"; }
state() {           # state CASE WORKER OK WHAT: a state check's outcome, for the table
    event "{\"kind\":\"state\",\"case\":\"$1\",\"worker\":\"$2\",\"ok\":$3,\"what\":\"$4\"}"
}
banned_403() { [ "$(one_request "$BANNED")" = "403 ban-list" ]; }

faults_cleanup() {
    local rc=$?
    set +e
    touch "$TMP/load.stop"
    [ -n "$load_pid" ] && wait "$load_pid" 2> /dev/null
    local w p
    for w in "${WORKERS[@]}"; do        # a worker left stopped would not stop
        p=$(wpid "$w") && kill -CONT "$p" 2> /dev/null
    done
    [ -e "$CFG" ] && N "$ctl" stop -c "$CFG" --kill > /dev/null 2>&1
    [ -n "$tail_pid" ] && kill -INT "$tail_pid" 2> /dev/null && wait "$tail_pid" 2> /dev/null
    chain_stop
    if ip netns pids "$fns" > /dev/null 2>&1; then
        for p in $(ip netns pids "$fns"); do kill "$p" 2> /dev/null; done
        ip netns del "$fns"
    fi
    if [ $rc -ne 0 ]; then
        for log in "$RUN"/*.log "$TMP"/*.log "$TMP"/*.err; do
            [ -s "$log" ] && { echo "--- $log"; tail -n 15 "$log"; }
        done
    fi
    [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
    exit $rc
}

faults_setup() {
    [ "$(id -u)" -eq 0 ] || fail "needs root (a network namespace)"
    local tool
    for tool in mitmdump haproxy openssl curl; do
        command -v "$tool" > /dev/null || fail "$tool is not installed"
    done
    trap faults_cleanup EXIT
    trap 'exit 130' INT TERM
    ip netns add "$fns"
    ip -n "$fns" link set lo up
    N sysctl -qw net.unix.max_dgram_qlen=512
    mkdir -p "$RUN" "$TMP/state" "$TMP/forensic"
    (umask 077; head -c 32 /dev/urandom | base64 > "$TMP/api.token")
    cat > "$CFG" <<YAML
global:
  run_dir: $RUN
  state_dir: $TMP/state
  log_level: info
bus:
  heartbeat_interval: 1
  sndhwm: 1000
  rcvhwm: 1000
tap:
  interface: lo
  bpf: "tcp port 8443"
  stats_interval: 5
  tcp_close_timeout: 1
mitm:
  verdict_deadline_ms: 100
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  forensic:
    mode: all
    dir: $TMP/forensic
    key_file: $TMP/forensic.key
correlation:
  window: 5
api:
  enabled: true
  listen: 127.0.0.1:8470
  token_file: $TMP/api.token
YAML
    N "$ctl" keys forensic -c "$CFG" > /dev/null || fail "keys forensic"
    N "$ctl" config check -c "$CFG" > "$TMP/check.out" 2>&1 || fail "config check: $(cat "$TMP/check.out")"
    chain_tls
    chain_haproxy 8443 8080
    chain_spawn_ns "$TMP/backend.log" $PY "$SOURCE_DIR/tests/mitm/backend.py" 8081 "$TMP/backend.req"
    N "$ctl" start -c "$CFG" --timeout 120 > "$TMP/start.out" 2>&1 \
        || fail "dpi-dualctl start: $(cat "$TMP/start.out")"
    for w in "${WORKERS[@]}"; do alive "$(wpid "$w")" || fail "$w not running after start"; done
    chain_mitmdump "$TMP/mitm.log" 8080 8081 "$RUN/bridge-mitm.sock" \
        --set dpi_verdict_deadline_ms=100 --set dpi_stats_file="$TMP/addon.json" \
        --set dpi_stats_interval=1
    chain_wait 10 port_open 8081 || fail "backend not listening"
    chain_wait 60 port_open 8080 || fail "mitmdump not listening"
    chain_spawn_ns "$TMP/haproxy.log" haproxy -db -f "$TMP/haproxy.cfg"
    chain_wait 10 port_open 8443 || fail "haproxy not listening"
    ip netns exec "$fns" "$ctl" tail -c "$CFG" > "$TMP/tail.jsonl" 2> "$TMP/tail.err" &
    tail_pid=$!
    # the banned client: a manual ban through the correlator, seen by the bridge
    N "$ctl" ban "$BANNED" --duration 3600 --reason faults -c "$CFG" > /dev/null \
        || fail "dpi-dualctl ban $BANNED"
    chain_wait 20 banned_403 || fail "the ban of $BANNED does not reach the bridge"
    ok "pipeline up: ${WORKERS[*]}, mitmdump + addon, the reference tail; $BANNED banned (403)"
    write_load_py
}

one_request() {     # one_request IP: "STATUS BLOCK" of GET /probe from IP through the chain
    N $PY - "$1" "$TMP/load.jsonl" <<'PY'   # (counted with the load: it makes records too)
import http.client, json, ssl, sys, time
t = time.time()
c = http.client.HTTPSConnection("127.0.0.1", 8443, timeout=10, source_address=(sys.argv[1], 0),
                                context=ssl._create_unverified_context())
c.request("GET", "/probe", headers={"Host": "shop.test"})
r = c.getresponse()
r.read()
block = r.getheader("X-DPI-Dual-Block") or ""
with open(sys.argv[2], "a") as f:
    f.write(json.dumps({"t": t, "ip": sys.argv[1], "path": "/probe", "status": r.status,
                        "block": block, "error": "", "probe": True}) + "\n")
print(r.status, block or "-")
PY
}

write_load_py() {
    cat > "$TMP/load.py" <<'PY'
import http.client, json, os, ssl, sys, threading, time
stop, out, banned = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl._create_unverified_context()
clients = sys.argv[4:]
lock = threading.Lock()
f = open(out, "a", buffering=1)
def run(ip, pause):
    i = 0
    while not os.path.exists(stop):
        i += 1
        path = "/f/%s/%d/%d" % (ip, os.getpid(), i)
        t = time.time()
        try:
            c = http.client.HTTPSConnection("127.0.0.1", 8443, timeout=10, source_address=(ip, 0),
                                            context=ctx)
            c.request("GET", path, headers={"Host": "shop.test", "Accept": "text/html",
                                            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
            r = c.getresponse()
            r.read()
            st, err, block = r.status, "", r.getheader("X-DPI-Dual-Block") or ""
            c.close()
        except Exception as e:
            st, err, block = 0, repr(e), ""
        with lock:
            f.write(json.dumps({"t": t, "ip": ip, "path": path, "status": st, "block": block,
                                "error": err}) + "\n")
        time.sleep(pause)
ts = [threading.Thread(target=run, args=(ip, 0.2)) for ip in clients]
ts.append(threading.Thread(target=run, args=(banned, 1.0)))
for t in ts:
    t.start()
for t in ts:
    t.join()
PY
}

load_start() {
    rm -f "$TMP/load.stop"
    N $PY "$TMP/load.py" "$TMP/load.stop" "$TMP/load.jsonl" "$BANNED" \
        127.0.0.10 127.0.0.11 127.0.0.12 127.0.0.13 2>> "$TMP/load.err" &
    load_pid=$!
}

load_stop() {
    touch "$TMP/load.stop"
    wait "$load_pid" 2> /dev/null || true
    load_pid=
}

heard_after() {     # heard_after NS: each running worker sent 4 heartbeats since NS
    $PY - "$TMP/tail.jsonl" "$1" "${WORKERS[@]}" <<'PY'
import json, sys
path, since, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
n = {w: 0 for w in names}
for l in open(path):
    if '"sys.heartbeat"' not in l:
        continue
    try:
        m = json.loads(l)
    except ValueError:
        continue
    if m["header"]["ts_ns"] > since and m.get("name") in n:
        n[m["name"]] += 1
sys.exit(0 if min(n.values()) >= 4 else 1)
PY
}

quiet() {           # quiet LABEL: the load stopped; a quiet point once the workers are heard
    local t
    [ -z "$load_pid" ] || load_stop
    sleep 1.5       # the collector ends the flows (tcp_close_timeout 1)
    t=$(now_ns)
    chain_wait 60 heard_after "$t" || fail "quiet point $1: not every worker heard 4 times"
    sleep 1.2       # the addon's stats file (every second) after the load
    event "{\"kind\":\"quiet\",\"label\":\"$1\",\"t\":$t,\"addon\":$(addon_stats)}"
}

restart() {         # restart NAME: dpi-dualctl start NAME
    N "$ctl" start -c "$CFG" --timeout 120 "$1" > "$TMP/start.out" 2>&1 \
        || fail "dpi-dualctl start $1: $(cat "$TMP/start.out")"
    alive "$(wpid "$1")" || fail "$1 not running after dpi-dualctl start"
}

freeze() {          # freeze CASE WORKER: SIGSTOP for 10 s, SIGCONT; the case recorded,
    local p t_fault  # t_cont set
    p=$(wpid "$2")
    t_fault=$(now_ns)
    kill -STOP "$p"
    sleep 10
    t_cont=$(now_ns)
    kill -CONT "$p"
    event "{\"kind\":\"case\",\"case\":\"$1\",\"worker\":\"$2\",\"t_fault\":$t_fault,\"t_recover\":$t_cont}"
}

addon_stats() { cat "$TMP/addon.json" 2> /dev/null || echo '{}'; }

faults_report() {
    local t_end
    t_end=$(now_ns)
    event "{\"kind\":\"end\",\"t\":$t_end}"
    $PY "$SOURCE_DIR/tests/lib/fault_table.py" "$TMP/tail.jsonl" "$EVENTS" "$TMP/load.jsonl" \
        > "$TMP/table.txt" 2>&1 || { cat "$TMP/table.txt"; fail "the fault table (above)"; }
    cat "$TMP/table.txt"
}

faults_finish() {
    local w
    for w in "${WORKERS[@]}"; do alive "$(wpid "$w")" || fail "$w died (pid $(wpid "$w"))"; done
    if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$RUN"/*.log 2> /dev/null; then
        fail "a sanitizer report in the logs above"
    fi
    N "$ctl" stop -c "$CFG" > "$TMP/stop.out" 2>&1 || fail "dpi-dualctl stop: $(cat "$TMP/stop.out")"
    if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$RUN"/*.log 2> /dev/null; then
        fail "a sanitizer report in the logs above (at exit)"
    fi
    ok "no worker died; no sanitizer report; dpi-dualctl stop (runtime $((SECONDS - t_begin)) s)"
}
