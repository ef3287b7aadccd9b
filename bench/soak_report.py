#!/usr/bin/python3
"""bench/soak's sampler and report.

  soak_report.py sample --minutes M --csv CSV --heartbeats JSONL [--api URL --token-file F]
                        [--tools "NAME=PID ..."] NAME=PID...
      Every 10 s for M minutes (the first at once): per process NAME=PID its VmRSS (KiB),
      open fds and whether it is alive (not gone, not a zombie); from the last heartbeat of
      each worker in JSONL (`dpi-dualctl tail sys.heartbeat`, read as it grows): gaps, send
      errors, decode errors, heartbeat age, the counters of COUNTERS, and each worker's
      heap (heap_in_use, heap_free: common/heapstat.h; KiB in the CSV); with --api, GET
      /api/dpi/status and /metrics (ok = both answered 200). The --tools (load generators,
      helpers) are checked alive only. One CSV row per sample, written as it is taken.
      Returns early (exit 1) when a process of NAME=PID dies, after one last row.

  soak_report.py report --csv CSV --png PNG [--rss-pct P] [--rss-floor-kib K] [--fd-max F]
      The graph (RSS and fds per process, errors, backlogs, rates over time) and the
      verdict. Warm-up: the first 20 % of the run, at least 2 min (all but the last 3
      samples when the run is shorter). After it, per process, least-squares slopes of RSS
      (KiB/min) and fds (fds/min); "growth" is slope x the span after warm-up. Beside
      them, for the workers, the slope of the heap in use (what the allocator handed out
      and was not given back): RSS growing with the heap in use flat is the allocator
      holding freed memory (high-water), not a leak; the verdict is on RSS all the same.
      Flat: RSS growth <= max(P % of the median RSS after warm-up, K KiB)  (default 3 %,
            1024 KiB) and |fd growth| <= F (default 4).
      Why: at the default, the pipeline's largest state (the buffer's ring, the
      correlator's join window, ZeroMQ queues) fills during warm-up and then stays put;
      what is left is allocator noise (arenas, tcmalloc caches, Python's heap in mitmdump)
      of well under a percent. A leak that adds 3 % per half hour doubles a process in
      ~17 h, well before a router's next reboot: that is the smallest growth that matters
      and the largest one the noise hides; 1 MiB is the floor for a small process (a
      few MiB), where a single cache refill is that much. An fd leak is a whole fd per
      event, so over a span of minutes it shows as tens of fds; 4 allows for the
      connections open at one sample and not at another (HAProxy and mitmdump hold one
      or two per client connection, and the attackers open and close theirs).
      PASS: every process flat, no gap, no send error, no decode error in any heartbeat,
      every process and tool alive to the end, the API answering. FAIL: each reason.
      Exit 0 on PASS, 1 on FAIL.
"""
import argparse
import csv
import json
import os
import sys
import time
import urllib.request

INTERVAL = 10
WORKERS = ["collector", "bridge-mitm", "buffer", "correlator", "api"]
COUNTERS = {
    "collector": ["packets", "flows_active", "events_end", "event_errors", "read_errors"],
    "bridge-mitm": ["requests", "blocked_rule", "blocked_ban", "ban_entries", "bad_records",
                    "reply_errors", "publish_errors"],
    "buffer": ["requests", "queue_depth", "not_analysed", "ring_entries", "alerts_waf",
               "anomaly_clients"],
    "correlator": ["join_flows", "reputation_entries", "bans", "haproxy_added", "haproxy_pending",
                   "haproxy_errors", "threats"],
}


def proc_sample(pid):
    """(rss_kib, fds, alive) of PID."""
    try:
        rss, state = 0, "?"
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("State:"):
                    state = line.split()[1]
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, fds, int(state not in ("Z", "X"))
    except (FileNotFoundError, ProcessLookupError):
        return "", "", 0


class Heartbeats:
    """The last heartbeat of each worker, from a JSONL file that grows."""

    def __init__(self, path):
        self.path, self.pos, self.last = path, 0, {}

    def read(self):
        try:
            with open(self.path) as f:
                f.seek(self.pos)
                while True:
                    line = f.readline()
                    if not line.endswith("\n"):         # the line tail is writing
                        break
                    self.pos = f.tell()
                    try:
                        hb = json.loads(line)
                    except ValueError:
                        continue
                    name = hb.get("name", "").removeprefix("dpi-")
                    if name:
                        self.last[name] = (time.time(), hb)
        except FileNotFoundError:
            pass
        return self.last


