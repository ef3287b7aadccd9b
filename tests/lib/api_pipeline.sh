# tests/lib/api_pipeline.sh — the pipeline of the API tests (it_api, it_rpcd_shim,
# it_dashboard), sourced; bash: dpi-correlator, dpi-buffer (the CRS of deploy/buffer) and
# dpi-api on a free loopback port with a 0600 token file, all on one run_dir's ipc bus;
# the traffic: dpi-collector reading a dpi-pcapgen capture, and recorded mitm requests
# published by dpi-testpub standing in for the bridge.
#
# The caller sets BUILD_DIR, SOURCE_DIR, TMP (a scratch directory) and NAME (its name, for
# the messages), and defines fail (message; exits). This file sources mitm_chain.sh:
# processes are started with chain_spawn (CHAIN_PIDS), stopped by api_cleanup.
#   api_config HOST [YAML]   TMP/dpi-dual.yaml (API_CFG): global (host HOST, run_dir
#                            API_RUN, state_dir), bus (heartbeat 1 s), buffer (its
#                            anomaly_window an hour: a client's context is of that
#                            window, and a test slowed down by a loaded machine must
#                            still find the requests it published a minute before), api
#                            (enabled, API_PORT, token_file TMP/token, rate_limit 100000);
#                            YAML (more top-level sections) appended. Sets API_TOKEN
#                            (no '+/=': it goes into a URL's fragment), API_URL, API_AUTH
#                            (curl's -H arguments)
#   api_start [WAIT]         start dpi-correlator, dpi-buffer and dpi-api (API_PID), logs
#                            TMP/{correlator,buffer,api}.log; wait for the query sockets,
#                            then (unless WAIT is "nowait") for dpi-api's status to show
#                            the three up
#   api_capture              TMP/cap.{pcap,json} (dpi-pcapgen tcp-http), read by
#                            dpi-collector -r onto the bus (log TMP/collector.log)
#   api_requests N [FLAGS]   N recorded requests (tests/lib/mitm_requests.py mixed N
#                            FLAGS), published by dpi-testpub as bridge-mitm
#   api_cleanup LOG...       (in the caller's EXIT trap) stop everything; on failure the
#                            tail of each LOG of TMP; remove TMP; exit with the status
. "$SOURCE_DIR/tests/lib/mitm_chain.sh"

api_config() {
    local host=$1 extra=${2:-}
    API_RUN="$TMP/run"; mkdir -p "$API_RUN"
    API_PORT=$($CHAIN_PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    (umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/' > "$TMP/token")
    API_TOKEN=$(cat "$TMP/token")
    API_URL="http://127.0.0.1:$API_PORT"
    API_AUTH=(-H "Authorization: Bearer $API_TOKEN")
    API_CFG="$TMP/dpi-dual.yaml"
    cat > "$API_CFG" <<YAML
global:
  host: $host
  run_dir: $API_RUN
  state_dir: $TMP/state
bus:
  heartbeat_interval: 1
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  replay_on_score: 0
  anomaly_window: 3600
api:
  enabled: true
  listen: "127.0.0.1:$API_PORT"
  token_file: $TMP/token
  rate_limit: 100000
$extra
YAML
}

# dpi-api's status shows buffer, correlator and itself up
api_up() {
    curl -s -o "$TMP/status.up" "${API_AUTH[@]}" "$API_URL/api/dpi/status" 2> /dev/null &&
        $CHAIN_PY -c "import json,sys; d=json.load(open('$TMP/status.up')); sys.exit(0 if all(any(w['name'] == n and w['state'] == 'up' for w in d['workers']) for n in ('buffer', 'correlator', 'api')) else 1)" 2> /dev/null
}

api_start() {
    chain_spawn "$TMP/correlator.log" "$BUILD_DIR/correlator/dpi-correlator" -c "$API_CFG"
    chain_spawn "$TMP/buffer.log" "$BUILD_DIR/buffer/dpi-buffer" -c "$API_CFG"
    chain_spawn "$TMP/api.log" "$BUILD_DIR/api/dpi-api" -c "$API_CFG"
    API_PID=${CHAIN_PIDS[-1]}
    chain_wait 60 test -S "$API_RUN/buffer.query" || fail "dpi-buffer did not start"
    chain_wait 30 test -S "$API_RUN/correlator.query" || fail "dpi-correlator did not start"
    [ "${1:-}" = nowait ] && return
    chain_wait 60 api_up ||
        fail "dpi-api does not see buffer, correlator and itself up: $(head -c 600 "$TMP/status.up" 2> /dev/null)"
}

api_capture() {
    "$BUILD_DIR/tests/dpi-pcapgen" tcp-http "$TMP/cap.pcap" "$TMP/cap.json" > /dev/null ||
        fail "dpi-pcapgen"
    "$BUILD_DIR/collector/dpi-collector" -r "$TMP/cap.pcap" -c "$API_CFG" \
        > "$TMP/collector.log" 2>&1 || fail "dpi-collector -r failed"
}

api_requests() {
    local n=$1; shift
    $CHAIN_PY "$SOURCE_DIR/tests/lib/mitm_requests.py" mixed "$n" "$@" > "$TMP/requests.jsonl"
    "$BUILD_DIR/tests/dpi-testpub" -c "$API_CFG" --name bridge-mitm \
        --bind "ipc://$API_RUN/bridge-mitm.pub" --wait-subscriber 10000 \
        --jsonl "$TMP/requests.jsonl" > /dev/null || fail "dpi-testpub"
}

api_cleanup() {
    local rc=$? log
    chain_stop
    if [ $rc -ne 0 ]; then
        for log in "$@"; do
            [ -s "$TMP/$log" ] && { echo "--- $log"; tail -n 20 "$TMP/$log"; }
        done
    fi
    rm -rf "$TMP"
    exit $rc
}
