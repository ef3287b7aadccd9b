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
"attackers": [...], "benign": [...], "dpi_only": "10.77.0.1"}.

    python3 correlator_stream.py --bench OUT.jsonl EVENTS [--seed S]
                                 [--rate EVENTS_PER_S] [--marker IP]

The bench's recorded bus (bench/correlator-replay): about EVENTS lines of
the traffic of many clients (20000 benign addresses, 1 % attackers) at
about EVENTS_PER_S lines per second of event time (default 20000). Each keep-alive connection is
one tap.flow DETECTED (before its first request, or after it for one in
four) and one tap.flow END after its last, and 1-8 requests (3.5 on
average), each with its mitm.request, mitm.response and mitm.verdict
(ALLOW; BLOCK for an attacker's); a buffer.alert for 3 % of the benign
requests (a false positive) and for every attacker's. One in 50 connections
is missed by the mirror (no flow). With --marker IP, a last mitm.verdict
BLOCK from IP ends the stream: the replay waits for its correlated.threat.
Prints on stderr the lines written per topic, as JSON."""
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


def bench(path, events, seed=1, rate=20000, marker=None):
    rnd = random.Random(seed)
    attackers = [f"10.66.{k // 250}.{1 + k % 250}" for k in range(200)]
    benign = [f"10.{20 + k // 62500}.{k // 250 % 250}.{1 + k % 250}" for k in range(20000)]
    hosts = ["shop.example", "www.example.org", "api.example.net", "cdn.example.com"]
    step = 10**9 // rate            # per line: a request and its lines take ~4 of them
    counts, ts, i, conn, written = {}, START, 0, 0, 0
    dumps = json.JSONEncoder(separators=(", ", ": ")).encode
    with open(path, "w") as out:
        def emit(line):
            nonlocal written
            counts[line["topic"]] = counts.get(line["topic"], 0) + 1
            out.write(dumps(line) + "\n")
            written += 1
        while written < events:
            conn += 1
            attacker = rnd.random() < 0.01
            ip = rnd.choice(attackers) if attacker else rnd.choice(benign)
            port = 1024 + conn % 64000
            host = rnd.choice(hosts)
            f = flow(ip, port, ts, 10 if conn % 3 == 0 else 0)
            f["tls_sni"], f["flow_id"] = host, conn
            missed = conn % 50 == 0
            late = conn % 4 == 1
            if not missed and not late:
                emit(f)
            for k in range(rnd.choice((1, 1, 2, 3, 4, 4, 5, 8))):
                i += 1
                ts += step * 4
                q = request(i, ip, ip, port, ts, "/attack" if attacker else f"/p/{i % 1000}")
                q["host"] = host
                emit(q)
                if late and k == 0:
                    emit(f)
                emit({"topic": "mitm.response", "request_id": f"q{i}", "community_id":
                      q["community_id"], "client_ip": ip, "client_port": port, "ts_ns": ts,
                      "status": 403 if attacker else 200, "body_length": 5120,
                      "header_bytes": 240, "latency_us": 900})
                emit({"topic": "mitm.verdict", "request_id": f"q{i}", "community_id":
                      q["community_id"], "client_ip": ip, "action": "BLOCK" if attacker
                      else "ALLOW", "reason": "rule" if attacker else "",
                      "rule_id": "sqli-union-select" if attacker else "",
                      "category": "sqli" if attacker else "", "severity": 8 if attacker else 0,
                      "latency_ns": 40000})
                if attacker or rnd.random() < 0.03:
                    emit({"topic": "buffer.alert", "request_id": f"q{i}", "community_id":
                          q["community_id"], "client_ip": ip, "rule_ids": ["942100"],
                          "anomaly_score": 20 if attacker else 5, "category": "sqli",
                          "severity": 8 if attacker else 3, "message": "SQL Injection Attack",
                          "host": host, "path": q["path"], "kind": "waf", "request_ts_ns": ts,
                          "paranoia": 1})
            if not missed:
                end = dict(f, event="END", last_seen=ts // 10**6 + 20)
                emit(end)
        if marker:
            emit({"topic": "mitm.verdict", "request_id": "marker", "community_id": "",
                  "client_ip": marker, "action": "BLOCK", "reason": "rule",
                  "rule_id": "marker", "category": "marker", "severity": 8})
    json.dump(counts, sys.stderr)
    sys.stderr.write("\n")


def main():
    if sys.argv[1] == "--bench":
        args = dict(zip(sys.argv[4::2], sys.argv[5::2]))
        bench(sys.argv[2], int(sys.argv[3]), int(args.get("--seed", 1)),
              int(args.get("--rate", 20000)), args.get("--marker"))
        return
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
