"""Community ID v1 (corelight/community-id-spec), computed independently of
common/community_id.c so the test checks the bridge against the spec.

    python3 community_id.py SRC_IP SRC_PORT DST_IP DST_PORT [PROTO [SEED]]
prints "1:<base64>" for the flow (PROTO defaults to 6, TCP; SEED to 0)."""
import base64
import hashlib
import ipaddress
import struct
import sys


def community_id_v1(saddr, sport, daddr, dport, proto=6, seed=0):
    s = ipaddress.ip_address(saddr).packed
    d = ipaddress.ip_address(daddr).packed
    if len(s) != len(d):
        raise ValueError("address families differ")
    # the smaller (address, port) end goes first
    if (s, sport) > (d, dport):
        s, sport, d, dport = d, dport, s, sport
    data = struct.pack("!H", seed) + s + d + struct.pack("!BB", proto, 0)
    if proto in (6, 17, 132):
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


# Vectors of the spec's baseline (also in tests/test_community_id.c).
assert community_id_v1("128.232.110.120", 34855, "66.35.250.204", 80) \
    == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
assert community_id_v1("66.35.250.204", 80, "128.232.110.120", 34855) \
    == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
assert community_id_v1("1.2.3.4", 1122, "5.6.7.8", 3344, seed=1) \
    == "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="
assert community_id_v1("2001:470:e5bf:dead:4957:2174:e82c:4887", 63943,
                       "2607:f8b0:400c:c03::1a", 25, seed=1) \
    == "1:eJYTW6AOzFLlSUoESovMjnu7rMw="

if __name__ == "__main__":
    a = sys.argv[1:]
    print(community_id_v1(a[0], int(a[1]), a[2], int(a[3]),
                          int(a[4]) if len(a) > 4 else 6, int(a[5]) if len(a) > 5 else 0))
