#!/bin/bash
# The dashboard (api/www, served by dpi-api) in headless Chromium, against the real workers
# as tests/lib/api_pipeline.sh runs them: dpi-correlator, dpi-buffer (the CRS of
# deploy/buffer, fed recorded mitm.request/response lines by dpi-testpub standing in for
# the bridge) and dpi-collector reading a dpi-pcapgen capture onto the bus; then (f) the
# real MITM chain.
# (a) static serving: /, /index.html, /app.js, /style.css without the token, their
#     Content-Types and Content-Security-Policy; traversal (raw and %2e%2e), other names,
#     a directory: 400/404, never a file outside api.www_dir;
# (b) the page (tests/dashboard_cdp.py drives Chromium over the DevTools protocol): without
#     a token it asks for one, a wrong one is said 401; opened at /#token=TOKEN, the
#     fragment is cleared and the token is in sessionStorage; each panel shows data
#     (protocols, per-minute flows and packets, buffer and alert rate, the threat timeline
#     with its evidence, top clients, topology) and the event stream is live;
# (c) a threat triggered after the page loaded (the flows, then the requests and live
#     blocks, of two attackers: tests/lib/correlator_stream.py, published as the collector
#     and as the bridge) appears on the timeline, joined, with its tap and mitm evidence,
#     through the event stream: polled up to 60 s, the delay printed;
# (d) the drill-down of a client: reputation, requests; Ban then Unban from the page,
#     checked in the correlator's reputation (GET /api/dpi/reputation, dpi-dualctl);
#     no exception or console error in the page; the token not in dpi-api's log;
# (e) screenshots: $BUILD_DIR/tests/dashboard-{loaded,threat,drilldown}.png;
# (f) the real MITM chain (tests/lib/mitm_chain.sh: HAProxy -> mitmdump + addon ->
#     dpi-bridge-mitm, on the bus of the workers above): a client's request passes (200,
#     the bridge's verdict ALLOW); the page (its drill-down, the IP typed in) shows the
#     client's requests, bans it: its next request through HAProxy gets 403 from the
#     bridge's ban list (X-DPI-Dual-Block: ban-list, verdict BLOCK ban-list); unbans it: 200
#     and ALLOW again. Printed: click -> first 403, click -> first 200 (each includes the
#     probing request's own time). $BUILD_DIR/tests/dashboard-bridge-ban.png.
# DASHBOARD_HOLD=FILE (by hand): after (a), the page's address and the config into FILE,
# then wait, the workers running.
# Needs chromium, python3-websocket, haproxy and mitmdump (deploy/install-deps.sh): it fails without them, as
# it_api does without promtool.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
b=$BUILD_DIR
ctl="$b/ctl/dpi-dualctl"
pub="$b/tests/dpi-testpub"
tmp=$(mktemp -d); TMP=$tmp
fail() { echo "it_dashboard: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
. "$SOURCE_DIR/tests/lib/api_pipeline.sh"    # api_config, api_start, ...; the MITM chain's helpers
trap 'api_cleanup api.log correlator.log buffer.log collector.log chromium.log bridge.log mitm.log haproxy.log tail.err' EXIT
wait_for() { chain_wait "$@"; }
command -v chromium > /dev/null || fail "chromium missing (Debian: chromium; deploy/install-deps.sh)"
$PY -c 'import websocket' 2> /dev/null || fail "python3-websocket missing (deploy/install-deps.sh)"
for tool in haproxy mitmdump openssl curl; do
    command -v "$tool" > /dev/null || fail "$tool missing (deploy/install-deps.sh)"
done
chain_ports 3
read -r p_back p_mitm p_tls <<< "${CHAIN_PORTS[*]}"
api_config dashtest "mitm:
  socket: $tmp/run/bridge-mitm.sock
  verdict_deadline_ms: 50
  trusted_proxies: [\"127.0.0.1\"]
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
  publish_all_verdicts: true"
cfg=$API_CFG run=$API_RUN url=$API_URL token=$API_TOKEN auth=("${API_AUTH[@]}")
get() { local p=$1; shift; code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@" "$url$p"); }
json() { $PY -c "import json,sys; d=json.load(open('$tmp/body')); sys.exit(0 if ($1) else 1)"; }
api_start
ok "dpi-api, dpi-buffer, dpi-correlator up"

# --- traffic: the capture's flows, then requests with attacks (alerts, threats) -------------
api_capture
api_requests 100 1
threats() { get /api/dpi/correlated "${auth[@]}" && json "d['total'] >= 1"; }
wait_for 60 threats || fail "no correlated.threat: $(head -c 300 "$tmp/body")"
ok "traffic: flows, requests, alerts and threats in dpi-api"

# --- (a) static serving ----------------------------------------------------------------------
hdr() { curl -s --path-as-is -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "$@"; }
for f in / /index.html /app.js /style.css; do
    code=$(hdr "$url$f")
    [ "$code" = 200 ] || fail "GET $f without the token: $code, not 200"
    case $f in
        /app.js) type=text/javascript ;;
        /style.css) type=text/css ;;
        *) type=text/html ;;
    esac
    grep -qi "^content-type: $type; charset=utf-8" "$tmp/headers" || fail "$f: not $type: $(cat "$tmp/headers")"
    grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$tmp/headers" \
        || fail "$f: no Content-Security-Policy"
    grep -qi '^x-content-type-options: nosniff' "$tmp/headers" || fail "$f: no nosniff"
    [ "$f" = / ] || cmp -s "$tmp/body" "$SOURCE_DIR/api/www/${f#/}" || fail "$f: not the file of api/www"
