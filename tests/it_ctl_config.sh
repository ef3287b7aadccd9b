#!/usr/bin/env bash
# it_ctl_config.sh — `dpi-dualctl config check [FILE]` against the real binary.
#
# Contract: a valid file exits 0 and prints the effective YAML on stdout; an
# invalid one exits 1, prints nothing on stdout and one error per line on
# stderr ("FILE:LINE:COL: KEY: reason" or "FILE: cannot open: reason").
# ctest sets BUILD_DIR and SOURCE_DIR.
set -euo pipefail

: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
: "${SOURCE_DIR:?SOURCE_DIR must be set (ctest sets it)}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
REFERENCE="$SOURCE_DIR/config/dpi-dual.yaml"
DATA="$SOURCE_DIR/tests/data/config"

if [[ ! -x "$CTL" ]]; then
    echo "FAIL: $CTL is not an executable" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source "$(dirname "${BASH_SOURCE[0]}")/ctl_checks.sh"

has_line () { grep -qFx -- "$1" "$work/err"; }
line_count () { [[ $(wc -l <"$work/err") -eq $1 ]]; }

# 1. The reference file is valid; its effective YAML shows resolved endpoints.
run config check "$REFERENCE"
check "reference: exit 0 (got $status)" test "$status" -eq 0
check "reference: prints the sections" grep -qx 'tap:' "$work/out"
check "reference: prints resolved endpoints" \
    grep -qF 'collector: "ipc:///run/dpi-dual/collector.pub"' "$work/out"
check "reference: prints mitm.socket" \
    grep -qF 'socket: "/run/dpi-dual/bridge-mitm.sock"' "$work/out"
cp "$work/out" "$work/effective.yaml"

# 2. The printed configuration is itself valid and prints back identically.
run config check "$work/effective.yaml"
check "effective output reloads: exit 0 (got $status)" test "$status" -eq 0
check "effective output is a fixed point" cmp -s "$work/out" "$work/effective.yaml"

# 3. A file with errors: exit 1, every error on its own line, nothing on stdout.
run config check "$DATA/range.yaml"
check "range errors: exit 1 (got $status)" test "$status" -eq 1
check "range errors: stdout empty" is_empty "$work/out"
check "range errors: 7 lines on stderr" line_count 7
check "range errors: tap.max_flows" \
    has_line "$DATA/range.yaml:3:14: tap.max_flows: 0 is out of range [1024, 67108864]"
check "range errors: correlation.ban_duration" \
    has_line "$DATA/range.yaml:11:17: correlation.ban_duration: 59 is out of range [60, 31536000]"

run config check "$DATA/unknown.yaml"
check "unknown keys: exit 1 (got $status)" test "$status" -eq 1
check "unknown keys: 5 lines on stderr" line_count 5
check "unknown keys: bus.curve.enable" \
    has_line "$DATA/unknown.yaml:9:5: bus.curve.enable: unknown key"

# 4. A YAML syntax error.
run config check "$DATA/syntax.yaml"
check "syntax error: exit 1 (got $status)" test "$status" -eq 1
check "syntax error: stdout empty" is_empty "$work/out"
check "syntax error: file:line:col" \
    has_line "$DATA/syntax.yaml:6:1: -: found unexpected end of stream (while scanning a quoted scalar at line 3, column 9)"

# 5. A missing file.
run config check "$work/missing.yaml"
check "missing file: exit 1 (got $status)" test "$status" -eq 1
check "missing file: stdout empty" is_empty "$work/out"
check "missing file: message" \
    has_line "$work/missing.yaml: cannot open: No such file or directory"

# 6. No FILE: $DPI_DUAL_CONFIG (never /etc in a test); missing, the defaults,
#    which the reference file sets but for the default rules file's directory.
export DPI_DUAL_CONFIG=$work/etc/dpi-dual.yaml
run config check
check "no file: exit 0 (got $status)" test "$status" -eq 0
sed "s#\"/etc/dpi-dual/#\"$work/etc/#" "$work/effective.yaml" > "$work/moved.yaml"
check "no file: prints the defaults" cmp -s "$work/out" "$work/moved.yaml"
mkdir "$work/etc"; printf 'tap:\n  snaplen: 128\n' > "$DPI_DUAL_CONFIG"
run config check
check "\$DPI_DUAL_CONFIG: exit 0 (got $status)" test "$status" -eq 0
check "\$DPI_DUAL_CONFIG: loaded" grep -q "snaplen: 128" "$work/out"
unset DPI_DUAL_CONFIG

# 7. What a worker would refuse at start is refused here too, each error
#    naming the key and where it was set: a rules file with errors, a
#    missing ban file, a bad BPF filter, CURVE certificates that do not load
#    or hold no secret key, a run_dir too long for a unix socket path.
cat > "$work/rules-bad.yaml" <<'YAML'
rules:
  - id: broken
    category: sqli
    severity: 5
    fields: [query]
    pattern: "(unclosed"
