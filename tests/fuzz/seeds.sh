#!/bin/bash
# Seeds generated from the tests' own material for one harness.
#   tests/fuzz/seeds.sh HARNESS OUTDIR BUILD_DIR
# Writes files into OUTDIR (may write none: the checked-in corpus is then
# the only seed). Each harness's input format is described in its .c file.
set -euo pipefail
name=$1 out=$2 build=$3
src=$(cd "$(dirname "$0")/../.." && pwd)

# pcap_frames PCAP PREFIX: each frame of PCAP as "link byte + frame" (fuzz_decode's input)
pcap_frames () {
    python3 - "$1" "$2" <<'PY'
import struct, sys
links = [1, 113, 276, 101, 228, 229, 0, 108, 9, 50, 104, 105]   # fuzz_decode.c's order
path, prefix = sys.argv[1], sys.argv[2]
data = open(path, 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
end = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
dlt = struct.unpack(end + 'I', data[20:24])[0] & 0x0fffffff
if dlt not in links:
    sys.exit(0)
off, i = 24, 0
while off + 16 <= len(data):
    caplen = struct.unpack(end + 'I', data[off + 8:off + 12])[0]
    frame = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    with open('%s-%04d' % (prefix, i), 'wb') as f:
        f.write(bytes([links.index(dlt)]) + frame)
    i += 1
PY
}

case "$name" in
fuzz_decode)
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    for s in $("$build/tests/dpi-pcapgen" --list | awk '{print $1}'); do
        "$build/tests/dpi-pcapgen" "$s" "$tmp/$s.pcap" > /dev/null 2>&1 || continue
        pcap_frames "$tmp/$s.pcap" "$out/$s"
    done
    ;;
# --- fuzz_bus, fuzz_pbjson_parse, fuzz_jsonl, fuzz_api (fuzz_lapi: corpus/ only)
fuzz_bus|fuzz_pbjson_parse)
    "$src/tests/fuzz/schema_seeds.py" "$name" "$out" "$src"
    ;;
fuzz_jsonl)
    "$src/tests/fuzz/schema_seeds.py" "$name" "$out" "$src"
    # the bad lines it_buffer_offline.sh feeds dpi-buffer --offline
    for reader in 0 1; do
        { printf "\\x$reader"
          grep -oE "echo '[^']*'" "$src/tests/it_buffer_offline.sh" | sed -E "s/^echo '(.*)'$/\\1/"
        } > "$out/it_buffer_offline-$reader.jsonl"
    done
    ;;
fuzz_api)
    # every route of api/route.h, {ip} given an IPv4 and an IPv6 address
    i=0
    grep -oE 'ROUTE \([A-Z_]+, "[A-Z]+", "[^"]+"\)' "$src/api/route.h" |
    while IFS='"' read -r _ method _ path _; do
        case $method in GET) m=0 ;; POST) m=1 ;; DELETE) m=2 ;; *) m=3 ;; esac
        for ip in 192.0.2.7 2001:db8::7; do
            printf "\\x$m%s\\0limit=5\\0" "${path//\{ip\}/$ip}" > "$out/route-$i"
            i=$((i + 1))
        done
    done
    ;;
fuzz_record)
    # the addon's records, made by the addon's own code (mitmproxy stubbed)
    python3 "$src/tests/fuzz/addon_records.py" "$src/deploy/mitmproxy/dpi_bridge.py" "$out"
    ;;
fuzz_config)
    for f in "$src"/tests/data/config/*.yaml "$src"/config/*.yaml; do
        cp "$f" "$out/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    ;;
fuzz_uci)
    cp "$src"/tests/data/uci/* "$out/"
    ;;
fuzz_banlist)
    cp "$src/deploy/bridge-mitm/bans.example" "$out/"
    ;;
fuzz_rules)
    # each shipped rule alone: within fuzz_rules' -max_len of 2048 (the
    # whole file is test_bridge_rules')
    python3 - "$src/deploy/bridge-mitm/rules.yaml" "$out" <<'PY'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))["rules"]
for i, rule in enumerate(rules):
    open("%s/rule-%02d-%s.yaml" % (sys.argv[2], i, rule["id"]), "w").write(
        yaml.safe_dump({"version": 1, "rules": [rule]}, sort_keys=False, width=1000))
PY
    ;;
esac
