"""The Python half of tests/it_bridge_socket.sh: a client of dpi-bridge-mitm's
unix datagram socket (bridge-mitm/PROTOCOL.md) that reads what the bridge
published from the JSON lines of `dpi-dualctl tail`.

    python3 bridge_socket.py stale-socket PATH
        binds a unix datagram socket at PATH and leaves its file behind, as a
        bridge that died would.
    python3 bridge_socket.py exchange CONFIG SOCKET TMP TESTPUB CTL BRIDGE_PID
        with the bridge (pid BRIDGE_PID) running on SOCKET with CONFIG, the ban
        file TMP/bans, its stderr in TMP/main.err, compat threats.log in
        TMP/compat-main, and tail writing its mitm.* messages to TMP/mitm.jsonl:
        verdicts (allow, rules, the ban file, decisions published with TESTPUB
        with expiry and UNBAN), mitm.request / mitm.response / mitm.verdict with
        the Community ID of tests/lib/community_id.py, garbage counted by reason,
        multi-record and batched datagrams, SIGHUP reload, then the heartbeat's
        counters (read with CTL) and threats.log against everything sent.
        Raises AssertionError (exit 1) at the first check that fails.
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from community_id import community_id  # noqa: E402 (the spec, not common/community_id.c)

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SQLI = "id=1%20UNION%20SELECT%20password%20FROM%20users"
CLIENT = {"ip": "198.51.100.7", "port": 51234}
FRONTEND = {"ip": "192.0.2.1", "port": 443}


def until(pred, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(what)


def no_answer(sock, what):
    """Nothing arrives on SOCK within 0.3 s."""
    sock.settimeout(0.3)
    try:
        raise AssertionError("%s: %r" % (what, sock.recv(65536)))
    except socket.timeout:
        pass
    sock.settimeout(2)


class Bridge:
    """The socket to the bridge, what was sent, and what tail received."""

    def __init__(self, cfg, sock_path, tmp, testpub, ctl, bridge_pid):
        self.cfg, self.sock_path, self.tmp = cfg, sock_path, tmp
        self.testpub, self.ctl, self.pid = testpub, ctl, bridge_pid
        self.correlator_ep = "ipc://%s/run-main/correlator.pub" % tmp
        self.mitm_log = os.path.join(tmp, "mitm.jsonl")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("")              # autobind: an abstract address to answer to
        self.sock.settimeout(2)
        self.counter = 0
        self.blocks = []                # (flow id, reason, rule id) of every block
        self.sent_datagrams = 0
        self.garbage = {}               # heartbeat counter -> the bad records sent

    def request(self, query="q=shoes", client=("198.51.100.7", 51234),
                frontend=("192.0.2.1", 443), verdict=True, **extra):
        self.counter += 1
        rid = extra.pop("id", "flow-%d" % self.counter)
        r = {"v": 1, "type": "request", "id": rid, "request_id": "req-" + rid,
             "ts": 1764110000.25,
             "client": {"ip": client[0], "port": client[1], "from_proxy": True},
             "frontend": {"ip": frontend[0], "port": frontend[1]},
             "peer": {"ip": "127.0.0.1", "port": 40022},
             "method": "GET", "scheme": "https", "host": "shop.example", "path": "/search",
             "query": query, "http_version": "HTTP/1.1",
             "headers": [["Host", "shop.example"], ["User-Agent", UA], ["Accept", "text/html"]],
             "body": {"length": 5, "sha256": hashlib.sha256(b"hello").hexdigest(),
                      "prefix": base64.b64encode(b"hello").decode()},
             "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                     "sni": "shop.example", "alpn": "h2"},
             "verdict": verdict, "truncated": False}
        r.update(extra)
        return r

    def send(self, record):
        data = record if isinstance(record, bytes) else json.dumps(record).encode()
        self.sock.sendto(data, self.sock_path)
        self.sent_datagrams += 1

    def ask(self, record):
        self.send(record)
        reply = json.loads(self.sock.recv(65536))
        assert reply["v"] == 1 and reply["id"] == record["id"], reply
        if reply["action"] == "block":
            self.blocks.append((record["id"], reply["reason"], reply["rule_id"]))
        return reply

    def verdict_of(self, ip, rid):
        self.counter += 1
        return self.ask(self.request(id="%s-%d" % (rid, self.counter), client=(ip, 2000)))

    def messages(self):
        with open(self.mitm_log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def wait_message(self, pred, what, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            for m in self.messages():
                if pred(m):
                    return m
            time.sleep(0.05)
        raise AssertionError("no %s on the bus" % what)

    def decide(self, *args, quiet=False):
        """One decision message, published as the correlator with dpi-testpub."""
        subprocess.run([self.testpub, "-c", self.cfg, "--bind", self.correlator_ep,
                        "--name", "correlator", "--topic", "decision", "-n", "1",
                        "--wait-subscriber", "10000"] + list(args),
                       check=True, stdout=subprocess.DEVNULL if quiet else None)

    def bad(self, reason, *items):
        """Count ITEMS (already sent) as bad records of REASON."""
        self.garbage.setdefault(reason, []).extend(items)


def warm_up(b):
    """tail joins asynchronously: warm up until it sees a request."""
    for i in range(200):
        assert b.ask(b.request(id="warmup-%d" % i))["action"] == "allow"
        time.sleep(0.05)
        if any(m["topic"] == "mitm.request" for m in b.messages()):
            return
    raise AssertionError("tail never saw a mitm.request")


def check_valid(b):
    """A valid request: allowed, published with the right Community ID; IPv6,
    and an IPv4-mapped client written as IPv4. Returns the Community ID."""
    assert b.ask(b.request(id="ok-1")) == {"v": 1, "id": "ok-1", "action": "allow"}
    m = b.wait_message(lambda m: m["topic"] == "mitm.request" and m["flow_id"] == "ok-1",
                       "mitm.request ok-1")
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
    assert m["body_truncated"] is False, m     # an addon without body.truncated: false
    assert m["tls_version"] == "TLSv1.3" and m["tls_alpn"] == "h2" \
        and m["ts_ns"] == 1764110000250000000
    print("valid request: allowed, mitm.request with community_id", cid)

    # the body window at its limit (mitm.body_bytes 1024 here), the body longer
    window = bytes(range(256)) * 4
    r = b.request(id="ok-window", body={"length": 5000, "sha256": "ab" * 32, "truncated": True,
                                         "prefix": base64.b64encode(window).decode()})
    assert b.ask(r)["action"] == "allow"
    m = b.wait_message(lambda m: m.get("flow_id") == "ok-window", "mitm.request ok-window")
    assert base64.b64decode(m["body_prefix"]) == window and m["body_truncated"] is True \
        and m["body_length"] == 5000, m
    print("body window of 1024 bytes with body.truncated: body_prefix, body_truncated published")

    r = b.request(id="ok-v6", client=("2001:db8::7", 40000), frontend=("2001:db8::1", 443))
    assert b.ask(r)["action"] == "allow"
    m = b.wait_message(lambda m: m.get("flow_id") == "ok-v6", "mitm.request ok-v6")
    assert m["community_id"] == community_id("2001:db8::7", "2001:db8::1", 6, 40000, 443), m
    r = b.request(id="ok-mapped", client=("::ffff:198.51.100.8", 1234))
    assert b.ask(r)["action"] == "allow"
    m = b.wait_message(lambda m: m.get("flow_id") == "ok-mapped", "mitm.request ok-mapped")
    assert m["client_ip"] == "198.51.100.8"
    assert m["community_id"] == community_id("198.51.100.8", "192.0.2.1", 6, 1234, 443)
    return cid


def check_rules_and_ban_file(b, cid):
    """Blocks by the shipped rules (published as mitm.verdict) and the ban file."""
    reply = b.ask(b.request(id="sqli-1", query=SQLI))
    assert reply == {"v": 1, "id": "sqli-1", "action": "block", "reason": "rule",
                     "rule_id": "sqli-union-select", "category": "sqli", "severity": 8}, reply
    v = b.wait_message(lambda m: m["topic"] == "mitm.verdict" and m["flow_id"] == "sqli-1",
                       "mitm.verdict")
    assert v["action"] == "BLOCK" and v["reason"] == "rule" and v["rule_id"] == "sqli-union-select"
    assert v["category"] == "sqli" and v["severity"] == 8 and v["latency_ns"] > 0, v
    assert v["client_ip"] == "198.51.100.7" and v["request_id"] == "req-sqli-1" \
        and v["community_id"] == cid
    assert "UNION SELECT" in v["matched"] and len(v["matched"]) <= 128, v["matched"]
    print("sqli: blocked by sqli-union-select, mitm.verdict in %d ns" % v["latency_ns"])
    for rid, query, rule in (("xss-1", "q=<script>alert(1)</script>", "xss-script-tag"),
                             ("trav-1", "file=../../../../etc/passwd", "traversal-dotdot-param")):
        reply = b.ask(b.request(id=rid, query=query))
        assert reply["action"] == "block" and reply["rule_id"] == rule, reply
    ua = b.request(id="scan-1")
    ua["headers"][1][1] = "sqlmap/1.7.2#stable (https://sqlmap.org)"
    assert b.ask(ua)["rule_id"] == "scanner-user-agent"

    # the static ban file, v4 exact and v6 range
    reply = b.ask(b.request(id="ban-file-1", client=("192.0.2.66", 1000)))
    assert reply == {"v": 1, "id": "ban-file-1", "action": "block", "reason": "ban-list",
                     "rule_id": "", "category": "ban", "severity": 10}, reply
    assert b.ask(b.request(id="ban-file-2", client=("2001:db8:bad:1::5", 1000),
                           frontend=("2001:db8::1", 443)))["reason"] == "ban-list"
    v = b.wait_message(lambda m: m["topic"] == "mitm.verdict" and m["flow_id"] == "ban-file-2",
                       "ban verdict")
    assert v["matched"] == "2001:db8:bad::/48" and v["reason"] == "ban-list", v


def check_decisions(b):
    """decision messages from the bus: a ban, a 2 s ban that expires, a range
    ban lifted by UNBAN."""
    # dpi-testpub's default decision: BAN 203.0.113.1 for 3600 s
    assert b.verdict_of("203.0.113.1", "dec")["action"] == "allow"
    b.decide(quiet=True)
    reply = until(lambda: (lambda r: r if r["action"] == "block" else None)(
        b.verdict_of("203.0.113.1", "dec")), "the decision did not ban 203.0.113.1")
    assert reply["reason"] == "ban-list", reply
    print("decision from the bus: 203.0.113.1 blocked (ban-list)")

    b.decide("--value", "203.0.113.50", "--duration", "2")
    t0 = time.time()
    until(lambda: b.verdict_of("203.0.113.50", "short")["action"] == "block",
          "2 s ban not applied")
    time.sleep(max(0, 2.3 - (time.time() - t0)))
    assert b.verdict_of("203.0.113.50", "short")["action"] == "allow", "the 2 s ban did not expire"
    b.decide("--value", "198.18.0.0/15", "--scope", "range", "--duration", "0")
    until(lambda: b.verdict_of("198.19.1.1", "range")["action"] == "block", "range ban not applied")
    b.decide("--action", "unban", "--value", "198.18.0.0/15", "--scope", "range")
    until(lambda: b.verdict_of("198.19.1.1", "range")["action"] == "allow", "UNBAN not applied")
    print("decision with a 2 s expiry expired; UNBAN lifted a /15")


def check_garbage(b):
    """Garbage, each kind counted by reason (in the heartbeat, later); the
    bridge keeps answering."""
    valid = json.dumps(b.request(id="trunc")).encode()

    def changed(rid, **fields):
        return json.dumps(dict(b.request(id=rid), **fields)).encode()
    garbage = {
        "bad_not_json": [b"not json at all", valid[: len(valid) // 2], b""],
        "bad_bad_utf8": [b'{"v":1,"type":"request","id":"\xff\xfe"}'],
        "bad_too_large": [json.dumps(b.request(id="big", query="q=" + "a" * 5000)).encode()],
        "bad_missing_field": [b'{"v":1,"type":"request","id":"g1","ts":1}'],
        "bad_bad_type": [changed("g2", client={"ip": "198.51.100.7", "port": "443"}),
                         changed("g2b", verdict="yes")],
        "bad_bad_value": [changed("g3", client={"ip": "198.51.100.999", "port": 1}),
                          changed("g3b", frontend={"ip": "192.0.2.1", "port": 65536})],
        "bad_unknown_type": [changed("g4", type="websocket")],
        "bad_bad_version": [changed("g5", v=2)],
        "bad_too_long": [json.dumps(b.request(id="g6", headers=[["a", "b"]] * 65)).encode(),
                         changed("g6b", body={"length": 1025, "prefix": base64.b64encode(
                             b"w" * 1025).decode()})],      # over mitm.body_bytes
    }
    for reason, items in garbage.items():
        for data in items:
            b.send(data)
        b.bad(reason, *items)
    for _ in range(20):                 # a burst: logged at most once a second
        b.send(b"{{{{")
    b.bad("bad_not_json", *[b"{{{{"] * 20)
    reply = b.ask(b.request(id="after-garbage"))
    assert reply == {"v": 1, "id": "after-garbage", "action": "allow"}, reply
    print("garbage: bridge still answers")


def check_responses(b, cid):
    """Responses and errors -> mitm.response, with the request's Community ID."""
    b.send({"v": 1, "type": "response", "id": "ok-1", "request_id": "req-ok-1",
            "ts": 1764110000.5, "client": dict(CLIENT, from_proxy=True), "frontend": FRONTEND,
            "status": 200, "headers": [["Content-Type", "text/html"]],
            "body": {"length": 5120}, "header_bytes": 231, "latency_us": 1830})
    b.send({"v": 1, "type": "error", "id": "err-1", "ts": 1764110001,
            "client": CLIENT, "frontend": FRONTEND, "error": "Connection refused"})
    m = b.wait_message(lambda m: m["topic"] == "mitm.response" and m["flow_id"] == "ok-1",
                       "mitm.response")
    assert m["status"] == 200 and m["latency_us"] == 1830 and m["header_bytes"] == 231, m
    assert m["community_id"] == cid and m["headers"][0]["name"] == "Content-Type"
    m = b.wait_message(lambda m: m["topic"] == "mitm.response" and m["flow_id"] == "err-1",
                       "error response")
    assert m["error"] == "Connection refused" and m["community_id"] == cid


