#!/usr/bin/env bash
# it_ctl_import_uci.sh — `dpi-dualctl config import-uci FILE [-o OUT]` and
# `config workers`, against the real binary.
#
# Contract: SecuBox's /etc/config/dpi-dual (tests/data/uci/secubox.uci, its
# file as shipped; secubox-full.uci, every option its scripts read) and our
# own UCI defaults (openwrt/dpi-dual/files/dpi-dual.config) convert to YAML
# that `config check` accepts; changed values land at the right keys; every
# option with no equivalent, and every unknown section or option, is a
# warning naming FILE:LINE (exit 0); a syntax error, a value of the wrong
# type or one the loader refuses is an error naming FILE:LINE, exit 1,
# nothing on stdout and OUT left as it was. The YAML is read back with
# python3-yaml when it is there, else through config check's output.
# ctest sets BUILD_DIR and SOURCE_DIR.
set -euo pipefail

: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
: "${SOURCE_DIR:?SOURCE_DIR must be set (ctest sets it)}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
DATA="$SOURCE_DIR/tests/data/uci"
OWN="$SOURCE_DIR/openwrt/dpi-dual/files/dpi-dual.config"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# never the host's /etc/dpi-dual: the default files' directory is $work/etc
export DPI_DUAL_CONFIG=$work/etc/dpi-dual.yaml

source "$SOURCE_DIR/tests/ctl_checks.sh"

err_has () { grep -qF -- "$1" "$work/err"; }
warnings () { grep -c ': warning: ' "$work/err" || true; }

