#!/bin/bash
# CrowdSec reads the bridge's threats.log: deploy/crowdsec's parser parses every line
# (cscli explain), the scenarios overflow for a repeated IP and for a critical block, and
# CrowdSec's default profile turns that into ban decisions (crowdsec in replay mode against
# a private LAPI, then cscli decisions list). A line the parser does not match makes it fail.
#
# Needs Debian's crowdsec (1.4.6): installed with deploy/install-crowdsec.sh when cscli is
# missing (root). Runs the parser and scenarios of this tree (SOURCE_DIR), not the copies in
# /etc/crowdsec, from a private config directory, LAPI, database and port.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cs=$src/deploy/crowdsec

. "$src/tests/lib/crowdsec.sh"     # cs_require, cs_setup, cs_lapi_start
cs_require it_crowdsec
hub=/var/lib/crowdsec/hub
for f in parsers/s00-raw/crowdsecurity/syslog-logs.yaml parsers/s02-enrich/crowdsecurity/dateparse-enrich.yaml \
         parsers/s02-enrich/crowdsecurity/whitelists.yaml; do
    [[ -f $hub/$f ]] || { echo "it_crowdsec: $hub/$f missing (package hub)"; exit 1; }
done

tmp=$(mktemp -d /tmp/it_crowdsec.XXXXXX)
lapi_pid= agent_pid=
cleanup() {
    for p in $agent_pid $lapi_pid ${cs_lapi_pid:-}; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "it_crowdsec: FAIL: $*"; exit 1; }

# --- a private CrowdSec: its own config dir (Debian's s00-raw/s02 steps + ours), LAPI, db
cs_setup "$tmp"
d=$cs_d cfg=$cs_cfg port=$cs_port
mkdir -p "$d/parsers/s00-raw" "$d/parsers/s01-parse" "$d/parsers/s02-enrich" "$d/scenarios"
ln -s /etc/crowdsec/patterns "$d/patterns"
ln -s $hub/parsers/s00-raw/crowdsecurity/syslog-logs.yaml "$d/parsers/s00-raw/"
ln -s $hub/parsers/s02-enrich/crowdsecurity/dateparse-enrich.yaml "$d/parsers/s02-enrich/"
ln -s $hub/parsers/s02-enrich/crowdsecurity/whitelists.yaml "$d/parsers/s02-enrich/"
cp "$cs/dpi-dual-threats-logs.yaml" "$d/parsers/s01-parse/"
cp "$cs/dpi-dual-critical.yaml" "$cs/dpi-dual-repeated.yaml" "$d/scenarios/"
cscli -c "$cfg" --error machines add dpitest --auto -f "$d/local_api_credentials.yaml" \
    --url "http://127.0.0.1:$port/" > /dev/null
cs_lapi_start it_crowdsec
lapi_pid=$cs_lapi_pid

# --- sample threats.log, as dpi-bridge-mitm writes it (bridge-mitm/threatlog.c; the
# fields CrowdSec needs are in bridge-mitm/PROTOCOL.md, "threats.log")
log=$tmp/threats.log
python3 - "$log" <<'PY'
import json, sys, time
t0 = int(time.time()) - 120
def rec(n, ip, sev, dt, request="GET /search?q=1%20union%20select%201", ua="curl/8.1.2",
        category="sqli", pattern="sqli-union-select", reason="rule", score=None):
    score = score or {"low": 2, "medium": 5, "high": 8, "critical": 10}[sev]
    return {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + dt)),
            "source_ip": ip, "request": request, "host": "shop.example", "user_agent": ua,
            "type": category, "pattern": pattern, "category": category, "severity": sev,
            "severity_score": score, "reason": reason, "matched": "union select",
            "request_id": f"c0a80001:d4b2_{n:04d}", "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "flow_id": f"9f0c-{n}", "action": "blocked"}
lines = [rec(i, "198.51.100.7", "medium" if i % 2 else "low", i * 2) for i in range(8)]  # 8 in 16 s
lines += [rec(10, "203.0.113.9", "critical", 3, request='GET /a?x=<script>"alert(1)"</script>',
              ua='Mozilla/5.0 "quoted" \\ agent', category="xss", pattern="xss-script-tag")]
