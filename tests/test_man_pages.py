#!/usr/bin/env python3
"""test_man_pages.py BUILD_DIR SOURCE_DIR — the man pages (docs/man/*.scd)
and the programs cannot drift apart:

  1. each worker (dpi-collector, dpi-bridge-mitm, dpi-buffer, dpi-correlator):
     the options of its --help are exactly those its page's OPTIONS section
     defines, and every option of its usage line is in the page's SYNOPSIS;
  2. dpi-dualctl: every command of `dpi-dualctl --help` has a "## COMMAND"
     section in dpi-dualctl.1.scd and no section names a command that does
     not exist; every option and argument of `dpi-dualctl COMMAND --help`
     (its usage lines and its option list) is in that command's section, and
     every option the section defines (a line "*--opt* ...") is one of the
     command's;
  3. dpi-dual.yaml(5): every key `dpi-dualctl config check` prints (every key
     of the loader's table) is in the page, under its section, and every key
     the page defines exists;
  4. when the build made the pages (scdoc found), each built page is there
     and not older than its source.
Every difference is printed; exit 1 if any."""
import os
import re
import subprocess
import sys
import tempfile

build, source = (os.path.abspath(a) for a in sys.argv[1:3])
man_dir = os.path.join(source, "docs", "man")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def run(argv, env=None):
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    return p.returncode, p.stdout, p.stderr


def scd(name):
    with open(os.path.join(man_dir, name + ".scd"), encoding="utf-8") as f:
        return f.read()


def sections(text, level):
    """{heading: body} of the '#' * LEVEL headings of a scdoc text."""
    out, head, body = {}, None, []
    mark = "#" * level + " "
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith(mark) and line.split(" ")[0].count("#") < level:
            if head is not None:
                out[head] = "\n".join(body)
            head, body = None, []
            continue
        if line.startswith(mark):
            if head is not None:
                out[head] = "\n".join(body)
            head, body = line[len(mark):].strip(), []
        elif head is not None:
            body.append(line)
    if head is not None:
        out[head] = "\n".join(body)
    return out


OPT = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")
BOLD_OPT = re.compile(r"\*(--?[A-Za-z][A-Za-z0-9-]*)\*")


