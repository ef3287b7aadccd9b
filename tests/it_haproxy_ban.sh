#!/bin/bash
# Bans enforced by HAProxy (correlator/haproxy.c, through dpi-hapban), with the real
# haproxy running deploy/haproxy/haproxy.cfg (test ports, a test-owned stats socket and
# ACL file) in front of tests/mitm/backend.py:
#   a ban of 127.0.0.2 refuses it at HAProxy (the backend never sees the request) while
#   127.0.0.3 passes; a request on a connection opened before the ban gets 403; unban;
#   a CIDR ban (host bits cleared); IPv6 ::1 when loopback IPv6 is there; the ACL file
#   holds the bans and a restarted haproxy keeps them; with haproxy down a ban is
#   counted as an error, queued, and applied by haproxy_tick when it is back;
#   a ban with an expiry is kept in the file with it and lifted when its time is up;
#   "1.2.3.4\nshow info" and the like never reach the socket.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
PY=/usr/bin/python3
hapban="$BUILD_DIR/tests/dpi-hapban"
[ -x "$hapban" ] || { echo "it_haproxy_ban: $hapban is not built"; exit 1; }
for tool in haproxy openssl curl; do
    command -v "$tool" > /dev/null || { echo "it_haproxy_ban: $tool is not installed"; exit 1; }
done

