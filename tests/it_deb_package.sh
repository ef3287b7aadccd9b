#!/usr/bin/env bash
# it_deb_package.sh — the Debian packages (debian/), built from this tree and
# installed into a clean Debian 12:
#  1. the working tree (git ls-files: committed and not, without what git
#     ignores) copied to a temporary directory, `dpkg-buildpackage -us -uc -b`
#     there (DEB_BUILD_OPTIONS=nocheck: ctest runs the unit tests already);
#     the repository is not touched;
#  2. lintian on the .changes: every line printed, an error (E:) fails;
#  3. a debootstrap'd Debian 12 minbase, unpacked from a cached tarball
#     (/var/cache/dpi-dual-test, $DPI_DEB_TEST_CACHE; made on the first run
#     from Debian's mirror, $DEBIAN_MIRROR; the .debs apt downloads are kept
#     there too, so a later run needs no network);
#  4. `apt-get install` of both packages in it (dependencies resolved from
#     Debian), then purged: what is left is the baseline; installed again:
#     - every binary runs (--version: its libraries are there);
#     - the system user and group dpi-dual, /var/lib/dpi-dual theirs (0750);
#     - /etc/dpi-dual/{dpi-dual.yaml,rules.yaml,modsecurity.conf} conffiles;
#     - `dpi-dualctl config check` of the installed configuration passes
#       (the rules compile, ModSecurity loads Debian's CRS);
#     - the installed dpi-collector classifies a dpi-pcapgen capture
#       (tcp-http: two HTTP flows) with the installed configuration;
#     - the man pages are installed and render (man -l, on this host);
#     - the units are installed, and not enabled;
#     - the addon is installed and mitmdump (its dependency) runs;
#  5. `dpkg --purge` of both: the tree is exactly the baseline again (every
#     file of the packages, /etc/dpi-dual, /var/lib/dpi-dual gone; nothing in
#     dpkg's "rc" state); the user dpi-dual stays (Debian policy: a package
#     does not remove its system user) and owns no file.
# Needs root (chroot, mounts), dpkg-dev, debhelper, lintian, debootstrap
# (deploy/install-deps.sh). ctest sets BUILD_DIR and SOURCE_DIR.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}" "${SOURCE_DIR:?SOURCE_DIR must be set}"
t_start=$SECONDS
say () { echo "it_deb_package: $*"; }
fail () { echo "it_deb_package: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (chroot, mount)"
for tool in dpkg-buildpackage dh lintian debootstrap chroot git; do
    command -v "$tool" > /dev/null || fail "$tool is missing (deploy/install-deps.sh installs it)"
done
cache=${DPI_DEB_TEST_CACHE:-/var/cache/dpi-dual-test}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$cache/bookworm-minbase.tar.gz
mkdir -p "$cache/archives/partial"

work=$(mktemp -d /var/tmp/it_deb_package.XXXXXX)
root=$work/root
mounts=()
cleanup () {
    local i
    for (( i = ${#mounts[@]} - 1; i >= 0; i-- )); do
        umount "${mounts[i]}" 2> /dev/null || umount -l "${mounts[i]}" 2> /dev/null || true
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
mnt () { mount "$@"; mounts+=("${!#}"); }
in_root () {    # COMMAND...: in the chroot, with an empty environment
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# --- 1. build ------------------------------------------------------------------------
t0=$SECONDS
mkdir "$work/src"
git -C "$SOURCE_DIR" ls-files -co --exclude-standard -z \
    | (cd "$SOURCE_DIR" && tar --null -T - -cf -) | tar -C "$work/src" -xf -
version=$(cd "$work/src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b -j2) \
    > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "dpkg-buildpackage failed"; }
debs=("$work/dpi-dual_${version}_$arch.deb" "$work/dpi-dual-mitmproxy-addon_${version}_all.deb")
for d in "${debs[@]}"; do [ -f "$d" ] || fail "dpkg-buildpackage made no $(basename "$d")"; done
say "ok   dpkg-buildpackage -b: $(cd "$work" && ls ./*.deb | xargs -n1 basename | tr '\n' ' ')($(( SECONDS - t0 )) s)"

# --- 2. lintian ------------------------------------------------------------------------
lintian --pedantic -I "$work/dpi-dual_${version}_$arch.changes" > "$work/lintian.out" 2>&1 || true
grep -v '^running with root privileges' "$work/lintian.out" | sed 's/^/     lintian: /' || true
if grep -q '^E: ' "$work/lintian.out"; then fail "lintian reports errors"; fi
say "ok   lintian: no error ($(grep -c '^W: ' "$work/lintian.out" || true) warnings)"

# --- 3. a clean Debian 12 ------------------------------------------------------------------
t0=$SECONDS
exec 9> "$cache/.lock"
flock 9          # one debootstrap at a time, and the cache's .debs shared safely
if [ ! -s "$base" ]; then
    say "no $base: debootstrap bookworm (minbase) from $mirror, once"
    mkdir "$work/base"
    debootstrap --variant=minbase bookworm "$work/base" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; fail "debootstrap failed (is $mirror reachable?)"; }
    cp /etc/resolv.conf "$work/base/etc/resolv.conf"
    chroot "$work/base" apt-get update -q > /dev/null || fail "apt-get update in the new system"
    chroot "$work/base" apt-get clean
    tar -C "$work/base" -czf "$base.tmp" . && mv "$base.tmp" "$base"
    rm -rf --one-file-system "$work/base"
fi
mkdir "$root"
tar -C "$root" -xzf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"     # nothing starts in here
chmod 0755 "$root/usr/sbin/policy-rc.d"
mnt -t proc proc "$root/proc"
mnt --bind "$cache/archives" "$root/var/cache/apt/archives"
mkdir "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
in_debs=(/tmp/debs/"$(basename "${debs[0]}")" /tmp/debs/"$(basename "${debs[1]}")")
say "ok   Debian 12 minbase unpacked from $base ($(( SECONDS - t0 )) s)"

# --- 4. install, purge, install again ------------------------------------------------------
t0=$SECONDS
install_all () {
    in_root apt-get install -y -q --no-install-recommends "${in_debs[@]}" > "$work/apt.log" 2>&1
}
if ! install_all; then        # the cached lists may be older than the mirror: once more
    in_root apt-get update -q > /dev/null 2>&1 || true
    install_all || { tail -30 "$work/apt.log"; fail "apt-get install of the packages failed"; }
fi
exec 9>&-       # the cache is not used further
say "ok   apt-get install ./dpi-dual_${version}_$arch.deb ./dpi-dual-mitmproxy-addon_${version}_all.deb: dependencies resolved ($(( SECONDS - t0 )) s)"
in_root dpkg --purge dpi-dual-mitmproxy-addon dpi-dual > "$work/purge1.log" 2>&1 \
    || { cat "$work/purge1.log"; fail "dpkg --purge (first) failed"; }

# The tree as a list: path, type, mode, owner, size but a directory's (dpkg's
# and apt's own state, logs and caches left out: they change by design)
snapshot () {
    (cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./var/cache \
        -o -path ./var/log -o -path ./var/lib/dpkg -o -path ./var/lib/apt \) -prune \
        -o -printf '%p %y %m %U:%G %s\n' | awk '$2 == "d" { $5 = "-" } { print }' | sort)
}
snapshot > "$work/before"
in_root dpkg -i "${in_debs[@]}" > "$work/dpkg-i.log" 2>&1 \
    || { cat "$work/dpkg-i.log"; fail "dpkg -i after the purge failed"; }

for b in dpi-collector dpi-bridge-mitm dpi-buffer dpi-correlator dpi-api dpi-dualctl; do
    [ -x "$root/usr/bin/$b" ] || fail "/usr/bin/$b is not installed"
done
for b in dpi-collector dpi-bridge-mitm dpi-buffer dpi-correlator dpi-api; do
    out=$(in_root "$b" --version 2>&1) || fail "$b --version: $out"
done
out=$(in_root dpi-dualctl --help 2>&1) || fail "dpi-dualctl --help: $out"
say "ok   the six binaries run (their libraries are installed)"

pw=$(in_root getent passwd dpi-dual) || fail "no user dpi-dual"
uid=$(echo "$pw" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "dpi-dual is not a system user: $pw"
case $pw in *:/usr/sbin/nologin) ;; *) fail "dpi-dual has a login shell: $pw" ;; esac
gid=$(in_root getent group dpi-dual | cut -d: -f3)
[ "$(echo "$pw" | cut -d: -f4)" = "$gid" ] || fail "dpi-dual's group is not dpi-dual: $pw"
[ "$(stat -c '%u:%g %a' "$root/var/lib/dpi-dual")" = "$uid:$gid 750" ] \
    || fail "/var/lib/dpi-dual: $(stat -c '%u:%g %a' "$root/var/lib/dpi-dual") (dpi-dual is $uid:$gid)"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' dpi-dual)
for f in dpi-dual.yaml rules.yaml modsecurity.conf; do
    echo "$conffiles" | grep -q " /etc/dpi-dual/$f " || fail "/etc/dpi-dual/$f is not a conffile"
done
say "ok   system user dpi-dual (uid $uid, nologin), /var/lib/dpi-dual dpi-dual 0750, three conffiles in /etc/dpi-dual"

in_root dpi-dualctl config check > "$work/check.out" 2> "$work/check.err" \
    || { cat "$work/check.err"; fail "dpi-dualctl config check of the installed configuration"; }
grep -q '^# dpi-dual effective configuration' "$work/check.out" || fail "config check printed: $(head -3 "$work/check.out")"
grep -q 'rules_file: "/etc/dpi-dual/rules.yaml"' "$work/check.out" || fail "config check: not the installed rules file"
if grep -q 'absent' "$work/check.err"; then fail "config check: $(cat "$work/check.err")"; fi
in_root dpi-dualctl config check -c /etc/dpi-dual/dpi-dual.yaml > /dev/null 2>&1 \
    || fail "dpi-dualctl config check -c /etc/dpi-dual/dpi-dual.yaml"
say "ok   dpi-dualctl config check: the installed dpi-dual.yaml, rules.yaml and modsecurity.conf (Debian's CRS) pass"

"$BUILD_DIR/tests/dpi-pcapgen" tcp-http "$root/tmp/http.pcap" "$work/http.expect.json" \
    || fail "dpi-pcapgen tcp-http"
rc=0
in_root dpi-collector -r /tmp/http.pcap --no-bus --jsonl /tmp/http.jsonl > "$work/collector.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$work/collector.out"; fail "the installed dpi-collector: exit $rc"; }
/usr/bin/python3 - "$work/http.expect.json" "$root/tmp/http.jsonl" <<'PY' || fail "the collector's events"
import json, sys
expect = json.load(open(sys.argv[1]))["flows"]
events = [json.loads(line) for line in open(sys.argv[2])]
ends = [e for e in events if e["event"] == "END"]
ok = len(ends) == len(expect) and all(e["app_protocol_name"] == f["proto"] for e, f in zip(ends, expect))
print(f"     {len(events)} events, {len(ends)} flows ended:",
      ", ".join(f'{e["app_protocol_name"]} {e["host_server_name"]}' for e in ends))
sys.exit(0 if ok else 1)
PY
say "ok   the installed dpi-collector classifies a capture with /etc/dpi-dual/dpi-dual.yaml"

for page in man1/dpi-collector.1 man1/dpi-bridge-mitm.1 man1/dpi-buffer.1 man1/dpi-correlator.1 man1/dpi-api.1 \
            man1/dpi-dualctl.1 man5/dpi-dual.yaml.5; do
    f=$root/usr/share/man/$page.gz
    [ -f "$f" ] || fail "no /usr/share/man/$page.gz"
    name=$(basename "$page" | sed 's/\.[0-9]$//')
    MANWIDTH=80 man -l "$f" 2> "$work/man.err" | grep -q "^NAME" || fail "$page does not render"
    [ ! -s "$work/man.err" ] || fail "$page: $(cat "$work/man.err")"
    MANWIDTH=80 man -l "$f" 2> /dev/null | grep -q "$name" || fail "$page does not name $name"
done
say "ok   seven man pages in /usr/share/man (man1, man5), each renders"

for u in dpi-dual.target dpi-dual-collector.service dpi-dual-bridge-mitm.service \
         dpi-dual-buffer.service dpi-dual-correlator.service; do
    [ -f "$root/lib/systemd/system/$u" ] || fail "no /lib/systemd/system/$u"
    case $u in *.service)
        grep -q "^ExecStart=/usr/bin/dpi-" "$root/lib/systemd/system/$u" || fail "$u: ExecStart not /usr/bin";;
    esac
done
enabled=$(find "$root/etc/systemd/system" -name 'dpi-dual*' 2> /dev/null || true)
[ -z "$enabled" ] || fail "units enabled by the package: $enabled"
[ -f "$root/usr/share/dpi-dual/mitmproxy/dpi_bridge.py" ] || fail "the addon is not installed"
in_root env HOME=/tmp mitmdump --version > "$work/mitmdump.out" 2>&1 || fail "mitmdump --version: $(cat "$work/mitmdump.out")"
for f in crowdsec/acquis-dpi-dual.yaml haproxy/haproxy.cfg bridge-mitm/bans.example mirror-setup.sh \
         www/index.html www/app.js www/style.css; do
    [ -f "$root/usr/share/dpi-dual/$f" ] || fail "no /usr/share/dpi-dual/$f"
done
say "ok   units installed and not enabled; the addon, mitmdump ($(head -1 "$work/mitmdump.out")), the examples"

# --- 5. purge ----------------------------------------------------------------------------
in_root dpkg -L dpi-dual dpi-dual-mitmproxy-addon > "$work/files"
in_root dpkg --purge dpi-dual-mitmproxy-addon dpi-dual > "$work/purge.log" 2>&1 \
    || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
if grep -qi 'warning' "$work/purge.log"; then fail "dpkg --purge: $(grep -i warning "$work/purge.log")"; fi
left=$(in_root dpkg -l 'dpi-dual*' 2> /dev/null | grep '^[a-z][a-zA-Z] ' || true)
[ -z "$left" ] || fail "dpkg still knows: $left"
snapshot > "$work/after"
if ! diff "$work/before" "$work/after" > "$work/diff"; then
    cat "$work/diff"
    fail "the tree after the purge differs from the one before the install"
fi
for d in /etc/dpi-dual /var/lib/dpi-dual /usr/share/dpi-dual /run/dpi-dual; do
    [ ! -e "$root$d" ] || fail "$d is left after the purge"
done
in_root getent passwd dpi-dual > /dev/null || fail "the user dpi-dual went (it should stay)"
owned=$(cd "$root" && find . -xdev -path ./proc -prune -o \( -uid "$uid" -o -gid "$gid" \) -print)
[ -z "$owned" ] || fail "files of the user dpi-dual left: $owned"
say "ok   dpkg --purge: the tree is as before the install ($(wc -l < "$work/files") paths of the packages gone), no rc state; the user dpi-dual stays and owns nothing"

say "passed in $(( SECONDS - t_start )) s"