done
cmp -s <(curl -s "$url/") "$SOURCE_DIR/api/www/index.html" || fail "/ is not api/www/index.html"
ok "/, /index.html, /app.js, /style.css without the token: their Content-Types, CSP, nosniff"
for p in "/../../../../etc/passwd" "/%2e%2e/%2e%2e/etc/passwd" "/app.js/../../../etc/passwd" \
         "/./index.html" "//etc/passwd" "/%2fetc%2fpasswd"; do
    code=$(hdr "$url$p")
    [ "$code" = 400 ] || [ "$code" = 404 ] || fail "GET $p: $code, not 400/404"
    grep -q 'root:' "$tmp/body" && fail "GET $p: /etc/passwd served"
done
for p in /etc/passwd /www/ /api/ /api/www/index.html /index.htm /app.js/ /favicon.ico /.git/config \
         /CMakeLists.txt /api.c; do
    code=$(hdr "$url$p")
    [ "$code" = 404 ] || fail "GET $p: $code, not 404"
done
code=$(hdr -X POST "$url/")
[ "$code" = 405 ] || fail "POST /: $code, not 405"
code=$(hdr "$url/api/dpi/status")
[ "$code" = 401 ] || fail "the API without the token: $code, not 401"
ok "traversal (raw, %2e%2e, through a file name) 400/404, other names and directories 404, never a file outside api/www; POST / 405; the API still needs the token"

if [ -n "${DASHBOARD_HOLD:-}" ]; then     # by hand: the page's address, then wait
    echo "$url/#token=$token" > "$DASHBOARD_HOLD"
    echo "$cfg" >> "$DASHBOARD_HOLD"
    sleep 100000
fi

# --- (b)..(e) the page in headless Chromium ----------------------------------------------------
# the trigger: both streams of two attackers (tests/lib/correlator_stream.py): their flows
# as the collector, then their requests and the bridge's live blocks as the bridge; the
# correlator joins them by Community ID into threats with evidence from both streams
$PY "$SOURCE_DIR/tests/lib/correlator_stream.py" "$tmp/stream.jsonl" "$tmp/truth.json" \
    --clients 4 --requests 2 --attackers 2 2> /dev/null
grep '"topic": "tap.flow"' "$tmp/stream.jsonl" > "$tmp/trigger-flows.jsonl"
grep -E '"topic": "mitm\.(request|verdict)"' "$tmp/stream.jsonl" > "$tmp/trigger-mitm.jsonl"
cat > "$tmp/trigger.sh" <<EOF
set -e
"$pub" -c "$cfg" --name collector --bind "ipc://$run/collector.pub" --wait-subscriber 10000 \
    --jsonl "$tmp/trigger-flows.jsonl" > /dev/null
"$pub" -c "$cfg" --name bridge-mitm --bind "ipc://$run/bridge-mitm.pub" --wait-subscriber 10000 \
    --jsonl "$tmp/trigger-mitm.jsonl" > /dev/null
EOF
shots="$b/tests"
$PY "$SOURCE_DIR/tests/dashboard_cdp.py" "$url" "$token" "$tmp" bash "$tmp/trigger.sh" \
    | tee "$tmp/cdp.out" || fail "the page (tests/dashboard_cdp.py)"
grep -q '^ok   no exception' "$tmp/cdp.out" || fail "tests/dashboard_cdp.py did not finish"
for png in dashboard-loaded dashboard-threat dashboard-drilldown; do
    [ -s "$tmp/$png.png" ] || fail "no $png.png"
    cp "$tmp/$png.png" "$shots/$png.png"
done
ip=$(sed -n 's/^BANNED_IP //p' "$tmp/cdp.out")
"$ctl" reputation "$ip" -c "$cfg" --json > "$tmp/rep.json"
$PY -c "import json; d=json.load(open('$tmp/rep.json')); assert d['banned_until_ns'] == 0" \
    || fail "dpi-dualctl reputation $ip: still banned after the page's unban"
