"""test_addon.py — unit test of deploy/mitmproxy/dpi_bridge.py's record building
with mitmproxy's own test flows (Debian's mitmproxy 8.1, /usr/bin/python3).

The addon reads HAProxy's headers in one pass and takes a one-pass fast path for
plain ASCII headers; both must give exactly what mitmproxy's Headers.get and the
general bounded header loop give. Usage: python3 test_addon.py ADDON.py"""
import asyncio
import base64
import importlib.util
import json
import os
import socket
import sys
import tempfile
import threading
import time

from mitmproxy import http
from mitmproxy.test import taddons, tflow

spec = importlib.util.spec_from_file_location("dpi_bridge", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def general(fields):
    """The general loop's headers: _fit_headers with the fast path switched off."""
    saved = mod._plain_headers
    mod._plain_headers = lambda f: None
    try:
        record, data = mod._fit_headers({"truncated": False, "headers": None}, fields)
    finally:
        mod._plain_headers = saved
    return record, data


def fast(fields):
    return mod._fit_headers({"truncated": False, "headers": None}, fields)


# --- the fast path gives what the general loop gives, or stands aside ---------------
cases = {
    "typical": [(b"Host", b"shop.test"), (b"User-Agent", b"curl/7.88.1"), (b"Accept", b"*/*"),
                (b"X-Forwarded-For", b"198.51.100.7"), (b"Cookie", b"a=1; b=2")],
    "none": [],
    "empty value": [(b"X-Empty", b"")],
    "empty name": [(b"", b"value"), (b"Host", b"x")],
    "non-ascii value": [(b"X-Name", "caf\u00e9".encode()), (b"Host", b"x")],
    "invalid utf-8": [(b"X-Bad", b"\xff\xfe"), (b"Host", b"x")],
    "nul": [(b"X-Nul", b"a\0b")],
    "long value": [(b"X-Long", b"v" * 5000)],
    "long name": [(b"X" * 300, b"v")],
    "many": [(b"X-H%d" % i, b"v") for i in range(70)],
    "over budget": [(b"X-H%d" % i, b"v" * 4000) for i in range(20)],
    "control chars": [(b"X-Ctl", b"\x01\x02\x1f" * 1000)],
}
for name, fields in cases.items():
    want, want_data = general(fields)
    got, got_data = fast(fields)
    check(got["headers"] == want["headers"] and got["truncated"] == want["truncated"],
          f"{name}: fast {got['headers'][:3]!r} {got['truncated']} != "
          f"general {want['headers'][:3]!r} {want['truncated']}")
    check(len(got_data) <= mod.RECORD_MAX, f"{name}: record of {len(got_data)} bytes")
    check(json.loads(got_data)["headers"] == got["headers"], f"{name}: encoding differs")
for name, fields in cases.items():
    want, _ = general(fields)
    got = mod._headers_fast(fields)
    if name in ("typical", "none", "empty value"):
        check(got == json.dumps(want["headers"], separators=(",", ":")).encode(),
              f"{name}: _headers_fast {got!r:.200}")
    else:
        check(got is None, f"{name}: _headers_fast stands aside: {got!r:.100}")
for extra in ([(b"X-Q", b'a"b')], [(b"X-B", b"a\\b")], [(b"X-D", b"a\x7fb")]):
    fields = cases["typical"] + extra
    got = mod._headers_fast(fields)
    want = json.dumps(general(fields)[0]["headers"], separators=(",", ":"),
                      ensure_ascii=False).encode()
    check(got == want, f"{extra!r}: _headers_fast {got!r:.200} != {want!r:.200}")
# a header the record cannot carry (an empty name: the bridge rejects one) is left out
# and says so, as a cut one does
record, _ = general(cases["empty name"])
check(record["headers"] == [["Host", "x"]] and record["truncated"] is True,
      f"empty name: left out and truncated: {record['headers']!r} {record['truncated']}")
plain = mod._plain_headers(cases["typical"])
check(plain == [[n.decode(), v.decode()] for n, v in cases["typical"]], "typical: fast path taken")
for name in ("empty name", "non-ascii value", "invalid utf-8", "nul", "long value", "long name",
             "many", "over budget"):
    check(mod._plain_headers(cases[name]) is None, f"{name}: fast path not taken")

# the bridge warns at start when mitm.max_record_bytes is below the addon's largest record:
# its constant for that is this RECORD_MAX
bridge_h = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "..", "..",
                        "bridge-mitm", "bridge.h")
