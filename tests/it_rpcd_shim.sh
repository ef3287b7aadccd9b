#!/bin/bash
# openwrt/rpcd/luci.dpi-dual (the rpcd plugin of SecuBox's LuCI methods) against the real
# dpi-api, fed by the real dpi-correlator, dpi-buffer (the CRS of deploy/buffer, recorded
# mitm requests from dpi-testpub standing in for the bridge) and dpi-collector reading a
# dpi-pcapgen capture — the pipeline of it_api.sh. The script is run by dash (`list` and
# get_flows by busybox ash too when installed; RPC_SH="busybox ash" runs every call by it:
# passed on Debian's busybox 1.35, with Debian's sort/tr/sed), as rpcd runs it: `list`, and
# `call METHOD` with JSON on stdin.
# Debian has no jsonfilter: the script uses jq here (jsonfilter on OpenWrt: not run here).
#   - shellcheck -s dash passes (when shellcheck is installed);
#   - list: one JSON object naming every method of SecuBox's ACL, plus unban_ip; the ACL
#     file (openwrt/rpcd/luci-app-dpi-dual.json) grants exactly the methods of list;
#   - every call answers one JSON object, with real content: status (collector, buffer,
#     correlator running, flow and alert totals), get_flows (the capture's flows, and
#     protocols counting them), get_threats (SecuBox's members on each alert),
#     get_buffer (100 requests), get_threats / get_correlation / get_timeline /
#     search_correlations (the CRS alerts and the correlator's threats, with the members
#     SecuBox's overview and timeline read), get_ip_context (SecuBox's context object),
#     correlate_ip, replay_request (queued), get_correlation_stats;
#   - ban_ip: the ban shows in get_ip_reputation and in `dpi-dualctl reputation`;
#     unban_ip lifts it in both;
#   - errors are JSON, never a crash: bad IPs (garbage, traversal, quotes), a missing ip,
#     a bad duration, arguments that are not JSON, an unknown method, a wrong token, no
#     dpi-api at the URL, set_auto_ban without uci, start with a failing dpi-dualctl.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
b=$BUILD_DIR
ctl="$b/ctl/dpi-dualctl"
shim="$SOURCE_DIR/openwrt/rpcd/luci.dpi-dual"
acl="$SOURCE_DIR/openwrt/rpcd/luci-app-dpi-dual.json"
tmp=$(mktemp -d); TMP=$tmp
fail() { echo "it_rpcd_shim: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
. "$SOURCE_DIR/tests/lib/api_pipeline.sh"    # api_config, api_start, ...; chain_wait
trap 'api_cleanup api.log correlator.log buffer.log collector.log' EXIT
wait_for() { chain_wait "$@"; }
command -v jq > /dev/null || fail "jq missing (Debian: jq; deploy/install-deps.sh)"
if command -v shellcheck > /dev/null; then
    shellcheck -s dash "$shim" || fail "shellcheck -s dash"
    ok "shellcheck -s dash"
fi
shells=(dash)
command -v busybox > /dev/null && shells+=("busybox ash")

api_config rpcdtest
cfg=$API_CFG
export DPI_API_URL="$API_URL" DPI_API_TOKEN_FILE="$tmp/token"

# rpc SHELL METHOD ARGS: the script's answer into $tmp/out; it must exit 0 with one JSON
# object on stdout
rpc_in() {
    local sh=$1 m=$2 args=$3 rc=0
    printf '%s' "$args" | $sh "$shim" call "$m" > "$tmp/out" 2> "$tmp/err" || rc=$?
    [ $rc -eq 0 ] || fail "[$sh] call $m $args: exit $rc ($(cat "$tmp/err"))"
    jq -e 'type == "object"' "$tmp/out" > /dev/null 2>&1 ||
        fail "[$sh] call $m $args: not a JSON object: $(head -c 400 "$tmp/out")"
}
rpc() { rpc_in "${RPC_SH:-dash}" "$@"; }  # RPC_SH="busybox ash": every call by ash
check() { jq -e "$1" "$tmp/out" > /dev/null || fail "$2: $(head -c 600 "$tmp/out")"; }

# --- list and the ACL ------------------------------------------------------------------
for sh in "${shells[@]}"; do
    $sh "$shim" list > "$tmp/list" || fail "[$sh] list: exit $?"
    jq -e 'type == "object"' "$tmp/list" > /dev/null || fail "[$sh] list is not JSON"
done
secubox='["status","get_flows","get_buffer","get_threats","get_correlation","get_correlation_stats","get_ip_context","get_ip_reputation","get_timeline","get_mirror_status","search_correlations","start","stop","restart","replay_request","correlate_ip","ban_ip","set_auto_ban","get_lan_status","get_lan_clients","get_lan_destinations","get_lan_protocols"]'
jq -e --argjson want "$secubox" '($want - keys) == [] and (keys | index("unban_ip"))' "$tmp/list" > /dev/null ||
    fail "list lacks methods: $(jq -c --argjson want "$secubox" '$want - keys' "$tmp/list")"
jq -e --slurpfile l "$tmp/list" '[.["luci-app-dpi-dual"].read.ubus["luci.dpi-dual"][],
        .["luci-app-dpi-dual"].write.ubus["luci.dpi-dual"][]] | sort == ($l[0] | keys | sort)' \
    "$acl" > /dev/null || fail "the ACL does not grant exactly the methods of list"
