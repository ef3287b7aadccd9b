#!/usr/bin/env bash
# it_systemd_units.sh — the systemd units of deploy/systemd, offline (PID 1
# here is not systemd):
#  1. systemd-analyze verify on every unit as cmake configured them, with
#     ExecStart pointed at the build tree's binaries: no error and no
#     warning (verify exits 0 on an unknown key: any output fails); a unit
#     with a misspelled key must be caught (the check checks);
#  2. the hardening the issue asks for is there: User=, NoNewPrivileges,
#     ProtectSystem=strict, ReadWritePaths of the run and state dirs,
#     PrivateTmp, Restart=on-failure, CapabilityBoundingSet of
#     CAP_NET_RAW CAP_NET_ADMIN for the collector and empty for the others;
#  3. systemd-analyze security --offline=yes (systemd >= 250): each unit's
#     exposure printed, and at most 3.0;
#  4. cmake --install (DESTDIR) puts the units in lib/systemd/system.
# ctest sets BUILD_DIR.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
fail () { echo "it_systemd_units: FAIL: $*" >&2; exit 1; }
command -v systemd-analyze > /dev/null || fail "systemd-analyze is missing (Debian: systemd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
units="dpi-dual.target"
for w in collector bridge-mitm buffer correlator api mitmdump; do units+=" dpi-dual-$w.service"; done
bindir=$(sed -n 's|^ExecStart=\(.*\)/dpi-collector .*|\1|p' "$BUILD_DIR/deploy/systemd/dpi-dual-collector.service")
[ -n "$bindir" ] || fail "no ExecStart in the configured collector unit"
for u in $units; do
    [ -f "$BUILD_DIR/deploy/systemd/$u" ] || fail "$u was not configured"
    sed -E -e "s|^ExecStart=$bindir/dpi-dualctl|ExecStart=$BUILD_DIR/ctl/dpi-dualctl|" \
        -e "s|^ExecStart=$bindir/dpi-([a-z-]+) |ExecStart=$BUILD_DIR/\1/dpi-\1 |" \
        "$BUILD_DIR/deploy/systemd/$u" > "$work/$u"
done
cd "$work"

# --- 1. verify ------------------------------------------------------------------
rc=0
systemd-analyze verify $(for u in $units; do echo "./$u"; done) > verify.out 2>&1 || rc=$?
echo "systemd-analyze verify (systemd $(systemd-analyze --version | sed -n '1s/systemd \([0-9]*\).*/\1/p')): exit $rc, $(wc -l < verify.out) lines of output"
[ $rc -eq 0 ] && [ ! -s verify.out ] || fail "verify: $(cat verify.out)"
mkdir bad && sed 's/^NoNewPrivileges=yes/NoNewPrivilegez=yes/' dpi-dual-buffer.service > bad/dpi-dual-buffer.service
systemd-analyze verify ./bad/dpi-dual-buffer.service > bad.out 2>&1 || true
grep -q "Unknown key 'NoNewPrivilegez'" bad.out || fail "verify did not catch a misspelled key: $(cat bad.out)"
echo "ok   verify: every unit clean; a misspelled key is caught"

# --- 2. the hardening asked for -----------------------------------------------------
for w in collector bridge-mitm buffer correlator api mitmdump; do
    u=dpi-dual-$w.service
    for line in User=dpi-dual NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
                Restart=on-failure "ReadWritePaths=/run/dpi-dual /var/lib/dpi-dual" \
                PartOf=dpi-dual.target WantedBy=dpi-dual.target; do
        grep -qx "$line" "$u" || fail "$u: no $line"
    done
    caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$u")
    if [ $w = collector ]; then
        [ "$caps" = "CAP_NET_RAW CAP_NET_ADMIN" ] || fail "$u: CapabilityBoundingSet=$caps"
    else
        [ -z "$caps" ] && grep -qx "CapabilityBoundingSet=" "$u" || fail "$u: CapabilityBoundingSet=$caps"
    fi
done
echo "ok   hardening: User=, NoNewPrivileges, ProtectSystem=strict, ReadWritePaths, PrivateTmp, Restart=on-failure; capabilities for the collector only"

# --- 3. exposure ---------------------------------------------------------------------
if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
    for w in collector bridge-mitm buffer correlator api mitmdump; do
        systemd-analyze security --offline=yes "./dpi-dual-$w.service" > sec.out 2>&1 \
            || fail "security $w: $(tail -5 sec.out)"
        line=$(grep "Overall exposure level" sec.out) || fail "security $w: $(tail -5 sec.out)"
        echo "     $line"
        score=$(echo "$line" | sed -n 's/.*: \([0-9.]*\) .*/\1/p')
        awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "$w: exposure $score > 3.0"
    done
    echo "ok   systemd-analyze security --offline=yes: every exposure at most 3.0"
else
    echo "     systemd-analyze security has no --offline here (systemd < 250): not scored"
fi

# --- 4. cmake --install ---------------------------------------------------------------
DESTDIR="$work/root" cmake --install "$BUILD_DIR" --component Unspecified > install.out 2>&1 \
    || fail "cmake --install: $(tail -5 install.out)"
unitdir=$(sed -n 's/^DPI_SYSTEMD_UNIT_DIR:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
for u in $units; do
    [ -f "$work/root$unitdir/$u" ] || fail "cmake --install: no $unitdir/$u"
done
grep -q "^ExecStart=$bindir/dpi-collector " "$work/root$unitdir/dpi-dual-collector.service" \
    || fail "installed unit: wrong ExecStart"
[ -x "$work/root$bindir/dpi-collector" ] || fail "cmake --install: no $bindir/dpi-collector"
grep -q "^ExecStart=$bindir/dpi-dualctl mitmdump " "$work/root$unitdir/dpi-dual-mitmdump.service" \
    || fail "installed mitmdump unit: wrong ExecStart"
echo "ok   cmake --install: the units in $unitdir, ExecStart=$bindir/dpi-NAME (mitmdump: dpi-dualctl mitmdump)"
echo "it_systemd_units: passed"
