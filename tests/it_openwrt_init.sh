#!/usr/bin/env bash
# it_openwrt_init.sh — openwrt/dpi-dual/files/dpi-dual.init, the procd init
# script, OFFLINE: no OpenWrt here, no procd, no rc.common, no ubus. What is
# checked and how:
#   - sh -n, and shellcheck (as dash: OpenWrt's busybox ash is not a dialect
#     shellcheck 0.9 knows) when shellcheck is installed;
#   - the script's functions run in dash with a STUB of
#     /lib/functions/procd.sh (procd_open_instance, procd_set_param,
#     procd_close_instance, procd_add_reload_trigger record their arguments
#     to a file; nothing is started), a stub of `uci` (the enabled option)
#     and of `logger`, and the real dpi-dualctl of this build converting the
#     package's UCI defaults (openwrt/dpi-dual/files/dpi-dual.config);
#   - start_service: one instance per worker of this host, named after it,
#     with `respawn`, the command /usr/bin/dpi-NAME -c /var/etc/dpi-dual.yaml
#     (here under $work) and that file as its `file`; start_service NAME: that
#     instance alone (what `dpi-dualctl start --via procd NAME` runs);
#     a name not of this host, a UCI file with an error and no previous
#     YAML, enabled '0': no instance; a UCI file with an error after a good
#     start: the previous YAML's instances; service_triggers: the reload
#     trigger on config dpi-dual.
#   - openwrt/dpi-dual/Makefile read by GNU make with STUBS of OpenWrt's
#     rules.mk, package.mk and cmake.mk (the INSTALL_* commands as the SDK
#     defines them, BuildPackage a target that runs Build/Prepare and
#     Package/dpi-dual/install): the source copy has what CMake needs, and the
#     install puts this build's binaries (cmake --install), the init script,
#     the UCI defaults, the rules and the YAML link where they belong.
# Not checked here: rc.common's dispatch (start NAME adds an instance, stop
# NAME deletes one: OpenWrt's own code), procd itself, the workers running
# on OpenWrt, the package's DEPENDS and its cross build (that needs the SDK).
# ctest sets BUILD_DIR and SOURCE_DIR.
set -euo pipefail

: "${BUILD_DIR:?BUILD_DIR must be set (ctest sets it)}"
: "${SOURCE_DIR:?SOURCE_DIR must be set (ctest sets it)}"
CTL="$BUILD_DIR/ctl/dpi-dualctl"
INIT="$SOURCE_DIR/openwrt/dpi-dual/files/dpi-dual.init"
DEFAULTS="$SOURCE_DIR/openwrt/dpi-dual/files/dpi-dual.config"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DPI_DUAL_CONFIG=$work/etc/dpi-dual.yaml     # never the host's /etc

source "$(dirname "${BASH_SOURCE[0]}")/ctl_checks.sh"

# 1. syntax, lint
check "sh -n" sh -n "$INIT"
if command -v shellcheck > /dev/null; then
    check "shellcheck -s dash (no finding)" shellcheck -s dash "$INIT"
else
    echo "it_openwrt_init: shellcheck missing: the init script is not linted (sh -n only)"
fi
check "USE_PROCD=1" grep -qx 'USE_PROCD=1' "$INIT"

# 2. The stubs (a STUB of procd.sh: it records, it starts nothing).
cat > "$work/procd-stub.sh" <<'SH'
# STUB of OpenWrt's /lib/functions/procd.sh for it_openwrt_init.sh
procd_open_instance () { echo "open $*" >> "$CALLS"; }
procd_set_param () { echo "param $*" >> "$CALLS"; }
procd_close_instance () { echo "close" >> "$CALLS"; }
procd_add_reload_trigger () { echo "trigger $*" >> "$CALLS"; }
uci () { [ "$1 $2 $3" = "-q get dpi-dual.@global[0].enabled" ] && echo "$STUB_ENABLED"; }
logger () { echo "logger $*" >> "$LOG"; }
SH

# run_init UCI-FILE FUNCTION [ARGS]: FUNCTION of the init script in dash,
# the stubs loaded first, the paths moved under $work; $status, $work/calls,
# $work/log, $work/out, $work/err
run_init () {
    local uci=$1
    shift
    : > "$work/calls"; : > "$work/log"
    set +e
    CALLS=$work/calls LOG=$work/log STUB_ENABLED=${STUB_ENABLED:-1} UCI_FILE=$uci \
        dash -c '. "$0"; . "$1"; shift
                 DPI_CTL=$CTL_BIN; DPI_UCI=$UCI_FILE; DPI_YAML=$WORK/var/etc/dpi-dual.yaml
                 DPI_YAML_ETC=$WORK/etc/dpi-dual.yaml
                 "$@"' "$work/procd-stub.sh" "$INIT" "$@" \
        > "$work/out" 2> "$work/err" </dev/null
    status=$?
    set -e
}
# (dash -c takes the variables from the environment)
export CTL_BIN=$CTL WORK=$work
yaml=$work/var/etc/dpi-dual.yaml