RESP2 = {"v": 1, "type": "response", "id": "multi-1", "ts": 1764110002,
         "client": CLIENT, "frontend": FRONTEND, "status": 404, "headers": [],
         "body": {"length": 0}}
ERR2 = {"v": 1, "type": "error", "id": "multi-2", "ts": 1764110003,
        "client": CLIENT, "frontend": FRONTEND, "error": "reset"}


def check_multi_record(b):
    """Several records in one datagram, newline-separated (PROTOCOL.md): each
    handled in order, the verdict answered; blank pieces skipped; a bad piece
    counted alone."""
    multi = b.request(id="multi-0")
    b.send(b"\n".join([json.dumps(multi).encode(), json.dumps(RESP2).encode(), b"", b"  ",
                       json.dumps(ERR2).encode(), b"{not json", b""]))
    reply = json.loads(b.sock.recv(65536))
    assert reply == {"v": 1, "id": "multi-0", "action": "allow"}, reply
    for fid in ("multi-0", "multi-1", "multi-2"):
        b.wait_message(lambda m: m.get("flow_id") == fid,
                       "record %s of a multi-record datagram" % fid)
    b.send(b"\n\n")                     # nothing but newlines: one bad record
    b.bad("bad_not_json", b"{not json", b"\n\n")
    print("multi-record datagram: request answered, response and error published, "
          "bad piece counted")


