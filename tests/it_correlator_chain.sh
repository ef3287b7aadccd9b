#!/bin/bash
# The loop closed, with real programs on loopback:
#   curl --TLS--> haproxy --> mitmdump + addon --> backend; dpi-bridge-mitm (live verdicts),
#   dpi-buffer (CRS), dpi-collector capturing lo live (the TAP side of the same
#   connections), dpi-correlator joining both and banning.
# (a) clean requests from many connections: each MITM request is joined by community_id to
#     the flow the collector saw on lo (correlated.join); printed: the join rate, false
#     joins and the join latency;
# (b) an attacker's SQL injections: blocked live (waf_block) and alerted by the CRS
#     (waf_alert); its reputation reaches the threshold; the correlator bans it (decision)
#     and the bridge refuses its next, clean, request (403, ban-list); others pass;
#     correlated.threat carries the TAP flow's protocol and the join key;
# (c) dpi-dualctl threats / reputation show it; unban lets it through again; a manual ban
#     and the whitelist work;
# (d) the reputation survives a restart of the correlator (state_dir);
# (e) CrowdSec both ways, a private LAPI (tests/lib/crowdsec.sh): the correlator's ban of
#     (b) is in `cscli decisions list -a` and `cscli alerts inspect` shows its evidence;
#     `cscli decisions add` for another client -> a decision (origin crowdsec) -> the
#     bridge refuses that client.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
bin=$BUILD_DIR
ctl="$bin/ctl/dpi-dualctl"
helpers="$SOURCE_DIR/tests/mitm"
TMP=$(mktemp -d)
fail() { echo "it_correlator_chain: FAIL: $*"; exit 1; }
. "$SOURCE_DIR/tests/lib/mitm_chain.sh"
cleanup() {
    local rc=$?
    chain_stop
    if [ $rc -ne 0 ]; then
        for log in correlator.log collector.log buffer.log bridge.log mitm.log tail.err; do
            [ -s "$TMP/$log" ] && { echo "--- $log"; tail -n 25 "$TMP/$log"; }
        done
    fi
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT

src=$SOURCE_DIR
. "$SOURCE_DIR/tests/lib/crowdsec.sh"
cs_require it_correlator_chain
cs_setup "$TMP/cs"
cscli() { command cscli -c "$cs_cfg" --error "$@"; }
cscli machines add dpitest --auto -f "$cs_d/local_api_credentials.yaml" \
    --url "http://127.0.0.1:$cs_port/" > /dev/null
cs_lapi_start it_correlator_chain
CHAIN_PIDS+=("$cs_lapi_pid")
cscli bouncers add dpi-correlator -o raw | tr -d '[:space:]' > "$TMP/cs.key"
[ -s "$TMP/cs.key" ] || fail "cscli bouncers add gave no key"
cscli machines add dpi-correlator --auto -f "$TMP/cs.creds" --url "http://127.0.0.1:$cs_port/" \
    > /dev/null

chain_ports 3
read -r p_back p_mitm p_tls <<< "${CHAIN_PORTS[*]}"
run="$TMP/run"; mkdir -p "$run"
cfg="$TMP/dpi-dual.yaml"
cat > "$cfg" <<YAML
global:
  host: cortest
  run_dir: $run
  state_dir: $TMP/state
bus:
  heartbeat_interval: 1
tap:
  interface: lo
  bpf: "tcp port $p_tls"
  immediate: true
mitm:
  socket: $run/bridge-mitm.sock
  verdict_deadline_ms: 20
  trusted_proxies: ["127.0.0.1"]
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  replay_on_score: 0
correlation:
  publish_joins: true
  threat_threshold: 50
  window: 30
crowdsec:
  enabled: true
  lapi_url: "http://127.0.0.1:$cs_port"
  api_key_file: $TMP/cs.key
  machine_credentials_file: $TMP/cs.creds
  poll_interval: 1
YAML
"$ctl" config check "$cfg" > /dev/null || fail "config check refuses the test config"
chain_tls
chain_haproxy "$p_tls" "$p_mitm"
chain_spawn "$TMP/backend.out" $PY "$helpers/backend.py" "$p_back" "$TMP/backend.log"
chain_spawn "$TMP/correlator.log" "$bin/correlator/dpi-correlator" -c "$cfg" -v
cor_pid=${CHAIN_PIDS[-1]}
chain_spawn "$TMP/bridge.log" "$bin/bridge-mitm/dpi-bridge-mitm" -c "$cfg"
chain_spawn "$TMP/buffer.log" "$bin/buffer/dpi-buffer" -c "$cfg"
chain_spawn "$TMP/collector.log" "$bin/collector/dpi-collector" -c "$cfg"
chain_spawn "$TMP/tail.err" sh -c "exec '$ctl' tail -c '$cfg' correlated. decision > '$TMP/out.jsonl'"
chain_mitmdump "$TMP/mitm.log" "$p_mitm" "$p_back" "$run/bridge-mitm.sock" \
    --set dpi_verdict_deadline_ms=20
chain_spawn "$TMP/haproxy.log" haproxy -db -f "$TMP/haproxy.cfg"
chain_wait 30 test -S "$run/correlator.query" || fail "dpi-correlator did not start"
chain_wait 30 test -S "$run/buffer.query" || fail "dpi-buffer did not start"
chain_wait 30 test -S "$run/bridge-mitm.sock" || fail "the bridge did not create its socket"
chain_wait 30 test -S "$run/collector.pub" || fail "dpi-collector did not start"
chain_wait 10 port_open "$p_back" || fail "backend not listening"
chain_wait 20 port_open "$p_mitm" || fail "mitmdump not listening"
chain_wait 10 port_open "$p_tls" || fail "haproxy not listening"

url="https://shop.test:$p_tls"
browser=(-A "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
         -H "Accept: text/html")
# req FROM PATH [curl args]: "STATUS BLOCK-HEADER"
req() {
    local from=$1 path=$2; shift 2
    curl -sk --max-time 10 --resolve "shop.test:$p_tls:127.0.0.1" --interface "$from" \
        -D "$TMP/hdr" -o /dev/null -w '%{http_code}' "$@" "$url$path" || true
    local block
    block=$(tr -d '\r' < "$TMP/hdr" 2> /dev/null | sed -n 's/^[Xx]-[Dd][Pp][Ii]-[Dd]ual-[Bb]lock: //p')
    echo " ${block:--}"
}
warm() { [ "$(req 127.0.0.9 /warmup "${browser[@]}")" = "200 -" ] \
         && grep -q '"topic":"correlated.join".*"join":"COMMUNITY_ID"' "$TMP/out.jsonl"; }
chain_wait 40 warm || fail "no correlated.join for warm-up requests"

# --- (a) ------------------------------------------------------------------------------
for batch in 0 1 2 3 4; do                  # 8 clients at once, each its own connection
    curls=()
    for i in $(seq $((batch * 8 + 1)) $((batch * 8 + 8))); do
        req "127.0.0.$((10 + i % 8))" "/page-$i" "${browser[@]}" > /dev/null &
        curls+=($!)
    done
    wait "${curls[@]}"
done
joined() {       # the 40 page requests come from 127.0.0.10..17
    [ "$(grep '"topic":"correlated.join"' "$TMP/out.jsonl" \
         | grep -c '"client_ip":"127\.0\.0\.1[0-7]"')" -ge 40 ]
}
chain_wait 60 joined || fail "(a) not every request reported on correlated.join"
$PY - "$TMP/out.jsonl" "$p_tls" <<'PY' || fail "(a) joins"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
joins = [r for r in rows if r["topic"] == "correlated.join"]
by_cid = [j for j in joins if j["join"] == "COMMUNITY_ID"]
false = [j for j in by_cid if j["flow_community_id"] != j["request_community_id"]
         or j["flow_src_ip"] != j["client_ip"] or j["flow_src_port"] != j["client_port"]
         or j["flow_dst_port"] != int(sys.argv[2])]
lat = [j["latency_ns"] / 1e6 for j in by_cid]
rate = 100 * len(by_cid) / len(joins)
print(f"  {len(joins)} requests: {len(by_cid)} joined by community_id ({rate:.1f} %), "
      f"{len(false)} false joins; join latency median {statistics.median(lat):.1f} ms, "
      f"max {max(lat):.1f} ms")
assert not false, false[:2]
assert rate >= 95, [j for j in joins if j["join"] != "COMMUNITY_ID"][:3]
PY
echo "ok (a) MITM requests joined to the flows dpi-collector saw on lo"

# --- (b) ------------------------------------------------------------------------------
sqli="/search?q=1%27%20union%20select%20password%20from%20users--"
for i in 1 2; do
    out=$(req 127.0.0.5 "$sqli&n=$i" "${browser[@]}")
    [ "${out%% *}" = 403 ] || fail "(b) the injection was not blocked live: $out"
done
banned() { [ "$(req 127.0.0.5 /clean "${browser[@]}")" = "403 ban-list" ]; }
chain_wait 30 banned || fail "(b) 127.0.0.5 not banned at the bridge: $(req 127.0.0.5 /clean)"
[ "$(req 127.0.0.6 /clean "${browser[@]}")" = "200 -" ] || fail "(b) 127.0.0.6 refused"
$PY - "$TMP/out.jsonl" <<'PY' || fail "(b) threats"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = [r for r in rows if r["topic"] == "correlated.threat" and r["client_ip"] == "127.0.0.5"]
kinds = {r["event_type"] for r in t}
assert {"waf_block", "waf_alert"} <= kinds, kinds
assert any(r["join"] == "COMMUNITY_ID" and r["tap_proto"].startswith("TLS") for r in t), t[0]
assert any(r["banned"] for r in t), "no threat says banned"
d = [r for r in rows if r["topic"] == "decision" and r["value"] == "127.0.0.5"]
assert len(d) == 1 and d[0]["action"] == "BAN" and d[0]["origin"] == "correlator", d
PY
echo "ok (b) blocked, alerted, scored, banned by the correlator, refused by the bridge"

# --- (c) ------------------------------------------------------------------------------
"$ctl" threats -c "$cfg" --json > "$TMP/threats.json" || fail "(c) threats"
grep -q '127.0.0.5' "$TMP/threats.json" || fail "(c) threats lacks the attacker"
"$ctl" reputation 127.0.0.5 -c "$cfg" --json > "$TMP/rep.json" || fail "(c) reputation"
$PY -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["score"] >= 50 and r["banned_until_ns"] > 0 else 1)' \
    "$TMP/rep.json" || fail "(c) reputation: $(cat "$TMP/rep.json")"