# value KEY : KEY (dotted) of the effective configuration of $work/out.yaml,
# as config check prints it, read with python3-yaml (JSON for lists, Python
# literals for the rest: true is True)
have_yaml=0
python3 -c 'import yaml' 2>/dev/null && have_yaml=1
effective () {      # effective FILE: config check's output into $work/eff.yaml
    "$CTL" config check -c "$1" > "$work/eff.yaml" 2> "$work/eff.err"
}
value () {
    if [[ $have_yaml == 1 ]]; then
        python3 - "$work/eff.yaml" "$1" <<'PY'
import json, sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
for part in sys.argv[2].split('.'):
    d = d[part]
print(json.dumps(d))
PY
    else    # the key's line, its path made from the indentation (2 spaces a level)
        awk -v key="$1" '{
            match($0, /^ */); d = RLENGTH / 2; line = substr($0, RLENGTH + 1)
            if (line == "" || line ~ /^#/) next
            k = line; sub(/:.*/, "", k); path[d] = k
            p = path[0]; for (i = 1; i <= d; i++) p = p "." path[i]
            if (p == key) { v = line; sub(/^[^:]*: ?/, "", v); print v; exit }
        }' "$work/eff.yaml"
    fi
}
is () {             # is KEY JSON-VALUE
    local got
    local want=$2
    got=$(value "$1")
    if [[ $have_yaml == 0 ]]; then    # config check quotes strings, not enums
        got=${got//\"/}; want=${want//\"/}
    fi
    [[ $got == "$want" ]] || { echo "  $1 is $got, not $want" >&2; return 1; }
}

# 1. SecuBox's file as shipped: converts (exit 0), the YAML passes config
#    check, each option without an equivalent is a warning with its line.
run config import-uci "$DATA/secubox.uci"
check "secubox: exit 0 (got $status)" test "$status" -eq 0
cp "$work/out" "$work/secubox.yaml"
check "secubox: config check accepts the YAML" effective "$work/secubox.yaml"
check "secubox: global.mode" is global.mode '"dual"'
check "secubox: stats_dir is compat_dir, compat on" is global.compat_dir '"/tmp/secubox"'
check "secubox: compat true" is global.compat 'true'
check "secubox: tap.interface" is tap.interface '"tap0"'
check "secubox: buffer_size is buffer.size" is buffer.size '1000'
check "secubox: correlation.window" is correlation.window '60'
check "secubox: correlation.output" is correlation.output '"/tmp/secubox/correlated-threats.json"'
check "secubox: auto_ban '0'" is correlation.auto_ban 'false'
check "secubox: auto_ban_threshold is threat_threshold" is correlation.threat_threshold '80'
check "secubox: watch_crowdsec without a key file: crowdsec off" is crowdsec.enabled 'false'
check "secubox: every worker (all enabled)" is global.workers '[]'
for w in "6:option 'flow_dir' of section 'settings' has no equivalent" \
         "11:option 'async_analysis' of section 'mitm' has no equivalent" \
         "13:option 'buffer_dir' of section 'mitm' has no equivalent" \
         "18:option 'mirror_source' of section 'tap' has no equivalent" \
         "19:option 'mirror_mode' of section 'tap' has no equivalent" \
         "20:option 'flow_retention' of section 'tap' has no equivalent" \
         "21:option 'netifyd_instance' of section 'tap' has no equivalent" \
         "30:option 'notifications' of section 'correlation' has no equivalent" \
         "31:option 'reputation_decay' of section 'correlation' has no equivalent" \
         "27:option 'watch_crowdsec' is on, but crowdsec.enabled needs a key"; do
    check "secubox: warns $w" err_has "$DATA/secubox.uci:${w%%:*}: warning: ${w#*:}"
done
check "secubox: 10 warnings (got $(warnings))" test "$(warnings)" -eq 10
check "secubox: the YAML lists what was not converted" \
    grep -qF "#   $DATA/secubox.uci:20: tap.flow_retention '300'" "$work/secubox.yaml"
check "secubox: the YAML says the init script reads enabled" \
    grep -qF "settings.enabled '1' is read by /etc/init.d/dpi-dual" "$work/secubox.yaml"

# 2. Every option SecuBox's scripts read, the scoring, whitelist and lan
#    sections too.
run config import-uci "$DATA/secubox-full.uci"
check "secubox-full: exit 0 (got $status)" test "$status" -eq 0
cp "$work/out" "$work/full.yaml"
check "secubox-full: config check accepts the YAML" effective "$work/full.yaml"
check "secubox-full: auto_ban_duration 4h is ban_duration 14400" is correlation.ban_duration '14400'
check "secubox-full: sensitivity" is correlation.sensitivity '"medium"'
check "secubox-full: scoring.scanner" is correlation.scoring.scanner '35'
check "secubox-full: scoring.brute_force" is correlation.scoring.brute_force '40'
check "secubox-full: whitelist ip list" is correlation.whitelist '["192.0.2.10", "198.51.100.0/24"]'
for w in "17:option 'log_file' of section 'mitm'" "37:option 'notification_threshold'" \
         "39:option 'decay_interval'" "48:option 'default' of section 'scoring'" \
         "55:option 'enabled' of section 'lan'" "56:option 'interface' of section 'lan'" \
         "62:option 'client_retention' of section 'lan'"; do
    check "secubox-full: warns $w" err_has "$DATA/secubox-full.uci:${w%%:*}: warning: ${w#*:}"
done
check "secubox-full: 22 warnings (got $(warnings))" test "$(warnings)" -eq 22

# 3. Changed values land at the right keys; -o OUT writes the file.
sed -e "s/option mode 'dual'/option mode 'tap-only'/" \
    -e "s/option correlation '1'/option correlation 'off'/" \
    -e "s#option stats_dir '/tmp/secubox'#option stats_dir '/tmp/sb2'#" \
    -e "s/option buffer_size '1000'/option buffer_size '5000'/" \
    -e "s/option replay_on_alert '1'/option replay_on_alert 'no'/" \
    -e "s/option interface 'tap0'/option interface \"eth9\"/" \
    -e "s/option window '60'/option window 120/" \
    -e "s#option output .*#option output '/var/log/threats.jsonl'#" \
    -e "s/option auto_ban '0'/option auto_ban 'yes'/" \
    -e "s/option auto_ban_threshold '80'/option auto_ban_threshold '70'/" \
    -e "s/option auto_ban_duration '4h'/option auto_ban_duration '1h30m'/" \
    -e "s/option sensitivity 'medium'/option sensitivity 'custom'/" \
    -e "s/option waf_block '25'/option waf_block '60'/" \
    "$DATA/secubox-full.uci" > "$work/changed.uci"
run config import-uci "$work/changed.uci" -o "$work/changed.yaml"
check "changed: exit 0 (got $status)" test "$status" -eq 0
check "changed: -o: nothing on stdout" is_empty "$work/out"
check "changed: -o: the file written" test -s "$work/changed.yaml"
check "changed: config check accepts it" effective "$work/changed.yaml"
check "changed: mode" is global.mode '"tap-only"'
check "changed: correlation off: workers without the correlator" is global.workers '["collector"]'
check "changed: compat_dir" is global.compat_dir '"/tmp/sb2"'
check "changed: buffer.size" is buffer.size '5000'
check "changed: replay_on_alert no: replay_on_score 0" is buffer.replay_on_score '0'
check "changed: tap.interface (double quotes)" is tap.interface '"eth9"'
check "changed: window (unquoted)" is correlation.window '120'
check "changed: output" is correlation.output '"/var/log/threats.jsonl"'
check "changed: auto_ban yes" is correlation.auto_ban 'true'
check "changed: threat_threshold" is correlation.threat_threshold '70'
check "changed: 1h30m is 5400 s" is correlation.ban_duration '5400'
check "changed: sensitivity custom is medium" is correlation.sensitivity '"medium"'
check "changed: custom warned" err_has "warning: option 'sensitivity' of section 'correlation': 'custom'"
check "changed: scoring.waf_block" is correlation.scoring.waf_block '60'
run config workers -c "$work/changed.yaml"
check "config workers: exit 0 (got $status)" test "$status" -eq 0
check "config workers: collector alone" test "$(cat "$work/out")" = collector

# 4. Unknown sections and options: a warning with the line, not an error.
cat > "$work/unknown.uci" <<'UCI'
config global 'settings'
	option mode 'dual'
	option colour 'blue'

config frobnicator 'x'
	option a 'b'

config tap
	option interface 'eth1'
	option snaplen '1500'
	option curve_enabled '1'
UCI
run config import-uci "$work/unknown.uci"
check "unknown: exit 0 (got $status)" test "$status" -eq 0
check "unknown option: line 3" err_has "$work/unknown.uci:3: warning: unknown option 'colour' of section 'settings'"
check "unknown section: line 5" err_has "$work/unknown.uci:5: warning: unknown section type 'frobnicator' ('x'): its 1 option not converted"
check "our own key in a SecuBox-style section: tap.snaplen" grep -qF 'snaplen: 1500' "$work/out"
check "a key of another section is unknown here: line 11" \
    err_has "$work/unknown.uci:11: warning: unknown option 'curve_enabled' of section 'tap'"
check "unknown: 3 warnings (got $(warnings))" test "$(warnings)" -eq 3

# 5. Errors: FILE:LINE, exit 1, nothing on stdout, -o OUT untouched.
echo "previous" > "$work/keep.yaml"
expect_error () {   # expect_error WHAT UCI-TEXT MESSAGE
    printf '%b' "$2" > "$work/e.uci"
    run config import-uci "$work/e.uci"
    check "$1: exit 1 (got $status)" test "$status" -eq 1
    check "$1: stdout empty" is_empty "$work/out"
    check "$1: message" err_has "$work/e.uci:$3"
    run config import-uci "$work/e.uci" -o "$work/keep.yaml"
    check "$1: -o OUT left as it was" test "$(cat "$work/keep.yaml")" = previous
}
expect_error "syntax: unterminated quote" \
    "config tap 'tap'\n\toption interface 'eth0\n" "2: unterminated ' quote"
expect_error "syntax: option before config" "option mode 'dual'\n" \
    "1: option before the first config line"
expect_error "syntax: too many words" "config tap\n\toption interface eth0 eth1\n" \
    "2: too many words (quote a value with blanks)"
expect_error "bad boolean (mapped option)" "config correlation 'correlation'\n\toption auto_ban 'maybe'\n" \
    "2: option 'auto_ban' of section 'correlation': 'maybe' is not a boolean"
expect_error "bad boolean (worker switch)" "config mitm 'mitm'\n\n\toption enabled 'sometimes'\n" \
    "3: option 'enabled' of section 'mitm': 'sometimes' is not a boolean"
expect_error "bad integer" "config mitm 'mitm'\n\toption buffer_size '1k'\n" \
    "2: option 'buffer_size' of section 'mitm': '1k' is not a whole number (buffer.size)"
expect_error "out of range, traced to its line" \
    "config global 'settings'\n\toption mode 'dual'\nconfig correlation 'correlation'\n\toption auto_ban_threshold '180'\n" \
    "4: option 'auto_ban_threshold' of section 'correlation' -> correlation.threat_threshold: 180 is out of range [0, 100]"
expect_error "bad mode, traced to its line" "config global 'settings'\n\toption mode 'both'\n" \
    "2: option 'mode' of section 'settings' -> global.mode: 'both' is not one of dual, mitm-only, tap-only"
expect_error "bad duration" "config correlation 'correlation'\n\toption auto_ban_duration '4 hours'\n" \
    "2: option 'auto_ban_duration' of section 'correlation': '4 hours' is not a duration"
expect_error "a list key given by option" "config correlation 'c'\n\toption whitelist '192.0.2.1'\n" \
    "2: option 'whitelist' of section 'c': correlation.whitelist is a list"
expect_error "every worker off" "config global 'settings'\n\toption mode 'tap-only'\n\toption correlation '0'\nconfig tap 'tap'\n\toption enabled '0'\n" \
    "5: settings.correlation, tap.enabled turn off every worker of mode tap-only"
run config import-uci "$work/missing.uci"
check "missing file: exit 1 (got $status)" test "$status" -eq 1
check "missing file: named" err_has "$work/missing.uci: cannot open: No such file or directory"

# 6. Our own sections: the YAML's sections, nested keys joined by _.
cat > "$work/own.uci" <<'UCI'
config global 'global'
	option enabled '1'
	option mode 'dual'
	list workers 'collector'
	list workers 'bridge-mitm'
	option log_level 'debug'

config bus 'bus'
	option heartbeat_interval '2'
	option endpoints_collector 'tcp://127.0.0.1:7001'

config crowdsec 'crowdsec'
	option api_key_file '/etc/dpi-dual/crowdsec.key'

config correlation 'correlation'
	option watch_crowdsec '1'
	option reputation_half_life '600'
	list whitelist '10.0.0.0/8'

config buffer 'buffer'
	option forensic_mode 'alerts'
UCI
run config import-uci "$work/own.uci"
check "own: exit 0 (got $status)" test "$status" -eq 0
check "own: no warning (got $(warnings))" test "$(warnings)" -eq 0
cp "$work/out" "$work/own.yaml"
if [[ $have_yaml == 1 ]]; then
    python3 - "$work/own.yaml" > "$work/own.json" <<'PY'
import json, sys, yaml
print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True))
PY
    check "own: the YAML as written" test "$(cat "$work/own.json")" = \
