#!/usr/bin/env bash
# it_ctl_query.sh — dpi-dualctl context, replay and buffer against
# dpi-queryserve (tests/tools/queryserve.c), a stand-in for dpi-buffer that
# answers canned replies over the real query transport (common/query.h):
#  1. what each command sends (the request the server printed);
#  2. the text and the --json output of each reply shape;
#  3. usage errors: a bad IP, a missing argument, bad numbers → exit 2,
#     nothing sent;
#  4. an error reply → its error on stderr, exit 1;
#  5. no server → "no answer from ..." on stderr, exit 1, within the timeout.
# ctest sets BUILD_DIR.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
SERVE="$BUILD_DIR/tests/dpi-queryserve"

work=$(mktemp -d)
cleanup () {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/ctl_checks.sh"
has () { grep -qF -- "$1" "$work/out"; }
err_has () { grep -qF -- "$1" "$work/err"; }

for name in ok err none; do
    printf 'global:\n  run_dir: %s/run-%s\n' "$work" "$name" > "$work/$name.yaml"
done
mkdir "$work/r-ok" "$work/r-err"
entry1='{"seq":12,"ts_ns":1700000000123456789,"request_id":"r-12","method":"GET","host":"shop.example","path":"/search","query":"q=1","status":200,"verdict":"ALLOW","analysed":true,"not_analysed":false,"score":0,"severity":0,"category":"","rule_ids":[],"alerted":false,"user_agent":"curl/8","body_length":0,"body_truncated":false}'
entry2='{"seq":11,"ts_ns":1699999999000000000,"request_id":"r-11","method":"POST","host":"shop.example","path":"/a/very/long/path/that/goes/on/and/on/beyond/the/column","query":"id=1%27%20or%201=1","status":403,"verdict":"BLOCK","analysed":true,"not_analysed":false,"score":10,"severity":2,"category":"sqli","rule_ids":["942100","942200"],"alerted":true,"user_agent":"sqlmap","body_length":12,"body_truncated":false}'
entry3='{"seq":10,"ts_ns":1699999998000000000,"request_id":"r-10","method":"GET","host":"shop.example","path":"/","query":"","status":0,"verdict":"","analysed":false,"not_analysed":true,"score":0,"severity":0,"category":"","rule_ids":[],"alerted":false,"user_agent":"","body_length":0,"body_truncated":false}'
echo "{\"ok\":true,\"ip\":\"192.0.2.7\",\"window\":60,\"requests\":[$entry1,$entry2,$entry3],\"anomaly\":{\"score\":12,\"label\":\"scanner\",\"reasons\":[\"rate z=1.2\",\"3 blocks\"]}}" > "$work/r-ok/context.json"
echo "{\"ok\":true,\"requests\":[$entry1]}" > "$work/r-ok/dump.json"
echo '{"ok":true,"requests_buffered":1234,"alerts":7,"analysis_queue":0}' > "$work/r-ok/stats.json"
echo '{"ok":true,"ip":"2001:db8::7","queued":5,"not_queued":2,"paranoia":3,"target":""}' > "$work/r-ok/replay.json"
echo '{"ok":false,"error":"the buffer is still starting"}' > "$work/r-err/context.json"

"$SERVE" -c "$work/ok.yaml" "$work/r-ok" > "$work/sent" 2> "$work/serve-ok.err" &
"$SERVE" -c "$work/err.yaml" "$work/r-err" > /dev/null 2> "$work/serve-err.err" &
for _ in $(seq 50); do
    [[ -S "$work/run-ok/buffer.query" && -S "$work/run-err/buffer.query" ]] && break
    sleep 0.1
done
[[ -S "$work/run-ok/buffer.query" ]] || { cat "$work/serve-ok.err"; exit 1; }

last_sent () { tail -n 1 "$work/sent"; }

# 1 + 2. context
run context 192.0.2.7 --window 60 -c "$work/ok.yaml"
check "context: exit 0 (got $status)" test "$status" -eq 0
check "context: sent cmd, ip, window" test "$(last_sent)" = '{"cmd":"context","ip":"192.0.2.7","window":60}'
check "context: header" has "192.0.2.7: 3 requests in the last 60 s; anomaly score 12 scanner (rate z=1.2; 3 blocks)"
check "context: a request line" grep -Eq '^2023-11-14 22:13:20\.123 +GET +shop\.example/search\?q=1 +200 +ALLOW +score 0$' "$work/out"
check "context: a blocked one, cut, with rules and the alert mark" \
    grep -Eq '^2023-11-14 22:13:19\.000 +POST +shop\.example/a/very/long/path/that/goes/on/and/\.\.\. +403 +BLOCK +score 10, sqli, rules 942100,942200  ALERT$' "$work/out"
check "context: one not analysed" grep -Eq 'GET +shop\.example/ +- +- +not analysed$' "$work/out"
check "context: 4 lines" test "$(wc -l < "$work/out")" -eq 4
check "context: stderr empty" is_empty "$work/err"
run context 192.0.2.7 -c "$work/ok.yaml" --json
check "context --json: exit 0" test "$status" -eq 0
check "context: default window 300" test "$(last_sent)" = '{"cmd":"context","ip":"192.0.2.7","window":300}'
check "context --json: one line" test "$(wc -l < "$work/out")" -eq 1
check "context --json: the reply" python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["ok"] and len(r["requests"])==3 and r["anomaly"]["score"]==12' "$work/out"

# dump, stats, replay
run buffer dump 5 -c "$work/ok.yaml"
check "dump: exit 0" test "$status" -eq 0
check "dump: sent n" test "$(last_sent)" = '{"cmd":"dump","n":5}'
check "dump: header" has "1 request, newest first"
check "dump: the line" grep -Eq '^2023-11-14 22:13:20\.123 +GET +shop\.example/search\?q=1' "$work/out"
run buffer dump 5 --json -c "$work/ok.yaml"
check "dump --json" python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["requests"][0]["seq"]==12' "$work/out"
run buffer stats -c "$work/ok.yaml"
check "stats: exit 0" test "$status" -eq 0
check "stats: sent" test "$(last_sent)" = '{"cmd":"stats"}'
check "stats: sorted name value lines" test "$(cat "$work/out")" = "$(printf 'alerts 7\nanalysis_queue 0\nrequests_buffered 1234')"
run buffer stats --json -c "$work/ok.yaml"
check "stats --json" test "$(cat "$work/out")" = '{"ok":true,"requests_buffered":1234,"alerts":7,"analysis_queue":0}'
run replay 2001:db8::7 -c "$work/ok.yaml"
check "replay: exit 0" test "$status" -eq 0
check "replay: sent" test "$(last_sent)" = '{"cmd":"replay","ip":"2001:db8::7"}'
check "replay: the sentence" has "replay of 2001:db8::7: 5 requests queued for analysis at paranoia level 3, 2 not queued; target: the configured one"
run replay 2001:db8::7 --json -c "$work/ok.yaml"
check "replay --json" python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["queued"]==5' "$work/out"

# 3. usage errors: exit 2, nothing sent
sent_before=$(wc -l < "$work/sent")
usage () {    # usage WHAT ARGS...
    local what=$1; shift
    run "$@" -c "$work/ok.yaml"
    check "$what: exit 2 (got $status)" test "$status" -eq 2
    check "$what: usage on stderr" err_has "usage: dpi-dualctl"
    check "$what: stdout empty" is_empty "$work/out"
}
usage "bad IP" context 192.0.2.300
check "bad IP: said" err_has "'192.0.2.300' is not an IPv4 or IPv6 address"
usage "bad IPv6" replay 2001:db8:::1
usage "IP with a port" context 192.0.2.7:80
usage "missing IP" context
check "missing IP: said" err_has "missing the IP address"
usage "missing IP (replay)" replay
usage "two IPs" context 192.0.2.7 192.0.2.8
usage "bad window" context 192.0.2.7 --window 0
usage "window not a number" context 192.0.2.7 --window 5s
usage "window on replay" replay 192.0.2.7 --window 5
usage "bad timeout" context 192.0.2.7 --timeout -1
usage "unknown option" context 192.0.2.7 --frobnicate
usage "buffer without subcommand" buffer
usage "buffer unknown subcommand" buffer frob
usage "dump without N" buffer dump
usage "dump N=0" buffer dump 0
usage "stats with an argument" buffer stats 3
check "usage errors sent nothing" test "$(wc -l < "$work/sent")" -eq "$sent_before"
for cmd in context replay buffer; do
    run "$cmd" --help
    check "$cmd --help: exit 0" test "$status" -eq 0
    check "$cmd --help: exit codes" has "no answer came within the"
done

# 4. an error reply
run context 192.0.2.7 -c "$work/err.yaml"
check "error reply: exit 1 (got $status)" test "$status" -eq 1
check "error reply: the error on stderr" err_has "dpi-dualctl context: dpi-buffer refused: the buffer is still starting"
check "error reply: nothing on stdout" is_empty "$work/out"
run context 192.0.2.7 --json -c "$work/err.yaml"
check "error reply --json: exit 1" test "$status" -eq 1
check "error reply --json: the reply on stdout" test "$(cat "$work/out")" = '{"ok":false,"error":"the buffer is still starting"}'
check "error reply --json: the error on stderr" err_has "dpi-buffer refused: the buffer is still starting"
run replay 192.0.2.7 -c "$work/err.yaml"
check "no canned reply: exit 1" test "$status" -eq 1
check "no canned reply: said" err_has "no canned reply for replay"

# 5. nobody serves
start=$(date +%s%N)
run context 192.0.2.7 --timeout 300 -c "$work/none.yaml"
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "no server: exit 1 (got $status)" test "$status" -eq 1
check "no server: said" err_has "dpi-dualctl context: no answer from ipc://$work/run-none/buffer.query after 300 ms"
check "no server: within the timeout (took $took ms)" test "$took" -lt 2000
check "no server: nothing on stdout" is_empty "$work/out"

echo "it_ctl_query: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
