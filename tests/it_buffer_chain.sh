#!/bin/bash
# dpi-buffer on the real MITM chain, on loopback:
#   curl --TLS--> haproxy --> mitmdump + dpi_bridge.py --> backend; the addon's records
#   --> dpi-bridge-mitm --> bus --> dpi-buffer (OWASP CRS through ModSecurity)
#   --> buffer.alert, read by dpi-dualctl tail.
# (a) classic attacks raise alerts with the right CRS rule families — SQLi in a query
#     and in a POST body (beyond the old 1 KiB window), XSS, path traversal, command
#     injection, a scanner user agent; clean requests raise none;
# (b) dpi-dualctl context shows a client's requests with their analysis and responses;
# (c) dpi-dualctl replay re-analyses a client at buffer.replay_paranoia and resends its
#     requests to a sandbox backend (never the real one): replay alerts, sandbox hits;
# (d) the forensic log holds every request: dpi-dualctl forensic export, --ip;
# (e) the compat file dpi-buffer.json; SIGHUP reloads the rules and analysis goes on;
#     the heartbeat counters add up.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
bridge="$BUILD_DIR/bridge-mitm/dpi-bridge-mitm"
buffer="$BUILD_DIR/buffer/dpi-buffer"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
helpers="$SOURCE_DIR/tests/mitm"
for exe in "$bridge" "$buffer" "$ctl"; do
    [ -x "$exe" ] || { echo "it_buffer_chain: $exe is not built"; exit 1; }
done

TMP=$(mktemp -d)
fail() { echo "it_buffer_chain: FAIL: $*"; exit 1; }
. "$SOURCE_DIR/tests/lib/mitm_chain.sh"
cleanup() {
    local rc=$?
    chain_stop
    if [ $rc -ne 0 ]; then
        for log in buffer.log bridge.log mitm.log haproxy.log tail.err; do
            [ -s "$TMP/$log" ] && { echo "--- $log"; tail -n 30 "$TMP/$log"; }
        done
    fi
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT

chain_ports 4
read -r p_back p_mitm p_tls p_sandbox <<< "${CHAIN_PORTS[*]}"
run="$TMP/run"; mkdir -p "$run"
cfg="$TMP/dpi-dual.yaml"
"$ctl" keys forensic "$TMP/forensic.key" > /dev/null || fail "keys forensic"
cat > "$cfg" <<YAML
global:
  host: buftest
  run_dir: $run
  compat: true
  compat_dir: $TMP/compat
bus:
  heartbeat_interval: 1
mitm:
  socket: $run/bridge-mitm.sock
  verdict_deadline_ms: 20
  trusted_proxies: ["127.0.0.1"]
  rules_file: ""
  publish_all_verdicts: true
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  analysis_threads: 2
  replay_on_score: 0
  replay_target: "http://127.0.0.1:$p_sandbox"
  forensic:
    mode: all
    dir: $TMP/forensic
    key_file: $TMP/forensic.key
YAML
"$ctl" config check "$cfg" > /dev/null || fail "config check refuses the test config"
chain_tls
chain_haproxy "$p_tls" "$p_mitm"

chain_spawn "$TMP/backend.out" $PY "$helpers/backend.py" "$p_back" "$TMP/backend.log"
chain_spawn "$TMP/sandbox.out" $PY "$helpers/backend.py" "$p_sandbox" "$TMP/sandbox.log"
chain_spawn "$TMP/bridge.log" "$bridge" -c "$cfg"
chain_spawn "$TMP/buffer.log" "$buffer" -c "$cfg" -v
buffer_pid=${CHAIN_PIDS[-1]}
chain_spawn "$TMP/tail.err" sh -c "exec '$ctl' tail -c '$cfg' buffer.alert sys.heartbeat > '$TMP/alerts.jsonl'"
chain_mitmdump "$TMP/mitm.log" "$p_mitm" "$p_back" "$run/bridge-mitm.sock" \
    --set dpi_verdict_deadline_ms=20
chain_spawn "$TMP/haproxy.log" haproxy -db -f "$TMP/haproxy.cfg"

buffer_up() {
    kill -0 "$buffer_pid" 2> /dev/null || fail "dpi-buffer exited"
    test -S "$run/buffer.query"
}
chain_wait 30 buffer_up || fail "dpi-buffer did not open its query socket"
chain_wait 10 test -S "$run/bridge-mitm.sock" || fail "the bridge did not create its socket"
chain_wait 10 port_open "$p_back" || fail "backend not listening"
chain_wait 20 port_open "$p_mitm" || fail "mitmdump not listening"
chain_wait 10 port_open "$p_tls" || fail "haproxy not listening"

url="https://shop.test:$p_tls"
browser=(-A "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
         -H "Accept: text/html,application/xhtml+xml" -H "Accept-Language: en-GB,en")
# req FROM-IP PATH [curl args...]: the status
req() {
    local from=$1 path=$2; shift 2
    curl -sk --max-time 10 --resolve "shop.test:$p_tls:127.0.0.1" --interface "$from" \
        -o /dev/null -w '%{http_code}' "$@" "$url$path" || true
}
alert() { $PY "$helpers/bus.py" find "$TMP/alerts.jsonl" "$@"; }

# The chain is up once a request's analysis shows in the buffer's heartbeat.
warm() {
    req 127.0.0.9 "/warmup" "${browser[@]}" > /dev/null
    "$ctl" buffer stats -c "$cfg" --json --timeout 1000 2> /dev/null \
        | $PY -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["analysed"] > 0 else 1)'
}
chain_wait 40 warm || fail "no request analysed by dpi-buffer"

