#!/usr/bin/env bash
# it_ctl_usage.sh — how dpi-dualctl is called, against the real binary:
#  1. dpi-dualctl --help and CMD --help / -h, for every command: on stdout,
#     exit 0, every option of the command with its default, exit codes 0/1/2;
#  2. a usage error: the command's usage on stderr, nothing on stdout, exit 2;
#  3. numbers are strict: garbage, a sign, spaces, an exponent, hex, out of
#     range: "bad value", exit 2 at once (no listening); topology's --watch
#     SEC too, given as --watch=SEC or as the next argument;
#  4. keys new NAME DIR refuses a DIR that does not exist, creates nothing;
#  5. tail without --timeout says on a terminal that it waits until Ctrl-C
#     (through util-linux's script; skipped, and said, when it is missing).
# ctest sets BUILD_DIR.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"          # whatever a command writes by mistake lands in here
cat > "$work/cfg.yaml" <<YAML
global:
  run_dir: $work/run
YAML

source "$(dirname "${BASH_SOURCE[0]}")/ctl_checks.sh"

has () { grep -qF -- "$1" "$work/out"; }
err_has () { grep -qF -- "$1" "$work/err"; }

# The options of each command, as its help lists them, and a default each
# help must state.
declare -A options=(
    [config]='FILE, -c, --config FILE|-h, --help|DPI_DUAL_CONFIG|built-in defaults|config import-uci UCI-FILE [-o OUT]|-o, --output OUT|(default: stdout)|config workers [-c FILE | FILE]|UCI-FILE:LINE'
    [keys]='NAME|DIR|-h, --help|(default: the current directory)'
    [tail]='-c, --config FILE|--connect EP|-n, --count COUNT|--timeout SEC|--count-only|TOPIC-PREFIX...|-h, --help|(default: no limit)|(default: none, wait until Ctrl-C)|(default: every topic)'
    [flows]='-c, --config FILE|--connect EP|-n, --count N|--timeout SEC|--json|-h, --help|1 to 1000 (default 20)|(default 5)'
    [status]='-c, --config FILE|--connect EP|--timeout SEC|--json|-h, --help|(default: bus.heartbeat_interval + 1'
    [topology]='-c, --config FILE|--connect EP|--timeout SEC|--json|--dot|--watch [SEC]|-h, --help|(default: bus.heartbeat_interval + 1|0.1 to 1000000 (default:'
    [start]='-c, --config FILE|--via METHOD|--timeout SEC|--bin-dir DIR|--log-dir DIR|WORKER...|-h, --help|(default: detected|bus.heartbeat_interval + 10)|$DPI_DUAL_BIN_DIR|(default: global.run_dir)|global.workers, else those of global.mode'
    [stop]='-c, --config FILE|--via METHOD|--stop-timeout SEC|--kill|--lock-holder|WORKER...|-h, --help|(default 10)|(default: none, say so and exit 1)|(default: left running, exit 3)|  3  some run without a pid file'
    [mitm-options]='-c, --config FILE|--check|-h, --help|(default: print)'
    [mitmdump]='-c, --config FILE|--dry-run|-h, --help|mitm.mitmdump.command'
    [restart]='-c, --config FILE|--via METHOD|--timeout SEC|--bin-dir DIR|--log-dir DIR|--stop-timeout SEC|--kill|--lock-holder|WORKER...|-h, --help|(default 10)|  3  some run without a pid file'
)

# has_all CMD : stdout has every option of CMD and its exit codes
has_all () {
    local IFS='|' item
    for item in ${options[$1]}; do
        has "$item" || { echo "  missing: $item" >&2; return 1; }
    done
    has "Exit status:" && grep -q '^  0  ' "$work/out" && grep -q '^  1  ' "$work/out" \
        && grep -q '^  2  usage error' "$work/out"
}

# 1. help
for cmd in config keys tail flows status topology start stop restart mitm-options mitmdump; do
    for flag in --help -h; do
        run "$cmd" "$flag"
        check "$cmd $flag: exit 0 (got $status)" test "$status" -eq 0
        check "$cmd $flag: nothing on stderr" is_empty "$work/err"
        check "$cmd $flag: usage line" has "usage: dpi-dualctl $cmd"
        check "$cmd $flag: every option, its default, the exit codes" has_all "$cmd"
    done
