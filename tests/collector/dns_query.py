"""Send one DNS query and wait for its answer (standard library only).

    dns_query.py SERVER NAME

Prints "LOCAL_IP LOCAL_PORT ANSWER" — the source address and port the query
left from (the flow's initiator), and the address in the answer — or exits 1
when no matching answer comes within 5 s.
"""
import random
import socket
import struct
import sys


def main():
    server, name = sys.argv[1], sys.argv[2]
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    qid = random.randrange(1, 65535)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.connect((server, 53))
    sock.send(query)
    reply = sock.recv(4096)
    rid, flags, _, ancount = struct.unpack_from("!HHHH", reply, 0)
    if rid != qid or not flags & 0x8000 or ancount < 1:
        sys.exit(f"dns_query: bad answer {reply!r}")
    answer = socket.inet_ntop(socket.AF_INET, reply[-4:])
    local = sock.getsockname()
    print(local[0], local[1], answer)


if __name__ == "__main__":
    main()
