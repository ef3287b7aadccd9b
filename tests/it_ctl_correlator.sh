#!/usr/bin/env bash
# it_ctl_correlator.sh — dpi-dualctl threats, reputation, ban, unban and
# whitelist against dpi-queryserve (tests/tools/queryserve.c) serving canned
# replies on correlation.query_endpoint, a stand-in for dpi-correlator over
# the real query transport (common/query.h):
#  1. what each command sends (the request the server printed);
#  2. the text and the --json output of each reply shape;
#  3. usage errors: bad addresses and ranges, missing or extra arguments,
#     bad numbers, options of another command → exit 2, nothing sent;
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
json_is () {   # json_is PYTHON-EXPR : the one line of stdout, as r, satisfies it
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert '"$1" "$work/out"
}

for name in ok err none; do
    printf 'global:\n  run_dir: %s/run-%s\n' "$work" "$name" > "$work/$name.yaml"
done
printf 'global:\n  run_dir: %s/run-ok\ncorrelation:\n  ban_duration: 600\n' "$work" \
    > "$work/ok600.yaml"
mkdir "$work/r-ok" "$work/r-err"
t1='{"ts_ns":1700000000123456789,"ip":"192.0.2.7","community_id":"1:abc=","join":"COMMUNITY_ID","threat_type":"sqli","severity":3,"score":85,"reputation":72,"sources":["waf","dpi"],"reasons":["942100"],"tap_proto":"TLS","tap_sni":"shop.example","tap_risks":[],"mitm_host":"shop.example","mitm_path":"/search","request_id":"r-12","banned":true}'
t2='{"ts_ns":1699999999000000000,"ip":"2001:db8::9","community_id":"","join":"JOIN_NONE","threat_type":"scanner","severity":1,"score":35,"reputation":20,"sources":["dpi"],"reasons":[],"tap_proto":"TLS","tap_sni":"mail.example","tap_risks":["self-signed"],"mitm_host":"","mitm_path":"","request_id":"","banned":false}'
echo "{\"ok\":true,\"threats\":[$t1,$t2]}" > "$work/r-ok/threats.json"
e1='{"ip":"192.0.2.7","score":72.5,"events":4,"first_seen_ns":1699999990000000000,"last_seen_ns":1700000000123456789,"last_kind":"waf_block","banned_until_ns":1700014400000000000,"whitelisted":false}'
e2='{"ip":"198.51.100.1","score":1.0,"events":1,"first_seen_ns":1699999000000000000,"last_seen_ns":1699999000000000000,"last_kind":"dpi_threat","banned_until_ns":0,"whitelisted":true}'
echo "{\"ok\":true,\"top\":[$e1,$e2]}" > "$work/r-ok/reputation.json"
echo '{"ok":true,"value":"192.0.2.0/24","duration":600}' > "$work/r-ok/ban.json"
echo '{"ok":true,"value":"192.0.2.0/24"}' > "$work/r-ok/unban.json"
echo '{"ok":true,"whitelist":["10.0.0.0/8","2001:db8::/32"]}' > "$work/r-ok/whitelist.json"
echo '{"ok":false,"error":"the correlator is still starting"}' > "$work/r-err/threats.json"
echo '{"ok":false,"error":"10.0.0.0/8 is whitelisted"}' > "$work/r-err/ban.json"

"$SERVE" -c "$work/ok.yaml" --endpoint "ipc://$work/run-ok/correlator.query" "$work/r-ok" \
    > "$work/sent" 2> "$work/serve-ok.err" &
"$SERVE" -c "$work/err.yaml" --endpoint "ipc://$work/run-err/correlator.query" "$work/r-err" \
    > /dev/null 2> "$work/serve-err.err" &
for _ in $(seq 50); do
    [[ -S "$work/run-ok/correlator.query" && -S "$work/run-err/correlator.query" ]] && break
    sleep 0.1
done
[[ -S "$work/run-ok/correlator.query" ]] || { cat "$work/serve-ok.err"; exit 1; }
[[ -S "$work/run-err/correlator.query" ]] || { cat "$work/serve-err.err"; exit 1; }