"$ctl" unban 127.0.0.5 -c "$cfg" > /dev/null || fail "(c) unban"
unbanned() { [ "$(req 127.0.0.5 /clean "${browser[@]}")" = "200 -" ]; }
chain_wait 20 unbanned || fail "(c) still refused after unban"
"$ctl" whitelist add 127.0.0.8/32 -c "$cfg" > /dev/null || fail "(c) whitelist add"
"$ctl" ban 127.0.0.8 -c "$cfg" > /dev/null 2>&1 && fail "(c) a whitelisted address was banned"
"$ctl" ban 127.0.0.6 --duration 60 -c "$cfg" > /dev/null || fail "(c) manual ban"
chain_wait 20 test "$(req 127.0.0.6 /clean "${browser[@]}")" = "403 ban-list" \
    || fail "(c) manual ban not enforced"
echo "ok (c) threats, reputation, unban, whitelist, manual ban"

# --- (d) ------------------------------------------------------------------------------
# one injection from 127.0.0.3: 25 + 15 points, under the threshold, kept across a restart
[ "$(req 127.0.0.3 "$sqli&n=3" "${browser[@]}")" = "403 -" ] || true
scored() {
    "$ctl" reputation 127.0.0.3 -c "$cfg" --json > "$TMP/rep1.json" 2> /dev/null \
        && $PY -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["events"] >= 2 else 1)' "$TMP/rep1.json"
}
chain_wait 30 scored || fail "(d) 127.0.0.3 not scored: $(cat "$TMP/rep1.json")"
kill -TERM "$cor_pid"; wait "$cor_pid" || fail "(d) correlator exit $?"
test -s "$TMP/state/reputation.db" || fail "(d) no state file"
chain_spawn "$TMP/correlator2.log" "$bin/correlator/dpi-correlator" -c "$cfg"
chain_wait 30 test -S "$run/correlator.query" || fail "(d) no restart"
"$ctl" reputation 127.0.0.3 -c "$cfg" --json > "$TMP/rep2.json" || fail "(d) reputation"
$PY - "$TMP/rep1.json" "$TMP/rep2.json" <<'PY' || fail "(d) after restart: $(cat "$TMP/rep2.json")"
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
assert after["events"] == before["events"] and after["score"] >= 0.9 * before["score"] > 30, (before, after)
PY
echo "ok (d) the reputation survived the restart"