# --- (a) attacks and clean requests --------------------------------------------------
padding=$($PY -c 'print("note=" + "a" * 5000)')
req 127.0.0.2 "/a-sqli?id=1%27%20OR%20%271%27%3D%271" "${browser[@]}" > /dev/null
req 127.0.0.2 "/a-sqli-body" "${browser[@]}" \
    --data "$padding&user=admin%27%20or%201%3D1%20union%20select%20password%20from%20users--" \
    > /dev/null
req 127.0.0.3 "/a-xss?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E" "${browser[@]}" > /dev/null
req 127.0.0.4 "/a-lfi?file=../../../../etc/passwd" "${browser[@]}" > /dev/null
req 127.0.0.5 "/a-rce?host=127.0.0.1%3Bcat%20/etc/passwd" "${browser[@]}" > /dev/null
req 127.0.0.6 "/a-scan" -A "Nikto/2.1.6" -H "Accept: */*" > /dev/null
for i in 1 2 3 4 5; do
    req 127.0.0.7 "/clean-$i?page=$i&sort=price" "${browser[@]}" > /dev/null
done
req 127.0.0.7 "/clean-post" "${browser[@]}" --data "name=Alice&comment=Nice+shop%2C+thanks" \
    > /dev/null

# alert_rules PATH FAMILY: an alert for PATH with a rule id starting with FAMILY
alert_rules() {
    local a
    a=$(alert 20 topic=buffer.alert path="$1" replay=false) || fail "(a) no alert for $1"
    $PY - "$a" "$2" <<'PY' || fail "(a) $1"
import json, sys
a, fam = json.loads(sys.argv[1]), sys.argv[2]
ok = any(r.startswith(fam) for r in a["rule_ids"]) and a["anomaly_score"] >= 5 and a["kind"] == "waf"
sys.exit(0 if ok else f"want a {fam}xxx rule, got {a['rule_ids']} score {a['anomaly_score']}")
PY
}
alert_rules /a-sqli 942
alert_rules /a-sqli-body 942
alert_rules /a-xss 941
alert_rules /a-lfi 930
alert_rules /a-rce 932
alert_rules /a-scan 913
# every request is analysed before any clean one can be said to have no alert
analysed_all() {
    "$ctl" context 127.0.0.7 -c "$cfg" --json > "$TMP/ctx7.json" 2> /dev/null || return 1
    $PY -c 'import json,sys; r=json.load(open(sys.argv[1]))["requests"]; sys.exit(0 if len(r) == 6 and all(x["analysed"] for x in r) else 1)' "$TMP/ctx7.json"
}
chain_wait 20 analysed_all || fail "(a) the clean requests were not all analysed: $(cat "$TMP/ctx7.json")"
if grep '"buffer.alert"' "$TMP/alerts.jsonl" | grep -q '/clean'; then
    fail "(a) a clean request raised an alert: $(grep '/clean' "$TMP/alerts.jsonl" | head -2)"
fi
echo "ok (a) attacks raise CRS alerts (942 query and body, 941, 930, 932, 913); clean requests none"