last_sent () { tail -n 1 "$work/sent"; }

# 1 + 2. threats
run threats -c "$work/ok.yaml"
check "threats: exit 0 (got $status)" test "$status" -eq 0
check "threats: default n 20" test "$(last_sent)" = '{"cmd":"threats","n":20}'
check "threats: header" has "2 threats, newest first (score/reputation)"
check "threats: a joined, banned one" grep -Eq '^2023-11-14 22:13:20\.123  192\.0\.2\.7 +85/72 +sqli +COMMUNITY_ID +waf,dpi +shop\.example/search  BANNED$' "$work/out"
check "threats: a flow only one: proto/sni, not banned" grep -Eq '^2023-11-14 22:13:19\.000  2001:db8::9 +35/20 +scanner +JOIN_NONE +dpi +TLS/mail\.example$' "$work/out"
check "threats: 3 lines" test "$(wc -l < "$work/out")" -eq 3
check "threats: stderr empty" is_empty "$work/err"
run threats 5 --json -c "$work/ok.yaml"
check "threats --json: exit 0" test "$status" -eq 0
check "threats 5: sent n" test "$(last_sent)" = '{"cmd":"threats","n":5}'
check "threats --json: one line" test "$(wc -l < "$work/out")" -eq 1
check "threats --json: the reply" json_is 'r["ok"] and len(r["threats"])==2 and r["threats"][0]["ts_ns"]==1700000000123456789'

# reputation (the canned reply has both shapes: ip fields are not there, top is)
echo "$e1" | python3 -c 'import json,sys; e=json.load(sys.stdin); e["ok"]=True; print(json.dumps(e))' \
    > "$work/r-ok/reputation.json"
run reputation 192.0.2.7 -c "$work/ok.yaml"
check "reputation IP: exit 0 (got $status)" test "$status" -eq 0
check "reputation IP: sent" test "$(last_sent)" = '{"cmd":"reputation","ip":"192.0.2.7"}'
check "reputation IP: the line" test "$(cat "$work/out")" = "192.0.2.7: score 72.5, 4 events; first seen 2023-11-14 22:13:10.000, last seen 2023-11-14 22:13:20.123 (waf_block); banned until 2023-11-15 02:13:20.000"
run reputation 2001:db8::7 --json -c "$work/ok.yaml"
check "reputation IPv6 --json: sent" test "$(last_sent)" = '{"cmd":"reputation","ip":"2001:db8::7"}'
check "reputation --json: the reply" json_is 'r["score"]==72.5 and r["events"]==4'
echo "{\"ok\":true,\"top\":[$e1,$e2]}" > "$work/r-ok/reputation.json"
run reputation --top 2 -c "$work/ok.yaml"
check "reputation --top: exit 0 (got $status)" test "$status" -eq 0
check "reputation --top: sent" test "$(last_sent)" = '{"cmd":"reputation","top":2}'
check "reputation --top: header" has "2 addresses, highest score first"
check "reputation --top: a whitelisted one, not banned" has "198.51.100.1: score 1.0, 1 event; first seen 2023-11-14 21:56:40.000, last seen 2023-11-14 21:56:40.000 (dpi_threat); not banned; whitelisted"
check "reputation --top: 3 lines" test "$(wc -l < "$work/out")" -eq 3
run reputation --top 2 --json -c "$work/ok.yaml"
check "reputation --top --json" json_is 'len(r["top"])==2 and r["top"][1]["whitelisted"]'