ok "list: JSON, every SecuBox method and unban_ip; the ACL grants exactly those"
methods=$(jq -r 'keys[]' "$tmp/list")

# --- the pipeline ----------------------------------------------------------------------
api_start nowait
up() { rpc status '{}' && jq -e '.api_reachable == 1 and .mitm_stream.buffer_running == 1 and .correlation.running == 1' "$tmp/out" > /dev/null; }
wait_for 60 up || fail "status does not show buffer and correlator running: $(head -c 600 "$tmp/out")"
ok "status: dpi-api reachable, buffer and correlator running"

api_capture
nflows=$(jq '.flows | length' "$tmp/cap.json")
ip1=$(jq -r '.flows[0].src_ip' "$tmp/cap.json")
flows_in() { rpc get_flows '{"limit":1000}' && jq -e ".total >= $nflows" "$tmp/out" > /dev/null; }
wait_for 30 flows_in || fail "get_flows: the capture's $nflows flows are not there"
check "(.flows | length) >= $nflows and any(.flows[]; .src_ip == \"$ip1\") and (.flows_1min | type) == \"number\"" \
    "get_flows content"
check "(.protocols | type) == \"object\" and ([.protocols[]] | add) == (.flows | length) and (.protocols | has(\"$(jq -r '.flows[0].proto' "$tmp/cap.json")\"))" \
    "get_flows: protocols counts the flows by proto"
for sh in "${shells[@]}"; do
    rpc_in "$sh" get_flows '{"limit":2}'
    check '(.flows | length) == 2' "[$sh] get_flows limit 2"
done
ok "get_flows: the capture's $nflows flows (limit honoured), flows_1min, protocols"

api_requests 100
buffered() { rpc get_buffer '{}' && jq -e '.requests == 100 and .entries >= 1' "$tmp/out" > /dev/null; }
wait_for 30 buffered || fail "get_buffer: not the 100 requests: $(head -c 400 "$tmp/out")"
ok "get_buffer: dpi-buffer's stats (100 requests, entries)"
alerts() { rpc get_threats '{"limit":5}' && jq -e '.total >= 1 and (.alerts | length) >= 1 and .alerts[0].topic == "buffer.alert"' "$tmp/out" > /dev/null; }
wait_for 60 alerts || fail "get_threats: no CRS alert: $(head -c 400 "$tmp/out")"
check '(.alerts | length) <= 5 and all(.alerts[]; (.timestamp | type) == "number" and .timestamp > 1000000000000 and (.threat_score | type) == "number" and (.categories | length) == 1 and .blocked == false and (.client_ip | length) > 0)' \
    "get_threats: SecuBox's members on each alert"
