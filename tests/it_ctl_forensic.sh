#!/usr/bin/env bash
# it_ctl_forensic.sh — `dpi-dualctl keys forensic` and `dpi-dualctl forensic
# export` against the real binary, on a log written through buffer/forensic.c
# by tests/tools/forensic_write.c (dpi-forensic-write).
#
# Contract: keys forensic writes a 0600 key (default buffer.forensic.key_file)
# and never overwrites one; export prints the records back as JSON lines
# (all of them, or those of --ip / --since), says a tampered or cut file on
# stderr naming it and exits 3 after reading every file; a missing PATH or
# a key readable by others exits 1; usage errors exit 2.
# ctest sets BUILD_DIR.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
WRITE="$BUILD_DIR/tests/dpi-forensic-write"
for bin in "$CTL" "$WRITE"; do
    if [[ ! -x "$bin" ]]; then
        echo "FAIL: $bin is not an executable" >&2
        exit 1
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > "$work/cfg.yaml" <<YAML
buffer:
  forensic:
    dir: $work/logs
    key_file: $work/keys/forensic.key
YAML
mkdir "$work/keys"

source "$(dirname "${BASH_SOURCE[0]}")/ctl_checks.sh"

err_has () { grep -qF -- "$1" "$work/err"; }
out_ns () { [[ "$(grep -o '"n":[0-9]*' "$work/out" | cut -d: -f2 | tr '\n' ' ')" == "$1" ]]; }
flip () {   # flip FILE OFFSET: one bit of the byte at OFFSET
    python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1)[0]
f.seek(int(sys.argv[2])); f.write(bytes([b ^ 0x20]))' "$1" "$2"
}

# 1. keys forensic: the config's key_file, 0600, never overwritten
run keys forensic -c "$work/cfg.yaml"
check "keys forensic: exit 0 (got $status)" test "$status" -eq 0
check "keys forensic: prints the path" grep -qFx "$work/keys/forensic.key" "$work/out"
check "keys forensic: mode 0600" test "$(stat -c %a "$work/keys/forensic.key")" = 600
check "keys forensic: 64 hex digits and a newline" grep -qxE '[0-9a-f]{64}' "$work/keys/forensic.key"
cp "$work/keys/forensic.key" "$work/key.before"
run keys forensic -c "$work/cfg.yaml"
check "keys forensic again: exit 1 (got $status)" test "$status" -eq 1
check "keys forensic again: names the file" err_has "$work/keys/forensic.key: already exists"
check "keys forensic again: the key is unchanged" cmp -s "$work/keys/forensic.key" "$work/key.before"
run keys forensic "$work/other.key"
check "keys forensic FILE: exit 0 (got $status)" test "$status" -eq 0
check "keys forensic FILE: mode 0600" test "$(stat -c %a "$work/other.key")" = 600

# 2. a log: three records in 2025 and one now
t9=$(date -ud 2025-06-01T09:00:00Z +%s)000000000
t10=$(date -ud 2025-06-01T10:00:00Z +%s)000000000
t11=$(date -ud 2025-06-01T11:00:00Z +%s)000000000
now=$(date +%s%N)
cat > "$work/records.jsonl" <<JSON
{"client_ip":"10.0.0.1","ts_ns":$t9,"n":1,"path":"/a"}
{"client_ip":"10.0.0.2","ts_ns":$t10,"n":2,"path":"/b"}
{"client_ip":"10.0.0.1","ts_ns":$t11,"n":3,"path":"/c"}
{"client_ip":"10.0.0.1","ts_ns":$now,"n":4,"path":"/d"}
JSON
check "the log is written" "$WRITE" -c "$work/cfg.yaml" < "$work/records.jsonl"
log=$(ls "$work"/logs/forensic-*.log | head -1)
check "one log file, 0600" test "$(stat -c %a "$log")" = 600

