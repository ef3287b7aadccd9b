#!/usr/bin/env python3
"""dashboard_cdp.py URL TOKEN OUTDIR TRIGGER...
dashboard_cdp.py URL TOKEN OUTDIR --bridge-ban IP PROBE... — drives the dashboard in headless
Chromium over the DevTools protocol (python3-websocket), for tests/it_dashboard.sh.

URL is dpi-api's base (http://127.0.0.1:PORT). The page is opened at URL/#token=TOKEN;
then, each with a generous bound (no timing assertion; the delays are printed):
  - the fragment is cleared and the token is in sessionStorage;
  - every panel shows data (its data-count > 0, and its text), the event stream is live;
  - OUTDIR/dashboard-loaded.png;
  - TRIGGER (a command) is run: a threat the page did not have, of an attacker
    (10.66.0.N, tests/lib/correlator_stream.py), joining both streams
    (its join not JOIN_NONE, its evidence with the tap side and the mitm side), appears
    on the timeline (through the event stream), the delay printed;
    OUTDIR/dashboard-threat.png;
  - the drill-down of a client with a threat: its reputation and context shown; the
    page's Ban button: the correlator's reputation (GET /api/dpi/reputation) shows the
    ban, and the page too; OUTDIR/dashboard-drilldown.png; Unban: lifted;
  - no exception in the page, no console error (a CSP violation is one).
With --bridge-ban: IP is a client of the real MITM chain and PROBE a command (PROBE PATH:
one request of IP through it, "STATUS BLOCK-HEADER"; PROBE --verdict PATH: the bridge's
verdict on it): 200 allowed first; the page (the IP typed into the drill-down) shows its
requests; Ban: its requests get 403 from the bridge's ban list, the delay printed;
OUTDIR/dashboard-bridge-ban.png; Unban: 200 allowed again, the delay printed.
First, without a token, the page asks for one; with a wrong one it says 401 and asks
again. Prints "ok ..." lines; exit 1 with "FAIL: ..." on the first failure."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

BOUND = 60.0


def fail(why):
    print("dashboard_cdp: FAIL: " + why, flush=True)
    sys.exit(1)


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.id = 0
        self.errors = []

    def _note(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: " + d.get("text", "") + " "
                               + str(d.get("exception", {}).get("description", "")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            # a refused fetch (a 4xx the page handles) is not the page's error
            if e.get("source") != "network":
                self.errors.append("console: " + e.get("text", ""))
        elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.errors.append("console.error: " + json.dumps(p.get("args", []))[:300])

    def call(self, method, **params):
        self.id += 1
        my = self.id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    fail(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._note(msg)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"evaluate {expr[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr, bound=BOUND, what=None):
        t0 = time.monotonic()
        while time.monotonic() - t0 < bound:
            if self.eval(expr):
                return time.monotonic() - t0
            time.sleep(0.2)
        fail(f"waited {bound:.0f} s for {what or expr}")

    def screenshot(self, path):
        m = self.call("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        w, h = int(size["width"]), int(min(size["height"], 4000))
        self.call("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1,
                  mobile=False)
        import base64
        data = self.call("Page.captureScreenshot", format="png")["data"]
        self.call("Emulation.clearDeviceMetricsOverride")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print(f"ok   screenshot {path}", flush=True)


def api_get(base, token, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def main():
    base, token, outdir, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    profile = tempfile.mkdtemp(prefix="dpi-dash-chromium.")
    log = open(os.path.join(outdir, "chromium.log"), "w")
    chrome = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-sync",
         "--disable-background-networking", "--disable-component-update",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "--user-data-dir=" + profile,
         "--window-size=1400,1000", "about:blank"], stdout=log, stderr=log)
    try:
        p = connect(profile)
        if rest[:1] == ["--bridge-ban"]:
            run_bridge_ban(p, base, token, outdir, rest[1], rest[2:])
        else:
            run(p, base, token, outdir, rest)
        p.call("Runtime.evaluate", expression="1")      # collect the last events
        if p.errors:
            fail("the page reported errors: " + "; ".join(p.errors[:5]))
        print("ok   no exception or console error in the page (CSP included)", flush=True)
    finally:
        chrome.terminate()
        try:
            chrome.wait(10)
        except subprocess.TimeoutExpired:
            chrome.kill()
        shutil.rmtree(profile, ignore_errors=True)


def open_with_token(p, base, token):
    """Opens the page at BASE/?reload#token=TOKEN: the fragment is read and cleared."""
    p.call("Page.navigate", url=f"{base}/?reload#token={token}")
    p.wait("document.readyState === 'complete' && location.search === '?reload'",
           what="the page to load")
    p.wait("location.hash === '' && sessionStorage.getItem('dpi-dual-token') !== null",
           what="the fragment cleared")
    if p.eval("sessionStorage.getItem('dpi-dual-token')") != token:
        fail("sessionStorage does not hold the token")
    if token in p.eval("location.href"):
        fail("the token is still in the address")
    print("ok   the token taken from the fragment into sessionStorage; the fragment cleared",
          flush=True)


