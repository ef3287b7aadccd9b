#!/bin/bash
# mirror-setup.sh — traffic mirroring for the dpi-dual TAP stream.
#
#   mirror-setup.sh start|stop|status [options]
#
# Software mode: every packet in and out of the source interface (the WAN
# port) is copied with `tc ... action mirred egress mirror` to a mirror
# interface that dpi-collector captures on (tap.interface). Hardware mode: a
# switch SPAN port is cabled to a second NIC; the script only checks it.
#
# What start creates is recorded in a state file (and every tc action it adds
# carries the cookie below), so stop removes exactly that and nothing else:
# its two filters, the clsact qdisc only if start added it, the mirror
# interface only if start created it. No root qdisc is ever touched.
#
# Exit status: 0 ok (status: mirroring active), 1 error, 2 usage,
# 3 (status only) mirroring not active. See deploy/README-mirror.md.
set -euo pipefail

readonly prog=mirror-setup
readonly cookie=6470692d6475616c2d6d6972726f72      # "dpi-dual-mirror" in hex

usage() {
    cat <<'EOF'
usage: mirror-setup.sh start|stop|status [options]

  -s, --source IFACE   interface whose traffic is mirrored    [DPI_MIRROR_SOURCE]
  -m, --mirror IFACE   capture interface (tap.interface)      [DPI_MIRROR_IFACE, dpi-mirror0]
      --mode MODE      software | hardware                    [DPI_MIRROR_MODE, software]
      --kind KIND      auto | dummy | veth: how software mode
                       creates the mirror interface           [DPI_MIRROR_KIND, auto]
      --peer IFACE     veth end tc mirrors into (the mirror
                       interface is the capture end)          [DPI_MIRROR_PEER, MIRROR-tx]
      --pref N         tc filter preference: ingress filter
                       at N, egress at N+1                    [DPI_MIRROR_PREF, 3]
      --state-dir DIR  where start records what it created    [DPI_MIRROR_STATE_DIR, /run/dpi-dual]
      --up             hardware mode: bring the capture
                       interface up if it is down             [DPI_MIRROR_BRING_UP=1]
  -h, --help
EOF
}

die() { echo "$prog: error: $*" >&2; exit 1; }
warn() { echo "$prog: warning: $*" >&2; }
say() { echo "$prog: $*"; }

# ---------------------------------------------------------------- options
mode=${DPI_MIRROR_MODE:-software}
source_if=${DPI_MIRROR_SOURCE:-}
mirror_if=${DPI_MIRROR_IFACE:-dpi-mirror0}
peer_if=${DPI_MIRROR_PEER:-}
peer_given=0; [ -z "$peer_if" ] || peer_given=1
kind=${DPI_MIRROR_KIND:-auto}
pref=${DPI_MIRROR_PREF:-3}
state_dir=${DPI_MIRROR_STATE_DIR:-/run/dpi-dual}
bring_up=${DPI_MIRROR_BRING_UP:-0}
command=

need_arg() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "$prog: $1 needs a value" >&2; usage >&2; exit 2
    fi
}
while [ $# -gt 0 ]; do
    case $1 in
        start|stop|status)
            [ -z "$command" ] || { echo "$prog: one command only" >&2; exit 2; }
            command=$1 ;;
        -s|--source)  need_arg "$@"; source_if=$2; shift ;;
        -m|--mirror)  need_arg "$@"; mirror_if=$2; shift ;;
        --mode)       need_arg "$@"; mode=$2; shift ;;
        --kind)       need_arg "$@"; kind=$2; shift ;;
        --peer)       need_arg "$@"; peer_if=$2; peer_given=1; shift ;;
        --pref)       need_arg "$@"; pref=$2; shift ;;
        --state-dir)  need_arg "$@"; state_dir=$2; shift ;;
        --up)         bring_up=1 ;;
        -h|--help)    usage; exit 0 ;;
        *)            echo "$prog: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$command" ] || { usage >&2; exit 2; }

