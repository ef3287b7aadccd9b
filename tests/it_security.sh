#!/bin/bash
# it_security.sh — the security checks of issue 19 as a test.
#  (a) files holding a secret are created 0600 whatever the umask (umask 000 here):
#      `keys new` (NAME.cert_secret), `keys api-token`, `keys forensic`; the forensic log
#      files written by a worker.
#  (b) every worker started as root with global.user gives root up: dpi-bridge-mitm,
#      dpi-buffer, dpi-correlator, dpi-api and dpi-collector (live on lo) as `nobody`:
#      /proc/PID/status Uid and Gid (real, effective, saved, fs) nobody's, Groups nobody's
#      groups only, CapEff/CapPrm 0; and they still write what they write after the
#      drop (the forensic log, the correlator's state, its heartbeat error counters 0).
#  (c) the secrets used by the run never show: the LAPI bouncer key and machine password
#      (a LAPI that first refuses the login, HTTP 500, then accepts: tests/lib/lapi_faults.py),
#      dpi-api's bearer token, the forensic key, the CURVE secret keys: grepped in every
#      worker's log (at debug), `config check` (and -v), `status` (text and --json), the
#      heartbeats (`tail sys.heartbeat`), the API's /api/dpi/status.
#  (d) an unlisted CURVE key gets nothing from the correlator's query service (no threats,
#      no ban made); a listed one is served. The bus side (an unlisted subscriber gets
#      nothing, refusals logged and counted) is tests/it_bus_auth.sh (2, 3) and
#      tests/it_two_hosts.sh (3): not repeated here.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
b=$BUILD_DIR
ctl="$b/ctl/dpi-dualctl"
. "$SOURCE_DIR/tests/lib/pipeline.sh"     # pl_yaml, pl_snap, pl_counter, pl_send
tmp=$(mktemp -d /tmp/it_security.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for log in "$tmp"/*.log; do [ -s "$log" ] && { echo "--- $log"; tail -n 15 "$log"; }; done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_security: FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done
}
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rows=()
row() { rows+=("$(printf '%-40s %s' "$1" "$2")"); }
[[ $(id -u) -eq 0 ]] || fail "must run as root (it checks the drop of root)"
id nobody > /dev/null || fail "no user nobody"

# --- (a) 0600 whatever the umask ---------------------------------------------------------
umask 000
mkdir -p "$tmp/keys" "$tmp/cli"
"$ctl" keys new server "$tmp/keys" > /dev/null || fail "keys new server"
"$ctl" keys new client "$tmp/cli" > /dev/null || fail "keys new client"
"$ctl" keys new intruder "$tmp/cli" > /dev/null || fail "keys new intruder"
"$ctl" keys api-token "$tmp/api.token" > /dev/null || fail "keys api-token"
"$ctl" keys forensic "$tmp/forensic.key" > /dev/null || fail "keys forensic"
umask 022
for f in keys/server.cert_secret cli/client.cert_secret cli/intruder.cert_secret api.token forensic.key; do
    m=$(stat -c %a "$tmp/$f")
    [[ $m == 600 ]] || fail "$f: mode $m, not 600 (created under umask 000)"
done
row "keys new / api-token / forensic" "cert_secret, token, key: 0600 under umask 000"
ok "(a) the secret files of keys new, keys api-token, keys forensic: 0600 under umask 000"

secret_of() { sed -n 's/^ *secret-key = "\(.*\)"$/\1/p' "$1"; }
token=$(cat "$tmp/api.token")
fkey=$(cat "$tmp/forensic.key")
lapikey="seckey-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
lapipw="secpw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
(umask 077; echo "$lapikey" > "$tmp/lapi.key"; printf 'login: dpisec\npassword: %s\n' "$lapipw" > "$tmp/lapi.creds")
secrets=("$token" "$fkey" "$lapikey" "$lapipw" "$(secret_of "$tmp/keys/server.cert_secret")"
         "$(secret_of "$tmp/cli/client.cert_secret")" "$(secret_of "$tmp/cli/intruder.cert_secret")")
for s in "${secrets[@]}"; do [[ ${#s} -ge 20 ]] || fail "a secret could not be read (got '$s')"; done

# --- the run: every worker as root, global.user nobody --------------------------------------
echo http500 > "$tmp/lapi.mode"         # the login refused first
$PY "$SOURCE_DIR/tests/lib/lapi_faults.py" "$tmp/lapi.port" "$tmp/lapi.mode" "$tmp/lapi.requests" \
    2> /dev/null & pids+=($!)
wait_for 10 test -s "$tmp/lapi.port" || fail "the LAPI stand-in did not start"
run=$tmp/run state=$tmp/state
mkdir -p "$run" "$state"
aport=$(free_port)
cfg=$tmp/dpi-dual.yaml
cat > "$cfg" <<YAML
global:
  host: sectest
  user: nobody
  run_dir: $run
  state_dir: $state
  compat: true
  compat_dir: $tmp/compat
tap:
  interface: lo
  bpf: "tcp port 9"
crowdsec:
  enabled: true
  lapi_url: http://127.0.0.1:$(cat "$tmp/lapi.port")/
  api_key_file: $tmp/lapi.key
  machine_credentials_file: $tmp/lapi.creds
  poll_interval: 1
api:
  enabled: true
  listen: "127.0.0.1:$aport"
  token_file: $tmp/api.token
YAML
{ pl_yaml "$run"; pl_yaml_buffer; } >> "$cfg"
cat >> "$cfg" <<YAML
  forensic:
    mode: all
    dir: $state/forensic
    key_file: $tmp/forensic.key
YAML
"$ctl" config check "$cfg" > "$tmp/check.out" 2>&1 || fail "config check: $(cat "$tmp/check.out")"
"$ctl" config check -v "$cfg" > "$tmp/check-v.out" 2>&1 || true
declare -A pid
start() { local name=$1; shift; "$@" -v > "$tmp/$name.log" 2>&1 & pids+=($!); pid[$name]=$!; }
start bridge "$b/bridge-mitm/dpi-bridge-mitm" -c "$cfg"
start buffer "$b/buffer/dpi-buffer" -c "$cfg"
start correlator "$b/correlator/dpi-correlator" -c "$cfg"
start api "$b/api/dpi-api" -c "$cfg"
start collector "$b/collector/dpi-collector" -c "$cfg"
dropped() { grep -q 'running as nobody' "$tmp/$1.log"; }
for w in bridge buffer correlator api collector; do
    wait_for 600 dropped $w || fail "$w: no 'running as nobody' (exit: $(kill -0 ${pid[$w]} 2>&1 || echo dead))"
done

# --- (b) /proc/PID/status --------------------------------------------------------------------
uid=$(id -u nobody) gid=$(id -g nobody)
groups=$(id -G nobody | tr ' ' '\n' | sort -n | tr '\n' ' ')
for w in bridge buffer correlator api collector; do
    st=/proc/${pid[$w]}/status
    for t in $(ls /proc/${pid[$w]}/task); do     # every thread
        s=/proc/${pid[$w]}/task/$t/status
        [[ $(awk '/^Uid:/ {print $2, $3, $4, $5}' "$s") == "$uid $uid $uid $uid" ]] \
            || fail "$w thread $t: $(grep ^Uid: "$s")"
        [[ $(awk '/^Gid:/ {print $2, $3, $4, $5}' "$s") == "$gid $gid $gid $gid" ]] \
            || fail "$w thread $t: $(grep ^Gid: "$s")"
        [[ $(awk '/^CapEff:/ {print $2}' "$s") == 0000000000000000 \
           && $(awk '/^CapPrm:/ {print $2}' "$s") == 0000000000000000 ]] \
            || fail "$w thread $t: $(grep -E '^Cap(Eff|Prm):' "$s" | tr '\n' ' ')"
    done
    g=$(awk '/^Groups:/ {$1=""; print}' "$st" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ' || true)
    [[ $g == "$groups" || -z $g ]] || fail "$w: Groups [$g], nobody's are [$groups]"
    row "$w (pid ${pid[$w]})" "Uid/Gid $uid/$gid x4, Groups [${g% }], CapEff/CapPrm 0, $(ls /proc/${pid[$w]}/task | wc -l) threads"
done
ok "(b) every worker as root dropped to nobody: Uid, Gid, Groups, capabilities (every thread)"

# the run: requests (the forensic log after the drop), the login refused then accepted
wait_for 600 test -S "$run/buffer.query" || fail "dpi-buffer did not start"
wait_for 30 test -S "$run/correlator.query" || fail "dpi-correlator did not start"
sendreq() { pl_send "$run/bridge-mitm.sock" "$@" > /dev/null; }
snap() { pl_snap "$cfg" "$tmp/status.json"; }
counter() { pl_counter "$tmp/status.json" "$1" "$2"; }
# until the correlator has the buffer's alerts (subscriptions are asynchronous)
warm() { sendreq 9 1 3; snap; [[ $(counter buffer forensic_records) -ge 1 && $(counter correlator alerts) -ge 1 ]]; }
wait_for 120 warm || fail "no forensic record written after the drop, or no alert reached the correlator"
sendreq 31 3 3          # bans: the login is tried, and refused
refused() { snap; [[ $(counter correlator lapi_login_errors) -ge 1 ]]; }
wait_for 60 refused || fail "no failing login"
echo good > "$tmp/lapi.mode"
pushed() { snap; [[ $(counter correlator lapi_pushed) -ge 1 ]]; }
wait_for 90 pushed || fail "the correlator's bans were not pushed once the login worked"
grep -q 'POST /v1/watchers/login: HTTP 500' "$tmp/correlator.log" || fail "the failing login was not logged"
[[ $(counter buffer forensic_write_errors) -eq 0 ]] || fail "forensic_write_errors after the drop: $(counter buffer forensic_write_errors)"
[[ $(counter correlator state_errors) -eq 0 ]] || fail "the correlator cannot save its state after the drop: $(grep reputation.db "$tmp/correlator.log" | tail -1)"
[[ $(counter correlator compat_errors) -eq 0 && $(counter correlator output_errors) -eq 0 ]] \
    || fail "the correlator's compat/output errors after the drop"
for f in "$state"/forensic/forensic-*.log; do
    [[ $(stat -c %a "$f") == 600 ]] || fail "$f: mode $(stat -c %a "$f")"
done
row "after the drop" "forensic log, state, compat written: 0 errors"
"$ctl" status -c "$cfg" > "$tmp/status.txt" 2>&1 || true
"$ctl" tail -c "$cfg" -n 20 --timeout 10 sys.heartbeat > "$tmp/heartbeats.jsonl" 2>&1 || true
curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$aport/api/dpi/status" > "$tmp/api-status.json"
grep -q '"workers"' "$tmp/api-status.json" || fail "dpi-api /api/dpi/status: $(head -c 300 "$tmp/api-status.json")"
curl -s -H "Authorization: Bearer wrong$token" "http://127.0.0.1:$aport/api/dpi/status" > "$tmp/api-wrong.json"
for w in bridge buffer correlator api collector; do kill -TERM "${pid[$w]}"; done
for w in bridge buffer correlator api collector; do wait "${pid[$w]}" || true; done
[[ -s $state/reputation.db ]] || fail "no state file after the correlator stopped"
grep -q 'reputation.db: cannot' "$tmp/correlator.log" && fail "the state could not be saved: $(grep reputation.db "$tmp/correlator.log" | tail -1)"
row "state file (no secret in it)" "$(stat -c %a "$state/reputation.db"), owner $(stat -c %U "$state/reputation.db")"

# --- (d) an unlisted CURVE key and the correlator's query service ----------------------------
mkdir -p "$tmp/allowed"
cp "$tmp/cli/client.cert" "$tmp/allowed/"
qport=$(free_port); pport=$(free_port)
cat > "$tmp/curve.yaml" <<YAML
global:
  run_dir: $tmp/crun
  state_dir: $tmp/cstate
bus:
  heartbeat_interval: 1
  endpoints:
    correlator: "tcp://127.0.0.1:$pport"
  curve:
    enabled: true
    cert: $tmp/keys/server.cert_secret
    allow_dir: $tmp/allowed
correlation:
  query_endpoint: "tcp://127.0.0.1:$qport"
YAML
client_yaml() {
    cat > "$1" <<YAML
global:
  run_dir: $tmp/ctlrun
bus:
  curve:
    enabled: true
    cert: $2
    server_cert: $tmp/keys/server.cert
correlation:
  query_endpoint: "tcp://127.0.0.1:$qport"
YAML
}
client_yaml "$tmp/good.yaml" "$tmp/cli/client.cert_secret"
client_yaml "$tmp/intruder.yaml" "$tmp/cli/intruder.cert_secret"
"$ctl" config check "$tmp/curve.yaml" >> "$tmp/check.out" 2>&1 || fail "config check (curve)"
"$b/correlator/dpi-correlator" -c "$tmp/curve.yaml" -v > "$tmp/curve-correlator.log" 2>&1 & pids+=($!)
served() { "$ctl" threats -c "$tmp/good.yaml" --timeout 3000 > "$tmp/good.out" 2>&1; }
wait_for 30 served || fail "a listed key is not served: $(cat "$tmp/good.out")"
set +e
"$ctl" threats -c "$tmp/intruder.yaml" --timeout 3000 > "$tmp/intruder.out" 2>&1; st1=$?
"$ctl" ban 192.0.2.99 -c "$tmp/intruder.yaml" --timeout 3000 > "$tmp/intruder-ban.out" 2>&1; st2=$?
set -e
[[ $st1 -ne 0 && $st2 -ne 0 ]] || fail "an unlisted key was answered (threats $st1, ban $st2)"
grep -q 'no answer' "$tmp/intruder.out" || fail "the intruder was told something: $(cat "$tmp/intruder.out")"
"$ctl" reputation 192.0.2.99 -c "$tmp/good.yaml" --json > "$tmp/rep.json" 2>&1 || true
$PY -c "import json; d=json.load(open('$tmp/rep.json')); assert not d.get('banned_until_ns'), d" \
    || fail "the unlisted key's ban was made: $(cat "$tmp/rep.json")"
row "unlisted CURVE key, query service" "threats: no answer; ban: not made (listed key served)"
ok "(d) an unlisted CURVE key gets nothing from the query service, its ban is not made"

# --- (e) a LAPI key or credentials file readable by others: used, and said with the fix ----
cp "$tmp/lapi.key" "$tmp/lapi-open.key"; cp "$tmp/lapi.creds" "$tmp/lapi-open.creds"
chmod 644 "$tmp/lapi-open.key" "$tmp/lapi-open.creds"
sed -e "s|$tmp/lapi.key|$tmp/lapi-open.key|; s|$tmp/lapi.creds|$tmp/lapi-open.creds|" "$cfg" > "$tmp/open.yaml"
"$b/tests/dpi-lapiprobe" -c "$tmp/open.yaml" --seconds 1 > /dev/null 2> "$tmp/probe-open.log" \
    || fail "lapi did not start on files of mode 0644: $(tail -3 "$tmp/probe-open.log")"
for k in api_key_file:lapi-open.key machine_credentials_file:lapi-open.creds; do
    grep -qE "crowdsec\.${k%%:*}: .*/${k#*:} has mode 0644: .*chmod 600" "$tmp/probe-open.log" \
        || fail "no warning for ${k#*:} (mode 0644): $(cat "$tmp/probe-open.log")"
done
row "LAPI key/credentials mode 0644" "used, one warning each with the chmod"
ok "(e) a LAPI key or credentials file readable by others is warned about, with the fix"

# --- (c) no secret anywhere -----------------------------------------------------------------
where=("$tmp"/*.log "$tmp/check.out" "$tmp/check-v.out" "$tmp/status.txt" "$tmp/status.json"
       "$tmp/heartbeats.jsonl" "$tmp/api-status.json" "$tmp/api-wrong.json" "$tmp/good.out"
       "$tmp/intruder.out" "$tmp/intruder-ban.out")
[[ $(grep -c '"topic"' "$tmp/heartbeats.jsonl") -ge 5 ]] || fail "too few heartbeats to look at"
for f in "${where[@]}"; do
    [[ -e $f ]] || fail "$f missing"
    for s in "${secrets[@]}"; do
        grep -qF -- "$s" "$f" && fail "a secret (${s:0:6}...) in $(basename "$f")"
    done
done
row "secrets in outputs" "${#secrets[@]} secrets, ${#where[@]} files (logs at debug, status, heartbeats, API): none"
ok "(c) no key, password or token in any log, config check, status, heartbeat or API answer"

pl_clean_logs "$tmp"/*.log "$tmp"/*.out
echo
echo "it_security: case                                     figures"
for r in "${rows[@]}"; do echo "  $r"; done
echo "it_security: ok"
