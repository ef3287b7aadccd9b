#!/bin/bash
# dpi-bridge-mitm on its unix socket and the bus: verdicts (allow, rule,
# ban file, decisions from the bus with expiry and UNBAN), mitm.request /
# mitm.response / mitm.verdict with an independently computed Community ID,
# garbage counted by reason in the heartbeat while the bridge keeps serving,
# threats.log (global.compat), SIGHUP reload of the ban file, start-up
# errors, stale socket, clean exit on SIGTERM.
set -euo pipefail
tmp=$(mktemp -d)
cleanup () {
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
bridge="$BUILD_DIR/bridge-mitm/dpi-bridge-mitm"
decision="$BUILD_DIR/tests/dpi-testpub"
testpub="$BUILD_DIR/tests/dpi-testpub"
ctl="$BUILD_DIR/ctl/dpi-dualctl"
rules="$SOURCE_DIR/deploy/bridge-mitm/rules.yaml"
py=/usr/bin/python3

fail () { echo "it_bridge_socket: $*"; echo "--- bridge stderr"; cat "$tmp"/*.err 2>/dev/null || true; exit 1; }

# must_fail NAME CONFIG: the bridge refuses to start: exit status 1, a
# clean exit (no sanitizer report), stderr in $tmp/NAME.log
must_fail () {
    local rc=0
    "$bridge" -c "$2" 2> "$tmp/$1.log" || rc=$?
    test $rc -eq 1 || fail "$1: exit status $rc, expected 1: $(cat "$tmp/$1.log")"
    if grep -q Sanitizer "$tmp/$1.log"; then fail "$1: $(cat "$tmp/$1.log")"; fi
}

write_config () {   # NAME RULES_FILE_LINE BAN_FILE
    cat > "$tmp/$1.yaml" <<YAML
global:
  host: bridgehost
  run_dir: $tmp/run-$1
  compat: true
  compat_dir: $tmp/compat-$1
bus:
  heartbeat_interval: 1
tap:
  community_id_seed: 0
mitm:
$2
  ban_file: "$3"
  max_record_bytes: 4096
YAML
}

# --- 1. start-up errors name what failed --------------------------------
write_config missing "  rules_file: $tmp/nope.yaml" ""
must_fail start1 "$tmp/missing.yaml"
grep -q "$tmp/nope.yaml: cannot open: No such file or directory" "$tmp/start1.log" \
    || fail "missing rules file not named: $(cat "$tmp/start1.log")"
test ! -e "$tmp/run-missing/bridge-mitm.sock" || fail "socket left behind by a failed start"

cat > "$tmp/broken-rules.yaml" <<'YAML'
rules:
  - id: good
    category: x
    severity: 2
    fields: [path]
    pattern: 'abc'
  - id: broken-rule
    category: x
    severity: 2
    fields: [query]
    pattern: '(abc'
YAML
write_config badrules "  rules_file: $tmp/broken-rules.yaml" ""
must_fail start2 "$tmp/badrules.yaml"
grep -q "broken-rules.yaml:7: rule 'broken-rule': pattern does not compile" "$tmp/start2.log" \
    || fail "bad pattern not named: $(cat "$tmp/start2.log")"

printf '192.0.2.1\n192.0.2.0/99\n' > "$tmp/bad.bans"
write_config badbans "  rules_file: $rules" "$tmp/bad.bans"
must_fail start3 "$tmp/badbans.yaml"
grep -q "bad.bans:2: prefix /99 is out of range for IPv4" "$tmp/start3.log" \
    || fail "bad ban file line not named: $(cat "$tmp/start3.log")"

# a path that exists and is not a socket is never removed
write_config notsock "  rules_file: $rules" ""
mkdir -p "$tmp/run-notsock"; echo keep > "$tmp/run-notsock/bridge-mitm.sock"
must_fail start4 "$tmp/notsock.yaml"
grep -q "bridge-mitm.sock: exists and is not a socket" "$tmp/start4.log" || fail "$(cat "$tmp/start4.log")"
grep -q keep "$tmp/run-notsock/bridge-mitm.sock"

# rules_file left at its default (rules.yaml beside $DPI_DUAL_CONFIG; never
# /etc in a test) and absent: ban list only, said and counted
write_config default "" ""
DPI_DUAL_CONFIG="$tmp/etc/dpi-dual.yaml" "$bridge" -c "$tmp/default.yaml" 2> "$tmp/default.err" &
pid=$!
"$ctl" tail -c "$tmp/default.yaml" -n 1 --timeout 10 sys.heartbeat > "$tmp/default.hb" 2> /dev/null
grep -q "$tmp/etc/rules.yaml (the default mitm.rules_file) does not exist: running with the ban list only" \
    "$tmp/default.err" || fail "no warning for the absent default rules file"
grep -q '{"name":"rules_loaded","value":0}' "$tmp/default.hb" || fail "rules_loaded not 0: $(cat "$tmp/default.hb")"
kill -TERM $pid; wait $pid || fail "bridge (default rules) did not exit 0"
echo "start-up errors and the default rules path: ok"

# --- 2. the real run ---------------------------------------------------------
printf '# static bans\n192.0.2.66\n2001:db8:bad::/48 3600  # a range\n' > "$tmp/bans"
write_config main "  rules_file: $rules" "$tmp/bans"
cfg="$tmp/main.yaml"
sock="$tmp/run-main/bridge-mitm.sock"
# a stale socket from a bridge that died is replaced
mkdir -p "$tmp/run-main"
$py -c "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])" "$sock"
test -S "$sock"
"$bridge" -c "$cfg" 2> "$tmp/main.err" &
bridge_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/main.err" && break; sleep 0.1; done
grep -q "listening on $sock" "$tmp/main.err" || fail "bridge did not start"
grep -q "mitm.max_record_bytes 4096 is below the addon's largest record (64512 bytes)" \
    "$tmp/main.err" || fail "no warning for a max_record_bytes the addon can exceed"
test "$(stat -c %a "$sock")" = 660 || fail "socket mode $(stat -c %a "$sock")"

# tail connects to the bridge only: the decision publishers below must wait
# for the bridge's own subscription, not for tail's
"$ctl" tail -c "$cfg" --connect "ipc://$tmp/run-main/bridge-mitm.pub" mitm. \
    > "$tmp/mitm.jsonl" 2> "$tmp/tail.err" &
tail_pid=$!

$py - "$cfg" "$sock" "$tmp" "$decision" "$testpub" "$bridge_pid" <<'PY'
import base64, hashlib, json, os, re, signal, socket, subprocess, sys, time

cfg, sock_path, tmp, decision_tool, testpub, bridge_pid = sys.argv[1:7]
bridge_pid = int(bridge_pid)
correlator_ep = "ipc://%s/run-main/correlator.pub" % tmp
mitm_log = os.path.join(tmp, "mitm.jsonl")

sys.path.insert(0, os.path.join(os.environ["SOURCE_DIR"], "tests", "lib"))
from community_id import community_id  # noqa: E402 (the spec, not common/community_id.c)

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("")                       # autobind: an abstract address to answer to
sock.settimeout(2)
counter = [0]
blocks = []                         # (flow id, reason, rule id) of every block

def request(query="q=shoes", client=("198.51.100.7", 51234), frontend=("192.0.2.1", 443),
            verdict=True, **extra):
    counter[0] += 1
    rid = extra.pop("id", "flow-%d" % counter[0])
    r = {"v": 1, "type": "request", "id": rid, "request_id": "req-" + rid,
         "ts": 1764110000.25,
         "client": {"ip": client[0], "port": client[1], "from_proxy": True},
         "frontend": {"ip": frontend[0], "port": frontend[1]},
         "peer": {"ip": "127.0.0.1", "port": 40022},
         "method": "GET", "scheme": "https", "host": "shop.example", "path": "/search",
         "query": query, "http_version": "HTTP/1.1",
         "headers": [["Host", "shop.example"],
                     ["User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"],
                     ["Accept", "text/html"]],
         "body": {"length": 5, "sha256": hashlib.sha256(b"hello").hexdigest(),
                  "prefix": base64.b64encode(b"hello").decode()},
         "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "sni": "shop.example",
                 "alpn": "h2"},
         "verdict": verdict, "truncated": False}
    r.update(extra)
    return r

sent_datagrams = 0

def send(record):
    global sent_datagrams
    data = record if isinstance(record, bytes) else json.dumps(record).encode()
    sock.sendto(data, sock_path)
    sent_datagrams += 1

def ask(record):
    send(record)
    reply = json.loads(sock.recv(65536))
    assert reply["v"] == 1 and reply["id"] == record["id"], reply
    if reply["action"] == "block":
        blocks.append((record["id"], reply["reason"], reply["rule_id"]))
    return reply

def messages():
    with open(mitm_log) as f:
        return [json.loads(l) for l in f if l.strip()]

def wait_message(pred, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        for m in messages():
            if pred(m):
                return m
        time.sleep(0.05)
    raise AssertionError("no %s on the bus" % what)

# tail joins asynchronously: warm up until it sees a request
for i in range(200):
    r = request(id="warmup-%d" % i)
    assert ask(r)["action"] == "allow"
    time.sleep(0.05)
    if any(m["topic"] == "mitm.request" for m in messages()):
        break
else:
    raise AssertionError("tail never saw a mitm.request")

# a valid request: allowed, published with the right Community ID
r = request(id="ok-1")
assert ask(r) == {"v": 1, "id": "ok-1", "action": "allow"}
m = wait_message(lambda m: m["topic"] == "mitm.request" and m["flow_id"] == "ok-1", "mitm.request ok-1")
cid = community_id("198.51.100.7", "192.0.2.1", 6, 51234, 443)
assert m["community_id"] == cid, (m["community_id"], cid)
assert m["header"]["source"] == "bridge-mitm@bridgehost", m["header"]
assert m["client_ip"] == "198.51.100.7" and m["client_port"] == 51234 and m["client_from_proxy"]
assert m["frontend_ip"] == "192.0.2.1" and m["frontend_port"] == 443
assert m["request_id"] == "req-ok-1" and m["method"] == "GET" and m["path"] == "/search"
assert m["query"] == "q=shoes" and m["host"] == "shop.example" and m["scheme"] == "https"
assert m["user_agent"].startswith("Mozilla/5.0") and len(m["headers"]) == 3, m
assert m["headers"][2] == {"name": "Accept", "value": "text/html"}, m["headers"]
assert m["body_length"] == 5 and base64.b64decode(m["body_prefix"]) == b"hello"
assert m["tls_version"] == "TLSv1.3" and m["tls_alpn"] == "h2" and m["ts_ns"] == 1764110000250000000
print("valid request: allowed, mitm.request with community_id", cid)

# IPv6, and an IPv4-mapped client written as IPv4
r = request(id="ok-v6", client=("2001:db8::7", 40000), frontend=("2001:db8::1", 443))
assert ask(r)["action"] == "allow"
m = wait_message(lambda m: m.get("flow_id") == "ok-v6", "mitm.request ok-v6")
assert m["community_id"] == community_id("2001:db8::7", "2001:db8::1", 6, 40000, 443), m
r = request(id="ok-mapped", client=("::ffff:198.51.100.8", 1234))
assert ask(r)["action"] == "allow"
m = wait_message(lambda m: m.get("flow_id") == "ok-mapped", "mitm.request ok-mapped")
assert m["client_ip"] == "198.51.100.8"
assert m["community_id"] == community_id("198.51.100.8", "192.0.2.1", 6, 1234, 443)

# SQL injection: blocked by the rule, published as mitm.verdict
r = request(id="sqli-1", query="id=1%20UNION%20SELECT%20password%20FROM%20users")
reply = ask(r)
assert reply == {"v": 1, "id": "sqli-1", "action": "block", "reason": "rule",
                 "rule_id": "sqli-union-select", "category": "sqli", "severity": 8}, reply
v = wait_message(lambda m: m["topic"] == "mitm.verdict" and m["flow_id"] == "sqli-1", "mitm.verdict")
assert v["action"] == "BLOCK" and v["reason"] == "rule" and v["rule_id"] == "sqli-union-select"
assert v["category"] == "sqli" and v["severity"] == 8 and v["latency_ns"] > 0, v
assert v["client_ip"] == "198.51.100.7" and v["request_id"] == "req-sqli-1" and v["community_id"] == cid
assert "UNION SELECT" in v["matched"] and len(v["matched"]) <= 128, v["matched"]
print("sqli: blocked by sqli-union-select, mitm.verdict in %d ns" % v["latency_ns"])
for rid, query, rule in (("xss-1", "q=<script>alert(1)</script>", "xss-script-tag"),
                         ("trav-1", "file=../../../../etc/passwd", "traversal-dotdot-param")):
    reply = ask(request(id=rid, query=query))
    assert reply["action"] == "block" and reply["rule_id"] == rule, reply
ua = request(id="scan-1")
ua["headers"][1][1] = "sqlmap/1.7.2#stable (https://sqlmap.org)"
assert ask(ua)["rule_id"] == "scanner-user-agent"

# the static ban file, v4 exact and v6 range
reply = ask(request(id="ban-file-1", client=("192.0.2.66", 1000)))
assert reply == {"v": 1, "id": "ban-file-1", "action": "block", "reason": "ban-list", "rule_id": "",
                 "category": "ban", "severity": 10}, reply
assert ask(request(id="ban-file-2", client=("2001:db8:bad:1::5", 1000),
                   frontend=("2001:db8::1", 443)))["reason"] == "ban-list"
v = wait_message(lambda m: m["topic"] == "mitm.verdict" and m["flow_id"] == "ban-file-2", "ban verdict")
assert v["matched"] == "2001:db8:bad::/48" and v["reason"] == "ban-list", v

def until(pred, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(what)

def verdict_of(ip, rid):
    counter[0] += 1
    return ask(request(id="%s-%d" % (rid, counter[0]), client=(ip, 2000)))

# a decision from the bus (dpi-testpub: BAN 203.0.113.1 for 3600 s)
assert verdict_of("203.0.113.1", "dec")["action"] == "allow"
subprocess.run([testpub, "-c", cfg, "--bind", correlator_ep, "--name", "correlator",
                "--topic", "decision", "-n", "1", "--wait-subscriber", "10000"], check=True,
               stdout=subprocess.DEVNULL)
reply = until(lambda: (lambda r: r if r["action"] == "block" else None)(verdict_of("203.0.113.1", "dec")),
              "the decision did not ban 203.0.113.1")
assert reply["reason"] == "ban-list", reply
print("decision from the bus: 203.0.113.1 blocked (ban-list)")

# a 2 s ban expires; a range ban is lifted by UNBAN
def decide(*args):
    subprocess.run([decision_tool, "-c", cfg, "--bind", correlator_ep, "--name", "correlator",
                    "--topic", "decision", "-n", "1", "--wait-subscriber", "10000"] + list(args),
                   check=True)
decide("--value", "203.0.113.50", "--duration", "2")
t0 = time.time()
until(lambda: verdict_of("203.0.113.50", "short")["action"] == "block", "2 s ban not applied")
time.sleep(max(0, 2.3 - (time.time() - t0)))
assert verdict_of("203.0.113.50", "short")["action"] == "allow", "the 2 s ban did not expire"
decide("--value", "198.18.0.0/15", "--scope", "range", "--duration", "0")
until(lambda: verdict_of("198.19.1.1", "range")["action"] == "block", "range ban not applied")
decide("--action", "unban", "--value", "198.18.0.0/15", "--scope", "range")
until(lambda: verdict_of("198.19.1.1", "range")["action"] == "allow", "UNBAN not applied")
print("decision with a 2 s expiry expired; UNBAN lifted a /15")

# garbage: each counted by reason, and the bridge keeps answering
valid = json.dumps(request(id="trunc")).encode()
garbage = {
    "bad_not_json": [b"not json at all", valid[: len(valid) // 2], b""],
    "bad_bad_utf8": [b'{"v":1,"type":"request","id":"\xff\xfe"}'],
    "bad_too_large": [json.dumps(request(id="big", query="q=" + "a" * 5000)).encode()],
    "bad_missing_field": [b'{"v":1,"type":"request","id":"g1","ts":1}'],
    "bad_bad_type": [json.dumps(dict(request(id="g2"), client={"ip": "198.51.100.7", "port": "443"})).encode(),
                     json.dumps(dict(request(id="g2b"), verdict="yes")).encode()],
    "bad_bad_value": [json.dumps(dict(request(id="g3"), client={"ip": "198.51.100.999", "port": 1})).encode(),
                      json.dumps(dict(request(id="g3b"), frontend={"ip": "192.0.2.1", "port": 65536})).encode()],
    "bad_unknown_type": [json.dumps(dict(request(id="g4"), type="websocket")).encode()],
    "bad_bad_version": [json.dumps(dict(request(id="g5"), v=2)).encode()],
    "bad_too_long": [json.dumps(request(id="g6", headers=[["a", "b"]] * 65)).encode()],
}
for reason, items in garbage.items():
    for data in items:
        send(data)
for _ in range(20):                 # a burst: logged at most once a second
    send(b"{{{{")
garbage["bad_not_json"] += [b"{{{{"] * 20
reply = ask(request(id="after-garbage"))
assert reply == {"v": 1, "id": "after-garbage", "action": "allow"}, reply
print("garbage: bridge still answers")

# responses and errors -> mitm.response, with the request's Community ID
send({"v": 1, "type": "response", "id": "ok-1", "request_id": "req-ok-1", "ts": 1764110000.5,
      "client": {"ip": "198.51.100.7", "port": 51234, "from_proxy": True},
      "frontend": {"ip": "192.0.2.1", "port": 443},
      "status": 200, "headers": [["Content-Type", "text/html"]], "body": {"length": 5120},
      "header_bytes": 231, "latency_us": 1830})
send({"v": 1, "type": "error", "id": "err-1", "ts": 1764110001,
      "client": {"ip": "198.51.100.7", "port": 51234}, "frontend": {"ip": "192.0.2.1", "port": 443},
      "error": "Connection refused"})
m = wait_message(lambda m: m["topic"] == "mitm.response" and m["flow_id"] == "ok-1", "mitm.response")
assert m["status"] == 200 and m["latency_us"] == 1830 and m["header_bytes"] == 231, m
assert m["community_id"] == cid and m["headers"][0]["name"] == "Content-Type"
m = wait_message(lambda m: m["topic"] == "mitm.response" and m["flow_id"] == "err-1", "error response")
assert m["error"] == "Connection refused" and m["community_id"] == cid

# several records in one datagram, newline-separated (PROTOCOL.md): each handled in
# order, the verdict answered; blank pieces skipped; a bad piece counted alone
resp2 = {"v": 1, "type": "response", "id": "multi-1", "ts": 1764110002,
         "client": {"ip": "198.51.100.7", "port": 51234}, "frontend": {"ip": "192.0.2.1", "port": 443},
         "status": 404, "headers": [], "body": {"length": 0}}
err2 = {"v": 1, "type": "error", "id": "multi-2", "ts": 1764110003,
        "client": {"ip": "198.51.100.7", "port": 51234}, "frontend": {"ip": "192.0.2.1", "port": 443},
        "error": "reset"}
multi = request(id="multi-0")
send(b"\n".join([json.dumps(multi).encode(), json.dumps(resp2).encode(), b"", b"  ",
                  json.dumps(err2).encode(), b"{not json", b""]))
reply = json.loads(sock.recv(65536))
assert reply == {"v": 1, "id": "multi-0", "action": "allow"}, reply
for fid in ("multi-0", "multi-1", "multi-2"):
    wait_message(lambda m: m.get("flow_id") == fid, "record %s of a multi-record datagram" % fid)
send(b"\n\n")                        # nothing but newlines: one bad record
garbage["bad_not_json"] += [b"{not json", b"\n\n"]
print("multi-record datagram: request answered, response and error published, bad piece counted")

# several verdict requests in one datagram (the addon sends those of one turn of
# mitmproxy's loop together): one datagram answers them all, in order, before anything of
# the datagram is published; records without verdict and bad pieces in between change nothing
batch = [request(id="batch-0"),
         request(id="batch-1", query="id=1%20UNION%20SELECT%20password%20FROM%20users"),
         request(id="batch-2", verdict=False), request(id="batch-3")]
send(b"\n".join([json.dumps(batch[0]).encode(), json.dumps(dict(resp2, id="batch-r")).encode(),
                  json.dumps(batch[1]).encode(), b"{bad", json.dumps(batch[2]).encode(),
                  json.dumps(batch[3]).encode()]))
garbage["bad_not_json"].append(b"{bad")
answers = [json.loads(line) for line in sock.recv(65536).split(b"\n")]
assert [(a["id"], a["action"]) for a in answers] == [
    ("batch-0", "allow"), ("batch-1", "block"), ("batch-3", "allow")], answers
assert answers[1] == {"v": 1, "id": "batch-1", "action": "block", "reason": "rule",
                      "rule_id": "sqli-union-select", "category": "sqli", "severity": 8}, answers
blocks.append(("batch-1", "rule", "sqli-union-select"))
sock.settimeout(0.3)
try:
    raise AssertionError("a second answer datagram: %r" % sock.recv(65536))
except socket.timeout:
    pass
sock.settimeout(2)
for fid in ("batch-0", "batch-r", "batch-1", "batch-2", "batch-3"):
    wait_message(lambda m: m.get("flow_id") == fid, "record %s of a batch" % fid)
v = wait_message(lambda m: m["topic"] == "mitm.verdict" and m["flow_id"] == "batch-1",
                 "mitm.verdict of a batch")
assert v["rule_id"] == "sqli-union-select" and int(v["latency_ns"]) > 0, v
# six: answered four at a time (a batch keeps its first answer waiting for the others)
six = [request(id="six-%d" % i, headers=[]) for i in range(6)]
for r in six:
    del r["tls"]                        # small: max_record_bytes is 4096 here
send(b"\n".join(json.dumps(r).encode() for r in six))
first, second = (sock.recv(65536).split(b"\n") for _ in range(2))
assert [json.loads(a)["id"] for a in first] == ["six-0", "six-1", "six-2", "six-3"], first
assert [json.loads(a)["id"] for a in second] == ["six-4", "six-5"], second
print("batch of verdict requests: answer datagrams of at most 4, in order; all published")

# no verdict asked: no answer, still published
send(request(id="quiet-1", verdict=False))
sock.settimeout(0.3)
try:
    sock.recv(65536)
    raise AssertionError("answered a record without verdict")
except socket.timeout:
    pass
sock.settimeout(2)
wait_message(lambda m: m.get("flow_id") == "quiet-1", "mitm.request without verdict")

# a sender without an address cannot be answered: counted
anon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
anon.sendto(json.dumps(request(id="anon-1")).encode(), sock_path)
sent_datagrams += 1
anon.close()

# SIGHUP reloads the ban file; a broken file keeps the previous list
assert verdict_of("198.51.100.200", "hup")["action"] == "allow"
with open(os.path.join(tmp, "bans"), "a") as f:
    f.write("198.51.100.200\n")
os.kill(bridge_pid, signal.SIGHUP)
until(lambda: verdict_of("198.51.100.200", "hup")["action"] == "block", "SIGHUP did not reload")
with open(os.path.join(tmp, "bans"), "a") as f:
    f.write("not-an-address\n")
os.kill(bridge_pid, signal.SIGHUP)
until(lambda: "ban file not reloaded" in open(os.path.join(tmp, "main.err")).read(), "no reload error")
assert verdict_of("198.51.100.200", "hup")["action"] == "block", "previous list lost"
assert verdict_of("192.0.2.66", "hup")["action"] == "block"
err = open(os.path.join(tmp, "main.err")).read()
assert re.search(r"ban file not reloaded: .*/bans:5: 'not-an-address' is not an IP address", err), err
print("SIGHUP: ban file reloaded; a broken one leaves the previous list")

# the heartbeat counts everything
time.sleep(0.2)
hb = subprocess.run(["%s/ctl/dpi-dualctl" % os.environ["BUILD_DIR"], "tail", "-c", cfg,
                     "--connect", "ipc://%s/run-main/bridge-mitm.pub" % tmp, "-n", "1",
                     "--timeout", "10", "sys.heartbeat"], check=True, capture_output=True, text=True)
hb = json.loads(hb.stdout.splitlines()[0])
counters = {c["name"]: c["value"] for c in hb["counters"]}
assert hb["name"] == "bridge-mitm", hb
for reason, items in garbage.items():
    assert counters[reason] == len(items), (reason, counters[reason], len(items))
assert counters["bad_records"] == sum(len(i) for i in garbage.values())
n_blocks = len(blocks)
assert counters["blocked_rule"] + counters["blocked_ban"] == n_blocks, (counters, n_blocks)
assert counters["blocked_rule"] == sum(1 for b in blocks if b[1] == "rule")
assert counters["reply_errors"] == 1, counters
assert counters["rules_loaded"] >= 15 and counters["decisions"] == 4, counters
assert counters["ban_expired"] >= 1, counters
assert counters["threats_logged"] == n_blocks and counters["threats_log_errors"] == 0
assert counters["ban_file_reloads"] == 2 and counters["ban_file_errors"] == 1
assert 0 < counters["latency_p50_ns"] <= counters["latency_p99_ns"] <= counters["latency_max_ns"]
assert counters["responses"] == 3 and counters["errors"] == 2, counters
assert counters["datagrams"] == sent_datagrams, (counters["datagrams"], sent_datagrams)
print("heartbeat: %d verdicts, %d allowed, %d blocked by rule, %d by ban; latency p50 %d ns, p99 %d ns"
      % (counters["verdicts"], counters["allowed"], counters["blocked_rule"], counters["blocked_ban"],
         counters["latency_p50_ns"], counters["latency_p99_ns"]))
assert sum(1 for l in err.splitlines() if "not-json" in l) <= 2, "not-json logged more than once a second"

# threats.log: one line per block, with the documented fields
lines = [json.loads(l) for l in open(os.path.join(tmp, "compat-main", "threats.log"))]
assert len(lines) == n_blocks, (len(lines), n_blocks)
words = {10: "critical", 9: "critical", 8: "high", 7: "high", 5: "medium"}
for line, (rid, reason, rule) in zip(lines, blocks):
    assert set(line) == {"timestamp", "source_ip", "request", "host", "user_agent", "type", "pattern",
                         "category", "severity", "severity_score", "reason", "matched", "request_id",
                         "community_id", "flow_id", "action"}, line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["timestamp"]), line
    assert line["flow_id"] == rid and line["action"] == "blocked" and line["reason"] == reason
    assert line["pattern"] == (rule if reason == "rule" else "ban-list"), line
    assert line["type"] == line["category"] and line["host"] == "shop.example"
    assert line["severity"] == words[line["severity_score"]], line
    assert line["request"].startswith("GET /search?"), line
sqli = [l for l in lines if l["flow_id"] == "sqli-1"][0]
assert sqli["source_ip"] == "198.51.100.7" and sqli["community_id"] == cid and sqli["severity"] == "high"
assert sqli["request_id"] == "req-sqli-1" and sqli["user_agent"].startswith("Mozilla/5.0")
print("threats.log: %d lines, one per block" % len(lines))
PY

kill -INT $tail_pid 2>/dev/null || true
wait $tail_pid 2>/dev/null || true
grep -q "tail: bridge-mitm@bridgehost: received [0-9]*, gaps 0" "$tmp/tail.err" \
    || fail "gaps on the bus: $(cat "$tmp/tail.err")"

# --- 3. SIGTERM: clean exit, socket removed ---------------------------------
kill -TERM $bridge_pid
rc=0; wait $bridge_pid || rc=$?
test $rc -eq 0 || fail "bridge exit status $rc"
test ! -e "$sock" || fail "socket file left after SIGTERM"
grep -q "verdicts:" "$tmp/main.err" || fail "no summary at exit"
if grep -q Sanitizer "$tmp/main.err"; then fail "sanitizer report"; fi
echo "it_bridge_socket: ok"