def help_options(text):
    """Options defined by a --help: the left column of its option lines."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^ {2,8}(?:[A-Z][A-Z-]*(?:\.\.\.)?, )?(-.*)$", line)
        if not m:
            continue
        left = re.split(r"\s{2,}", m.group(1))[0]
        opts.update(OPT.findall(left))
    return opts


def usage_tokens(text):
    """Options and UPPERCASE arguments of the usage lines of a --help: from
    "usage:" to the first blank line."""
    opts, args = set(), set()
    block = text.split("\n\n")[0]
    for line in block.splitlines():
        opts.update(OPT.findall(line))
        args.update(re.findall(r"(?<![\w.-])([A-Z][A-Z_-]*[A-Z])(?![\w-])", line))
    return opts, args


def defined_options(body):
    """Options a man section defines: its lines starting with *-...*."""
    opts = set()
    for line in body.splitlines():
        if re.match(r"^(_[A-Z]+_, )?\*-", line):
            opts.update(BOLD_OPT.findall(line))
    return opts


# --- 1. the workers ------------------------------------------------------------------
workers = {"dpi-collector": "collector", "dpi-bridge-mitm": "bridge-mitm",
           "dpi-buffer": "buffer", "dpi-correlator": "correlator", "dpi-api": "api"}
for prog, d in workers.items():
    rc, out, err = run([os.path.join(build, d, prog), "--help"])
    if rc != 0:
        fail(f"{prog} --help: exit {rc}: {err.strip()}")
        continue
    page = sections(scd(prog + ".1"), 1)
    if "OPTIONS" not in page or "SYNOPSIS" not in page:
        fail(f"{prog}.1.scd: no OPTIONS or SYNOPSIS section")
        continue
    in_help, in_man = help_options(out), defined_options(page["OPTIONS"])
    for o in sorted(in_help - in_man):
        fail(f"{prog}: {o} is in --help, not in the man page's OPTIONS")
    for o in sorted(in_man - in_help):
        fail(f"{prog}: the man page defines {o}, which --help does not have")
    usage = out.splitlines()[0]
    for o in sorted(set(OPT.findall(usage)) - set(BOLD_OPT.findall(page["SYNOPSIS"]))):
        fail(f"{prog}: {o} of the usage line is not in the man page's SYNOPSIS")
    print(f"ok   {prog}: {len(in_help)} options, the same in --help and the page")

# --- 2. dpi-dualctl ------------------------------------------------------------------
ctl = os.path.join(build, "ctl", "dpi-dualctl")
rc, out, err = run([ctl, "--help"])
commands = []
for line in out.split("\n\n")[1].splitlines() if rc == 0 else []:
    m = re.match(r"^  (\S+)\s", line)
    if m:
        commands.append(m.group(1))
if rc != 0 or len(commands) < 10:
    fail(f"dpi-dualctl --help: exit {rc}, commands {commands}")
page = sections(scd("dpi-dualctl.1"), 2)
for c in commands:
    if c not in page:
        fail(f"dpi-dualctl {c}: no '## {c}' section in dpi-dualctl.1.scd")
        continue
    rc, h, err = run([ctl, c, "--help"])
    if rc != 0:
        fail(f"dpi-dualctl {c} --help: exit {rc}")
        continue
    body = page[c]
    bold = set(BOLD_OPT.findall(body))
    uopts, uargs = usage_tokens(h)
    # -h, --help: every command's, said once in the page's OPTIONS
    hopts = (help_options(h) | uopts) - {"-h", "--help"}
    for o in sorted(hopts - bold):
        fail(f"dpi-dualctl {c}: {o} is in its --help, not (in bold) in its man section")
    for o in sorted(defined_options(body) - set(OPT.findall(h))):
        fail(f"dpi-dualctl {c}: the man section defines {o}, which its --help does not have")
    for a in sorted(uargs):
        if not re.search(r"_" + re.escape(a) + r"_", body):
            fail(f"dpi-dualctl {c}: argument {a} of its usage is not in its man section")
    for word in re.findall(r"^(?:usage:|\s+) ?dpi-dualctl " + re.escape(c) + r" ([a-z|-]+)", h, re.M):
        for w in word.split("|"):
            if not any(w in span.split() for span in re.findall(r"\*([^*\n]+)\*", body)):
                fail(f"dpi-dualctl {c}: subcommand {w} is not in its man section")
for c in page:
    if c not in commands:
        fail(f"dpi-dualctl.1.scd: section '## {c}', but dpi-dualctl has no such command")
print(f"ok   dpi-dualctl: {len(commands)} commands checked against their sections")

# --- 3. dpi-dual.yaml(5) ---------------------------------------------------------------
env = dict(os.environ, DPI_DUAL_CONFIG="/nonexistent/dpi-dual.yaml")
rc, out, err = run([ctl, "config", "check"], env)
keys, stack = [], []
for line in out.splitlines() if rc == 0 else []:
    m = re.match(r"^( *)([a-z_]+):(.*)$", line)
    if not m:
        continue
    depth = len(m.group(1)) // 2
    stack = stack[:depth] + [m.group(2)]
    if m.group(3).strip():
        keys.append(list(stack))
if rc != 0 or len(keys) < 50:
    fail(f"dpi-dualctl config check (built-in defaults): exit {rc}, {len(keys)} keys: {err.strip()}")
page = sections(scd("dpi-dual.yaml.5"), 2)
for k in keys:
    section, rest = k[0], ".".join(k[1:])
    if section not in page:
        fail(f"dpi-dual.yaml(5): no '## {section}' section")
    elif f"*{rest}*" not in page[section]:
        fail(f"dpi-dual.yaml(5): {section}.{rest} is not in its section")
known = {".".join(k) for k in keys}
for section, body in page.items():
    for line in body.splitlines():
        if not line.startswith("*"):
            continue
        for rest in re.findall(r"\*([a-z_.]+)\*:", line):
            if f"{section}.{rest}" not in known:
                fail(f"dpi-dual.yaml(5) defines {section}.{rest}, which is not a key")
print(f"ok   dpi-dual.yaml(5): {len(keys)} keys, each in its section")

# --- 4. the built pages ----------------------------------------------------------------
cache = os.path.join(build, "CMakeCache.txt")
built = False
if os.path.exists(cache):
    with open(cache) as f:
        c = f.read()
    built = re.search(r"^DPI_MAN_PAGES:BOOL=ON$", c, re.M) is not None
if built:
    for name in sorted(os.listdir(man_dir)):
        if not name.endswith(".scd"):
            continue
        out = os.path.join(build, "docs", "man", name[:-4])
        if not os.path.exists(out):
            fail(f"{out} was not built")
        elif os.path.getmtime(out) < os.path.getmtime(os.path.join(man_dir, name)):
            fail(f"{out} is older than its source: rebuild")
    print("ok   the built pages are there and up to date")
else:
    print("     the build does not make the pages (DPI_MAN_PAGES=OFF): not checked")

if failures:
    print(f"test_man_pages: {len(failures)} failures")
    sys.exit(1)
print("test_man_pages: passed")
