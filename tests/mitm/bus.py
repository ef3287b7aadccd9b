"""Helpers for tests/it_mitm_chain.sh: read what `dpi-dualctl tail` wrote (one
JSON object per line) and the addon's stats file.

    python3 bus.py find FILE TIMEOUT FIELD=VALUE...
        waits (at most TIMEOUT s) for a message whose fields equal the values
        (dotted names reach into objects; VALUE compared as text) and prints it;
        exit 1 on timeout.
    python3 bus.py verdict FILE TIMEOUT FIELD=VALUE...
        finds the mitm.request matching the fields, then the mitm.verdict with its
        flow_id (the bridge's decision, whether or not it met the addon's deadline;
        needs mitm.publish_all_verdicts for allows) and prints
        "ACTION REASON RULE_ID" ("-" for an empty field); exit 1 on timeout.
    python3 bus.py stats FILE TIMEOUT COUNTER>=N...
        waits until the stats file shows every counter at least N; prints it."""
import json
import sys
import time


def _get(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def find(path, timeout, conds):
    """The first message of PATH matching CONDS ({field: text}), waiting up to TIMEOUT."""
    end = time.monotonic() + timeout
    while True:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue            # a line still being written
                    if all(_text(_get(msg, k)) == v for k, v in conds.items()):
                        return msg
        except FileNotFoundError:
            pass
        if time.monotonic() >= end:
            return None
        time.sleep(0.05)


def stats(path, timeout, mins):
    end = time.monotonic() + timeout
    data = None
    while True:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if all(data.get(k, -1) >= n for k, n in mins.items()):
                return data, True
        except (FileNotFoundError, ValueError):
            pass
        if time.monotonic() >= end:
            return data, False
        time.sleep(0.1)


def main(argv):
    cmd, path, timeout = argv[1], argv[2], float(argv[3])
    if cmd == "find":
        conds = dict(a.split("=", 1) for a in argv[4:])
        msg = find(path, timeout, conds)
        if msg is None:
            print(f"bus.py: no message with {conds} in {path} after {timeout} s", file=sys.stderr)
            return 1
        print(json.dumps(msg))
        return 0
    if cmd == "verdict":
        end = time.monotonic() + timeout
        conds = dict(a.split("=", 1) for a in argv[4:])
        conds["topic"] = "mitm.request"
        req = find(path, timeout, conds)
        verdict = req and find(path, max(0.0, end - time.monotonic()),
                               {"topic": "mitm.verdict", "flow_id": req["flow_id"]})
        if not verdict:
            print(f"bus.py: no mitm.verdict for a request with {conds} after {timeout} s",
                  file=sys.stderr)
            return 1
        print(*(verdict.get(k) or "-" for k in ("action", "reason", "rule_id")))
        return 0
    if cmd == "stats":
        mins = {k: int(v) for k, v in (a.split(">=", 1) for a in argv[4:])}
        data, ok = stats(path, timeout, mins)
        print(json.dumps(data))
        if not ok:
            print(f"bus.py: stats {data} never reached {mins}", file=sys.stderr)
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