def connect(profile):
    """The DevTools connection to the page of the Chromium started with PROFILE."""
    port_file = os.path.join(profile, "DevToolsActivePort")
    t0 = time.monotonic()
    while not os.path.exists(port_file) or not open(port_file).read().strip():
        if time.monotonic() - t0 > BOUND:
            fail("chromium did not start (its DevToolsActivePort)")
        time.sleep(0.1)
    port = open(port_file).read().split()[0]
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=10))
    page = next(t for t in targets if t.get("type") == "page")
    p = Page(page["webSocketDebuggerUrl"])
    for domain in ("Page", "Runtime", "Log"):
        p.call(domain + ".enable")
    return p


def run(p, base, token, outdir, trigger):

    # --- without a token: the form; with a wrong one: the form again, saying 401
    p.call("Page.navigate", url=f"{base}/")
    p.wait("document.readyState === 'complete' && !document.getElementById('login').hidden "
           "&& document.getElementById('main').hidden", what="the token form")
    p.call("Page.navigate", url=f"{base}/#token=not-the-token-0123456789")
    p.wait("!document.getElementById('login').hidden && "
           "document.getElementById('login-error').textContent.includes('401')",
           what="the form after a wrong token, saying 401")
    print("ok   without a token the page asks for one; a wrong token: 401 said, asked again",
          flush=True)

    open_with_token(p, base, token)

    panels = ["p-proto", "p-rate", "p-buffer", "p-clients", "p-timeline", "p-topo"]
    cond = " && ".join(f"+document.getElementById('{x}').dataset.count > 0" for x in panels)
    took = p.wait(cond + " && document.getElementById('live').classList.contains('on')",
                  what="every panel with data and the live stream")
    texts = p.eval("JSON.stringify(Object.fromEntries(%s.map(id => [id, "
                   "document.getElementById(id).innerText])))" % json.dumps(panels))
    texts = json.loads(texts)
    for want, panel in (("HTTP", "p-proto"), ("flow events", "p-rate"), ("ring", "p-buffer"),
                        ("10.0.", "p-clients"), ("mitm", "p-timeline"), ("correlator", "p-topo")):
        if want not in texts[panel]:
            fail(f"{panel} does not show '{want}': {texts[panel][:300]}")
    n_nodes = p.eval("document.querySelectorAll('#p-topo svg g.node').length")
    n_edges = p.eval("document.querySelectorAll('#p-topo svg line.edge').length")
    if n_nodes < 3 or n_edges < 2:
        fail(f"topology: {n_nodes} nodes, {n_edges} edges")
    evidence = p.eval("document.querySelector('#p-timeline li.threat dl.evidence').textContent")
    if "/attack-" not in evidence or "CRS" not in evidence:
        fail(f"a threat's evidence lacks the mitm side: {evidence}")
    print(f"ok   every panel shows data ({took:.1f} s after the fragment was read): protocols, "
          f"per-minute flows and packets, buffer and alerts, top clients, threats with their "
          f"evidence, topology ({n_nodes} workers, {n_edges} edges); the stream is live",
          flush=True)
    p.screenshot(os.path.join(outdir, "dashboard-loaded.png"))

    # --- a threat after the page loaded, through the event stream
    before = set(p.eval("[...document.querySelectorAll('#p-timeline li.threat')]"
                        ".map(li => li.dataset.id)"))
    t0 = time.monotonic()
    subprocess.run(trigger, check=True, stdout=subprocess.DEVNULL)
    sent = time.monotonic() - t0
    new = ("[...document.querySelectorAll('#p-timeline li.threat')].filter(li => !%s"
           ".includes(li.dataset.id) && li.dataset.ip.startsWith('10.66.') "
           "&& li.dataset.join && li.dataset.join !== 'JOIN_NONE')"
           % json.dumps(sorted(before)))
    took = p.wait(new + ".length > 0", what="a new threat joining both streams on the timeline")
    ev = p.eval(new + "[0] && [...%s[0].querySelectorAll('dl.evidence dd')].map(d => d.textContent)"
                % new)
    if not ev or "TLS" not in ev[0] or "/attack" not in ev[1]:
        fail(f"the new threat's evidence lacks a stream: tap {ev and ev[0]!r}, mitm {ev and ev[1]!r}")
    print(f"ok   a threat triggered after the load (flows then requests of an attacker) is on "
          f"the timeline with both streams' evidence: {took:.2f} s after the trigger's last "
          f"message was published (publishing took {sent:.2f} s)", flush=True)
    p.screenshot(os.path.join(outdir, "dashboard-threat.png"))

    # --- drill-down, ban, unban
    ip = p.eval("document.querySelector('#p-clients tr.client').dataset.ip")
    p.eval(f"document.querySelector('#p-clients tr.client[data-ip=\"{ip}\"] a').click()")
    p.wait(f"document.getElementById('p-drill').dataset.ip === '{ip}' && "
           "document.getElementById('drill-reputation') !== null && "
           "document.querySelectorAll('#drill-requests tr').length > 1",
           what=f"the drill-down of {ip} (reputation, requests)")
    print(f"ok   drill-down of {ip}: reputation and the buffer's requests", flush=True)
    if api_get(base, token, f"/api/dpi/reputation/{ip}")["banned_until_ns"] != 0:
        # banned by the correlator itself already: lifted first, so the page's ban shows
        p.eval("document.getElementById('drill-unban').click()")
        t0 = time.monotonic()
        while api_get(base, token, f"/api/dpi/reputation/{ip}")["banned_until_ns"] != 0:
            if time.monotonic() - t0 > BOUND:
                fail(f"{ip} was banned already and the page's unban did not lift it")
            time.sleep(0.2)
    p.eval("document.getElementById('drill-ban').click()")
    t0 = time.monotonic()
    while api_get(base, token, f"/api/dpi/reputation/{ip}")["banned_until_ns"] == 0:
        if time.monotonic() - t0 > BOUND:
            fail(f"the page's ban of {ip} is not in the correlator's reputation")
        time.sleep(0.2)
    p.wait("document.getElementById('drill-reputation').dataset.banned === '1'",
           what="the page showing the ban")
    print(f"ok   Ban from the page: the correlator's reputation of {ip} shows it "
          f"({time.monotonic() - t0:.2f} s), so does the page", flush=True)
    p.screenshot(os.path.join(outdir, "dashboard-drilldown.png"))
    p.eval("document.getElementById('drill-unban').click()")
    t0 = time.monotonic()
    while api_get(base, token, f"/api/dpi/reputation/{ip}")["banned_until_ns"] != 0:
        if time.monotonic() - t0 > BOUND:
            fail(f"the page's unban of {ip} is not in the correlator's reputation")
        time.sleep(0.2)
    p.wait("document.getElementById('drill-reputation').dataset.banned === '0'",
           what="the page showing the unban")
    print(f"ok   Unban from the page: lifted in the correlator ({time.monotonic() - t0:.2f} s)",
          flush=True)
    print("BANNED_IP " + ip, flush=True)


