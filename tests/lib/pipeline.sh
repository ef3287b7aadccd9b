# tests/lib/pipeline.sh — the bridge → buffer → correlator pipeline on loopback, for the
# fault and security tests (sourced, bash; needs BUILD_DIR, SOURCE_DIR, a `pids` array,
# `fail` and `wait_for SECONDS COMMAND...` from the caller).
#
#   pl_yaml RUN                  YAML: bus heartbeat 1 s, the bridge's socket in RUN with the
#                                deploy rules, the buffer with the deploy CRS (no replays)
#   pl_start CFG RUN TMP         dpi-bridge-mitm, dpi-buffer, dpi-correlator (logs TMP/NAME.log,
#                                pids in pl_pid[NAME] and `pids`), until their sockets exist
#                                and the buffer and the correlator see the bridge's requests
#                                and the correlator the buffer's alerts (TMP/pl_warm.jsonl)
#   pl_snap CFG FILE             one `dpi-dualctl status --json` into FILE
#   pl_counter FILE WORKER NAME  a heartbeat counter of that snapshot (-1: not there)
#   pl_send SOCK NET ATTACKERS BENIGN [REQUESTS [clean]]   tests/lib/bridge_send.py
#   pl_clean_logs FILE...        fail on a sanitizer report in any of them

declare -A pl_pid

pl_yaml() {
    cat <<YAML
bus:
  heartbeat_interval: 1
mitm:
  socket: $1/bridge-mitm.sock
  rules_file: $SOURCE_DIR/deploy/bridge-mitm/rules.yaml
YAML
}

# the buffer's section, without its own key: the caller may add forensic: under it
pl_yaml_buffer() {
    cat <<YAML
buffer:
  modsecurity_conf: $SOURCE_DIR/deploy/buffer/modsecurity.conf
  replay_on_score: 0
YAML
}

pl_snap() { "$BUILD_DIR/ctl/dpi-dualctl" status -c "$1" --json > "$2" 2> /dev/null || true; }

pl_counter() {
    jq -s --arg w "$2" --arg n "$3" \
        '[.[] | select(.worker == $w) | .heartbeat.counters[]? | select(.name == $n) | .value] | first // -1' \
        "$1"
}

pl_send() { /usr/bin/python3 "$SOURCE_DIR/tests/lib/bridge_send.py" "$@"; }

pl_start() {
    local cfg=$1 run=$2 tmp=$3 name bin
    for name in bridge-mitm buffer correlator; do
        bin=$BUILD_DIR/$name/dpi-$name
        "$bin" -c "$cfg" > "$tmp/${name%-mitm}.log" 2>&1 &
        pids+=($!)
        pl_pid[$name]=$!
    done
    wait_for 600 test -S "$run/bridge-mitm.sock" || fail "dpi-bridge-mitm did not start"
    wait_for 600 test -S "$run/buffer.query" || fail "dpi-buffer did not start"
    wait_for 300 test -S "$run/correlator.query" || fail "dpi-correlator did not start"
    # the subscriptions are asynchronous: until the buffer analyses what the bridge sends
    # and the correlator has the buffer's alerts (one attacker, 10.9.0.1; what was sent,
    # blocks included, in TMP/pl_warm.jsonl)
    _pl_seen() {
        pl_send "$run/bridge-mitm.sock" 9 1 2 >> "$tmp/pl_warm.jsonl"
        pl_snap "$cfg" "$tmp/pl_status.json"
        [[ $(pl_counter "$tmp/pl_status.json" buffer analysed) -ge 1
           && $(pl_counter "$tmp/pl_status.json" correlator requests) -ge 1
           && $(pl_counter "$tmp/pl_status.json" correlator alerts) -ge 1 ]]
    }
    wait_for 120 _pl_seen || fail "the buffer and the correlator never saw the bridge's requests"
}

# pl_clean_logs FILE...: no sanitizer report in any of them (an ASan/UBSan build's workers
# write theirs to stderr, which the tests keep in their logs)
pl_clean_logs() {
    local f
    for f in "$@"; do
        [[ -e $f ]] || continue
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
            grep -m3 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"
            fail "a sanitizer report in $f"
        fi
    done
}
