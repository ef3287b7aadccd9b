#!/bin/bash
# deploy/mirror-setup.sh end to end, with real traffic (root). Namespaces A
# and B joined by a veth pair; B serves HTTP; the script mirrors A's veth end
# (inside A) to a mirror interface that dpi-collector captures on, while
# dpi-dualctl tail subscribes to tap.flow. curl from A to B, SIGINT the
# collector, then check that every HTTP flow was seen in both directions and
# ended (SHUTDOWN), and that stop removes exactly what start added — the
# pre-existing root qdisc, a pre-existing clsact and its filter stay.
set -euo pipefail
: "${BUILD_DIR:?}" "${SOURCE_DIR:?}"
[ "$(id -u)" -eq 0 ] || { echo "it_mirror: needs root (network namespaces, tc)"; exit 1; }
setup="$SOURCE_DIR/deploy/mirror-setup.sh"
collector="$BUILD_DIR/collector/dpi-collector"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
py=/usr/bin/python3
cookie=6470692d6475616c2d6d6972726f72

nsa=dpim-a-$$ nsb=dpim-b-$$
mir=dpim$$                  # interface names: 15 characters at most
ip_a=10.213.0.1 ip_b=10.213.0.2 port=8080
tmp=$(mktemp -d /tmp/it_mirror.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
    ip netns del "$nsa" 2> /dev/null || true
    ip netns del "$nsb" 2> /dev/null || true
    if [ $rc -ne 0 ]; then
        for f in "$tmp"/*.log "$tmp"/*.err; do
            [ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
        done
        echo "it_mirror: FAILED"
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT

A() { ip netns exec "$nsa" "$@"; }         # (not for background jobs: their pid
B() { ip netns exec "$nsb" "$@"; }         #  would be a subshell's, not the program's)
ms() { A env DPI_MIRROR_STATE_DIR="$tmp/state" "$setup" "$@"; }
fail() { echo "it_mirror: $*" >&2; exit 1; }
poll_until() {              # poll_until SECONDS COMMAND...: every 0.1 s; 1 on timeout
    local limit=$(( $1 * 10 )) i=0
    shift
    until "$@"; do
        i=$((i + 1)); [ $i -lt $limit ] || return 1
        sleep 0.1
    done
}
wait_for() {                # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2
    shift 2
    poll_until "$secs" "$@" || fail "timed out waiting for $what"
}
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2> /dev/null; }
status_is() {               # status_is RC ARGS...
    local want=$1 rc=0
    shift
    ms status "$@" > "$tmp/status.log" 2>&1 || rc=$?
    [ $rc -eq "$want" ] || { cat "$tmp/status.log"; fail "status exited $rc, expected $want"; }
}
# out_has PATTERN COMMAND...: the whole output is read first (grep -q on a
# pipe would SIGPIPE the writer and fail the pipeline under pipefail)
out_has() { local pattern=$1 out; shift; out=$("$@" 2>&1) || true; grep -q -- "$pattern" <<< "$out"; }
our_filters() { local out; out=$(A tc filter show dev va "$1"); grep -c "cookie $cookie" <<< "$out" || true; }
assert_clean() {            # nothing of ours left; the foreign root qdisc intact
    ! A ip link show dev "$mir" > /dev/null 2>&1 || fail "$mir still exists"
    ! A ip link show dev "$mir-tx" > /dev/null 2>&1 || fail "$mir-tx still exists"
    ! out_has "^qdisc clsact" A tc qdisc show dev va || fail "clsact left on va"
    [ -z "$(A tc filter show dev va ingress)$(A tc filter show dev va egress)" ] \
        || fail "filters left on va"
    out_has "^qdisc $root_kind 1: root" A tc qdisc show dev va \
        || { A tc qdisc show dev va; fail "the pre-existing root $root_kind qdisc is gone"; }
    [ ! -e "$tmp/state/mirror-$mir.state" ] || fail "state file left behind"
}

# ---- two namespaces, a veth pair, an HTTP server in B
ip netns add "$nsa"; ip netns add "$nsb"
for ns in "$nsa" "$nsb"; do     # no IPv6 chatter: the capture holds only the test's traffic
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$nsa" link add va type veth peer name vb netns "$nsb"
A ip addr add "$ip_a/24" dev va; A ip link set va up
B ip addr add "$ip_b/24" dev vb; B ip link set vb up
# a root qdisc that is not ours (QoS): stop must leave it
root_kind=
for q in fq_codel htb prio; do
    if A tc qdisc add dev va root handle 1: "$q" 2> /dev/null; then root_kind=$q; break; fi
done
[ -n "$root_kind" ] || fail "no root qdisc kind available (fq_codel, htb, prio)"

mkdir -p "$tmp/www"
head -c 30000 /dev/zero | tr '\0' 'x' > "$tmp/www/page.html"
ip netns exec "$nsb" "$py" -m http.server "$port" --bind "$ip_b" --directory "$tmp/www" > "$tmp/http.log" 2>&1 &
pids+=($!)
wait_for 10 "the HTTP server in $nsb" A curl -s -o /dev/null --max-time 1 "http://$ip_b:$port/page.html"

# ---- errors are clear
out=$(ms start --source nosuch0 --mirror "$mir" 2>&1) && fail "start on a missing source succeeded"
grep -q "source interface 'nosuch0' does not exist" <<< "$out" || fail "unclear error: $out"
out=$(ms start --mirror "$mir" 2>&1) && fail "start without a source succeeded"
grep -q "no source interface" <<< "$out" || fail "unclear error: $out"
if command -v setpriv > /dev/null; then
    # a copy nobody can run: the tree itself may sit where nobody cannot go (/root is 0700)
    chmod 711 "$tmp" && install -d -m 755 "$tmp/pub" && install -m 755 "$setup" "$tmp/pub/"
    out=$(A setpriv --reuid 65534 --regid 65534 --clear-groups env DPI_MIRROR_STATE_DIR="$tmp/state" \
          "$tmp/pub/mirror-setup.sh" start -s va -m "$mir" 2>&1) && fail "start as nobody succeeded"
    grep -q "needs root" <<< "$out" || fail "unclear error: $out"
fi
out=$(ms start --mode hardware --mirror span$$ 2>&1) && fail "hardware start on a missing NIC succeeded"
grep -q "capture interface 'span$$' does not exist" <<< "$out" || fail "unclear error: $out"
status_is 3 --source va --mirror "$mir"
assert_clean

# ---- start twice = one set of filters
ms start --source va --mirror "$mir" > "$tmp/start1.log"
ms start --source va --mirror "$mir" > "$tmp/start2.log"
if [ "$(our_filters ingress)$(our_filters egress)" != 11 ]; then
    A tc filter show dev va ingress; A tc filter show dev va egress
    fail "not exactly one mirror filter per hook"
fi
grep -q "capture on: $mir\$" "$tmp/start2.log" || fail "start does not name the capture interface"
status_is 0 --mirror "$mir"
grep -q "mirroring: active" "$tmp/status.log"

# ---- live capture of real traffic
cat > "$tmp/cfg.yaml" <<YAML
global:
  host: mirrortest
  run_dir: $tmp/run
tap:
  stats_interval: 1
  tcp_close_timeout: 120
YAML
ip netns exec "$nsa" "$ctl" tail -c "$tmp/cfg.yaml" -n 10000 --timeout 20 tap.flow sys.heartbeat \
    > "$tmp/tail.out" 2> "$tmp/tail.err" &
tail_pid=$!; pids+=("$tail_pid")
ip netns exec "$nsa" "$collector" -c "$tmp/cfg.yaml" -i "$mir" --wait-subscriber 5 > "$tmp/collector.log" 2>&1 &
coll_pid=$!; pids+=("$coll_pid")
# the first heartbeat follows the opened capture: from now on packets are seen
wait_for 10 "the collector's first heartbeat" grep -q '"topic":"sys.heartbeat"' "$tmp/tail.out"
ncurl=3
for i in $(seq 1 $ncurl); do
    A curl -sS -o /dev/null --max-time 5 "http://$ip_b:$port/page.html?n=$i"
done
status_is 0 --mirror "$mir"
grep -Eq "^ingress: .* [1-9][0-9]* packets" "$tmp/status.log" || fail "ingress counters did not move"
grep -Eq "^egress: .* [1-9][0-9]* packets" "$tmp/status.log" || fail "egress counters did not move"
sleep 0.5                   # let the last mirrored packets reach the collector
kill -INT "$coll_pid"
collector_bug=
if ! poll_until 3 gone "$coll_pid"; then
    # known collector bug: on an idle interface pcap_dispatch blocks until a
    # packet comes, so SIGINT is seen only then. Record it, wake the capture
    # with one UDP packet through the mirror, and check everything else.
    collector_bug="dpi-collector ignored SIGINT for 3 s on an idle capture interface"
    echo "it_mirror: BUG: $collector_bug; waking it with a packet" >&2
    A bash -c "echo wake > /dev/udp/$ip_b/9" || true
    wait_for 5 "the collector to stop after SIGINT and a packet" gone "$coll_pid"
fi
rc=0; wait "$coll_pid" || rc=$?
[ $rc -eq 0 ] || fail "dpi-collector exited $rc after SIGINT"
ends() { [ "$(grep -c '"event":"END"' "$tmp/tail.out")" -ge $ncurl ]; }
wait_for 5 "the END events" ends
kill -INT "$tail_pid"
wait "$tail_pid" || fail "tail exited $? after SIGINT"

"$py" - "$tmp/tail.out" "$ip_a" "$ip_b" "$port" "$mir" "$ncurl" <<'PY'
import json, sys
path, ip_a, ip_b, port, mir, ncurl = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
events = [json.loads(l) for l in open(path)]
flows = {}
for e in events:
    if e["topic"] != "tap.flow":
        continue
    if e.get("ip_proto") == 6 and e.get("dst_port") == port:
        assert (e["src_ip"], e["dst_ip"]) == (ip_a, ip_b), f"wrong tuple (reversed?): {e}"
        assert e["interface"] == mir, e
        flows.setdefault(e["flow_id"], []).append(e)
assert len(flows) == ncurl, f"expected {ncurl} HTTP flows, got {len(flows)}: {list(flows)}"
for fid, evs in flows.items():
    kinds = [e["event"] for e in evs]
    assert kinds[-1] == "END" and kinds.count("END") == 1, f"flow {fid}: events {kinds}"
    end = evs[-1]
    assert end.get("end_reason") == "SHUTDOWN", f"flow {fid}: ended {end.get('end_reason')}"
    assert end["proto"].split(".")[0] == "HTTP", f"flow {fid}: proto {end['proto']}"
    # both directions made it through the mirror: the handshake, the request,
    # and the 30000-byte page back
    assert end["src2dst_packets"] >= 3 and end["dst2src_packets"] >= 3, end
    assert end["dst2src_bytes"] > 30000 and end["src2dst_bytes"] > 0, end
    print(f"flow {end['src_ip']}:{end['src_port']} -> {end['dst_ip']}:{end['dst_port']} "
          f"{end['proto']} {end['src2dst_packets']}/{end['dst2src_packets']} packets, "
          f"{end['src2dst_bytes']}/{end['dst2src_bytes']} bytes, events {[e['event'] for e in evs]}")
PY
grep -q "tail: collector@mirrortest: received [1-9][0-9]*, gaps 0" "$tmp/tail.err" \
    || fail "tail saw gaps: $(cat "$tmp/tail.err")"

# ---- stop removes exactly what start added; twice is fine
ms stop --mirror "$mir" > "$tmp/stop1.log"
assert_clean
ms stop --mirror "$mir" > "$tmp/stop2.log" || fail "a second stop failed"
status_is 3 --source va --mirror "$mir"

# ---- start, start, stop again: same result
ms start --source va --mirror "$mir" > /dev/null
ms start --source va --mirror "$mir" > /dev/null
[ "$(our_filters ingress)$(our_filters egress)" = 11 ] || fail "second round: not one filter per hook"
status_is 0 --mirror "$mir"
ms stop --mirror "$mir" > /dev/null
assert_clean
status_is 3 --source va --mirror "$mir"

# ---- a clsact that was already there, with a filter of someone else, stays
A tc qdisc add dev va clsact
A tc filter add dev va ingress pref 100 protocol all u32 match u32 0 0 classid 1:1
ms start --source va --mirror "$mir" > /dev/null
status_is 0 --mirror "$mir"
grep -q "pre-existing" "$tmp/status.log" || fail "status does not say the clsact was there"
ms stop --mirror "$mir" > /dev/null
out_has "^qdisc clsact" A tc qdisc show dev va || fail "stop removed a clsact it did not add"
out_has "pref 100" A tc filter show dev va ingress || fail "stop removed a filter it did not add"
[ "$(our_filters ingress)$(our_filters egress)" = 00 ] || fail "our filters are left"
A tc filter del dev va ingress pref 100
A tc qdisc del dev va clsact
assert_clean

# ---- hardware mode: only checks (and, with --up, raises) the capture NIC
A ip link add "hw$$" type veth peer name "hwp$$"
A ip link set "hwp$$" up            # the "switch" end: carrier once hw is up
out=$(ms start --mode hardware --mirror "hw$$" 2>&1) && fail "hardware start on a down NIC succeeded"
grep -q "is down" <<< "$out" || fail "unclear error: $out"
ms start --mode hardware --mirror "hw$$" --up > /dev/null
status_is 0 --mirror "hw$$"
ms stop --mirror "hw$$" > /dev/null
! out_has '[<,]UP[,>]' A ip -o link show dev "hw$$" || fail "hardware stop left the NIC up it raised"
status_is 3 --mode hardware --mirror "hw$$"
[ -z "$(A tc filter show dev "hw$$" ingress)" ] || fail "hardware mode changed tc"

[ -z "$collector_bug" ] || fail "everything else passed, but: $collector_bug"
echo "it_mirror: ok ($root_kind root qdisc kept; $(grep -c . "$tmp/tail.out") bus messages)"
