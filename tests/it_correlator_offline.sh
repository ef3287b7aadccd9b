#!/bin/bash
# dpi-correlator --offline on a generated stream (tests/lib/correlator_stream.py: tap.flow,
# mitm.request, mitm.verdict, buffer.alert as `dpi-dualctl tail` prints them, with the
# ground truth of every join):
# (a) every MITM request is reported once on correlated.join; each one whose flow the
#     mirror saw is joined by community_id to exactly that flow — both orders of arrival,
#     VLAN-tagged flows, IPv6, IPv4-mapped addresses on the MITM side; the few the mirror
#     missed fall back (client ip + port + time) and say so; printed: the join rate;
# (b) the attackers' live blocks and CRS alerts become correlated.threat with the TAP
#     flow's protocol and the join key, and each attacker is banned once (decision BAN,
#     origin correlator) when its reputation reaches correlation.threat_threshold; no
#     benign client is; the mirror-only client's risky and Tor flows are dpi_threat;
# (c) the same with every flow arriving after its request (--late-flows);
# (d) a whitelisted attacker is scored but not banned.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
cor="$BUILD_DIR/correlator/dpi-correlator"
gen="$SOURCE_DIR/tests/lib/correlator_stream.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "it_correlator_offline: FAIL: $*"; exit 1; }

config() {
    cat > "$tmp/c.yaml" <<YAML
global:
  run_dir: $tmp/run
  state_dir: $tmp/state
correlation:
  publish_joins: true
  threat_threshold: 50
$1
YAML
}

# check OUT TRUTH: the joins, threats and decisions of one run against the truth
check() {
    $PY - "$1" "$2" "${3:-}" <<'PY'
import collections, json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
truth = json.load(open(sys.argv[2]))
whitelisted = sys.argv[3]
joins = [m for m in out if m["topic"] == "correlated.join"]
by_id = collections.Counter(j["request_id"] for j in joins)
assert sorted(by_id) == sorted(truth["requests"]), "not every request reported"
assert max(by_id.values()) == 1, [k for k, v in by_id.items() if v > 1][:5]
exact = [j for j in joins if truth["requests"][j["request_id"]]]
good = [j for j in exact if j["join"] == "COMMUNITY_ID"
        and j["flow_community_id"] == truth["requests"][j["request_id"]]]
false = [j for j in joins if j["join"] == "COMMUNITY_ID"
         and j["flow_community_id"] != j["request_community_id"]]
missed = [j for j in joins if not truth["requests"][j["request_id"]]]
assert not false, false[:2]
assert len(good) == len(exact), [j for j in exact if j not in good][:2]
assert all(j["join"] in ("CLIENT_PORT_TIME", "CLIENT_IP", "JOIN_NONE") for j in missed), missed
assert any(j["flow_vlan"] == 10 for j in good) and any(":" in j["client_ip"] for j in good)
print(f"  joins: {len(good)}/{len(exact)} by community_id ({100 * len(good) / len(exact):.2f} %),"
      f" 0 false; {len(missed)} without a flow: {collections.Counter(j['join'] for j in missed)}")
threats = [m for m in out if m["topic"] == "correlated.threat"]
bans = [m for m in out if m["topic"] == "decision" and m["action"] == "BAN"]
banned = collections.Counter(b["value"] for b in bans)
want = set(truth["attackers"]) - {whitelisted}
assert set(banned) == want and max(banned.values()) == 1, banned
assert all(b["origin"] == "correlator" and b["duration_s"] == 14400 for b in bans), bans[:1]
att = [t for t in threats if t["client_ip"] in truth["attackers"]]
assert {t["event_type"] for t in att} == {"waf_block", "waf_alert"}, {t["event_type"] for t in att}
assert all(t["join"] == "COMMUNITY_ID" and t["tap_proto"] == "TLS" for t in att), att[:1]
assert not [t for t in threats if t["client_ip"] in truth["benign"]], "a benign client threat"
dpi = [t for t in threats if t["client_ip"] == truth["dpi_only"]]
assert [t["event_type"] for t in dpi] == ["dpi_threat", "dpi_threat"], dpi
assert "Possible Exploit" in dpi[0]["reasons"][0] and "Tor" in dpi[1]["reasons"][0], dpi
if whitelisted:
    w = [t for t in threats if t["client_ip"] == whitelisted]
    assert w and max(t["reputation"] for t in w) >= 50 and not any(t["banned"] for t in w), w[-1]
print(f"  {len(threats)} threats, bans {sorted(banned)}")
PY
}

$PY "$gen" "$tmp/s.jsonl" "$tmp/truth.json" --clients 200 --requests 5
config ""
"$BUILD_DIR/correlator/dpi-correlator" -q -c "$tmp/c.yaml" --offline "$tmp/s.jsonl" \
    > "$tmp/out.jsonl" || fail "(a) exit $?"
check "$tmp/out.jsonl" "$tmp/truth.json" || fail "(a)/(b)"
echo "ok (a) joins by community_id, both orders, VLAN, IPv6, IPv4-mapped; fallbacks said"
echo "ok (b) threats with the TAP side, one ban per attacker, none for the benign"

$PY "$gen" "$tmp/late.jsonl" "$tmp/late.json" --clients 100 --requests 3 --late-flows
"$cor" -q -c "$tmp/c.yaml" --offline "$tmp/late.jsonl" > "$tmp/late.out" || fail "(c) exit $?"
check "$tmp/late.out" "$tmp/late.json" || fail "(c)"
echo "ok (c) every flow after its request"

config "  whitelist: [\"10.66.0.0/31\"]"
"$cor" -q -c "$tmp/c.yaml" --offline "$tmp/s.jsonl" > "$tmp/wl.out" || fail "(d) exit $?"
$PY - "$tmp/wl.out" <<'PY' || fail "(d)"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
bans = {m["value"] for m in out if m["topic"] == "decision" and m["action"] == "BAN"}
assert bans == {"10.66.0.2", "10.66.0.3"}, bans     # 10.66.0.0/31 holds .0 and .1
PY
echo "ok (d) whitelisted attackers scored, not banned"
