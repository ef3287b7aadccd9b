#!/bin/bash
# Install every Debian 12 package dpi-dual needs to build, run its demo and
# run its whole test suite. Idempotent and non-interactive; run as root.
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config protobuf-c-compiler
    libzmq3-dev libczmq-dev libprotobuf-c-dev libyaml-dev libndpi-dev libpcap-dev
    # tests and tools: reference protobuf runtime for the JSON check,
    # ndpiReader for conformance, packet capture and namespaces
    python3 python3-protobuf protobuf-compiler libndpi-bin tcpdump iproute2 zstd curl jq
    procps
    # tests/it_deb_package.sh copies the tree with git; tests/check_openapi.py
    # reads api/openapi.yaml with PyYAML
    git python3-yaml
    # dpi-dualctl topology --dot, rendered to SVG by tests/it_ctl_topology.sh
    graphviz
    # systemd-analyze verify/security on the units (deploy/systemd; PID 1 need not be systemd)
    systemd
    # the OpenWrt init script linted (tests/it_openwrt_init.sh; skipped, and said, without it)
    shellcheck
    # MITM stream: the bridge, and the real programs its tests run
    libvectorscan-dev libjansson-dev haproxy mitmproxy wrk openssl
    # dpi-buffer: deep analysis (ModSecurity + OWASP CRS), forensic log, replay
    libmodsecurity-dev modsecurity-crs libsodium-dev libcurl4-openssl-dev
    libgoogle-perftools-dev
    # dpi-api: HTTP server; promtool checks its /metrics (tests/it_api.sh)
    libmicrohttpd-dev prometheus
    # the dashboard (api/www) in headless Chromium over the DevTools protocol
    # (tests/it_dashboard.sh, tests/dashboard_cdp.py)
    chromium python3-websocket
    # bench/mitm-overhead: instructions and syscalls per request
    valgrind linux-perf
    # the man pages (docs/man/*.scd, built by cmake)
    scdoc
    # the Debian packages (debian/, dpkg-buildpackage) and tests/it_deb_package.sh:
    # debhelper builds them, lintian checks them, debootstrap makes the clean
    # Debian 12 the test installs them into
    debhelper lintian debootstrap
    # the libFuzzer harnesses (tests/fuzz): clang and its runtime (libFuzzer, ASan, UBSan)
    clang libclang-rt-14-dev
    # bench/soak draws its samples
    python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