with open(bridge_h) as f:
    told = [int(line.split()[2]) for line in f if line.startswith("#define BRIDGE_ADDON_RECORD_MAX ")]
check(told == [mod.RECORD_MAX], f"bridge.h BRIDGE_ADDON_RECORD_MAX {told} != RECORD_MAX {mod.RECORD_MAX}")

# --- HAProxy's headers, one pass, as mitmproxy's Headers.get sees them ---------------
header_sets = [
    [(b"X-Forwarded-For", b"10.0.0.1"), (b"X-Client-Port", b"5555")],
    [(b"x-forwarded-for", b"10.0.0.1, 10.0.0.2"), (b"X-FORWARDED-FOR", b"10.0.0.3")],
    [(b"X-Client-Port", b"1"), (b"X-Client-Port", b"2")],
    [(b"X-Request-ID", "id-\u00e9".encode())],
    [(b"X-TLS-SNI", b"a.test"), (b"X-Tls-Alpn", b"h2"), (b"Host", b"x")],
    [],
]
names = ["X-Forwarded-For", "X-Client-Port", "X-Frontend-IP", "X-Frontend-Port",
         "X-Request-ID", "X-TLS-Version", "X-TLS-Cipher", "X-TLS-SNI", "X-TLS-ALPN"]
for fields in header_sets:
    h = http.Headers(fields)
    pairs, rids = mod._proxy_pairs(h.fields)
    found = mod._group(pairs + tuple((b"x-request-id", v) for v in rids))
    for n in names:
        check(mod._one(found, n.lower()) == h.get(n, ""),
              f"{fields!r}: {n}: {mod._one(found, n.lower())!r} != {h.get(n, '')!r}")
    check(found.get("x-forwarded-for", []) == h.get_all("X-Forwarded-For"),
          f"{fields!r}: X-Forwarded-For list")

# --- the client tuple: headers only from a trusted peer --------------------------------


def flow(peer):
    f = tflow.tflow(resp=True)
    f.client_conn.peername = (peer, 40000)
    f.client_conn.sockname = ("127.0.0.1", 8080)
    h = f.request.headers
    h["X-Forwarded-For"] = "203.0.113.9, 198.51.100.7"
    h["X-Client-Port"] = "51234"
    h["X-Frontend-IP"] = "192.0.2.1"
    h["X-Frontend-Port"] = "443"
    h["X-TLS-SNI"] = "shop.test"
    return f


addon = mod.DpiBridge()
with taddons.context(addon) as tctx:
    tctx.configure(addon, dpi_trusted_proxies="127.0.0.1")
    record, _ = addon._request_record(flow("127.0.0.1"), True)
    check(record["client"] == {"ip": "198.51.100.7", "port": 51234, "from_proxy": True},
          f"trusted peer: client {record['client']}")
    check(record["frontend"] == {"ip": "192.0.2.1", "port": 443}, f"frontend {record['frontend']}")
    check(record.get("tls") == {"sni": "shop.test"}, f"tls {record.get('tls')}")
    record, _ = addon._request_record(flow("192.0.2.99"), True)
    check(record["client"] == {"ip": "192.0.2.99", "port": 40000, "from_proxy": False},
          f"untrusted peer: client {record['client']}")
    check("tls" not in record and record["frontend"] == {"ip": "127.0.0.1", "port": 8080},
          "untrusted peer: no header taken")