def check_batch(b):
    """Several verdict requests in one datagram (the addon sends those of one
    turn of mitmproxy's loop together): one datagram answers them all, in
    order, before anything of the datagram is published; records without
    verdict and bad pieces in between change nothing."""
    batch = [b.request(id="batch-0"), b.request(id="batch-1", query=SQLI),
             b.request(id="batch-2", verdict=False), b.request(id="batch-3")]
    b.send(b"\n".join([json.dumps(batch[0]).encode(),
                       json.dumps(dict(RESP2, id="batch-r")).encode(),
                       json.dumps(batch[1]).encode(), b"{bad", json.dumps(batch[2]).encode(),
                       json.dumps(batch[3]).encode()]))
    b.bad("bad_not_json", b"{bad")
    answers = [json.loads(line) for line in b.sock.recv(65536).split(b"\n")]
    assert [(a["id"], a["action"]) for a in answers] == [
        ("batch-0", "allow"), ("batch-1", "block"), ("batch-3", "allow")], answers
    assert answers[1] == {"v": 1, "id": "batch-1", "action": "block", "reason": "rule",
                          "rule_id": "sqli-union-select", "category": "sqli",
                          "severity": 8}, answers
    b.blocks.append(("batch-1", "rule", "sqli-union-select"))
    no_answer(b.sock, "a second answer datagram")
    for fid in ("batch-0", "batch-r", "batch-1", "batch-2", "batch-3"):
        b.wait_message(lambda m: m.get("flow_id") == fid, "record %s of a batch" % fid)
    v = b.wait_message(lambda m: m["topic"] == "mitm.verdict" and m["flow_id"] == "batch-1",
                       "mitm.verdict of a batch")
    assert v["rule_id"] == "sqli-union-select" and int(v["latency_ns"]) > 0, v
    # six: answered four at a time (a batch keeps its first answer waiting for the others)
    six = [b.request(id="six-%d" % i, headers=[]) for i in range(6)]
    for r in six:
        del r["tls"]                    # small: max_record_bytes is 4096 here
    b.send(b"\n".join(json.dumps(r).encode() for r in six))
    first, second = (b.sock.recv(65536).split(b"\n") for _ in range(2))
    assert [json.loads(a)["id"] for a in first] == ["six-0", "six-1", "six-2", "six-3"], first
    assert [json.loads(a)["id"] for a in second] == ["six-4", "six-5"], second
    print("batch of verdict requests: answer datagrams of at most 4, in order; all published")