# --- (e) ------------------------------------------------------------------------------
pushed() {
    cscli decisions list -a -o json > "$TMP/cs-decisions.json" 2> /dev/null
    $PY -c '
import json, sys
d = json.load(open(sys.argv[1])) or []
ok = any(dec["value"] == "127.0.0.5" and dec["origin"] == "dpi-dual"
         for a in d for dec in (a.get("decisions") or []))
sys.exit(0 if ok else 1)' "$TMP/cs-decisions.json"
}
chain_wait 30 pushed || fail "(e) the correlator's ban is not in cscli decisions list -a"
aid=$(cscli alerts list -a -o json | $PY -c '
import json, sys
for a in json.load(sys.stdin) or []:
    if any(d["value"] == "127.0.0.5" and d["origin"] == "dpi-dual" for d in a.get("decisions") or []):
        print(a["id"]); break')
[ -n "$aid" ] || fail "(e) no CrowdSec alert for the ban"
cscli alerts inspect "$aid" -o json > "$TMP/cs-alert.json"
grep -q 'community_id' "$TMP/cs-alert.json" || fail "(e) the alert lacks its evidence: $(head -c 600 "$TMP/cs-alert.json")"
cscli decisions add -i 127.0.0.4 -d 1h > /dev/null
crowdsec_ban() { [ "$(req 127.0.0.4 /clean "${browser[@]}")" = "403 ban-list" ]; }
chain_wait 30 crowdsec_ban || fail "(e) a cscli decision did not reach the bridge"
grep -q '"origin": *"crowdsec"' "$TMP/out.jsonl" || grep -q '"origin":"crowdsec"' "$TMP/out.jsonl" \
    || fail "(e) no decision of origin crowdsec on the bus"
echo "ok (e) CrowdSec: our ban pushed with its evidence, its decision enforced by the bridge"