lines += [rec(11, "192.0.2.44", "low", 4), rec(12, "192.0.2.44", "medium", 40)]
# a ban-list block: critical, but the IP is banned already: no new alert
lines += [rec(13, "2001:db8::5", "critical", 5, category="ban", pattern="ban-list", reason="ban-list")]
lines.sort(key=lambda r: r["timestamp"])
with open(sys.argv[1], "w") as f:
    for r in lines:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
PY
nlines=$(wc -l < "$log")

# --- 1. cscli explain: every line parsed by dpi-dual/threats-logs
explain() {  # explain FILE OUT
    cscli -c "$cfg" explain --file "$1" --type dpi-dual > "$2" 2> "$2.err" \
        || { cat "$2.err"; fail "cscli explain failed"; }
}
explain "$log" "$tmp/explain.out"
n_line=$(grep -c '^line: ' "$tmp/explain.out" || true)
n_ours=$(grep -c '🟢 dpi-dual/threats-logs' "$tmp/explain.out" || true)
n_ok=$(grep -c 'parser success 🟢' "$tmp/explain.out" || true)
echo "it_crowdsec: explain: $n_line lines, $n_ours parsed by dpi-dual/threats-logs, $n_ok parser successes"
if [[ $n_line -ne $nlines || $n_ours -ne $nlines || $n_ok -ne $nlines ]]; then
    cat "$tmp/explain.out"; fail "not every one of the $nlines lines was parsed by dpi-dual/threats-logs"
fi
# the critical line reaches both scenarios, the others the leaky bucket
grep -A14 '"source_ip":"203.0.113.9"' "$tmp/explain.out" | grep -q '🟢 dpi-dual/critical-threat' \
    || fail "the critical block did not reach dpi-dual/critical-threat"
test "$(grep -c '🟢 dpi-dual/repeated-blocks' "$tmp/explain.out")" -eq "$nlines" \
    || fail "not every line reached dpi-dual/repeated-blocks"
# the fields, with -v, on the line with escapes
grep '"source_ip":"203.0.113.9"' "$log" > "$tmp/one.log"
cscli -c "$cfg" explain --file "$tmp/one.log" --type dpi-dual -v > "$tmp/one.out" 2>&1 || true
for want in 'evt.Meta.source_ip : 203.0.113.9' 'evt.Meta.severity : critical' \
            'evt.Meta.category : xss' 'evt.Meta.pattern : xss-script-tag' \
            'evt.Meta.target_fqdn : shop.example' 'evt.Meta.log_type : dpi-dual-threat' \
            'evt.Meta.request : GET /a?x=<script>"alert(1)"</script>' \
            'evt.Meta.http_user_agent : Mozilla/5.0 "quoted" \ agent' \
            'evt.Meta.request_id : c0a80001:d4b2_0010' 'evt.Meta.community_id : 1:LQU9qZlK+B5F3KDmev6m5PMibrg=' \
            'evt.StrTime :  -> 20' 'evt.Enriched.MarshaledTime : 20'; do
    grep -qF -- "$want" "$tmp/one.out" || { cat "$tmp/one.out"; fail "explain -v lacks '$want'"; }
done
echo "it_crowdsec: explain -v: source_ip, severity, category, pattern, host, request, user_agent, ids, time set"

# --- 2. the checks above can fail: lines the parser must refuse
python3 - "$log" "$tmp/bad.log" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
bad = [dict(r, source_ip="not-an-ip"), dict(r, timestamp="yesterday"), dict(r, severity="huge")]
b = dict(r); b["src_ip"] = b.pop("source_ip"); bad.append(b)
with open(sys.argv[2], "w") as f:
    for x in bad:
        f.write(json.dumps(x) + "\n")
    f.write("GET /x 403 not json at all\n")
PY
explain "$tmp/bad.log" "$tmp/bad.out"
if grep -q '🟢 dpi-dual/threats-logs\|parser success 🟢' "$tmp/bad.out"; then
    cat "$tmp/bad.out"; fail "the parser accepted a malformed line"