# --- (b) context -----------------------------------------------------------------------
"$ctl" context 127.0.0.2 -c "$cfg" --json > "$TMP/ctx2.json" || fail "(b) context"
$PY - "$TMP/ctx2.json" <<'PY' || fail "(b) context 127.0.0.2"
import json, sys
c = json.load(open(sys.argv[1]))
paths = [r["path"] for r in c["requests"]]
assert c["ip"] == "127.0.0.2" and paths == ["/a-sqli-body", "/a-sqli"], paths
body = c["requests"][0]
assert body["method"] == "POST" and body["body_length"] > 5000 and body["analysed"], body
assert body["score"] >= 5 and any(r.startswith("942") for r in body["rule_ids"]), body
assert body["alerted"] and body["status"] in (200, 403), body
PY
"$ctl" context 127.0.0.2 -c "$cfg" | grep -q '/a-sqli-body' || fail "(b) human output"
echo "ok (b) context: newest first, with analysis and response"

# --- (c) replay to the sandbox ------------------------------------------------------
before=$(wc -l < "$TMP/backend.log")
"$ctl" replay 127.0.0.4 -c "$cfg" --json > "$TMP/replay.json" || fail "(c) replay"
grep -q '"queued":1' "$TMP/replay.json" || fail "(c) replay reply: $(cat "$TMP/replay.json")"
alert 20 topic=buffer.alert path=/a-lfi replay=true > "$TMP/ralert.json" || fail "(c) no replay alert"
$PY -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if a["paranoia"] == 3 and a["replay_status"] == 200 else 1)' \
    "$TMP/ralert.json" || fail "(c) replay alert: $(cat "$TMP/ralert.json")"
grep -q '^GET /a-lfi' "$TMP/sandbox.log" || fail "(c) the sandbox did not get the replayed request"
[ "$(wc -l < "$TMP/backend.log")" = "$before" ] || fail "(c) the replay reached the real backend"
"$ctl" replay 192.0.2.99 -c "$cfg" > /dev/null 2>&1 && fail "(c) replay of an unknown client succeeded"
echo "ok (c) replay: re-analysed at paranoia 3, resent to the sandbox only"

# --- (d) forensic log ---------------------------------------------------------------
"$ctl" forensic export -c "$cfg" > "$TMP/export.jsonl" 2> "$TMP/export.err" || fail "(d) export"
grep -q "being written by dpi-buffer" "$TMP/export.err" || fail "(d) the live file: $(cat "$TMP/export.err")"
grep -q '"path":"/a-sqli-body"' "$TMP/export.jsonl" || fail "(d) export lacks a request"
grep -q '"path":"/clean-3"' "$TMP/export.jsonl" || fail "(d) export lacks a clean request (mode all)"
"$ctl" forensic export -c "$cfg" --ip 127.0.0.3 > "$TMP/export3.jsonl" || fail "(d) export --ip"
[ "$(grep -c . "$TMP/export3.jsonl")" = 1 ] || fail "(d) --ip 127.0.0.3: $(cat "$TMP/export3.jsonl")"
echo "ok (d) forensic export of every request, filtered by --ip"

# --- (e) compat, SIGHUP, counters ----------------------------------------------------
compat_ok() {
    $PY - "$TMP/compat/dpi-buffer.json" 2> "$TMP/compat.err" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("timestamp", "entries", "max_size", "requests_total", "threats_detected",
          "blocked_count", "high_threat_in_buffer", "threat_distribution", "top_hosts",
          "analysis_enabled", "replay_enabled"):
    assert k in d, k
assert d["max_size"] == 10000 and d["entries"] >= 13 and d["threats_detected"] >= 6, d
assert d["analysis_enabled"] is True and d["top_hosts"][0]["host"].startswith("shop.test"), d
PY
}
# rewritten every 10 s
chain_wait 25 compat_ok || fail "(e) dpi-buffer.json: $(cat "$TMP/compat.err")"
kill -HUP "$buffer_pid"
chain_wait 20 grep -q 'SIGHUP: rules reloaded' "$TMP/buffer.log" || fail "(e) no reload"
req 127.0.0.8 "/after-reload?id=1%27%20union%20select%201,2--" "${browser[@]}" > /dev/null
alert 20 topic=buffer.alert path=/after-reload > /dev/null || fail "(e) no alert after SIGHUP"
"$ctl" buffer stats -c "$cfg" --json > "$TMP/stats.json" || fail "(e) stats"
$PY - "$TMP/stats.json" <<'PY' || fail "(e) counters: $(cat "$TMP/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["requests"] == s["analysed"] + s["not_analysed"] + s["bad_messages"] + s["oversized"], s
assert s["not_analysed"] == 0 and s["analysis_errors"] == 0 and s["alerts_waf"] >= 7, s
assert s["replays"] == 1 and s["replay_sent"] >= 1 and s["forensic_records"] >= 14, s
PY
echo "ok (e) compat file, SIGHUP reload, counters add up"