ok "get_threats: the CRS alerts, with timestamp (ms), threat_score, categories, blocked"
threats() { rpc get_correlation '{"limit":5}' && jq -e '.total >= 1 and .correlated[0].topic == "correlated.threat"' "$tmp/out" > /dev/null; }
wait_for 60 threats || fail "get_correlation: no threat: $(head -c 400 "$tmp/out")"
tip=$(jq -r '.correlated[0].client_ip // empty' "$tmp/out")
[ -n "$tip" ] || fail "a threat without client_ip: $(head -c 400 "$tmp/out")"
rpc get_timeline '{"limit":3}'
check '.total >= 1 and .limit == 3 and (.entries | length) >= 1 and all(.entries[]; (.ip | length) > 0 and .timestamp > 1000000000000 and (.threat_score | type) == "number" and (.reputation_score | type) == "number" and (.reason | length) > 0 and (.event_type | type) == "string")' \
    "get_timeline: SecuBox's members on each entry"
if [ -n "$tip" ]; then
    rpc search_correlations "{\"ip\":\"$tip\"}"
    check '.total >= 1 and (.results | length) >= 1' "search_correlations $tip"
fi
rpc get_correlation_stats '{}'
check '.total_correlations >= 1 and .alerts >= 1 and .unique_ips >= 1 and (.high_threat_count | type) == "number" and (.banned_ips | type) == "number"' \
    "get_correlation_stats"
ok "get_correlation, get_timeline, search_correlations${tip:+ ($tip)}, get_correlation_stats: the threats"
rpc status '{}'
check ".tap_stream.flows_total >= $nflows and .mitm_stream.threats_detected >= 1 and .mitm_stream.requests_total == 100 and .correlation.threats_correlated >= 1 and (.api.workers | length) >= 3" \
    "status totals"
ok "status: SecuBox's shape with the totals (flows, alerts, requests, threats)"

rpc get_ip_context '{"ip":"10.0.0.8"}'
check '.ip == "10.0.0.8" and (.requests | length) == 2 and (.context.mitm_requests | length) == 2 and (.context.waf_alerts | type) == "array" and (.reputation_score | type) == "number" and .crowdsec_status == "clean"' \
    "get_ip_context"
if [ -n "$tip" ]; then
    rpc get_ip_context "{\"ip\":\"$tip\"}"
    check '(.context.waf_alerts | length) >= 1 and all(.context.waf_alerts[]; (.threat_score | type) == "number" and .client_ip == "'"$tip"'")' \
        "get_ip_context $tip: its WAF alerts"
fi
rpc correlate_ip '{"ip":"10.0.0.8"}'
check '.success == true and .reputation.ip == "10.0.0.8" and (.context.requests | length) == 2' "correlate_ip"
rpc replay_request '{"ip":"10.0.0.8"}'
check '.success == true and has("queued")' "replay_request"
rpc replay_request '{"req_hash":"10.0.0.8"}'
check '.success == true' "replay_request with req_hash an address"
ok "get_ip_context, correlate_ip, replay_request: the buffer's requests of 10.0.0.8"

# --- ban, reputation, unban ------------------------------------------------------------
rpc ban_ip '{"ip":"203.0.113.9","duration":"10m"}'
check '.success == true and .value == "203.0.113.9" and .duration == 600' "ban_ip"
rpc get_ip_reputation '{"ip":"203.0.113.9"}'
check '.ip == "203.0.113.9" and .banned == true and .banned_until_ns > 0 and (.reputation_score | type) == "number"' \
    "get_ip_reputation after ban_ip"
