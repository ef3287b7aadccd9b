#!/bin/bash
# correlator/lapi.c against a real CrowdSec (Debian's 1.4.6): a private LAPI (tests/lib/crowdsec.sh),
# a bouncer key and a machine, and dpi-lapiprobe (tests/tools/lapiprobe.c) printing every decision
# lapi hands over, one JSON line each, and its counters when they change.
#   decisions in: an Ip, a Range and an IPv6 decision each handed over once (not again on the next
#   polls); a deletion handed over once; a ban pushed by the probe comes back in the stream.
#   alerts out: the pushed ban is a decision of origin dpi-dual for 1 h, its alert carries the meta.
#   unbans out: a ban pushed and unbanned in one go (in that order) leaves no decision of ours, and
#   a cscli decision for the same address stays (HTTP 200, nbDeleted counted); an unban while the
#   LAPI is down is counted, retried with the backoff, and done once it is back.
#   failures: a wrong key (403: counted, logged without the key); the LAPI stopped (counted, backoff
#   doubling) then restarted (recovers); a LAPI that never answers: lapi_destroy returns at once.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${BUILD_DIR:-$src/build}
probe=$build/tests/dpi-lapiprobe
[[ -x $probe ]] || { echo "it_lapi: FAIL: $probe not built"; exit 1; }
. "$src/tests/lib/crowdsec.sh"     # cs_require, cs_setup, cs_lapi_start, cs_lapi_stop
cs_require it_lapi
command -v jq > /dev/null || { echo "it_lapi: FAIL: jq is not installed (deploy/install-deps.sh installs it)"; exit 1; }