done
run config check --help
check "config check --help: exit 0" test "$status" -eq 0
run config import-uci --help
check "config import-uci --help: exit 0" test "$status" -eq 0
check "config import-uci --help: the SecuBox mapping" has "correlation.auto_ban_threshold  correlation.threat_threshold"
run config workers -h
check "config workers -h: exit 0" test "$status" -eq 0
run keys new --help
check "keys new --help: exit 0" test "$status" -eq 0
run tail --help
check "tail --help: says it waits until Ctrl-C without --timeout" \
    has "Without --timeout it waits until Ctrl-C"
for flag in --help -h; do
    run "$flag"
    check "dpi-dualctl $flag: exit 0 (got $status)" test "$status" -eq 0
    for cmd in config keys tail flows status topology start stop restart mitm-options mitmdump; do
        check "dpi-dualctl $flag: $cmd's options and exit codes" has_all "$cmd"
    done
done

# 2. usage errors: the usage on stderr, exit 2
usage_error () {   # usage_error CMD-FOR-USAGE ARGS...
    local cmd=$1
    shift
    run "$@"
    check "$*: exit 2 (got $status)" test "$status" -eq 2
    check "$*: stdout empty" is_empty "$work/out"
    check "$*: usage on stderr" err_has "usage: dpi-dualctl $cmd"
}
usage_error COMMAND
usage_error COMMAND frobnicate
usage_error config config
usage_error config config check a.yaml b.yaml
usage_error config config import-uci
usage_error config config import-uci a.uci b.uci
usage_error config config import-uci a.uci -o
usage_error config config import-uci a.uci -o x.yaml --output y.yaml
usage_error config config import-uci --bogus a.uci
usage_error config config workers a.yaml b.yaml
usage_error config config workers --bogus
usage_error keys keys new
usage_error keys keys new a/b "$work"
usage_error tail tail -c "$work/cfg.yaml" --bogus
usage_error tail tail -c "$work/cfg.yaml" --json
usage_error flows flows -c "$work/cfg.yaml" --count-only
usage_error flows flows -c "$work/cfg.yaml" extra
usage_error status status -c "$work/cfg.yaml" -n 3
usage_error status status -c "$work/cfg.yaml" -x
usage_error status status -c "$work/cfg.yaml" --dot
usage_error status status -c "$work/cfg.yaml" --watch
usage_error topology topology -c "$work/cfg.yaml" -n 3
usage_error topology topology -c "$work/cfg.yaml" --count-only
usage_error topology topology -c "$work/cfg.yaml" extra
usage_error topology topology -c "$work/cfg.yaml" --watch 2 extra
usage_error topology topology -c "$work/cfg.yaml" --json --dot
check "topology --json --dot: says why" err_has "--json and --dot: choose one"
usage_error start start -c "$work/cfg.yaml" --bogus
usage_error start start -c "$work/cfg.yaml" frobnicator
usage_error start start -c "$work/cfg.yaml" --kill
usage_error start start -c "$work/cfg.yaml" --via initd
usage_error start start -c "$work/cfg.yaml" --bin-dir
usage_error stop stop -c "$work/cfg.yaml" --timeout 3
usage_error stop stop -c "$work/cfg.yaml" --log-dir /tmp
usage_error stop stop -c "$work/cfg.yaml" bridge
usage_error restart restart -c "$work/cfg.yaml" --json
usage_error mitm-options mitm-options -c "$work/cfg.yaml" --json
usage_error mitm-options mitm-options extra
usage_error mitmdump mitmdump --check
usage_error mitmdump mitmdump extra

# 3. strict numbers: every numeric option of every command
bad_value () {     # bad_value CMD OPTION VALUE
    local start=$SECONDS
    run "$1" -c "$work/cfg.yaml" "$2" "$3"
    check "$1 $2 '$3': exit 2 (got $status)" test "$status" -eq 2
    check "$1 $2 '$3': says bad value" err_has "bad value '$3'"
    # a refusal is immediate; 20 s only guards against a parser that goes on and
    # hangs (2 s failed at load 17 on 2 cores: tests never fail on timing)
    check "$1 $2 '$3': refused, not hung" test $((SECONDS - start)) -le 20
}
for value in abc 5x -1 " 5" 5. 1e1 0x10 "" +3 0 1001 99999999999999999999999; do
    bad_value flows -n "$value"
    bad_value flows --count "$value"
