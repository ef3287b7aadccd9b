#!/usr/bin/python3
"""fault_table.py TAIL.jsonl EVENTS.jsonl LOAD.jsonl — the accounting of the fault tests
(tests/lib/faults.sh): messages lost as the workers counted them against as they were
lost, per window between two quiet points, and the fault table.

The reference is the publishers' own sequence numbers as `dpi-dualctl tail` saw them:
per (source, instance, topic) the numbers run 1, 2, ... and a failed send uses its
number too (DESIGN §2), so the highest number a publisher had sent by time t, minus
the highest by time s, is what it sent in (s, t] — whether or not the tail itself
received every one. A subscriber's counters come from its heartbeats (per source:
received, gaps, restarts, out_of_order). For an edge P -> S and a window (a, b]:
    sent    = what P published in the window on the topics S subscribes to
    counted = S's gaps for P in the window
    lost    = sent - what S received of P in the window
and the counters are exact when lost == counted. One excuse, for the publisher killed
(-9) in the window: ZeroMQ writes each message to the subscribers' sockets in turn, so
the kill can fall after S's write and before the tail's: S received (and counts) the
killed instance's last message(s) that the reference never saw. There, up to
KILL_TAIL_MAX more gaps than the lost seen are taken as that, and said in the table. A quiet point's heartbeat of S is
one of the first four after the load stopped (the messages in flight at it told apart
by its rows' last_age_ms: cutoff()). A subscriber that restarted within a window has no counters
for the time it was down (what was sent then is not a gap, by design: DESIGN §2); that
edge is printed with "~" and checked in the next window. The addon's records: each
request of the load makes two (the request, then its response or error), and
`undelivered` (the addon's stats file) counts those it could not hand to the bridge;
what reached the bus is the bridge's mitm.request + mitm.response.
Exit 1 when a counter is not exact or a state check failed."""
import bisect
import collections
import json
import sys

SLACK_NS = 15_000_000
KILL_TAIL_MAX = 3       # a killed publisher's last messages the tail may have missed
AMBIGUOUS_NS = 60_000_000
AGE_SAFE_NS = 250_000_000


def lines(path):
    with open(path) as f:
        for l in f:
            try:
                yield json.loads(l)
            except ValueError:
                pass


tail_path, events_path, load_path = sys.argv[1:4]
seqs = collections.defaultdict(list)    # (name, instance, topic) -> [(ts, seq)]
hbs = collections.defaultdict(list)     # name -> heartbeats, in order
msg_ts = collections.defaultdict(list)  # (name, topic) -> [ts] (exclusion test)
first_of = {}                           # (name, instance) -> ts of its first message seen
for m in lines(tail_path):
    h = m["header"]
    name = h["source"].split("@")[0]
    key = (name, h["instance"], m["topic"])
    seqs[key].append((h["ts_ns"], h["seq"]))
    msg_ts[(name, m["topic"])].append(h["ts_ns"])
    first_of.setdefault((name, h["instance"]), h["ts_ns"])
    if m["topic"] == "sys.heartbeat":
        hbs[name].append(m)
for v in seqs.values():
    v.sort()
for v in msg_ts.values():
    v.sort()
events = list(lines(events_path))
quiets = [e for e in events if e["kind"] == "quiet"]
cases = [e for e in events if e["kind"] == "case"]
states = [e for e in events if e["kind"] == "state"]
load = sorted(lines(load_path), key=lambda r: r["t"])
names = sorted(hbs)

# holes in the reference tail's own reception (informative: the sequence numbers count
# what was sent whatever the tail received)
tail_holes = 0
for v in seqs.values():
    s = sorted({x[1] for x in v})
    tail_holes += (s[-1] - s[0] + 1) - len(s)


def matches(topic, subs):
    return any(topic.startswith(p) for p in subs)