tmp=$(mktemp -d /tmp/it_lapi.XXXXXX)
probe_pid= hold_pid= unban_pid=
cleanup() {
    for p in $probe_pid $hold_pid $unban_pid ${cs_lapi_pid:-}; do { kill "$p" && wait "$p"; } 2>/dev/null || true; done
    [[ -n ${KEEP:-} ]] && echo "it_lapi: kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "it_lapi: FAIL: $*"; exit 1; }

cs_setup "$tmp/cs"
cscli() { command cscli -c "$cs_cfg" --error "$@"; }
cscli machines add dpitest --auto -f "$cs_d/local_api_credentials.yaml" --url "http://127.0.0.1:$cs_port/" > /dev/null
cs_lapi_start it_lapi
key=$(cscli bouncers add lapiprobe -o raw | tr -d '[:space:]')
[[ -n $key ]] || fail "cscli bouncers add gave no key"
echo "$key" > "$tmp/key"
cscli machines add dpiprobe --auto -f "$tmp/creds.yaml" --url "http://127.0.0.1:$cs_port/" > /dev/null
password=$(sed -n 's/^password: *//p' "$tmp/creds.yaml")
[[ -n $password ]] || fail "no password in the machine credentials"

config() {  # config FILE KEYFILE CREDSFILE [URL]
    cat > "$1" <<YAML
crowdsec:
  enabled: true
  lapi_url: ${4:-http://127.0.0.1:$cs_port/}
  api_key_file: "$2"
  poll_interval: 1
  machine_credentials_file: "$3"
YAML
}
# jq over the probe's decision lines: how many match FILTER
count() { jq -s "[.[] | select(has(\"id\")) | select($2)] | length" "$1"; }
last_stats() { jq -s "[.[] | select(has(\"stats\"))] | last | .stats.$2 // 0" "$1"; }
wait_for() {  # wait_for SECONDS DESC COMMAND...: until COMMAND succeeds
    local t=$1 what=$2
    shift 2
    for _ in $(seq 1 $((t * 5))); do "$@" && return 0; sleep 0.2; done
    echo "--- probe output"; cat "$tmp/probe.out"; echo "--- probe log"; cat "$tmp/probe.err"
    fail "$what"
}
ge() { [[ $(eval "$1") -ge $2 ]]; }

# --- 0. lapi_new refuses what it cannot use, naming the key, never the secret
config "$tmp/bad.yaml" "$tmp/nonexistent" ""
if "$probe" -c "$tmp/bad.yaml" --seconds 1 > /dev/null 2> "$tmp/bad.err"; then fail "a missing key file was accepted"; fi
grep -q 'crowdsec.api_key_file: .*nonexistent' "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "missing key file: no reason"; }
config "$tmp/bad.yaml" "$tmp/key" "" "ftp://127.0.0.1/"
if "$probe" -c "$tmp/bad.yaml" --seconds 1 > /dev/null 2> "$tmp/bad.err"; then fail "an ftp:// lapi_url was accepted"; fi
grep -q 'crowdsec.lapi_url' "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "bad lapi_url: no reason"; }
echo "it_lapi: refused: a missing key file, a non-http lapi_url"

# --- 1. the main probe: polls every second with the bouncer key
config "$tmp/probe.yaml" "$tmp/key" ""
"$probe" -c "$tmp/probe.yaml" > "$tmp/probe.out" 2> "$tmp/probe.err" &
probe_pid=$!
out=$tmp/probe.out
wait_for 10 "the probe never polled" ge "last_stats $out polls" 1
[[ $(last_stats "$out" poll_errors) -eq 0 ]] || { cat "$tmp/probe.err"; fail "poll errors against a fresh LAPI"; }

cscli decisions add -i 192.0.2.7 -d 1h > /dev/null
cscli decisions add -r 198.51.100.0/24 -d 2h -t captcha > /dev/null
cscli decisions add -i 2001:db8::7 -d 30m > /dev/null
wait_for 10 "the three decisions were not handed over" ge \
    "count $out '.deleted == false and (.value == \"192.0.2.7\" or .value == \"198.51.100.0/24\" or .value == \"2001:db8::7\")'" 3
p0=$(last_stats "$out" polls)
wait_for 10 "the probe stopped polling" ge "last_stats $out polls" $((p0 + 3))
for sel in '.value == "192.0.2.7" and .scope == "ip" and .type == "ban" and .origin == "cscli" and .duration_s > 3500 and .duration_s <= 3600' \
           '.value == "198.51.100.0/24" and .scope == "range" and .type == "captcha" and .duration_s > 7100 and .duration_s <= 7200' \
           '.value == "2001:db8::7" and .scope == "ip" and .duration_s > 1700 and .duration_s <= 1800'; do
    [[ $(count "$out" ".deleted == false and $sel") -eq 1 ]] || { cat "$out"; fail "not handed over exactly once: $sel"; }
done
echo "it_lapi: Ip, Range (captcha) and IPv6 decisions handed over once each, durations right, over $(( $(last_stats "$out" polls) - p0 )) more polls"

cscli decisions delete -i 192.0.2.7 > /dev/null
wait_for 10 "the deletion was not handed over" ge "count $out '.deleted and .value == \"192.0.2.7\"'" 1
p0=$(last_stats "$out" polls)
wait_for 10 "the probe stopped polling" ge "last_stats $out polls" $((p0 + 3))
[[ $(count "$out" '.deleted and .value == "192.0.2.7"') -eq 1 ]] || { cat "$out"; fail "the deletion was handed over more than once"; }
[[ $(count "$out" '.deleted and .value == "192.0.2.7" and .duration_s <= 0') -eq 1 ]] || { cat "$out"; fail "a deletion with time left"; }
[[ $(count "$out" '.deleted and .value != "192.0.2.7"') -eq 0 ]] || { cat "$out"; fail "other deletions"; }
echo "it_lapi: the deletion of 192.0.2.7 handed over once (repeated ones counted: $(last_stats "$out" decisions_repeated))"

# --- 2. a ban pushed (a push-only probe: the machine's credentials, no bouncer key)
config "$tmp/push.yaml" "" "$tmp/creds.yaml"
"$probe" -c "$tmp/push.yaml" --push 203.0.113.50 --seconds 4 > "$tmp/push.out" 2> "$tmp/push.err" || fail "push probe"
[[ $(last_stats "$tmp/push.out" pushed) -eq 1 && $(last_stats "$tmp/push.out" logins) -eq 1 ]] \
    || { cat "$tmp/push.out" "$tmp/push.err"; fail "the ban was not pushed"; }
cscli decisions list -a -o json > "$tmp/decisions.json"
jq -e '[.[] | .decisions[]? | select(.value == "203.0.113.50" and .origin == "dpi-dual" and .type == "ban"
        and .scope == "Ip" and .scenario == "dpi-dual/correlated-threat" and (.duration | test("^(59m|1h0m0)")))] | length == 1' \
    "$tmp/decisions.json" > /dev/null || { cat "$tmp/decisions.json"; fail "cscli decisions list -a: no dpi-dual ban of 1 h for 203.0.113.50"; }
