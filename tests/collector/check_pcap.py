"""Check what dpi-collector reported on a dpi-pcapgen capture.

    check_pcap.py config EXPECT.json [THREADS]
        print the collector config of the scenario (YAML), with tap.threads
    check_pcap.py check EXPECT.json CAPTURE EVENTS.jsonl STDERR EXIT_CODE [LABEL]
        compare; print one line per problem and exit 1 if there is any

EXPECT.json is written by dpi-pcapgen (tests/tools/pcapgen.c documents each
scenario). Checked: the exit code; text the stderr must contain; no
sanitizer report; the capture itself (frames and wire bytes, read here from
the pcap/pcapng file) against the expectation; the summary lines (packets,
IP packets, flows, evictions, events, every "not decoded" reason and the
fragment count); and per flow — matched on (ip proto, src, sport, dst,
dport, vlan, first seen), so a swapped initiator is a missing flow — the
event sequence (DETECTED/UPDATE/END, end reasons), the tuple, ip version,
proto, guessed, per-direction packets and bytes, first/last seen, the
metadata fields, the interface (the capture path), one flow_id per flow
and the Community ID, computed here (tests/lib/community_id.py) with the
scenario's seed. Every event of a flow must carry the same Community ID and
tuple; a DETECTED event's counters may not exceed the END's.
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


def fail(msg):
    problems.append(msg)


def read_capture(path):
    """(frames, wire bytes, truncated) of a pcap or pcapng file."""
    data = open(path, "rb").read()
    frames = total = 0
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack_from("<II", data, off)
            if blen < 12 or off + blen > len(data):
                return frames, total, True
            if btype == 6:
                frames += 1
                total += struct.unpack_from("<I", data, off + 24)[0]
            off += blen
        return frames, total, off != len(data)
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic not in (0xa1b2c3d4, 0xa1b23c4d):
        raise ValueError(f"{path}: not a little-endian pcap file")
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, wirelen = struct.unpack_from("<IIII", data, off)
        if off + 16 + caplen > len(data):
            return frames, total, True
        frames += 1
        total += wirelen
        off += 16 + caplen
    return frames, total, off != len(data)


def norm_ip(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return f"<bad address {text!r}>"


def flow_key(f):
    return (f["ip_proto"], norm_ip(f["src_ip"]), f["src_port"], norm_ip(f["dst_ip"]),
            f["dst_port"], f["vlan"], f["first_seen"])


def describe(f):
    return (f"{f.get('src_ip')}:{f.get('src_port')} -> {f.get('dst_ip')}:{f.get('dst_port')} "
            f"proto {f.get('ip_proto')} vlan {f.get('vlan')}")


def parse_summary(err):
    """The collector's two summary lines as a dict, or None if absent."""
    m = re.search(r"dpi-collector: (\d+) packets \((\d+) IP\), (\d+) flows, (\d+) evicted; "
                  r"events: (\d+) detected, (\d+) update, (\d+) end, (\d+) not delivered", err)
    n = re.search(r"dpi-collector: not decoded:((?: [a-z-]+ \d+)+); fragments (\d+)", err)
    if not m or not n:
        return None
    keys = ("packets", "ip_packets", "flows", "evicted", "detected", "update", "end",
            "not_delivered")
    out = dict(zip(keys, map(int, m.groups())))
    words = n.group(1).split()
    out["reasons"] = {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}
    out["reasons"]["fragments"] = int(n.group(2))
    return out


def check_flow(exp, events, capture, seed):
    name = describe(exp)
    seq = [e["event"] for e in events]
    want = exp["events"].split(",")
    if seq != want:
        fail(f"{name}: events {seq}, expected {want}")
    ids = {e["flow_id"] for e in events}
    if len(ids) != 1:
        fail(f"{name}: several flow_ids {sorted(ids)}")
    if exp["ip_proto"] in (1, 58):
        sport, dport = exp["icmp_type"], exp["icmp_code"]
    else:
        sport, dport = exp["src_port"], exp["dst_port"]
    cid = community_id(exp["src_ip"], exp["dst_ip"], exp["ip_proto"], sport, dport, seed)
    for e in events:
        label = f"{name}: {e['event']}"
        if e["community_id"] != cid:
            fail(f"{label}: community_id {e['community_id']}, computed {cid} (seed {seed})")
        for k in ("ip_version", "ip_proto", "src_port", "dst_port", "vlan"):
            if e[k] != exp[k]:
                fail(f"{label}: {k} {e[k]}, expected {exp[k]}")
        for k in ("src_ip", "dst_ip"):
            if norm_ip(e[k]) != norm_ip(exp[k]):
                fail(f"{label}: {k} {e[k]}, expected {exp[k]}")
        if e["interface"] != capture:
            fail(f"{label}: interface {e['interface']!r}, expected {capture!r}")
        reason = exp["end_reason"] if e["event"] == "END" else "END_REASON_NONE"
        if e["end_reason"] != reason:
            fail(f"{label}: end_reason {e['end_reason']}, expected {reason}")
    ends = [e for e in events if e["event"] == "END"]
    if len(ends) != 1:
        return
    end = ends[0]
    for k in ("proto", "guessed", "src2dst_packets", "dst2src_packets", "src2dst_bytes",
              "dst2src_bytes", "first_seen", "last_seen"):
        if end[k] != exp[k]:
            fail(f"{name}: END {k} {end[k]!r}, expected {exp[k]!r}")
    for k, v in exp["meta"].items():
        if end.get(k) != v:
            fail(f"{name}: END {k} {end.get(k)!r}, expected {v!r}")
    for e in events:
        if e["event"] == "END":
            continue
        if e["proto"] != end["proto"]:
            fail(f"{name}: {e['event']} proto {e['proto']!r} but END says {end['proto']!r}")
        for k in ("src2dst_packets", "dst2src_packets", "src2dst_bytes", "dst2src_bytes"):
            if e[k] > end[k]:
                fail(f"{name}: {e['event']} {k} {e[k]} > END's {end[k]}")


