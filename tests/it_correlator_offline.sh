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
# (d) a whitelisted attacker is scored but not banned;
# (e) with global.compat (compat_dir in the test's directory): correlated-threats.json has
#     one JSON object a line, SecuBox's fields with their types, one per correlated.threat
#     printed, with the same values; ip-reputation.json is one JSON document whose bans are
#     the decisions printed, and no temporary file is left;
# (f) outputs that cannot be written: stdout on /dev/full, correlated-threats.json a link
#     to /dev/full, ip-reputation.json a directory: each said (path and errno), the rest
#     still done, exit 3; a compat_dir that cannot be created: exit 1 before any work.
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

# --- (e) ------------------------------------------------------------------------------
cat > "$tmp/c.yaml" <<YAML
global:
  run_dir: $tmp/run
  state_dir: $tmp/state
  compat: true
  compat_dir: $tmp/compat
correlation:
  threat_threshold: 50
  whitelist: ["10.66.0.0/31"]
YAML
"$cor" -q -c "$tmp/c.yaml" --offline "$tmp/s.jsonl" > "$tmp/compat.out" || fail "(e) exit $?"
$PY - "$tmp/compat.out" "$tmp/compat" <<'PY' || fail "(e) compat files"
import json, os, re, sys
out = [json.loads(l) for l in open(sys.argv[1])]
threats = [m for m in out if m["topic"] == "correlated.threat"]
bans = {m["value"] for m in out if m["topic"] == "decision" and m["action"] == "BAN"}
raw = open(os.path.join(sys.argv[2], "correlated-threats.json")).read()
assert raw.endswith("\n")
lines = [json.loads(l) for l in raw.splitlines()]        # true JSONL: one object a line
types = {"ip": str, "timestamp": str, "event_type": str, "reason": str, "threat_score": int,
         "reputation_score": int, "crowdsec_status": str, "context": dict, "community_id": str,
         "join": str, "tap_proto": str, "mitm_host": str, "mitm_path": str, "request_id": str,
         "banned": bool}
for o in lines:
    assert isinstance(o, dict)
    for k, t in types.items():
        assert isinstance(o[k], t) and not (t is int and isinstance(o[k], bool)), (k, o)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["timestamp"]), o
    assert set(o["context"]) == {"mitm_requests", "dpi_flows", "waf_alerts"}, o
    assert all(isinstance(v, int) and v >= 0 for v in o["context"].values()), o
assert len(lines) == len(threats), (len(lines), len(threats))
for o, t in zip(lines, threats):
    want = {"ip": t["client_ip"], "event_type": t["event_type"], "threat_score": t["score"],
            "reputation_score": t.get("reputation", 0), "banned": t.get("banned", False),
            "request_id": t.get("request_id", ""), "join": t.get("join", "JOIN_NONE"),
            "reason": t["reasons"][0]}
    assert {k: o[k] for k in want} == want, (o, want)
assert {o["ip"] for o in lines if o["banned"]} == bans, bans
assert not [f for f in os.listdir(sys.argv[2]) if ".tmp." in f], os.listdir(sys.argv[2])
rep = json.load(open(os.path.join(sys.argv[2], "ip-reputation.json")))
assert rep["count"] == len(rep["ips"]) > 0
assert {ip for ip, e in rep["ips"].items() if e["banned"]} == bans, rep
assert all(e["whitelisted"] and not e["banned"] for ip, e in rep["ips"].items()
           if ip in ("10.66.0.0", "10.66.0.1")), rep
print(f"  correlated-threats.json: {len(lines)} lines = {len(threats)} threats printed;"
      f" ip-reputation.json: {rep['count']} addresses, banned {sorted(bans)}")
PY
echo "ok (e) the compat files read back against the threats and decisions printed"

# --- (f) ------------------------------------------------------------------------------
rc=0; "$cor" -q -c "$tmp/c.yaml" --offline "$tmp/s.jsonl" > /dev/full 2> "$tmp/full.err" || rc=$?
[ $rc -eq 3 ] || fail "(f) stdout on /dev/full: exit $rc, expected 3"
grep -q "stdout: cannot write: No space left on device" "$tmp/full.err" || fail "(f) $(cat "$tmp/full.err")"
rm -rf "$tmp/compat"; mkdir -p "$tmp/compat/ip-reputation.json"
ln -s /dev/full "$tmp/compat/correlated-threats.json"
rc=0; "$cor" -q -c "$tmp/c.yaml" --offline "$tmp/s.jsonl" > "$tmp/broken.out" 2> "$tmp/broken.err" || rc=$?
[ $rc -eq 3 ] || fail "(f) unwritable compat files: exit $rc, expected 3"
grep -q "compat/correlated-threats.json: cannot write: No space left on device" "$tmp/broken.err" \
    || fail "(f) $(cat "$tmp/broken.err")"
grep -q "compat/ip-reputation.json: cannot write: Is a directory" "$tmp/broken.err" \
    || fail "(f) $(cat "$tmp/broken.err")"
cmp -s "$tmp/broken.out" "$tmp/compat.out" || fail "(f) the threats printed changed"
sed -i "s#compat_dir: .*#compat_dir: /proc/dpi-dual-none#" "$tmp/c.yaml"
rc=0; "$cor" -q -c "$tmp/c.yaml" --offline "$tmp/s.jsonl" > /dev/null 2> "$tmp/open.err" || rc=$?
[ $rc -eq 1 ] || fail "(f) compat_dir that cannot be created: exit $rc, expected 1"
grep -q "/proc/dpi-dual-none/correlated-threats.json: cannot open" "$tmp/open.err" || fail "(f) $(cat "$tmp/open.err")"
echo "ok (f) unwritable outputs: said, counted, the rest done, exit 3 (1 when they cannot be opened at start)"
