#!/bin/bash
# A router and an analysis host, for real (issue: "two-host test"):
#
#   client namespace (clean clients 10.77.0.10-13, attackers 10.77.0.66-68)
#      | veth 10.77.0.0/24
#   "router" namespace: HAProxy (TLS on 10.77.0.1:443) -> mitmdump + dpi_bridge.py ->
#      backend (tests/lib/mitm_chain.sh, CHAIN_NETNS); its client-facing veth mirrored by
#      deploy/mirror-setup.sh (software mode) to a capture interface (dummy, or a veth pair
#      where the kernel has no dummy): dpi-collector captures
#      there; dpi-bridge-mitm. Its own YAML: global.workers [collector, bridge-mitm].
#      | veth 10.78.0.0/24 (router 10.78.0.1, analysis 10.78.0.2)
#   "analysis" namespace: dpi-buffer (CRS) and dpi-correlator (auto_ban). Its own YAML:
#      global.workers [buffer, correlator].
#
# Each host has its own CURVE key (`dpi-dualctl keys new`), the other's public
# certificate as bus.curve.server_cert and an allow_dir with the keys it accepts; its
# workers are started with `dpi-dualctl start -c FILE` (daemon mode, run_dir per host)
# and stopped with `dpi-dualctl stop`. Checked, in order:
#   1. config check passes on both hosts; start brings up each host's two workers;
#   2. the bus across the veth: tap.flow, mitm.* reach the analysis host, decision the
#      router (an independent `dpi-dualctl tail` on each side counts them per topic);
#   3. an unlisted client key gets nothing: the router's bridge logs the refusal with
#      its key and address, counts it (heartbeat auth_refused, "bus auth:" in status),
#      tail says "no message: handshake ... the server refused our key"; a client with
#      the wrong server key: tail says "... server key mismatch?";
#   4. `dpi-dualctl topology` (the analysis host's file names both hosts' endpoints):
#      4 workers up on 2 hosts, the 6 edges, 4 of them across the hosts;
#   5. attacks from 10.77.0.66 (blocked live by the bridge's rules) make the correlator
#      on the analysis host ban it; the decision crosses back and the router's bridge
#      answers that client's next clean request 403 (ban-list); time correlator ->
#      bridge measured (the decision's send time -> the bridge's log line);
#   6. kill -9 of the correlator (analysis) under traffic: topology marks it stale, the
#      others live; `dpi-dualctl start` brings it back; the router's bridge reconnects
#      its decision subscription on its own: a second attacker is banned through the new
#      correlator, and the bridge and the buffer count the restart (restarts, no gap);
#      time from the start command to the new instance's first message on the router;
#   7. the same for the bridge (router): the analysis host's buffer and correlator
#      reconnect on their own and count its restart; the clients banned before are
#      refused again (the correlator sends the running bans again to a bridge instance
#      new to it: the bridge keeps them in memory only), and the buffer does not replay
#      them a second time;
#   8. no clean request failed or was blocked; no worker other than the killed ones
#      changed pid; no sanitizer report in any log; `dpi-dualctl stop` on both hosts;
#   9. the router behind NAT (">"/"@", DESIGN §4): the collector connects OUT to the
#      analysis host, where the correlator binds its endpoint; tap.flow flows, topology
#      joins them by endpoint (the collector "unchecked"); a third ban goes through.
#      (The bridge's publisher still binds: its topics have two subscribers on the
#      analysis host, buffer and correlator, and a ">" endpoint is bound by one process
#      only; see deploy/README-deployment.md.)
# The figures (messages per topic across the hosts, gaps, restarts, reconnect times, ban
# latency) are printed in a summary block at the end. Needs root (namespaces, tc).
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
ctl="$BUILD_DIR/ctl/dpi-dualctl"
TMP=$(mktemp -d)
t_begin=$SECONDS
fail() { echo "it_two_hosts: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces, tc)"
for tool in ip tc haproxy mitmdump openssl curl; do
    command -v "$tool" > /dev/null || fail "$tool is not installed"
done

tag=$$
nsc=dpi2c$tag nsr=dpi2r$tag nsa=dpi2a$tag         # client, router, analysis
vc=d2c$tag vrc=d2rc$tag vra=d2ra$tag vaa=d2aa$tag mir=d2m$tag   # (<= 15 characters)
rtr=10.77.0.1 r_bus=10.78.0.1 a_bus=10.78.0.2
R_DIR=$TMP/router A_DIR=$TMP/analysis
R_RUN=$R_DIR/run A_RUN=$A_DIR/run
rcfg=$R_DIR/dpi-dual.yaml acfg=$A_DIR/dpi-dual.yaml
mirror_state=$TMP/mirror-state
tails=()

. "$SOURCE_DIR/tests/lib/mitm_chain.sh"
CHAIN_NETNS=$nsr
C() { ip netns exec "$nsc" "$@"; }
R() { ip netns exec "$nsr" "$@"; }
A() { ip netns exec "$nsa" "$@"; }
cleanup() {
    local rc=$?
    set +e
    touch "$TMP/traffic.stop"
    for p in "${tails[@]}"; do kill -INT "$p" 2> /dev/null; done
    if ip netns pids "$nsr" > /dev/null 2>&1; then
        for f in "$rcfg" "$R_DIR/nat.yaml"; do
            [ -e "$f" ] && R "$ctl" stop -c "$f" --kill > /dev/null 2>&1
        done
    fi
    if ip netns pids "$nsa" > /dev/null 2>&1; then
        for f in "$acfg" "$A_DIR/nat.yaml"; do
            [ -e "$f" ] && A "$ctl" stop -c "$f" --kill > /dev/null 2>&1
        done
    fi
    chain_stop
    if ip netns pids "$nsr" > /dev/null 2>&1; then
        R env DPI_MIRROR_STATE_DIR="$mirror_state" \
            "$SOURCE_DIR/deploy/mirror-setup.sh" stop --mirror "$mir" > /dev/null 2>&1
    fi
    for ns in "$nsc" "$nsr" "$nsa"; do
        if ip netns pids "$ns" > /dev/null 2>&1; then
            for p in $(ip netns pids "$ns"); do kill "$p" 2> /dev/null; done
            ip netns del "$ns"
        fi
    done
    if [ $rc -ne 0 ]; then
        for log in "$R_RUN"/*.log "$A_RUN"/*.log "$TMP"/*.log "$TMP"/*.err; do
            [ -s "$log" ] && { echo "--- $log"; tail -n 20 "$log"; }
        done
    fi
    [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
wait_until() {      # wait_until SECONDS CMD...: CMD every 0.1 s until it succeeds
    local end=$((SECONDS + $1)); shift
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}
alive() { kill -0 "$1" 2> /dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2> /dev/null; }
wpid() { cat "$1/$2.pid" 2> /dev/null; }       # wpid RUN_DIR NAME: from dpi-dualctl start

# --- the network --------------------------------------------------------------------
for ns in "$nsc" "$nsr" "$nsa"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip link add "$vc" netns "$nsc" type veth peer name "$vrc" netns "$nsr"
ip link add "$vra" netns "$nsr" type veth peer name "$vaa" netns "$nsa"
ip -n "$nsr" addr add "$rtr/24" dev "$vrc"
ip -n "$nsr" addr add "$r_bus/24" dev "$vra"
ip -n "$nsa" addr add "$a_bus/24" dev "$vaa"
for i in 10 11 12 13 66 67 68; do ip -n "$nsc" addr add "10.77.0.$i/24" dev "$vc"; done
ip -n "$nsc" link set "$vc" up
ip -n "$nsr" link set "$vrc" up
ip -n "$nsr" link set "$vra" up
ip -n "$nsa" link set "$vaa" up
R env DPI_MIRROR_STATE_DIR="$mirror_state" "$SOURCE_DIR/deploy/mirror-setup.sh" start \
    --source "$vrc" --mirror "$mir" > "$TMP/mirror.log" 2>&1 || fail "mirror-setup.sh start"
grep -q "capture on: $mir\$" "$TMP/mirror.log" || fail "mirror-setup.sh: $(cat "$TMP/mirror.log")"
reaches() {         # an answer (a refusal) from the router's bus address, port 9
    local out
    out=$(A bash -c "exec 3<> /dev/tcp/$r_bus/9" 2>&1 || true)
    [[ $out == *"Connection refused"* ]]
}
wait_until 5 reaches || fail "the analysis host does not reach the router ($r_bus)"

# --- keys: one per host, the other's public certificate, the allow-lists -------------
mkdir -p "$R_DIR/keys" "$R_DIR/allowed" "$A_DIR/keys" "$A_DIR/allowed" "$TMP/intruder"
"$ctl" keys new router "$R_DIR/keys" > /dev/null
"$ctl" keys new analysis "$A_DIR/keys" > /dev/null
"$ctl" keys new intruder "$TMP/intruder" > /dev/null
[ -s "$R_DIR/keys/router.cert_secret" ] && [ -s "$A_DIR/keys/analysis.cert" ] \
    || fail "keys new wrote no certificates"
cp "$A_DIR/keys/analysis.cert" "$R_DIR/"            # the router's server_cert
cp "$R_DIR/keys/router.cert" "$A_DIR/"              # the analysis host's server_cert
# each host accepts the other's key, and its own (its dpi-dualctl, its local clients)
cp "$A_DIR/keys/analysis.cert" "$R_DIR/keys/router.cert" "$R_DIR/allowed/"
cp "$R_DIR/keys/router.cert" "$A_DIR/keys/analysis.cert" "$A_DIR/allowed/"

# --- the two configuration files ----------------------------------------------------
# Both name the same endpoints (DESIGN §4): the router's publishers bind on its bus
# address, the analysis host's on its own. NAT=1: the collector connects out instead.
host_yaml() {       # host_yaml FILE HOST WORKERS KEY SERVER_CERT COLLECTOR_EP
    local dir
    dir=$(dirname "$1")
    cat > "$1" <<YAML
global:
  host: $2
  run_dir: $dir/run
  state_dir: $dir/state
  log_level: debug
  workers: [$3]
bus:
  heartbeat_interval: 1
  endpoints:
    collector: "$6"
    bridge_mitm: "tcp://$r_bus:7102"
    buffer: "tcp://$a_bus:7103"
    correlator: "tcp://$a_bus:7104"
  curve:
    enabled: true
    cert: keys/$4.cert_secret
    server_cert: $5.cert
    allow_dir: allowed
tap:
  interface: $mir
  bpf: "tcp port 443"
  stats_interval: 1
  update_interval: 2
mitm:
  verdict_deadline_ms: 100
  trusted_proxies: ["127.0.0.1"]
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  queue_size: 4096
correlation:
  window: 5
  auto_ban: true
  ban_duration: 600
  query_endpoint: "tcp://$a_bus:7105"
YAML
}
host_yaml "$rcfg" router "collector, bridge-mitm" router analysis "tcp://$r_bus:7101"
host_yaml "$acfg" analysis "buffer, correlator" analysis router "tcp://$r_bus:7101"
R "$ctl" config check -c "$rcfg" > "$TMP/check.out" 2>&1 \
    || fail "config check (router): $(cat "$TMP/check.out")"
A "$ctl" config check -c "$acfg" > "$TMP/check.out" 2>&1 \
    || fail "config check (analysis): $(cat "$TMP/check.out")"
ok "config check passes on both hosts (each its own file, keys relative to it)"

# --- the MITM chain on the router ---------------------------------------------------
R sysctl -qw net.unix.max_dgram_qlen=512
chain_tls
CHAIN_HAPROXY_BIND="$rtr" chain_haproxy 443 8080
chain_spawn_ns "$TMP/backend.log" $PY "$SOURCE_DIR/tests/mitm/backend.py" 8081 "$TMP/backend.req"
chain_mitmdump "$TMP/mitm.log" 8080 8081 "$R_RUN/bridge-mitm.sock" --set dpi_verdict_deadline_ms=100
chain_spawn_ns "$TMP/haproxy.log" haproxy -db -f "$TMP/haproxy.cfg"

stop_host() {       # stop_host R|A FILE RUN LABEL: dpi-dualctl stop; a worker that does not
    local ns=$1 file=$2 run=$3 label=$4 rc=0 f p   # stop: its threads' stacks in the failure
    $ns "$ctl" stop -c "$file" > "$TMP/stop.out" 2>&1 || rc=$?
    [ $rc -ne 0 ] || return 0
    for f in "$run"/*.pid; do
        p=$(cat "$f" 2> /dev/null) || continue
        alive "$p" || continue
        echo "--- $(basename "$f" .pid) (pid $p) does not stop; its threads:"
        gdb -p "$p" -batch -ex 'thread apply all bt' 2> /dev/null | grep -E '^(Thread|#)' \
            | head -n 80 || true
    done
    fail "dpi-dualctl stop on the $label: exit $rc: $(cat "$TMP/stop.out")"
}

# --- start: each host its own workers -----------------------------------------------
start_host() {      # start_host R|A FILE LABEL [WORKER...]
    local ns=$1 file=$2 label=$3 rc=0; shift 3
    $ns "$ctl" start -c "$file" --timeout 60 "$@" > "$TMP/start.out" 2>&1 || rc=$?
    [ $rc -eq 0 ] || fail "dpi-dualctl start on the $label: exit $rc: $(cat "$TMP/start.out")"
}
start_host A "$acfg" "analysis host"
start_host R "$rcfg" router
for w in collector bridge-mitm; do alive "$(wpid "$R_RUN" $w)" || fail "router: $w not running"; done
for w in buffer correlator; do alive "$(wpid "$A_RUN" $w)" || fail "analysis: $w not running"; done
pid_collector=$(wpid "$R_RUN" collector) pid_bridge=$(wpid "$R_RUN" bridge-mitm)
pid_buffer=$(wpid "$A_RUN" buffer) pid_correlator=$(wpid "$A_RUN" correlator)
ok "dpi-dualctl start: router collector $pid_collector, bridge-mitm $pid_bridge; analysis buffer $pid_buffer, correlator $pid_correlator"
chain_wait 10 port_open 8081 || fail "backend not listening"
chain_wait 30 port_open 8080 || fail "mitmdump not listening"
haproxy_up() { R bash -c "exec 3<> /dev/tcp/$rtr/443" 2> /dev/null; }
chain_wait 10 haproxy_up || fail "haproxy not listening"

# independent subscribers on the other side of the link, across everything below (ip
# netns exec execs: \$! is dpi-dualctl's pid)
ip netns exec "$nsa" "$ctl" tail -c "$acfg" --connect "tcp://$r_bus:7101" --connect "tcp://$r_bus:7102" \
    tap.flow mitm. sys.heartbeat > "$TMP/a_tail.jsonl" 2> "$TMP/a_tail.err" &
tails+=($!)
ip netns exec "$nsr" "$ctl" tail -c "$rcfg" --connect "tcp://$a_bus:7104" decision sys.heartbeat \
    > "$TMP/r_tail.jsonl" 2> "$TMP/r_tail.err" &
tails+=($!)
dec_tail=$TMP/r_tail.jsonl

# --- traffic: 4 clean clients, 5 requests a second each, keep-alive, until stopped ----
cat > "$TMP/traffic.py" <<'PY'
import http.client, json, os, ssl, sys, threading, time
port, stop, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
clients = sys.argv[4:]
ctx = ssl._create_unverified_context()
lock = threading.Lock()
f = open(out, "a", buffering=1)
def run(ip):
    conn, i = None, 0
    while not os.path.exists(stop):
        i += 1
        path = "/p/%d" % (i % 5)
        t = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPSConnection("10.77.0.1", port, context=ctx, timeout=10,
                                                   source_address=(ip, 0))
            conn.request("GET", path, headers={"Host": "shop.test", "Accept": "text/html",
                                               "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
            r = conn.getresponse()
            body = r.read()
            st, err, block = r.status, "", r.getheader("X-DPI-Dual-Block") or ""
        except Exception as e:
            st, err, block = 0, repr(e), ""
            if conn:
                conn.close()
            conn = None
        with lock:
            f.write(json.dumps({"t": t, "ip": ip, "path": path, "status": st, "block": block,
                                "error": err}) + "\n")
        if conn and i % 10 == 0:        # a new connection (a new TAP flow) now and then
            conn.close()
            conn = None
        time.sleep(0.2)
ts = [threading.Thread(target=run, args=(ip,)) for ip in clients]
for t in ts:
    t.start()
for t in ts:
    t.join()
PY
C $PY "$TMP/traffic.py" 443 "$TMP/traffic.stop" "$TMP/traffic.jsonl" \
    10.77.0.10 10.77.0.11 10.77.0.12 10.77.0.13 2> "$TMP/traffic.err" &
traffic_pid=$!
across() {          # the analysis host received mitm.request and tap.flow from the router
    grep -q '"topic":"mitm.request"' "$TMP/a_tail.jsonl" \
        && grep -q '"topic":"tap.flow"' "$TMP/a_tail.jsonl"
}
wait_until 30 across || fail "no mitm.request / tap.flow from the router on the analysis host"
ok "traffic crosses: mitm.request and tap.flow received on the analysis host"

# --- 3. an unlisted client key, the wrong server key --------------------------------
cat > "$TMP/intruder/intruder.yaml" <<YAML
global:
  run_dir: $TMP/intruder/run
bus:
  curve:
    enabled: true
    cert: intruder.cert_secret
    server_cert: $R_DIR/keys/router.cert
YAML
sed "s#server_cert: .*#server_cert: $TMP/intruder/intruder.cert#; s#cert: intruder.cert_secret#cert: $A_DIR/keys/analysis.cert_secret#" \
    "$TMP/intruder/intruder.yaml" > "$TMP/intruder/wrongkey.yaml"
ep_bridge="tcp://$r_bus:7102"
rc=0
ip netns exec "$nsa" "$ctl" tail -c "$TMP/intruder/intruder.yaml" --connect "$ep_bridge" -n 1 --timeout 3 \
    > "$TMP/intruder.out" 2> "$TMP/intruder.err" || rc=$?
[ $rc -eq 1 ] && [ ! -s "$TMP/intruder.out" ] \
    || fail "an unlisted key: exit $rc, received $(wc -l < "$TMP/intruder.out") messages"
grep -q "tail: no message: handshake with $ep_bridge failed: the server refused our key" \
    "$TMP/intruder.err" || fail "unlisted key, tail said: $(cat "$TMP/intruder.err")"
key=$(sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$TMP/intruder/intruder.cert")
grep -qF "warning: bus: refused the client $a_bus (key $key, mechanism CURVE) on ZAP domain 'dpi-dual': key not in bus.curve.allow_dir" \
    "$R_RUN/bridge-mitm.log" || fail "the bridge did not log the refusal of $key: $(grep refused "$R_RUN/bridge-mitm.log")"
refused_seen() {    # a heartbeat of the bridge with auth_refused >= 1, on the analysis host
    grep '"topic":"sys.heartbeat"' "$TMP/a_tail.jsonl" | grep '"name":"bridge-mitm"' \
        | grep -q '"auth_refused":[1-9]'
}
wait_until 5 refused_seen || fail "no heartbeat of the bridge counts auth_refused"
R "$ctl" status -c "$rcfg" > "$TMP/status.out" 2>&1 || true
grep -q "bus auth: *CURVE, clients from allow_dir, [1-9][0-9]* refused" "$TMP/status.out" \
    || fail "status on the router: $(grep -i 'bus auth' "$TMP/status.out")"
refused=$(sed -n 's/.*bus auth: *CURVE, clients from allow_dir, \([1-9][0-9]*\) refused.*/\1/p' "$TMP/status.out" | head -n 1)
ok "an unlisted key receives nothing; the router's bridge logs its key and address; auth_refused $refused (status: bus auth)"
rc=0
ip netns exec "$nsa" "$ctl" tail -c "$TMP/intruder/wrongkey.yaml" --connect "$ep_bridge" -n 1 --timeout 3 \
    > "$TMP/wrongkey.out" 2> "$TMP/wrongkey.err" || rc=$?
[ $rc -eq 1 ] && [ ! -s "$TMP/wrongkey.out" ] || fail "the wrong server key: exit $rc"
grep -q "tail: no message: handshake with $ep_bridge failed: the server closed the CURVE handshake: server key mismatch? (bus.curve.server_cert)" \
    "$TMP/wrongkey.err" || fail "wrong server key, tail said: $(cat "$TMP/wrongkey.err")"
grep -q "error: bus: handshake with $ep_bridge failed" "$TMP/wrongkey.err" \
    || fail "wrong server key: no error logged by the client: $(cat "$TMP/wrongkey.err")"
ok "the wrong server key fails loudly on the client: 'handshake ... failed ... server key mismatch?'"

# --- 4. topology from the analysis host, both hosts' endpoints ------------------------
topology() {        # topology OUT: the analysis host's view, JSON; its exit status in $topo_rc
    topo_rc=0
    A "$ctl" topology -c "$acfg" --json > "$1" 2> "$TMP/topology.err" || topo_rc=$?
}
check_topology() {  # check_topology JSON STALE-WORKER|- [RESTARTED]: states, hosts, edges
    $PY - "$@" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
stale = sys.argv[2]
restarted = sys.argv[3] if len(sys.argv) > 3 else None
w = {x["name"]: x for x in t["workers"]}
want_host = {"collector": "router", "bridge-mitm": "router", "buffer": "analysis",
             "correlator": "analysis"}
for name, host in want_host.items():
    x = w.get(name)
    assert x, f"{name} missing: {sorted(w)}"
    if name == stale:
        assert x["state"] == "stale" and x["stale"], f"{name} should be stale: {x}"
    else:
        assert x["state"] == "up" and x["host"] == host, f"{name}: {x}"
        assert x["bus_auth"] == "curve", f"{name} bus_auth: {x['bus_auth']}"
if stale == "-":
    assert sorted(h["host"] for h in t["hosts"]) == ["analysis", "router"], t["hosts"]
    e = {(x["from"].split("@")[0], x["to"].split("@")[0]): x for x in t["edges"]}
    want = {("collector", "correlator"), ("bridge-mitm", "buffer"), ("bridge-mitm", "correlator"),
            ("buffer", "correlator"), ("correlator", "bridge-mitm"), ("correlator", "buffer")}
    assert set(e) == want, f"edges {sorted(e)}"
    for k in [("collector", "correlator"), ("bridge-mitm", "buffer"), ("bridge-mitm", "correlator")]:
        assert e[k]["received"] > 0, f"{k}: nothing received: {e[k]}"
        # a restarted publisher's first messages can go out before a subscriber has
        # reconnected (across tcp + CURVE, with the handshake's backoff): counted as
        # gaps (common/bus.h). Never more than the new instance sent on the edge's
        # topics (its published counters restart with it); exactness against a
        # reference is it_faults_kill's.
        allowed = 0
        if k[0] == restarted:
            pub = next(x for x in t["workers"] if x["name"] == restarted)["published"]
            allowed = sum(p["sent"] for p in pub if p["topic"] in e[k]["topics"])
        assert e[k]["gaps"] <= allowed, f"{k}: gaps {e[k]}, the new instance sent {allowed}"
PY
}
topology "$TMP/topo1.json"
[ $topo_rc -eq 0 ] || fail "topology: exit $topo_rc: $(cat "$TMP/topology.err") $(cat "$TMP/topo1.json")"
check_topology "$TMP/topo1.json" - || fail "topology (all up)"
A "$ctl" topology -c "$acfg" > "$TMP/topo1.txt" 2>&1 || true
ok "topology from the analysis host: 4 workers up on 2 hosts, 6 edges, CURVE on each"

# --- 5. a ban: correlator (analysis) -> bridge (router) -------------------------------
attack() {          # attack IP: three SQL injections, each blocked live by the bridge's rules
    local i code
    for i in 1 2 3; do
        code=$(C curl -sk --max-time 5 --interface "$1" --resolve "shop.test:443:$rtr" \
            -o /dev/null -w '%{http_code}' "https://shop.test/attack-$i?id=1%27%20OR%20%271%27%3D%271") || true
        [ "$code" = 403 ] || fail "attack $i from $1: HTTP $code, not blocked live (403)"
    done
}
banned_403() {      # a clean request from IP answered 403 by the ban list
    local body
    body=$(C curl -sk --max-time 5 --interface "$1" --resolve "shop.test:443:$rtr" \
        "https://shop.test/p/1" 2> /dev/null) || true
    [[ $body == *"Forbidden by dpi-dual (ban-list)"* ]]
}
ban_latency_ms() {  # ban_latency_ms IP TAILFILE LOG: the decision's send time -> the bridge's log line
    $PY - "$@" <<'PY'
import datetime, json, re, sys
ip, tailf, log = sys.argv[1:4]
sent = [json.loads(l)["header"]["ts_ns"] for l in open(tailf)
        if '"topic":"decision"' in l and json.loads(l).get("value", "").split("/")[0] == ip]
got = []
for l in open(log, errors="replace"):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z .* debug: ban " + re.escape(ip) + r"\b", l)
    if m:
        d = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
        got.append(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1e3)
if not sent or not got:
    print(f"no decision for {ip} sent ({len(sent)}) or logged by the bridge ({len(got)})", file=sys.stderr)
    sys.exit(1)
print("%.0f" % max(0.0, got[0] - sent[0] / 1e6))     # (the log has ms: 0 = under 1 ms)
PY
}
ban_through() {     # ban_through IP LABEL: attacks, then the next clean request is 403
    local t0
    t0=$(now_ns)
    attack "$1"
    wait_until 20 banned_403 "$1" || fail "$2: $1 not banned at the router's bridge 20 s after its attacks"
    ban_e2e_ms=$((($(now_ns) - t0) / 1000000))
    dec_seen() { grep '"topic":"decision"' "$dec_tail" | grep -q "\"value\":\"$1"; }
    wait_until 5 dec_seen "$1" || fail "$2: no decision for $1 seen on the router"
    ban_ms=$(ban_latency_ms "$1" "$dec_tail" "$R_RUN/bridge-mitm.log") \
        || fail "$2: ban latency of $1"
}
ban_through 10.77.0.66 "ban 1"
ban1_ms=$ban_ms ban1_e2e=$ban_e2e_ms
# the correlator saves a ban within a second (its reputation file): it outlives a kill -9
saved() { awk '$1 == "10.77.0.66" && $7 > 0 { found = 1 } END { exit !found }' \
              "$A_DIR/state/reputation.db" 2> /dev/null; }
wait_until 3 saved || fail "the ban of 10.77.0.66 is not in $A_DIR/state/reputation.db 3 s later"
ok "10.77.0.66 attacked, banned by the analysis host's correlator, refused by the router's bridge (403 ban-list): decision -> bridge ${ban1_ms} ms; attacks -> refused ${ban1_e2e} ms"

# --- 6./7. kill -9 under traffic: the correlator (analysis), then the bridge (router) ---
first_of_new() {    # first_of_new TAILFILE SOURCE OLD_PID: the send time (ns) of the first message
    $PY - "$@" <<'PY'   # from SOURCE's instance after OLD_PID's (a heartbeat's pid tells it)
import json, sys
tailf, source, old = sys.argv[1], sys.argv[2], int(sys.argv[3])
inst_old, first = None, None
for l in open(tailf):
    try:
        m = json.loads(l)
    except ValueError:
        continue
    h = m["header"]
    if h["source"] != source:
        continue
    if m["topic"] == "sys.heartbeat" and m.get("pid") == old:
        inst_old = h["instance"]
    elif inst_old is not None and h["instance"] != inst_old:
        first = h["ts_ns"]
        break
if first is None:
    sys.exit(1)
print(first)
PY
}
others_alive() {    # every pid alive but the one killed
    local p
    for p in "$@"; do alive "$p" || return 1; done
}
chain_alive() { local p; for p in "${CHAIN_PIDS[@]}"; do alive "$p" || return 1; done; }
kill_restart() {    # kill_restart R|A FILE RUN NAME SOURCE TAILFILE: sets new_pid, reconnect_ms
    local ns=$1 file=$2 run=$3 name=$4 source=$5 tailf=$6 old t0 first
    old=$(wpid "$run" "$name")
    kill -9 "$old"
    wait_until 5 bash -c "! kill -0 $old 2> /dev/null" || fail "$name ($old) survived kill -9"
    sleep 3.2           # 3 heartbeat intervals: stale
    topology "$TMP/topo-dead-$name.json"
    [ $topo_rc -eq 1 ] || fail "topology with $name dead: exit $topo_rc (expected 1)"
    check_topology "$TMP/topo-dead-$name.json" "$name" || fail "topology with $name dead"
    chain_alive || fail "a process of the MITM chain died after the kill of $name"
    t0=$(now_ns)
    t_bridge_start=$t0
    start_host "$ns" "$file" "$name's host"
    start_ms=$((($(now_ns) - t0) / 1000000))     # (start returns once the worker is up)
    new_pid=$(wpid "$run" "$name")
    [ -n "$new_pid" ] && [ "$new_pid" != "$old" ] && alive "$new_pid" \
        || fail "$name not restarted (pid file: '$new_pid', old $old)"
    grep -q "already running" "$TMP/start.out" || fail "start should say the other worker is already running: $(cat "$TMP/start.out")"
    first_new() { first=$(first_of_new "$tailf" "$source" "$old"); }
    wait_until 20 first_new || fail "no message from the new $name across the link within 20 s"
    reconnect_ms=$(((first - t0) / 1000000))
    [ $reconnect_ms -ge 0 ] || reconnect_ms=0
}
edge_live() {     # edge_live FROM TO MIN-RESTARTS: the edge has counted that many restarts
    topology "$TMP/topo-r.json"     # and received a message in the last 3 s
    [ $topo_rc -eq 0 ] && $PY - "$TMP/topo-r.json" "$@" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
e = [x for x in t["edges"] if x["from"] == sys.argv[2] and x["to"] == sys.argv[3]]
sys.exit(0 if e and e[0].get("restarts", 0) >= int(sys.argv[4]) and e[0].get("received", 0) > 0
         and e[0].get("last_age_s", 99) < 3 else 1)
PY
}

# --- 6. the correlator on the analysis host

kill_restart A "$acfg" "$A_RUN" correlator correlator@analysis "$TMP/r_tail.jsonl"
pid_correlator2=$new_pid reconnect_correlator_ms=$reconnect_ms start_correlator_ms=$start_ms
others_alive "$pid_collector" "$pid_bridge" "$pid_buffer" || fail "a worker died with the correlator"
wait_until 20 edge_live bridge-mitm@router correlator@analysis 0 \
    || fail "the new correlator gets nothing from the bridge: $(cat "$TMP/topo-r.json")"
wait_until 20 edge_live collector@router correlator@analysis 0 \
    || fail "the new correlator gets nothing from the collector: $(cat "$TMP/topo-r.json")"
ban_through 10.77.0.67 "ban 2 (through the restarted correlator)"
ban2_ms=$ban_ms ban2_e2e=$ban_e2e_ms
edge_live correlator@analysis buffer@analysis 1 \
    || fail "the buffer did not count the correlator's restart: $(cat "$TMP/topo-r.json")"
# the bridge's decision subscription reconnected by itself and saw the new instance
bridge_restarts_correlator() {
    topology "$TMP/topo-d.json"
    $PY - "$TMP/topo-d.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
e = [x for x in t["edges"] if x["from"] == "correlator@analysis" and x["to"] == "bridge-mitm@router"]
sys.exit(0 if e and e[0].get("restarts", 0) >= 1 and e[0].get("received", 0) >= 2 else 1)
PY
}
wait_until 10 bridge_restarts_correlator \
    || fail "the bridge did not count the correlator's restart: $(cat "$TMP/topo-d.json")"
check_topology "$TMP/topo-d.json" - correlator || fail "topology after the correlator's restart"
ok "correlator kill -9: stale while dead, restarted (pid $pid_correlator2); the router's bridge reconnected on its own (restart counted), 10.77.0.67 banned through the new correlator (${ban2_ms} ms); first message across ${reconnect_correlator_ms} ms after start"

# --- 7. the bridge on the router

kill_restart R "$rcfg" "$R_RUN" bridge-mitm bridge-mitm@router "$TMP/a_tail.jsonl"
pid_bridge2=$new_pid reconnect_bridge_ms=$reconnect_ms start_bridge_ms=$start_ms
others_alive "$pid_collector" "$pid_buffer" "$pid_correlator2" || fail "a worker died with the bridge"
# the bans of `decision` were in the old bridge's memory: the correlator sends the
# running ones again once it hears the new instance (its first mitm.* message)
bans_back() { banned_403 10.77.0.66 && banned_403 10.77.0.67; }
wait_until 10 bans_back || fail "the clients banned before the bridge's restart pass it now"
bans_back_ms=$((($(now_ns) - t_bridge_start) / 1000000))
grep -q "info: bridge-mitm@router (instance [0-9]*) is new to us: 2 running bans sent again" \
    "$A_RUN/correlator.log" || fail "the correlator did not say it sent the bans again: $(grep -i 'new to us' "$A_RUN/correlator.log")"
n=$(grep -c "replay of 10.77.0.66 (decision)" "$A_RUN/buffer.log" || true)
[ "$n" -eq 1 ] || fail "the buffer replayed 10.77.0.66 $n times (a ban sent again is not a new one)"
# the analysis host's workers reconnected on their own, and counted the restart
wait_until 20 edge_live bridge-mitm@router correlator@analysis 1 \
    || fail "the correlator did not count the bridge's restart, or gets nothing since: $(cat "$TMP/topo-r.json")"
edge_live bridge-mitm@router buffer@analysis 1 \
    || fail "the buffer did not count the bridge's restart: $(cat "$TMP/topo-r.json")"
check_topology "$TMP/topo-r.json" - bridge-mitm || fail "topology after the bridge's restart"
ok "bridge kill -9: stale while dead, restarted (pid $pid_bridge2) by start; buffer and correlator reconnected and counted the restart; first message across ${reconnect_bridge_ms} ms after start"

# --- 8. the traffic, the logs, stop ---------------------------------------------------
touch "$TMP/traffic.stop"
wait "$traffic_pid" 2> /dev/null || true
sleep 1.2                    # one more heartbeat of each, with the last counts
topology "$TMP/topo-final.json"
[ $topo_rc -eq 0 ] || fail "final topology: exit $topo_rc"
A "$ctl" topology -c "$acfg" > "$TMP/topo-final.txt" 2>&1 || true
for p in "${tails[@]}"; do kill -INT "$p" 2> /dev/null || true; wait "$p" 2> /dev/null || true; done
tails=()
$PY - "$TMP/traffic.jsonl" <<'PY' || fail "clean traffic"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = [x for x in r if x["status"] != 200]
print(f"  clean traffic: {len(r)} requests from {len({x['ip'] for x in r})} clients, "
      f"{len(bad)} not 200")
assert len(r) > 100, "too few requests"
assert not bad, f"clean requests failed or blocked: {bad[:5]}"
PY
chain_alive || fail "a process of the MITM chain died"
others_alive "$pid_collector" "$pid_bridge2" "$pid_buffer" "$pid_correlator2" \
    || fail "a worker died"
if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$R_RUN"/*.log "$A_RUN"/*.log 2> /dev/null; then
    fail "a sanitizer report in the logs above"
fi
stop_host R "$rcfg" "$R_RUN" router
stop_host A "$acfg" "$A_RUN" "analysis host"
for p in "$pid_collector" "$pid_bridge2" "$pid_buffer" "$pid_correlator2"; do
    ! alive "$p" || fail "pid $p still running after dpi-dualctl stop"
done
ok "no clean request failed; nothing else died; no sanitizer report; dpi-dualctl stop on both hosts"

# the figures of part 1-8
$PY - "$TMP/a_tail.jsonl" "$TMP/r_tail.jsonl" "$TMP/topo-final.json" "$TMP/topo-d.json" > "$TMP/figures.txt" <<'PY' \
    || fail "figures: $(cat "$TMP/figures.txt")"
import collections, json, sys
def lines(p):
    for l in open(p):
        try:
            yield json.loads(l)
        except ValueError:
            pass
recv = collections.Counter()
sent = collections.defaultdict(int)         # topic -> sum over instances of the last heartbeat
last_hb = {}
for p in sys.argv[1:3]:
    for m in lines(p):
        h = m["header"]
        if m["topic"] == "sys.heartbeat":
            last_hb[(h["source"], h["instance"])] = m
        else:
            recv[m["topic"]] += 1
for (src, inst), hb in last_hb.items():
    for x in hb.get("published", []):
        if x["topic"] != "sys.heartbeat":
            sent[(src.split("@")[0], x["topic"])] += x.get("sent", 0)
for (src, topic), n in sorted(sent.items()):
    if topic in ("tap.flow", "mitm.request", "mitm.response", "mitm.verdict", "decision"):
        print(f"topic {topic} from {src}: sent >= {n}, received across the link by "
              f"dpi-dualctl tail {recv[topic]}")
t = json.load(open(sys.argv[3]))
problems = []
for e in t["edges"]:
    a, b = e["from"].split("@")[1], e["to"].split("@")[1]
    cross = "across" if a != b else "local "
    print(f"edge {cross} {e['from']} -> {e['to']} ({' '.join(e['topics'])}): received "
          f"{e.get('received', 0)}, gaps {e.get('gaps', 0)}, restarts {e.get('restarts', 0)}, "
          f"out of order {e.get('out_of_order', 0)}")
    # the bridge was restarted (part 7): what its new instance sent before a subscriber had
    # reconnected is counted as gaps (common/bus.h), never more than it sent on those topics
    allowed = 0
    if e["from"].startswith("bridge-mitm@"):
        w = next(x for x in t["workers"] if x["id"] == e["from"])
        allowed = sum(p["sent"] for p in w["published"] if p["topic"] in e["topics"])
    if e.get("gaps", 0) > allowed:
        problems.append(f"gaps on {e['from']} -> {e['to']}: {e['gaps']} (allowed {allowed})")
# the bridge's decision edge is new since its restart: as it was before the bridge's kill
for e in json.load(open(sys.argv[4]))["edges"]:
    if e["from"] == "correlator@analysis" and e["to"] == "bridge-mitm@router":
        print(f"edge across {e['from']} -> {e['to']} (decision), before the bridge's kill: "
              f"received {e.get('received', 0)}, gaps {e.get('gaps', 0)}, restarts "
              f"{e.get('restarts', 0)}")
for topic in ("tap.flow", "mitm.request", "decision"):
    if recv[topic] == 0:
        problems.append(f"nothing of {topic} received across the link")
if problems:
    print("PROBLEM: " + "; ".join(problems))
    sys.exit(1)
PY
gaps_tail=$(cat "$TMP/a_tail.err" "$TMP/r_tail.err" | grep -o 'gaps [0-9]*' | awk '{s += $2} END {print s + 0}')
ok "messages across the hosts counted; no gap on any edge but the restarted bridge's first messages, counted"

# --- 9. the router behind NAT: the collector connects out ------------------------------
host_yaml "$R_DIR/nat.yaml" router "collector, bridge-mitm" router analysis ">tcp://$a_bus:7101"
host_yaml "$A_DIR/nat.yaml" analysis "buffer, correlator" analysis router ">tcp://$a_bus:7101"
R "$ctl" config check -c "$R_DIR/nat.yaml" > "$TMP/check.out" 2>&1 \
    || fail "config check (router, NAT): $(cat "$TMP/check.out")"
A "$ctl" config check -c "$A_DIR/nat.yaml" > "$TMP/check.out" 2>&1 \
    || fail "config check (analysis, NAT): $(cat "$TMP/check.out")"
rm -f "$TMP/traffic.stop"
ip netns exec "$nsr" "$ctl" tail -c "$R_DIR/nat.yaml" --connect "tcp://$a_bus:7104" decision \
    > "$TMP/r_tail_nat.jsonl" 2> "$TMP/r_tail_nat.err" &
tails+=($!)
dec_tail=$TMP/r_tail_nat.jsonl
start_host A "$A_DIR/nat.yaml" "analysis host (NAT)"
start_host R "$R_DIR/nat.yaml" "router (NAT)"
C $PY "$TMP/traffic.py" 443 "$TMP/traffic.stop" "$TMP/traffic-nat.jsonl" 10.77.0.10 10.77.0.11 \
    2> "$TMP/traffic-nat.err" &
traffic_pid=$!
nat_seen() {
    topo_rc=0
    A "$ctl" topology -c "$A_DIR/nat.yaml" --json > "$TMP/topo-nat.json" 2> "$TMP/topology.err" || topo_rc=$?
    $PY - "$TMP/topo-nat.json" "$a_bus" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
w = {x["name"]: x for x in t["workers"]}
c = w.get("collector", {})
assert c.get("state") == "unchecked" and c.get("pub_role") == "connect", c
e = [x for x in t["edges"] if x["from"] == "collector@router" and x["to"] == "correlator@analysis"]
assert e and e[0]["matched"] == "endpoint" and e[0]["endpoint"] == f"tcp://{sys.argv[2]}:7101", e
assert e[0]["received"] > 0 and e[0]["gaps"] == 0, e
for n in ("bridge-mitm", "buffer", "correlator"):
    assert w[n]["state"] == "up", w[n]
PY
}
wait_until 20 nat_seen || fail "router behind NAT: no tap.flow from the collector connecting out: $(cat "$TMP/topo-nat.json")"
ban_through 10.77.0.68 "ban 3 (NAT)"
ban3_ms=$ban_ms
touch "$TMP/traffic.stop"
wait "$traffic_pid" 2> /dev/null || true
stop_host R "$R_DIR/nat.yaml" "$R_RUN" "router (NAT)"
stop_host A "$A_DIR/nat.yaml" "$A_RUN" "analysis host (NAT)"
if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$R_RUN"/*.log "$A_RUN"/*.log 2> /dev/null; then
    fail "a sanitizer report in the logs above"
fi
ok "router behind NAT: the collector connects out to tcp://$a_bus:7101 where the correlator binds; tap.flow flows (topology: by endpoint, collector unchecked); 10.77.0.68 banned (${ban3_ms} ms)"

echo "--- topology (analysis host's view, after both restarts)"
cat "$TMP/topo-final.txt"
echo "=== it_two_hosts: figures ==============================================="
echo "  (sent: the last heartbeat of each instance, summed: a killed instance's last second is"
echo "  not in it; edges: the subscribers' own counters at the end, a restarted worker's since"
echo "  its start)"
sed 's/^/  /' "$TMP/figures.txt"
echo "  gaps counted by the tails across the link: $gaps_tail"
echo "  banned clients refused again by the restarted bridge (the correlator re-sends running bans): ${bans_back_ms} ms after the start command"
echo "  auth_refused on the router's bridge after one unlisted client (3 s of retries): $refused"
echo "  reconnect after kill -9 (start command -> first message of the new instance across the link;"
echo "  the correlator's first one is a heartbeat, every 1 s, the first at start often missed):"
echo "    bridge-mitm (router -> analysis): ${reconnect_bridge_ms} ms (the start command itself: ${start_bridge_ms} ms)"
echo "    correlator (analysis -> router):  ${reconnect_correlator_ms} ms (the start command itself: ${start_correlator_ms} ms)"
echo "  ban, correlator decision sent -> router bridge applies it (its log, to the ms): ${ban1_ms} ms, ${ban2_ms} ms (after the correlator's restart), ${ban3_ms} ms (NAT variant)"
echo "  ban, first attack -> the client's next request refused (403):  ${ban1_e2e} ms, ${ban2_e2e} ms"
echo "  runtime: $((SECONDS - t_begin)) s"
echo "========================================================================="
echo "it_two_hosts: ok"