fi
test "$(grep -c 'parser failure 🔴' "$tmp/bad.out")" -eq 5 || { cat "$tmp/bad.out"; fail "expected 5 parser failures"; }
echo "it_crowdsec: 5 malformed lines refused (bad IP, bad time, bad severity, no source_ip, not JSON)"

# --- 3. replay into the LAPI: overflows and ban decisions from the default profile
crowdsec -c "$cfg" -dsn "file://$log" -type dpi-dual -no-api > "$tmp/replay.out" 2>&1 \
    || { cat "$tmp/replay.out"; fail "crowdsec replay failed"; }
grep -q "Ip 198.51.100.7 performed 'dpi-dual/repeated-blocks'" "$tmp/replay.out" \
    || { cat "$tmp/replay.out"; fail "dpi-dual/repeated-blocks did not overflow for 198.51.100.7"; }
grep -q "Ip 203.0.113.9 performed 'dpi-dual/critical-threat'" "$tmp/replay.out" \
    || { cat "$tmp/replay.out"; fail "dpi-dual/critical-threat did not overflow for 203.0.113.9"; }
ok=
for _ in $(seq 1 50); do
    cscli -c "$cfg" decisions list -o json > "$tmp/decisions.json" 2> "$tmp/decisions.err" || true
    if python3 - "$tmp/decisions.json" <<'PY'
import json, sys
alerts = json.load(open(sys.argv[1])) or []
bans = {(d["value"], d["scenario"], d["type"]) for a in alerts for d in a.get("decisions") or []}
want = {("198.51.100.7", "dpi-dual/repeated-blocks", "ban"), ("203.0.113.9", "dpi-dual/critical-threat", "ban")}
if not want <= bans:
    sys.exit(1)
extra = {b for b in bans if b[0] not in ("198.51.100.7", "203.0.113.9")}
assert not extra, f"unexpected decisions: {extra}"
meta = {m["key"]: m["value"] for a in alerts if a["scenario"] == "dpi-dual/critical-threat"
        for e in a["events"] for m in e["meta"]}
assert meta.get("category") == "xss" and meta.get("request_id") == "c0a80001:d4b2_0010", meta
print("it_crowdsec: decisions:", ", ".join(f"{t} {v} ({s})" for v, s, t in sorted(bans)))
PY
    then ok=1; break; fi
    sleep 0.2
done
[[ -n $ok ]] || { cat "$tmp/decisions.json" "$tmp/decisions.err"; fail "no ban decisions for 198.51.100.7 and 203.0.113.9"; }

# --- 4. live: our acquisition file (path moved into $tmp), the log created after the agent
# started, as the bridge does after a reboot; a critical block → a ban within seconds
live=$tmp/live/threats.log
mkdir -p "$tmp/live"
sed "s|^  - /tmp/secubox/threats.log\$|  - $live|" "$cs/acquis-dpi-dual.yaml" > "$d/acquis.yaml"
grep -qF -- "- $live" "$d/acquis.yaml" || fail "acquis-dpi-dual.yaml: threats.log path not found"
crowdsec -c "$cfg" -no-api > "$tmp/log/agent.out" 2>&1 &
agent_pid=$!
for _ in $(seq 1 150); do
    grep -qs 'Starting processing data' "$tmp/log/crowdsec.log" && break
    kill -0 $agent_pid 2>/dev/null || { cat "$tmp/log/agent.out" "$tmp/log/crowdsec.log"; fail "agent exited"; }
    sleep 0.2
done
sleep 1
python3 - "$live" <<'PY'
import json, sys, time
r = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "source_ip": "198.51.100.99",
     "request": "GET /cgi-bin/;id", "host": "router.example", "user_agent": "x", "type": "rule",
     "pattern": "cmd-injection", "category": "rce", "severity": "high", "request_id": "live-1",
     "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "action": "blocked"}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(r) + "\n")
PY
ok=
for _ in $(seq 1 100); do
    if cscli -c "$cfg" decisions list -o raw --ip 198.51.100.99 2>/dev/null | grep -q 'dpi-dual/critical-threat,ban'; then
        ok=1; break
    fi
    sleep 0.2