def sent_by(name, subs, t):
    """What NAME had published by time T on topics matching SUBS (every instance)."""
    total = 0
    for (n, inst, topic), v in seqs.items():
        if n != name or not matches(topic, subs):
            continue
        i = bisect.bisect_right(v, (t, float("inf")))
        if i:
            total += max(s for _, s in v[:i])
        elif t >= first_of[(n, inst)]:
            # the tail joined after this topic's first messages: those the tail never
            # saw (1 .. its first seq - 1) went out before its first message from this
            # instance on any topic (after that it was subscribed and would have them)
            total += v[0][1] - 1
    return total


def rows(hb):
    return {r["source"].split("@")[0]: r for r in hb.get("received", [])}


def cutoff(p, subs, hb):
    """Up to which send time S's heartbeat HB counts P's messages. Its counters were read
    just before its send time t; the row's last_age_ms says when its last message from P
    arrived: A = t - age. P's messages reach S in order, so S had received those up to the
    last one P sent by A (+ SLACK_NS: the coarse clock); the ones after were in flight.
    Wrong only when a message P sent just after the one that arrived at A was still in
    flight at t: when the last arrival is recent (age under AGE_SAFE_NS) and two messages
    were sent around A, it cannot be told (None: the caller takes another heartbeat); an
    older arrival would need a message in flight for longer than the age at a quiet point. No row: S had nothing of P (all P sent by t is counted as lost)."""
    t = hb["header"]["ts_ns"]
    r = rows(hb).get(p)
    if not r or not int(r.get("received", 0)):
        return t - 1
    age = int(r.get("last_age_ms", 0)) * 1_000_000
    arrived = t - age
    near = [x for (n, topic), v in msg_ts.items() if n == p and matches(topic, subs)
            for x in v[bisect.bisect_left(v, arrived - AMBIGUOUS_NS):
                       bisect.bisect_right(v, arrived + SLACK_NS)] if x != t]
    if len(near) > 1 and age < AGE_SAFE_NS:
        return None
    return min(arrived + SLACK_NS, t - 1)


def snap(s, q):
    """S's heartbeat at quiet point Q: the first of the four after Q whose counters can be
    told apart from the messages in flight; (hb, {P: cutoff}) or (None, None)."""
    cands = [hb for hb in hbs[s] if hb["header"]["ts_ns"] > q][:4]
    for hb in cands:
        subs = hb.get("subscriptions", [])
        cuts = {p: cutoff(p, subs, hb) for p in names}
        if None not in cuts.values():
            return hb, cuts
    return None, None


def val(r, k):
    return int(r.get(k, 0)) if r else 0


def last_of_instance(s, inst):
    v = [hb for hb in hbs[s] if hb["header"]["instance"] == inst]
    return v[-1] if v else None


