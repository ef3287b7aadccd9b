"""Write mitm.request / mitm.response JSON lines, as `dpi-dualctl tail` prints them,
for dpi-buffer's tests (dpi-buffer --offline, dpi-testpub --jsonl).

    python3 mitm_requests.py KIND COUNT [SEED]
KIND: mixed   COUNT requests from 50 clients, each with its response; one in ten
              an attack (sqli, xss, lfi, rce) whose path starts with /attack-
      plain   COUNT clean requests (paths /p/N), each with its response
      typical COUNT clean requests with a browser's headers (~700 bytes each)
Each request's id is "rN"; client_ip 10.0.X.Y; ts_ns 10 ms apart, the last one now.

    python3 mitm_requests.py drive [options] OUT
drives real HTTPS requests (the same browser headers and attacks) at HAProxy, from many
source addresses, several requests per keep-alive connection, connections in parallel
(tests/it_correlator_netns.sh). Writes one JSON line per request to OUT: the connection
number, the connection's tuple as the client's socket had it (src_ip, src_port, dst_ip,
dst_port), path, attack (the ATTACKS name or ""), status, block (X-DPI-Dual-Block),
error (the exception, "" if none). A connection the server closes is opened again (a
new tuple) for the rest of its requests. Options:
  --port P              HAProxy's TLS port
  --client SRC=DST      a client address and the frontend address it talks to (repeat)
  --connections N       connections in all, dealt out to the clients in turn (100)
  --requests K          requests per connection: 1..2K-1 at random, K on average (5)
  --attackers M         the first M clients send an attack (sqli, xss in turn) as one
                        request in three (0)
  --slow N              N more connections, first, of 3 requests PAUSE seconds apart
                        (paths /slow/...): a keep-alive connection idle for longer
                        than the correlator's window (0)
  --pause PAUSE         (6.5)
  --workers W           connections open at once (16)
  --seed S              (1)
On stderr: requests, connections, errors, seconds."""
import json
import random
import sys
import time