YAML
printf 'not a certificate\n' > "$work/garbage.cert"
"$CTL" keys new pubonly "$work" > /dev/null && rm "$work/pubonly.cert_secret"
cat > "$work/refused.yaml" <<YAML
tap:
  bpf: "tcp port eighty"
mitm:
  rules_file: $work/rules-bad.yaml
  ban_file: $work/no-such-bans
bus:
  curve:
    enabled: true
    cert: $work/pubonly.cert
    server_cert: $work/garbage.cert
YAML
run config check "$work/refused.yaml"
check "start-up errors: exit 1 (got $status)" test "$status" -eq 1
check "start-up errors: stdout empty" is_empty "$work/out"
check "start-up errors: bad bpf" grep -qF "$work/refused.yaml:2:8: tap.bpf: 'tcp port eighty': " "$work/err"
check "start-up errors: rules" grep -qF \
    "$work/refused.yaml:4:15: mitm.rules_file: $work/rules-bad.yaml:2: rule 'broken': pattern does not compile" "$work/err"
check "start-up errors: ban file" has_line \
    "$work/refused.yaml:5:13: mitm.ban_file: $work/no-such-bans: cannot open: No such file or directory"
check "start-up errors: public-only cert" grep -qF \
    "$work/refused.yaml:9:11: bus.curve.cert: '$work/pubonly.cert' holds no secret key" "$work/err"
check "start-up errors: server cert" has_line \
    "$work/refused.yaml:10:18: bus.curve.server_cert: cannot load the certificate '$work/garbage.cert': not a certificate"
# CURVE: a tcp endpoint that binds needs allow_dir, one that connects
# (">", a decision endpoint) needs server_cert: the workers refuse to start
"$CTL" keys new node "$work" > /dev/null
cat > "$work/curve-ends.yaml" <<YAML
bus:
  endpoints:
    collector: "tcp://127.0.0.1:7001"
    bridge_mitm: ">tcp://192.0.2.1:7002"
  curve:
    enabled: true
    cert: $work/node.cert_secret
YAML
run config check "$work/curve-ends.yaml"
check "curve endpoints: exit 1 (got $status)" test "$status" -eq 1
check "curve endpoints: bind needs allow_dir" has_line \
    "$work/curve-ends.yaml:3:16: bus.endpoints.collector: 'tcp://127.0.0.1:7001' binds over CURVE, which needs bus.curve.allow_dir (the clients allowed)"
check "curve endpoints: connect needs server_cert" has_line \
    "$work/curve-ends.yaml:4:18: bus.endpoints.bridge_mitm: '>tcp://192.0.2.1:7002' connects over CURVE, which needs bus.curve.server_cert (the server's public key)"

long=$work/$(printf 'd%.0s' $(seq 90))
printf 'global:\n  run_dir: %s\n' "$long" > "$work/long.yaml"
run config check "$work/long.yaml"
check "long run_dir: exit 1 (got $status)" test "$status" -eq 1
check "long run_dir: the endpoint named" grep -qF \
    "$work/long.yaml:2:12: global.run_dir: too long: bus.endpoints.collector would be 'ipc://$long/collector.pub', which is too long for a unix socket path" "$work/err"

# 8. A configuration that passes config check starts: the bridge, with a
#    rules file and a ban file, exits 0 on SIGTERM.
printf '192.0.2.66\n' > "$work/bans"
cat > "$work/good.yaml" <<YAML
global:
  run_dir: $work/run
mitm:
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
  ban_file: $work/bans
YAML
run config check "$work/good.yaml"
check "good: exit 0 (got $status)" test "$status" -eq 0
"$BUILD_DIR/bridge-mitm/dpi-bridge-mitm" -c "$work/good.yaml" -q 2> "$work/bridge.err" &
bridge=$!
for _ in $(seq 300); do [[ -S $work/run/bridge-mitm.sock ]] && break; sleep 0.1; done
check "good: the bridge runs" test -S "$work/run/bridge-mitm.sock"
kill -TERM "$bridge"; set +e; wait "$bridge"; bstatus=$?; set -e
check "good: the bridge exits 0 (got $bstatus: $(cat "$work/bridge.err"))" test "$bstatus" -eq 0

# 9. tap.update_interval longer than correlation.window: a warning (idle keep-alive
#    connections would go unjoined), not an error.
cat > "$work/window.yaml" <<YAML
global:
  run_dir: $work/run
tap:
  update_interval: 60
correlation:
  window: 5
YAML
run config check "$work/window.yaml"
check "update_interval > window: exit 0 (got $status)" test "$status" -eq 0
check "update_interval > window: warned" grep -qF \
    "warning: tap.update_interval (60 s) is longer than correlation.window (5 s)" "$work/err"
run config check "$work/good.yaml"
check "good: no window warning" bash -c "! grep -q update_interval '$work/err'"

echo "it_ctl_config: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