# 3. export: round trip, filters
run forensic export -c "$work/cfg.yaml"
check "export (config's dir and key): exit 0 (got $status)" test "$status" -eq 0
check "export: the records as written" cmp -s "$work/out" "$work/records.jsonl"
run forensic export --key "$work/keys/forensic.key" "$work/logs"
check "export --key DIR: exit 0 (got $status)" test "$status" -eq 0
check "export --key DIR: the records as written" cmp -s "$work/out" "$work/records.jsonl"
run forensic export -c "$work/cfg.yaml" --ip 10.0.0.1
check "--ip: exit 0 (got $status)" test "$status" -eq 0
check "--ip 10.0.0.1: records 1 3 4" out_ns "1 3 4 "
run forensic export -c "$work/cfg.yaml" --since 2025-06-01T10:00:00Z
check "--since ISO: records 2 3 4" out_ns "2 3 4 "
run forensic export -c "$work/cfg.yaml" --since -1h
check "--since -1h: record 4" out_ns "4 "
run forensic export -c "$work/cfg.yaml" --since -2d --ip 10.0.0.2
check "--since -2d --ip 10.0.0.2: nothing, exit 0" test "$status" -eq 0 -a ! -s "$work/out"
run forensic export -c "$work/cfg.yaml" --ip 10.0.0.1 --since 2025-06-01T10:30:00Z "$log"
check "--ip --since FILE: records 3 4" out_ns "3 4 "

# 4. damage: exit 3 after every file, the file named
mkdir "$work/bad"
cp "$log" "$work/bad/forensic-20250101T000000Z-000000.log"
tampered="$work/bad/forensic-20250101T000000Z-000000.log"
flip "$tampered" $(( $(stat -c %s "$tampered") / 2 ))
run forensic export -c "$work/cfg.yaml" "$work/bad" "$work/logs"
check "tampered: exit 3 (got $status)" test "$status" -eq 3
check "tampered: names the file and the offset" err_has "$tampered: offset "
check "tampered: says so" err_has "tampered"
check "tampered: the next PATH is still read" test "$(grep -c '"n":4' "$work/out")" -eq 1
check "tampered: records before the damage are printed" grep -q '"n":1' "$work/out"
cut="$work/cut.log"
cp "$log" "$cut"
truncate -s $(( $(stat -c %s "$cut") - 5 )) "$cut"
run forensic export -c "$work/cfg.yaml" "$cut"
check "cut short: exit 3 (got $status)" test "$status" -eq 3
check "cut short: names the file" err_has "$cut: offset "
check "cut short: says truncated" err_has "truncated"
check "cut short: all four records were before the cut" out_ns "1 2 3 4 "
run forensic export --key "$work/other.key" "$log"
check "another key: exit 3 (got $status)" test "$status" -eq 3
check "another key: authentication fails" err_has "authentication failed"

# 5. failures: exit 1
run forensic export -c "$work/cfg.yaml" "$work/missing"
check "missing PATH: exit 1 (got $status)" test "$status" -eq 1
check "missing PATH: named" err_has "$work/missing"
chmod 644 "$work/other.key"
run forensic export --key "$work/other.key" "$log"
check "key mode 0644: exit 1 (got $status)" test "$status" -eq 1
check "key mode 0644: refused, named" err_has "$work/other.key: the key has mode 0644"

# 6. usage errors: exit 2, the usage on stderr, nothing on stdout
usage_error () {
    run "$@"
    check "$*: exit 2 (got $status)" test "$status" -eq 2
    check "$*: stdout empty" is_empty "$work/out"
    check "$*: usage on stderr" err_has "usage: dpi-dualctl"
}
usage_error forensic
usage_error forensic frobnicate
usage_error forensic export --bogus
usage_error forensic export --key
usage_error forensic export --since yesterday
usage_error forensic export --since -5y
usage_error forensic export --since 2025-13-01T00:00:00Z
usage_error forensic export --ip 999.1.1.1
usage_error keys forensic a b
usage_error keys forensic --bogus
run forensic --help
check "forensic --help: exit 0, the options" test "$status" -eq 0
check "forensic --help: every option" grep -q -- '--since T' "$work/out"

echo "it_ctl_forensic: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