bad_usage() { echo "$prog: $*" >&2; exit 2; }
valid_ifname() { [[ $1 =~ ^[A-Za-z0-9_.@-]{1,15}$ ]] && [ "$1" != . ] && [ "$1" != .. ]; }
case $mode in software|hardware) ;; *) bad_usage "--mode must be software or hardware, not '$mode'" ;; esac
case $kind in auto|dummy|veth) ;; *) bad_usage "--kind must be auto, dummy or veth, not '$kind'" ;; esac
if ! [[ $pref =~ ^[0-9]{1,5}$ ]] || [ "$pref" -lt 1 ] || [ "$pref" -gt 65534 ]; then
    bad_usage "--pref must be 1..65534, not '$pref'"
fi
valid_ifname "$mirror_if" || bad_usage "bad mirror interface name '$mirror_if' (1..15 characters)"
[ -z "$source_if" ] || valid_ifname "$source_if" || bad_usage "bad source interface name '$source_if'"
if [ -z "$peer_if" ]; then
    peer_if=$mirror_if-tx
    valid_ifname "$peer_if" || peer_if=
elif ! valid_ifname "$peer_if"; then
    bad_usage "bad peer interface name '$peer_if'"
fi
[ "$source_if" != "$mirror_if" ] || bad_usage "source and mirror interface are both '$mirror_if'"

state_file=$state_dir/mirror-$mirror_if.state

# ---------------------------------------------------------------- helpers
need_tools() {
    command -v ip > /dev/null || die "'ip' not found: install iproute2"
    if [ "$mode" = software ]; then
        command -v tc > /dev/null || die "'tc' not found: install iproute2 (tc)"
    fi
}
need_root() { [ "$(id -u)" -eq 0 ] || die "$command needs root (CAP_NET_ADMIN): run it as root"; }
netns_id() { readlink /proc/self/ns/net 2> /dev/null || echo unknown; }
if_exists() { ip link show dev "$1" > /dev/null 2>&1; }
if_index() { local l; l=$(ip -o link show dev "$1" 2> /dev/null) && echo "${l%%:*}"; }
up_flag() { [[ $1 == *'<UP,'* || $1 == *',UP,'* || $1 == *',UP>'* ]]; }
if_up() { local l; l=$(ip -o link show dev "$1" 2> /dev/null) && up_flag "$l"; }
if_describe() {                         # "up", "down", "up, no carrier", "missing"
    local l
    l=$(ip -o link show dev "$1" 2> /dev/null) || { echo missing; return 0; }
    if ! up_flag "$l"; then echo down
    elif [[ $l == *NO-CARRIER* ]]; then echo "up, no carrier"
    else echo up
    fi
}
if_counters() {                         # "rx N packets, tx N packets"
    local d=/sys/class/net/$1/statistics rx tx
    [ -r "$d/rx_packets" ] || return 0
    read -r rx < "$d/rx_packets"; read -r tx < "$d/tx_packets"
    echo "rx $rx packets, tx $tx packets"
}
no_ipv6() {                             # a capture-only link sends nothing of its own
    local f=/proc/sys/net/ipv6/conf/$1/disable_ipv6
    if [ -w "$f" ]; then echo 1 > "$f" 2> /dev/null || true; fi
}

# State file: key=value lines, read without eval.
st_mode='' st_netns='' st_source='' st_mirror='' st_kind='' st_target='' st_created_mirror=0
st_mirror_ifindex='' st_brought_up=0 st_created_clsact=0 st_pref=''
have_state=0
read_state() {
    [ -f "$state_file" ] || return 0
    local key value
    while IFS='=' read -r key value; do
        case $key in
            mode|netns|source|mirror|kind|target|created_mirror|mirror_ifindex|brought_up|created_clsact|pref)
                printf -v "st_$key" '%s' "$value" ;;
        esac
    done < "$state_file"
    have_state=1
    [ "$st_netns" = "$(netns_id)" ] \
        || die "$state_file was written in another network namespace ($st_netns); run $command there"
    [ "$st_mirror" = "$mirror_if" ] || die "$state_file is for '$st_mirror', not '$mirror_if'"
}
write_state() {
    mkdir -p "$state_dir"
    local tmp=$state_file.tmp.$$
    cat > "$tmp" <<EOF
mode=$st_mode
netns=$st_netns
source=$st_source
mirror=$st_mirror
kind=$st_kind
target=$st_target
created_mirror=$st_created_mirror
mirror_ifindex=$st_mirror_ifindex
brought_up=$st_brought_up
created_clsact=$st_created_clsact
pref=$st_pref
EOF
    mv -f "$tmp" "$state_file"
    have_state=1
}

