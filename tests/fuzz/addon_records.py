"""addon_records.py — seeds of fuzz_record: records as the mitmproxy addon
writes them, made by the addon's own code (deploy/mitmproxy/dpi_bridge.py).

    python3 addon_records.py ADDON.py OUTDIR

mitmproxy is not needed: its three names the addon imports are stubbed, and
flows are plain objects with the attributes the record builders read. Each
flow gives its request, response and error records through both of the
addon's writers (the fast byte template and the general json.dumps one),
one file each: OUTDIR/NAME-KIND-WRITER.
"""
import importlib.util
import ipaddress
import os
import sys
import types
from types import SimpleNamespace as NS

for name in ("mitmproxy", "mitmproxy.ctx", "mitmproxy.hooks", "mitmproxy.http"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["mitmproxy.hooks"].all_hooks = {}
for attr in ("ctx", "hooks", "http"):
    setattr(sys.modules["mitmproxy"], attr, sys.modules["mitmproxy." + attr])

spec = importlib.util.spec_from_file_location("dpi_bridge", sys.argv[1])
addon = importlib.util.module_from_spec(spec)
spec.loader.exec_module(addon)
out = sys.argv[2]

HAPROXY = [(b"X-Forwarded-For", b"198.51.100.7"), (b"X-Client-Port", b"51234"),
           (b"X-Frontend-IP", b"192.0.2.1"), (b"X-Frontend-Port", b"443"),
           (b"X-Request-ID", b"c0a80001:d4b2_0001"), (b"X-TLS-Version", b"TLSv1.3"),
           (b"X-TLS-Cipher", b"TLS_AES_256_GCM_SHA384"), (b"X-TLS-SNI", b"shop.example"),
           (b"X-TLS-ALPN", b"h2")]
BROWSER = [(b"Host", b"shop.example"),
           (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
           (b"Accept", b"text/html,*/*;q=0.8"), (b"Cookie", b"session=abc; theme=dark"),
           (b"sec-ch-ua", b'"Chromium";v="120", "Not?A_Brand";v="8"')]


def flow(fid, peer=("127.0.0.1", 40022), method=b"GET", path=b"/search?q=1", headers=None,
         body=b"", version=b"HTTP/1.1", status=200, resp_headers=None, error=None):
    headers = BROWSER if headers is None else headers
    host = next((v.decode("utf-8", "replace") for n, v in headers if n.lower() == b"host"), None)
    req_data = NS(timestamp_start=1764110000.123456, headers=NS(fields=headers),
                  http_version=version, path=path, method=method, content=body)
    req = NS(data=req_data, host_header=host, scheme="http", raw_content=body,
             timestamp_start=req_data.timestamp_start, headers=req_data.headers)
    resp_headers = [(b"Content-Type", b"text/html")] if resp_headers is None else resp_headers
    resp_data = NS(headers=NS(fields=resp_headers), http_version=b"HTTP/1.1", reason=b"OK",
                   status_code=status, content=b"x" * 120)
    resp = NS(data=resp_data, timestamp_end=1764110000.125, status_code=status,
              raw_content=resp_data.content, headers=resp_data.headers)
    return NS(id=fid, request=req, response=resp, metadata={},
              error=NS(msg=error, timestamp=1764110000.2) if error else None,
              client_conn=NS(id="conn-" + fid, peername=peer, sockname=("10.0.0.2", 8080)))


FLOWS = {
    "usual": dict(headers=HAPROXY + BROWSER),
    "direct": dict(peer=("203.0.113.9", 61000)),
    "ipv6": dict(peer=("2001:db8::7", 443, 0, 0)),
    "mapped": dict(peer=("::ffff:198.51.100.7", 443, 0, 0)),
    "post": dict(method=b"POST", path=b"/login", body=b"user=admin&pass=' OR 1=1--",
                 headers=HAPROXY + BROWSER + [(b"Content-Type", b"application/x-www-form-urlencoded")]),
    "bigbody": dict(method=b"PUT", path=b"/upload", body=bytes(range(256)) * 80),
    "noheaders": dict(headers=[], path=b"/"),
    "http2": dict(version=b"HTTP/2.0", headers=HAPROXY + [(b"host", b"api.example")]),
    "utf8": dict(path="/caf\u00e9?q=\u00fc".encode(), headers=BROWSER + [(b"X-Name", "caf\u00e9".encode())]),
    "control": dict(headers=BROWSER + [(b"X-Ctl", b"a\x01b\tc"), (b"X-Nul", b"a\0b")]),
    "badutf8": dict(headers=BROWSER + [(b"X-Bad", b"\xff\xfe")], path=b"/\xc3("),
    "escapes": dict(path=b'/a"b\\c', headers=[(b"X-Q", b'say "hi" \\ bye')]),
    "emptyname": dict(headers=[(b"", b"v"), (b"Host", b"x")]),
    "longvalue": dict(headers=[(b"X-Long", b"v" * 5000)]),
    "manyheaders": dict(headers=[(b"X-H%d" % i, b"v%d" % i) for i in range(70)]),
    "sqli": dict(path=b"/item?id=1%20UNION%20SELECT%20password%20FROM%20users"),
    "traversal": dict(path=b"/static/..%2F..%2Fetc%2Fpasswd"),
    "error": dict(error="Connection refused"),
    "error-long": dict(error="e\u00e9" * 3000),
    "status0": dict(status=0, resp_headers=[]),
}

bridge = addon.DpiBridge()
bridge.trusted = [ipaddress.ip_network("127.0.0.0/8")]
count = 0


def write(name, data):
    global count
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    count += 1


for name, kw in FLOWS.items():
    f = flow(name + "-9f0c", **kw)
    fast = bridge._request_fast(f, True)
    if fast is not None:
        write(name + "-request-fast", fast)
    write(name + "-request-general", bridge._request_record(f, True)[1])
    fast = bridge._response_fast(f)
    if fast is not None:
        write(name + "-response-fast", fast)
    write(name + "-response-general", bridge._response_record(f)[1])
    if f.error:
        write(name + "-error", bridge._error_record(f)[1])
print("%d addon records in %s" % (count, out))
