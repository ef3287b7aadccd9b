#!/bin/bash
# The README's two commands on a Debian 12 that has never seen the project: a minimal
# system made with debootstrap (--variant=minbase, less than a fresh install has), a
# clean clone of this tree's HEAD in /root/dpi-dual, then, in a chroot with an empty
# environment, deploy/quickstart.sh and tests/run-all.sh. Prints how long each took and
# exits non-zero if either failed. Not part of tests/run-all.sh: it downloads a system.
#
#   tests/fresh-machine.sh [--keep] [DIR]      (as root; DIR default /srv/dpi-dual-fresh)
#
# DIR must not exist (or be one this script made and kept with --keep: then the system is
# reused, with its packages, and only the clone is made again). Everything it mounts is
# unmounted at the end; --keep keeps DIR, else it is removed. Needs debootstrap (installed
# if missing) and Debian's mirror (deb.debian.org, or $DEBIAN_MIRROR).
set -euo pipefail
keep=0
[[ ${1:-} = --keep ]] && { keep=1; shift; }
dir=${1:-/srv/dpi-dual-fresh}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
src=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "fresh-machine: $*"; }
die() { echo "fresh-machine: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mounts)"
git -C "$src" rev-parse --verify -q HEAD > /dev/null || die "$src is not a git tree with a HEAD"
if [[ -e $dir && ! -f $dir/.dpi-dual-fresh ]]; then
    die "$dir exists and was not made by this script: give another DIR"
fi

mounts=()
cleanup() {
    local i
    for (( i = ${#mounts[@]} - 1; i >= 0; i-- )); do
        umount "${mounts[i]}" 2> /dev/null || umount -l "${mounts[i]}" 2> /dev/null || true
    done
    if [[ $keep = 0 && -f $dir/.dpi-dual-fresh ]]; then
        rm -rf --one-file-system "$dir"
    fi
}
trap cleanup EXIT
mnt() { mount "$@"; mounts+=("${!#}"); }

if [[ ! -f $dir/.dpi-dual-fresh ]]; then
    command -v debootstrap > /dev/null || apt-get install -y -q debootstrap > /dev/null
    mkdir -p "$dir"
    touch "$dir/.dpi-dual-fresh"
    t0=$SECONDS
    say "debootstrap bookworm (minbase) into $dir from $mirror"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" > "$dir.debootstrap.log" 2>&1 \
        || die "debootstrap failed: see $dir.debootstrap.log"
    rm -f "$dir.debootstrap.log"
    say "system made in $(( SECONDS - t0 )) s"
fi
cp /etc/resolv.conf "$dir/etc/resolv.conf"

# / of the chroot a mount point of its own: `ip netns` (the tests' namespaces) remounts it
mnt --bind "$dir" "$dir"
mnt --bind /proc "$dir/proc"
mnt --bind /sys "$dir/sys"
mnt --bind /dev "$dir/dev"
mnt --bind /dev/pts "$dir/dev/pts"
mnt -t tmpfs tmpfs "$dir/run"
mnt -t tmpfs tmpfs "$dir/tmp"

rm -rf "$dir/root/dpi-dual"
git clone -q "$src" "$dir/root/dpi-dual"
say "clone of $(git -C "$dir/root/dpi-dual" log --oneline -1)"

run() {     # NAME COMMAND: COMMAND in the clone, in the chroot, with an empty environment
    local t0=$SECONDS rc=0
    say "== $1"
    chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "cd /root/dpi-dual && $2" || rc=$?
    say "$1: exit $rc after $(( SECONDS - t0 )) s"
    return $rc
}
status=0
run "deploy/quickstart.sh" deploy/quickstart.sh || status=1
run "tests/run-all.sh" tests/run-all.sh || status=1
[[ $status = 0 ]] && say "both commands passed" || say "FAILED"
exit $status