# --- mitmproxy's hook lookups on the module find None at once (_no_module_hooks) ------
import mitmproxy.proxy.layers  # noqa: E402  (declares the proxy's hooks, as in mitmdump)
from mitmproxy import hooks  # noqa: E402
with taddons.context(mod.DpiBridge()):     # its load hook sets them
    names = sorted(hooks.all_hooks)
    check(len(names) >= 30 and "requestheaders" in names, f"mitmproxy's hooks: {names}")
    lacking = [n for n in names if n not in vars(mod)]
    check(not lacking, f"hook names the module lacks: {lacking}")
    set_ = [n for n in names if getattr(mod, n, None) is not None]
    check(not set_, f"module-level names that mitmproxy would take for hooks: {set_}")
    check(all(callable(getattr(mod.DpiBridge, n)) for n in
              ("request", "response", "error", "client_disconnected")),
          "the addon's own hooks are untouched")

# --- the JSON fast path writes exactly what json.dumps writes for the general record ---


def variant(peer, haproxy=True, tls=True, **kw):
    f = flow(peer) if haproxy else tflow.tflow(resp=True)
    if not haproxy:
        f.client_conn.peername = (peer, 40001)
        f.client_conn.sockname = ("::1", 8443)
    if tls and haproxy:
        f.request.headers["X-TLS-Version"] = "TLSv1.3"
        f.request.headers["X-Request-ID"] = kw.pop("rid", "c0a80001:d4b2_0001")
    f.request.timestamp_start = 1764110000.123456
    f.response.timestamp_end = 1764110000.125
    for key, value in kw.items():
        if key == "headers":
            for name, v in value:
                f.request.headers.add(name, v)
                f.response.headers.add(name, v)
        elif key in ("path", "method", "http_version", "content", "authority"):
            setattr(f.request.data, key, value)
        elif key == "bare":             # no header at all, request or response
            f.request.headers.clear()
            f.response.headers.clear()
        else:
            raise KeyError(key)
    return f


