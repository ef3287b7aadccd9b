#!/usr/bin/python3
"""check_skips.py — the skip rule of the test suite, on one ctest run.

    check_skips.py [--label external] [--build NAME] JUNIT.xml TESTS.json

JUNIT.xml is what `ctest --output-junit FILE` wrote for the run; TESTS.json
is `ctest --show-only=json-v1` of the same build (same filters): the tests
and their LABELS, which the JUnit file does not carry.

A test that did not run — skipped (SKIP_RETURN_CODE, SKIP_REGULAR_EXPRESSION),
disabled, or not run (a missing executable or required file) — is allowed
only when it has the label (default `external`: it needs material from
outside the tree, e.g. the capture corpus of $DPI_CORPUS). Prints how many
tests were skipped and which (with the last line of each one's output: why),
then one FAIL line per skip that breaks the rule.

Exit status: 0 no skip, or only labelled ones; 1 a test without the label did
not run, a test of TESTS.json is missing from the JUnit file (or the other way
round), or an input cannot be read; 2 a usage error.

Python 3 standard library only.
"""
import argparse
import json
import sys
import xml.etree.ElementTree as ET

RAN = ("run", "fail")               # JUnit status of a test that ran (passed or failed)
NOT_RUN = ("notrun", "disabled")    # skipped, disabled, or could not be started


class InputError(Exception):
    pass


def read_labels(path):
    """{test name: [labels]} from `ctest --show-only=json-v1`."""
    try:
        with open(path) as f:
            tests = json.load(f)["tests"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError("%s: not a ctest --show-only=json-v1 list: %s" % (path, e))
    labels = {}
    for t in tests:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        labels[t["name"]] = list(props.get("LABELS", []))
    return labels


def read_junit(path):
    """[(name, status, reason, last output line)] from ctest's JUnit file."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise InputError("%s: not a JUnit file: %s" % (path, e))
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    cases = []
    for case in (c for s in suites for c in s.findall("testcase")):
        status = case.get("status", "")
        if status not in RAN + NOT_RUN:
            raise InputError("%s: test %s has an unknown status %r" % (
                path, case.get("name"), status))
        skipped = case.find("skipped")
        if skipped is not None and status in RAN:
            raise InputError("%s: test %s ran and was skipped" % (path, case.get("name")))
        reason = skipped.get("message", "") if skipped is not None else status
        out = (case.findtext("system-out") or "").strip().splitlines()
        cases.append((case.get("name"), status, reason, out[-1] if out else ""))
    return cases


def check(cases, labels, label):
    """(report lines, problem lines) of one run."""
    problems = []
    names = [c[0] for c in cases]
    for name in sorted(set(labels) - set(names)):
        problems.append("FAIL: %s is not in the JUnit report (did ctest stop early?)" % name)
    for name in sorted(set(names) - set(labels)):
        problems.append("FAIL: %s is in the JUnit report but not in the test list" % name)
    skips = [c for c in cases if c[1] in NOT_RUN]
    lines = []
    for name, status, reason, last in skips:
        allowed = label in labels.get(name, [])
        lines.append("  %s [%s] %s%s" % (name, label if allowed else "NOT " + label,
                                         reason, ": " + last if last else ""))
        if not allowed:
            problems.append("FAIL: %s did not run (%s) and is not labelled %s" % (
                name, reason, label))
    return lines, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("junit", help="ctest --output-junit FILE")
    ap.add_argument("tests", help="ctest --show-only=json-v1 output")
    ap.add_argument("--label", default="external", help="the label that allows a skip")
    ap.add_argument("--build", default="", help="name of the build, for the report")
    args = ap.parse_args()
    where = " (%s)" % args.build if args.build else ""
    try:
        cases, labels = read_junit(args.junit), read_labels(args.tests)
    except InputError as e:
        print("check_skips%s: FAIL: %s" % (where, e))
        return 1
    lines, problems = check(cases, labels, args.label)
    n = len(lines)
    print("check_skips%s: %d of %d tests skipped%s" % (where, n, len(cases), ":" if n else ""))
    for line in lines + problems:
        print(line)
    if problems:
        print("check_skips%s: FAILED: only tests labelled %s may skip" % (where, args.label))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
