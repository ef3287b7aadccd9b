"""Check dpi-collector's events on a capture of real traffic (it_collector_netns).

    check_netns.py EVENTS.jsonl STDERR EXPECT.tsv CAPTURE.pcap

EXPECT.tsv has one line per exchange the test made, tab-separated:
    KIND SRC_IP SRC_PORT DST_IP DST_PORT NAME [URL USER_AGENT]
KIND is http, tls or dns. For each: exactly one flow with that tuple (the
client as src), events DETECTED then END, packets and bytes per direction
and first/last seen equal to what this script counts itself in the capture
(a small Ethernet/IPv4/IPv6/TCP/UDP reader), the Community ID as computed
by tests/lib/community_id.py (seed 0), and
    http: proto HTTP, host_server_name NAME, http_method GET, http_url
          NAME + URL, http_user_agent, http_status 200;
    tls:  proto TLS (or TLS.<app>), tls_sni NAME, a TLS version and JA3;
    dns:  proto DNS, dns_query NAME.
The summary line must report packets and flows; no sanitizer report.
"""
import ipaddress
import json
import os
import re
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from community_id import community_id  # noqa: E402

problems = []


def capture_flows(path):
    """{(proto, src, sport, dst, dport): [packets, wire bytes, first us, last us]}
    of the TCP/UDP packets of a little-endian Ethernet pcap, per direction."""
    data = open(path, "rb").read()
    magic, linktype = struct.unpack_from("<I", data, 0)[0], struct.unpack_from("<I", data, 20)[0]
    if magic != 0xa1b2c3d4 or linktype != 1:
        raise ValueError(f"{path}: expected a microsecond Ethernet pcap")
    out, off = {}, 24
    while off + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ts = sec * 1000000 + usec
        etype = struct.unpack_from("!H", frame, 12)[0]
        ip = frame[14:]
        if etype == 0x0800:
            proto, l4 = ip[9], ip[(ip[0] & 15) * 4:]
            src, dst = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
        elif etype == 0x86dd:
            proto, l4 = ip[6], ip[40:]
            src, dst = ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40])
        else:
            continue
        if proto not in (6, 17):
            continue
        sport, dport = struct.unpack_from("!HH", l4, 0)
        c = out.setdefault((proto, str(src), sport, str(dst), dport), [0, 0, ts, ts])
        c[0] += 1
        c[1] += wirelen
        c[3] = ts
    return out


def fail(msg):
    problems.append(msg)


def main():
    jsonl, stderr_path, expect_path, capture = sys.argv[1:5]
    counted = capture_flows(capture)
    err = open(stderr_path, errors="replace").read()
    for bad in ("Sanitizer", "runtime error:"):
        if bad in err:
            fail(f"sanitizer report on stderr ({bad})")
    m = re.search(r"dpi-collector: (\d+) packets \((\d+) IP\), (\d+) flows", err)
    if not m:
        fail("no summary line on stderr")
    elif min(map(int, m.groups())) <= 0:
        fail(f"summary counters not all > 0: {m.group(0)}")

    flows = {}
    for line in open(jsonl):
        e = json.loads(line)
        flows.setdefault(e["flow_id"], []).append(e)

    def norm(ip):
        return str(ipaddress.ip_address(ip))

    for line in open(expect_path):
        f = line.rstrip("\n").split("\t")
        if not f or not f[0]:
            continue
        kind, src, sport, dst, dport, name = f[:6]
        sport, dport = int(sport), int(dport)
        proto = 17 if kind == "dns" else 6
        label = f"{kind} {src}:{sport} -> {dst}:{dport}"
        match = [ev for ev in flows.values()
                 if ev[0]["ip_proto"] == proto and norm(ev[0]["src_ip"]) == norm(src)
                 and ev[0]["src_port"] == sport and norm(ev[0]["dst_ip"]) == norm(dst)
                 and ev[0]["dst_port"] == dport]
        if len(match) != 1:
            swapped = [ev for ev in flows.values()
                       if ev[0]["src_port"] == dport and ev[0]["dst_port"] == sport]
            fail(f"{label}: {len(match)} flows with this tuple"
                 + (" (reported with src and dst swapped)" if swapped else ""))
            continue
        events = match[0]
        seq = [e["event"] for e in events]
        if seq != ["DETECTED", "END"]:
            fail(f"{label}: events {seq}, expected DETECTED then END")
        end = events[-1]
        cid = community_id(src, dst, proto, sport, dport, 0)
        for e in events:
            if e["community_id"] != cid:
                fail(f"{label}: {e['event']} community_id {e['community_id']}, computed {cid}")
        fwd = counted.get((proto, norm(src), sport, norm(dst), dport), [0, 0, 0, 0])
        rev = counted.get((proto, norm(dst), dport, norm(src), sport), [0, 0, 0, 0])
        want_counts = {"src2dst_packets": fwd[0], "dst2src_packets": rev[0],
                       "src2dst_bytes": fwd[1], "dst2src_bytes": rev[1],
                       "first_seen": min(fwd[2], rev[2] or fwd[2]) // 1000,
                       "last_seen": max(fwd[3], rev[3]) // 1000}
        for k, v in want_counts.items():
            if end[k] != v:
                fail(f"{label}: {k} {end[k]}, the capture says {v}")
            if k.endswith(("packets", "bytes")) and not end[k] > 0:
                fail(f"{label}: {k} {end[k]}, expected > 0")
        want = {}
        if kind == "http":
            url, agent = f[6], f[7]
            want = {"proto": "HTTP", "host_server_name": name, "http_method": "GET",
                    "http_url": name + url, "http_user_agent": agent, "http_status": 200}
        elif kind == "tls":
            want = {"tls_sni": name, "host_server_name": name}
            if not (end["proto"] == "TLS" or end["proto"].startswith("TLS.")):
                fail(f"{label}: proto {end['proto']!r}, expected TLS")
            if not end["tls_version"].startswith("TLSv1."):
                fail(f"{label}: tls_version {end['tls_version']!r}")
            if not re.fullmatch(r"[0-9a-f]{32}", end["ja3_client"]):
                fail(f"{label}: ja3_client {end['ja3_client']!r}")
        elif kind == "dns":
            want = {"proto": "DNS", "dns_query": name}
        for k, v in want.items():
            if end.get(k) != v:
                fail(f"{label}: {k} {end.get(k)!r}, expected {v!r}")
        if end["guessed"]:
            fail(f"{label}: guessed, expected detected by DPI")
        print(f"ok   {label}: {end['proto']}, {end['src2dst_packets']}+"
              f"{end['dst2src_packets']} packets, {cid}")

    if problems:
        for p in problems:
            print(f"FAIL {p}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