cscli alerts list -a -o json > "$tmp/alerts.json"
aid=$(jq -r '[.[] | select(.scenario == "dpi-dual/correlated-threat")] | first | .id' "$tmp/alerts.json")
[[ $aid != null ]] || { cat "$tmp/alerts.json"; fail "cscli alerts list: no dpi-dual alert"; }
cscli alerts inspect "$aid" -o json > "$tmp/alert.json"
for kv in 'community_id 1:LQU9qZlK+B5F3KDmev6m5PMibrg=' 'request_ids probe-1,probe-2' 'score 87'; do
    set -- $kv
    jq -e --arg k "$1" --arg v "$2" '[.. | objects | select(.key? == $k and .value? == $v)] | length > 0' \
        "$tmp/alert.json" > /dev/null || { cat "$tmp/alert.json"; fail "alert $aid lacks meta $1=$2"; }
done
jq -e '.source.value == "203.0.113.50"' "$tmp/alert.json" > /dev/null || fail "alert source"
wait_for 10 "the pushed ban did not come back in the stream" ge \
    "count $out '.value == \"203.0.113.50\" and .origin == \"dpi-dual\" and .deleted == false'" 1
echo "it_lapi: pushed ban 203.0.113.50: decision origin dpi-dual for 1 h, alert $aid with its meta, back in the stream"

# --- 2b. unban: DELETE /v1/decisions?ip=..&origin=dpi-dual, after the push queued before it
origins() {   # origins IP: the origins of the active decisions for IP (the bouncer API's view)
    curl -s --max-time 5 -H "X-Api-Key: $key" "http://127.0.0.1:$cs_port/v1/decisions?ip=$1" \
        | jq -r '[(. // [])[] | .origin] | sort | join(" ")'
}
cscli decisions add -i 203.0.113.60 -d 1h > /dev/null
"$probe" -c "$tmp/push.yaml" --push 203.0.113.60 --unban 203.0.113.60 --seconds 4 \
    > "$tmp/unban.out" 2> "$tmp/unban.err" || fail "unban probe"
[[ $(last_stats "$tmp/unban.out" pushed) -eq 1 && $(last_stats "$tmp/unban.out" unbans) -eq 1 \
   && $(last_stats "$tmp/unban.out" unban_deleted) -eq 1 && $(last_stats "$tmp/unban.out" unban_errors) -eq 0 ]] \
    || { cat "$tmp/unban.out" "$tmp/unban.err"; fail "push then unban: counters"; }
[[ $(origins 203.0.113.60) == cscli ]] || fail "after the unban, 203.0.113.60 has [$(origins 203.0.113.60)], expected [cscli]"
[[ $(origins 203.0.113.50) == dpi-dual ]] || fail "another address's decision of ours went too: [$(origins 203.0.113.50)]"
echo "it_lapi: push + unban of 203.0.113.60: ours deleted (1), cscli's kept, 203.0.113.50's untouched"

