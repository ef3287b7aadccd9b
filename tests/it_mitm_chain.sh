#!/bin/bash
# The MITM chain with real processes on loopback:
#   curl --TLS--> haproxy (deploy/haproxy/haproxy.cfg) --> mitmdump -s dpi_bridge.py
#        --> backend (tests/mitm/backend.py), the addon talking to dpi-bridge-mitm,
#   and dpi-dualctl tail on the bridge's bus endpoint.
# (a)  the client tuple survives HAProxy (spoofed X-Forwarded-For & co. ignored) and the
#      bridge's community_id is Community ID v1 of client -> frontend, computed here
#      independently; a direct, untrusted peer's headers are not believed;
# (d)  a SQLi request gets 403 with the rule id, and never reaches the backend;
# (b)  a `decision` ban for 127.0.0.3 blocks it (403, X-DPI-Dual-Block: ban-list), other
#      clients pass, and after its 3 s expiry it passes again;
# (f)  the body window (mitm.body_bytes, the addon's --set dpi_body_bytes): a 20 KiB POST
#      body arrives on the bus as a 16384-byte body_prefix with body_truncated, a 2 KiB one
#      whole and not truncated; an attack at byte 10000 of a body is blocked by a fast rule
#      (the rules scan the whole window);
# (c)  with the bridge killed, requests still pass (fail open) and the addon counts it.
# The addon's verdict deadline is 20 ms here (2 ms by default): this machine may be a
# loaded 2-core box, and a verdict that misses the deadline lets (b)/(d) through (fail
# open); such a miss is told from a wrong decision with the bus's mitm.verdict.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
bridge="$BUILD_DIR/bridge-mitm/dpi-bridge-mitm"
decide="$BUILD_DIR/tests/dpi-testpub"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
helpers="$SOURCE_DIR/tests/mitm"
for exe in "$bridge" "$decide" "$ctl"; do
    [ -x "$exe" ] || { echo "it_mitm_chain: $exe is not built"; exit 1; }