done
for value in abc 5x -1 " 5" 1e1 0x10 "" +3 0 99999999999999999999999; do
    bad_value tail -n "$value"
done
for cmd in tail flows status topology start restart; do
    for value in abc 1x -1 -0.5 " 1" 1e1 0x1 "" . 1.2.3 nan inf 1000001; do
        bad_value "$cmd" --timeout "$value"
    done
done
for cmd in stop restart; do
    for value in abc -1 "" . 1e1 1000001; do
        bad_value "$cmd" --stop-timeout "$value"
    done
done
# --watch SEC: as the next argument when it is a number, or --watch=SEC
for value in abc 1x -1 -0.5 " 1" 1e1 0x1 "" . 1.2.3 nan inf 1000001 0 0.05; do
    run topology -c "$work/cfg.yaml" "--watch=$value"
    check "topology --watch='$value': exit 2 (got $status)" test "$status" -eq 2
    check "topology --watch='$value': says bad value" err_has "bad value '$value' for --watch"
done
for value in 0 0.05 1000001 1.2.3 .; do
    bad_value topology --watch "$value"
done
# good values pass the parser (nothing listens: exit 1, not 2)
run flows -c "$work/cfg.yaml" -n 1000 --timeout 0.2
check "flows -n 1000 --timeout 0.2: accepted (got $status)" test "$status" -eq 1
run status -c "$work/cfg.yaml" --timeout .3
check "status --timeout .3: accepted (got $status)" test "$status" -eq 1
run topology -c "$work/cfg.yaml" --timeout .3 --dot
check "topology --timeout .3 --dot: accepted (got $status)" test "$status" -eq 1
run tail -c "$work/cfg.yaml" -n 2 --timeout 0
check "tail -n 2 --timeout 0: accepted (got $status)" test "$status" -eq 1
run stop -c "$work/cfg.yaml" --stop-timeout 0.5 collector
check "stop --stop-timeout 0.5 of a worker not running: accepted, exit 0 (got $status)" \
    test "$status" -eq 0
check "stop of a worker not running: says so" has "collector: not running"

# 4. keys: DIR must exist
run keys new k1 "$work/missing/sub"
check "keys, missing DIR: exit 1 (got $status)" test "$status" -eq 1
check "keys, missing DIR: names it" err_has "$work/missing/sub"
check "keys, missing DIR: nothing created" test ! -e "$work/missing"
touch "$work/plain"
run keys new k1 "$work/plain"
check "keys, DIR a file: exit 1 (got $status)" test "$status" -eq 1
check "keys, DIR a file: says so" err_has "$work/plain: not a directory"
mkdir "$work/certs"
run keys new k1 "$work/certs"
check "keys, existing DIR: exit 0 (got $status)" test "$status" -eq 0
check "keys, existing DIR: secret file mode 0600" \
    test "$(stat -c %a "$work/certs/k1.cert_secret" 2>/dev/null)" = 600
check "keys, existing DIR: public file" test -s "$work/certs/k1.cert"

# 5. tail's notice on a terminal
if command -v script > /dev/null && script --version 2>/dev/null | grep -q util-linux; then
    set +e
    script -qec "timeout -s INT 1 $CTL tail -c $work/cfg.yaml" /dev/null \
        > "$work/out" 2>"$work/err" </dev/null
    script -qec "timeout -s INT 1 $CTL tail -c $work/cfg.yaml --timeout 0.5" /dev/null \
        > "$work/out2" 2>/dev/null </dev/null
    timeout -s INT 1 "$CTL" tail -c "$work/cfg.yaml" > /dev/null 2> "$work/err3" </dev/null
    set -e
    check "tail on a terminal, no --timeout: notice" has "tail: no --timeout: listening until Ctrl-C"
    check "tail on a terminal, --timeout: no notice" bash -c "! grep -q 'until Ctrl-C' '$work/out2'"
    check "tail, stderr not a terminal: no notice" bash -c "! grep -q 'until Ctrl-C' '$work/err3'"
else
    echo "it_ctl_usage: util-linux's script is missing: tail's terminal notice not checked" \
         "(its --help text is)"
fi

echo "it_ctl_usage: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
