#!/bin/bash
# dpi-buffer --offline: JSON lines in (what `dpi-dualctl tail` prints), results out.
# (a) alerts for the attacks of a mixed recording, none for its clean requests; the
#     same from stdin ("-");
# (b) --all: one line per request, with its CRS score and every rule that matched;
#     buffer.paranoia from -c changes the result;
# (c) bad lines (not JSON, no topic, a bad field) are named with their line number and
#     counted, the rest is analysed, exit status 3;
# (d) usage and configuration errors: --all alone, an unreadable input, a broken
#     modsecurity.conf (FILE:LINE, at start and in `dpi-dualctl config check`).
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
buffer="$BUILD_DIR/buffer/dpi-buffer"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
gen="$SOURCE_DIR/tests/lib/mitm_requests.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "it_buffer_offline: FAIL: $*"; exit 1; }

cat > "$tmp/pl1.yaml" <<YAML
global:
  run_dir: $tmp/run
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  analysis_threads: 2
YAML
sed 's/analysis_threads: 2/analysis_threads: 2\n  paranoia: 4/' "$tmp/pl1.yaml" > "$tmp/pl4.yaml"
$PY "$gen" mixed 200 > "$tmp/mixed.jsonl"

# --- (a) ---------------------------------------------------------------------------
"$buffer" -q -c "$tmp/pl1.yaml" --offline "$tmp/mixed.jsonl" > "$tmp/alerts.jsonl" \
    || fail "(a) exit $?"
$PY - "$tmp/alerts.jsonl" <<'PY' || fail "(a) alerts"
import json, sys
alerts = [json.loads(l) for l in open(sys.argv[1])]
waf = [a for a in alerts if a["kind"] == "waf"]
assert all(a["topic"] == "buffer.alert" for a in alerts)
attacks = sorted(a["request_id"] for a in waf)
want = sorted(f"r{i}" for i in range(200) if i % 10 == 7)
assert attacks == want, f"alerts for {attacks}, want {want}"
fam = {"sqli": "942", "xss": "941", "lfi": "930", "rce": "932"}
for a in waf:
    kind = a["path"].split("-", 1)[1]
    assert a["category"] == kind or any(r.startswith(fam[kind]) for r in a["rule_ids"]), a
    assert a["anomaly_score"] >= 5 and a["severity"] >= 1 and a["client_ip"].startswith("10.0."), a
print(f"  {len(waf)} CRS alerts for the {len(want)} attacks, none for the {200 - len(want)} clean requests")
PY
"$buffer" -q -c "$tmp/pl1.yaml" --offline - < "$tmp/mixed.jsonl" > "$tmp/stdin.jsonl" \
    || fail "(a) stdin: exit $?"
[ "$(grep -c '"kind":"waf"' "$tmp/stdin.jsonl")" = 20 ] || fail "(a) stdin gave other alerts"
echo "ok (a) alerts for every attack and no clean request, from a file and from stdin"

# --- (b) ---------------------------------------------------------------------------
"$buffer" -q -c "$tmp/pl1.yaml" --offline "$tmp/mixed.jsonl" --all > "$tmp/all1.jsonl" \
    || fail "(b) exit $?"
"$buffer" -q -c "$tmp/pl4.yaml" --offline "$tmp/mixed.jsonl" --all > "$tmp/all4.jsonl" \
    || fail "(b) PL4 exit $?"
$PY - "$tmp/all1.jsonl" "$tmp/all4.jsonl" <<'PY' || fail "(b) --all"
import json, sys
def load(p):
    rows = [json.loads(l) for l in open(p)]
    return {r["request_id"]: r for r in rows if r["kind"] == "waf"}
pl1, pl4 = load(sys.argv[1]), load(sys.argv[2])
assert len(pl1) == 200 and len(pl4) == 200, (len(pl1), len(pl4))
for rid, r in pl1.items():
    assert "anomaly_score" in r and isinstance(r["rule_ids"], list) and r["paranoia"] == 1, r
    assert (r["anomaly_score"] >= 5) == (int(rid[1:]) % 10 == 7), r
