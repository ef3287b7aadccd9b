# tests/lib/crowdsec.sh — a private CrowdSec for a test (sourced, bash).
#
#   cs_require NAME          install Debian's crowdsec with deploy/install-crowdsec.sh
#                            when cscli is missing (root only); needs $src
#   cs_setup DIR             a config dir in DIR/etc (sets cs_d, cs_cfg, cs_port, cs_log):
#                            no Central API, empty acquisition, its own sqlite db
#                            (DIR/crowdsec.db), LAPI on a free 127.0.0.1 port, logs in DIR/log
#   cs_lapi_start NAME       crowdsec -no-cs in the background (cs_lapi_pid), until it listens
#   cs_lapi_stop             stop it (the db stays: cs_lapi_start again resumes it)
#
# The caller adds its own parsers/scenarios to $cs_d before starting, and kills
# $cs_lapi_pid in its EXIT trap.

cs_require() {
    if ! command -v cscli >/dev/null || ! command -v crowdsec >/dev/null; then
        [[ $(id -u) -eq 0 ]] || { echo "$1: cscli missing and not root: cannot install"; exit 1; }
        local t0
        t0=$(date +%s)
        bash "$src/deploy/install-crowdsec.sh"
        echo "$1: crowdsec installed in $(( $(date +%s) - t0 )) s"
    fi
}

cs_setup() {
    local dir=$1
    cs_d=$dir/etc cs_log=$dir/log
    mkdir -p "$cs_d" "$cs_log"
    cp /etc/crowdsec/profiles.yaml /etc/crowdsec/simulation.yaml "$cs_d/"
    echo "# no Central API" > "$cs_d/online_api_credentials.yaml"
    : > "$cs_d/acquis.yaml"
    cs_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cp /etc/crowdsec/config.yaml "$cs_d/config.yaml"
    cat > "$cs_d/config.yaml.local" <<YAML
common:
  log_media: file
  log_dir: $cs_log/
config_paths:
  config_dir: $cs_d/
  simulation_path: $cs_d/simulation.yaml
crowdsec_service:
  acquisition_path: $cs_d/acquis.yaml
  acquisition_dir: $cs_d/acquis.d
cscli:
  hub_branch: v1.4.6
db_config:
  db_path: $dir/crowdsec.db
  use_wal: true
api:
  client:
    credentials_path: $cs_d/local_api_credentials.yaml
  server:
    listen_uri: 127.0.0.1:$cs_port
    profiles_path: $cs_d/profiles.yaml
    console_path: $cs_d/console.yaml
    online_client:
      credentials_path: $cs_d/online_api_credentials.yaml
prometheus:
  enabled: false
YAML
    cs_cfg=$cs_d/config.yaml
}

cs_lapi_start() {
    crowdsec -c "$cs_cfg" -no-cs >> "$cs_log/lapi.out" 2>&1 &
    cs_lapi_pid=$!
    for _ in $(seq 1 150); do
        (exec 3<>"/dev/tcp/127.0.0.1/$cs_port") 2>/dev/null && return 0
        kill -0 "$cs_lapi_pid" 2>/dev/null || { cat "$cs_log/"*; echo "$1: FAIL: LAPI exited"; exit 1; }
        sleep 0.2
    done
    echo "$1: FAIL: LAPI not listening on $cs_port after 30 s"
    exit 1
}

cs_lapi_stop() {
    [[ -n ${cs_lapi_pid:-} ]] || return 0
    kill "$cs_lapi_pid" 2>/dev/null && wait "$cs_lapi_pid" 2>/dev/null
    cs_lapi_pid=
    return 0
}