HEAP = ["heap_in_use", "heap_free"]


def columns(procs, tools):
    cols = ["t_s"]
    for p in procs:
        cols += [f"{p}.rss_kib", f"{p}.fds", f"{p}.alive"]
    cols += [f"{t}.alive" for t in tools]
    for w in WORKERS:
        cols += [f"{w}.hb_age_s", f"{w}.gaps", f"{w}.send_errors", f"{w}.decode_errors"]
        cols += [f"{w}.{c}" for c in COUNTERS.get(w, [])]
        cols += [f"{w}.{c}_kib" for c in HEAP]
    cols += ["api.ok"]
    return cols


def api_ok(url, token):
    try:
        for route in ("/api/dpi/status", "/metrics"):
            req = urllib.request.Request(url + route, headers={"Authorization": "Bearer " + token})
            with urllib.request.urlopen(req, timeout=5) as r:
                r.read()
                if r.status != 200:
                    return 0
        return 1
    except OSError:
        return 0


def sample(a):
    procs = dict(x.split("=", 1) for x in a.procs)
    tools = dict(x.split("=", 1) for x in a.tools.split()) if a.tools else {}
    token = open(a.token_file).read().strip() if a.token_file else ""
    hbs = Heartbeats(a.heartbeats)
    cols = columns(procs, tools)
    t0 = time.time()
    end = t0 + a.minutes * 60
    died = False
    with open(a.csv, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        n = 0
        while True:
            now = time.time()
            row = {"t_s": round(now - t0, 1)}
            for p, pid in procs.items():
                row[f"{p}.rss_kib"], row[f"{p}.fds"], row[f"{p}.alive"] = proc_sample(pid)
                died |= not row[f"{p}.alive"]
            for t, pid in tools.items():
                row[f"{t}.alive"] = proc_sample(pid)[2]
            for name, (seen, hb) in hbs.read().items():
                if name not in WORKERS:
                    continue
                row[f"{name}.hb_age_s"] = round(max(0.0, now - seen), 1)
                row[f"{name}.gaps"] = sum(int(r.get("gaps", 0)) for r in hb.get("received", []))
                row[f"{name}.send_errors"] = sum(int(p.get("send_errors", 0))
                                                 for p in hb.get("published", []))
                row[f"{name}.decode_errors"] = int(hb.get("decode_errors", 0))
                counters = {c["name"]: c["value"] for c in hb.get("counters", [])}
                for c in COUNTERS.get(name, []):
                    if c in counters:
                        row[f"{name}.{c}"] = int(counters[c])
                for c in HEAP:
                    if c in counters:
                        row[f"{name}.{c}_kib"] = int(counters[c]) // 1024
            if a.api:
                row["api.ok"] = api_ok(a.api, token)
            w.writerow(row)
            f.flush()
            n += 1
            if died:
                gone = [p for p in procs if not row[f"{p}.alive"]]
                print(f"soak: {', '.join(gone)} died after {row['t_s']:.0f} s: sampling stopped",
                      file=sys.stderr)
                return 1
            if n % 6 == 0:
                print(f"  {row['t_s']:6.0f} s  " + "  ".join(
                    f"{p} {int(row[p + '.rss_kib']) // 1024}M/{row[p + '.fds']}" for p in procs),
                    flush=True)
            nxt = t0 + n * INTERVAL
            if nxt > end + 0.5:
                return 0
            time.sleep(max(0.0, nxt - time.time()))


def num(v):
    return float(v) if v not in ("", None) else None


def slope(xs, ys):
    """Least squares: slope of ys over xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def report(a):
    rows = list(csv.DictReader(open(a.csv)))
    if len(rows) < 4:
        print(f"soak: FAIL: only {len(rows)} samples in {a.csv}")
        return 1
    cols = rows[0].keys()
    procs = [c[:-8] for c in cols if c.endswith(".rss_kib")]
    tools = [c[:-6] for c in cols if c.endswith(".alive") and c[:-6] not in procs]
    t = [float(r["t_s"]) for r in rows]
    span_all = t[-1]
    warm = max(0.2 * span_all, 120.0)
    if sum(1 for x in t if x >= warm) < 3:
        warm = t[-3]
    after = [i for i, x in enumerate(t) if x >= warm]
    span = (t[after[-1]] - t[after[0]]) / 60.0
    reasons = []

    print(f"\n# soak summary: {len(rows)} samples over {span_all / 60:.1f} min; warm-up "
          f"{warm / 60:.1f} min; slopes over the {len(after)} samples after it ({span:.1f} min)")
    print(f"# flat: RSS growth (slope x {span:.1f} min) <= max({a.rss_pct:g} % of the median RSS, "
          f"{a.rss_floor_kib} KiB), |fd growth| <= {a.fd_max:g}")
    print("%-12s %9s %9s %11s %10s %9s %6s %6s %9s %9s %11s  %s" % (
        "process", "RSS start", "RSS end", "KiB/min", "growth", "allowed", "fds", "fds/min",
        "fd growth", "heap end", "heap KiB/m", "verdict"))
    for p in procs:
        pts = [(t[i] / 60.0, num(rows[i][p + ".rss_kib"]), num(rows[i][p + ".fds"])) for i in after]
        pts = [x for x in pts if x[1] is not None]
        alive = all(r[p + ".alive"] == "1" for r in rows)
        if len(pts) < 3:
            print("%-12s  (no samples after warm-up)" % p)
            reasons.append(f"{p}: no samples after warm-up")
            continue
        xs = [x[0] for x in pts]
        rs = sorted(x[1] for x in pts)
        med = rs[len(rs) // 2]
        s_rss = slope(xs, [x[1] for x in pts])
        s_fd = slope(xs, [x[2] for x in pts])
        allowed = max(a.rss_pct / 100.0 * med, a.rss_floor_kib)
        grow, fgrow = s_rss * span, s_fd * span
        verdict = []
        if abs(grow) > allowed and grow > 0:
            verdict.append("RSS grows")
        if abs(fgrow) > a.fd_max:
            verdict.append("fds grow" if fgrow > 0 else "fds shrink")
        if not alive:
            verdict.append("DIED")
        first = next(num(r[p + ".rss_kib"]) for r in rows if num(r[p + ".rss_kib"]) is not None)
        heap = [(t[i] / 60.0, num(rows[i].get(p + ".heap_in_use_kib"))) for i in after]
        heap = [x for x in heap if x[1] is not None]
        h_end, h_slope = ("%8.1fM" % (heap[-1][1] / 1024), "%11.1f" % slope(
            [x[0] for x in heap], [x[1] for x in heap])) if len(heap) >= 3 else ("-", "-")
        print("%-12s %8.1fM %8.1fM %11.1f %9.0fK %8.0fK %6.0f %6.2f %9.1f %9s %11s  %s" % (
            p, first / 1024, pts[-1][1] / 1024, s_rss, grow, allowed, pts[-1][2], s_fd, fgrow,
            h_end, h_slope, ", ".join(verdict) or "flat"))
        reasons += [f"{p}: {v}" for v in verdict]
    for tl in tools:
        if not all(r[tl + ".alive"] == "1" for r in rows):
            reasons.append(f"{tl} (load/helper) died")

    last = rows[-1]
    print("%-12s %8s %8s %8s %8s" % ("worker", "gaps", "send_err", "decode", "hb age s"))
    for w in WORKERS:
        vals = [last.get(f"{w}.{k}", "") for k in ("gaps", "send_errors", "decode_errors", "hb_age_s")]
        print("%-12s %8s %8s %8s %8s" % (w, *[v or "-" for v in vals]))
        for k, v in zip(("gaps", "send errors", "decode errors"), vals[:3]):
            if v and int(v):
                reasons.append(f"{w}: {v} {k}")
        if not vals[3]:
            reasons.append(f"{w}: no heartbeat")
        elif float(vals[3]) > 30:
            reasons.append(f"{w}: last heartbeat {vals[3]} s old")
    dt = (t[-1] - t[0]) or 1.0

    def total(c):
        v0 = next((num(r.get(c)) for r in rows if num(r.get(c)) is not None), None)
        v1 = num(last.get(c))
        return None if v0 is None or v1 is None else (v1, (v1 - v0) / dt)

    print("counters at the end (and rate /s over the run):")
    for w, cs in COUNTERS.items():
        parts = []
        for c in cs:
            tv = total(f"{w}.{c}")
            if tv is not None:
                parts.append(f"{c} {tv[0]:.0f} ({tv[1]:.1f}/s)")
        print(f"  {w}: " + ("; ".join(parts) or "-"))
    for c in ("buffer.queue_depth", "correlator.haproxy_pending"):
        vals = [num(r.get(c)) for r in rows if num(r.get(c)) is not None]
        if vals:
            print(f"  max {c}: {max(vals):.0f}")
    api = [r.get("api.ok", "") for r in rows if r.get("api.ok", "") != ""]
    if api:
        bad = api.count("0")
        print(f"  dpi-api status + /metrics answered at {len(api) - bad} of {len(api)} samples")
        if bad:
            reasons.append(f"dpi-api did not answer at {bad} samples")

    plot(rows, t, procs, warm, a.png)
    print(f"graph: {a.png}")
    if reasons:
        print("soak: FAIL: " + "; ".join(reasons))
        return 1
    print("soak: PASS: RSS and fds flat after warm-up, no gap, no send or decode error, nothing died")
    return 0


def plot(rows, t, procs, warm, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    m = [x / 60.0 for x in t]
    fig, ax = plt.subplots(4, 1, figsize=(11, 14), sharex=True)

    def series(c):
        return [num(r.get(c)) for r in rows]

    for p in procs:
        line, = ax[0].plot(m, [v / 1024 if v is not None else None for v in series(p + ".rss_kib")],
                           label=p)
        heap = series(p + ".heap_in_use_kib")
        if any(v is not None for v in heap):
            ax[0].plot(m, [v / 1024 if v is not None else None for v in heap],
                       color=line.get_color(), linestyle="--", label=f"{p} heap in use")
        ax[1].plot(m, series(p + ".fds"), label=p)
    ax[0].set_ylabel("RSS, heap in use (dashed) (MiB)")
    ax[0].set_yscale("log")
    ax[1].set_ylabel("open fds")
    for w in WORKERS:
        for k in ("gaps", "send_errors", "decode_errors"):
            ax[2].plot(m, series(f"{w}.{k}"), label=f"{w} {k}")
    for c in ("buffer.queue_depth", "correlator.haproxy_pending", "bridge-mitm.ban_entries",
              "correlator.reputation_entries"):
        ax[2].plot(m, series(c), label=c, linestyle="--")
    ax[2].set_ylabel("count (errors, backlogs, state)")
    for c, label in (("collector.packets", "collector packets/s"),
                     ("bridge-mitm.requests", "bridge requests/s"),
                     ("buffer.requests", "buffer requests/s"),
                     ("bridge-mitm.blocked_rule", "blocked (rule)/s"),
                     ("bridge-mitm.blocked_ban", "blocked (ban)/s")):
        v = series(c)
        rate = [None] + [(b - a) / (t[i + 1] - t[i]) if a is not None and b is not None and t[i + 1] > t[i]
                         else None for i, (a, b) in enumerate(zip(v, v[1:]))]
        ax[3].plot(m, rate, label=label)
    ax[3].set_ylabel("rate (/s)")
    ax[3].set_yscale("symlog")
    ax[3].set_xlabel("minutes")
    for x in ax:
        x.axvline(warm / 60.0, color="grey", linestyle=":")
        x.legend(fontsize=7, loc="upper left", ncol=2)
        x.grid(alpha=0.3)
    ax[0].set_title("bench/soak: the one-host pipeline under load (dotted: end of warm-up)")
    fig.tight_layout()
    fig.savefig(png, dpi=80)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--minutes", type=float, required=True)
    s.add_argument("--csv", required=True)
    s.add_argument("--heartbeats", required=True)
    s.add_argument("--api")
    s.add_argument("--token-file")
    s.add_argument("--tools", default="")
    s.add_argument("procs", nargs="+")
    r = sub.add_parser("report")
    r.add_argument("--csv", required=True)
    r.add_argument("--png", required=True)
    r.add_argument("--rss-pct", type=float, default=3.0)
    r.add_argument("--rss-floor-kib", type=int, default=1024)
    r.add_argument("--fd-max", type=float, default=4.0)
    a = ap.parse_args()
    return sample(a) if a.cmd == "sample" else report(a)


if __name__ == "__main__":
    sys.exit(main())