more = sum(len(pl4[k]["rule_ids"]) > len(pl1[k]["rule_ids"]) for k in pl1)
fewer = sum(len(pl4[k]["rule_ids"]) < len(pl1[k]["rule_ids"]) for k in pl1)
assert all(r["paranoia"] == 4 for r in pl4.values()) and more > 0 and fewer == 0, (more, fewer)
print(f"  --all: 200 lines; paranoia 4 matched more rules on {more} requests")
PY
echo "ok (b) --all gives every request's score and rules; -c's paranoia applies"

# --- (c) ---------------------------------------------------------------------------
{ head -n 4 "$tmp/mixed.jsonl"; echo 'this is not json'; echo '{"no":"topic"}'
  echo '{"topic":"mitm.request","request_id":"rx","client_port":"many"}'
  echo; echo '{"topic":"tap.flow","community_id":"ignored"}'
  sed -n '5,40p' "$tmp/mixed.jsonl"; } > "$tmp/bad.jsonl"
status=0
"$buffer" -c "$tmp/pl1.yaml" --offline "$tmp/bad.jsonl" > "$tmp/bad.out" 2> "$tmp/bad.err" \
    || status=$?
[ "$status" = 3 ] || fail "(c) exit $status, expected 3"
grep -q "bad.jsonl:5: not a JSON object" "$tmp/bad.err" || fail "(c) line 5: $(cat "$tmp/bad.err")"
grep -q "bad.jsonl:6: no \"topic\"" "$tmp/bad.err" || fail "(c) line 6: $(cat "$tmp/bad.err")"
grep -q "bad.jsonl:7: mitm.request: .*client_port" "$tmp/bad.err" \
    || fail "(c) line 7: $(cat "$tmp/bad.err")"
grep -q "3 not understood" "$tmp/bad.err" || fail "(c) summary: $(cat "$tmp/bad.err")"
[ "$(grep -c '"kind":"waf"' "$tmp/bad.out")" = 2 ] || fail "(c) the good lines were not all analysed"
echo "ok (c) bad lines named by number and counted, the rest analysed, exit 3"

# --- (d) ---------------------------------------------------------------------------
status=0; "$buffer" --all > /dev/null 2> "$tmp/err" || status=$?
[ "$status" = 2 ] && grep -q -- "--all goes with --offline" "$tmp/err" || fail "(d) --all alone: $status"
status=0; "$buffer" -c "$tmp/pl1.yaml" --offline "$tmp/none.jsonl" > /dev/null 2> "$tmp/err" || status=$?
[ "$status" = 1 ] && grep -q "none.jsonl: cannot open" "$tmp/err" || fail "(d) missing input: $status"
printf 'SecRuleEngine DetectionOnly\nSecRule ARGS "@rx (" "id:1,phase:2,pass"\nSecNonsense On\n' \
    > "$tmp/broken.conf"
sed "s#modsecurity_conf: .*#modsecurity_conf: $tmp/broken.conf#" "$tmp/pl1.yaml" > "$tmp/broken.yaml"
status=0; "$buffer" -c "$tmp/broken.yaml" --offline "$tmp/mixed.jsonl" > /dev/null 2> "$tmp/err" \
    || status=$?
[ "$status" = 1 ] && grep -q "broken.conf" "$tmp/err" || fail "(d) broken conf at start: $status $(cat "$tmp/err")"
grep -q "buffer.modsecurity_conf" "$tmp/err" || fail "(d) the key is not named: $(cat "$tmp/err")"
status=0; "$ctl" config check "$tmp/broken.yaml" > /dev/null 2> "$tmp/err" || status=$?
[ "$status" != 0 ] && grep -q "broken.conf" "$tmp/err" || fail "(d) config check passes a broken conf"
echo "ok (d) usage and configuration errors are named"
