#!/bin/bash
# dpi-dualctl topology against real workers on ipc:// in a temporary run_dir:
# dpi-bridge-mitm fed requests on its socket (a python client), dpi-buffer,
# dpi-correlator, and dpi-testpub standing in for the collector (tap.flow at
# 20/s, with heartbeats: --heartbeat). Every expected value below comes from
# the processes this script started (their pids) or from the design (who
# subscribes to whom), never from the output of the command under test.
#  1. the tree: one host, the four workers up with their pids, the six edges
#     (collector -> correlator, bridge -> buffer, bridge -> correlator,
#     buffer -> correlator, correlator -> bridge, correlator -> buffer) with
#     their topics, messages received and a rate on the edges that carry
#     traffic; exit 0;
#  2. --json parses: the same hosts, workers (pid, state, interval_s,
#     subscriptions), edges (topics, received, rate, gaps), the published
#     rates;
#  3. --dot renders to SVG with Graphviz's dot (every node and edge in it);
#  4. --connect two endpoints only: those two up, the others "heard of"
#     through what they received, the edge between the two; exit 0;
#  5. --watch 0.5 (not a terminal) prints several snapshots one after the
#     other; on a terminal (util-linux's script) it clears the screen between
#     them;
#  6. dpi-buffer killed with SIGKILL: a --watch --json that ran across the kill
#     shows it up first, then stale ("no heartbeat for ... > 3 x 1 s") with its
#     last edges; a new topology says it is expected but silent; exit 1;
#  7. on tcp://: a collector that connects out (">") to the correlator's bound
#     subscriber is joined to it by endpoint (unchecked: nothing to listen to),
#     and a correlator bound on a wildcard (tcp://*:P) is found by the address
#     dpi-dualctl's config gives it.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
py=/usr/bin/python3
work=$(mktemp -d)
run=$work/run
pids=()
cleanup () {
    local rc=$?
    touch "$work/feed.stop"
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for log in correlator.log bridge.log buffer.log testpub.log feed.log; do
            [ -s "$work/$log" ] && { echo "--- $log"; tail -n 20 "$work/$log"; }
        done
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
fail () { echo "it_ctl_topology: FAIL: $*" >&2; exit 1; }
source "$SOURCE_DIR/tests/ctl_checks.sh"
command -v dot > /dev/null || fail "Graphviz's dot is missing (deploy/install-deps.sh installs graphviz)"

cfg=$work/cfg.yaml
cat > "$cfg" <<YAML
global:
  host: topohost
  run_dir: $run
  state_dir: $work/state
  log_level: warning
bus:
  heartbeat_interval: 1
mitm:
  rules_file: ""
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
YAML
"$CTL" config check "$cfg" > /dev/null || fail "config check refuses the test config"

spawn () {          # spawn LOG CMD...: in the background, its pid in $spawned
    local log=$1; shift
    "$@" > "$work/$log" 2>&1 &
    spawned=$!
    pids+=("$spawned")
}
spawn correlator.log "$BUILD_DIR/correlator/dpi-correlator" -c "$cfg"; cor_pid=$spawned
spawn bridge.log "$BUILD_DIR/bridge-mitm/dpi-bridge-mitm" -c "$cfg"; bridge_pid=$spawned
spawn buffer.log "$BUILD_DIR/buffer/dpi-buffer" -c "$cfg"; buffer_pid=$spawned
spawn testpub.log "$BUILD_DIR/tests/dpi-testpub" -c "$cfg" --name collector --heartbeat \
    -n 100000000 --interval-ms 50 -q; col_pid=$spawned
wait_for () { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
for f in correlator.pub bridge-mitm.pub bridge-mitm.sock buffer.pub collector.pub; do
    wait_for "$run/$f" || fail "$run/$f did not appear"
done

# requests into the bridge's socket (bridge-mitm/PROTOCOL.md), 10 a second
cat > "$work/feed.py" <<'PY'
import hashlib, json, os, socket, sys, time
path, stop = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("")                              # autobind: the bridge answers verdicts here
s.setblocking(False)
i = 0
while not os.path.exists(stop):
    i += 1
    r = {"v": 1, "type": "request", "id": "t%d" % i, "request_id": "req-t%d" % i,
         "ts": time.time(),
         "client": {"ip": "198.51.100.7", "port": 40000 + i % 20000, "from_proxy": True},
         "frontend": {"ip": "192.0.2.1", "port": 443}, "peer": {"ip": "127.0.0.1", "port": 40022},
         "method": "GET", "scheme": "https", "host": "shop.example", "path": "/item/%d" % i,
         "query": "", "http_version": "HTTP/1.1", "headers": [["Host", "shop.example"]],
         "body": {"length": 0, "sha256": hashlib.sha256(b"").hexdigest(), "prefix": ""},
         "verdict": False, "truncated": False}
    try:
        s.sendto(json.dumps(r).encode(), path)
    except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):
        pass
    try:
        while s.recv(65536):
            pass
    except BlockingIOError:
        pass
    time.sleep(0.1)
PY
spawn feed.log "$py" "$work/feed.py" "$run/bridge-mitm.sock" "$work/feed.stop"

# traffic_seen: the last topology --json has messages received on the bridge's
# edge to the buffer and the collector's to the correlator, with rates
traffic_seen () {
    "$CTL" topology -c "$cfg" --json > "$work/probe.json" 2> /dev/null || return 1
    "$py" - "$work/probe.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
e = {(x["from"], x["to"]): x for x in t["edges"]}
need = [("bridge-mitm@topohost", "buffer@topohost"), ("collector@topohost", "correlator@topohost")]
sys.exit(0 if all(k in e and e[k].get("received", 0) > 0 and e[k].get("rate", 0) > 0
                  for k in need) else 1)
PY
}
for _ in $(seq 30); do traffic_seen && break; sleep 0.5; done
traffic_seen || fail "no traffic on the edges after 15 s: $(cat "$work/probe.json")"

# --- 1. the tree -----------------------------------------------------------------
has () { grep -Eq -- "$1" "$work/out"; }
run topology -c "$cfg"
cp "$work/out" "$work/tree.txt"
check "tree: exit 0 (got $status)" test "$status" -eq 0
check "tree: nothing on stderr" is_empty "$work/err"
check "tree: summary line" has "^topology at [0-9-]+ [0-9:]+ UTC: 4 workers \(0 stale\) on 1 host, 6 edges; heartbeats from ipc://$run/collector.pub, "
check "tree: the host" has "^host topohost$"
for w in "collector $col_pid" "bridge-mitm $bridge_pid" "buffer $buffer_pid" "correlator $cor_pid"; do
    set -- $w
    check "tree: $1 up with pid $2" has "^(\|--|\`--) $1@topohost: up, pid $2, version [0-9.]+, up [0-9]+s, heartbeat [0-9.]+ s ago \(every 1 s\), bus auth off$"
done
check "tree: the bridge's pub endpoint with mitm.request's rate" \
    has "^\|   \|-- pub bind ipc://$run/bridge-mitm.pub: .*mitm\.request [0-9.]+/s \([1-9][0-9]*\)"
check "tree: the buffer's subscriptions" has "^\|   \|-- subscribed: .*mitm\.request"
n='[0-9.]+/s, received [0-9]+, gaps [0-9]+, restarts [0-9]+, out of order [0-9]+, last [0-9.]+ s ago'
busy='[0-9.]*[1-9][0-9.]*/s, received [1-9][0-9]*, gaps 0,'
check "tree: bridge feeds buffer (traffic)" \
    has "\|-- feeds buffer@topohost \(mitm\.request mitm\.response mitm\.verdict\): $busy"
check "tree: bridge feeds correlator (traffic)" \
    has "\|-- feeds correlator@topohost \(mitm\.request mitm\.verdict\): $busy"
check "tree: collector feeds correlator (traffic)" \
    has "\`-- feeds correlator@topohost \(tap\.flow\): $busy"
check "tree: buffer feeds correlator" \
    has "\|-- feeds correlator@topohost \(buffer\.alert\): ($n|nothing received yet)$"
check "tree: correlator feeds bridge" \
    has "\|-- feeds bridge-mitm@topohost \(decision\): ($n|nothing received yet)$"
check "tree: correlator feeds buffer" \
    has "\|-- feeds buffer@topohost \(decision\): ($n|nothing received yet)$"
check "tree: correlator fed by collector" has "\|-- fed by collector@topohost \(tap\.flow\): $busy"
check "tree: six feeds, six fed-by" \
    test "$(grep -c -- '-- feeds ' "$work/out")-$(grep -c -- '-- fed by ' "$work/out")" = 6-6
check "tree: drops lines" test "$(grep -Ec -- '-- drops: send errors [0-9]+, unheard [0-9]+, undecodable 0, gaps 0' "$work/out")" = 4

# --- 2. JSON -----------------------------------------------------------------------
run topology -c "$cfg" --json
cp "$work/out" "$work/topology.json"
check "json: exit 0 (got $status)" test "$status" -eq 0
check "json: one line" test "$(wc -l < "$work/out")" = 1
check_json () {
    "$py" - "$work/topology.json" "$col_pid" "$bridge_pid" "$buffer_pid" "$cor_pid" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
pids = dict(zip(["collector", "bridge-mitm", "buffer", "correlator"], map(int, sys.argv[2:6])))
ids = {n + "@topohost" for n in pids}
assert [h["host"] for h in t["hosts"]] == ["topohost"], t["hosts"]
assert set(t["hosts"][0]["workers"]) == ids, t["hosts"]
w = {x["id"]: x for x in t["workers"]}
assert set(w) == ids, list(w)
for name, pid in pids.items():
    x = w[name + "@topohost"]
    assert x["state"] == "up" and x["stale"] is False and x["pid"] == pid, x
    assert x["interval_s"] == 1 and x["host"] == "topohost" and x["bus_auth"] == "off", x
    assert x["pub"] == "ipc://" + sys.argv[1].rsplit("/", 1)[0] + "/run/" + name + ".pub", x
subs = w["buffer@topohost"]["subscriptions"]
assert any("mitm.request".startswith(p) for p in subs) and any("decision".startswith(p) for p in subs), subs
expected = {
    ("collector", "correlator"): ["tap.flow"],
    ("bridge-mitm", "buffer"): ["mitm.request", "mitm.response", "mitm.verdict"],
    ("bridge-mitm", "correlator"): ["mitm.request", "mitm.verdict"],
    ("buffer", "correlator"): ["buffer.alert"],
    ("correlator", "bridge-mitm"): ["decision"],
    ("correlator", "buffer"): ["decision"],
}
edges = {(e["from"].split("@")[0], e["to"].split("@")[0]): e for e in t["edges"]}
assert set(edges) == set(expected), sorted(edges)
for k, topics in expected.items():
    e = edges[k]
    assert sorted(e["topics"]) == sorted(topics) and e["matched"] == "endpoint", e
    assert e["endpoint"] == w[k[0] + "@topohost"]["pub"], e
for k in [("collector", "correlator"), ("bridge-mitm", "buffer"), ("bridge-mitm", "correlator")]:
    e = edges[k]
    assert e["received"] > 0 and e["rate"] > 0 and e["gaps"] == 0 and e["last_age_s"] >= 0, e
pub = {p["topic"]: p for p in w["bridge-mitm@topohost"]["published"]}
assert pub["mitm.request"]["sent"] > 0 and pub["mitm.request"]["rate"] > 0, pub
# the subscriber's count of a source is its received counter for that source
rx = {r["source"]: r for r in w["buffer@topohost"]["received"]}
assert rx["bridge-mitm@topohost"]["received"] == edges[("bridge-mitm", "buffer")]["received"], rx
PY
}
check "json: hosts, workers, edges, rates" check_json

# --- 3. Graphviz -----------------------------------------------------------------
run topology -c "$cfg" --dot
cp "$work/out" "$work/topology.dot"
check "dot: exit 0 (got $status)" test "$status" -eq 0
check "dot: a digraph with a cluster for the host" grep -q '^  subgraph "cluster_0" {' "$work/out"
check "dot: renders to SVG" dot -Tsvg -o "$work/topology.svg" "$work/topology.dot"
# svg_has TITLE: an element titled TITLE (Graphviz writes - as &#45; and > as &gt;)
svg_has () {
    grep -qF -- "<title>$(printf '%s' "$1" | sed 's/-/\&#45;/g; s/>/\&gt;/g')</title>" \
        "$work/topology.svg"
}
for w in collector bridge-mitm buffer correlator; do
    check "svg: node $w" svg_has "$w@topohost"
done
for e in collector:correlator bridge-mitm:buffer bridge-mitm:correlator buffer:correlator \
         correlator:bridge-mitm correlator:buffer; do
    check "svg: edge ${e%%:*} -> ${e##*:}" svg_has "${e%%:*}@topohost->${e##*:}@topohost"
done
check "svg: six edges" test "$(grep -c 'class="edge"' "$work/topology.svg")" = 6

# --- 4. two endpoints only -----------------------------------------------------------
run topology -c "$cfg" --connect "ipc://$run/bridge-mitm.pub" --connect "ipc://$run/correlator.pub"
check "--connect x2: exit 0 (got $status)" test "$status" -eq 0
check "--connect x2: bridge up" has "^\|-- bridge-mitm@topohost: up, pid $bridge_pid,"
check "--connect x2: correlator up" has "-- correlator@topohost: up, pid $cor_pid,"
check "--connect x2: the collector heard of through the correlator" \
    has "-- collector@topohost: heard of \(not listened to: known from what correlator@topohost received\)$"
check "--connect x2: bridge feeds correlator" has "\|-- feeds correlator@topohost \(mitm\.request mitm\.verdict\): $busy"
check "--connect x2: 2 workers listened to" has "^topology at .*: [0-9]+ workers \(0 stale\) on 1 host, [0-9]+ edges; heartbeats from ipc://$run/bridge-mitm.pub, ipc://$run/correlator.pub$"

# --- 5. --watch --------------------------------------------------------------------
set +e
timeout -s INT 3 "$CTL" topology -c "$cfg" --watch 0.5 > "$work/watch.txt" 2> "$work/watch.err"
set -e
blocks=$(grep -c '^topology at ' "$work/watch.txt" || true)
cp "$work/watch.txt" "$work/out"; cp "$work/watch.err" "$work/err"
check "--watch 0.5 for 3 s: several snapshots ($blocks)" test "$blocks" -ge 3
check "--watch, not a terminal: a blank line between snapshots" \
    test "$(grep -c '^$' "$work/watch.txt")" -eq $((blocks - 1))
check "--watch, not a terminal: no escape sequences" bash -c "! grep -q $'\033' '$work/watch.txt'"
if command -v script > /dev/null && script --version 2> /dev/null | grep -q util-linux; then
    set +e
    script -qec "timeout -s INT 3 $CTL topology -c $cfg --watch 0.5" /dev/null \
        > "$work/out" 2> "$work/err" < /dev/null
    set -e
    clears=$(grep -o $'\033\[H\033\[2J' "$work/out" | wc -l)
    check "--watch on a terminal: cleared and redrawn ($clears)" test "$clears" -ge 3
else
    echo "it_ctl_topology: util-linux's script is missing: --watch on a terminal not checked"
fi

# --- 6. a worker killed with SIGKILL ----------------------------------------------------
"$CTL" topology -c "$cfg" --json --watch 0.5 > "$work/watch.jsonl" 2> "$work/watchj.err" &
watch_pid=$!
pids+=("$watch_pid")
for _ in $(seq 100); do [ "$(wc -l < "$work/watch.jsonl")" -ge 2 ] && break; sleep 0.1; done
kill -9 "$buffer_pid"
wait "$buffer_pid" 2> /dev/null || true
# buffer_stale: the last snapshot of the watch has the buffer stale
buffer_stale () {
    tail -n 1 "$work/watch.jsonl" | "$py" -c '
import json, sys
t = json.loads(sys.stdin.read())
w = {x["id"]: x for x in t["workers"]}
sys.exit(0 if w["buffer@topohost"]["state"] == "stale" else 1)' 2> /dev/null
}
for _ in $(seq 150); do buffer_stale && break; sleep 0.1; done
kill -INT "$watch_pid"
set +e; wait "$watch_pid"; watch_rc=$?; set -e
check "watch across the kill: exit 1 (the last snapshot has a stale worker; got $watch_rc)" \
    test "$watch_rc" -eq 1
check_watch () {
    "$py" - "$work/watch.jsonl" "$buffer_pid" <<'PY'
import json, re, sys
snaps = [json.loads(l) for l in open(sys.argv[1])]
states = []
for t in snaps:
    b = {x["id"]: x for x in t["workers"]}["buffer@topohost"]
    states.append(b["state"])
assert len(snaps) >= 3 and states[0] == "up" and states[-1] == "stale", states
b = {x["id"]: x for x in snaps[-1]["workers"]}["buffer@topohost"]
assert b["pid"] == int(sys.argv[2]) and b["stale"] is True, b
m = re.fullmatch(r"no heartbeat for ([0-9.]+) s \(> 3 x 1 s\)", b["why"])
assert m and float(m.group(1)) >= 3.0, b["why"]   # printed to 0.1 s
others = [x for x in snaps[-1]["workers"] if x["id"] != "buffer@topohost"]
assert all(x["state"] == "up" for x in others), others
edges = {(e["from"], e["to"]) for e in snaps[-1]["edges"]}
assert ("bridge-mitm@topohost", "buffer@topohost") in edges, edges   # from its last heartbeat
PY
}
check "watch across the kill: buffer up, then stale after 3 intervals, the others up" check_watch

run topology -c "$cfg"
check "after the kill: exit 1 (got $status)" test "$status" -eq 1
check "after the kill: 1 stale" has "^topology at .*: 4 workers \(1 stale\)"
check "after the kill: the buffer expected but silent" \
    has "^\`-- buffer: STALE \(expected from the config but no heartbeat on ipc://$run/buffer.pub in [0-9.]+ s\)$"
check "after the kill: the bridge still up" has "^\|-- bridge-mitm@topohost: up, pid $bridge_pid,"
run topology -c "$cfg" --dot
check "after the kill: dot marks the buffer" grep -q '^  "buffer" \[label="buffer\\nSTALE: .*color=red' "$work/out"

# --- 7. tcp, and a publisher that connects out ------------------------------------------
# A second set on tcp://: the collector (dpi-testpub) connects out (">") to the
# correlator, which binds that address (its subscriber: worker_subscribe_to); the
# correlator's publisher binds a wildcard (tcp://*:P), and dpi-dualctl's config names it
# by its address (as the other host's file would).
stop_all () { for p in "$@"; do kill "$p" 2> /dev/null || true; wait "$p" 2> /dev/null || true; done; }
stop_all "$bridge_pid" "$cor_pid" "$col_pid"
read -r p1 p2 < <("$py" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
for side in workers ctl; do
    [ $side = workers ] && cor_ep="tcp://*:$p2" || cor_ep="tcp://127.0.0.1:$p2"
    cat > "$work/tcp-$side.yaml" <<YAML
global:
  host: tcphost
  run_dir: $work/run2
  state_dir: $work/state2
  log_level: warning
bus:
  heartbeat_interval: 1
  endpoints:
    collector: ">tcp://127.0.0.1:$p1"
    correlator: "$cor_ep"
YAML
done
spawn correlator2.log "$BUILD_DIR/correlator/dpi-correlator" -c "$work/tcp-workers.yaml"; cor2=$spawned
spawn testpub2.log "$BUILD_DIR/tests/dpi-testpub" -c "$work/tcp-workers.yaml" --name collector \
    --heartbeat -n 100000000 --interval-ms 50 -q
tcp_seen () {
    "$CTL" topology -c "$work/tcp-ctl.yaml" > "$work/out" 2> "$work/err" || true
    has "feeds correlator@tcphost \(tap\.flow\): $busy"
}
for _ in $(seq 30); do tcp_seen && break; sleep 0.5; done
check "tcp: the correlator up, publishing on the wildcard bind" \
    has "^(\|   |    )\|-- pub bind tcp://0\.0\.0\.0:$p2: "
check "tcp: the correlator up (its target found by the address)" \
    has "-- correlator@tcphost: up, pid $cor2,"
check "tcp: no silent target for the correlator's address" \
    bash -c "! grep -q 'no heartbeat on tcp://127.0.0.1:$p2' '$work/out'"
check "tcp: its subscriber binds the collector's address" \
    has "^(\|   |    )\|-- sub bind tcp://127\.0\.0\.1:$p1$"
check "tcp: the collector connects out: unchecked" \
    has "^\|-- collector@tcphost: unchecked \(it connects out to tcp://127\.0\.0\.1:$p1: "
check "tcp: the collector feeds the correlator (its connect meets the correlator's bind)" \
    has "^\|   \`-- feeds correlator@tcphost \(tap\.flow\): $busy"
run topology -c "$work/tcp-ctl.yaml" --json
check_tcp_json () {
    "$py" - "$work/out" "$p1" <<'PY'
import json, sys
t = json.loads(open(sys.argv[1]).read())
e = [x for x in t["edges"] if x["from"] == "collector@tcphost" and x["to"] == "correlator@tcphost"]
assert len(e) == 1 and e[0]["matched"] == "endpoint", e
assert e[0]["endpoint"] == "tcp://127.0.0.1:" + sys.argv[2] and e[0]["topics"] == ["tap.flow"], e
w = {x["id"]: x for x in t["workers"]}
c = w["collector@tcphost"]
assert c["state"] == "unchecked" and c["pub_role"] == "connect" and c["stale"] is False, c
PY
}
check "tcp: json edge collector -> correlator by endpoint, the collector connecting" check_tcp_json

for f in tree.txt topology.json topology.dot; do
    echo "--- $f"; cat "$work/$f"
done
echo "it_ctl_topology: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
