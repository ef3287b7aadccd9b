# ctl_checks.sh — sourced by the it_ctl_* scripts that count their checks
# instead of stopping at the first failure. The script sets CTL (the binary)
# and work (a scratch directory) first.
#   run ARGS...               run "$CTL" ARGS (at most 10 s, no stdin): its exit
#                             code in $status, its output in $work/out, $work/err
#   check DESCRIPTION CMD...  count whether CMD succeeds; on failure say
#                             DESCRIPTION and show the last run's output
#   is_empty FILE
# End with: echo "NAME: $passed passed, $failed failed"; [[ $failed -eq 0 ]]
passed=0
failed=0
check () {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what" >&2
        { echo "  stdout:"; head -c 2000 "$work/out" | sed 's/^/    /'
          echo "  stderr:"; head -c 2000 "$work/err" | sed 's/^/    /'; } >&2
    fi
}

run () {
    set +e
    timeout 10 "$CTL" "$@" >"$work/out" 2>"$work/err" </dev/null
    status=$?
    set -e
}

is_empty () { [[ ! -s "$1" ]]; }
