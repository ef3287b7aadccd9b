#!/bin/bash
# The labelled scenario through the real binary: dpi-mitmgen writes 10 minutes of HTTP
# traffic (benign browsing, scanners, login brute force, slow low-volume injection) as
# `dpi-dualctl tail` lines with a label per client; dpi-buffer --offline analyses them
# with the OWASP CRS and its anomaly scoring at the shipped defaults. Printed per class:
# clients flagged by the anomaly score, by the CRS, and by either; false positives for
# benign clients. Fails when scanners or brute-forcers are under 90 % detected by the
# anomaly score, or when more than 5 % of benign clients are flagged by it.
# (The same figures, without the CRS, come from test_buffer_anomaly.)
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "it_buffer_anomaly: FAIL: $*"; exit 1; }
seed=${ANOMALY_SEED:-1}

cat > "$tmp/dpi-dual.yaml" <<YAML
global:
  run_dir: $tmp/run
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  analysis_threads: 2
YAML
"$BUILD_DIR/tests/dpi-mitmgen" --seed "$seed" --duration 600 "$tmp/traffic.jsonl" "$tmp/labels.tsv" \
    || fail "dpi-mitmgen"
"$BUILD_DIR/buffer/dpi-buffer" -q -c "$tmp/dpi-dual.yaml" --offline "$tmp/traffic.jsonl" \
    > "$tmp/alerts.jsonl" || fail "dpi-buffer --offline: exit $?"
$PY - "$tmp/labels.tsv" "$tmp/alerts.jsonl" "$seed" <<'PY'
import collections, json, sys
labels = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip())
flag = collections.defaultdict(set)          # ip -> {"anomaly", "waf"}
for line in open(sys.argv[2]):
    a = json.loads(line)
    flag[a["client_ip"]].add(a["kind"])
classes = ["benign", "scanner", "brute-force", "slow-injection"]
print(f"labelled scenario, seed {sys.argv[3]}, 600 s (dpi-buffer --offline, shipped defaults)")
print(f"{'class':<15} {'clients':>7} {'anomaly':>8} {'CRS':>8} {'either':>8}")
rates = {}
for c in classes:
    ips = [ip for ip, k in labels.items() if k == c]
    n = len(ips)
    an = sum("anomaly" in flag[ip] for ip in ips)
    waf = sum("waf" in flag[ip] for ip in ips)
    either = sum(bool(flag[ip]) for ip in ips)
    rates[c] = (an / n, waf / n, either / n)
    pct = lambda x: f"{100 * x / n:5.1f} %"
    print(f"{c:<15} {n:>7} {pct(an):>8} {pct(waf):>8} {pct(either):>8}")
print("(for benign: the share of clients wrongly flagged — false positives)")
bad = []
if rates["scanner"][0] < 0.9: bad.append("scanners under 90 % by the anomaly score")
if rates["brute-force"][0] < 0.9: bad.append("brute force under 90 % by the anomaly score")
if rates["benign"][0] > 0.05: bad.append("over 5 % of benign clients flagged by the anomaly score")
sys.exit("; ".join(bad) if bad else 0)
PY
