#!/bin/bash
# dpi-collector: what the other collector tests do not cover —
#  1. tap.stats on the bus (protocol distribution, top talkers, counters) and
#     the SecuBox compat file dpi-flows.json (fields, atomic replace);
#  2. privilege drop: a live capture on lo keeps running as global.user after
#     opening the capture and binding the bus, and still removes its bus
#     socket at exit (the run directory was handed over); an unknown
#     global.user is refused before any work; tap.user says it moved;
#  3. a bad BPF filter and an unsupported option are clear errors.
set -euo pipefail
tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; rm -rf "$tmp"' EXIT
collector="$BUILD_DIR/collector/dpi-collector"; ctl="$BUILD_DIR/ctl/dpi-dualctl"
gen="$BUILD_DIR/tests/dpi-pcapgen"; py=/usr/bin/python3
fail() { echo "it_collector_extras: FAIL: $*" >&2; exit 1; }

# --- 1. tap.stats and dpi-flows.json ----------------------------------------------
# update: one HTTP flow over 2.4 s of packet time, so reports find it live
for s in update dns vlan; do "$gen" "$s" "$tmp/$s.pcap" "$tmp/$s.expect" > /dev/null; done
cat > "$tmp/stats.yaml" <<YAML
global:
  run_dir: $tmp/run
  compat: true
  compat_dir: $tmp/secubox
tap:
  stats_interval: 1
YAML
"$ctl" tail -c "$tmp/stats.yaml" --timeout 20 tap.stats > "$tmp/stats.jsonl" 2> /dev/null &
tail_pid=$!; pids+=("$tail_pid")
"$collector" -c "$tmp/stats.yaml" -r "$tmp/update.pcap" -r "$tmp/dns.pcap" -r "$tmp/vlan.pcap" \
    --wait-subscriber 10 -q 2> "$tmp/stats.err" || fail "collector exited $? ($(cat "$tmp/stats.err"))"
sleep 0.5; kill -INT "$tail_pid"; wait "$tail_pid" || true
$py - "$tmp/stats.jsonl" "$tmp/secubox/dpi-flows.json" "$tmp/update.expect" <<'PY'
import json, sys
http = json.load(open(sys.argv[3]))["flows"][0]
stats = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert stats, "no tap.stats received"
last = stats[-1]
for key in ("active_flows", "new_flows_1min", "packets_per_sec", "bytes_per_sec", "packets",
            "bytes", "protocols", "top_talkers", "capture_received", "capture_dropped",
            "evictions", "bus_drops", "memory_bytes", "malformed_packets", "flows_total"):
    assert key in last, f"tap.stats lacks {key}: {last}"
assert last["packets"] > 0 and last["memory_bytes"] > 1 << 20, last
assert last["lanes"] == 1 and last["lane"] == 0, last
# a report taken while the HTTP flow of update.pcap was live
live = [s for s in stats if any(p["name"] == "HTTP" for p in s["protocols"])]
assert live, f"no report shows the live HTTP flow: {[s['protocols'] for s in stats]}"
protos = {p["name"]: p for p in live[0]["protocols"]}
assert protos["HTTP"]["flows"] == 1 and protos["HTTP"]["packets"] > 0, protos
assert all(p["flows"] > 0 and p["packets"] > 0 and p["bytes"] > 0 for p in protos.values())
talkers = live[0]["top_talkers"]
assert talkers and talkers[0]["ip"] == http["src_ip"], (talkers, http["src_ip"])
assert all(a["bytes"] >= b["bytes"] for a, b in zip(talkers, talkers[1:])), "not sorted"
compat = json.load(open(sys.argv[2]))
for key in ("timestamp", "flows_1min", "tap_interface", "rx_bytes", "tx_bytes", "rx_packets",
            "tx_packets", "protocols", "mode"):
    assert key in compat, f"dpi-flows.json lacks {key}: {compat}"
assert compat["mode"] == "passive_tap" and compat["flows_1min"] > 0, compat
assert compat["timestamp"] >= 1700000000, compat      # packet time of the capture
print(f"tap.stats: {len(stats)} reports, {len(protos)} protocols, top talker "
      f"{talkers[0]['ip']}; dpi-flows.json: {compat['flows_1min']} flows in the last minute")
PY
ls "$tmp/secubox" | grep -q tmp && fail "a temporary compat file was left behind"

# --- 2. privilege drop on a live capture -------------------------------------------
chmod 755 "$tmp"      # nobody must reach run_dir, as it reaches /run/dpi-dual
cat > "$tmp/live.yaml" <<YAML
global:
  run_dir: $tmp/run-live
  user: nobody
YAML
"$collector" -c "$tmp/live.yaml" -i lo -q 2> "$tmp/live.err" &
live_pid=$!; pids+=("$live_pid")
for _ in $(seq 50); do
    uid=$(awk '/^Uid:/ {print $3}' "/proc/$live_pid/status" 2> /dev/null || echo gone)
    [[ $uid == 65534 || $uid == gone ]] && break
    sleep 0.1
done
[[ $uid == 65534 ]] || fail "live collector runs with uid $uid, not nobody ($(cat "$tmp/live.err"))"
test -S "$tmp/run-live/collector.pub" || fail "no bus socket while running: $(ls -la "$tmp/run-live")"
kill -INT "$live_pid"
wait "$live_pid" || fail "live collector exited $? after SIGINT"
test -e "$tmp/run-live/collector.pub" && fail "the bus socket was left behind: $(ls -la "$tmp/run-live")"
test "$(stat -c %U "$tmp/run-live")" = nobody || fail "run_dir not handed to nobody"
echo "privilege drop: the live collector ran as nobody, stopped cleanly on SIGINT, removed its socket"

printf 'global:\n  run_dir: %s\n  user: no-such-user-here\n' "$tmp/run-nouser" > "$tmp/nouser.yaml"
if "$collector" -c "$tmp/nouser.yaml" -i lo --no-bus -q 2> "$tmp/nouser.err"; then
    fail "an unknown global.user was accepted"
fi
grep -q "global.user: no such user 'no-such-user-here'" "$tmp/nouser.err" || fail "$(cat "$tmp/nouser.err")"
printf 'tap:\n  user: nobody\n' > "$tmp/moved.yaml"
if "$collector" -c "$tmp/moved.yaml" -i lo --no-bus -q 2> "$tmp/moved.err"; then
    fail "tap.user was accepted"
fi
grep -q "moved.yaml:2:3: tap.user: unknown key (moved to global.user)" "$tmp/moved.err" \
    || fail "$(cat "$tmp/moved.err")"

# --- 3. clear errors --------------------------------------------------------------
printf 'tap:\n  bpf: "tcp port eighty"\n' > "$tmp/bpf.yaml"
if "$collector" -c "$tmp/bpf.yaml" -r "$tmp/dns.pcap" --no-bus -q 2> "$tmp/bpf.err"; then
    fail "a bad BPF filter was accepted"
fi
grep -q "tap.bpf 'tcp port eighty'" "$tmp/bpf.err" || fail "$(cat "$tmp/bpf.err")"
if "$collector" -r "$tmp/dns.pcap" --no-such-option 2> /dev/null; then
    fail "an unknown option was accepted"
fi
echo "it_collector_extras: ok"
