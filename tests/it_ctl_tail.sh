#!/bin/bash
# dpi-dualctl tail prints, as JSON lines, what a real publisher sent, and
# reports per-source gaps on stderr; a bad config is refused.
set -euo pipefail
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
ctl="$BUILD_DIR/ctl/dpi-dualctl"; pub="$BUILD_DIR/tests/dpi-testpub"
cat > "$tmp/cfg.yaml" <<YAML
global:
  host: tailhost
  run_dir: $tmp/run
YAML

# 1. tail with the config's default endpoints; the publisher waits for it
"$ctl" tail -c "$tmp/cfg.yaml" -n 12 --timeout 20 tap. > "$tmp/out" 2> "$tmp/err" &
tail_pid=$!
"$pub" -c "$tmp/cfg.yaml" --name collector -n 12 --wait-subscriber 10000 > "$tmp/sent"
wait $tail_pid
test "$(wc -l < "$tmp/out")" -eq 12
/usr/bin/python3 - "$tmp/out" "$tmp/sent" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
sent = [l.strip() for l in open(sys.argv[2])]
assert [l["community_id"] for l in lines] == sent, "community ids differ from what was sent"
for i, l in enumerate(lines):
    assert l["topic"] == "tap.flow", l
    h = l["header"]
    assert h["source"] == "collector@tailhost" and h["seq"] == i + 1 and h["schema_version"] == 1, h
    assert l["src_ip"] == f"192.0.2.{1 + i % 200}" and l["src_port"] == 40000 + i, l
    assert l["vlan"] == 0 and l["ip_proto"] in (6, 17) and l["proto"], l
print("tail output: 12 messages as sent")
PY
grep -q "tail: collector@tailhost: received 12, gaps 0, restarts 0" "$tmp/err"

# 2. an explicit --connect endpoint and a topic filter: decisions only
"$ctl" tail -c "$tmp/cfg.yaml" --connect "ipc://$tmp/run/other.pub" -n 3 --timeout 20 decision \
    > "$tmp/out2" 2> "$tmp/err2" &
tail_pid=$!
"$pub" -c "$tmp/cfg.yaml" --bind "ipc://$tmp/run/other.pub" --name manual --topic decision -n 3 \
    --wait-subscriber 10000
wait $tail_pid
test "$(grep -c '"topic":"decision"' "$tmp/out2")" -eq 3
grep -q '"action":"BAN"' "$tmp/out2"

# 3. the count not reached before the timeout: exit 1 and say so
if "$ctl" tail -c "$tmp/cfg.yaml" -n 1 --timeout 0.5 > /dev/null 2> "$tmp/err3"; then
    echo "tail should fail when the timeout ends it before the count"; exit 1
fi
grep -q "timeout after 0 of 1 messages" "$tmp/err3"

# 4. a broken config is refused with its position
printf 'bus:\n  sndhwm: lots\n' > "$tmp/bad.yaml"
if "$ctl" tail -c "$tmp/bad.yaml" -n 1 --timeout 1 2> "$tmp/err4"; then
    echo "tail accepted a broken config"; exit 1
fi
grep -q "bad.yaml:2:11: bus.sndhwm: expected an integer" "$tmp/err4"
echo "it_ctl_tail: ok"
