"""Write mitm.request / mitm.response JSON lines, as `dpi-dualctl tail` prints them,
for dpi-buffer's tests (dpi-buffer --offline, dpi-testpub --jsonl).

    python3 mitm_requests.py KIND COUNT [SEED]
KIND: mixed   COUNT requests from 50 clients, each with its response; one in ten
              an attack (sqli, xss, lfi, rce) whose path starts with /attack-
      plain   COUNT clean requests (paths /p/N), each with its response
      typical COUNT clean requests with a browser's headers (~700 bytes each)
Each request's id is "rN"; client_ip 10.0.X.Y; ts_ns 10 ms apart, the last one now."""
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


def main():
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
