"""Requests to dpi-bridge-mitm's unix socket as the mitmproxy addon sends them
(bridge-mitm/PROTOCOL.md), each waiting for its live verdict, for the fault tests.

    python3 bridge_send.py SOCKET NET ATTACKERS BENIGN [REQUESTS [clean]]

ATTACKERS addresses 10.NET.X.Y each send REQUESTS (default 2) SQL injections
(clean requests with "clean": to see a ban enforced);
BENIGN addresses 10.NET.200+X.Y one clean request each. Prints one JSON line:
{"sent", "verdicts", "blocks", "timeouts", "ms_max", "ms_mean", "attackers": [...]}.
A verdict not back within 2 s is counted in "timeouts", never waited for again.
"""
import hashlib
import json
import socket
import sys
import time

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SQLI = "id=1%20UNION%20SELECT%20password%20FROM%20users--"


def record(rid, ip, port, query):
    return {"v": 1, "type": "request", "id": rid, "request_id": "req-" + rid,
            "ts": time.time(), "client": {"ip": ip, "port": port, "from_proxy": True},
            "frontend": {"ip": "192.0.2.1", "port": 443},
            "peer": {"ip": "127.0.0.1", "port": 40022},
            "method": "GET", "scheme": "https", "host": "shop.example", "path": "/search",
            "query": query, "http_version": "HTTP/1.1",
            "headers": [["Host", "shop.example"], ["User-Agent", UA], ["Accept", "text/html"]],
            "body": {"length": 0, "sha256": hashlib.sha256(b"").hexdigest(), "prefix": ""},
            "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                    "sni": "shop.example", "alpn": "h2"},
            "verdict": True, "truncated": False}


def main(argv):
    path, net, attackers, benign = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    per = int(argv[5]) if len(argv) > 5 else 2
    attack = "q=shoes" if len(argv) > 6 and argv[6] == "clean" else SQLI
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("")
    s.settimeout(2)
    out = {"sent": 0, "verdicts": 0, "blocks": 0, "timeouts": 0, "attackers": []}
    times = []
    jobs = []
    for i in range(attackers):
        ip = "10.%d.%d.%d" % (net, i // 200, 1 + i % 200)
        out["attackers"].append(ip)
        jobs += [(ip, attack)] * per
    for i in range(benign):
        jobs.append(("10.%d.%d.%d" % (net, 200 + i // 200, 1 + i % 200), "q=shoes"))
    for n, (ip, query) in enumerate(jobs):
        rid = "n%d-%d" % (net, n)
        t0 = time.monotonic()
        s.sendto(json.dumps(record(rid, ip, 30000 + n % 30000, query)).encode(), path)
        out["sent"] += 1
        try:
            while True:
                reply = json.loads(s.recv(65536))
                if reply.get("id") == rid:
                    break
        except socket.timeout:
            out["timeouts"] += 1
            continue
        times.append(time.monotonic() - t0)
        out["verdicts"] += 1
        out["blocks"] += reply["action"] == "block"
    out["ms_max"] = round(max(times) * 1000, 1) if times else None
    out["ms_mean"] = round(sum(times) / len(times) * 1000, 2) if times else None
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
