#!/usr/bin/python3
"""test_check_skips.py — tests/check_skips.py on crafted ctest outputs, then
on the real output of a small ctest project.

    test_check_skips.py CHECK_SKIPS.py [CMAKE CTEST]

Crafted: no skip passes; a skip of a test labelled external passes and is
counted and named; a skip (or disabled, or not run) test without the label
fails; a test missing from the JUnit file fails; unreadable inputs fail.
Real (when CMAKE and CTEST are given): a project with a passing test, an
external skip and an unlabelled skip, run by ctest with --output-junit —
the unlabelled skip fails; without it (ctest -E) the run passes with one skip.
Prints one line per case; exits 1 when a case fails.
"""
import json
import os
import subprocess
import sys
import tempfile

CHECK = sys.argv[1]
failures = []


def junit(cases):
    """A JUnit file as ctest 3.25 writes it; CASES: (name, status, skip message)."""
    body = ""
    for name, status, skipped in cases:
        sk = '\t\t<skipped message="%s"/>\n' % skipped if skipped else ""
        fl = '\t\t<failure message=""/>\n' if status == "fail" else ""
        body += ('\t<testcase name="%s" classname="%s" time="0.01" status="%s">\n%s%s'
                 '\t\t<system-out>%s output\n</system-out>\n\t</testcase>\n'
                 % (name, name, status, sk, fl, name))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="x" tests="%d">\n%s'
            '</testsuite>\n' % (len(cases), body))


def test_list(labels):
    """`ctest --show-only=json-v1`; LABELS: {name: [labels]}."""
    tests = []
    for name, ls in labels.items():
        props = [{"name": "WORKING_DIRECTORY", "value": "/tmp"}]
        if ls:
            props.insert(0, {"name": "LABELS", "value": ls})
        tests.append({"name": name, "command": ["true"], "properties": props})
    return json.dumps({"kind": "ctestInfo", "version": {"major": 1, "minor": 0},
                       "tests": tests})


def run(tmp, junit_text, tests_text):
    j, t = os.path.join(tmp, "junit.xml"), os.path.join(tmp, "tests.json")
    for path, text in ((j, junit_text), (t, tests_text)):
        if text is None:
            if os.path.exists(path):
                os.unlink(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    p = subprocess.run([sys.executable, CHECK, "--build", "crafted", j, t],
                       capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def expect(what, got, rc, words):
    code, out = got
    missing = [w for w in words if w not in out]
    ok = code == rc and not missing
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)
        print("  exit %d (want %d), missing %r in:\n%s" % (code, rc, missing, out))


SKIP = "SKIP_RETURN_CODE=77"
CASES = [
    ("no skip passes",
     [("a", "run", None), ("b", "fail", None)], {"a": [], "b": []},
     0, ["0 of 2 tests skipped"]),
    ("an external skip passes, counted and named",
     [("a", "run", None), ("conf", "notrun", SKIP)], {"a": [], "conf": ["external", "slow"]},
     0, ["1 of 2 tests skipped", "conf [external] " + SKIP, "conf output"]),
    ("an unlabelled skip fails",
     [("a", "run", None), ("lost", "notrun", SKIP)], {"a": [], "lost": []},
     1, ["1 of 2 tests skipped", "FAIL: lost did not run", "FAILED"]),
    ("a skip labelled otherwise fails",
     [("lost", "notrun", "SKIP_REGULAR_EXPRESSION_MATCHED")], {"lost": ["slow"]},
     1, ["FAIL: lost did not run (SKIP_REGULAR_EXPRESSION_MATCHED)"]),
    ("external and unlabelled skips: fails, both counted",
     [("conf", "notrun", SKIP), ("lost", "notrun", SKIP)], {"conf": ["external"], "lost": []},
     1, ["2 of 2 tests skipped", "FAIL: lost did not run"]),
    ("a disabled test without the label fails",
     [("off", "disabled", None)], {"off": []}, 1, ["FAIL: off did not run (disabled)"]),
    ("a test that could not start fails",
     [("gone", "notrun", "Unable to find executable")], {"gone": []},
     1, ["FAIL: gone did not run (Unable to find executable)"]),
    ("a listed test missing from the JUnit file fails",
     [("a", "run", None)], {"a": [], "b": []}, 1, ["FAIL: b is not in the JUnit report"]),
    ("a JUnit test missing from the list fails",
     [("a", "run", None), ("b", "run", None)], {"a": []},
     1, ["FAIL: b is in the JUnit report but not in the test list"]),
    ("an unknown status fails",
     [("a", "weird", None)], {"a": []}, 1, ["unknown status 'weird'"]),
]


def crafted(tmp):
    for what, cases, labels, rc, words in CASES:
        expect(what, run(tmp, junit(cases), test_list(labels)), rc, words)
    good = test_list({"a": []})
    expect("no JUnit file fails", run(tmp, None, good), 1, ["not a JUnit file"])
    expect("a truncated JUnit file fails", run(tmp, junit([("a", "run", None)])[:60], good),
           1, ["not a JUnit file"])
    expect("a bad test list fails", run(tmp, junit([("a", "run", None)]), "{}"),
           1, ["not a ctest --show-only=json-v1 list"])


PROJECT = """cmake_minimum_required(VERSION 3.20)
project(skips NONE)
enable_testing()
add_test(NAME passes COMMAND sh -c "exit 0")
add_test(NAME needs_corpus COMMAND sh -c "echo 'no corpus here'; exit 77")
set_tests_properties(needs_corpus PROPERTIES LABELS external SKIP_RETURN_CODE 77)
add_test(NAME hides COMMAND sh -c "exit 77")
set_tests_properties(hides PROPERTIES SKIP_RETURN_CODE 77)
"""


def real(tmp, cmake, ctest):
    src, build = os.path.join(tmp, "src"), os.path.join(tmp, "build")
    os.makedirs(src)
    with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
        f.write(PROJECT)
    subprocess.run([cmake, "-S", src, "-B", build], check=True, stdout=subprocess.DEVNULL)
    for what, extra, rc, words in (
            ("real ctest: the unlabelled skip fails", [], 1,
             ["2 of 3 tests skipped", "needs_corpus [external]", "no corpus here",
              "FAIL: hides did not run"]),
            ("real ctest: an external skip alone passes", ["-E", "hides"], 0,
             ["1 of 2 tests skipped", "needs_corpus [external] SKIP_RETURN_CODE=77"])):
        j = os.path.join(build, "junit.xml")
        subprocess.run([ctest, "--output-junit", j] + extra, cwd=build,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listed = subprocess.run([ctest, "--show-only=json-v1"] + extra, cwd=build,
                                check=True, capture_output=True, text=True).stdout
        with open(j) as f:
            expect(what, run(tmp, f.read(), listed), rc, words)


def main():
    with tempfile.TemporaryDirectory(prefix="test_check_skips.") as tmp:
        crafted(tmp)
        if len(sys.argv) > 3:
            real(tmp, sys.argv[2], sys.argv[3])
    print("test_check_skips: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