done
for tool in haproxy mitmdump openssl curl; do
    command -v "$tool" > /dev/null || { echo "it_mitm_chain: $tool is not installed"; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for log in bridge.log mitm.log haproxy.log tail.err stats.json; do
            [ -s "$tmp/$log" ] && { echo "--- $log"; tail -n 30 "$tmp/$log"; }
        done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_mitm_chain: FAIL: $*"; exit 1; }
start() { "$@" & pids+=($!); }

TMP=$tmp
. "$SOURCE_DIR/tests/lib/mitm_chain.sh"      # chain_ports, chain_tls, chain_haproxy, ...
wait_for() { chain_wait "$@"; }

# four distinct free ports: backend, mitmdump, haproxy, case (a)'s client port
chain_ports 4
read -r p_back p_mitm p_tls p_client <<< "${CHAIN_PORTS[*]}"
run="$tmp/run"; mkdir -p "$run"
cfg="$tmp/dpi-dual.yaml"
cat > "$cfg" <<YAML
global:
  host: mitmtest
  run_dir: $run
bus:
  endpoints:
    bridge_mitm: "ipc://$run/bridge-mitm.pub"
    correlator: "ipc://$run/correlator.pub"
mitm:
  socket: $run/bridge-mitm.sock
  verdict_deadline_ms: 20
  trusted_proxies: ["127.0.0.1"]
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
  publish_all_verdicts: true
  body_bytes: 16384
YAML

# TLS certificate for "shop.test"; the shipped haproxy.cfg with test ports and paths
chain_tls
chain_haproxy "$p_tls" "$p_mitm"

# --- start everything -------------------------------------------------------------
start $PY "$helpers/backend.py" "$p_back" "$tmp/backend.log"
start "$bridge" -c "$cfg" > "$tmp/bridge.log" 2>&1
bridge_pid=$!
start "$ctl" tail -c "$cfg" --connect "ipc://$run/bridge-mitm.pub" mitm. \
    > "$tmp/bus.jsonl" 2> "$tmp/tail.err"
start mitmdump --mode "reverse:http://127.0.0.1:$p_back" \
    --listen-host 127.0.0.1 --listen-port "$p_mitm" \
    -s "$SOURCE_DIR/deploy/mitmproxy/dpi_bridge.py" \
    --set connection_strategy=lazy --set keep_host_header=true --set flow_detail=0 \
    --set confdir="$tmp/mitmproxy" \
    --set dpi_socket="$run/bridge-mitm.sock" --set dpi_trusted_proxies=127.0.0.1 \
    --set dpi_verdict_deadline_ms=20 --set dpi_body_bytes=16384 \
    --set dpi_stats_file="$tmp/stats.json" --set dpi_stats_interval=1 \
    > "$tmp/mitm.log" 2>&1
start haproxy -db -f "$tmp/haproxy.cfg" > "$tmp/haproxy.log" 2>&1

chain_up "$bridge_pid" "$run/bridge-mitm.sock" "$p_back" "$p_mitm" "$p_tls"
bridge_up() {   # (e)
    kill -0 "$bridge_pid" 2> /dev/null || fail "dpi-bridge-mitm exited"
    test -S "$run/bridge-mitm.sock"
}

url="https://shop.test:$p_tls"
# req FROM-IP PATH [curl args...]: prints "STATUS BLOCK-HEADER" (the header "-" if absent)
req() {
    local from=$1 path=$2; shift 2
    curl -sk --max-time 10 --resolve "shop.test:$p_tls:127.0.0.1" --interface "$from" \
        -D "$tmp/hdr" -o /dev/null -w '%{http_code}' "$@" "$url$path" || true
    local block
    block=$(tr -d '\r' < "$tmp/hdr" | sed -n 's/^[Xx]-[Dd][Pp][Ii]-[Dd]ual-[Bb]lock: //p')
    echo " ${block:--}"
}

# The chain and the bus are up once a request shows up on the bus (tail has subscribed).
# (a browser's quoted sec-ch-ua rides along: escaped by the addon, undone by the bridge,
# both on their fast paths — the bridge's summary at (c) counts every record read in place)
warm() { req 127.0.0.5 "/warmup" -H 'sec-ch-ua: "Chromium";v="118", "Not=A?Brand";v="99"' \
    > /dev/null; $PY "$helpers/bus.py" find "$tmp/bus.jsonl" 0.5 \
    topic=mitm.request path=/warmup > /dev/null 2>&1; }
wait_for 20 warm || fail "no mitm.request on the bus for warm-up requests"

# --- (a) the client tuple and its Community ID --------------------------------------
out=$(curl -sk --max-time 10 --resolve "shop.test:$p_tls:127.0.0.1" \
    --interface 127.0.0.2 --local-port "$p_client" \
    -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Client-Port: 1' -H 'X-Frontend-IP: 6.6.6.7' \
    -H 'X-Request-ID: spoofed-id' -H 'X-TLS-SNI: spoofed.example' \
    -o /dev/null -w '%{http_code} %{local_ip} %{local_port}' "$url/case-a?q=1")
[ "$out" = "200 127.0.0.2 $p_client" ] || fail "(a) curl: '$out'"
a_req=$($PY "$helpers/bus.py" find "$tmp/bus.jsonl" 5 topic=mitm.request path=/case-a) \
    || fail "(a) no mitm.request"
a_resp=$($PY "$helpers/bus.py" find "$tmp/bus.jsonl" 5 topic=mitm.response \
    flow_id="$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["flow_id"])' "$a_req")") \
    || fail "(a) no mitm.response"
$PY - "$a_req" "$a_resp" "$p_client" "$p_tls" "$SOURCE_DIR/tests/lib" <<'PY'
import json, sys
req, resp = json.loads(sys.argv[1]), json.loads(sys.argv[2])
cport, fport = int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, sys.argv[5])
from community_id import community_id
want = community_id("127.0.0.2", "127.0.0.1", 6, cport, fport)
def check(cond, what):
    if not cond:
        sys.exit(f"(a) {what}:\n{json.dumps(req)}\n{json.dumps(resp)}")
check(req["client_ip"] == "127.0.0.2" and req["client_port"] == cport, "client tuple")
check(req["client_from_proxy"] is True, "client_from_proxy")
check(req["frontend_ip"] == "127.0.0.1" and req["frontend_port"] == fport, "frontend tuple")
check(req["community_id"] == want, f"community_id, want {want}")
check(resp["community_id"] == want and resp["status"] == 200, "mitm.response")
check(resp["client_ip"] == "127.0.0.2" and resp["client_port"] == cport, "response client")
check(req["request_id"] and req["request_id"] == resp["request_id"]
      and "spoofed" not in req["request_id"], "request_id")
check(req["tls_sni"] == "shop.test" and req["tls_version"].startswith("TLSv1."), "tls")
check(req["host"].startswith("shop.test") and req["method"] == "GET"
      and req["query"] == "q=1", "request line")
hdr = [(h["name"].lower(), h["value"]) for h in req["headers"]]
check([v for n, v in hdr if n == "x-forwarded-for"] == ["127.0.0.2"], "one X-Forwarded-For")
check(not any("6.6.6." in v or "spoofed" in v for _, v in hdr), "spoofed header kept")
print(f"(a) ok: 127.0.0.2:{cport} -> 127.0.0.1:{fport} {want}")
PY

# (a2) straight to mitmdump from an untrusted peer: its proxy headers are ignored
out=$(curl -s --max-time 10 --interface 127.0.0.4 -H 'X-Forwarded-For: 6.6.6.6' \
    -H 'X-Client-Port: 1' -o /dev/null -w '%{http_code} %{local_port}' \
    "http://127.0.0.1:$p_mitm/case-a2")
[ "${out%% *}" = 200 ] || fail "(a2) curl: '$out'"
a2=$($PY "$helpers/bus.py" find "$tmp/bus.jsonl" 5 topic=mitm.request path=/case-a2) \
    || fail "(a2) no mitm.request"
$PY - "$a2" "${out##* }" "$p_mitm" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert (r["client_ip"], r["client_port"], r["frontend_port"]) == \
    ("127.0.0.4", int(sys.argv[2]), int(sys.argv[3])), r
assert not r.get("client_from_proxy") and not r.get("request_id"), r
print("(a2) ok: untrusted peer's X-Forwarded-For ignored")
PY

# The bridge publishes every verdict here (mitm.publish_all_verdicts), so the test can tell
# the bridge's decision from the HTTP outcome: on a starved machine an answer may still miss
# the deadline, and the request then passes (fail open, by design). Such a miss is retried
# (and said), never taken for a wrong decision.
verdict() { $PY "$helpers/bus.py" verdict "$tmp/bus.jsonl" 5 "$@"; }

# --- (d) a fast rule blocks SQL injection --------------------------------------------
sqli='/?id=1%27%20UNION%20SELECT%20password%20FROM%20users'
passed=0
for try in 1 2 3; do
    read -r code block < <(req 127.0.0.2 "$sqli&try=$try")
    read -r action reason rule < <(verdict "query=${sqli#/?}&try=$try") \
        || fail "(d) no mitm.verdict for the SQLi request"
    [ "$action" = BLOCK ] && [ "$reason" = rule ] && [ "$rule" != - ] \
        || fail "(d) the bridge decided '$action $reason $rule' on the SQLi request"
    [ "$code" = 403 ] && break
    [ "$code" = 200 ] || fail "(d) SQLi answered $code"
    passed=$((passed + 1))
    echo "(d) note: the block verdict missed the 20 ms deadline (loaded machine?); again"
done
[ "$code" = 403 ] || fail "(d) 3 block verdicts in a row missed the deadline"
[ "$block" = "rule; rule=$rule" ] || fail "(d) X-DPI-Dual-Block: '$block', rule $rule"
[ "$(grep -ci union "$tmp/backend.log")" = $passed ] || fail "(d) a blocked request reached the backend"
echo "(d) ok: 403, X-DPI-Dual-Block: $block"

# --- (b) a ban decision, then its expiry --------------------------------------------
read -r code block < <(req 127.0.0.3 /case-b-before)
[ "$code" = 200 ] || fail "(b) 127.0.0.3 answered $code before the decision"
t0=$SECONDS
"$decide" -c "$cfg" --bind "ipc://$run/correlator.pub" --name correlator --topic decision -n 1 \
    --value 127.0.0.3 --duration 3 --wait-subscriber 5000 \
    || fail "(b) dpi-testpub (decision) failed"
n=0
banned() { n=$((n + 1)); read -r code block < <(req 127.0.0.3 "/case-b-ban-$n"); [ "$code" = 403 ]; }
wait_for 5 banned || fail "(b) 127.0.0.3 not blocked after the decision"
[ "$block" = ban-list ] || fail "(b) X-DPI-Dual-Block: '$block'"
[ "$(verdict "path=/case-b-ban-$n")" = "BLOCK ban-list -" ] || fail "(b) mitm.verdict of the ban"
read -r code _ < <(req 127.0.0.2 /case-b-other)
[ "$code" = 200 ] || fail "(b) another client answered $code during the ban"
[ "$(verdict path=/case-b-other)" = "ALLOW - -" ] || fail "(b) another client not allowed"
n=0
unbanned() {
    n=$((n + 1))
    read -r code _ < <(req 127.0.0.3 "/case-b-after-$n")
    [ "$code" = 200 ] || return 1
    local v; v=$(verdict "path=/case-b-after-$n") || fail "(b) no verdict for /case-b-after-$n"
    [ "$v" = "ALLOW - -" ] || { echo "(b) note: a ban verdict missed the deadline ($v)"; return 1; }
}
wait_for 10 unbanned || fail "(b) 127.0.0.3 still blocked 10 s after a 3 s ban"
[ $((SECONDS - t0)) -ge 2 ] || fail "(b) the ban ended after $((SECONDS - t0)) s, not 3"
echo "(b) ok: banned, then passing again after $((SECONDS - t0)) s"

# --- (f) the body window -------------------------------------------------------------
# bodies of digits and commas (no rule matches them): 20 KiB, then 2 KiB
$PY -c 'import sys; sys.stdout.write("".join("%07d," % i for i in range(2560)))' > "$tmp/body-20k"
head -c 2048 "$tmp/body-20k" > "$tmp/body-2k"
for size in 20k 2k; do
    read -r code block < <(req 127.0.0.2 "/case-f-$size" --data-binary "@$tmp/body-$size" \
        -H 'Content-Type: application/octet-stream')
    [ "$code" = 200 ] || fail "(f) POST of $size answered $code ($block)"
    m=$($PY "$helpers/bus.py" find "$tmp/bus.jsonl" 5 topic=mitm.request path="/case-f-$size") \
        || fail "(f) no mitm.request for the $size body"
    $PY - "$m" "$tmp/body-$size" <<'PY' || fail "(f) the $size body on the bus"
import base64, hashlib, json, sys
m = json.loads(sys.argv[1])
body = open(sys.argv[2], "rb").read()
window = base64.b64decode(m["body_prefix"])
want = body[:16384]
assert m["body_length"] == len(body) and m["body_sha256"] == hashlib.sha256(body).hexdigest(), \
    (m["body_length"], len(body))
assert window == want, f"body_prefix of {len(window)} bytes, want the first {len(want)}"
assert m["body_truncated"] is (len(body) > 16384), m["body_truncated"]
print(f"(f) ok: a body of {len(body)} bytes: body_prefix {len(window)} bytes, "
      f"body_truncated {m['body_truncated']}")
PY
done
# an attack past the old 1 KiB window, at byte 10000 of the body
{ head -c 10000 "$tmp/body-20k"; printf '<script>alert(1)</script>'; } > "$tmp/body-xss"
for try in 1 2 3; do
    read -r code block < <(req 127.0.0.2 "/case-f-xss-$try" --data-binary "@$tmp/body-xss")
    read -r action reason rule < <(verdict "path=/case-f-xss-$try") \
        || fail "(f) no mitm.verdict for the body attack"
    [ "$action" = BLOCK ] && [ "$reason" = rule ] \
        || fail "(f) the bridge decided '$action $reason $rule' on an attack at byte 10000"
    [ "$code" = 403 ] && break
    echo "(f) note: the block verdict missed the 20 ms deadline (loaded machine?); again"
done
[ "$code" = 403 ] || fail "(f) 3 block verdicts in a row missed the deadline"
echo "(f) ok: an attack at byte 10000 of the body blocked ($block)"

# --- (c) no bridge: fail open, counted ------------------------------------------------
before=$($PY "$helpers/bus.py" stats "$tmp/stats.json" 5 sent\>=1) || fail "(c) no stats file"
read -r fo ud ba < <($PY -c 'import json,sys; d=json.loads(sys.argv[1]);
print(d["fail_open"], d["undelivered"], d["bad_answers"])' "$before")
[ "$ba" = 0 ] || fail "(c) the addon counted $ba bad answers from the bridge"
kill "$bridge_pid"
rc=0; wait "$bridge_pid" || rc=$?
[ $rc -eq 0 ] || fail "(c) dpi-bridge-mitm exited with status $rc on SIGTERM"
# Its summary: the addon's records were read in place (bridge-mitm/record_fast.c), so the
# addon's layout and the bridge's reader agree; none rejected.
summary=$(grep -o '[0-9]* records in [0-9]* datagrams ([0-9]* rejected, [0-9]* read in place)' \
    "$tmp/bridge.log") || fail "(c) no summary line in the bridge's log"
read -r total datagrams rejected in_place <<< "$(tr -cs '0-9' ' ' <<< "$summary")"
[ "$rejected" = 0 ] && [ "$total" -ge 10 ] && [ "$in_place" = "$total" ] \
    || fail "(c) bridge summary: '$summary' (every record of the real addon should be read in place)"
[ "$datagrams" -ge 1 ] && [ "$datagrams" -le "$total" ] \
    || fail "(c) bridge summary: '$summary' (datagrams counted)"
for i in 1 2 3; do
    read -r code block < <(req 127.0.0.2 "/case-c-$i")
    [ "$code" = 200 ] && [ "$block" = - ] || fail "(c) request $i without bridge: $code $block"
done
[ "$(grep -c 'GET /case-c-' "$tmp/backend.log")" = 3 ] || fail "(c) requests missing at the backend"
$PY "$helpers/bus.py" stats "$tmp/stats.json" 5 "fail_open>=$((fo + 3))" \
    "undelivered>=$((ud + 6))" > /dev/null || fail "(c) fail_open/undelivered not counted"
echo "(c) ok: 3 requests passed without the bridge, counted as fail_open and undelivered"

# --- (e) the bridge restarted: the addon reaches its new socket -----------------------
# (the addon's socket was connected to the old one: it must connect again by itself)
start "$bridge" -c "$cfg" > "$tmp/bridge2.log" 2>&1
bridge_pid=$!
wait_for 180 bridge_up || fail "(e) the restarted bridge did not create its socket"
before=$($PY "$helpers/bus.py" stats "$tmp/stats.json" 5 sent\>=1) || fail "(e) no stats file"
va=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["verdict_allow"])' "$before")
restarted() { req 127.0.0.2 "/case-e-$1" > /dev/null; $PY "$helpers/bus.py" find "$tmp/bus.jsonl" 0.5 \
    topic=mitm.request path="/case-e-$1" > /dev/null 2>&1; }
n=0
again() { n=$((n + 1)); restarted $n; }
wait_for 10 again || fail "(e) no mitm.request from the restarted bridge"
$PY "$helpers/bus.py" stats "$tmp/stats.json" 5 "verdict_allow>=$((va + 1))" > /dev/null \
    || fail "(e) no verdict answered by the restarted bridge"
echo "(e) ok: after a bridge restart, records and verdicts flow again ($n request(s))"

grep -q Traceback "$tmp/mitm.log" && fail "a Python traceback in mitmdump's log"
echo "it_mitm_chain: ok"