plain_cases = {
    "trusted proxy": variant("127.0.0.1"),
    "trusted, no tls": variant("127.0.0.1", tls=False),
    "untrusted": variant("192.0.2.99", haproxy=False),
    "query": variant("127.0.0.1", path=b"/search?q=1&r=%22x%22"),
    "post body": variant("127.0.0.1", method=b"POST", content=b"a=1&b=2" * 300),
    "binary body": variant("127.0.0.1", content=bytes(range(256)) * 8),
    "empty body": variant("127.0.0.1", content=b""),
    "quoted request id": variant("127.0.0.1", rid='r"1\\'),
    "two request ids": variant("127.0.0.1", headers=[(b"X-Request-ID", b"second")]),
    "long request id": variant("127.0.0.1", rid="r" * 300),
    "no headers": variant("192.0.2.99", haproxy=False, bare=True),
    "two hosts": variant("127.0.0.1", headers=[(b"host", b"b.test")]),
    "DEL in value": variant("127.0.0.1", headers=[(b"X-Del", b"a\x7fb")]),
    "quotes in value": variant("127.0.0.1", headers=[
        (b"sec-ch-ua", b'"Chromium";v="118", "Not=A?Brand";v="99"'), (b"X-B", b"a\\b")]),
    "http/2 authority": variant("127.0.0.1", http_version=b"HTTP/2.0", authority=b"h2.test"),
}
general_cases = {                       # the request's headers or target need the general path
    "non-ascii request id": variant("127.0.0.1", rid="r\u00e9q"),
    "backslash in path": variant("127.0.0.1", path=b"/a\\b"),
    "control char": variant("127.0.0.1", headers=[(b"X-C", b"a\tb")]),
    "non-ascii value": variant("127.0.0.1", headers=[(b"X-N", "caf\u00e9".encode())]),
    "invalid utf-8 path": variant("127.0.0.1", path=b"/\xff"),
    "long path": variant("127.0.0.1", path=b"/" + b"p" * 9000),
    "long method": variant("127.0.0.1", method=b"M" * 40),
    "many headers": variant("127.0.0.1", headers=[(b"X-H%d" % i, b"v") for i in range(70)]),
    "long value": variant("127.0.0.1", headers=[(b"X-L", b"v" * 5000)]),
    "long name": variant("127.0.0.1", headers=[(b"X-" + b"n" * 300, b"v")]),
}
with taddons.context(addon) as tctx:
    tctx.configure(addon, dpi_trusted_proxies="127.0.0.1")
    for name, f in list(plain_cases.items()) + list(general_cases.items()):
        for ask in (True, False):
            want = addon._request_record(f, ask)[1]
            got = addon._request_fast(f, ask)
            if name in plain_cases:
                check(got == want, f"{name}: request fast path\n  {got!r:.400}\n  {want!r:.400}")
            else:
                check(got is None, f"{name}: request fast path not taken: {got!r:.200}")
                check(addon._request_data(f, ask) == (want, addon._request_record(f, ask)[0]["truncated"]),
                      f"{name}: _request_data gives the general record")
        want = addon._response_record(f)[1]
        got = addon._response_fast(f)
        if name not in ("control char", "non-ascii value", "many headers",
                        "long value", "long name"):     # the response's headers are plain
            check(got == want, f"{name}: response fast path\n  {got!r:.400}\n  {want!r:.400}")
        else:
            check(got is None, f"{name}: response fast path not taken: {got!r:.200}")
    check(json.loads(addon._request_fast(plain_cases["post body"], True))["body"]["prefix"]
          == base64.b64encode(b"a=1&b=2" * 300).decode(), "body prefix: the whole 2100 bytes")
    # untrusted peers share their connection's view; it goes at client_disconnected
    f1, f2 = variant("192.0.2.99", haproxy=False), variant("192.0.2.99", haproxy=False)
    f2.client_conn = f1.client_conn
    check(addon._tuple(f1) is addon._tuple(f2), "one view per untrusted connection")
    check(f1.client_conn.id in addon.conns, "connection view kept")
    addon.client_disconnected(f1.client_conn)
    check(f1.client_conn.id not in addon.conns, "connection view dropped at disconnect")
    f3, f4 = variant("127.0.0.1"), variant("127.0.0.1", rid="other")
    f4.client_conn = f3.client_conn
    check(addon._tuple(f3)["request_id"] != addon._tuple(f4)["request_id"],
          "a trusted proxy's requests each have their own view")
    # what HAProxy's headers give is worked out once per connection and set of values
    # (all but X-Request-ID): the same for each request, never another client's
    on_conn = []
    for port, rid, xff in ((51000, "r1", "198.51.100.7"), (51000, "r2", "198.51.100.7"),
                           (51001, "r3", "198.51.100.7"), (51000, "", "198.51.100.7"),
                           (51000, "r5", "198.51.100.8"), (51000, "r6", None),
                           (51000, "r7", None)):
        f = variant("127.0.0.1", rid=rid)
        if on_conn:
            f.client_conn = on_conn[0].client_conn
        f.request.headers["X-Client-Port"] = str(port)
        if xff is None:
            del f.request.headers["X-Forwarded-For"]
        else:
            f.request.headers["X-Forwarded-For"] = xff
        on_conn.append(f)
    errors = addon.stats["proxy_header_errors"]
    records = [json.loads(addon._request_fast(f, True)) for f in on_conn]
    check([(r["client"]["ip"], r["client"]["port"], r["request_id"]) for r in records]
          == [("198.51.100.7", 51000, "r1"), ("198.51.100.7", 51000, "r2"),
              ("198.51.100.7", 51001, "r3"), ("198.51.100.7", 51000, ""),
              ("198.51.100.8", 51000, "r5"), ("127.0.0.1", 40000, "r6"),
              ("127.0.0.1", 40000, "r7")],
          f"per request: client and request id {[(r['client'], r['request_id']) for r in records]}")
    check([json.loads(addon._request_record(f, True)[1]) for f in on_conn] == records,
          "the general records say the same")
    # X-Request-ID as the record carries it: every value joined, cut to MAX_SHORT_BYTES
    for case, rid in (("quoted request id", 'r"1\\'),
                      ("two request ids", "c0a80001:d4b2_0001, second"),
                      ("long request id", "r" * mod.MAX_SHORT_BYTES),
                      ("non-ascii request id", "r\u00e9q")):
        f = plain_cases.get(case) or general_cases[case]
        got = json.loads(addon._request_data(f, True)[0])["request_id"]
        check(got == rid, f"{case}: request_id {got!r}")
    check(addon.stats["proxy_header_errors"] - errors == 2,
          f"a missing X-Forwarded-For counted per request: {addon.stats['proxy_header_errors'] - errors}")
    known = addon.conns[on_conn[0].client_conn.id]["proxied"]
    check(len(known) == 4, f"4 sets of values on the connection: {len(known)}")
    for i in range(mod.PROXIED_VIEWS + 5):
        f = variant("127.0.0.1", rid="x")
        f.client_conn = on_conn[0].client_conn
        f.request.headers["X-Client-Port"] = str(1000 + i)
        check(addon._tuple(f)["client"]["port"] == 1000 + i, f"client port {1000 + i}")
    check(len(known) <= mod.PROXIED_VIEWS, f"bounded per connection: {len(known)}")