def check_unanswered(b):
    """No verdict asked: no answer, still published. A sender without an
    address cannot be answered: counted (reply_errors)."""
    b.send(b.request(id="quiet-1", verdict=False))
    no_answer(b.sock, "answered a record without verdict")
    b.wait_message(lambda m: m.get("flow_id") == "quiet-1", "mitm.request without verdict")
    anon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    anon.sendto(json.dumps(b.request(id="anon-1")).encode(), b.sock_path)
    b.sent_datagrams += 1
    anon.close()


def check_sighup(b):
    """SIGHUP reloads the ban file; a broken file keeps the previous list.
    Returns the bridge's stderr so far."""
    bans, errfile = os.path.join(b.tmp, "bans"), os.path.join(b.tmp, "main.err")
    assert b.verdict_of("198.51.100.200", "hup")["action"] == "allow"
    with open(bans, "a") as f:
        f.write("198.51.100.200\n")
    os.kill(b.pid, signal.SIGHUP)
    until(lambda: b.verdict_of("198.51.100.200", "hup")["action"] == "block",
          "SIGHUP did not reload")
    with open(bans, "a") as f:
        f.write("not-an-address\n")
    os.kill(b.pid, signal.SIGHUP)
    until(lambda: "ban file not reloaded" in open(errfile).read(), "no reload error")
    assert b.verdict_of("198.51.100.200", "hup")["action"] == "block", "previous list lost"
    assert b.verdict_of("192.0.2.66", "hup")["action"] == "block"
    err = open(errfile).read()
    assert re.search(r"ban file not reloaded: .*/bans:5: 'not-an-address' is not an IP address",
                     err), err
    print("SIGHUP: ban file reloaded; a broken one leaves the previous list")
    return err


