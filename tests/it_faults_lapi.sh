#!/bin/bash
# it_faults_lapi.sh — a CrowdSec LAPI down, slow or answering garbage (issue 19, Faults).
# What tests/it_lapi.sh covers against the real CrowdSec is not repeated here: the LAPI
# stopped and restarted (polls: errors counted with a doubling backoff, then recovery; an
# unban queued while down and done once back), a wrong key (403), a LAPI that accepts and
# never answers (lapi_destroy returns at once). Added here, with tests/lib/lapi_faults.py
# (a server that misbehaves on demand: fault injection, not a stand-in for CrowdSec):
#  (a) correlator/lapi.c alone (dpi-lapiprobe), one case each, all at once: nothing
#      listening; an answer after 8 s (past the 5 s timeout); invalid JSON; wrong types;
#      decisions with wrong types next to a good one; a body cut short; HTTP 500 with a
#      newline and an escape byte in its body; an 80 MiB body (past the 64 MiB bound).
#      With a ban queued (--push) meanwhile. Each: a precise error logged, poll errors
#      counted, no crash; then the LAPI turned good: the decisions handed over, the queued
#      ban pushed (time to recover printed); the key and the password in no output.
#  (b) bans the LAPI answers 500 (POST /v1/alerts): once, kept and pushed at the next try;
#      every time, tried 3 times then counted as refused, one for one.
#  (c) dpi-correlator with the real bridge and buffer, the LAPI down: it keeps correlating,
#      its bans are enforced by the bridge (the attacker's next request blocked, ban-list),
#      LAPI errors in its heartbeat; more bans than the queue holds (256): the rest counted
#      (lapi_push_dropped); the LAPI back: every queued ban pushed, bans = pushed + dropped.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
b=$BUILD_DIR
ctl="$b/ctl/dpi-dualctl"
probe="$b/tests/dpi-lapiprobe"
faults="$SOURCE_DIR/tests/lib/lapi_faults.py"
. "$SOURCE_DIR/tests/lib/pipeline.sh"     # pl_yaml, pl_start, pl_snap, pl_counter, pl_send
tmp=$(mktemp -d /tmp/it_faults_lapi.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for log in "$tmp"/*.err "$tmp"/correlator.log; do
            [ -s "$log" ] && { echo "--- $log"; tail -n 15 "$log"; }
        done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_faults_lapi: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done
}
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
rows=()
row() { rows+=("$(printf '%-11s %-52s %s' "$1" "$2" "$3")"); }

key="faultkey-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
password="faultpw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
(umask 077; echo "$key" > "$tmp/key"; printf 'login: dpifault\npassword: %s\n' "$password" > "$tmp/creds")

# server NAME MODE [PORT]: a fault server in the background; its port in $tmp/NAME.port
server() {
    echo "$2" > "$tmp/$1.mode"
    $PY "$faults" "$tmp/$1.port" "$tmp/$1.mode" "$tmp/$1.requests" ${3:-} 2> "$tmp/$1.server.err" &
    pids+=($!)
    wait_for 10 test -s "$tmp/$1.port" || fail "$1: the fault server did not start"
}
config() {  # config FILE PORT
    cat > "$1" <<YAML
crowdsec:
  enabled: true
  lapi_url: http://127.0.0.1:$2/
  api_key_file: $tmp/key
  machine_credentials_file: $tmp/creds
  poll_interval: 1
YAML
}
stat_of() { jq -s "[.[] | select(has(\"stats\"))] | last | .stats.$2 // 0" "$tmp/$1.out"; }
decisions() { jq -s "[.[] | select(has(\"id\")) | select(.id == $2)] | length" "$tmp/$1.out"; }
ge() { [[ $($1 "$2" "$3") -ge $4 ]]; }

# --- (a) one probe per fault, at once -----------------------------------------------------
cases="down slow bad-json bad-types bad-items truncated http500 huge"
declare -A port
for c in $cases; do
    if [[ $c == down ]]; then port[$c]=$(free_port); else server "$c" "$c"; port[$c]=$(cat "$tmp/$c.port"); fi
    config "$tmp/$c.yaml" "${port[$c]}"
    "$probe" -c "$tmp/$c.yaml" --push 203.0.113.7 > "$tmp/$c.out" 2> "$tmp/$c.err" &
    pids+=($!)
    eval "probe_$(echo "$c" | tr - _)=$!"
done
probe_pid() { eval "echo \$probe_$(echo "$1" | tr - _)"; }
for c in $cases; do
    if [[ $c == bad-items ]]; then
        wait_for 30 ge stat_of "$c" decisions_malformed 5 || fail "$c: the malformed decisions not counted"
        wait_for 30 ge decisions "$c" 2 1 || fail "$c: the good decision next to them not handed over"
    else
        n=2; [[ $c == slow ]] && n=1          # 5 s each: one is enough
        wait_for 40 ge stat_of "$c" poll_errors $n || fail "$c: poll errors not counted"
    fi
    kill -0 "$(probe_pid "$c")" || fail "$c: the probe died"
done
[[ $(stat_of bad-items poll_errors) -eq 0 ]] || fail "bad-items: a stream with some bad decisions failed as a whole"
declare -A expect=(
    [down]='GET /v1/decisions/stream: (Failed to connect|Could not connect|Connection refused)'
    [slow]='GET /v1/decisions/stream: (Operation timed out|Timeout was reached)'
    [bad-json]='GET /v1/decisions/stream: bad JSON: '
    [bad-types]='GET /v1/decisions/stream: bad JSON: not the stream'"'"'s object'
    [truncated]='GET /v1/decisions/stream: (transfer closed|Transferred a partial file)'
    [http500]='GET /v1/decisions/stream: HTTP 500: '
    [huge]='GET /v1/decisions/stream: (Failure writing output|Failed writing|Operation timed out)'  # the bound, or the timeout when the server is slow to send 80 MiB
)
for c in "${!expect[@]}"; do
    grep -qE "crowdsec lapi: ${expect[$c]}" "$tmp/$c.err" || fail "$c: no precise error (/${expect[$c]}/)"
done
# the LAPI's 500 body is logged: never a line of its own, never a raw control byte
[[ $(grep -c 'injected line' "$tmp/http500.err") -eq $(grep -c 'HTTP 500: .*injected line' "$tmp/http500.err") ]] \
    || fail "http500: the LAPI's body broke the log line: $(grep -n injected "$tmp/http500.err" | head -3)"
grep -q $'\x1b' "$tmp/http500.err" && fail "http500: a raw escape byte from the LAPI reached the log"
for c in $cases; do
    what=$(grep -m1 -oE 'crowdsec lapi: [^(]{0,60}' "$tmp/$c.err" | cut -c16-) || true
    [[ $c == bad-items ]] && what="$(stat_of "$c" decisions_malformed) bad decisions counted, the good one taken"
    row "$c" "$what" \
        "$(stat_of "$c" poll_errors) poll errors, $(stat_of "$c" login_errors) login errors"
done
ok "(a) every fault: a precise error, counted, no crash"

# the LAPI good again: decisions handed over and the queued ban pushed
t0=$(now_ms)
for c in $cases; do
    if [[ $c == down ]]; then server down good "${port[down]}"; else echo good > "$tmp/$c.mode"; fi
done
pushed_ok() { ge stat_of "$1" pushed 1 && ge decisions "$1" 1 1; }
declare -A rec
left=$cases
while [[ -n ${left// /} ]]; do
    [[ $(( $(now_ms) - t0 )) -lt 90000 ]] || fail "no recovery once the LAPI answered well: $left"
    for c in $left; do
        pushed_ok "$c" && { rec[$c]=$(( $(now_ms) - t0 )); left=${left/$c/}; }
    done
    sleep 0.1
done
for c in $cases; do
    grep -q '"ips": \["203.0.113.7"\]' "$tmp/$c.requests" || fail "$c: the queued ban never reached the LAPI"
    [[ $(stat_of "$c" push_refused) -eq 0 && $(stat_of "$c" push_dropped) -eq 0 ]] || fail "$c: the ban dropped"
    kill -TERM "$(probe_pid "$c")"; wait "$(probe_pid "$c")" || fail "$c: probe exit status"
    for f in "$tmp/$c.out" "$tmp/$c.err"; do
        grep -qF -- "$key" "$f" && fail "$c: the key in $f"
        grep -qF -- "$password" "$f" && fail "$c: the password in $f"
    done
    row "$c" "then good: decision handed over, queued ban pushed" "after ${rec[$c]} ms (backoff)"
done
ok "(a) the LAPI good again: every probe recovered, the queued ban pushed; key and password never printed"

# --- (b) bans refused by the LAPI: retried on 5xx, then counted one for one ------------------
# A 500 once (a LAPI restarting): kept, pushed at the next try. A 500 every time: tried 3
# times (poll_interval 1: at 0, ~1 and ~3 s), then dropped and counted as refused.
# push_only NAME MODE IP SECONDS: a fault server in MODE, dpi-lapiprobe pushing a ban of IP
# for SECONDS (no polling); $sent: the POSTs that carried IP
push_only() {
    server "$1" "$2"
    config "$tmp/$1.yaml" "$(cat "$tmp/$1.port")"
    sed -i '/api_key_file/d' "$tmp/$1.yaml"
    "$probe" -c "$tmp/$1.yaml" --push "$3" --seconds "$4" > "$tmp/$1.out" 2> "$tmp/$1.err" \
        || fail "$1: probe exit status"
    sent=$(grep -c "\"ips\": \[\"$3\"\]" "$tmp/$1.requests" || true)
    grep -q 'POST /v1/alerts: HTTP 500' "$tmp/$1.err" || fail "$1: the 500 not logged"
}
push_only retry alerts500once 203.0.113.9 4
[[ $(stat_of retry pushed) -eq 1 && $(stat_of retry push_retries) -eq 1 && $sent -eq 2
   && $(stat_of retry push_refused) -eq 0 ]] \
    || fail "retry: pushed $(stat_of retry pushed), push_retries $(stat_of retry push_retries), $sent POSTs, refused $(stat_of retry push_refused)"
row "alerts500once" "a ban answered 500 once: kept, pushed next try" "pushed 1, push_retries 1, $sent POSTs"
push_only refuse alerts500 203.0.113.8 6
[[ $(stat_of refuse push_refused) -eq 1 && $sent -eq 3 && $(stat_of refuse push_retries) -eq 2
   && $(stat_of refuse pushed) -eq 0 ]] \
    || fail "refuse: push_refused $(stat_of refuse push_refused), $sent POSTs, push_retries $(stat_of refuse push_retries), pushed $(stat_of refuse pushed)"
row "alerts500" "a ban answered 500 three times: dropped" "push_refused $(stat_of refuse push_refused), 3 POSTs of it"
ok "(b) a ban answered 500: retried (twice), then counted as refused"

# --- (c) the correlator with the LAPI down ---------------------------------------------------
run=$tmp/run
mkdir -p "$run"
cport=$(free_port)
cfg=$tmp/dpi-dual.yaml
cat > "$cfg" <<YAML
global:
  host: faultlapi
  run_dir: $run
  state_dir: $tmp/state
correlation:
  threat_threshold: 50
YAML
{ pl_yaml "$run"; pl_yaml_buffer; } >> "$cfg"
config "$tmp/cs.yaml" "$cport"
cat "$tmp/cs.yaml" >> "$cfg"
"$ctl" config check "$cfg" > "$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "config check"; }
pl_start "$cfg" "$run" "$tmp"
cor_pid=${pl_pid[correlator]}
snap() { pl_snap "$cfg" "$tmp/status.json"; }
counter() { pl_counter "$tmp/status.json" "$1" "$2"; }
send() { pl_send "$run/bridge-mitm.sock" "$@" > "$tmp/last.json"; }
send 21 300 0
[[ $(jq .timeouts "$tmp/last.json") -eq 0 ]] || fail "(c) live verdicts not answered with the LAPI down"
banned() { snap; [[ $(counter correlator bans) -ge 300 ]]; }
wait_for 600 banned || fail "(c) the correlator did not ban the 300 attackers with the LAPI down ($(counter correlator bans))"
# the bans hold locally: an attacker's next clean request is blocked (ban list), others pass
send 21 3 0 1 clean
[[ $(jq .blocks "$tmp/last.json") -eq 3 ]] || fail "(c) banned attackers not blocked"
send 22 0 3
[[ $(jq .blocks "$tmp/last.json") -eq 0 ]] || fail "(c) clean clients blocked"
snap
bans=$(counter correlator bans) threats=$(counter correlator threats)
pe=$(counter correlator lapi_poll_errors) le=$(counter correlator lapi_login_errors)
dropped=$(counter correlator lapi_push_dropped)
[[ $pe -ge 1 && $le -ge 1 ]] || fail "(c) LAPI errors not in the heartbeat (poll $pe, login $le)"
[[ $dropped -ge 1 ]] || fail "(c) more bans than the queue holds, none counted dropped"
grep -q 'crowdsec lapi: .*Failed to connect\|crowdsec lapi: .*Could not connect\|Connection refused' "$tmp/correlator.log" \
    || fail "(c) the correlator did not log the LAPI down"
row "correlator" "LAPI down: $threats threats, $bans bans enforced" "poll errors $pe, login errors $le, push dropped $dropped"
ok "(c) LAPI down: the correlator correlates and bans, the bridge enforces, errors in the heartbeat"
t0=$(now_ms)
server cor good "$cport"
all_pushed() { snap; [[ $(( $(counter correlator lapi_pushed) + $(counter correlator lapi_push_dropped) )) -ge $bans ]]; }
wait_for 600 all_pushed || fail "(c) not every queued ban pushed: pushed $(counter correlator lapi_pushed), dropped $(counter correlator lapi_push_dropped), bans $bans"
t_push=$(( $(now_ms) - t0 ))
snap
pushed=$(counter correlator lapi_pushed) dropped=$(counter correlator lapi_push_dropped)
refused=$(counter correlator lapi_push_refused)
arrived=$(jq -s '[.[] | .ips[]?] | length' "$tmp/cor.requests")
[[ $((pushed + dropped + refused)) -eq $bans && $arrived -eq $pushed ]] \
    || fail "(c) bans $bans != pushed $pushed + dropped $dropped + refused $refused (arrived at the LAPI: $arrived)"
kill -0 $cor_pid || fail "the correlator died"
row "correlator" "LAPI back: queued bans pushed" "$pushed pushed (all arrived) + $dropped dropped = $bans bans, in $t_push ms"
for f in "$tmp"/*.log "$tmp/status.json" "$tmp/check.out"; do
    grep -qF -- "$key" "$f" && fail "the key in $f"
    grep -qF -- "$password" "$f" && fail "the password in $f"
done
ok "(c) the LAPI back: pushed + dropped = bans, each pushed ban arrived; no secret in any log"

pl_clean_logs "$tmp"/*.log "$tmp"/*.err
echo
echo "it_faults_lapi: case        what                                                 figures"
for r in "${rows[@]}"; do echo "  $r"; done
echo "it_faults_lapi: ok"