BROWSER = [
    ("Host", "shop.test"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    ("Accept-Language", "en-GB,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Referer", "https://shop.test/catalogue?page=2"),
    ("Cookie", "session=6f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f; consent=yes; theme=dark"),
    ("Sec-Fetch-Dest", "document"), ("Sec-Fetch-Mode", "navigate"), ("Sec-Fetch-Site", "same-origin"),
    ("Upgrade-Insecure-Requests", "1"),
]
ATTACKS = [
    ("sqli", "id=1%27%20OR%20%271%27%3D%271"),
    ("xss", "q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"),
    ("lfi", "file=..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
    ("rce", "host=127.0.0.1%3Bcat%20%2Fetc%2Fpasswd"),
]


def request(i, ip, path, query, headers, ts):
    return {"topic": "mitm.request", "flow_id": f"f{i}", "request_id": f"r{i}",
            "community_id": "", "client_ip": ip, "client_port": 40000 + i % 20000,
            "frontend_ip": "10.9.9.9", "frontend_port": 443, "client_from_proxy": True,
            "ts_ns": ts, "method": "GET", "scheme": "https", "host": "shop.test", "path": path,
            "query": query, "http_version": "HTTP/1.1",
            "headers": [{"name": n, "value": v} for n, v in headers],
            "body_length": 0, "body_sha256": "", "body_prefix": "",
            "user_agent": dict(headers).get("User-Agent", ""), "body_truncated": False}


def response(i, ip, status, ts):
    return {"topic": "mitm.response", "flow_id": f"f{i}", "request_id": f"r{i}",
            "community_id": "", "client_ip": ip, "client_port": 40000 + i % 20000,
            "ts_ns": ts, "status": status, "headers": [], "body_length": 1234,
            "header_bytes": 200, "latency_us": 1500, "error": ""}


def drive(argv):
    import argparse
    import concurrent.futures
    import http.client
    import socket
    import ssl
    import threading
    ap = argparse.ArgumentParser(prog="mitm_requests.py drive")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--client", action="append", required=True)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--attackers", type=int, default=0)
    ap.add_argument("--slow", type=int, default=0)
    ap.add_argument("--pause", type=float, default=6.5)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args(argv)
    clients = [c.split("=", 1) for c in a.client]
    rnd = random.Random(a.seed)
    attacks = [x for x in ATTACKS if x[0] in ("sqli", "xss")]
    plan = []                       # (conn, src, dst, [(path, attack name)], pause)
    for c in range(a.connections, a.connections + a.slow):
        src, dst = clients[c % len(clients)]
        plan.append((c, src, dst, [(f"/slow/c{c}/r{k}", "") for k in range(3)], a.pause))
    n_attack = 0
    for c in range(a.connections):
        src, dst = clients[c % len(clients)]
        reqs = []
        for k in range(rnd.randint(1, 2 * a.requests - 1)):
            if c % len(clients) < a.attackers and k % 3 == 1:
                name, query = attacks[n_attack % len(attacks)]
                n_attack += 1
                reqs.append((f"/attack-{name}/c{c}/r{k}?{query}", name))
            else:
                reqs.append((f"/shop/c{c}/r{k}", ""))
        plan.append((c, src, dst, reqs, 0))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    lock = threading.Lock()
    out = open(a.out, "w")
    stats = {"requests": 0, "connections": 0, "errors": 0}

    def connect(src, dst):
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.bind((src, 0))
        sock.connect((dst, a.port))
        port = sock.getsockname()[1]
        tls = ctx.wrap_socket(sock, server_hostname="shop.test")   # (sock is tls's now)
        conn = http.client.HTTPConnection(dst, a.port, timeout=30)
        conn.sock = tls
        with lock:
            stats["connections"] += 1
        return conn, port

    def run(item):
        c, src, dst, reqs, pause = item
        conn = None
        port = 0
        for n, (path, attack) in enumerate(reqs):
            if n and pause:
                time.sleep(pause)
            rec = {"conn": c, "src_ip": src, "src_port": port, "dst_ip": dst, "dst_port": a.port,
                   "path": path, "attack": attack, "status": 0, "block": "", "error": ""}
            try:
                if conn is None:
                    conn, port = connect(src, dst)
                    rec["src_port"] = port
                conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
                for name, value in BROWSER:
                    conn.putheader(name, value)
                conn.endheaders()
                resp = conn.getresponse()
                resp.read()
                rec["status"] = resp.status
                rec["block"] = resp.getheader("X-DPI-Dual-Block", "")
                if resp.will_close:
                    conn.close()
                    conn = None
            except Exception as e:          # noqa: BLE001 (recorded, counted)
                rec["error"] = f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                stats["requests"] += 1
                stats["errors"] += bool(rec["error"])
                out.write(json.dumps(rec) + "\n")
        if conn is not None:
            conn.close()

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.workers) as pool:
        list(pool.map(run, plan))
    out.close()
    print(f"drive: {stats['requests']} requests, {stats['connections']} connections, "
          f"{stats['errors']} errors, {time.monotonic() - t0:.1f} s", file=sys.stderr)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "drive":
        drive(sys.argv[2:])
        return
    kind, count = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    out = sys.stdout
    start = time.time_ns() - count * 10**7
    for i in range(count):
        ts = start + i * 10**7
        ip = f"10.0.{(i % 50) // 250}.{1 + i % 50}"
        path, query, headers = f"/p/{rnd.randrange(40)}", "", BROWSER
        if kind == "plain":
            headers = [("Host", "shop.test"), ("User-Agent", "test/1.0"), ("Accept", "*/*")]
        elif kind == "mixed" and i % 10 == 7:
            name, query = ATTACKS[(i // 10) % len(ATTACKS)]
            path = f"/attack-{name}"
        out.write(json.dumps(request(i, ip, path, query, headers, ts)) + "\n")
        out.write(json.dumps(response(i, ip, 200, ts + 2 * 10**6)) + "\n")


if __name__ == "__main__":
    main()