# --- the body window (dpi_body_bytes, mitm.body_bytes): body[:N], body.truncated -------


def window_of(data):
    body = json.loads(data)["body"]
    return base64.b64decode(body["prefix"]), body["truncated"], body["length"]


pattern = bytes((i * 7 + i // 251) & 0xff for i in range(40000))      # every window differs
with taddons.context(addon) as tctx:
    tctx.configure(addon, dpi_trusted_proxies="127.0.0.1")
    check(addon.body_bytes == mod.DEFAULT_BODY_BYTES == 16384, f"default window {addon.body_bytes}")
    for bad in (-1, mod.MAX_BODY_BYTES + 1):
        # refused as the other options are: the configure hook raises (mitmproxy logs it
        # as an addon error; the addon keeps its window)
        tctx.configure(addon, dpi_body_bytes=bad)
        try:
            addon.configure({"dpi_body_bytes"})
            check(False, f"dpi_body_bytes={bad} accepted")
        except ValueError as e:
            check("dpi_body_bytes: must be 0..32768" in str(e), f"dpi_body_bytes={bad}: {e}")
        check(addon.body_bytes == 16384, f"{bad} refused, the window stays: {addon.body_bytes}")
    for n, size, want_truncated in ((16384, 20480, True), (16384, 16384, False),
                                    (16384, 16385, True), (16384, 2048, False),
                                    (16384, 0, False), (32768, 32768, False),
                                    (32768, 40000, True), (100, 101, True), (0, 10, True),
                                    (0, 0, False)):
        tctx.configure(addon, dpi_body_bytes=n)
        f = variant("127.0.0.1", method=b"POST", content=pattern[:size])
        fast_data = addon._request_fast(f, True)
        record, general_data = addon._request_record(f, True)
        what = f"window {n}, body of {size}"
        check(fast_data is not None, f"{what}: fast path taken")
        check(fast_data == general_data, f"{what}: both paths agree\n  {fast_data!r:.300}\n  {general_data!r:.300}")
        got, truncated, length = window_of(general_data)
        check(got == pattern[:min(n, size)] and truncated is want_truncated and length == size,
              f"{what}: window of {len(got)} bytes, truncated {truncated}, length {length}")
        check(record["truncated"] is False, f"{what}: the record's own truncated stays false")
    # a record over RECORD_MAX: headers shrink first; then the window, and body.truncated says it
    tctx.configure(addon, dpi_body_bytes=32768)
    big_headers = [(b"X-Big-%d" % i, b"h" * 4000) for i in range(12)]
    f = variant("127.0.0.1", method=b"POST", content=pattern[:32768], headers=big_headers)
    check(addon._request_fast(f, True) is None, "big headers and a big body: the general path")
    data, _ = addon._request_data(f, True)
    got, truncated, _ = window_of(data)
    rec = json.loads(data)
    check(len(data) <= mod.RECORD_MAX, f"big headers + 32 KiB body: record of {len(data)} bytes")
    check(got == pattern[:32768] and truncated is False,
          f"big headers + body: the window kept whole ({len(got)}), headers cut first")
    check(rec["truncated"] is True and sum(len(v) for _, v in rec["headers"]) < 48 * 1024,
          "big headers + body: the headers were cut, said by the record's truncated")
    # a path of control bytes (6 bytes of JSON each) leaves too little room for the window
    f = variant("127.0.0.1", method=b"POST", content=pattern[:32768], headers=big_headers,
                path=b"/" + b"\x01" * 8000)
    data, _ = addon._request_data(f, True)
    got, truncated, length = window_of(data)
    check(len(data) <= mod.RECORD_MAX, f"escaped path + body: record of {len(data)} bytes")
    check(0 < len(got) < 32768 and got == pattern[:len(got)] and truncated is True
          and length == 32768,
          f"escaped path + body: the window narrowed to {len(got)} bytes, body.truncated true")
    check(len(data) > mod.RECORD_MAX - 8, f"narrowed by what was over, not more: {len(data)}")
    tctx.configure(addon, dpi_body_bytes=16384)

# --- response and error records ride with the next request (one datagram) ----------


def datagrams(sock):
    out = []
    while True:
        try:
            out.append([json.loads(line) for line in sock.recv(65536).split(b"\n")])
        except BlockingIOError:
            return out


async def batching(tctx, bridge_path, bridge):
    a = addon
    tctx.configure(a, dpi_socket=bridge_path, dpi_verdict=False)
    fa, fb, fc, fd = (flow("127.0.0.1") for _ in range(4))
    a.response(fa)
    a.error(fd)
    check(datagrams(bridge) == [], "a response record waits for a ride")
    fe = flow("127.0.0.1")
    await a.request(fb)
    await a.request(fe)
    check(datagrams(bridge) == [], "request records wait for the end of the loop's turn")
    await asyncio.sleep(0)
    got = datagrams(bridge)
    check(len(got) == 1 and [(r["type"], r["id"]) for r in got[0]]
          == [("request", fb.id), ("request", fe.id), ("response", fa.id), ("error", fd.id)],
          f"the requests of one turn share a datagram with the waiting records, requests first: {got!r:.300}")
    timer = a.backlog_timer
    a.response(fc)
    check(timer is not None and a.backlog_timer is timer and not timer.cancelled(),
          "one timer: the request that took the backlog left it running for the next record")
    await asyncio.sleep(mod.BATCH_DELAY_S * 1.5)    # the loop runs timers in deadline order
    got = datagrams(bridge)
    check(len(got) == 1 and [(r["type"], r["id"]) for r in got[0]] == [("response", fc.id)],
          f"alone within BATCH_DELAY_S: {got!r:.300}")
    # the timer, armed for records a request has taken since, waits for the newer ones'
    # turn instead of sending them alone before they have waited BATCH_DELAY_S
    a.response(fa)
    await a.request(fb)
    await asyncio.sleep(0)
    check(len(datagrams(bridge)) == 1 and not a.backlog, "the request took the backlog")
    queued = time.monotonic()
    a.response(fc)
    timer = a.backlog_timer
    timer.cancel()
    a._batch_due()                      # as when the timer comes due (fc is ~0 ms old)
    check(datagrams(bridge) == [] and a.backlog_timer is not None
          and a.backlog_timer.when() - a.loop.time() > mod.BATCH_DELAY_S / 2,
          f"a record younger than BATCH_DELAY_S waits for its own turn: {a.backlog_timer}")
    while a.backlog:
        await asyncio.sleep(mod.BATCH_DELAY_S / 4)
    waited = time.monotonic() - queued
    got = datagrams(bridge)
    check(len(got) == 1 and [r["id"] for r in got[0]] == [fc.id] and waited >= mod.BATCH_DELAY_S,
          f"then sent alone, after {waited * 1000:.1f} ms: {got!r:.200}")
    big = flow("127.0.0.1")
    big.response.headers["X-Big"] = "b" * 4000
    for _ in range(12):
        a.response(big)
    await asyncio.sleep(mod.BATCH_DELAY_S * 4)
    got = datagrams(bridge)
    sizes = [len(b"\n".join(json.dumps(r, separators=(",", ":")).encode() for r in d)) for d in got]
    check(sum(len(d) for d in got) == 12 and len(got) > 1 and max(sizes) <= mod.BATCH_BYTES,
          f"a full backlog goes in several datagrams under {mod.BATCH_BYTES} bytes: {sizes}")
    check(a.stats["sent"] == 4 + 1 + 3 + 12 and a.stats["undelivered"] == 0, f"counted per record {a.stats}")
    os.unlink(bridge_path)              # the bridge is gone: each waiting record is undelivered
    a.connected = False
    a.response(fa)
    a.response(fc)
    await asyncio.sleep(mod.BATCH_DELAY_S * 4)
    check(a.stats["undelivered"] == 2, f"undelivered per record: {a.stats}")
    a.response(fa)
    a.done()                            # mitmproxy stops: the backlog is flushed (and fails)
    check(a.stats["undelivered"] == 3 and not a.backlog, f"flushed at done: {a.stats}")


async def verdicts(tctx, bridge_path, bridge):
    a = addon
    tctx.configure(a, dpi_socket=bridge_path, dpi_verdict=True, dpi_verdict_deadline_ms=30)
    loop = asyncio.get_running_loop()

    def answer(text):                   # the fake bridge answers the last request it got
        data, source = bridge.recvfrom(65536)
        fid = json.loads(data.split(b"\n")[0])["id"]
        bridge.sendto(text.replace("ID", fid).encode(), source)

    f1 = flow("127.0.0.1")
    loop.call_later(0.005, answer, '{"v":1,"id":"ID","action":"allow"}')
    await a.request(f1)
    check(f1.response.status_code == 200 and a.stats["verdict_allow"] == 1,
          f"allow answered: {a.stats}")
    f2 = flow("127.0.0.1")
    loop.call_later(0.005, answer, '{"v":1,"id":"ID","action":"block","reason":"rule",'
                                   '"rule_id":"sqli-1","category":"sqli","severity":8}')
    await a.request(f2)
    check(f2.response.status_code == 403
          and f2.response.headers.get("X-DPI-Dual-Block") == "rule; rule=sqli-1",
          f"block answered: {f2.response.status_code} {dict(f2.response.headers)}")
    # no answer: every waiting request goes on at its deadline, not before
    flows = [flow("127.0.0.1") for _ in range(5)]
    fo = a.stats["fail_open"]
    t0 = loop.time()
    try:
        await asyncio.wait_for(asyncio.gather(*(a.request(f) for f in flows)), 2.0)
    except asyncio.TimeoutError:
        check(False, "deadline: still waiting after 2 s")
    took = loop.time() - t0
    check(a.stats["fail_open"] == fo + 5 and all(f.response.status_code == 200 for f in flows),
          f"deadline: the 5 unanswered requests failed open: {a.stats}")
    check(0.029 <= took < 1.0, f"deadline: waited {took * 1000:.1f} ms for a 30 ms deadline")
    check(not a.pending and not a.deadlines and a.sweeper is None, "nothing left waiting")
    drop(bridge)
    # an answer after the deadline is counted late; an escaped id is still read
    f3 = flow("127.0.0.1")
    await a.request(f3)
    late = a.stats["late_answers"]
    bridge.sendto(('{"v":1,"id":"%s","action":"allow"}' % f3.id).encode(), a.sock.getsockname())
    await asyncio.sleep(0.02)
    check(a.stats["late_answers"] == late + 1, f"late answer counted: {a.stats}")
    # several waiting, asked in one datagram, answered in one in another order, then a
    # stray answer: the reader stops once all are answered, the loop calls it again
    drop(bridge)
    fs = [flow("127.0.0.1") for _ in range(3)]
    late, allow = a.stats["late_answers"], a.stats["verdict_allow"]

    def answer_all():
        got = datagrams(bridge)
        asks.extend(r["id"] for d in got for r in d if r.get("verdict"))
        sizes.append(len(got))
        bridge.sendto("\n".join('{"v":1,"id":"%s","action":"allow"}' % fid
                                for fid in asks[::-1]).encode(), a.sock.getsockname())
        bridge.sendto(b'{"v":1,"id":"stray","action":"allow"}', a.sock.getsockname())

    asks, sizes = [], []

    loop.call_later(0.005, answer_all)
    await asyncio.gather(*(a.request(f) for f in fs))
    await asyncio.sleep(0.01)
    check(sizes == [1] and asks == [f.id for f in fs],
          f"the 3 verdict requests of one turn went in one datagram: {sizes} {asks}")
    check(a.stats["verdict_allow"] == allow + 3 and a.stats["late_answers"] == late + 1,
          f"3 answers in one datagram, in another order, then a stray one read: {a.stats}")
    # the bridge is gone: the asks of a datagram the kernel refuses go on at once
    os.unlink(bridge_path)
    a.connected = False
    tctx.configure(a, dpi_verdict_deadline_ms=1000)
    fo, und = a.stats["fail_open"], a.stats["undelivered"]
    fs = [flow("127.0.0.1") for _ in range(2)]
    tasks = [asyncio.ensure_future(a.request(f)) for f in fs]
    turns = 0
    while not all(t.done() for t in tasks) and turns < 10:     # a few turns, not 1 s
        await asyncio.sleep(0)
        turns += 1
    check(all(t.done() for t in tasks),
          f"no bridge: they went on at once, not after the 1 s deadline ({turns} turns)")
    await asyncio.gather(*tasks)
    check(a.stats["fail_open"] == fo + 2 and a.stats["undelivered"] == und + 2
          and all(f.response.status_code == 200 for f in fs),
          f"no bridge: both failed open, counted undelivered: {a.stats}")
    a.done()


def drop(bridge):
    """Drops what the fake bridge got."""
    while True:
        try:
            bridge.recv(65536)
        except BlockingIOError:
            return


def with_fake_bridge(scenario):
    """Runs SCENARIO(tctx, path, bridge) with a fresh addon and a datagram
    socket standing in for the bridge."""
    global addon
    addon = mod.DpiBridge()
    with tempfile.TemporaryDirectory() as tmp, taddons.context(addon) as tctx:
        path = os.path.join(tmp, "bridge.sock")
        bridge = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bridge.bind(path)
        bridge.setblocking(False)
        asyncio.run(scenario(tctx, path, bridge))
        bridge.close()


async def long_turn(tctx, bridge_path, bridge):
    """A turn of the loop longer than the deadline, between the requests' hook and the end
    of the turn (when they are sent): the bridge still has the whole deadline to answer."""
    a = addon
    tctx.configure(a, dpi_socket=bridge_path, dpi_verdict=True, dpi_verdict_deadline_ms=20)
    stop = threading.Event()

    def answer_at_once():               # a bridge in another thread: answers every ask
        bridge.settimeout(0.02)
        while not stop.is_set():
            try:
                data, source = bridge.recvfrom(65536)
            except socket.timeout:
                continue
            ids = [r["id"] for r in map(json.loads, data.split(b"\n")) if r.get("verdict")]
            bridge.sendto("\n".join('{"v":1,"id":"%s","action":"allow"}' % i
                                    for i in ids).encode(), source)

    helper = threading.Thread(target=answer_at_once)
    helper.start()
    try:
        loop = asyncio.get_running_loop()
        fs = [flow("127.0.0.1") for _ in range(3)]
        tasks = [asyncio.ensure_future(a.request(f)) for f in fs]
        loop.call_soon(time.sleep, 0.06)    # after the hooks, in the same turn: 3 deadlines long
        await asyncio.gather(*tasks)
        check(a.stats["verdict_allow"] == 3 and a.stats["fail_open"] == 0,
              f"a long turn before the send: all answered in time: {a.stats}")
    finally:
        stop.set()
        helper.join()
    # mitmproxy stops while a verdict request is still to be sent: it goes, and no timer
    # is left behind for its (cancelled) answer
    f = flow("127.0.0.1")
    task = asyncio.ensure_future(a.request(f))
    await asyncio.sleep(0)
    check(len(a.outbox) == 1, f"a request waiting for the end of the turn: {a.outbox}")
    a.done()
    check(a.sweeper is None and not a.deadlines, f"done: no deadline timer left: {a.sweeper}")
    await asyncio.gather(task, return_exceptions=True)


with_fake_bridge(verdicts)
with_fake_bridge(batching)
with_fake_bridge(long_turn)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
