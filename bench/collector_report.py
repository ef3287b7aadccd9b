#!/usr/bin/env python3
"""collector_report.py RECORDS — the report of bench/collector-vs-ndpireader.

RECORDS has one line per timed run, key=value separated by spaces:
  cap=C tool=collector  run=R wall=S rss_kb=K packets=P flows=F events=E not_delivered=N
                        received=M gaps=G self_pps=X
  cap=C tool=nobus      run=R wall=S rss_kb=K packets=P flows=F
  cap=C tool=ndpireader run=R wall=S rss_kb=K
  cap=C tool=loop       run=R wall=S rss_kb=K packets=P
  cap=C tool=ndpiinfo   packets=P flows=F          (ndpiReader's own counts, untimed)
Prints one table (medians; ratios of medians of the same batch) and one line per target.
Exits 1 only when the records are unusable; a missed target is not an error."""
import statistics
import sys

TARGETS = [  # (capture, what, comparison, bound)
    ("short", "pps", ">=", 2.5),
    ("long", "pps", ">=", 2.0),
    ("short", "rss", "<=", 0.2),
]
TOOLS = [("collector", "collector"), ("nobus", "coll. --no-bus"), ("ndpireader", "ndpiReader -q"),
         ("loop", "bare loop")]


def load(path):
    recs = []
    for line in open(path):
        if line.strip():
            recs.append(dict(kv.split("=", 1) for kv in line.split()))
    return recs


def si(x):
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def size(b):
    return f"{b / 1024:.1f} KiB" if b >= 1024 else f"{b:.0f} B"


def main():
    recs = load(sys.argv[1])
    caps = list(dict.fromkeys(r["cap"] for r in recs))
    if not caps:
        print("collector-vs-ndpireader: no figures recorded", file=sys.stderr)
        return 1
    rows, bus, ratios, notes = [], [], {}, []
    for cap in caps:
        by = {t: [r for r in recs if r["cap"] == cap and r["tool"] == t]
              for t in ("collector", "nobus", "ndpireader", "loop", "ndpiinfo")}
        info = by["ndpiinfo"][0] if by["ndpiinfo"] else {}
        med = {}
        for tool, _ in TOOLS:
            runs = by[tool]
            if not runs:
                continue
            walls = [float(r["wall"]) for r in runs]
            m = {"wall": statistics.median(walls), "min": min(walls), "max": max(walls),
                 "rss": statistics.median(int(r["rss_kb"]) for r in runs), "n": len(runs)}
            if tool == "collector":
                m["packets"] = int(runs[0]["packets"])
                m["flows"] = int(runs[0]["flows"])
                m["self_pps"] = statistics.median(float(r["self_pps"]) for r in runs)
            elif tool == "nobus":
                m["packets"] = int(runs[0]["packets"])
                m["flows"] = int(runs[0]["flows"])
            elif tool == "ndpireader":
                m["packets"] = int(info.get("packets", 0))
                m["flows"] = int(info.get("flows", 0))
            else:
                m["packets"] = int(runs[0]["packets"])
                m["flows"] = None
            m["pps"] = m["packets"] / m["wall"] if m["wall"] > 0 else 0
            med[tool] = m
        counts = {t: m["packets"] for t, m in med.items()}
        if len(set(counts.values())) > 1:
            notes.append(f"{cap}: packet counts differ: "
                         + ", ".join(f"{t} {n}" for t, n in counts.items()))
        c, n, lp = med.get("collector"), med.get("ndpireader"), med.get("loop")
        r = ratios[cap] = {}
        if c and n and n["pps"] and n["rss"]:
            r["pps"] = c["pps"] / n["pps"]
            r["rss"] = c["rss"] / n["rss"]
        for tool, label in TOOLS:
            m = med.get(tool)
            if not m:
                continue
            x_ndpi = f"{m['pps'] / n['pps']:.2f}x" if n and n["pps"] else "-"
            x_loop = f"{m['pps'] / lp['pps']:.3f}x" if lp and lp["pps"] else "-"
            rss_x = f"{m['rss'] / n['rss']:.3f}x" if n and n["rss"] and tool != "loop" else "-"
            per_flow = size(m["rss"] * 1024 / m["flows"]) if m["flows"] else "-"
            rows.append([cap, label, str(m["packets"]), str(m["flows"] or "-"),
                         f"{m['wall']:.2f} ({m['min']:.2f}-{m['max']:.2f})", si(m["pps"]),
                         x_ndpi, x_loop, mib(m["rss"]), rss_x, per_flow])
        if by["collector"]:
            runs = by["collector"]
            ev = [int(x["events"]) for x in runs]
            rc = [int(x["received"]) for x in runs]
            lost = [int(x["events"]) - int(x["received"]) for x in runs]
            bus.append(f"{cap}: subscriber (dpi-dualctl tail tap.flow) received "
                       f"{', '.join(map(str, rc))} of {', '.join(map(str, ev))} tap.flow events "
                       f"(per run); gaps {', '.join(x['gaps'] for x in runs)}; "
                       f"missing {', '.join(map(str, lost))}; collector 'not delivered' "
                       f"{', '.join(x['not_delivered'] for x in runs)}; collector self-timed "
                       f"(after the subscriber wait, before the linger) {si(c['self_pps'])} packets/s")

    head = ["capture", "tool", "packets", "flows", "wall s med (min-max)", "packets/s",
            "x ndpiReader", "x bare loop", "peak RSS", "RSS x ndpiR", "RSS/flow"]
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    fmt = lambda row: "  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w)
                                for i, (v, w) in enumerate(zip(row, widths))).rstrip()
    print()
    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    last = None
    for row in rows:
        if last and row[0] != last:
            print()
        print(fmt(row))
        last = row[0]
    print()
    print("flows: each tool's own count (collector summary 'N flows'; ndpiReader 'Unique flows');"
          " RSS/flow = peak RSS / flows")
    for line in bus:
        print("bus " + line)
    print("coll. --no-bus: the same collector with no bus and no output (classification alone),"
          " for reference: the targets below are measured with the bus and a subscriber")
    for line in notes:
        print("note: " + line)
    print()
    for cap, what, cmp, bound in TARGETS:
        if cap not in ratios:
            continue
        label = {"pps": "collector/ndpiReader packets/s", "rss": "collector/ndpiReader peak RSS"}[what]
        v = ratios[cap].get(what)
        if v is None:
            print(f"target {cap}: {label} {cmp} {bound}x: not measured")
            continue
        ok = v >= bound if cmp == ">=" else v <= bound
        print(f"target {cap}: {label} {cmp} {bound}x: {v:.2f}x -> {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
