#!/bin/bash
# Bus authentication that fails closed and says so (common/busauth.c), with real
# workers on 127.0.0.1 over tcp + CURVE:
#   1. a listed client receives; the keys and allow_dir are given relative to the
#      config file and the worker starts from another directory;
#   2. an unlisted key receives nothing: the publisher logs the refusal (its key, its
#      address) and counts it (heartbeat auth_refused, shown by status); tail says why;
#   3. a plaintext client: refused (it leaves at the CURVE greeting), logged and counted;
#   4. a client holding the wrong server key: tail says "handshake ... failed ... server
#      key mismatch?", and it retries with a backoff (a handful of attempts in 5 s where
#      ZeroMQ alone makes ~60 a second);
#   5. allow_dir "*" is refused by config check and at start; allow_any: true starts with
#      a warning, and status says UNAUTHENTICATED;
#   6. config check of both sides (the binding and the connecting config) passes; an
#      allow_dir holding a file that is not a certificate does not;
#   7. a bind that fails (the port in use) is an error naming the endpoint and why;
#   8. two CURVE binds in one process (the correlator's publisher and query service):
#      both authenticate (czmq's zauth could be started only once per process);
#   9. keys new names the file that exists.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
bridge="$BUILD_DIR/bridge-mitm/dpi-bridge-mitm"
correlator="$BUILD_DIR/correlator/dpi-correlator"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
py=/usr/bin/python3
tmp=$(mktemp -d)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for f in "$tmp"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_bus_auth: FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_port PORT: until something listens there (without connecting: a connection
# that leaves before the handshake is a refusal, logged and counted)
wait_port() {
    for _ in $(seq 300); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}
public_key() { sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$1"; }

srv=$tmp/router; cli=$tmp/analysis
mkdir -p "$srv/keys" "$srv/allowed" "$cli"
"$ctl" keys new server "$srv/keys" > /dev/null
"$ctl" keys new client "$cli" > /dev/null
"$ctl" keys new intruder "$cli" > /dev/null
cp "$cli/client.cert" "$srv/allowed/"
cp "$srv/keys/server.cert" "$cli/"
port=$(free_port)
ep="tcp://127.0.0.1:$port"

# server: the bridge binds $ep; paths relative to the config file
server_yaml() {     # FILE CURVE-LINES...
    local file=$1; shift
    {
        cat <<YAML
global:
  run_dir: $(dirname "$file")/run
mitm:
  rules_file: ""
bus:
  heartbeat_interval: 1
  endpoints:
    bridge_mitm: "$ep"
  curve:
    enabled: true
YAML
        for line in "$@"; do echo "    $line"; done
    } > "$file"
}
# (the analysis side reaches the bridge with --connect: the bridge's own endpoint
# key describes its bind, which config check checks as such)
client_yaml() {     # FILE CERT SERVER-CERT [enabled]
    cat > "$1" <<YAML
global:
  run_dir: $tmp/ctlrun
bus:
  curve:
    enabled: ${4:-true}
    cert: $2
    server_cert: $3
YAML
}
server_yaml "$srv/dpi-dual.yaml" "cert: keys/server.cert_secret" "allow_dir: allowed"
client_yaml "$cli/good.yaml" "$cli/client.cert_secret" "$cli/server.cert"
client_yaml "$cli/intruder.yaml" "$cli/intruder.cert_secret" "$cli/server.cert"
client_yaml "$cli/wrongkey.yaml" "$cli/client.cert_secret" "$cli/intruder.cert"
client_yaml "$cli/plain.yaml" '""' '""' false

tail_hb() {     # CONFIG TIMEOUT: one heartbeat, or nothing; stderr in $tmp/tail.err
    "$ctl" tail -c "$1" --connect "$ep" -n 1 --timeout "$2" sys.heartbeat 2> "$tmp/tail.err"
}
refused_count() {       # the bridge's auth_refused, from its next heartbeat
    tail_hb "$cli/good.yaml" 5 | "$py" -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("auth_refused", 0))'
}

# --- 6a. config check, both sides ---------------------------------------------------
"$ctl" config check -c "$srv/dpi-dual.yaml" > "$tmp/check.out" 2>&1 \
    || fail "config check (router side): $(cat "$tmp/check.out")"
"$ctl" config check -c "$cli/good.yaml" > "$tmp/check.out" 2>&1 \
    || fail "config check (analysis side): $(cat "$tmp/check.out")"
# the analysis host's own file names the router's endpoint: with global.workers saying
# the bridge runs elsewhere, this host connects there (server_cert), it does not bind
cat > "$cli/analysis.yaml" <<YAML
global:
  run_dir: $tmp/anrun
  workers: [buffer, correlator]
bus:
  endpoints:
    bridge_mitm: "$ep"
  curve:
    enabled: true
    cert: client.cert_secret
    server_cert: server.cert
    allow_dir: $srv/allowed
YAML
"$ctl" config check -c "$cli/analysis.yaml" > "$tmp/check.out" 2>&1 \
    || fail "config check (analysis side, naming the router's endpoint): $(cat "$tmp/check.out")"
sed '/server_cert/d' "$cli/analysis.yaml" > "$cli/analysis-nokey.yaml"
rc=0; "$ctl" config check -c "$cli/analysis-nokey.yaml" > "$tmp/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -qF "bus.endpoints.bridge_mitm: '$ep' connects over CURVE (here, the other end of a worker not in global.workers), which needs bus.curve.server_cert" \
    "$tmp/check.out" || fail "analysis side without server_cert: exit $rc: $(cat "$tmp/check.out")"
ok "config check passes on both sides; the analysis side checks the router's endpoint as a client"

# --- 1. a listed client -------------------------------------------------------------
(cd / && exec "$bridge" -c "$srv/dpi-dual.yaml") 2> "$tmp/bridge.err" &
pids+=($!)
wait_port "$port" || fail "the bridge did not bind $ep"
tail_hb "$cli/good.yaml" 10 > "$tmp/hb.json" || fail "a listed client got nothing: $(cat "$tmp/tail.err")"
"$py" - "$tmp/hb.json" <<'EOF' || fail "heartbeat: $(cat "$tmp/hb.json")"
import json, sys
hb = json.loads(open(sys.argv[1]).readline())
assert hb["name"] == "bridge-mitm", hb
assert hb["bus_auth"] == "curve", hb
assert hb.get("auth_refused", 0) == 0, hb
EOF
ok "a listed client receives (keys relative to the config, started from /); bus_auth curve, 0 refused"

# --- 2. an unlisted key -------------------------------------------------------------
rc=0; tail_hb "$cli/intruder.yaml" 3 > "$tmp/out" || rc=$?
[ $rc -eq 1 ] && [ ! -s "$tmp/out" ] || fail "unlisted key: exit $rc, output $(cat "$tmp/out")"
grep -q "tail: no message: handshake with $ep failed: the server refused our key" "$tmp/tail.err" \
    || fail "unlisted key, tail said: $(cat "$tmp/tail.err")"
key=$(public_key "$cli/intruder.cert")
grep -qF "warning: bus: refused the client 127.0.0.1 (key $key, mechanism CURVE) on ZAP domain 'dpi-dual': key not in bus.curve.allow_dir" \
    "$tmp/bridge.err" || fail "the refusal is not logged: $(cat "$tmp/bridge.err")"
sleep 1.2
n=$(refused_count)
[ "$n" -ge 1 ] || fail "auth_refused $n after an unlisted key"
"$ctl" status -c "$cli/good.yaml" --connect "$ep" --timeout 3 > "$tmp/status" 2>&1 || true
grep -q "bus auth: *CURVE, clients from allow_dir, [0-9]* refused" "$tmp/status" \
    || fail "status: $(cat "$tmp/status")"
ok "an unlisted key gets nothing; logged with its key and address; auth_refused $n; tail says why"

# --- 3. a plaintext client ----------------------------------------------------------
before=$(refused_count)
rc=0; tail_hb "$cli/plain.yaml" 2 > "$tmp/out" || rc=$?
[ $rc -eq 1 ] && [ ! -s "$tmp/out" ] || fail "plaintext client: exit $rc, output $(cat "$tmp/out")"
# (the server sees either the mismatch or the client leaving at the greeting first)
grep -q "warning: bus: refused the client 127.0.0.1:[0-9]* on $ep: \(mechanism mismatch (a client without CURVE?)\|the client left during the handshake (Broken pipe): a client without CURVE\)" "$tmp/bridge.err" \
    || fail "a plaintext client is not logged: $(grep refused "$tmp/bridge.err")"
sleep 1.2
after=$(refused_count)
[ "$after" -gt "$before" ] || fail "a plaintext client is not counted ($before -> $after)"
ok "a plaintext client gets nothing; logged (with its address) and counted"

# --- 4. the wrong server key --------------------------------------------------------
before=$(refused_count)
rc=0; tail_hb "$cli/wrongkey.yaml" 5 > "$tmp/out" || rc=$?
[ $rc -eq 1 ] && [ ! -s "$tmp/out" ] || fail "wrong server key: exit $rc, output $(cat "$tmp/out")"
grep -q "tail: no message: handshake with $ep failed: the server closed the CURVE handshake: server key mismatch? (bus.curve.server_cert)" \
    "$tmp/tail.err" || fail "wrong server key, tail said: $(cat "$tmp/tail.err")"
[ "$(grep -c "handshake with $ep failed" "$tmp/tail.err")" -le 2 ] \
    || fail "the failure is logged at every attempt: $(cat "$tmp/tail.err")"
grep -q "cryptographic error (a client holding the wrong server key?)" "$tmp/bridge.err" \
    || fail "the server does not say it: $(grep refused "$tmp/bridge.err")"
sleep 1.2
after=$(refused_count)
attempts=$((after - before))
[ "$attempts" -ge 1 ] && [ "$attempts" -le 6 ] \
    || fail "wrong server key: $attempts handshakes in 5 s (expected a backoff: 1 to 6)"
ok "wrong server key: said once ('server key mismatch?'), $attempts attempts in 5 s (backoff), refused on the server"

# --- 7. a bind that fails -----------------------------------------------------------
mkdir -p "$tmp/second"
server_yaml "$tmp/second/dpi-dual.yaml" "cert: $srv/keys/server.cert_secret" "allow_dir: $srv/allowed"
rc=0; "$bridge" -c "$tmp/second/dpi-dual.yaml" 2> "$tmp/second.err" || rc=$?
[ $rc -eq 1 ] || fail "a second bind of $ep: exit $rc"
grep -q "cannot bind $ep: Address already in use" "$tmp/second.err" || fail "$(cat "$tmp/second.err")"
ok "a bind that fails: exit 1, 'cannot bind $ep: Address already in use'"
kill "${pids[0]}"; wait "${pids[0]}" 2> /dev/null || true; pids=()

# --- 5. allow_dir "*" and allow_any -------------------------------------------------
mkdir -p "$tmp/star" "$tmp/any"
server_yaml "$tmp/star/dpi-dual.yaml" "cert: $srv/keys/server.cert_secret" 'allow_dir: "*"'
rc=0; "$ctl" config check -c "$tmp/star/dpi-dual.yaml" > "$tmp/star.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "bus.curve.allow_dir: '\*' is not a directory: to accept any client key (encryption without authentication) say bus.curve.allow_any: true" \
    "$tmp/star.out" || fail "allow_dir '*': exit $rc: $(cat "$tmp/star.out")"
rc=0; "$bridge" -c "$tmp/star/dpi-dual.yaml" 2> "$tmp/star.err" || rc=$?
[ $rc -eq 1 ] && grep -q "allow_dir: '\*' is not a directory" "$tmp/star.err" \
    || fail "the bridge with allow_dir '*': exit $rc: $(cat "$tmp/star.err")"
server_yaml "$tmp/any/dpi-dual.yaml" "cert: $srv/keys/server.cert_secret" "allow_any: true"
"$ctl" config check -c "$tmp/any/dpi-dual.yaml" > /dev/null 2>&1 || fail "allow_any: config check fails"
"$bridge" -c "$tmp/any/dpi-dual.yaml" 2> "$tmp/any.err" &
pids+=($!)
wait_port "$port" || fail "the bridge with allow_any did not bind"
tail_hb "$cli/intruder.yaml" 10 > /dev/null || fail "allow_any: any key should receive: $(cat "$tmp/tail.err")"
grep -q "warning: bus.curve.allow_any: ANY client key is accepted on the endpoints we bind — encrypted, but NOT authenticated" \
    "$tmp/any.err" || fail "allow_any: no warning: $(cat "$tmp/any.err")"
"$ctl" status -c "$cli/good.yaml" --connect "$ep" --timeout 3 > "$tmp/status" 2>&1 || true
grep -q "bus auth: *CURVE, any client key accepted: UNAUTHENTICATED (allow_any)" "$tmp/status" \
    || fail "status with allow_any: $(cat "$tmp/status")"
kill "${pids[0]}"; wait "${pids[0]}" 2> /dev/null || true; pids=()
ok "allow_dir '*' refused (config check and start); allow_any warns at start, status says UNAUTHENTICATED"

# --- 6b. an allow_dir with a file that is not a certificate ------------------------
echo "not a key" > "$srv/allowed/README"
rc=0; "$ctl" config check -c "$srv/dpi-dual.yaml" > "$tmp/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "bus.curve.allow_dir: '$srv/allowed/README' is not a certificate" "$tmp/check.out" \
    || fail "allow_dir with a stray file: exit $rc: $(cat "$tmp/check.out")"
rm "$srv/allowed/README"
ok "config check names a file in allow_dir that is not a certificate"

# --- 8. two CURVE binds in one process ----------------------------------------------
qport=$(free_port); cport=$(free_port)
mkdir -p "$tmp/corr"
cat > "$tmp/corr/dpi-dual.yaml" <<YAML
global:
  run_dir: $tmp/corr/run
  state_dir: $tmp/corr/state
bus:
  heartbeat_interval: 1
  endpoints:
    correlator: "tcp://127.0.0.1:$cport"
  curve:
    enabled: true
    cert: $srv/keys/server.cert_secret
    allow_dir: $srv/allowed
correlation:
  query_endpoint: "tcp://127.0.0.1:$qport"
YAML
"$correlator" -c "$tmp/corr/dpi-dual.yaml" 2> "$tmp/corr.err" &
pids+=($!)
wait_port "$qport" && wait_port "$cport" || fail "the correlator did not bind both: $(cat "$tmp/corr.err")"
"$ctl" tail -c "$cli/good.yaml" --connect "tcp://127.0.0.1:$cport" -n 1 --timeout 10 sys.heartbeat \
    > /dev/null 2> "$tmp/tail.err" || fail "correlator publisher over CURVE: $(cat "$tmp/tail.err")"
cat > "$cli/corr.yaml" <<YAML
global:
  run_dir: $tmp/ctlrun
bus:
  curve:
    enabled: true
    cert: $cli/client.cert_secret
    server_cert: $cli/server.cert
correlation:
  query_endpoint: "tcp://127.0.0.1:$qport"
YAML
"$ctl" threats -c "$cli/corr.yaml" > "$tmp/threats" 2>&1 || fail "query over CURVE: $(cat "$tmp/threats")"
kill -0 "${pids[0]}" || fail "the correlator died"
ok "two CURVE binds in one process (publisher + query service): both serve a listed client"

# --- 9. keys new names the file that exists ----------------------------------------
mkdir -p "$tmp/k"
"$ctl" keys new one "$tmp/k" > /dev/null
rm "$tmp/k/one.cert"
rc=0; "$ctl" keys new one "$tmp/k" 2> "$tmp/keys.err" || rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/k/one.cert_secret already exists" "$tmp/keys.err" \
    || fail "keys new: exit $rc: $(cat "$tmp/keys.err")"
ok "keys new names the file that exists (NAME.cert_secret)"
echo "it_bus_auth: ok"