# --- 3. a wrong key: 403s counted, logged, the key not in the log
echo "wrongkey0123456789abcdef" > "$tmp/wrongkey"
config "$tmp/wrong.yaml" "$tmp/wrongkey" ""
"$probe" -c "$tmp/wrong.yaml" --seconds 4 > "$tmp/wrong.out" 2> "$tmp/wrong.err" || fail "wrong-key probe"
[[ $(last_stats "$tmp/wrong.out" poll_errors) -ge 2 ]] || { cat "$tmp/wrong.out" "$tmp/wrong.err"; fail "wrong key: errors not counted"; }
grep -q 'HTTP 403' "$tmp/wrong.err" || { cat "$tmp/wrong.err"; fail "wrong key: 403 not logged"; }
if grep -q wrongkey0123456789abcdef "$tmp/wrong.err" "$tmp/wrong.out"; then fail "the key was logged"; fi
echo "it_lapi: wrong key: $(last_stats "$tmp/wrong.out" poll_errors) errors counted, HTTP 403 logged, the key not"

# --- 4. the LAPI stopped: errors counted with a doubling backoff; restarted: it recovers
cs_lapi_stop
e0=$(last_stats "$out" poll_errors)
wait_for 20 "errors not counted with the LAPI down" ge "last_stats $out poll_errors" $((e0 + 3))
grep -q 'next attempt in 4 s' "$tmp/probe.err" || { cat "$tmp/probe.err"; fail "no backoff logged"; }
cs_lapi_start it_lapi
cscli decisions add -i 192.0.2.8 -d 1h > /dev/null
wait_for 30 "no recovery after the LAPI restarted" ge "count $out '.value == \"192.0.2.8\"'" 1
echo "it_lapi: LAPI down: $(( $(last_stats "$out" poll_errors) - e0 )) errors, backoff 1, 2, 4 s...; restarted: recovered"

# --- 4b. an unban while the LAPI is down: counted, retried, done when it is back
cs_lapi_stop
"$probe" -c "$tmp/push.yaml" --unban 203.0.113.50 --seconds 30 > "$tmp/unban2.out" 2> "$tmp/unban2.err" &
unban_pid=$!
wait_for 10 "the unban's failures not counted" ge "last_stats $tmp/unban2.out login_errors" 1
cs_lapi_start it_lapi
wait_for 20 "the unban was not done once the LAPI was back" ge "last_stats $tmp/unban2.out unban_deleted" 1
kill -TERM $unban_pid; wait $unban_pid || fail "unban probe exit status"
[[ $(origins 203.0.113.50) == "" ]] || fail "203.0.113.50 still has [$(origins 203.0.113.50)]"
echo "it_lapi: unban with the LAPI down: $(last_stats "$tmp/unban2.out" login_errors) failed logins, then done" \
     "(unbans $(last_stats "$tmp/unban2.out" unbans), deleted $(last_stats "$tmp/unban2.out" unban_deleted))"

for f in "$tmp/probe.err" "$tmp/push.err" "$tmp/wrong.err" "$tmp/probe.out" "$tmp/push.out" \
         "$tmp/unban.err" "$tmp/unban2.err"; do
    if grep -qF -- "$key" "$f" || grep -qF -- "$password" "$f"; then fail "a key or password in $f"; fi
done
kill -TERM $probe_pid; wait $probe_pid || fail "probe exit status"; probe_pid=
ms=$(jq -s '[.[] | select(has("destroy_ms"))] | last | .destroy_ms' "$out")
[[ $ms -lt 1500 ]] || fail "lapi_destroy took $ms ms"

# --- 5. a LAPI that accepts and never answers: lapi_destroy mid-request returns promptly
hold_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); held = []
while True: held.append(s.accept()[0])' "$hold_port" &
hold_pid=$!
sleep 0.3
config "$tmp/hold.yaml" "$tmp/key" "" "http://127.0.0.1:$hold_port"
t0=$(date +%s%N)
"$probe" -c "$tmp/hold.yaml" --seconds 2 > "$tmp/hold.out" 2> "$tmp/hold.err" || fail "hold probe"
t=$(( ($(date +%s%N) - t0) / 1000000 ))
ms=$(jq -s '[.[] | select(has("destroy_ms"))] | last | .destroy_ms' "$tmp/hold.out")
[[ $ms -lt 1500 && $t -lt 4000 ]] || { cat "$tmp/hold.out" "$tmp/hold.err"; fail "mid-request stop took $ms ms (run $t ms)"; }
echo "it_lapi: stopped mid-request in $ms ms"
echo "it_lapi: ok"