def probe(cmd, n):
    """One request of the client through the MITM chain, by PROBE PATH: (its status, its
    X-DPI-Dual-Block header or "-", PATH)."""
    path = f"/dash-probe-{n}"
    code, block = subprocess.run(cmd + [path], check=True, capture_output=True,
                                 text=True).stdout.split()
    return code, block, path


def verdict(cmd, path):
    """The bridge's verdict on the request of PATH, by PROBE --verdict PATH: "ACTION
    REASON RULE" (the bus's mitm.verdict, whether or not it met the addon's deadline)."""
    return subprocess.run(cmd + ["--verdict", path], capture_output=True,
                          text=True).stdout.strip() or "none"


def run_bridge_ban(p, base, token, outdir, ip, cmd):
    """The page's Ban and Unban of IP, a client of the real MITM chain, enforced by the
    bridge: its next requests 403 (X-DPI-Dual-Block: ban-list), then 200 again."""
    code, block, path = probe(cmd, 0)
    v = verdict(cmd, path)
    if code != "200" or v != "ALLOW - -":
        fail(f"{ip} before the ban: {code} {block} (verdict {v}), not 200 allowed")
    print(f"ok   {ip} through HAProxy, mitmdump and the bridge before the ban: 200 (ALLOW)",
          flush=True)
    open_with_token(p, base, token)
    p.eval(f"document.getElementById('drill-ip').value = {json.dumps(ip)}; "
           "document.getElementById('drill-show').click()")
    p.wait(f"document.getElementById('p-drill').dataset.ip === '{ip}' && "
           "document.getElementById('drill-reputation') !== null && "
           "document.querySelectorAll('#drill-requests tr').length > 1",
           what=f"the drill-down of {ip} with its requests through the chain")
    print(f"ok   drill-down of {ip} (typed in): its requests through the chain, from the buffer",
          flush=True)

    p.eval("document.getElementById('drill-ban').click()")
    t0 = time.monotonic()
    n = 0
    while True:
        n += 1
        code, block, path = probe(cmd, n)
        if code == "403":
            break
        if code != "200" or time.monotonic() - t0 > BOUND:
            fail(f"after the page's ban of {ip}: {code} {block}, no 403 within {BOUND:.0f} s")
    took_ban = time.monotonic() - t0
    v = verdict(cmd, path)
    if block != "ban-list" or v != "BLOCK ban-list -":
        fail(f"the 403 is not the bridge's ban list: X-DPI-Dual-Block {block}, verdict {v}")
    p.wait("document.getElementById('drill-reputation').dataset.banned === '1'",
           what="the page showing the ban")
    print(f"ok   Ban from the page: {ip}'s next request through HAProxy gets 403 from the "
          f"bridge (X-DPI-Dual-Block: ban-list): {took_ban:.2f} s from the click to the "
          f"first 403 ({n} requests)", flush=True)
    p.screenshot(os.path.join(outdir, "dashboard-bridge-ban.png"))

    p.eval("document.getElementById('drill-unban').click()")
    t0 = time.monotonic()
    misses, k = 0, n
    while True:
        n += 1
        code, block, path = probe(cmd, n)
        if code == "200":
            if verdict(cmd, path) == "ALLOW - -":
                break
            misses += 1     # the ban's verdict missed the addon's deadline: fail open
        elif code != "403" or block != "ban-list":
            fail(f"after the page's unban of {ip}: {code} {block}")
        if time.monotonic() - t0 > BOUND:
            fail(f"after the page's unban of {ip}: still 403 after {BOUND:.0f} s")
    took_unban = time.monotonic() - t0
    p.wait("document.getElementById('drill-reputation').dataset.banned === '0'",
           what="the page showing the unban")
    print(f"ok   Unban from the page: {ip} passes again (200, ALLOW): {took_unban:.2f} s from "
          f"the click to the first 200 ({n - k} requests)" + (f" ({misses} fail-open 200s before, not counted)"
                                           if misses else ""), flush=True)
    print(f"DELAYS ban_to_403 {took_ban:.3f} unban_to_200 {took_unban:.3f}", flush=True)


if __name__ == "__main__":
    main()