# ban, unban
run ban 192.0.2.0/24 --duration 600 --reason "sqli from this range" -c "$work/ok.yaml"
check "ban: exit 0 (got $status)" test "$status" -eq 0
check "ban: sent" test "$(last_sent)" = '{"cmd":"ban","duration":600,"reason":"sqli from this range","value":"192.0.2.0/24"}'
check "ban: the sentence" test "$(cat "$work/out")" = "banned 192.0.2.0/24 for 600 s"
run ban 192.0.2.7 -c "$work/ok.yaml"
check "ban: default duration (correlation.ban_duration) and reason" test "$(last_sent)" = '{"cmd":"ban","duration":14400,"reason":"manual (dpi-dualctl)","value":"192.0.2.7"}'
run ban 2001:db8::/48 --json -c "$work/ok600.yaml"
check "ban: duration from the config" test "$(last_sent)" = '{"cmd":"ban","duration":600,"reason":"manual (dpi-dualctl)","value":"2001:db8::/48"}'
check "ban --json" test "$(cat "$work/out")" = '{"ok":true,"value":"192.0.2.0/24","duration":600}'
run unban 192.0.2.0/24 -c "$work/ok.yaml"
check "unban: exit 0 (got $status)" test "$status" -eq 0
check "unban: sent" test "$(last_sent)" = '{"cmd":"unban","value":"192.0.2.0/24"}'
check "unban: the sentence" test "$(cat "$work/out")" = "unbanned 192.0.2.0/24"
run unban 2001:db8::1 --json -c "$work/ok.yaml"
check "unban IPv6: sent" test "$(last_sent)" = '{"cmd":"unban","value":"2001:db8::1"}'
check "unban --json" json_is 'r["value"]=="192.0.2.0/24"'

# whitelist
run whitelist list -c "$work/ok.yaml"
check "whitelist list: exit 0 (got $status)" test "$status" -eq 0
check "whitelist list: sent" test "$(last_sent)" = '{"cmd":"whitelist","op":"list"}'
check "whitelist list: the ranges" test "$(cat "$work/out")" = "$(printf '2 whitelisted ranges\n10.0.0.0/8\n2001:db8::/32')"
run whitelist add 10.0.0.0/8 -c "$work/ok.yaml"
check "whitelist add: exit 0" test "$status" -eq 0
check "whitelist add: sent" test "$(last_sent)" = '{"cidr":"10.0.0.0/8","cmd":"whitelist","op":"add"}'
run whitelist del 2001:db8::/32 --json -c "$work/ok.yaml"
check "whitelist del: sent" test "$(last_sent)" = '{"cidr":"2001:db8::/32","cmd":"whitelist","op":"del"}'
check "whitelist --json" json_is 'r["whitelist"]==["10.0.0.0/8","2001:db8::/32"]'
run whitelist add 192.0.2.7 -c "$work/ok.yaml"
check "whitelist add of one address: sent" test "$(last_sent)" = '{"cidr":"192.0.2.7","cmd":"whitelist","op":"add"}'

