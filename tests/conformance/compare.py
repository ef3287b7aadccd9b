#!/usr/bin/python3
"""compare.py — conformance of dpi-collector against nDPI's own ndpiReader.

For every capture in CORPUS (pcap, pcapng) that has NAME.ndpi.txt next to it
(the stored output of Debian's `ndpiReader -i NAME -v 2`, libndpi-bin 4.2),
run `dpi-collector -r NAME --no-bus --jsonl OUT -q -c CONFIG`, take the END
event of every flow, and match it with ndpiReader's per-flow lines by a
direction-independent tuple (IP protocol number, VLAN, both endpoints).

Prints every disagreement (protocol differs, flow only in ndpiReader, flow
only in ours) with the packet counts of both, one line per capture, then

  conformance: N captures, T flows (ndpiReader), M matched by tuple,
  P same protocol, X% agreement (target >= 99%)

with X = P / (ndpiReader flows + our flows not in ndpiReader). Packet-count
differences of matched flows are reported (and counted) but never fail.

Exit status: 0 agreement >= target; 1 below target; 2 something broke (a
run of the collector failed, an output could not be parsed, no capture);
77 skipped: CORPUS is not a directory (it_conformance.sh says which).

Python 3 standard library only.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time

# ---------------------------------------------------------------------------
# The configuration of the collector for the comparison.
#
# What ndpiReader does with a file (example/ndpiReader.c, reader_util.c of
# the Debian 4.2 source):
#   * idle flows: node_idle_scan_walker drops flows idle for MAX_IDLE_TIME
#     (30 s) without printing them -- but it is only called from
#     ndpi_process_packet under `if(live_capture)`, and live_capture is 0
#     when pcap_open_live fails and the file is opened with
#     pcap_open_offline. So for `-i FILE` no flow ever expires: every flow
#     lives to the end of the file and is printed once.
#   * TCP FIN/RST end nothing: a later packet with the same tuple (port
#     reuse) goes on counting in the same flow.
#   * so the fair setting is "no expiry at all" on our side too: every
#     idle timeout, and the TCP close timeout, at the maximum the config
#     accepts (86400 s; every corpus capture spans less than that), so each
#     flow ends once, at the end of the file (END reason SHUTDOWN), as in
#     ndpiReader. With our defaults (TCP 300 s, close 10 s, UDP/other 60 s)
#     flows of the longer captures are split in two or more records.
#   * packets given to nDPI: ndpiReader stops dissecting a TCP flow once
#     it has more than 80 packets (so 81 are dissected), a UDP flow after 25
#     (> 24), and never gives up on other protocols before the end (then it
#     calls ndpi_detection_giveup, as we do at END). Our single key
#     tap.max_packets_per_flow (default 32) cannot be per-protocol; the run
#     uses the default unless --tap max_packets_per_flow=N is given (the
#     report states it). See it_conformance.sh for the figures of each.
# ---------------------------------------------------------------------------
FAIR_TAP = {
    "tcp_idle_timeout": 86400,
    "tcp_close_timeout": 86400,
    "udp_idle_timeout": 86400,
    "other_idle_timeout": 86400,
    "update_interval": 86400,
    "stats_interval": 3600,
}

CAPTURE_EXT = (".pcap", ".pcapng", ".cap")

PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "IGMP": 2, "VRRP": 112}

# ndpiReader printFlow, -v 2:
#   \t<id>\t<PROTO> <src>:<sport> <-> <dst>:<dport> [VLAN: n][proto: [TUN:]M.A/NAME]...
#   [N pkts/B bytes <-> N pkts/B bytes]
FLOW_RE = re.compile(
    r"^\t(\d+)\t(\S+) (\[[^\]]*\]|[^\s\[\]]+):(\d+) (<->|->) (\[[^\]]*\]|[^\s\[\]]+):(\d+) "
    r"(?:\[VLAN: (\d+)\])?(?:\[flowId: \d+\])?\[proto: (?:([A-Za-z_]+):)?([0-9.]+)/([^\]]*)\]")
PKTS_RE = re.compile(r"\[(\d+) pkts/(\d+) bytes (?:<->|->) (\d+) pkts/(\d+) bytes\]")


def patch_ipv6(s):
    """ndpi_patchIPv6Address (ndpi_utils.c): ndpiReader replaces ":0:" by
    "::" in printed IPv6 addresses. Apply the same to ours to compare."""
    out, i = [], 0
    while i < len(s):
        if s[i] == ":" and s[i + 1:i + 2] == "0" and s[i + 2:i + 3] == ":":
            out.append("::")
            i += 3
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def norm_addr(a, version=None):
    if a.startswith("["):
        a = a[1:-1]
        version = 6
    if version == 6 or ":" in a:
        return patch_ipv6(a.lower())
    return a


def flow_key(proto, vlan, a, ap, b, bp):
    ends = sorted([(a, ap), (b, bp)])
    return (proto, vlan, ends[0], ends[1])


def fmt_key(k):
    proto, vlan, (a, ap), (b, bp) = k
    v = " vlan %d" % vlan if vlan else ""
    fa = "[%s]" % a if ":" in a else a
    fb = "[%s]" % b if ":" in b else b
    return "%s %s:%d <-> %s:%d%s" % (PROTO_NAMES.get(proto, str(proto)), fa, ap, fb, bp, v)


PROTO_NAMES = {v: k for k, v in PROTO_NUMBERS.items()}


class ParseError(Exception):
    pass


def parse_ndpi(path):
    """ndpiReader's flows of one capture: list of dicts. Lines come in
    sections (detected/guessed first, then "Undetected flows:"); both are
    flow lines of the same format. A report without "Traffic statistics"
    (badpackets.pcap: ndpiReader prints nothing when it counted no bytes)
    has no flows."""
    with open(path, "rb") as f:
        text = f.read().decode("latin-1")
    flows = []
    for line in text.split("\n"):
        if not re.match(r"^\t\d+\t\S", line):
            continue
        m = FLOW_RE.match(line)
        if not m:
            if "[proto:" in line:
                raise ParseError("%s: unparsed flow line: %r" % (path, line[:160]))
            continue                                # JA3 host stats etc.
        pname = m.group(2)
        proto = PROTO_NUMBERS.get(pname)
        if proto is None:
            if not pname.isdigit():
                raise ParseError("%s: unknown protocol %r" % (path, pname))
            proto = int(pname)
        p = PKTS_RE.search(line)
        if not p:
            raise ParseError("%s: no packet counts: %r" % (path, line[:160]))
        a, b = norm_addr(m.group(3)), norm_addr(m.group(6))
        flows.append({
            "key": flow_key(proto, int(m.group(8) or 0), a, int(m.group(4)), b, int(m.group(7))),
            "src": (a, int(m.group(4))), "dst": (b, int(m.group(7))),
            "bidir": m.group(5) == "<->",
            "tunnel": m.group(9) or "",
            "ids": m.group(10), "name": m.group(11),
            "pkts": (int(p.group(1)), int(p.group(3))),
        })
    has_report = "Traffic statistics:" in text
    # offline, ndpiReader expires nothing: every flow it counted is printed
    m = re.search(r"Unique flows:\s+(\d+)", text)
    if has_report and (not m or int(m.group(1)) != len(flows)):
        raise ParseError("%s: %d flow lines parsed, report says %s unique flows" % (
            path, len(flows), m.group(1) if m else "no"))
    return flows, has_report


def parse_ours(path):
    flows = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                ev = json.loads(raw.decode("utf-8", "replace"))
            except ValueError as e:
                raise ParseError("%s:%d: bad JSON: %s" % (path, n, e))
            if ev.get("event") != "END":
                continue
            v = ev.get("ip_version", 4)
            a = norm_addr(ev["src_ip"], v)
            b = norm_addr(ev["dst_ip"], v)
            ap, bp = int(ev.get("src_port", 0)), int(ev.get("dst_port", 0))
            proto = int(ev["ip_proto"])
            flows.append({
                "key": flow_key(proto, int(ev.get("vlan", 0)), a, ap, b, bp),
                "src": (a, ap),
                "name": ev.get("proto", ""),
                "pkts": (int(ev.get("src2dst_packets", 0)), int(ev.get("dst2src_packets", 0))),
                "first": int(ev.get("first_seen", 0)),
                "reason": ev.get("end_reason", ""),
                "guessed": bool(ev.get("guessed", False)),
                "confidence": ev.get("confidence", ""),
            })
    flows.sort(key=lambda f: f["first"])
    return flows


def oriented(pk, src, ref_src):
    """Packet counts PK of a flow whose source is SRC, as seen from REF_SRC."""
    return pk if src == ref_src else (pk[1], pk[0])


def write_config(path, tap):
    with open(path, "w") as f:
        f.write("# written by tests/conformance/compare.py\ntap:\n")
        for k, v in sorted(tap.items()):
            f.write("  %s: %s\n" % (k, v))


def run_collector(binary, config, capture, out):
    cmd = [binary, "-r", capture, "--no-bus", "--jsonl", out, "-q"]
    if config:
        cmd[1:1] = ["-c", config]
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    return p.returncode, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0


def compare_file(name, theirs, ours, out):
    """Match one capture; print its disagreements; return counters."""
    by_key = {}
    for f in ours:
        by_key.setdefault(f["key"], []).append(f)
    st = {"theirs": len(theirs), "ours": len(ours), "matched": 0, "same": 0,
          "only_theirs": 0, "only_ours": 0, "proto_diff": 0, "pkt_diff": 0}
    used = set()
    for t in theirs:
        cands = [f for f in by_key.get(t["key"], []) if id(f) not in used]
        if not cands:
            st["only_theirs"] += 1
            out.append("%s: ONLY-NDPIREADER %s  theirs %s  pkts %d/%d" % (
                name, fmt_key(t["key"]), t["name"], t["pkts"][0], t["pkts"][1]))
            continue
        o = cands[0]                        # the earliest of ours with this tuple
        used.add(id(o))
        st["matched"] += 1
        opk = oriented(o["pkts"], o["src"], t["src"])
        split = len(by_key[t["key"]]) > 1
        if o["name"] == t["name"]:
            st["same"] += 1
        else:
            st["proto_diff"] += 1
            out.append("%s: PROTO %s  ours %s vs theirs %s  pkts ours %d/%d theirs %d/%d%s%s" % (
                name, fmt_key(t["key"]), o["name"], t["name"], opk[0], opk[1],
                t["pkts"][0], t["pkts"][1], " (ours guessed)" if o["guessed"] else "",
                " (ours split in %d)" % len(by_key[t["key"]]) if split else ""))
        if opk != t["pkts"]:
            st["pkt_diff"] += 1
            if o["name"] == t["name"]:
                out.append("%s: PKTS %s  %s  ours %d/%d theirs %d/%d%s" % (
                    name, fmt_key(t["key"]), t["name"], opk[0], opk[1], t["pkts"][0],
                    t["pkts"][1],
                    " (ours split in %d)" % len(by_key[t["key"]]) if split else ""))
    for f in ours:
        if id(f) in used:
            continue
        st["only_ours"] += 1
        out.append("%s: ONLY-OURS %s  ours %s  pkts %d/%d  end %s" % (
            name, fmt_key(f["key"]), f["name"], f["pkts"][0], f["pkts"][1], f["reason"]))
    return st


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collector", required=True, help="dpi-collector binary")
    ap.add_argument("--corpus", required=True, help="directory of captures + NAME.ndpi.txt")
    ap.add_argument("--tap", action="append", default=[], metavar="KEY=VALUE",
                    help="extra tap.KEY for the collector config (repeatable)")
    ap.add_argument("--defaults", action="store_true",
                    help="run the collector with no config at all (every default)")
    ap.add_argument("--target", type=float, default=99.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--info", metavar="LABEL",
                    help="print only one line 'info: LABEL: ...' (figures, not gating)")
    ap.add_argument("--keep", help="keep the JSON lines in this directory")
    args = ap.parse_args()

    if not os.path.isdir(args.corpus):
        print("conformance: SKIPPED: %s is not a directory" % args.corpus)
        return 77
    if not os.access(args.collector, os.X_OK):
        print("conformance: %s: not an executable" % args.collector)
        return 2
    captures = sorted(n for n in os.listdir(args.corpus)
                      if n.lower().endswith(CAPTURE_EXT)
                      and os.path.isfile(os.path.join(args.corpus, n)))
    if not captures:
        print("conformance: no capture in %s" % args.corpus)
        return 2

    tap = dict(FAIR_TAP)
    for kv in args.tap:
        k, sep, v = kv.partition("=")
        if not sep:
            print("conformance: --tap %s: want KEY=VALUE" % kv)
            return 2
        tap[k] = v

    t_start = time.monotonic()
    broke = []
    with tempfile.TemporaryDirectory(prefix="dpi-conformance.") as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        config = None
        if not args.defaults:
            config = os.path.join(tmp, "conformance.yaml")
            write_config(config, tap)

        def job(name):
            out = os.path.join(work, name + ".jsonl")
            return name, out, run_collector(args.collector, config,
                                            os.path.join(args.corpus, name), out)

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            runs = {name: (out, r) for name, out, r in ex.map(job, captures)}

        lines, per_file = [], []
        tot = {"theirs": 0, "ours": 0, "matched": 0, "same": 0, "only_theirs": 0,
               "only_ours": 0, "proto_diff": 0, "pkt_diff": 0}
        for name in captures:
            out, (rc, err, secs) = runs[name]
            ref = os.path.join(args.corpus, name + ".ndpi.txt")
            if rc not in (0, 2):
                broke.append("%s: dpi-collector exit %d: %s" % (name, rc, err.strip()[-300:]))
                continue
            note = ""
            if rc == 2:     # the file could not be read to its end: what was read counts
                note = " [collector exit 2: %s]" % err.strip().splitlines()[-1][:120]
            try:
                if not os.path.exists(ref):
                    raise ParseError("%s: missing" % ref)
                theirs, has_report = parse_ndpi(ref)
                if not has_report:
                    note += " [ndpiReader printed no report]"
                ours = parse_ours(out)
            except (ParseError, OSError, KeyError, ValueError) as e:
                broke.append("%s: %s" % (name, e))
                continue
            st = compare_file(name, theirs, ours, lines)
            for k in tot:
                tot[k] += st[k]
            per_file.append("  %-42s theirs %4d ours %4d matched %4d same-proto %4d%s" % (
                name, st["theirs"], st["ours"], st["matched"], st["same"], note))

        denom = tot["theirs"] + tot["only_ours"]
        pct = 100.0 * tot["same"] / denom if denom else 0.0
        counts = "%d captures, %d flows (ndpiReader), %d matched by tuple, %d same protocol, " \
                 "%.2f%% agreement" % (len(captures), tot["theirs"], tot["matched"],
                                      tot["same"], pct)
        disagree = "%d protocol, %d only in ndpiReader, %d only in ours; %d matched flows " \
                   "with other packet counts" % (tot["proto_diff"], tot["only_theirs"],
                                                  tot["only_ours"], tot["pkt_diff"])
        if broke:
            counts += " [%d captures broke]" % len(broke)
        if args.info:
            print("info: %s: %s (%s)" % (args.info, counts, disagree))
            return 2 if broke else 0
        for line in lines:
            print(line)
        print("per capture (flows theirs/ours/matched/same-proto):")
        for line in per_file:
            print(line)
        for b in broke:
            print("BROKEN: " + b)
        cfg = "defaults (no config file)" if args.defaults else \
            "config: " + ", ".join("tap.%s=%s" % kv for kv in sorted(tap.items()))
        print("disagreements: %s (packet counts are reported, never failing)" % disagree)
        print("collector %s; %.1f s" % (cfg, time.monotonic() - t_start))
        print("conformance: %s (target >= %g%%)" % (counts, args.target))
    if broke:
        return 2
    return 0 if pct >= args.target else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:                          # a bug here is "broke", not "below target"
        import traceback
        traceback.print_exc()
        print("conformance: compare.py failed: %s" % e)
        sys.exit(2)
