#!/usr/bin/env python3
"""api_conns.py — raw HTTP/1.1 checks of dpi-api for tests/it_api.sh.

    api_conns.py head HOST PORT TOKEN PATH FILE
        HEAD PATH (with the token): prints the status line and the headers, one a
        line, then "BODY N" (the bytes that came after the headers, until the server
        closed); with FILE (not "-"), exit 1 unless Content-Length is FILE's size.
    api_conns.py many HOST PORT TOKEN FROM N GO
        opens N connections from the address FROM, one after the other, each
        connected before the next; waits for the file GO to exist (the caller makes
        it once the server has taken them all: had a first answer closed one before
        the server had accepted the last, that one could take its place); then sends
        GET /api/dpi/status on each and reads its answer: prints "SERVED S CLOSED C" (S answered with a status line, C
        closed without an answer) and the status of each, in order.
Timeouts are generous (30 s a read); nothing is asserted on time."""
import os
import socket
import sys
import time


def read_all(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def head(host, port, token, path, file):
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
              "Connection: close\r\n\r\n".encode())
    data = read_all(s)
    s.close()
    hdr, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        sys.exit(f"HEAD {path}: no end of headers in {data[:300]!r}")
    lines = hdr.decode("latin-1").split("\r\n")
    for line in lines:
        print(line)
    print(f"BODY {len(body)}")
    if file != "-":
        length = [l.split(":", 1)[1].strip() for l in lines[1:]
                  if l.lower().startswith("content-length:")]
        if length != [str(os.path.getsize(file))]:
            sys.exit(f"HEAD {path}: Content-Length {length}, not {os.path.getsize(file)}")


def many(host, port, token, source, n, go):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.settimeout(30)
        s.bind((source, 0))
        s.connect((host, int(port)))
        socks.append(s)
    end = time.monotonic() + 120
    while not os.path.exists(go):
        if time.monotonic() > end:
            sys.exit(f"{go} not made within 120 s")
        time.sleep(0.05)
    statuses = []
    for s in socks:
        try:
            s.sendall(f"GET /api/dpi/status HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
            data = read_all(s)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        s.close()
        statuses.append(data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ")
                        else "closed")
    served = sum(st != "closed" for st in statuses)
    print(f"SERVED {served} CLOSED {len(statuses) - served}")
    print(" ".join(statuses))


if __name__ == "__main__":
    {"head": head, "many": many}[sys.argv[1]](*sys.argv[2:])
