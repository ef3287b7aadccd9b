# tests/lib/mitm_chain.sh — start the real MITM chain on loopback, for the tests
# and the quick start (sourced; bash):
#   curl --TLS--> haproxy (deploy/haproxy/haproxy.cfg) --> mitmdump -s dpi_bridge.py
#        --> backend (tests/mitm/backend.py), the addon talking to dpi-bridge-mitm.
#
# The caller sets BUILD_DIR, SOURCE_DIR, TMP (a scratch directory it removes) and
# defines fail (message; exits). Then:
#   chain_ports N               CHAIN_PORTS: N free loopback ports
#   chain_tls                   TMP/site.pem for "shop.test"
#   chain_haproxy TLS_PORT MITM_PORT   TMP/haproxy.cfg from the shipped one, its ban
#                               list TMP/dpi-dual-banned.acl (created empty when missing);
#                               CHAIN_HAPROXY_STATS=PATH keeps the stats socket, at PATH;
#                               CHAIN_HAPROXY_BIND="ADDR..." the addresses HAProxy
#                               listens on (IPv4 or IPv6; default 127.0.0.1)
#   chain_spawn LOG CMD...      start CMD in the background (CHAIN_PIDS), output to LOG
#   chain_spawn_ns LOG CMD...   the same, in the network namespace CHAIN_NETNS
#   chain_stop                  kill what chain_spawn started
#   chain_wait SECONDS CMD...   run CMD every 0.1 s until it succeeds
#   port_open PORT              something listens on 127.0.0.1:PORT (of CHAIN_NETNS)
#   chain_mitmdump LOG MITM_PORT BACKEND_PORT SOCKET [--set k=v...]   (in CHAIN_NETNS)
#   chain_up BRIDGE_PID SOCKET BACKEND_PORT MITM_PORT TLS_PORT   wait for the bridge's
#                               socket (fail at once when the bridge exited), then for
#                               the backend, mitmdump and HAProxy to listen; generous
#                               bounds (the bridge compiles its rules first: 17 s in the
#                               ASan build at load 12)
# CHAIN_NETNS (default empty: the caller's own namespace) names the network namespace
# the MITM chain runs in (tests/it_correlator_netns.sh: a "router" namespace); haproxy,
# mitmdump and the backend then talk over that namespace's loopback, and the bridge's
# socket and the bus's ipc endpoints (paths) are reached from any namespace.
CHAIN_PIDS=()
CHAIN_PY=/usr/bin/python3
CHAIN_NETNS=${CHAIN_NETNS:-}

chain_ports() {
    read -r -a CHAIN_PORTS < <($CHAIN_PY - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
}

chain_tls() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=shop.test \
        -addext subjectAltName=DNS:shop.test -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
        2> /dev/null || fail "openssl could not make a test certificate"
    cat "$TMP/cert.pem" "$TMP/key.pem" > "$TMP/site.pem"
}

# The shipped haproxy.cfg with test ports and paths; the privileged, daemon and syslog
# lines of its global section go (run in the foreground, unprivileged paths), and the
# stats socket too unless CHAIN_HAPROXY_STATS names one.
chain_haproxy() {
    local tls=$1 mitm=$2 stats=${CHAIN_HAPROXY_STATS:-} drop='stats socket\|'
    local addr binds=
    [ -z "$stats" ] || drop=
    : >> "$TMP/dpi-dual-banned.acl"
    # one bind line per address (an IPv6 address's port follows its last colon)
    for addr in ${CHAIN_HAPROXY_BIND:-127.0.0.1}; do
        binds+="${binds:+\\n}\\1$addr:$tls \\2"
    done
    sed -e "s#/etc/dpi-dual/tls/site.pem#$TMP/site.pem#" \
        -e "s#^\( *bind \):443 \(.*\)\$#$binds#" \
        -e "s#127\.0\.0\.1:8080#127.0.0.1:$mitm#" \
        -e "s#/etc/haproxy/dpi-dual-banned\.acl#$TMP/dpi-dual-banned.acl#g" \
        -e "s#^\( *stats socket \)/run/haproxy/admin\.sock #\1$stats #" \
        -e "/^ *\(log \/dev\/log\|chroot\|${drop}user\|group\|daemon\)\b/d" \
        "$SOURCE_DIR/deploy/haproxy/haproxy.cfg" > "$TMP/haproxy.cfg"
    [ -z "$stats" ] || grep -q "^ *stats socket $stats " "$TMP/haproxy.cfg" \
        || fail "sed on haproxy.cfg: stats socket"
    for addr in ${CHAIN_HAPROXY_BIND:-127.0.0.1}; do
        grep -qF "bind $addr:$tls ssl crt $TMP/site.pem" "$TMP/haproxy.cfg" \
            || fail "sed on haproxy.cfg: bind $addr"
    done
    grep -q "server mitmdump 127.0.0.1:$mitm" "$TMP/haproxy.cfg" || fail "sed on haproxy.cfg: server"
    haproxy -c -q -f "$TMP/haproxy.cfg" || fail "haproxy -c rejects the test copy of haproxy.cfg"
}

chain_spawn() {
    local log=$1; shift
    "$@" > "$log" 2>&1 &
    CHAIN_PIDS+=($!)
}

chain_spawn_ns() {
    local log=$1; shift
    if [ -n "$CHAIN_NETNS" ]; then
        chain_spawn "$log" ip netns exec "$CHAIN_NETNS" "$@"    # (ip execs CMD: its pid)
    else
        chain_spawn "$log" "$@"
    fi
}

chain_stop() {
    local p
    for p in "${CHAIN_PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    CHAIN_PIDS=()
}

chain_wait() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}

port_open() {
    if [ -n "$CHAIN_NETNS" ]; then
        ip netns exec "$CHAIN_NETNS" bash -c "exec 3<> /dev/tcp/127.0.0.1/$1" 2> /dev/null
    else
        (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
    fi
}

chain_mitmdump() {
    local log=$1 port=$2 backend=$3 socket=$4; shift 4
    chain_spawn_ns "$log" mitmdump --mode "reverse:http://127.0.0.1:$backend" \
        --listen-host 127.0.0.1 --listen-port "$port" \
        -s "$SOURCE_DIR/deploy/mitmproxy/dpi_bridge.py" \
        --set connection_strategy=lazy --set keep_host_header=true --set flow_detail=0 \
        --set confdir="$TMP/mitmproxy" --set dpi_socket="$socket" \
        --set dpi_trusted_proxies=127.0.0.1 "$@"
}

chain_up() {
    local pid=$1 socket=$2 back=$3 mitm=$4 tls=$5
    _bridge_up() {
        kill -0 "$pid" 2> /dev/null || fail "dpi-bridge-mitm exited"
        test -S "$socket"
    }
    chain_wait 180 _bridge_up || fail "the bridge did not create its socket"
    chain_wait 60 port_open "$back" || fail "backend not listening"
    chain_wait 120 port_open "$mitm" || fail "mitmdump not listening"
    chain_wait 60 port_open "$tls" || fail "haproxy not listening"
}