tmp=$(mktemp -d)
hap_pid=
cleanup() {
    local rc=$?
    [ -z "$hap_pid" ] || kill "$hap_pid" 2> /dev/null || true
    chain_stop
    if [ $rc -ne 0 ]; then
        for log in haproxy.log hapban.out hapban.err backend.log; do
            [ -s "$tmp/$log" ] && { echo "--- $log"; tail -n 30 "$tmp/$log"; }
        done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
fail() { echo "it_haproxy_ban: FAIL: $*"; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

TMP=$tmp
. "$SOURCE_DIR/tests/lib/mitm_chain.sh"      # chain_ports, chain_tls, chain_haproxy, ...

chain_ports 2
read -r p_tls p_back <<< "${CHAIN_PORTS[*]}"
sock="$tmp/admin.sock" acl="$tmp/dpi-dual-banned.acl"
chain_tls
CHAIN_HAPROXY_STATS=$sock chain_haproxy "$p_tls" "$p_back"
grep -q "^ *tcp-request connection reject if { src -f $acl }" "$tmp/haproxy.cfg" \
    || fail "haproxy.cfg: no tcp-request connection reject on the ACL file"
grep -q "^ *http-request deny deny_status 403 if { src -f $acl }" "$tmp/haproxy.cfg" \
    || fail "haproxy.cfg: no http-request deny on the ACL file"

# IPv6: a second bind on ::1 when the loopback has it
v6=no
if ip -6 addr show dev lo 2> /dev/null | grep -q 'inet6 ::1/128' \
    && $PY -c "import socket; socket.socket(socket.AF_INET6).bind(('::1', 0))" 2> /dev/null; then
    v6=yes
    sed -i "s#^\( *\)bind 127.0.0.1:$p_tls \(.*\)#&\n\1bind [::1]:$p_tls \2#" "$tmp/haproxy.cfg"
    grep -q "bind \[::1\]:$p_tls ssl" "$tmp/haproxy.cfg" || fail "sed on haproxy.cfg: ::1 bind"
    haproxy -c -q -f "$tmp/haproxy.cfg" || fail "haproxy -c rejects the ::1 bind"
fi

chain_spawn "$tmp/backend.out" $PY "$SOURCE_DIR/tests/mitm/backend.py" "$p_back" "$tmp/backend.log"
chain_wait 10 port_open "$p_back" || fail "backend did not start"

hap_start() {
    haproxy -db -f "$tmp/haproxy.cfg" >> "$tmp/haproxy.log" 2>&1 &
    hap_pid=$!
    chain_wait 10 port_open "$p_tls" || fail "haproxy did not start"
    chain_wait 10 test -S "$sock" || fail "haproxy made no stats socket"
}
hap_stop() {
    kill "$hap_pid"; wait "$hap_pid" 2> /dev/null || true; hap_pid=
    rm -f "$sock"
}
hap_cmd() {
    $PY - "$sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while chunk := s.recv(4096):
    out += chunk
sys.stdout.write(out.decode())
PY
}

# get SRC TAG: the HTTP status of GET /TAG from SRC ("000": no answer)
get() {
    local src=$1 tag=$2 host=127.0.0.1
    case $src in *:*) host="[::1]" ;; esac
    curl -sk --max-time 5 --interface "$src" --resolve "shop.test:$p_tls:$host" \
        -o /dev/null -w '%{http_code}' "https://shop.test:$p_tls/$tag" || true
}
seen() { grep -qx "GET /$1" "$tmp/backend.log" 2> /dev/null; }
passes() {
    local code; code=$(get "$1" "$2")
    [ "$code" = 200 ] && seen "$2" || fail "$1 /$2: $code, expected to pass"
}
refused() {
    local code; code=$(get "$1" "$2")
    [ "$code" = 000 ] || fail "$1 /$2: $code, expected the connection refused"
    ! seen "$2" || fail "$1 /$2 reached the backend"
}
ban() { "$hapban" "$sock" "$acl" "$@" > "$tmp/hapban.out" 2> "$tmp/hapban.err"; }
acl_is() { [ "$(cat "$acl")" = "$(printf "$1")" ] || fail "ACL file: '$(cat "$acl")', expected '$1'"; }

hap_start
passes 127.0.0.2 a1
passes 127.0.0.3 a2
ok "127.0.0.2 and 127.0.0.3 pass"

ban ban 127.0.0.2 || fail "ban 127.0.0.2: $(cat "$tmp/hapban.out")"
grep -q "^127.0.0.2 applied" "$tmp/hapban.out" || fail "ban 127.0.0.2 not applied"
refused 127.0.0.2 b1
passes 127.0.0.3 b2
acl_is '127.0.0.2'
ok "banned 127.0.0.2 is refused before the backend, 127.0.0.3 passes, the file holds it"

# A connection opened before the ban: its next request is denied 403 (http-request deny)
$PY - "$p_tls" "$hapban" "$sock" "$acl" <<'PY' || fail "keep-alive connection after a ban"
import http.client, ssl, subprocess, sys
port, hapban, sock, acl = int(sys.argv[1]), *sys.argv[2:]
ctx = ssl._create_unverified_context()
c = http.client.HTTPSConnection("127.0.0.1", port, source_address=("127.0.0.4", 0), context=ctx)
c.request("GET", "/k1", headers={"Host": "shop.test"}); r = c.getresponse(); r.read()
assert r.status == 200, r.status
subprocess.run([hapban, sock, acl, "ban", "127.0.0.4"], check=True, capture_output=True)
c.request("GET", "/k2", headers={"Host": "shop.test"}); r = c.getresponse(); r.read()
assert r.status == 403, r.status
subprocess.run([hapban, sock, acl, "unban", "127.0.0.4"], check=True, capture_output=True)
PY
seen k1 && ! seen k2 || fail "keep-alive: the backend log is wrong"
ok "a request on a connection opened before the ban gets 403 and never reaches the backend"

ban unban 127.0.0.2 || fail "unban 127.0.0.2"
passes 127.0.0.2 c1
acl_is ''
ok "unbanned 127.0.0.2 passes again, the file is empty"

ban ban 127.0.0.9/29 || fail "ban 127.0.0.9/29"
refused 127.0.0.9 d1
refused 127.0.0.14 d2
passes 127.0.0.3 d3
acl_is '127.0.0.8/29'
ok "a CIDR ban (127.0.0.9/29 written 127.0.0.8/29) refuses 127.0.0.9 and .14, not .3"

if [ $v6 = yes ]; then
    passes ::1 e1
    ban ban ::1 || fail "ban ::1"
    refused ::1 e2
    passes 127.0.0.3 e3
    ban unban ::1 || fail "unban ::1"
    passes ::1 e4
    ok "IPv6: ::1 passes, is refused when banned, passes when unbanned"
else
    echo "SKIP (not a pass): IPv6 ban/unban: no ::1 on the loopback"
fi

ban ban 127.0.0.2 2001:db8::7/48 || fail "ban 127.0.0.2 2001:db8::7/48"
acl_is '127.0.0.8/29\n127.0.0.2\n2001:db8::/48'
hap_stop
hap_start
refused 127.0.0.2 f1
refused 127.0.0.9 f2
passes 127.0.0.3 f3
hap_cmd "show acl $acl" | grep -q ' 2001:db8::/48$' || fail "restart: 2001:db8::/48 not loaded"
ok "after a haproxy restart the rewritten file keeps the bans"

# HAProxy down: counted, queued; applied by haproxy_tick once it is back. The file
# loses 127.0.0.5 before haproxy starts, so only the retry can ban it.
hap_stop
"$hapban" -w 20 "$sock" "$acl" ban 127.0.0.5 > "$tmp/hapban.out" 2> "$tmp/hapban.err" &
ban_pid=$!
chain_wait 5 grep -q "add acl 127.0.0.5: .*kept for a retry" "$tmp/hapban.err" \
    || fail "no error logged with haproxy down"
grep -qx 127.0.0.5 "$acl" || fail "the queued ban is not in the file"
sed -i '/^127\.0\.0\.5$/d' "$acl"
hap_start
wait $ban_pid || fail "dpi-hapban -w: $(cat "$tmp/hapban.out")"
grep -q "^127.0.0.5 queued" "$tmp/hapban.out" || fail "the ban was not queued"
grep -Eq "^added=1 removed=0 errors=[1-9][0-9]* pending=0 file_errors=0$" "$tmp/hapban.out" \
    || fail "counters: $(tail -n 1 "$tmp/hapban.out")"
refused 127.0.0.5 g1
passes 127.0.0.3 g2
ok "a ban sent while haproxy is down is counted, queued, and applied when it is back"

# An expiring ban (-e 2: haproxy_ban_until): refused, in the file after its "# dpi-dual until"
# comment (which haproxy -c and a restart accept); lifted by haproxy_tick when its time is up.
"$hapban" -w 10 -e 2 "$sock" "$acl" ban 127.0.0.6 > "$tmp/hapban.out" 2> "$tmp/hapban.err" &
ban_pid=$!
chain_wait 5 grep -q "^127.0.0.6 applied" "$tmp/hapban.out" || fail "expiring ban not applied"
grep -B1 -x 127.0.0.6 "$acl" | grep -q '^# dpi-dual until [0-9]* (20[0-9-]*T[0-9:]*Z)$' \
    || fail "no expiry comment in the file: $(cat "$acl")"
haproxy -c -q -f "$tmp/haproxy.cfg" || fail "haproxy -c rejects the ACL file with its comment"
refused 127.0.0.6 h1
wait $ban_pid || fail "dpi-hapban -e: $(cat "$tmp/hapban.out")"
grep -qx "expired=1" "$tmp/hapban.out" || fail "not expired: $(cat "$tmp/hapban.out")"
! grep -q '127\.0\.0\.6' "$acl" || fail "the expired ban is still in the file: $(cat "$acl")"
! hap_cmd "show acl $acl" | grep -q ' 127\.0\.0\.6$' || fail "the expired ban is still in HAProxy"
passes 127.0.0.6 h2
refused 127.0.0.5 h3
ok "an expiring ban is refused, kept in the file with its expiry, lifted when its time is up"

for bad in $'1.2.3.4\nshow info' '1.2.3.4;show info' '1.2.3.4 show info' '1.2.3.4/33' \
           'shop.test' '' $'::1\r'; do
    rc=0; ban ban "$bad" || rc=$?
    [ $rc = 2 ] && grep -q "invalid$" "$tmp/hapban.out" \
        || fail "'$bad' was not refused (exit $rc)"
    grep -q "added=0 removed=0 errors=0 pending=0" "$tmp/hapban.out" || fail "'$bad' was sent"
done
! hap_cmd "show acl $acl" | grep -q '1\.2\.3\.4' || fail "1.2.3.4 reached HAProxy"
! grep -q '1\.2\.3\.4' "$acl" || fail "1.2.3.4 reached the ACL file"
ok "injection attempts and non-addresses are refused before the socket"

echo "it_haproxy_ban: $passed passed$([ $v6 = yes ] || echo ', IPv6 SKIPPED')"
