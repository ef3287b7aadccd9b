"""A small HTTP/1.1 backend for tests/it_mitm_chain.sh (correctness only).

    python3 backend.py PORT LOG
Answers every request 200 "ok METHOD PATH" and appends "METHOD PATH" to LOG,
so the test can tell which requests reached the backend."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16                  # one write per response (flushed per request)
    disable_nagle_algorithm = True

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with open(self.server.log_path, "a") as f:
            f.write(f"{self.command} {self.path}\n")
        body = f"ok {self.command} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.log_path = sys.argv[2]
server.serve_forever()