problems = []
windows = []
for k in range(1, len(quiets)):
    a, b = quiets[k - 1]["t"], quiets[k]["t"]
    w = {"label": quiets[k]["label"], "a": a, "b": b, "edges": [],
         "case": next((c for c in cases if a < c["t_fault"] <= b), None)}
    for s in names:
        (ha, ca), (hb, cb) = snap(s, a), snap(s, b)
        if not ha or not hb:
            problems.append(f"window '{w['label']}': no quiet heartbeat of {s}")
            continue
        subs = hb.get("subscriptions", [])
        if not subs:
            continue
        ra, rb = rows(ha), rows(hb)
        same = ha["header"]["instance"] == hb["header"]["instance"]
        old = None if same else rows(last_of_instance(s, ha["header"]["instance"]) or {})
        for p in names:
            sent = sent_by(p, subs, cb[p]) - sent_by(p, subs, ca[p])
            if not sent and p not in ra and p not in rb:
                continue
            e = {"from": p, "to": s, "sent": sent, "checked": same}
            if same:
                for c in ("received", "gaps", "restarts", "out_of_order"):
                    e[c] = val(rb.get(p), c) - val(ra.get(p), c)
                e["lost"] = sent - e["received"]
                # kill -9 of P: ZeroMQ writes a message to each subscriber's socket in
                # turn, so the kill can fall between S's write and the tail's: S got
                # P's last message(s), the reference never saw them (sent is short by
                # them). Then S's gaps exceed the lost seen by at most a few; the other
                # way round (a loss not counted) is never excused.
                killed = w["case"] and w["case"]["case"] == "kill -9" and w["case"]["worker"] == p
                e["tail_missed"] = 0
                if killed and 0 < e["gaps"] - e["lost"] <= KILL_TAIL_MAX:
                    e["tail_missed"] = e["gaps"] - e["lost"]
                    e["lost"] = e["gaps"]
                if e["lost"] != e["gaps"] or e["out_of_order"]:
                    problems.append(
                        f"window '{w['label']}': {p} -> {s}: sent {sent}, received "
                        f"{e['received']}, lost {e['lost']}, counted (gaps) {e['gaps']}, "
                        f"out of order {e['out_of_order']}")
            else:
                e["received"] = (val(old.get(p), "received") - val(ra.get(p), "received")
                                 + val(rb.get(p), "received"))
                e["gaps"] = (val(old.get(p), "gaps") - val(ra.get(p), "gaps")
                             + val(rb.get(p), "gaps"))
                e["lost"] = sent - e["received"]   # ~: the old instance's last second unknown
                e["restarts"] = val(rb.get(p), "restarts")
            w["edges"].append(e)
    # the addon's records in the window
    qa, qb = quiets[k - 1].get("addon") or {}, quiets[k]["addon"] or {}
    gen = [r for r in load if a / 1e9 < r["t"] <= b / 1e9]
    onbus = sum(sent_by("bridge-mitm", [t], b) - sent_by("bridge-mitm", [t], a)
                for t in ("mitm.request", "mitm.response"))
    w["addon"] = {"requests": len(gen), "records": 2 * len(gen), "onbus": onbus,
                  "undelivered": qb.get("undelivered", 0) - qa.get("undelivered", 0),
                  "fail_open": qb.get("fail_open", 0) - qa.get("fail_open", 0),
                  "not_200": sum(1 for r in gen if r["status"] != 200),
                  "failed": sum(1 for r in gen if r["status"] == 0),
                  "banned": sum(1 for r in gen if r["ip"].endswith(".66")),
                  "banned_403": sum(1 for r in gen if r["ip"].endswith(".66") and r["status"] == 403)}
    ad = w["addon"]
    ad["lost"] = ad["records"] - ad["onbus"]
    c = w["case"]
    # kill -9 of the bridge: the records it had read from its socket, or had in its socket
    # queue, and not published yet die with it. The addon handed them over (sent): no
    # counter anywhere sees them. Shown, not counted as inexact (DESIGN §2, "Faults").
    killed_bridge = c and c["case"] == "kill -9" and c["worker"] == "bridge-mitm"
    ad["in_kill"] = ad["lost"] - ad["undelivered"] if killed_bridge else 0
    if qa and qb and ad["lost"] - ad["in_kill"] != ad["undelivered"] or ad["in_kill"] < 0:
        problems.append(f"window '{w['label']}': addon -> bridge-mitm: {ad['records']} records made "
                        f"({ad['requests']} requests), {ad['onbus']} on the bus, lost {ad['lost']}, "
                        f"counted (undelivered) {ad['undelivered']}")
    if ad["failed"]:
        problems.append(f"window '{w['label']}': {ad['failed']} requests of the load failed "
                        f"(no answer through mitmdump)")
    windows.append(w)


def ms(t):
    return f"{t / 1e6:.0f}"


