"""A CrowdSec LAPI that misbehaves on demand, for tests/it_faults_lapi.sh (fault
injection: the happy path is tested against the real CrowdSec in it_lapi.sh).

    python3 lapi_faults.py PORTFILE MODEFILE LOG [PORT]

Listens on 127.0.0.1:PORT (default: a free port), written to PORTFILE once
listening. Every
request reads MODEFILE (one word) and answers as it says:
    good         the stream: one Ip decision (id 1, 192.0.2.1, 1h ban); login: a
                 token; alerts: 201 ["1"]; DELETE /v1/decisions: {"nbDeleted":"0"}
    slow         good, after 8 s (past the client's 5 s timeout)
    bad-json     200 "{not json"
    bad-types    200 {"new": "yes", "deleted": 7}
    bad-items    200, a stream whose decisions have wrong types (id a string,
                 value a number, duration "soon") next to one good one (id 2,
                 192.0.2.2)
    truncated    200, Content-Length 4096, 30 bytes, then the connection closed
    http500      500, a body with a newline and a control byte in it
    alerts500    good, but POST /v1/alerts answers 500 (the bans refused)
    alerts500once  good, but the first POST /v1/alerts answers 500 (a LAPI restarting)
    huge         200, 80 MiB of JSON (past the client's 64 MiB bound)
LOG gets one JSON line per request: {"method", "path", "mode", "auth": has an
Authorization or X-Api-Key header, "ips": the addresses of a POST /v1/alerts}.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, MODEFILE, LOG = sys.argv[1:4]
lock = threading.Lock()
alerts_failed = False   # alerts500once: the first POST /v1/alerts failed already

GOOD_STREAM = {"new": [{"id": 1, "scope": "Ip", "value": "192.0.2.1", "duration": "59m58s",
                        "type": "ban", "origin": "cscli", "scenario": "manual"}],
               "deleted": None}
BAD_ITEMS = {"new": [{"id": "x", "scope": "Ip", "value": "192.0.2.9", "duration": "1h"},
                     {"id": 3, "scope": "Ip", "value": 17, "duration": "1h"},
                     {"id": 4, "scope": "Ip", "value": "192.0.2.4", "duration": "soon"},
                     {"id": 5, "scope": ["Ip"], "value": "192.0.2.5"},
                     "not an object",
                     {"id": 2, "scope": "Ip", "value": "192.0.2.2", "duration": "1h",
                      "type": "ban", "origin": "cscli", "scenario": "manual"}],
             "deleted": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body, length=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) if length is None else length))
        if length is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        if length is not None:
            self.wfile.flush()
            self.close_connection = True

    def handle_any(self, method):
        body = b""
        if self.headers.get("Content-Length"):
            body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            mode = open(MODEFILE).read().strip()
        except OSError:
            mode = "good"
        ips = []
        if self.path.startswith("/v1/alerts") and body:
            try:
                ips = [a["source"]["value"] for a in json.loads(body)]
            except (ValueError, KeyError, TypeError):
                ips = ["unreadable"]
        with lock, open(LOG, "a") as f:
            f.write(json.dumps({"method": method, "path": self.path, "mode": mode, "ips": ips,
                                "auth": bool(self.headers.get("Authorization")
                                             or self.headers.get("X-Api-Key"))}) + "\n")
        if mode == "slow":
            time.sleep(8)
            mode = "good"
        if mode == "bad-json":
            return self.answer(200, b"{not json")
        if mode == "bad-types":
            return self.answer(200, {"new": "yes", "deleted": 7})
        if mode == "bad-items" and self.path.startswith("/v1/decisions/stream"):
            return self.answer(200, BAD_ITEMS)
        if mode == "truncated":
            return self.answer(200, b'{"new": [{"id": 1, "scope": "I', length=4096)
        global alerts_failed
        if mode == "alerts500once" and self.path.startswith("/v1/alerts"):
            with lock:
                first, alerts_failed = not alerts_failed, True
            if first:
                return self.answer(500, b'{"message": "database is locked"}')
        if mode == "http500" or (mode == "alerts500" and self.path.startswith("/v1/alerts")):
            return self.answer(500, b'{"message": "boom\ninjected line \x1b[31m"}')
        if mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            size = 80 << 20
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                self.wfile.write(b'{"new": [')
                for _ in range(size // len(chunk) - 1):
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True
            return None
        if self.path.startswith("/v1/decisions/stream"):
            return self.answer(200, GOOD_STREAM)
        if self.path.startswith("/v1/watchers/login"):
            return self.answer(200, {"code": 200, "expire": "2099-01-01T00:00:00Z",
                                     "token": "faultjwt"})
        if self.path.startswith("/v1/alerts"):
            return self.answer(201, ["1"] * max(1, len(ips)))
        if method == "DELETE" and self.path.startswith("/v1/decisions"):
            return self.answer(200, {"nbDeleted": "0"})
        return self.answer(404, {"message": "no route"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[4]) if len(sys.argv) > 4 else 0), Handler)
server.daemon_threads = True
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