def check_heartbeat(b, err):
    """The heartbeat counts everything sent above."""
    time.sleep(0.2)
    hb = subprocess.run([b.ctl, "tail", "-c", b.cfg,
                         "--connect", "ipc://%s/run-main/bridge-mitm.pub" % b.tmp, "-n", "1",
                         "--timeout", "10", "sys.heartbeat"],
                        check=True, capture_output=True, text=True)
    hb = json.loads(hb.stdout.splitlines()[0])
    counters = {c["name"]: c["value"] for c in hb["counters"]}
    assert hb["name"] == "bridge-mitm", hb
    for reason, items in b.garbage.items():
        assert counters[reason] == len(items), (reason, counters[reason], len(items))
    assert counters["bad_records"] == sum(len(i) for i in b.garbage.values())
    n_blocks = len(b.blocks)
    assert counters["blocked_rule"] + counters["blocked_ban"] == n_blocks, (counters, n_blocks)
    assert counters["blocked_rule"] == sum(1 for x in b.blocks if x[1] == "rule")
    assert counters["reply_errors"] == 1, counters
    assert counters["rules_loaded"] >= 15 and counters["decisions"] == 4, counters
    assert counters["ban_expired"] >= 1, counters
    assert counters["threats_logged"] == n_blocks and counters["threats_log_errors"] == 0
    assert counters["ban_file_reloads"] == 2 and counters["ban_file_errors"] == 1
    assert 0 < counters["latency_p50_ns"] <= counters["latency_p99_ns"] \
        <= counters["latency_max_ns"]
    assert counters["responses"] == 3 and counters["errors"] == 2, counters
    assert counters["datagrams"] == b.sent_datagrams, (counters["datagrams"], b.sent_datagrams)
    print("heartbeat: %d verdicts, %d allowed, %d blocked by rule, %d by ban; "
          "latency p50 %d ns, p99 %d ns"
          % (counters["verdicts"], counters["allowed"], counters["blocked_rule"],
             counters["blocked_ban"], counters["latency_p50_ns"], counters["latency_p99_ns"]))
    assert sum(1 for line in err.splitlines() if "not-json" in line) <= 2, \
        "not-json logged more than once a second"