'{"buffer": {"forensic": {"mode": "alerts"}}, "bus": {"endpoints": {"collector": "tcp://127.0.0.1:7001"}, "heartbeat_interval": 2}, "correlation": {"reputation_decay": 600, "whitelist": ["10.0.0.0/8"]}, "crowdsec": {"api_key_file": "/etc/dpi-dual/crowdsec.key", "enabled": true}, "global": {"log_level": "debug", "mode": "dual", "workers": ["collector", "bridge-mitm"]}}'
else
    echo "it_ctl_import_uci: python3-yaml missing: the own-sections YAML checked by grep only"
    check "own: workers" grep -qF 'workers: ["collector", "bridge-mitm"]' "$work/own.yaml"
fi
run config workers -c "$work/own.yaml"
check "own: config workers" test "$(tr '\n' ' ' < "$work/out")" = "collector bridge-mitm "

# 7. The package's UCI defaults: no warning, and config check accepts them.
if [[ -f $OWN ]]; then
    run config import-uci "$OWN"
    check "package defaults: exit 0 (got $status)" test "$status" -eq 0
    check "package defaults: no warning (got $(warnings))" test "$(warnings)" -eq 0
    cp "$work/out" "$work/own-defaults.yaml"
    check "package defaults: config check accepts the YAML" effective "$work/own-defaults.yaml"
else
    check "package defaults: $OWN exists" false
fi

echo "it_ctl_import_uci: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