def recovery(c):
    """Text: how long until the worker's first message after t_recover, and its subscribers'."""
    wname, t0 = c["worker"], c["t_recover"]
    firsts = [ts for (n, inst), ts in first_of.items() if n == wname and ts > t0]
    after = [ts for (n, _, topic), v in seqs.items() if n == wname for ts, _ in v if ts > t0]
    if c["case"].startswith("kill"):
        first = min(firsts) if firsts else None
    else:
        first = min(after) if after else None
    out = f"first msg {ms(first - t0)} ms" if first else "no msg after"
    if c["case"].startswith("kill"):
        # each subscriber of the worker counts its restart at its next heartbeat
        late = 0
        for s in names:
            if s == wname:
                continue
            before = [hb for hb in hbs[s] if hb["header"]["ts_ns"] <= c["t_fault"]]
            base = val(rows(before[-1]).get(wname), "restarts") if before else 0
            for hb in hbs[s]:
                t = hb["header"]["ts_ns"]
                r = rows(hb).get(wname)
                if t > t0 and r and val(r, "restarts") > base:
                    late = max(late, t - t0)
                    break
        if late:
            out += f"; restart counted by all by {ms(late)} ms"
    return out


print("=== fault table =========================================================")
print("  (sent/lost from the publishers' sequence numbers; counted = the subscribers' gaps,")
print("   the addon's undelivered; recovery from the start command or SIGCONT; '~': the")
print("   subscriber was restarted in that window, its down time is not a gap by design)")
hdr = f"  {'case':<14} {'worker':<12} {'recovery':<52} {'counted':>7} {'lost':>6}  kept state"
print(hdr)
for w in windows:
    c = w["case"]
    checked = [e for e in w["edges"] if e["checked"]]
    counted = sum(e["gaps"] for e in checked) + w["addon"]["undelivered"]
    lost = sum(e["lost"] for e in checked) + w["addon"]["lost"]
    if w["addon"]["in_kill"]:
        lost = f"{lost}*"
    st = [x for x in states if c and x["case"] == c["case"] and x["worker"] == c["worker"]]
    kept = "; ".join(("ok " if x["ok"] else "FAILED ") + x["what"] for x in st) or "-"
    name = c["case"] if c else w["label"]
    print(f"  {name:<14} {c['worker'] if c else '-':<12} {recovery(c) if c else '-':<52} "
          f"{counted:>7} {lost:>6}  {kept}")
    for e in w["edges"]:
        if e["sent"] or e["received"]:
            flag = "" if e["checked"] else " ~ (subscriber restarted: down time not a gap)"
            if e.get("tail_missed"):
                flag += (f" (the killed publisher's last {e['tail_missed']} reached {e['to']},"
                         f" not the reference tail: sent is short by that; taken as lost)")
            if e["checked"] and (e["lost"] or e["gaps"] or e["restarts"]) or not e["checked"]:
                print(f"      {e['from']} -> {e['to']}: sent {e['sent']}, received {e['received']}, "
                      f"lost {e['lost']}, gaps {e['gaps']}, restarts {e.get('restarts', 0)}{flag}")
    ad = w["addon"]
    if ad["undelivered"] or ad["lost"] or ad["fail_open"] or ad["not_200"]:
        print(f"      addon -> bridge-mitm: {ad['requests']} requests, {ad['records']} records, "
              f"{ad['onbus']} on the bus, lost {ad['lost']}, undelivered {ad['undelivered']}"
              + (f" + {ad['in_kill']} lost inside the killed bridge (uncounted)" if ad["in_kill"] else "")
              + ", "
              f"fail_open {ad['fail_open']}; answers not 200: {ad['not_200']} (the banned "
              f"client: {ad['banned_403']} of {ad['banned']} refused 403)")
n_edges = sum(1 for w in windows for e in w["edges"] if e["checked"])
print(f"  {n_edges} edge-windows checked; the reference tail's own holes: {tail_holes}")
if any(w["addon"]["in_kill"] for w in windows):
    print("  *: includes records lost inside the killed bridge (read or queued, not yet published):")
    print("     the addon counted them sent; no counter sees them (a known limit, not an exactness check)")
for x in states:
    if not x["ok"]:
        problems.append(f"state: {x['case']} {x['worker']}: {x['what']}")
if problems:
    print("PROBLEMS:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print("  every counter exact; every kept state kept")