instances () { grep -c '^open ' "$work/calls" || true; }
has_call () { grep -qFx -- "$1" "$work/calls"; }

# 3. start_service: the package's defaults, mode dual: four instances.
run_init "$DEFAULTS" start_service
check "start: returns 0 (got $status)" test "$status" -eq 0
check "start: the YAML generated" test -s "$yaml"
check "start: the YAML passes config check" bash -c "'$CTL' config check -c '$yaml' > /dev/null 2>&1"
check "start: 4 instances (got $(instances))" test "$(instances)" -eq 4
for name in collector bridge-mitm buffer correlator; do
    check "start: instance $name" has_call "open $name"
    check "start: $name's command" has_call "param command /usr/bin/dpi-$name -c $yaml"
done
check "start: every instance respawns (4 respawn params)" \
    test "$(grep -c '^param respawn 3600 5 5$' "$work/calls")" -eq 4
check "start: the YAML is each instance's file (restart when it changes)" \
    test "$(grep -c "^param file $yaml\$" "$work/calls")" -eq 4
check "start: every instance closed" test "$(grep -c '^close$' "$work/calls")" -eq 4
check "start: instances in order, each closed before the next opens" \
    test "$(grep -E '^(open|close)' "$work/calls" | tr '\n' ' ')" = \
         "open collector close open bridge-mitm close open buffer close open correlator close "

# 4. start_service NAME: that instance alone.
run_init "$DEFAULTS" start_service bridge-mitm
check "start bridge-mitm: returns 0 (got $status)" test "$status" -eq 0
check "start bridge-mitm: one instance (got $(instances))" test "$(instances)" -eq 1
check "start bridge-mitm: it" has_call "open bridge-mitm"
check "start bridge-mitm: its command" has_call "param command /usr/bin/dpi-bridge-mitm -c $yaml"

# 5. A worker the host does not run: refused, no instance.
sed "s/^\t#list workers 'collector'/\tlist workers 'collector'/; s/^\t#list workers 'bridge-mitm'/\tlist workers 'bridge-mitm'/" \
    "$DEFAULTS" > "$work/router.config"
run_init "$work/router.config" start_service
check "router (workers collector, bridge-mitm): 2 instances (got $(instances))" \
    test "$(instances)" -eq 2
check "router: collector" has_call "open collector"
check "router: bridge-mitm" has_call "open bridge-mitm"
run_init "$work/router.config" start_service buffer
check "start buffer on the router: returns 1 (got $status)" test "$status" -eq 1
check "start buffer on the router: no instance" test "$(instances)" -eq 0
check "start buffer on the router: said" grep -qF "buffer is not one of this host's workers: collector bridge-mitm" "$work/err"

# 6. A UCI file with an error: nothing started, the error in syslog with its line.
printf "config global 'global'\n\toption mode 'dual\n" > "$work/bad.config"
rm -f "$yaml"
run_init "$work/bad.config" start_service
check "bad UCI: returns 1 (got $status)" test "$status" -eq 1
check "bad UCI: no instance" test "$(instances)" -eq 0
check "bad UCI: no YAML written" test ! -e "$yaml"
check "bad UCI: the error logged with FILE:LINE" \
    grep -qF "$work/bad.config:2: unterminated ' quote" "$work/log"
# ... and with a previous good YAML (a reload with a typo): the workers keep it.
run_init "$DEFAULTS" start_service
cp "$yaml" "$work/good.yaml"
run_init "$work/bad.config" start_service
check "bad UCI, previous YAML: returns 0 (got $status)" test "$status" -eq 0
check "bad UCI, previous YAML: left as it was" cmp -s "$yaml" "$work/good.yaml"
check "bad UCI, previous YAML: the instances from it (got $(instances))" test "$(instances)" -eq 4
check "bad UCI, previous YAML: said" grep -qF "the workers keep the previous configuration" "$work/log"

# 7. enabled '0': nothing, and said.
STUB_ENABLED=0 run_init "$DEFAULTS" start_service
check "disabled: returns 0 (got $status)" test "$status" -eq 0
check "disabled: no instance" test "$(instances)" -eq 0
check "disabled: said" grep -qF "disabled (option enabled '0'" "$work/log"