# 3. usage errors: exit 2, nothing sent
sent_before=$(wc -l < "$work/sent")
usage () {    # usage WHAT ARGS...
    local what=$1; shift
    run "$@" -c "$work/ok.yaml"
    check "$what: exit 2 (got $status)" test "$status" -eq 2
    check "$what: usage on stderr" err_has "usage: dpi-dualctl"
    check "$what: stdout empty" is_empty "$work/out"
}
usage "threats N=0" threats 0
usage "threats N not a number" threats 5x
usage "threats N too large" threats 100001
usage "threats two arguments" threats 5 6
usage "threats --top" threats --top 3
usage "bad IP" reputation 192.0.2.300
check "bad IP: said" err_has "'192.0.2.300' is not an IPv4 or IPv6 address"
usage "reputation of a range" reputation 192.0.2.0/24
usage "reputation, IP with a port" reputation 192.0.2.7:80
usage "reputation without IP" reputation
check "reputation without IP: said" err_has "missing the IP address (or --top N)"
usage "reputation IP and --top" reputation 192.0.2.7 --top 3
usage "reputation --top 0" reputation --top 0
usage "reputation --top -1" reputation --top -1
usage "reputation --duration" reputation 192.0.2.7 --duration 600
usage "ban without value" ban
usage "ban two values" ban 192.0.2.7 192.0.2.8
usage "ban bad v4 prefix" ban 192.0.2.0/33
check "ban bad prefix: said" err_has "'192.0.2.0/33' is not an IPv4 or IPv6 address or range"
usage "ban bad v6 prefix" ban 2001:db8::/129
usage "ban empty prefix" ban 192.0.2.0/
usage "ban signed prefix" ban 192.0.2.0/+24
usage "ban prefix with a space" ban "192.0.2.0/ 24"
usage "ban two slashes" ban 192.0.2.0/24/8
usage "ban /0" ban 0.0.0.0/0
check "ban /0: said" err_has "would ban every address"
usage "ban ::/00" ban ::/00
usage "ban not an address" ban example.com
usage "ban bad duration" ban 192.0.2.7 --duration 59
usage "ban duration too long" ban 192.0.2.7 --duration 31536001
usage "ban duration not a number" ban 192.0.2.7 --duration 1h
usage "ban empty reason" ban 192.0.2.7 --reason ""
usage "ban reason too long" ban 192.0.2.7 --reason "$(printf 'x%.0s' $(seq 513))"
usage "ban bad timeout" ban 192.0.2.7 --timeout 0
usage "unban --reason" unban 192.0.2.7 --reason x
usage "unban bad value" unban 192.0.2.7/
usage "unban without value" unban
usage "whitelist without subcommand" whitelist
usage "whitelist unknown subcommand" whitelist show
usage "whitelist list with an argument" whitelist list 10.0.0.0/8
usage "whitelist add without CIDR" whitelist add
usage "whitelist add bad CIDR" whitelist add 10.0.0.0/40
usage "whitelist del bad CIDR" whitelist del 10.0.0
usage "whitelist three arguments" whitelist add 10.0.0.0/8 x
usage "unknown option" threats --frobnicate
check "usage errors sent nothing" test "$(wc -l < "$work/sent")" -eq "$sent_before"
for cmd in threats reputation ban unban whitelist; do
    for flag in --help -h; do
        run "$cmd" "$flag"
        check "$cmd $flag: exit 0" test "$status" -eq 0
        check "$cmd $flag: usage line" has "usage: dpi-dualctl $cmd"
        check "$cmd $flag: the endpoint" has "correlation.query_endpoint"
        check "$cmd $flag: exit codes" has "no answer came within the"
        check "$cmd $flag: stderr empty" is_empty "$work/err"
    done
done
run --help
for cmd in threats reputation ban unban whitelist; do
    check "dpi-dualctl --help: $cmd" has "usage: dpi-dualctl $cmd"
done

# 4. an error reply
run threats -c "$work/err.yaml"
check "error reply: exit 1 (got $status)" test "$status" -eq 1
check "error reply: the error on stderr" err_has "dpi-dualctl threats: dpi-correlator refused: the correlator is still starting"
check "error reply: nothing on stdout" is_empty "$work/out"
run ban 10.0.0.0/8 --json -c "$work/err.yaml"
check "error reply --json: exit 1" test "$status" -eq 1
check "error reply --json: the reply on stdout" test "$(cat "$work/out")" = '{"ok":false,"error":"10.0.0.0/8 is whitelisted"}'
check "error reply --json: the error on stderr" err_has "dpi-correlator refused: 10.0.0.0/8 is whitelisted"
run whitelist list -c "$work/err.yaml"
check "no canned reply: exit 1" test "$status" -eq 1
check "no canned reply: said" err_has "no canned reply for whitelist"

# 5. nobody serves
start=$(date +%s%N)
run reputation 192.0.2.7 --timeout 300 -c "$work/none.yaml"
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "no server: exit 1 (got $status)" test "$status" -eq 1
check "no server: said" err_has "dpi-dualctl reputation: no answer from ipc://$work/run-none/correlator.query after 300 ms"
check "no server: names the correlator" err_has "after 300 ms: is dpi-correlator running?"
check "no server: within the timeout (took $took ms)" test "$took" -lt 2000
check "no server: nothing on stdout" is_empty "$work/out"
run ban 192.0.2.7 --timeout 300 -c "$work/none.yaml"
check "no server (ban): exit 1 (got $status)" test "$status" -eq 1

echo "it_ctl_correlator: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
