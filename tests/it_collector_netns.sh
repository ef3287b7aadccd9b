#!/bin/bash
# dpi-collector on REAL traffic: two network namespaces joined by a veth
# pair; in the server one python3 -m http.server (HTTP, over IPv4 and IPv6),
# openssl s_server with a certificate made here (TLS) and a python DNS
# responder; from the client one curl (HTTP, HTTPS with SNI
# www.example.test) and a DNS query. tcpdump records the server's veth; the
# collector then reads that capture and tests/collector/check_netns.py checks
# each exchange by its exact tuple: HTTP (host, URL, user agent, status), TLS
# (SNI, version, JA3), DNS (query), DETECTED then END, packets and bytes per
# direction (counted again by the checker in the capture) and the Community
# ID (computed by the checker). Needs root (netns, veth); KEEP_TMP=1 keeps
# the capture and logs.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
py=/usr/bin/python3
collector="$BUILD_DIR/collector/dpi-collector"
helpers="$SOURCE_DIR/tests/collector"

tag=$$
nsc="dpic$tag" nss="dpis$tag" vc="dvc$tag" vs="dvs$tag"
cli4=10.199.0.1 srv4=10.199.0.2 cli6=fd00:199::1 srv6=fd00:199::2
tmp=$(mktemp -d)
pids=()
tcpdump_pid=

cleanup() {
    set +e
    for p in "${pids[@]}" $tcpdump_pid; do kill "$p" 2> /dev/null; done
    for ns in "$nsc" "$nss"; do
        if ip netns pids "$ns" > /dev/null 2>&1; then
            for p in $(ip netns pids "$ns"); do kill "$p" 2> /dev/null; done
            ip netns del "$ns"
        fi
    done
    ip link del "$vc" 2> /dev/null
    [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "it_collector_netns: $*"; exit 1; }

# wait up to 10 s for a command to succeed
wait_for() {
    for _ in $(seq 100); do
        if "$@" > /dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
for tool in ip tcpdump curl openssl ss; do
    command -v "$tool" > /dev/null || die "needs $tool"
done

# the two namespaces and the veth between them
ip netns add "$nsc"
ip netns add "$nss"
ip link add "$vc" type veth peer name "$vs"
ip link set "$vc" netns "$nsc"
ip link set "$vs" netns "$nss"
ip -n "$nsc" addr add "$cli4/24" dev "$vc"
ip -n "$nss" addr add "$srv4/24" dev "$vs"
ip -n "$nsc" -6 addr add "$cli6/64" dev "$vc" nodad
ip -n "$nss" -6 addr add "$srv6/64" dev "$vs" nodad
for ns in "$nsc" "$nss"; do ip -n "$ns" link set lo up; done
ip -n "$nsc" link set "$vc" up
ip -n "$nss" link set "$vs" up

# servers
mkdir "$tmp/www"
echo "hello from the server namespace" > "$tmp/www/hello.txt"
ip netns exec "$nss" "$py" -m http.server 80 --bind :: --directory "$tmp/www" \
    > "$tmp/http.log" 2>&1 &
pids+=($!)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=www.example.test" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" > /dev/null 2>&1
ip netns exec "$nss" openssl s_server -accept 443 -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    -www -quiet < /dev/null > "$tmp/tls.log" 2>&1 &
pids+=($!)
ip netns exec "$nss" "$py" "$helpers/dns_responder.py" "$srv4" 53 "$tmp/dns.ready" \
    > "$tmp/dns.log" 2>&1 &
pids+=($!)
listening() { ip netns exec "$nss" ss -ltnH "sport = :$1" | grep -q .; }
wait_for listening 80 || die "http.server did not start: $(cat "$tmp/http.log")"
wait_for listening 443 || die "openssl s_server did not start: $(cat "$tmp/tls.log")"
wait_for test -e "$tmp/dns.ready" || die "DNS responder did not start: $(cat "$tmp/dns.log")"

# the capture, on the server's side of the veth
ip netns exec "$nss" tcpdump -i "$vs" --immediate-mode -U -s 0 -Z root -w "$tmp/cap.pcap" 2> "$tmp/tcpdump.err" &
tcpdump_pid=$!
wait_for grep -q "listening on" "$tmp/tcpdump.err" || die "tcpdump: $(cat "$tmp/tcpdump.err")"

# real traffic from the client namespace; note each initiator's port
ua="dpi-dual-netns-test/1.0 (curl)"
expect="$tmp/expect.tsv"
: > "$expect"
read -r lip lport code < <(ip netns exec "$nsc" curl -sS -o /dev/null -A "$ua" \
    -w '%{local_ip} %{local_port} %{http_code}\n' \
    --resolve "www.example.test:80:$srv4" "http://www.example.test/hello.txt?from=netns")
[ "$code" = 200 ] || die "HTTP GET: status $code"
printf 'http\t%s\t%s\t%s\t80\twww.example.test\t/hello.txt?from=netns\t%s\n' \
    "$lip" "$lport" "$srv4" "$ua" >> "$expect"

read -r lip lport code < <(ip netns exec "$nsc" curl -sS -o /dev/null -A "$ua" \
    -w '%{local_ip} %{local_port} %{http_code}\n' \
    --resolve "v6.example.test:80:[$srv6]" "http://v6.example.test/hello.txt?v=6")
[ "$code" = 200 ] || die "HTTP GET over IPv6: status $code"
printf 'http\t%s\t%s\t%s\t80\tv6.example.test\t/hello.txt?v=6\t%s\n' \
    "$lip" "$lport" "$srv6" "$ua" >> "$expect"

read -r lip lport code < <(ip netns exec "$nsc" curl -sS -k -o /dev/null -A "$ua" \
    -w '%{local_ip} %{local_port} %{http_code}\n' \
    --resolve "www.example.test:443:$srv4" "https://www.example.test/")
[ "$code" = 200 ] || die "HTTPS GET: status $code"
printf 'tls\t%s\t%s\t%s\t443\twww.example.test\n' "$lip" "$lport" "$srv4" >> "$expect"

read -r lip lport answer < <(ip netns exec "$nsc" "$py" "$helpers/dns_query.py" "$srv4" \
    host.example.test)
[ "$answer" = 192.0.2.53 ] || die "DNS query: answer '$answer'"
printf 'dns\t%s\t%s\t%s\t53\thost.example.test\n' "$lip" "$lport" "$srv4" >> "$expect"

# let the last FIN/ACKs pass, then stop the capture cleanly
sleep 0.5
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
tcpdump_pid=
grep -q "packets captured" "$tmp/tcpdump.err" || die "tcpdump: $(cat "$tmp/tcpdump.err")"

printf 'global:\n  log_level: info\n' > "$tmp/cfg.yaml"
rc=0
"$collector" -r "$tmp/cap.pcap" --no-bus --jsonl "$tmp/events.jsonl" -c "$tmp/cfg.yaml" \
    2> "$tmp/collector.err" || rc=$?
if [ "$rc" -ne 0 ]; then
    cat "$tmp/collector.err"
    die "dpi-collector exit $rc"
fi
if ! "$py" "$helpers/check_netns.py" "$tmp/events.jsonl" "$tmp/collector.err" "$expect" \
        "$tmp/cap.pcap"; then
    echo "---- capture:"; tcpdump -nn -r "$tmp/cap.pcap" 2> /dev/null | head -60
    echo "---- events:"; cat "$tmp/events.jsonl"
    echo "---- collector stderr:"; cat "$tmp/collector.err"
    die "FAILED"
fi
echo "it_collector_netns: ok"