lock() {                                # one start/stop at a time
    mkdir -p "$state_dir" || die "cannot create $state_dir"
    if command -v flock > /dev/null; then
        exec 9> "$state_dir/mirror.lock"
        flock -w 10 9 || die "another mirror-setup.sh holds $state_dir/mirror.lock"
    fi
}

has_qdisc() { local q; q=$(tc qdisc show dev "$1" 2> /dev/null); [[ $'\n'$q == *$'\n'"qdisc $2 "* ]]; }

# Our preference on a hook: ingress and egress differ, because u32 shares
# its hash tables between the two hooks of a clsact, and a dump of one hook
# then lists the u32 filters of the other one that have the same preference.
hook_pref() { if [ "$1" = ingress ]; then echo "$pref"; else echo $((pref + 1)); fi; }

# What sits at our preference on SRC HOOK (tc -s, with counters and cookies).
hook_filters() { tc -s filter show dev "$1" "$2" pref "$(hook_pref "$2")" 2> /dev/null || true; }
# From that text: "none", "ours N" (N filters, all with our cookie) or
# "foreign" (anything else: never touched).
pref_owner() {
    awk -v c="cookie $cookie" <<< "$1" '
        /^filter / && ($0 ~ / fh [0-9a-f]+::[0-9a-f]+/ || $0 ~ / handle /) { leaves++ }
        /action order/ { actions++ }
        index($0, c) { ours++ }
        NF { lines++ }
        END {
            if (!lines) print "none"
            else if (ours > 0 && actions == ours && leaves <= ours) print "ours " ours
            else print "foreign"
        }'
}
# That text mirrors into TARGET.
pref_targets() { [[ $1 == *"to device $2)"* ]]; }
# "KIND pref P -> DEV: N packets, M bytes" from that text and P.
pref_summary() {
    awk -v pref="$2" <<< "$1" '
        /^filter / && !kind { for (i = 2; i <= NF; i++) if ($i == "chain") kind = $(i - 1) }
        /Mirror to device/ { sub(/.*to device /, ""); sub(/\).*/, ""); dev = $0 }
        /Sent [0-9]+ bytes/ { for (i = 1; i < NF; i++) if ($i == "Sent") { b += $(i + 1); p += $(i + 3) } }
        END { printf "%s pref %s -> %s: %d packets, %d bytes\n", kind, pref, dev, p, b }'
}

# ---------------------------------------------------------------- software mode
create_mirror() {                       # sets st_kind, st_target, st_created_mirror
    local err
    if [ "$kind" != veth ]; then
        if err=$(ip link add "$mirror_if" type dummy 2>&1); then
            st_kind=dummy st_target=$mirror_if st_created_mirror=1
            say "created dummy interface $mirror_if"
            return 0
        fi
        [ "$kind" = auto ] || die "cannot create dummy interface $mirror_if: $err"
        say "no dummy link ($err): using a veth pair"
    fi
    [ -n "$peer_if" ] || die "'$mirror_if-tx' is too long for an interface name: give --peer NAME"
    if_exists "$peer_if" && die "interface $peer_if (the veth peer) already exists: give another --peer"
    err=$(ip link add "$mirror_if" type veth peer name "$peer_if" 2>&1) \
        || die "cannot create veth pair $mirror_if/$peer_if: $err"
    st_kind=veth st_target=$peer_if st_created_mirror=1
    say "created veth pair: tc mirrors into $peer_if, capture on $mirror_if"
}