def check(expect_path, capture, jsonl, stderr_path, rc):
    exp = json.load(open(expect_path))
    err = open(stderr_path, errors="replace").read()

    if rc != exp["exit"]:
        fail(f"exit code {rc}, expected {exp['exit']}")
    for text in exp["stderr"]:
        if text not in err:
            fail(f"stderr lacks {text!r}")
    for bad in ("Sanitizer", "runtime error:", "LeakSanitizer"):
        if bad in err:
            fail(f"sanitizer report in stderr ({bad})")

    frames, wire, truncated = read_capture(capture)
    if (frames, wire, truncated) != (exp["frames"], exp["bytes"], exp["truncated"]):
        fail(f"capture file: {frames} frames, {wire} bytes, truncated {truncated}; the "
             f"generator said {exp['frames']}, {exp['bytes']}, {exp['truncated']}")

    lines = []
    if os.path.exists(jsonl):
        for i, line in enumerate(open(jsonl), 1):
            try:
                lines.append(json.loads(line))
            except ValueError as e:
                fail(f"{jsonl}:{i}: not JSON ({e})")
    elif exp["exit"] != 1:
        fail(f"{jsonl}: missing")

    if exp["exit"] == 1:                     # refused before any work
        if lines:
            fail(f"{len(lines)} events from a capture that was refused")
        return

    summary = parse_summary(err)
    if summary is None:
        fail("no summary lines on stderr")
    else:
        ip_packets = sum(f["src2dst_packets"] + f["dst2src_packets"] for f in exp["flows"])
        want = {"packets": exp["frames"], "ip_packets": ip_packets, "flows": len(exp["flows"]),
                "evicted": exp["evicted"], "not_delivered": 0,
                "detected": sum(f["events"].split(",").count("DETECTED") for f in exp["flows"]),
                "update": sum(f["events"].split(",").count("UPDATE") for f in exp["flows"]),
                "end": len(exp["flows"])}
        for k, v in want.items():
            if summary[k] != v:
                fail(f"summary: {k} {summary[k]}, expected {v}")
        got = summary["reasons"]
        for k, v in exp["counters"].items():
            if got.get(k) != v:
                fail(f"summary: not decoded {k} {got.get(k)}, expected {v} (all: {got})")
        for k, v in got.items():          # a reason added later must at least stay at 0
            if k not in exp["counters"] and v != 0:
                fail(f"summary: not decoded {k} {v}, expected 0")

    # events belong together by flow_id and tuple; a flow_id on two tuples
    # is itself a fault (the id must be unique per collector instance)
    flows = {}
    for e in lines:
        if e.get("topic") != "tap.flow":
            fail(f"unexpected line {e}")
            continue
        flows.setdefault((e["flow_id"],) + flow_key(e), []).append(e)
    owners = {}
    for fid_key in flows:
        owners.setdefault(fid_key[0], []).append(fid_key)
    for fid, keys in sorted(owners.items()):
        if len(keys) > 1:
            fail(f"flow_id {fid} used by {len(keys)} flows: "
                 + "; ".join(describe(flows[k][0]) for k in keys[:3]))
    by_key = {}
    for fid_key, events in flows.items():
        key = fid_key[1:]
        if key in by_key:
            fail(f"two flow_ids for one flow: {describe(events[0])}")
        by_key[key] = events
    expected = {flow_key(f): f for f in exp["flows"]}
    if len(expected) != len(exp["flows"]):
        fail("the generator expects two flows with one key")
    missing = [k for k in expected if k not in by_key]
    extra = [k for k in by_key if k not in expected]
    shown = 0
    for k in missing:
        if shown < 8:
            fail(f"missing flow {describe(expected[k])} first seen {k[-1]}")
        shown += 1
    for k in extra:
        if shown < 16:
            ev = by_key[k]
            fail(f"unexpected flow {describe(ev[0])} first seen {k[-1]}: "
                 f"{[e['event'] + '/' + e['end_reason'] for e in ev]}, proto {ev[-1]['proto']}, "
                 f"packets {ev[-1]['src2dst_packets']}+{ev[-1]['dst2src_packets']}")
        shown += 1
    if shown > 16:
        fail(f"... {len(missing)} missing and {len(extra)} unexpected flows in all")
    for k, f in expected.items():
        if k in by_key:
            check_flow(f, by_key[k], capture, exp["seed"])


def main():
    if len(sys.argv) in (3, 4) and sys.argv[1] == "config":
        config = json.load(open(sys.argv[2]))["config"]
        if len(sys.argv) == 4:           # every scenario config has tap: last
            assert config.startswith("tap:\n"), config
            config += f"  threads: {int(sys.argv[3])}\n"
        sys.stdout.write(config)
        return 0
    if len(sys.argv) not in (7, 8) or sys.argv[1] != "check":
        sys.stderr.write(__doc__)
        return 2
    expect, capture, jsonl, stderr_path, rc = sys.argv[2:7]
    scen = sys.argv[7] if len(sys.argv) == 8 else json.load(open(expect))["scenario"]
    check(expect, capture, jsonl, stderr_path, int(rc))
    if problems:
        print(f"FAIL {scen}: {len(problems)} problem(s)")
        for p in problems[:60]:
            print(f"  {scen}: {p}")
        if len(problems) > 60:
            print(f"  ... {len(problems) - 60} more")
        return 1
    nflows = len(json.load(open(expect))["flows"])
    print(f"ok   {scen}: {nflows} flow(s) as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
