#!/bin/bash
# dpi-dualctl flows and status against a dpi-collector reading a capture file
# (offline), and flows' bound on the flows it keeps:
#  1. flows -n 1000 on a capture of 1100 flows shows the 1000 most recent,
#     newest first, with AGE counted from the capture's own newest last_seen
#     (0s to 3s), not from today's clock (the capture is from 2023);
#  2. status says "offline run, reading FILE" instead of live rates, and its
#     --json has tap_stats.offline;
#  3. past 20000 flows, flows drops the oldest, says so, and still shows the
#     newest.
set -euo pipefail
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
ctl="$BUILD_DIR/ctl/dpi-dualctl"; collector="$BUILD_DIR/collector/dpi-collector"
pub="$BUILD_DIR/tests/dpi-testpub"
cat > "$tmp/cfg.yaml" <<YAML
global:
  host: offlinehost
  run_dir: $tmp/run
  log_level: warning
bus:
  heartbeat_interval: 1
tap:
  stats_interval: 1
YAML
# 1100 DNS flows from 192.0.2.10:20000.. one after the other, 4 ms apart
"$BUILD_DIR/tests/dpi-pcapgen" evict "$tmp/evict.pcap" > /dev/null

# run_collector: read the capture once a subscriber is there
run_collector () {
    "$collector" -c "$tmp/cfg.yaml" -q --wait-subscriber 10 -r "$tmp/evict.pcap" \
        2> "$tmp/collector.err" || { cat "$tmp/collector.err"; echo "collector failed"; exit 1; }
}

# 1. the most recent flows, with AGE on the capture's clock
"$ctl" flows -c "$tmp/cfg.yaml" -n 1000 --timeout 8 > "$tmp/flows" 2> "$tmp/flows.err" &
flows_pid=$!
run_collector
wait $flows_pid || { cat "$tmp/flows.err"; echo "flows failed"; exit 1; }
head -3 "$tmp/flows"; echo ...; tail -1 "$tmp/flows"
/usr/bin/python3 - "$tmp/flows" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].split()[-1] == "AGE", lines[0]
rows = lines[1:]
assert len(rows) == 1000, f"{len(rows)} rows, not 1000"
ports = [int(re.search(r"192\.0\.2\.10:(\d+) ", r).group(1)) for r in rows]
assert ports == list(range(21099, 20099, -1)), \
    f"not the 1000 most recent flows, newest first: ports {ports[:3]} ... {ports[-3:]}"
ages = [r.split()[-1] for r in rows]
assert all(re.fullmatch(r"[0-9]s", a) for a in ages), \
    f"AGE not on the capture's clock: {sorted(set(ages))[:5]}"
assert ages[0] == "0s" and ages[-1] == "3s", (ages[0], ages[-1])
print("flows: the 1000 most recent of 1100, AGE 0s..3s")
PY

# 2. status: an offline run, and which file
"$ctl" status -c "$tmp/cfg.yaml" > "$tmp/status" 2> "$tmp/status.err" &
status_pid=$!
run_collector
wait $status_pid || { cat "$tmp/status" "$tmp/status.err"; echo "status failed"; exit 1; }
cat "$tmp/status"
grep -q "^  capture:   offline run, reading $tmp/evict.pcap (tap.stats " "$tmp/status"
grep -q "^  traffic:   2200 packets read " "$tmp/status"
if grep -q "packets/s" "$tmp/status"; then echo "status shows a live rate for a file"; exit 1; fi

"$ctl" status -c "$tmp/cfg.yaml" --json > "$tmp/status.json" &
status_pid=$!
run_collector
wait $status_pid
/usr/bin/python3 - "$tmp/status.json" "$tmp/evict.pcap" <<'PY'
import json, sys
w = [json.loads(l) for l in open(sys.argv[1])][0]
assert w["worker"] == "collector" and "tap_stats" in w, w
st = w["tap_stats"]
assert st.get("offline") is True and st["interface"] == sys.argv[2], st
print("status --json: tap_stats.offline true")
PY

# 3. 25000 flows: the oldest are dropped past 20000, the newest still shown
"$ctl" flows -c "$tmp/cfg.yaml" -n 3 --timeout 5 --json > "$tmp/many" 2> "$tmp/many.err" &
flows_pid=$!
"$pub" -c "$tmp/cfg.yaml" --name collector -n 25000 --wait-subscriber 10000 --quiet
wait $flows_pid || { cat "$tmp/many.err"; echo "flows failed"; exit 1; }
cat "$tmp/many.err"
grep -q "^flows: more than 20000 flows came; 10000 of the oldest were dropped" "$tmp/many.err"
ids=$(/usr/bin/python3 -c 'import json, sys; print(*[json.loads(l)["flow_id"] for l in open(sys.argv[1])])' "$tmp/many")
[ "$ids" = "25000 24999 24998" ] || { echo "flows showed $ids, not the 3 newest"; exit 1; }
echo "it_ctl_offline: ok"
