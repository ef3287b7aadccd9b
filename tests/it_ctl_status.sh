#!/bin/bash
# dpi-dualctl status and flows against a real dpi-collector capturing on the
# loopback interface while curl fetches a page from python's http.server:
# status shows the running collector (pid, counters, tap.stats) and exits 0,
# flows shows the HTTP flow; once the collector is stopped, status says it is
# not running and exits 1, flows says no event came and exits 1. Needs root
# (live capture on lo).
set -euo pipefail
ctl="$BUILD_DIR/ctl/dpi-dualctl"; collector="$BUILD_DIR/collector/dpi-collector"
tmp=$(mktemp -d)
cleanup () {
    # the collector may only see a signal at its next packet: kill -9 the rest
    kill $(jobs -p) 2>/dev/null || true
    sleep 0.2
    kill -9 $(jobs -p) 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port/"
cat > "$tmp/cfg.yaml" <<YAML
global:
  host: statushost
  run_dir: $tmp/run
  log_level: warning
bus:
  heartbeat_interval: 1
tap:
  stats_interval: 1
  tcp_close_timeout: 1
  bpf: "tcp port $port"
YAML
collector_ep="ipc://$tmp/run/collector.pub"

# fetch URL every 0.2 s until killed
traffic () {
    while true; do curl -s -o /dev/null "$url" || true; sleep 0.2; done
}

# true once process $1 has exited, false after $2 tenths of a second
exited_within () {
    for _ in $(seq "$2"); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

mkdir "$tmp/www"; echo "hello from it_ctl_status" > "$tmp/www/index.html"
/usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 --directory "$tmp/www" \
    > "$tmp/http.log" 2>&1 &
for _ in $(seq 50); do curl -s -o /dev/null "$url" && break; sleep 0.1; done
# the server is up first, so every flow the collector sees is an HTTP one
"$collector" -c "$tmp/cfg.yaml" -i lo -q > "$tmp/collector.out" 2> "$tmp/collector.err" &
collector_pid=$!
for _ in $(seq 50); do [ -S "$tmp/run/collector.pub" ] && break; sleep 0.1; done
[ -S "$tmp/run/collector.pub" ] || { cat "$tmp/collector.err"; echo "collector did not start"; exit 1; }

# 1. flows -n 1 shows the HTTP flow (requests go on until it has one)
"$ctl" flows -c "$tmp/cfg.yaml" -n 1 --timeout 8 > "$tmp/flows" 2> "$tmp/flows.err" &
flows_pid=$!
while kill -0 $flows_pid 2>/dev/null; do curl -s -o /dev/null "$url" || true; sleep 0.2; done
wait $flows_pid || { cat "$tmp/flows.err"; echo "flows failed"; exit 1; }
cat "$tmp/flows"
head -1 "$tmp/flows" | grep -q "^PROTO  *SRC  *DST  *VLAN  *PACKETS >/<  *BYTES >/<  *HOST  *EVENT  *AGE$"
test "$(wc -l < "$tmp/flows")" -eq 2
grep -Eq "^HTTP +127\.0\.0\.1:[0-9]+ → 127\.0\.0\.1:$port +0 +[0-9]+/[0-9]+ +[0-9]+/[0-9]+ +127\.0\.0\.1(:$port)? +(DETECTED|UPDATE|END \([A-Z_]+\)) +[0-9]+s$" "$tmp/flows"

"$ctl" flows -c "$tmp/cfg.yaml" -n 1 --timeout 8 --json > "$tmp/flows.json" 2> "$tmp/flows.err" &
flows_pid=$!
while kill -0 $flows_pid 2>/dev/null; do curl -s -o /dev/null "$url" || true; sleep 0.2; done
wait $flows_pid
/usr/bin/python3 - "$tmp/flows.json" "$port" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 1, lines
f = lines[0]
assert f["topic"] == "tap.flow" and f["header"]["source"] == "collector@statushost", f
assert f["proto"] == "HTTP" and f["dst_port"] == int(sys.argv[2]) and f["src_ip"] == "127.0.0.1", f
assert f["flow_id"] > 0 and f["src2dst_packets"] > 0, f
PY

# 2. status: the collector runs. It wakes only for packets (see the report
#    of this test), so traffic keeps going while status listens.
traffic & traffic_pid=$!
"$ctl" status -c "$tmp/cfg.yaml" > "$tmp/status" 2> "$tmp/status.err" \
    || { cat "$tmp/status" "$tmp/status.err"; echo "status failed with a running collector"; exit 1; }
cat "$tmp/status"
grep -Eq "^collector@statushost: running, pid $collector_pid, version [0-9.]+, up [0-9]+s" "$tmp/status"
grep -q "^  endpoints: pub bind $collector_ep$" "$tmp/status"
grep -Eq "^  published: .*tap\.flow [1-9]" "$tmp/status"
grep -Eq "^  counters:  packets [1-9][0-9]*, bytes [1-9]" "$tmp/status"
grep -Eq "flows_total [1-9]" "$tmp/status"
grep -Eq "^  capture:   lo: received [1-9][0-9]*, dropped 0, if_dropped 0" "$tmp/status"
grep -q "^bridge-mitm: not running (no heartbeat on ipc://$tmp/run/bridge-mitm.pub in 2 s)$" "$tmp/status"
test ! -s "$tmp/status.err"

"$ctl" status -c "$tmp/cfg.yaml" --connect "$collector_ep" --timeout 5 --json > "$tmp/status.json"
kill $traffic_pid; wait $traffic_pid 2>/dev/null || true
/usr/bin/python3 - "$tmp/status.json" "$collector_pid" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 1, lines
w = lines[0]
assert w["worker"] == "collector" and w["running"] is True, w
hb = w["heartbeat"]
assert hb["pid"] == int(sys.argv[2]) and hb["host"] == "statushost", hb
counters = {c["name"]: c["value"] for c in hb["counters"]}
assert counters["packets"] > 0 and counters["flows_total"] > 0, counters
PY

# 3. the collector stopped: status says so and exits 1; flows finds nothing
kill -INT $collector_pid
if ! exited_within $collector_pid 20; then
    # the collector sees the signal only when a packet wakes it (see above)
    echo "it_ctl_status: collector still running 2 s after SIGINT; waking it with a request" >&2
    curl -s -o /dev/null "$url" || true
    exited_within $collector_pid 50 || { echo "collector does not stop on SIGINT"; exit 1; }
fi
status=0; wait $collector_pid || status=$?
[ $status -eq 0 ] || { cat "$tmp/collector.err"; echo "collector exited with $status"; exit 1; }
if "$ctl" status -c "$tmp/cfg.yaml" > "$tmp/status2" 2> "$tmp/status2.err"; then
    cat "$tmp/status2"; echo "status exited 0 with the collector stopped"; exit 1
fi
cat "$tmp/status2"
grep -q "^collector: not running (no heartbeat on $collector_ep in 2 s)$" "$tmp/status2"
if "$ctl" flows -c "$tmp/cfg.yaml" --timeout 1 > "$tmp/flows2" 2> "$tmp/flows2.err"; then
    echo "flows exited 0 with the collector stopped"; exit 1
fi
test ! -s "$tmp/flows2"
grep -q "^no tap.flow events in 1 s from $collector_ep$" "$tmp/flows2.err"

# 4. usage errors
if "$ctl" status -n 3 2> /dev/null; then echo "status accepted -n"; exit 1; fi
if "$ctl" flows --timeout soon 2> /dev/null; then echo "flows accepted a bad timeout"; exit 1; fi
echo "it_ctl_status: ok"
