#!/bin/bash
# dpi-api with the real workers: dpi-correlator, dpi-buffer (the CRS of deploy/buffer, fed
# recorded mitm.request/response lines by dpi-testpub standing in for the bridge) and
# dpi-collector reading a dpi-pcapgen capture onto the bus; curl on every route:
# (a) start-up: a token file readable by others is refused (exit 1, the reason, no token in
#     it); dpi-api up, in `dpi-dualctl status` (api.enabled) and topology;
# (b) GET /api/dpi/tap/flows: the capture's flows (their tuples, as pcapgen wrote them),
#     filters ip, proto, since, and paging (limit, offset, total); the event stream
#     (/api/dpi/events, opened before) delivered them live as `flow` events;
# (c) /api/dpi/mitm/buffer (the buffer's stats: every request received), /context/{ip}
#     (its requests), /replay/{ip} (queued), /alerts and /correlated (the CRS alerts of the
#     attacks and the correlator's threats), /status (totals, minutes, workers up);
# (d) POST /api/dpi/ban: the correlator bans (its reputation via /reputation/{ip} and
#     `dpi-dualctl reputation`, a `decision` on the bus, in the event stream); DELETE
#     /api/dpi/ban/{ip} lifts it;
# (e) /api/dpi/topology: the same workers and edges as `dpi-dualctl topology --json`;
# (f) /metrics: promtool check metrics passes; per-worker series with worker and host;
#     needs the token (api.metrics_public false);
# (g) the hostile cases, each its status and its heartbeat counter moving (read back in
#     /metrics): no token, a wrong token (401), a body over api.max_body_bytes by
#     Content-Length and chunked (413), bad JSON and unknown members (400), garbage and
#     traversal in {ip} (400, raw and percent-encoded), 404, 405; the token is never in the
#     log; raw garbage on the socket (tests/api_garbage.py: random bytes, broken request
#     lines, huge headers, cut or lying bodies, a connection left open); still answers;
# (h) a second dpi-api (own run_dir, the same bus) with api.rate_limit 1, sse_max_clients 1,
#     sse_rate 1, metrics_public: 429 within 50 requests, a second stream 503, the stream's
#     drops announced ("event: dropped") and counted, /metrics without a token;
# (i) TLS (api.tls_cert/api.tls_key, openssl's self-signed pair): https answers;
# (j) SIGTERM: exit 0 (each instance, one with a stream open), its socket file removed, no
#     sanitizer report (tests/run-all.sh's ASan build);
# (k) dpi-dualctl start api (a daemon), status says so, stop api;
# (l) HEAD (tests/api_conns.py, raw HTTP): /, /api/dpi/status, /api/dpi/events answered as
#     GET without a body (Content-Length of index.html; no stream opened); 401 without the
#     token, 405 on a POST path;
# (m) api.max_connections_per_ip (its value from `dpi-dualctl config check`) + 3
#     connections from one address: that many served (200), 3 closed unanswered, counted
#     (connections_refused) and logged; another address still served;
# (n) SIGHUP with a new token in the file: the new one accepted, the old one 401, logged
#     without the token (token_reloads); with the file readable by others: refused in the
#     log, the token in use kept (token_reload_errors); the first token back.
# (l), (m) run after (g); (n) before (j).
# No timing assertion: each wait is for a condition, with a generous bound.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
b=$BUILD_DIR
ctl="$b/ctl/dpi-dualctl"
api="$b/api/dpi-api"
tmp=$(mktemp -d); TMP=$tmp
fail() { echo "it_api: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
. "$SOURCE_DIR/tests/lib/api_pipeline.sh"    # api_config, api_start, ...; chain_wait, chain_spawn
trap 'api_cleanup api.log api2.log api3.log correlator.log buffer.log collector.log' EXIT
wait_for() { chain_wait "$@"; }
command -v promtool > /dev/null || fail "promtool missing (Debian: prometheus; deploy/install-deps.sh)"
api_config apitest
cfg=$API_CFG run=$API_RUN port=$API_PORT url=$API_URL token=$API_TOKEN auth=("${API_AUTH[@]}")
chain_ports 2
read -r port2 port3 <<< "${CHAIN_PORTS[*]}"
mkdir -p "$tmp/run2" "$tmp/run3"
# get PATH [CURL ARGS]: the body into $tmp/body, the status into $code
get() { local p=$1; shift; code=$(curl -s -o "$tmp/body" -w '%{http_code}' "${auth[@]}" "$@" "$url$p"); }
json() { $PY -c "import json,sys; d=json.load(open('$tmp/body')); sys.exit(0 if ($1) else 1)"; }
# counter NAME: dpi-api's heartbeat counter NAME, as /metrics shows it
counter() {
    curl -s "${auth[@]}" "$url/metrics" | $PY -c '
import re, sys
m = re.search(r"^dpi_worker_value\{worker=\"api\",host=\"apitest\",counter=\"%s\"\} (\d+)$" % sys.argv[1], sys.stdin.read(), re.M)
print(m.group(1) if m else -1)' "$1"
}
counter_above() { [ "$(counter "$1")" -gt "$2" ]; }

# --- (a) -----------------------------------------------------------------------------------
chmod 644 "$tmp/token"
rc=0; "$api" -c "$cfg" > "$tmp/refused.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a token file readable by others: exit $rc, not 1"
grep -q "api.token_file: $tmp/token is readable by group or others (mode 0644): refused" \
    "$tmp/refused.log" || fail "no clear reason: $(cat "$tmp/refused.log")"
grep -qF "$token" "$tmp/refused.log" && fail "the token is in the log"
chmod 600 "$tmp/token"
ok "a token file readable by others is refused (exit 1, the reason named)"

api_start
api_pid=$API_PID
ok "dpi-api up; its status sees buffer, correlator and itself up"
"$ctl" status -c "$cfg" --json --timeout 5 > "$tmp/status.json" 2> /dev/null || true
grep -q '"name":"api"' "$tmp/status.json" || fail "dpi-dualctl status does not show api: $(cat "$tmp/status.json")"
ok "dpi-dualctl status shows the api worker (api.enabled)"

# the live stream, opened before anything is published
chain_spawn "$tmp/sse.out" curl -s -N "${auth[@]}" "$url/api/dpi/events"; sse_pid=${CHAIN_PIDS[-1]}
wait_for 20 grep -q '^event: hello' "$tmp/sse.out" || fail "the event stream sent no hello"

# --- (b) flows from a capture through the real collector -------------------------------
api_capture
nflows=$($PY -c "import json; print(len(json.load(open('$tmp/cap.json'))['flows']))")
flows_in() { get /api/dpi/tap/flows && [ "$code" = 200 ] && json "d['total'] >= $nflows"; }
wait_for 30 flows_in || fail "the capture's $nflows flows are not in /api/dpi/tap/flows: $(head -c 500 "$tmp/body")"
$PY - "$tmp/cap.json" "$tmp/body" <<'EOF' || fail "flows differ from the capture"
import json, sys
want = json.load(open(sys.argv[1]))["flows"]
got = json.load(open(sys.argv[2]))["flows"]
assert all(f["topic"] == "tap.flow" and f["header"]["source"].startswith("collector@") for f in got)
seen = {(f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"], f["proto"]) for f in got}
for w in want:
    key = (w["src_ip"], w["src_port"], w["dst_ip"], w["dst_port"], w["proto"])
    assert key in seen, f"{key} missing from {seen}"
EOF
ok "GET /api/dpi/tap/flows: the capture's $nflows flows, tuples and protocols as pcapgen wrote"
ip1=$($PY -c "import json; print(json.load(open('$tmp/cap.json'))['flows'][0]['src_ip'])")
proto1=$($PY -c "import json; print(json.load(open('$tmp/cap.json'))['flows'][0]['proto'])")
get "/api/dpi/tap/flows?ip=$ip1"
json "d['total'] >= 1 and all('$ip1' in (f['src_ip'], f['dst_ip']) for f in d['flows'])" \
    || fail "ip filter: $(head -c 300 "$tmp/body")"
get "/api/dpi/tap/flows?ip=203.0.113.254"
json "d['total'] == 0 and d['flows'] == []" || fail "ip filter of nobody"
get "/api/dpi/tap/flows?proto=$proto1"
json "d['total'] >= 1 and all(f['proto'] == '$proto1' for f in d['flows'])" || fail "proto filter"
get "/api/dpi/tap/flows?since=9999999999"
json "d['total'] == 0" || fail "since in the future"
get "/api/dpi/tap/flows?since=1"
all=$($PY -c "import json; print(json.load(open('$tmp/body'))['total'])")
get "/api/dpi/tap/flows?limit=1&offset=1"
json "d['count'] == 1 and d['limit'] == 1 and d['offset'] == 1 and d['total'] == $all" \
    || fail "paging: $(head -c 300 "$tmp/body")"
for bad in "limit=0" "limit=1001" "offset=-1" "ip=1.2.3" "proto=a%20b" "since=yesterday"; do
    get "/api/dpi/tap/flows?$bad"
    [ "$code" = 400 ] || fail "flows?$bad: $code, not 400"
done
ok "flows filters ip, proto, since; paging limit/offset/total; bad parameters 400"
wait_for 20 grep -q '^event: flow' "$tmp/sse.out" || fail "no flow event in the stream"
ok "the event stream delivered the flows live"

# --- (c) buffer, context, replay, alerts, threats, status ----------------------------------
api_requests 100
buffered() { get /api/dpi/mitm/buffer && [ "$code" = 200 ] && json "d['requests'] == 100"; }
wait_for 30 buffered || fail "GET /api/dpi/mitm/buffer: $code $(head -c 300 "$tmp/body")"
ok "GET /api/dpi/mitm/buffer: the buffer's stats (100 requests)"
get /api/dpi/context/10.0.0.8
[ "$code" = 200 ] && json "d['ip'] == '10.0.0.8' and len(d['requests']) == 2" \
    || fail "context: $code $(head -c 300 "$tmp/body")"
get /api/dpi/context/10.0.0.8 -G -d window=86400
[ "$code" = 200 ] || fail "context with a window: $code"
ok "GET /api/dpi/context/{ip}: the buffer's requests of that client"
get /api/dpi/replay/10.0.0.8 -X POST
[ "$code" = 200 ] && json "'queued' in d" || fail "replay: $code $(head -c 300 "$tmp/body")"
ok "POST /api/dpi/replay/{ip}: queued"
alerts() { get /api/dpi/alerts && json "d['total'] >= 1 and d['alerts'][0]['topic'] == 'buffer.alert'"; }
wait_for 60 alerts || fail "no buffer.alert in /api/dpi/alerts: $(head -c 300 "$tmp/body")"
ok "GET /api/dpi/alerts: the CRS alerts of the attacks"
threats() { get /api/dpi/correlated && json "d['total'] >= 1 and d['threats'][0]['topic'] == 'correlated.threat'"; }
wait_for 60 threats || fail "no correlated.threat in /api/dpi/correlated: $(head -c 300 "$tmp/body")"
ok "GET /api/dpi/correlated: the correlator's threats"
wait_for 20 grep -q '^event: alert' "$tmp/sse.out" || fail "no alert event in the stream"
wait_for 20 grep -q '^event: threat' "$tmp/sse.out" || fail "no threat event in the stream"
get /api/dpi/status
json "d['totals']['flows'] >= $nflows and d['totals']['alerts'] >= 1 and d['totals']['threats'] >= 1 and len(d['minutes']) == 60 and sum(m['flows'] for m in d['minutes']) == d['totals']['flows'] and d['sse_clients'] == 1" \
    || fail "status: $(head -c 800 "$tmp/body")"
ok "GET /api/dpi/status: totals, per-minute counts, one stream"

# --- (d) ban and unban -------------------------------------------------------------------------
get /api/dpi/ban -X POST -H 'Content-Type: application/json' \
    -d '{"ip":"203.0.113.9","duration":600,"reason":"it_api"}'
[ "$code" = 200 ] && json "d['value'] == '203.0.113.9' and d['duration'] == 600" \
    || fail "ban: $code $(cat "$tmp/body")"
get /api/dpi/reputation/203.0.113.9
[ "$code" = 200 ] && json "d['banned_until_ns'] > 0" || fail "reputation after the ban: $(cat "$tmp/body")"
"$ctl" reputation 203.0.113.9 -c "$cfg" --json > "$tmp/rep.json"
$PY -c "import json; d=json.load(open('$tmp/rep.json')); assert d['banned_until_ns'] > 0" \
    || fail "dpi-dualctl reputation does not show the ban: $(cat "$tmp/rep.json")"
wait_for 20 grep -q '"value":"203.0.113.9"' "$tmp/sse.out" || fail "the decision is not in the stream"
wait_for 20 grep -q '^event: decision' "$tmp/sse.out" || fail "no decision event"
ok "POST /api/dpi/ban: banned (reputation, dpi-dualctl reputation, a decision in the stream)"
get /api/dpi/ban/203.0.113.9 -X DELETE
[ "$code" = 200 ] || fail "unban: $code $(cat "$tmp/body")"
get /api/dpi/reputation/203.0.113.9
json "d['banned_until_ns'] == 0" || fail "reputation after the unban: $(cat "$tmp/body")"
"$ctl" reputation 203.0.113.9 -c "$cfg" --json > "$tmp/rep.json"
$PY -c "import json; d=json.load(open('$tmp/rep.json')); assert d['banned_until_ns'] == 0" \
    || fail "dpi-dualctl reputation still shows the ban"
ok "DELETE /api/dpi/ban/{ip}: lifted (reputation, dpi-dualctl reputation)"

# --- (e) topology --------------------------------------------------------------------------------
get /api/dpi/topology
cp "$tmp/body" "$tmp/topo-api.json"
"$ctl" topology -c "$cfg" --json > "$tmp/topo-ctl.json" 2> /dev/null || true
$PY - "$tmp/topo-api.json" "$tmp/topo-ctl.json" <<'EOF' || fail "topology differs from dpi-dualctl's"
import json, sys
a, c = (json.load(open(p)) for p in sys.argv[1:])
def up(t): return {w["id"] for w in t["workers"] if w["state"] == "up"}
def edges(t): return {(e["from"], e["to"], tuple(e["topics"])) for e in t["edges"]
                      if not e["from"].startswith("collector")}
assert {"buffer@apitest", "correlator@apitest", "api@apitest"} <= up(a), up(a)
assert up(a) - {"collector@apitest"} == up(c) - {"collector@apitest"}, (up(a), up(c))
assert edges(a) == edges(c), (edges(a) ^ edges(c))
assert any(e["from"] == "correlator@apitest" and e["to"] == "api@apitest" and "decision" in e["topics"]
           for e in a["edges"]), a["edges"]
EOF
ok "GET /api/dpi/topology: the workers and edges of dpi-dualctl topology --json"

# --- (f) metrics ---------------------------------------------------------------------------------
get /metrics
[ "$code" = 200 ] || fail "/metrics: $code"
promtool check metrics < "$tmp/body" > "$tmp/promtool.out" 2>&1 || fail "promtool: $(cat "$tmp/promtool.out")"
for series in 'dpi_up{worker="correlator",host="apitest"} 1' \
              'dpi_worker_value{worker="buffer",host="apitest",counter="requests"} 100' \
              'dpi_received_messages_total{worker="api",host="apitest",source="collector@apitest"}'; do
    grep -qF "$series" "$tmp/body" || fail "/metrics lacks $series"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/metrics")
[ "$code" = 401 ] || fail "/metrics without the token: $code (metrics_public is false)"
ok "/metrics: promtool check metrics passes; per-worker series; the token needed"

# --- (g) hostile requests ------------------------------------------------------------------------
hostile() {  # COUNTER STATUS CURL-ARGS...: STATUS, and COUNTER moves
    local name=$1 want=$2; shift 2
    local before; before=$(counter "$name")
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@")
    [ "$code" = "$want" ] || fail "$*: $code, not $want ($(head -c 200 "$tmp/body"))"
    json "d['ok'] is False and d['error']" || fail "$*: no JSON error"
    wait_for 20 counter_above "$name" "$before" || fail "$*: counter $name did not move"
    echo "ok   $want $name: ${*: -1}"
}
hostile unauthorized 401 "$url/api/dpi/status"
wrong=$(echo "$token" | tr 'A-Za-z' 'B-ZAb-za')
hostile unauthorized 401 -H "Authorization: Bearer $wrong" "$url/api/dpi/status"
hostile unauthorized 401 -H "Authorization: Basic $token" "$url/api/dpi/status"
head -c 5000 /dev/zero | tr '\0' 'a' > "$tmp/big"
hostile too_large 413 "${auth[@]}" -X POST --data-binary @"$tmp/big" "$url/api/dpi/ban"
hostile too_large 413 "${auth[@]}" -X POST -H 'Transfer-Encoding: chunked' \
    --data-binary @"$tmp/big" "$url/api/dpi/ban"
hostile bad_json 400 "${auth[@]}" -X POST -d '{"ip":' "$url/api/dpi/ban"
hostile bad_json 400 "${auth[@]}" -X POST -d '{"ip":"1.2.3.4","evil":1}' "$url/api/dpi/ban"
hostile bad_json 400 "${auth[@]}" -X POST -d '{"ip":"not-an-ip"}' "$url/api/dpi/ban"
hostile bad_requests 400 "${auth[@]}" "$url/api/dpi/context/1.2.3.4%3Brm"
hostile bad_requests 400 "${auth[@]}" "$url/api/dpi/reputation/%00"
hostile bad_requests 400 "${auth[@]}" --path-as-is "$url/api/dpi/context/../../etc/passwd"
hostile bad_requests 400 "${auth[@]}" "$url/api/dpi/context/%2e%2e%2f%2e%2e%2fetc%2fpasswd"
hostile bad_requests 400 "${auth[@]}" -X DELETE "$url/api/dpi/ban/$(head -c 300 /dev/zero | tr '\0' 9)"
hostile not_found 404 "${auth[@]}" "$url/api/dpi/nothing"
hostile method_not_allowed 405 "${auth[@]}" -X PUT "$url/api/dpi/status"
$PY "$SOURCE_DIR/tests/api_garbage.py" 127.0.0.1 "$port" "$token" || fail "api_garbage.py"
get /api/dpi/status
[ "$code" = 200 ] || fail "dpi-api does not answer after the garbage: $code"
kill -0 "$api_pid" || fail "dpi-api died"
ok "raw garbage on the socket (tests/api_garbage.py): still up"
grep -qF "$token" "$tmp/api.log" && fail "the token is in dpi-api's log"
grep -q 'refusals not logged since' "$tmp/api.log" || fail "refusals are not logged"
get /api/dpi/status
[ "$code" = 200 ] || fail "dpi-api does not answer after the hostile requests"
curl -s -D "$tmp/headers" -o /dev/null "${auth[@]}" \
    -H "Origin: http://evil.example" "$url/api/dpi/status"
grep -qi '^access-control' "$tmp/headers" && fail "a CORS header was sent"
ok "hostile requests: 401/413/400/404/405 counted; no token in the log; no CORS header; still up"

# --- (l) HEAD ------------------------------------------------------------------------------------
conns="$SOURCE_DIR/tests/api_conns.py"
$PY "$conns" head 127.0.0.1 "$port" "$token" / "$SOURCE_DIR/api/www/index.html" > "$tmp/head.out" \
    || fail "HEAD /: $(cat "$tmp/head.out")"
grep -q '^HTTP/1.1 200 ' "$tmp/head.out" && grep -qi '^content-type: text/html' "$tmp/head.out" &&
    grep -qx 'BODY 0' "$tmp/head.out" || fail "HEAD /: $(cat "$tmp/head.out")"
$PY "$conns" head 127.0.0.1 "$port" "$token" /api/dpi/status - > "$tmp/head.out" || fail "HEAD status"
grep -q '^HTTP/1.1 200 ' "$tmp/head.out" && grep -qi '^content-type: application/json' "$tmp/head.out" &&
    grep -qx 'BODY 0' "$tmp/head.out" || fail "HEAD /api/dpi/status: $(cat "$tmp/head.out")"
get /api/dpi/status
streams=$($PY -c "import json; print(json.load(open('$tmp/body'))['sse_clients'])")
# (a stream opened would never end: the read until the server closes would time out)
$PY "$conns" head 127.0.0.1 "$port" "$token" /api/dpi/events - > "$tmp/head.out" || fail "HEAD events"
grep -q '^HTTP/1.1 200 ' "$tmp/head.out" && grep -qi '^content-type: text/event-stream' "$tmp/head.out" &&
    grep -qx 'BODY 0' "$tmp/head.out" || fail "HEAD /api/dpi/events: $(cat "$tmp/head.out")"
get /api/dpi/status
json "d['sse_clients'] == $streams" || fail "HEAD /api/dpi/events left a stream: $(head -c 300 "$tmp/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$url/api/dpi/status")
[ "$code" = 401 ] || fail "HEAD without the token: $code, not 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "${auth[@]}" "$url/api/dpi/ban")
[ "$code" = 405 ] || fail "HEAD of POST /api/dpi/ban: $code, not 405"
ok "HEAD: / (Content-Length of index.html), /api/dpi/status, /api/dpi/events (no stream opened) answered as GET without a body; 401 without the token; 405 on a POST path"

# --- (m) connections per client address -------------------------------------------------------
"$ctl" config check "$cfg" > "$tmp/effective.yaml" 2> /dev/null || fail "config check"
per_ip=$(sed -n 's/^  max_connections_per_ip: //p' "$tmp/effective.yaml")
max_conn=$(sed -n 's/^  max_connections: //p' "$tmp/effective.yaml")
[ -n "$per_ip" ] && [ -n "$max_conn" ] || fail "config check does not print api.max_connections{,_per_ip}"
before=$(counter connections_refused)
$PY "$conns" many 127.0.0.1 "$port" "$token" 127.0.0.9 $((per_ip + 3)) "$tmp/go" > "$tmp/many.out" &
many_pid=$!
refused_by() { [ "$(counter connections_refused)" -ge $((before + 3)) ]; }
wait_for 60 refused_by || fail "connections_refused: $(counter connections_refused), not $before + 3"
touch "$tmp/go"
wait "$many_pid" || fail "api_conns.py many: $(cat "$tmp/many.out")"
echo "     $((per_ip + 3)) connections from 127.0.0.9 (api.max_connections_per_ip $per_ip): $(head -1 "$tmp/many.out")"
grep -qx "SERVED $per_ip CLOSED 3" "$tmp/many.out" || fail "$(cat "$tmp/many.out")"
others=$(sed -n 2p "$tmp/many.out" | tr ' ' '\n' | grep -vcx '200\|closed' || true)
[ "$others" = 0 ] || fail "a served connection not 200: $(cat "$tmp/many.out")"
[ "$(counter connections_refused)" = $((before + 3)) ] || fail "connections_refused counted more than 3"
grep -q 'a connection closed unanswered: over api.max_connections ('"$max_conn"') or api.max_connections_per_ip ('"$per_ip"')' \
    "$tmp/api.log" || fail "the refusal is not logged"
get /api/dpi/status
[ "$code" = 200 ] || fail "another address is not served: $code"
ok "api.max_connections_per_ip $per_ip: $((per_ip + 3)) connections of one address, $per_ip served (200), 3 closed unanswered and counted (connections_refused), logged; another address served"

# --- (h) a second dpi-api: rate limit, stream bounds, public metrics -------------------------
cfg2="$tmp/api2.yaml"
cat > "$cfg2" <<YAML
global:
  host: apitest
  run_dir: $tmp/run2
bus:
  heartbeat_interval: 1
  endpoints:
    collector: "ipc://$run/collector.pub"
    bridge_mitm: "ipc://$run/bridge-mitm.pub"
    buffer: "ipc://$run/buffer.pub"
    correlator: "ipc://$run/correlator.pub"
api:
  listen: "127.0.0.1:$port2"
  token_file: $tmp/token
  rate_limit: 1
  sse_max_clients: 1
  sse_rate: 1
  metrics_public: true
YAML
chain_spawn "$tmp/api2.log" "$api" -c "$cfg2"; api2_pid=${CHAIN_PIDS[-1]}
url2="http://127.0.0.1:$port2"
wait_for 30 curl -s -o /dev/null "$url2/metrics" || fail "the second dpi-api did not start"
chain_spawn "$tmp/sse2.out" curl -s -N "${auth[@]}" "$url2/api/dpi/events"
wait_for 20 grep -q '^event: hello' "$tmp/sse2.out" || fail "second stream: no hello"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" --interface 127.0.0.2 "$url2/api/dpi/events")
[ "$code" = 503 ] || fail "a stream past api.sse_max_clients: $code, not 503"
ok "a stream past api.sse_max_clients: 503"
got429=0
for _ in $(seq 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$url2/api/dpi/status")
    [ "$code" = 429 ] && { got429=1; break; }
done
[ $got429 = 1 ] || fail "50 requests at api.rate_limit 1: no 429"
ok "api.rate_limit 1: 429"
"$b/tests/dpi-pcapgen" large-file "$tmp/large.pcap" "$tmp/large.json" > /dev/null
# (its last packet is cut on purpose: exit 3, its 40 flows published all the same)
rc=0; "$b/collector/dpi-collector" -r "$tmp/large.pcap" -c "$cfg" > "$tmp/collector.log" 2>&1 \
    || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || fail "dpi-collector -r (large): exit $rc"
wait_for 30 grep -q '^event: dropped' "$tmp/sse2.out" || fail "no drops announced at sse_rate 1"
wait_for 20 grep -q '^data: {"dropped":[1-9]' "$tmp/sse2.out" || fail "the drop notice has no count"
# (from other loopback addresses: 127.0.0.1 used up its requests above; files, not
# "| grep -q": with pipefail, grep leaving early is a SIGPIPE)
public() {   # metrics_public: no token; its own heartbeat comes within its interval
    curl -s --interface 127.0.0.3 -o "$tmp/m1" "$url2/metrics"
    grep -q '^dpi_up{worker="api"' "$tmp/m1"
}
wait_for 20 public || fail "public /metrics: $(head -3 "$tmp/m1")"
dropped() {
    curl -s --interface 127.0.0.4 -o "$tmp/m2" "$url2/metrics"
    grep -Eq '^dpi_worker_value\{worker="api",host="apitest",counter="sse_events_dropped"\} [1-9]' "$tmp/m2"
}
wait_for 20 dropped || fail "sse_events_dropped did not move"
ok "sse_rate 1: drops announced to the client and counted; /metrics public without a token"

# --- (i) TLS -----------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -days 2 \
    -subj "/CN=127.0.0.1" > /dev/null 2>&1 || fail "openssl req"
chmod 600 "$tmp/tls.key"
sed -e "s#run_dir: $tmp/run2#run_dir: $tmp/run3#" -e "s#127.0.0.1:$port2#127.0.0.1:$port3#" \
    -e 's#metrics_public: true#tls_cert: '"$tmp"'/tls.crt\n  tls_key: '"$tmp"'/tls.key#' \
    "$cfg2" > "$tmp/api3.yaml"
chain_spawn "$tmp/api3.log" "$api" -c "$tmp/api3.yaml"; api3_pid=${CHAIN_PIDS[-1]}
tls_up() { [ "$(curl -sk -o /dev/null -w '%{http_code}' "${auth[@]}" "https://127.0.0.1:$port3/api/dpi/topology")" = 200 ]; }
wait_for 30 tls_up || fail "TLS: no 200 over https"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port3/api/dpi/topology" || true)
[ "$code" != 200 ] || fail "TLS: plain http answered 200"
ok "TLS (api.tls_cert, api.tls_key): https answers, plain http does not"

# --- (n) SIGHUP reads the token file again ------------------------------------------------------
cp -p "$tmp/token" "$tmp/token.orig"
(umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/' > "$tmp/token")
new_token=$(cat "$tmp/token")
kill -HUP "$api_pid"
with_new() { [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $new_token" "$url/api/dpi/status")" = 200 ]; }
wait_for 20 with_new || fail "SIGHUP: the new token is not accepted"
get /api/dpi/status
[ "$code" = 401 ] || fail "SIGHUP: the old token still accepted ($code)"
grep -q "SIGHUP: the token read again from $tmp/token" "$tmp/api.log" || fail "SIGHUP: not logged"
counter_new() {   # /metrics with the new token
    curl -s -H "Authorization: Bearer $new_token" "$url/metrics" |
        grep -Eq "^dpi_worker_value\{worker=\"api\",host=\"apitest\",counter=\"$1\"\} [1-9]"
}
wait_for 20 counter_new token_reloads || fail "token_reloads did not move"
chmod 644 "$tmp/token"
kill -HUP "$api_pid"
wait_for 20 grep -q "SIGHUP: the token not read again, the previous one stays: .*readable by group or others" \
    "$tmp/api.log" || fail "SIGHUP with a token file readable by others: not refused in the log"
with_new || fail "SIGHUP with a bad file: the token in use changed"
wait_for 20 counter_new token_reload_errors || fail "token_reload_errors did not move"
for t in "$token" "$new_token"; do
    grep -qF "$t" "$tmp/api.log" && fail "a token is in dpi-api's log"
done
mv "$tmp/token.orig" "$tmp/token"
kill -HUP "$api_pid"
get_ok() { get /api/dpi/status && [ "$code" = 200 ]; }
wait_for 20 get_ok || fail "SIGHUP: the first token not accepted again"
ok "SIGHUP: the token file read again (the new token accepted, the old refused, logged without it, token_reloads); a file readable by others refused, the token in use kept (token_reload_errors)"

# --- (j) SIGTERM ---------------------------------------------------------------------------------
kill "$sse_pid" 2> /dev/null || true
kill -TERM "$api_pid"
rc=0; wait "$api_pid" || rc=$?
[ $rc -eq 0 ] || fail "SIGTERM: exit $rc"
[ -e "$run/api.pub" ] && fail "api.pub left behind"
for p in $api2_pid $api3_pid; do      # one with an open event stream
    kill -TERM "$p"; rc=0; wait "$p" || rc=$?
    [ $rc -eq 0 ] || fail "SIGTERM of the second/third dpi-api: exit $rc"
done
if grep -l 'Sanitizer' "$tmp"/api*.log; then fail "a sanitizer report in a dpi-api log"; fi

# --- (k) dpi-dualctl start / status / stop of api (api.enabled) -------------------------------
"$ctl" start -c "$cfg" --via daemon --log-dir "$tmp" api > "$tmp/start.out" 2>&1 \
    || fail "dpi-dualctl start api: $(cat "$tmp/start.out")"
grep -q '^api: started' "$tmp/start.out" || fail "start: $(cat "$tmp/start.out")"
get /api/dpi/status
[ "$code" = 200 ] || fail "dpi-api started by dpi-dualctl does not answer: $code"
"$ctl" status -c "$cfg" --timeout 5 > "$tmp/status.out" 2>&1 || true
grep -q 'as a daemon by dpi-dualctl start' "$tmp/status.out" || fail "status: $(grep -A8 '^api' "$tmp/status.out")"
"$ctl" stop -c "$cfg" api > "$tmp/stop.out" 2>&1 || fail "dpi-dualctl stop api: $(cat "$tmp/stop.out")"
grep -q '^api: stopped' "$tmp/stop.out" || fail "stop: $(cat "$tmp/stop.out")"
ok "dpi-dualctl start api / status (started as a daemon) / stop api"
grep -qF "$token" "$tmp/api.log" && fail "the token is in dpi-api's log"
ok "SIGTERM: exit 0, api.pub removed"
echo "it_api: ok"
