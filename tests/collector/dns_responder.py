"""A tiny authoritative DNS responder for the tests (standard library only).

    dns_responder.py ADDRESS PORT READY_FILE

Answers every query (one question, class IN) with a fixed record: A
192.0.2.53 for type A, AAAA 2001:db8::53 for AAAA, an empty answer
otherwise. Writes READY_FILE once the socket is bound, then serves until
killed.
"""
import socket
import struct
import sys


def answer(query):
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack_from("!HHH", query, 0)
    if flags & 0x8000 or qd != 1:
        return None
    off = 12
    while off < len(query) and query[off] != 0:
        off += 1 + query[off]
    if off + 5 > len(query):
        return None
    question = query[12:off + 5]
    qtype = struct.unpack_from("!H", query, off + 1)[0]
    if qtype == 1:
        rdata = socket.inet_pton(socket.AF_INET, "192.0.2.53")
    elif qtype == 28:
        rdata = socket.inet_pton(socket.AF_INET6, "2001:db8::53")
    else:
        rdata = None
    header = struct.pack("!HHHHHH", qid, 0x8580, 1, 1 if rdata else 0, 0, 0)
    out = header + question
    if rdata:
        out += struct.pack("!HHHIH", 0xc00c, qtype, 1, 60, len(rdata)) + rdata
    return out


def main():
    address, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((address, port))
    open(ready, "w").write("ready\n")
    while True:
        query, peer = sock.recvfrom(4096)
        reply = answer(query)
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