"$ctl" reputation 203.0.113.9 -c "$cfg" --json > "$tmp/rep.json"
jq -e '.banned_until_ns > 0' "$tmp/rep.json" > /dev/null || fail "dpi-dualctl reputation: no ban"
rpc get_ip_context '{"ip":"203.0.113.9"}'
check '.crowdsec_status == "banned"' "get_ip_context of a banned address"
rpc unban_ip '{"ip":"203.0.113.9"}'
check '.success == true' "unban_ip"
rpc get_ip_reputation '{"ip":"203.0.113.9"}'
check '.banned == false and .banned_until_ns == 0' "get_ip_reputation after unban_ip"
"$ctl" reputation 203.0.113.9 -c "$cfg" --json > "$tmp/rep.json"
jq -e '.banned_until_ns == 0' "$tmp/rep.json" > /dev/null || fail "dpi-dualctl reputation: still banned"
rpc ban_ip '{"ip":"198.51.100.0/24","duration":"1h"}'
check '.success == true and .duration == 3600' "ban_ip of a range"
ok "ban_ip: in get_ip_reputation and dpi-dualctl reputation; unban_ip lifts it; a range"

# --- the rest: answers of their own ----------------------------------------------------
rpc get_mirror_status '{}'
check '.tap_found == 0 and (.interface | type) == "string"' "get_mirror_status (no mirror here)"
for m in get_lan_status get_lan_clients get_lan_destinations get_lan_protocols; do
    rpc "$m" '{}'
    check 'has("note")' "$m"
done
ok "get_mirror_status, get_lan_*: JSON (no mirror, no LAN collector: said so)"

# --- errors: JSON, never a crash -------------------------------------------------------
err() {  # METHOD ARGS: a JSON error
    rpc "$1" "$2"
    check '.success == false and (.error | length) > 0' "$1 $2 is not a JSON error"
}
for bad in '{"ip":"1.2.3"}' '{"ip":"../../etc/passwd"}' '{"ip":"1.2.3.4;rm"}' '{"ip":"a\"b"}' \
           '{"ip":"999.1.1.1"}' '{}' '{"ip":12}'; do
    for m in get_ip_reputation get_ip_context unban_ip correlate_ip; do err "$m" "$bad"; done
done
err ban_ip '{"ip":"1.2.3.4","duration":"soon"}'
err ban_ip '{"ip":"1.2.3.4\",\"evil\":1"}'
err ban_ip '{"ip":"not-an-ip"}'
err replay_request '{}'
err get_flows 'this is not json'
err no_such_method '{}'
for m in $methods; do  # nothing on stdin: no crash
    DPI_DUALCTL=false $shim call "$m" < /dev/null > "$tmp/out" 2> /dev/null || fail "call $m with no arguments: exit $?"
    jq -e 'type == "object"' "$tmp/out" > /dev/null || fail "call $m with no arguments: not JSON"
done
err set_auto_ban '{"enabled":true}'  # no uci on Debian
DPI_DUALCTL=false err start '{}'
DPI_API_TOKEN_FILE=/nonexistent err get_flows '{}'
echo wrong-token-wrong-token > "$tmp/wrong"; chmod 600 "$tmp/wrong"
DPI_API_TOKEN_FILE="$tmp/wrong" err get_flows '{}'
check '.error | test("401")' "a wrong token: 401 named"
DPI_API_URL="http://127.0.0.1:1" err get_threats '{}'
check '.error | test("not answering")' "no dpi-api"
DPI_API_URL="http://127.0.0.1:1" rpc status '{}'
check '.api_reachable == 0 and .correlation.running == 0' "status without dpi-api"
ok "errors are JSON: bad IPs, bad arguments, unknown method, wrong token, no dpi-api, no uci"
grep -qF "$(cat "$tmp/token")" "$tmp/api.log" && fail "the token is in dpi-api's log"
echo "it_rpcd_shim: all passed"
