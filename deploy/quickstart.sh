#!/bin/bash
# Quick start: install what is needed, build, and run the main job — the TAP
# collector — on sample traffic the project generates. As root, from the top
# of the source tree:
#     deploy/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)"

run=$(mktemp -d /tmp/dpi-dual-demo.XXXXXX)
tail_pid=""
trap '[ -n "$tail_pid" ] && kill "$tail_pid" 2> /dev/null; rm -rf "$run"' EXIT
cat > "$run/dpi-dual.yaml" <<YAML
global:
  run_dir: $run/run
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