ok "screenshots: $shots/dashboard-{loaded,threat,drilldown}.png; dpi-dualctl reputation agrees"
# --- (f) the real MITM chain: the page's ban and unban enforced by the bridge ---------------
# HAProxy -> mitmdump + addon -> backend, the addon asking dpi-bridge-mitm (tests/lib/
# mitm_chain.sh). The bridge binds the bus endpoint dpi-testpub used above (it has exited):
# buffer, correlator and dpi-api read it, and it takes the correlator's decisions. HAProxy's
# ban list stays empty (no decision.haproxy_socket): a 403 with X-DPI-Dual-Block: ban-list is
# the bridge's. The client is 127.0.0.7; the page drills into it, bans it, unbans it.
chain_tls
chain_haproxy "$p_tls" "$p_mitm"
chain_spawn "$tmp/backend.out" $PY "$SOURCE_DIR/tests/mitm/backend.py" "$p_back" "$tmp/backend.log"
chain_spawn "$tmp/bridge.log" "$b/bridge-mitm/dpi-bridge-mitm" -c "$cfg"
bridge_pid=${CHAIN_PIDS[-1]}
chain_spawn "$tmp/tail.err" sh -c "exec '$ctl' tail -c '$cfg' mitm. > '$tmp/bus.jsonl'"
chain_mitmdump "$tmp/mitm.log" "$p_mitm" "$p_back" "$run/bridge-mitm.sock" \
    --set dpi_verdict_deadline_ms=50
chain_spawn "$tmp/haproxy.log" haproxy -db -f "$tmp/haproxy.cfg"
chain_up "$bridge_pid" "$run/bridge-mitm.sock" "$p_back" "$p_mitm" "$p_tls"
# probe PATH: one request of 127.0.0.7 through HAProxy, "STATUS BLOCK-HEADER" ("-" if none);
# probe --verdict PATH: the bridge's verdict on it, from the bus (tests/mitm/bus.py)
cat > "$tmp/probe.sh" <<PROBE
#!/bin/bash
if [ "\$1" = --verdict ]; then
    exec $PY "$SOURCE_DIR/tests/mitm/bus.py" verdict "$tmp/bus.jsonl" 5 "path=\$2"
fi
code=\$(curl -sk --max-time 10 --resolve "shop.test:$p_tls:127.0.0.1" --interface 127.0.0.7 \\
    -D "$tmp/probe.hdr" -o /dev/null -w '%{http_code}' "https://shop.test:$p_tls\$1") || true
block=\$(tr -d '\r' < "$tmp/probe.hdr" | sed -n 's/^[Xx]-[Dd][Pp][Ii]-[Dd]ual-[Bb]lock: //p')
echo "\$code \${block:--}"
PROBE
n=0
warm() {   # the chain is up, tail has subscribed, and the buffer holds 127.0.0.7's requests
    n=$((n + 1))
    [ "$(bash "$tmp/probe.sh" "/warm-$n")" = "200 -" ] &&
        [ "$(bash "$tmp/probe.sh" --verdict "/warm-$n")" = "ALLOW - -" ] &&
        get /api/dpi/context/127.0.0.7 "${auth[@]}" && json "len(d['requests']) >= 2"
}
wait_for 120 warm ||
    fail "the chain: no allowed request of 127.0.0.7 in the buffer ($(bash "$tmp/probe.sh" /warm-last))"
ok "the MITM chain up: 127.0.0.7's requests pass (200, ALLOW) and are in the buffer"
$PY "$SOURCE_DIR/tests/dashboard_cdp.py" "$url" "$token" "$tmp" --bridge-ban 127.0.0.7 \
    bash "$tmp/probe.sh" | tee "$tmp/cdp2.out" ||
    fail "the page's ban at the bridge (tests/dashboard_cdp.py --bridge-ban)"
grep -q '^ok   no exception' "$tmp/cdp2.out" || fail "tests/dashboard_cdp.py --bridge-ban did not finish"
[ -s "$tmp/dashboard-bridge-ban.png" ] || fail "no dashboard-bridge-ban.png"
cp "$tmp/dashboard-bridge-ban.png" "$shots/"
[ -s "$tmp/dpi-dual-banned.acl" ] && fail "HAProxy's ban list is not empty"
ok "the page's ban and unban enforced by the bridge: $(sed -n 's/^DELAYS //p' "$tmp/cdp2.out") s; $shots/dashboard-bridge-ban.png"
grep -qF "$token" "$tmp/api.log" && fail "the token is in dpi-api's log"
ok "the token is not in dpi-api's log"