no_matchall=0                           # set once matchall failed: u32 only
add_filter() {                          # HOOK
    local hook=$1 err1='' err2='' action hp
    hp=$(hook_pref "$hook")
    action=(action mirred egress mirror dev "$st_target" continue cookie "$cookie")
    if [ "$no_matchall" = 0 ] && err1=$(tc filter add dev "$source_if" "$hook" pref "$hp" protocol all \
                 matchall "${action[@]}" 2>&1); then
        say "$hook: matchall filter (pref $hp) mirrors $source_if to $st_target"
    elif no_matchall=1 && err2=$(tc filter add dev "$source_if" "$hook" pref "$hp" protocol all \
                   u32 match u32 0 0 "${action[@]}" 2>&1); then
        say "$hook: u32 filter (pref $hp) mirrors $source_if to $st_target (no matchall)"
    else
        die "cannot add the $hook mirror filter on $source_if: matchall: ${err1:-not tried}; u32: $err2"
    fi
}

rollback_start() {                      # a failed first start leaves nothing behind
    local rc=$?
    if [ $rc -ne 0 ] && [ "$have_state" = 1 ]; then
        warn "start failed: undoing what it did"
        trap - EXIT
        stop_software || true
    fi
    exit $rc
}

start_software() {
    [ -n "$source_if" ] || [ -n "$st_source" ] || die "no source interface: give --source IFACE (or DPI_MIRROR_SOURCE)"
    if [ "$have_state" = 1 ]; then
        [ "$st_mode" = software ] || die "$mirror_if is set up in $st_mode mode: run stop first"
        [ -z "$source_if" ] || [ "$source_if" = "$st_source" ] \
            || die "$mirror_if already mirrors $st_source, not $source_if: run stop first"
        source_if=$st_source
        [ -z "$st_pref" ] || pref=$st_pref
    else
        st_mode=software st_netns=$(netns_id) st_source=$source_if st_mirror=$mirror_if st_pref=$pref
        trap rollback_start EXIT
    fi
    if_exists "$source_if" || die "source interface '$source_if' does not exist"
    [ "$source_if" != "$peer_if" ] || die "source interface and veth peer are both '$source_if'"
    if_up "$source_if" || warn "source interface $source_if is down: nothing to mirror until it is up"
    has_qdisc "$source_if" ingress \
        && die "$source_if has an 'ingress' qdisc (QoS/SQM?) that is not ours; clsact, needed for the egress direction, cannot coexist with it: mirror the interface it redirects to, or use --mode hardware"

    # 1. the mirror interface
    if [ "$st_created_mirror" = 1 ] && if_exists "$mirror_if" \
            && [ "$(if_index "$mirror_if")" = "$st_mirror_ifindex" ]; then
        :                               # ours, still there
    elif if_exists "$mirror_if"; then
        st_created_mirror=0
        if [ "$peer_given" = 1 ] || [ "$kind" = veth ]; then
            if [ -z "$peer_if" ] || ! if_exists "$peer_if"; then
                die "$mirror_if exists but its peer '${peer_if:-?}' does not"
            fi
            st_kind=veth st_target=$peer_if
        else
            st_kind=existing st_target=$mirror_if
        fi
        say "using existing interface $mirror_if (not created here: stop will leave it)"
    else
        create_mirror
        st_mirror_ifindex=$(if_index "$mirror_if")
        no_ipv6 "$mirror_if"
        [ "$st_target" = "$mirror_if" ] || no_ipv6 "$st_target"
    fi
    write_state
    for dev in "$mirror_if" "$st_target"; do
        if ! if_up "$dev"; then
            ip link set dev "$dev" up || die "cannot bring $dev up"
            [ "$st_created_mirror" = 1 ] || st_brought_up=1
        fi
    done
    write_state

    # 2. the clsact qdisc (it does not touch the root qdisc)
    if ! has_qdisc "$source_if" clsact; then
        local err
        err=$(tc qdisc add dev "$source_if" clsact 2>&1) \
            || die "cannot add a clsact qdisc to $source_if: $err"
        st_created_clsact=1
        write_state
        say "added clsact qdisc to $source_if"
    fi

    # 3. one filter per direction at our preference
    local text
    for hook in ingress egress; do
        text=$(hook_filters "$source_if" "$hook")
        case $(pref_owner "$text") in
            none) add_filter "$hook" ;;
            foreign) die "$source_if $hook: pref $(hook_pref "$hook") holds a filter that is not ours: choose another --pref" ;;
            ours*)
                if pref_targets "$text" "$st_target"; then
                    say "$hook: already mirrored to $st_target"
                else
                    tc filter del dev "$source_if" "$hook" pref "$(hook_pref "$hook")"
                    add_filter "$hook"
                fi ;;
        esac
    done
    trap - EXIT
    say "mirroring $source_if (ingress + egress) -> $st_target; capture on: $mirror_if"
}