THREAT_FIELDS = {"timestamp", "source_ip", "request", "host", "user_agent", "type", "pattern",
                 "category", "severity", "severity_score", "reason", "matched", "request_id",
                 "community_id", "flow_id", "action"}


def check_threats_log(b, cid):
    """threats.log: one line per block, with the documented fields."""
    lines = [json.loads(line)
             for line in open(os.path.join(b.tmp, "compat-main", "threats.log"))]
    assert len(lines) == len(b.blocks), (len(lines), len(b.blocks))
    words = {10: "critical", 9: "critical", 8: "high", 7: "high", 5: "medium"}
    for line, (rid, reason, rule) in zip(lines, b.blocks):
        assert set(line) == THREAT_FIELDS, line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["timestamp"]), line
        assert line["flow_id"] == rid and line["action"] == "blocked" and line["reason"] == reason
        assert line["pattern"] == (rule if reason == "rule" else "ban-list"), line
        assert line["type"] == line["category"] and line["host"] == "shop.example"
        assert line["severity"] == words[line["severity_score"]], line
        assert line["request"].startswith("GET /search?"), line
    sqli = [x for x in lines if x["flow_id"] == "sqli-1"][0]
    assert sqli["source_ip"] == "198.51.100.7" and sqli["community_id"] == cid \
        and sqli["severity"] == "high"
    assert sqli["request_id"] == "req-sqli-1" and sqli["user_agent"].startswith("Mozilla/5.0")
    print("threats.log: %d lines, one per block" % len(lines))


def exchange(cfg, sock_path, tmp, testpub, ctl, bridge_pid):
    b = Bridge(cfg, sock_path, tmp, testpub, ctl, int(bridge_pid))
    warm_up(b)
    cid = check_valid(b)
    check_rules_and_ban_file(b, cid)
    check_decisions(b)
    check_garbage(b)
    check_responses(b, cid)
    check_multi_record(b)
    check_batch(b)
    check_unanswered(b)
    err = check_sighup(b)
    check_heartbeat(b, err)
    check_threats_log(b, cid)


def stale_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)


def main(argv):
    commands = {"stale-socket": (stale_socket, 1), "exchange": (exchange, 6)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        sys.exit(__doc__)
    commands[argv[1]][0](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
