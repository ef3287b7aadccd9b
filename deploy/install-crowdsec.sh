#!/bin/bash
# install-crowdsec.sh — install Debian's crowdsec package without reaching the Internet,
# and install dpi-dual's acquisition, parser and scenarios (deploy/crowdsec/).
#
#   deploy/install-crowdsec.sh [--threats-log PATH]
#
# Root, non-interactive, idempotent: run it again after changing deploy/crowdsec/.
# PATH defaults to /tmp/secubox/threats.log (global.compat_dir of dpi-dual.yaml).
#
# Offline: crowdsec's postinst runs `cscli capi register` (a call to the Central API)
# when /etc/crowdsec/online_api_credentials.yaml is missing or empty, and fails the
# install without network. A file holding only a comment skips the registration (Debian's
# README.Debian) and, having no url/login/password, leaves the Central API disabled when
# crowdsec runs. The package ships a hub snapshot (/usr/share/crowdsec/hub, linked from
# /var/lib/crowdsec/hub: the "offline hub") and enables crowdsecurity/syslog-logs (s00-raw,
# which also holds crowdsecurity/non-syslog, the step our parser needs for a plain file),
# crowdsecurity/dateparse-enrich and crowdsecurity/whitelists (s02-enrich) from it.
# Nothing here runs `cscli hub update`; if the hub was switched to the online one, the
# script says so and leaves it (the admin's choice).
set -euo pipefail

threats_log=/tmp/secubox/threats.log
while [[ $# -gt 0 ]]; do
    case $1 in
        --threats-log) threats_log=${2:?--threats-log needs a path}; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "install-crowdsec: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ $threats_log == /* ]] || { echo "install-crowdsec: --threats-log must be absolute" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "install-crowdsec: must run as root" >&2; exit 1; }

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/crowdsec" && pwd)
etc=/etc/crowdsec
capi=$etc/online_api_credentials.yaml
say() { echo "install-crowdsec: $*"; }

# 1. The Central API opt-out, before the package is configured.
mkdir -p "$etc"
if [[ ! -s $capi ]]; then
    printf '%s\n' "# dpi-dual: no Central API (offline install, see deploy/install-crowdsec.sh)." \
        "# To register later: empty this file, then run 'cscli capi register'." > "$capi"
    say "wrote $capi (Central API registration skipped)"
fi

# 2. The package (or finish configuring it after an earlier failed attempt).
status=$(dpkg-query -W -f='${Status}' crowdsec 2>/dev/null || true)
if [[ $status != "install ok installed" ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt_install() {
        apt-get install -y -q --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold crowdsec
    }
    if [[ $status == *half-configured* || $status == *unpacked* ]]; then
        dpkg --configure crowdsec
    elif ! apt_install; then
        apt-get update -q && apt_install
    fi
    say "installed $(dpkg-query -W -f='crowdsec ${Version}' crowdsec)"
fi
command -v cscli >/dev/null && command -v crowdsec >/dev/null \
    || { echo "install-crowdsec: cscli/crowdsec missing after install" >&2; exit 1; }

# cscli asks version.crowdsec.net which hub branch to use unless one is configured, and
# stops when it cannot (every cscli hub command, offline): name the branch of this
# version in config.yaml.local (the package's own override file, merged over config.yaml).
local_cfg=$etc/config.yaml.local
branch=v$(dpkg-query -W -f='${Version}' crowdsec | sed 's/[-~+].*//')
if ! grep -qs '^ *hub_branch:' "$local_cfg"; then
    if grep -qs '^cscli:' "$local_cfg"; then
        sed -i "s|^cscli:.*|cscli:\n  hub_branch: $branch|" "$local_cfg"
    else
        printf '%s\n' "# dpi-dual: fixed hub branch, so that cscli works offline:" "cscli:" \
            "  hub_branch: $branch" >> "$local_cfg"
    fi
    say "set cscli.hub_branch: $branch in $local_cfg"
fi

# 3. The hub items our parser relies on, from the package's offline hub.
hub=/var/lib/crowdsec/hub
for item in parsers/s00-raw/crowdsecurity/syslog-logs.yaml \
            parsers/s02-enrich/crowdsecurity/dateparse-enrich.yaml; do
    stage=$(dirname "$(dirname "$item")")
    link=$etc/$stage/$(basename "$item")
    if [[ ! -e $link ]]; then
        [[ -f $hub/$item ]] || { echo "install-crowdsec: $hub/$item missing: cannot enable it offline" >&2; exit 1; }
        mkdir -p "$etc/$stage"
        ln -sfn "$hub/$item" "$link"
        say "enabled $item"
    fi
done
if [[ -e $hub/.index.json && ! -L $hub/.index.json ]]; then
    say "note: $hub uses the online hub (cscli hub update was run); left as is." \
        "To return to the package's offline hub: /var/lib/dpkg/info/crowdsec.postinst disable-online-hub"
fi

# 4. Ours. Plain files (local items for cscli), replaced on every run.
install -D -m 0644 "$src/dpi-dual-threats-logs.yaml" "$etc/parsers/s01-parse/dpi-dual-threats-logs.yaml"
install -D -m 0644 "$src/dpi-dual-critical.yaml" "$etc/scenarios/dpi-dual-critical.yaml"
install -D -m 0644 "$src/dpi-dual-repeated.yaml" "$etc/scenarios/dpi-dual-repeated.yaml"
mkdir -p "$etc/acquis.d"
sed "s|^  - /tmp/secubox/threats.log\$|  - $threats_log|" "$src/acquis-dpi-dual.yaml" \
    > "$etc/acquis.d/dpi-dual.yaml.tmp"
grep -qxF -- "  - $threats_log" "$etc/acquis.d/dpi-dual.yaml.tmp" \
    || { echo "install-crowdsec: $src/acquis-dpi-dual.yaml: threats.log line not found" >&2; exit 1; }
mv "$etc/acquis.d/dpi-dual.yaml.tmp" "$etc/acquis.d/dpi-dual.yaml"
mkdir -p "$(dirname "$threats_log")"
say "installed parser dpi-dual/threats-logs, scenarios dpi-dual/critical-threat and" \
    "dpi-dual/repeated-blocks, acquisition of $threats_log"

# 5. Check the whole configuration loads, then reload a running agent.
if ! out=$(crowdsec -c "$etc/config.yaml" -t 2>&1); then
    echo "$out" >&2; echo "install-crowdsec: crowdsec -t failed" >&2; exit 1
fi
if [[ -d /run/systemd/system ]] && systemctl is-active --quiet crowdsec; then
    systemctl reload crowdsec && say "reloaded crowdsec.service"
else
    say "crowdsec.service not running here (no systemd or stopped); start it with" \
        "'systemctl start crowdsec' or 'crowdsec -c $etc/config.yaml'"
fi