stop_software() {
    local src=${st_source:-$source_if}
    if [ -n "$src" ] && if_exists "$src"; then
        for hook in ingress egress; do
            case $(pref_owner "$(hook_filters "$src" "$hook")") in
                ours*) tc filter del dev "$src" "$hook" pref "$(hook_pref "$hook")"
                       say "$hook: removed mirror filter (pref $(hook_pref "$hook")) from $src" ;;
                foreign) warn "$src $hook: pref $(hook_pref "$hook") is not ours: left alone" ;;
            esac
        done
        if [ "$st_created_clsact" = 1 ] && has_qdisc "$src" clsact; then
            if [ -z "$(tc filter show dev "$src" ingress)$(tc filter show dev "$src" egress)" ]; then
                tc qdisc del dev "$src" clsact
                say "removed clsact qdisc from $src"
            else
                warn "clsact on $src now holds other filters: left in place"
            fi
        fi
    elif [ -n "$src" ]; then
        say "source interface $src is gone (and its filters with it)"
    fi
    if [ "$st_created_mirror" = 1 ] && if_exists "$mirror_if"; then
        if [ "$(if_index "$mirror_if")" = "$st_mirror_ifindex" ]; then
            ip link del dev "$mirror_if"
            say "deleted $st_kind interface $mirror_if"
        else
            warn "$mirror_if was re-created by someone else: left alone"
        fi
    elif [ "$st_brought_up" = 1 ] && if_exists "$mirror_if"; then
        ip link set dev "$mirror_if" down
        [ "$st_target" = "$mirror_if" ] || ip link set dev "$st_target" down 2> /dev/null || true
        say "set $mirror_if down again"
    fi
    rm -f "$state_file"
}

status_software() {
    local src=${st_source:-$source_if} target=${st_target:-$mirror_if} active=1 reason='' hook text
    [ -z "$st_pref" ] || pref=$st_pref
    echo "mode: software"
    if [ "$have_state" = 1 ]; then
        echo "state: $state_file"
    else
        echo "state: none ($state_file)"
        active=0 reason="not started"
    fi
    if [ -z "$src" ]; then
        echo "source: ? (give --source)"
        echo "mirroring: not active (no source interface known)"
        return 3
    fi
    echo "source: $src ($(if_describe "$src"))"
    echo "mirror: $mirror_if (${st_kind:-?}, $([ "$st_created_mirror" = 1 ] && echo "created by start" || echo "not created here"), $(if_describe "$mirror_if"))"
    [ "$target" = "$mirror_if" ] || echo "tc target: $target ($(if_describe "$target"))"
    echo "capture on: $mirror_if $(if_counters "$mirror_if")"
    if_up "$mirror_if" || { active=0; reason=${reason:-"$mirror_if is not up"}; }
    if has_qdisc "$src" clsact; then
        echo "qdisc: clsact on $src ($([ "$st_created_clsact" = 1 ] && echo "added by start" || echo "pre-existing"))"
    else
        echo "qdisc: no clsact on $src"
        active=0 reason=${reason:-"no clsact qdisc on $src"}
    fi
    for hook in ingress egress; do
        text=$(hook_filters "$src" "$hook")
        case $(pref_owner "$text") in
            ours*) echo "$hook: $(pref_summary "$text" "$(hook_pref "$hook")")"
                   pref_targets "$text" "$target" \
                       || { active=0; reason=${reason:-"$hook filter does not mirror to $target"}; } ;;
            foreign) echo "$hook: pref $(hook_pref "$hook") holds a filter that is not ours"
                     active=0 reason=${reason:-"no $hook mirror filter"} ;;
            *) echo "$hook: no mirror filter"
               active=0 reason=${reason:-"no $hook mirror filter"} ;;
        esac
    done
    if [ "$active" = 1 ]; then
        echo "mirroring: active"
        return 0
    fi
    echo "mirroring: not active ($reason)"
    return 3
}

