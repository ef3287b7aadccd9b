#!/usr/bin/env python3
"""api_garbage.py HOST PORT TOKEN — raw garbage on dpi-api's socket (tests/it_api.sh):
random bytes, broken request lines, huge headers, bodies cut short or lying about their
length, a huge chunk size, bad escapes, a connection left open half-way. The server may
answer anything, close, or wait for more (the client gives up after 1 s); it must stay up
(the caller checks)."""
import random
import socket
import sys

host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
rnd = random.Random(7)


def send(data):
    s = socket.create_connection((host, port), timeout=1)   # an open stream: given up after 1 s
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        s.close()


for _ in range(60):
    send(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000))))
auth = b"Authorization: Bearer " + token + b"\r\n"
cases = [
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
    b"GET /api/dpi/status HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
    b"POST /api/dpi/ban HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 100\r\n\r\n{\"ip\"",
    b"POST /api/dpi/ban HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: -5\r\n\r\n",
    b"POST /api/dpi/ban HTTP/1.1\r\nHost: x\r\n" + auth
    + b"Content-Length: 99999999999999999999\r\n\r\n",
    b"POST /api/dpi/ban HTTP/1.1\r\nHost: x\r\n" + auth
    + b"Transfer-Encoding: chunked\r\n\r\nffffffff\r\nxx",
    b"GET /api/dpi/context/%zz HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
    b"GET /api/dpi/tap/flows?limit=5&limit=6&ip=%00&proto=%ff HTTP/1.1\r\nHost: x\r\n" + auth
    + b"\r\n",
    b"GET /api/dpi/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"A" * 5000
    + b"\r\n\r\n",
    b"GET /api/dpi/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n\r\n",
    b"GET /api/dpi/events HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
]
for c in cases:
    send(c)
slow = socket.create_connection((host, port))
slow.sendall(b"GET /api/dpi/status HTTP/1.1\r\nHost: x\r\n")   # left open, never ended
print(f"api_garbage: 60 random and {len(cases)} crafted requests sent")
