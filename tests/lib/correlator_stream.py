"""A bus stream for dpi-correlator's tests, as `dpi-dualctl tail` prints it:
tap.flow, mitm.request, mitm.verdict and buffer.alert lines in time order,
with ground truth on the side.

    python3 correlator_stream.py OUT.jsonl TRUTH.json [--clients N] [--requests R]
                                 [--attackers A] [--seed S] [--late-flows]

Each benign client (10.1.X.Y, and some IPv6 2001:db8:1::N, and some whose
MITM side says ::ffff:10.1.X.Y) makes R requests, each on its own TCP
connection to the frontend 198.51.100.1:443 (2001:db8:ff::1 for IPv6): a tap.flow DETECTED (the mirror,
with a VLAN tag on every third) and a mitm.request with the same Community ID
(tests/lib/community_id.py). With --late-flows the flow comes after the
request (both orders are exercised otherwise: even requests first). A few
requests have no flow at all (the mirror missed them): they must stay
unjoined or fall back. Attackers (10.66.0.N) also get a live block
(mitm.verdict BLOCK) and a CRS alert (buffer.alert) per request: 25 + 15
points each, so the second request of an attacker crosses 50. One more
client (10.77.0.1) only shows on the mirror with a risky flow (nDPI risk
"Possible Exploit") and a Tor flow.

TRUTH.json: {"requests": {request_id: flow community_id or null},
"attackers": [...], "benign": [...], "dpi_only": "10.77.0.1"}."""
import json
import random
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from community_id import community_id  # noqa: E402

FRONTEND, FRONTEND6 = "198.51.100.1", "2001:db8:ff::1"


def frontend(ip):
    return FRONTEND6 if ":" in ip else FRONTEND
START = 1_800_000_000 * 10**9


def flow(ip, port, ts, vlan, risks=(), proto="TLS", app="TLS"):
    cid = community_id(ip, frontend(ip), 6, port, 443)
    ms = ts // 10**6
    return {"topic": "tap.flow", "event": "DETECTED", "community_id": cid, "ip_version":
            6 if ":" in ip else 4, "ip_proto": 6, "src_ip": ip, "src_port": port,
            "dst_ip": frontend(ip), "dst_port": 443, "vlan": vlan, "interface": "mirror0",
            "proto": proto, "app_protocol_name": app, "master_protocol_name": proto,
            "risks": list(risks), "risk": 1 if risks else 0, "tls_sni": "shop.example",
            "first_seen": ms, "last_seen": ms + 50, "flow_id": port}


def request(i, ip, mitm_ip, port, ts, path="/"):
    return {"topic": "mitm.request", "request_id": f"q{i}",
            "community_id": community_id(ip, frontend(ip), 6, port, 443), "client_ip": mitm_ip,
            "client_port": port, "frontend_ip": frontend(ip), "frontend_port": 443,
            "client_from_proxy": True, "ts_ns": ts, "method": "GET", "scheme": "https",
            "host": "shop.example", "path": path, "query": "", "http_version": "HTTP/1.1"}


def clients(n):
    out = []
    for i in range(n):
        ip = f"10.1.{i // 250}.{1 + i % 250}"
        if i % 10 == 3:
            out.append((f"2001:db8:1::{i + 1:x}", f"2001:db8:1::{i + 1:x}"))
        elif i % 10 == 7:
            out.append((ip, "::ffff:" + ip))          # the MITM side is IPv4-mapped
        else:
            out.append((ip, ip))
    return out


def main():
    args = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    late = "--late-flows" in sys.argv
    n, r = int(args.get("--clients", 50)), int(args.get("--requests", 4))
    attackers = [f"10.66.0.{k + 1}" for k in range(int(args.get("--attackers", 3)))]
    rnd = random.Random(int(args.get("--seed", 1)))
    lines, truth, i, ts = [], {}, 0, START
    population = [(ip, ip) for ip in attackers] + clients(n)
    for _ in range(r):
        for ip, mitm_ip in population:
            i += 1
            ts += rnd.randrange(1, 3) * 10**6
            port = 20000 + i
            missed = i % 97 == 0 and ip not in attackers
            f = flow(ip, port, ts - 10**6, 10 if i % 3 == 0 else 0)
            q = request(i, ip, mitm_ip, port, ts, "/attack" if ip in attackers else "/page")
            order = [q, f] if late or i % 2 == 0 else [f, q]
            lines += [x for x in order if not (missed and x is f)]
            truth[f"q{i}"] = None if missed else f["community_id"]
            if ip in attackers:
                lines.append({"topic": "mitm.verdict", "request_id": f"q{i}",
                              "community_id": q["community_id"], "client_ip": ip,
                              "action": "BLOCK", "reason": "rule", "rule_id": "sqli-union-select",
                              "category": "sqli", "severity": 8})
                lines.append({"topic": "buffer.alert", "request_id": f"q{i}",
                              "community_id": q["community_id"], "client_ip": ip,
                              "rule_ids": ["942100"], "anomaly_score": 20, "category": "sqli",
                              "severity": 8, "message": "SQL Injection Attack", "host":
                              "shop.example", "path": "/attack", "kind": "waf",
                              "request_ts_ns": ts, "paranoia": 1})
    ts += 10**6
    lines.append(flow("10.77.0.1", 4444, ts, 0, ["Possible Exploit"], "HTTP", "HTTP"))
    lines.append(flow("10.77.0.1", 4445, ts + 10**6, 0, [], "Tor", "Tor"))
    with open(sys.argv[1], "w") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
    with open(sys.argv[2], "w") as out:
        json.dump({"requests": truth, "attackers": attackers,
                   "benign": [m for _, m in clients(n)], "dpi_only": "10.77.0.1"}, out)


if __name__ == "__main__":
    main()