done
kill $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null || true
[[ -n $ok ]] || { tail -20 "$tmp/log/crowdsec.log"; fail "live: no ban for 198.51.100.99 from $live"; }
echo "it_crowdsec: live acquisition: ban 198.51.100.99 (dpi-dual/critical-threat)"

# --- 5. the real dpi-bridge-mitm's threats.log, when it is built: blocked requests sent on
# its socket as the addon does (PROTOCOL.md), every line it writes parsed by our parser
bridge=${BUILD_DIR:-}/bridge-mitm/dpi-bridge-mitm
if [[ -n ${BUILD_DIR:-} && -x $bridge ]]; then
    mkdir -p "$tmp/brun" "$tmp/compat"
    cat > "$tmp/bridge.yaml" <<YAML
global:
  host: cstest
  run_dir: $tmp/brun
  compat: true
  compat_dir: $tmp/compat
mitm:
  socket: $tmp/brun/bridge-mitm.sock
  rules_file: $src/deploy/bridge-mitm/rules.yaml
YAML
    "$bridge" -c "$tmp/bridge.yaml" > "$tmp/log/bridge.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 1 100); do [[ -S $tmp/brun/bridge-mitm.sock ]] && break; sleep 0.1; done
    [[ -S $tmp/brun/bridge-mitm.sock ]] || { cat "$tmp/log/bridge.log"; fail "the bridge did not start"; }
    python3 - "$tmp/brun/bridge-mitm.sock" <<'PY' || { cat "$tmp/log/bridge.log"; fail "bridge verdicts"; }
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("")                      # autobind: the bridge answers here
s.settimeout(5)
blocked = 0
for n, (ip, query) in enumerate([("198.51.100.21", "id=1 UNION SELECT password FROM users"),
                                 ("2001:db8::21", "id=2 union all select 1,2"),
                                 ("198.51.100.22", 'q=<script>alert("x")</script>')]):
    rec = {"v": 1, "type": "request", "id": f"cs-{n}", "request_id": f"cs-req-{n}", "ts": time.time(),
           "client": {"ip": ip, "port": 40000 + n, "from_proxy": True},
           "frontend": {"ip": "192.0.2.1", "port": 443}, "peer": {"ip": "127.0.0.1", "port": 50000},
           "method": "GET", "scheme": "https", "host": "shop.example", "path": "/search", "query": query,
           "http_version": "HTTP/1.1", "headers": [["User-Agent", 'sqlmap/1.7 "q"'], ["Accept", "*/*"]],
           "body": {"length": 0, "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    "prefix": ""}, "verdict": True, "truncated": False}
    s.sendto(json.dumps(rec).encode(), sys.argv[1])
    ans = json.loads(s.recv(65536))
    blocked += ans.get("action") == "block"
print(f"it_crowdsec: bridge blocked {blocked} of 3 requests")
sys.exit(0 if blocked >= 2 else 1)
PY
    for _ in $(seq 1 50); do [[ -s $tmp/compat/threats.log ]] && break; sleep 0.1; done
    kill $agent_pid; wait $agent_pid 2>/dev/null || true; agent_pid=
    [[ -s $tmp/compat/threats.log ]] || fail "the bridge wrote no $tmp/compat/threats.log"
    nb=$(wc -l < "$tmp/compat/threats.log")
    explain "$tmp/compat/threats.log" "$tmp/bridge-explain.out"
    if [[ $(grep -c '🟢 dpi-dual/threats-logs' "$tmp/bridge-explain.out") -ne $nb ||
          $(grep -c 'parser success 🟢' "$tmp/bridge-explain.out") -ne $nb ]]; then
        cat "$tmp/compat/threats.log" "$tmp/bridge-explain.out"
        fail "a line of the real bridge's threats.log is not parsed by dpi-dual/threats-logs"
    fi
    echo "it_crowdsec: the real bridge's threats.log: $nb lines, all parsed"
else
    echo "it_crowdsec: note: ${bridge:-BUILD_DIR unset} not built: the real bridge's threats.log not checked"
fi
echo "it_crowdsec: ok"