# 8. No UCI file: the YAML in /etc/dpi-dual is used as it is.
mkdir -p "$work/etc"
printf 'global:\n  workers: [correlator]\n' > "$work/etc/dpi-dual.yaml"
run_init "$work/no-such-uci" start_service
check "no UCI: returns 0 (got $status)" test "$status" -eq 0
check "no UCI: the correlator from /etc/dpi-dual/dpi-dual.yaml" \
    has_call "param command /usr/bin/dpi-correlator -c $work/etc/dpi-dual.yaml"
check "no UCI: one instance (got $(instances))" test "$(instances)" -eq 1

# 9. The reload trigger.
run_init "$DEFAULTS" service_triggers
check "service_triggers: reload on config dpi-dual" has_call "trigger dpi-dual"

# 10. ctl/cmd_start.c calls the script as `/etc/init.d/dpi-dual start|stop NAME`.
check "cmd_start.c: start NAME" grep -qF '"/etc/init.d/dpi-dual", "start", (char *) name' \
    "$SOURCE_DIR/ctl/cmd_start.c"
check "cmd_start.c: stop NAME" grep -qF '"/etc/init.d/dpi-dual", "stop", (char *) name' \
    "$SOURCE_DIR/ctl/cmd_start.c"

# 11. The package Makefile against STUBS of the SDK's make files.
stub=$work/sdk
mkdir -p "$stub/include" "$stub/build/dpi-dual" "$stub/root"
DESTDIR=$stub/pkg-install cmake --install "$BUILD_DIR" --prefix /usr > /dev/null
cat > "$stub/rules.mk" <<'MK'
# STUB of OpenWrt's rules.mk
INCLUDE_DIR := $(TOPDIR)/include
INSTALL_DIR := install -d -m0755
INSTALL_BIN := install -m0755
INSTALL_DATA := install -m0644
INSTALL_CONF := install -m0600
CP := cp -fpR
LN := ln -sf
MK
cat > "$stub/include/package.mk" <<'MK'
# STUB of OpenWrt's package.mk: BuildPackage prepares and installs
PKG_BUILD_DIR := $(STUB)/build/$(PKG_NAME)
PKG_INSTALL_DIR := $(STUB)/pkg-install
define BuildPackage
stub-install:
	$$(call Build/Prepare)
	$$(call Package/$(1)/install,$(STUB)/root)
endef
MK
cat > "$stub/include/cmake.mk" <<'MK'
# STUB of OpenWrt's cmake.mk
CMAKE_OPTIONS :=
MK
pkgdir=$SOURCE_DIR/openwrt/dpi-dual
set +e
make -s -C "$pkgdir" TOPDIR="$stub" STUB="$stub" stub-install > "$work/make.out" 2>&1
mstatus=$?
set -e
check "Makefile with stub SDK: install runs (got $mstatus: $(tail -3 "$work/make.out"))" \
    test "$mstatus" -eq 0
for f in CMakeLists.txt common/uci.c ctl/cmd_uci.c proto deploy/systemd/CMakeLists.txt \
         docs/DESIGN.md bench tests/CMakeLists.txt; do
    check "Build/Prepare copied $f" test -e "$stub/build/dpi-dual/$f"
done
for f in usr/bin/dpi-collector usr/bin/dpi-bridge-mitm usr/bin/dpi-buffer usr/bin/dpi-correlator \
         usr/bin/dpi-dualctl etc/init.d/dpi-dual; do
    check "installed, executable: /$f" test -x "$stub/root/$f"
done
check "installed: /etc/config/dpi-dual is the UCI defaults" \
    cmp -s "$stub/root/etc/config/dpi-dual" "$DEFAULTS"
check "installed: /etc/dpi-dual/rules.yaml" test -s "$stub/root/etc/dpi-dual/rules.yaml"
check "installed: /etc/dpi-dual/dpi-dual.yaml links to /var/etc/dpi-dual.yaml" \
    test "$(readlink "$stub/root/etc/dpi-dual/dpi-dual.yaml")" = /var/etc/dpi-dual.yaml
check "installed: the mitmproxy addon" test -s "$stub/root/usr/lib/dpi-dual/dpi_bridge.py"
check "installed, executable: the rpcd plugin /usr/libexec/rpcd/luci.dpi-dual" \
    test -x "$stub/root/usr/libexec/rpcd/luci.dpi-dual"
check "installed: the rpcd ACL /usr/share/rpcd/acl.d/luci-app-dpi-dual.json" \
    test -s "$stub/root/usr/share/rpcd/acl.d/luci-app-dpi-dual.json"
check "init script: the binaries where the package puts them" \
    grep -qx 'DPI_BIN=/usr/bin' "$INIT"

echo "it_openwrt_init: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
