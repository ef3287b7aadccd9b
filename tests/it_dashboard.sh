#!/bin/bash
# The dashboard (api/www, served by dpi-api) in headless Chromium, against the real workers
# as tests/it_api.sh runs them: dpi-correlator, dpi-buffer (the CRS of deploy/buffer, fed
# recorded mitm.request/response lines by dpi-testpub standing in for the bridge) and
# dpi-collector reading a dpi-pcapgen capture onto the bus.
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
# (e) screenshots: $BUILD_DIR/tests/dashboard-{loaded,threat,drilldown}.png.
# DASHBOARD_HOLD=FILE (by hand): after (a), the page's address and the config into FILE,
# then wait, the workers running.
# Needs chromium and python3-websocket (deploy/install-deps.sh): it fails without them, as
# it_api does without promtool.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
b=$BUILD_DIR
ctl="$b/ctl/dpi-dualctl"
api="$b/api/dpi-api"
pub="$b/tests/dpi-testpub"
command -v chromium > /dev/null || { echo "it_dashboard: FAIL: chromium missing (Debian: chromium; deploy/install-deps.sh)"; exit 1; }
$PY -c 'import websocket' 2> /dev/null || { echo "it_dashboard: FAIL: python3-websocket missing (deploy/install-deps.sh)"; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for log in api.log correlator.log buffer.log collector.log chromium.log; do
            [ -s "$tmp/$log" ] && { echo "--- $log"; tail -n 20 "$tmp/$log"; }
        done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_dashboard: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
run="$tmp/run"; mkdir -p "$run"
(umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/' > "$tmp/token")
token=$(cat "$tmp/token")
cfg="$tmp/dpi-dual.yaml"
cat > "$cfg" <<YAML
global:
  host: dashtest
  run_dir: $run
  state_dir: $tmp/state
bus:
  heartbeat_interval: 1
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  replay_on_score: 0
api:
  enabled: true
  listen: "127.0.0.1:$port"
  token_file: $tmp/token
  rate_limit: 100000
YAML
url="http://127.0.0.1:$port"
auth=(-H "Authorization: Bearer $token")
get() { local p=$1; shift; code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@" "$url$p"); }
json() { $PY -c "import json,sys; d=json.load(open('$tmp/body')); sys.exit(0 if ($1) else 1)"; }

"$b/correlator/dpi-correlator" -c "$cfg" > "$tmp/correlator.log" 2>&1 & pids+=($!)
"$b/buffer/dpi-buffer" -c "$cfg" > "$tmp/buffer.log" 2>&1 & pids+=($!)
"$api" -c "$cfg" > "$tmp/api.log" 2>&1 & pids+=($!)
wait_for 60 test -S "$run/buffer.query" || fail "dpi-buffer did not start"
wait_for 30 test -S "$run/correlator.query" || fail "dpi-correlator did not start"
up() { get /api/dpi/status "${auth[@]}" && [ "$code" = 200 ] && json "all(any(w['name'] == n and w['state'] == 'up' for w in d['workers']) for n in ('buffer', 'correlator', 'api'))"; }
wait_for 60 up || fail "dpi-api does not see buffer, correlator and itself up: $code $(head -c 600 "$tmp/body")"
ok "dpi-api, dpi-buffer, dpi-correlator up"

# --- traffic: the capture's flows, then requests with attacks (alerts, threats) -------------
"$b/tests/dpi-pcapgen" tcp-http "$tmp/cap.pcap" "$tmp/cap.json" > /dev/null
"$b/collector/dpi-collector" -r "$tmp/cap.pcap" -c "$cfg" > "$tmp/collector.log" 2>&1 \
    || fail "dpi-collector -r failed"
$PY "$SOURCE_DIR/tests/lib/mitm_requests.py" mixed 100 1 > "$tmp/requests.jsonl"
"$pub" -c "$cfg" --name bridge-mitm --bind "ipc://$run/bridge-mitm.pub" \
    --wait-subscriber 10000 --jsonl "$tmp/requests.jsonl" > /dev/null || fail "dpi-testpub"
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
grep -qF "$token" "$tmp/api.log" && fail "the token is in dpi-api's log"
ok "the token is not in dpi-api's log"