# ---------------------------------------------------------------- hardware mode
start_hardware() {
    if [ "$have_state" = 1 ] && [ "$st_mode" != hardware ]; then
        die "$mirror_if is set up in $st_mode mode: run stop first"
    fi
    if_exists "$mirror_if" \
        || die "capture interface '$mirror_if' does not exist (hardware mode: give the NIC cabled to the switch SPAN port with --mirror)"
    if ! if_up "$mirror_if"; then
        [ "$bring_up" = 1 ] || die "capture interface $mirror_if is down: bring it up (ip link set $mirror_if up) or pass --up"
        ip link set dev "$mirror_if" up || die "cannot bring $mirror_if up"
        st_brought_up=1
        say "brought $mirror_if up"
    fi
    if [ "$have_state" = 0 ]; then
        st_mode=hardware st_netns=$(netns_id) st_mirror=$mirror_if st_kind=hardware st_target=$mirror_if
    fi
    write_state
    case $(if_describe "$mirror_if") in
        *"no carrier"*) warn "$mirror_if has no carrier: check the cable and the switch SPAN port" ;;
    esac
    say "hardware mirroring: capture on: $mirror_if"
}

stop_hardware() {
    if [ "$st_brought_up" = 1 ] && if_exists "$mirror_if"; then
        ip link set dev "$mirror_if" down
        say "set $mirror_if down again"
    fi
    rm -f "$state_file"
}

status_hardware() {
    echo "mode: hardware"
    echo "state: $([ "$have_state" = 1 ] && echo "$state_file" || echo "none ($state_file)")"
    local d
    d=$(if_describe "$mirror_if")
    echo "capture on: $mirror_if ($d) $(if_counters "$mirror_if")"
    case $d in
        up) echo "mirroring: active"; return 0 ;;
        "up, no carrier") echo "mirroring: not active ($mirror_if has no carrier)"; return 3 ;;
        *) echo "mirroring: not active ($mirror_if is $d)"; return 3 ;;
    esac
}

# ---------------------------------------------------------------- main
need_tools
case $command in
    start)
        need_root; lock; read_state
        [ "$have_state" = 0 ] || [ "$st_mode" = "$mode" ] \
            || die "$mirror_if is set up in $st_mode mode: run stop first"
        "start_$mode" ;;
    stop)
        need_root; lock; read_state
        if [ "$have_state" = 0 ]; then
            if [ "$mode" = software ] && [ -n "$source_if" ] && if_exists "$source_if"; then
                say "no state file: removing only the filters marked as ours on $source_if"
                stop_software
            else
                say "nothing to stop ($state_file not found)"
            fi
        else
            mode=$st_mode
            [ -z "$st_pref" ] || pref=$st_pref
            "stop_$mode"
        fi ;;
    status)
        read_state
        [ "$have_state" = 0 ] || mode=$st_mode
        rc=0; "status_$mode" || rc=$?
        exit "$rc" ;;
esac
