/* dpi-dual dashboard: plain JS, no build step, no dependency; charts are SVG drawn here.
   The token comes from the URL fragment (#token=...) or the form, is kept in
   sessionStorage (this tab only) and sent only as "Authorization: Bearer" of fetch().
   The event stream (/api/dpi/events) is read with fetch() too (EventSource cannot send
   a header, and a token in the query string would be logged). Every text from the API
   goes into the page as text (textContent), never as markup. */
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const state = {
  token: null,
  flows: [], threats: [], status: null, buffer: null, topology: null,
  reputations: new Map(),          // ip -> reputation answer
  live: false, events: 0,
  threatIds: new Set(),
};

/* --- small helpers ----------------------------------------------------------------------- */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) e.append(k instanceof Node ? k : String(k));
  return e;
}
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids.flat()) e.append(k instanceof Node ? k : String(k));
  return e;
}
function body(id) { return document.querySelector("#" + id + " .body"); }
function fill(id, count, ...kids) {
  const b = body(id);
  b.replaceChildren(...kids);
  document.getElementById(id).dataset.count = String(count);
}
function fmtTime(ns) {
  if (!ns) return "-";
  return new Date(Number(ns) / 1e6).toISOString().replace("T", " ").slice(0, 19);
}
function nsOf(x) { return x && x.header ? x.header.ts_ns : 0; }
function minuteOf(ns) { return Math.floor(Number(ns) / 60e9); }

/* --- token ------------------------------------------------------------------------------- */
function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("dpi-dual-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("dpi-dual-token");
}
function askToken(why) {
  document.getElementById("main").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = why || "";
}

/* --- API ----------------------------------------------------------------------------------- */
async function api(path, opts) {
  opts = opts || {};
  const headers = Object.assign({ Authorization: "Bearer " + state.token }, opts.headers || {});
  const r = await fetch(path, Object.assign({}, opts, { headers, cache: "no-store" }));
  let d = null;
  try { d = await r.json(); } catch (e) { d = { ok: false, error: "not JSON" }; }
  if (r.status === 401) { stop(); askToken("the token was refused (401)"); throw new Error("401"); }
  if (!r.ok) throw new Error(r.status + " " + (d && d.error || ""));
  return d;
}

/* --- panels -------------------------------------------------------------------------------- */
function drawProtocols() {
  const counts = new Map();
  for (const f of state.flows) {
    const p = f.proto || f.app_protocol_name || "?";
    counts.set(p, (counts.get(p) || 0) + 1);
  }
  const rows = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  if (!rows.length) return fill("p-proto", 0, el("p", { class: "muted" }, "no flow yet"));
  const max = rows[0][1], H = 20, W = 360;
  const g = svg("svg", { viewBox: `0 0 ${W} ${rows.length * H + 4}`, class: "chart", role: "img" });
  rows.forEach(([name, n], i) => {
    const w = Math.max(2, (W - 150) * n / max);
    g.append(svg("text", { x: 0, y: i * H + 14, class: "label" }, name),
             svg("rect", { x: 100, y: i * H + 3, width: w, height: H - 6, class: `bar c${i % 6}` }),
             svg("text", { x: 106 + w, y: i * H + 14, class: "value" }, String(n)));
  });
  fill("p-proto", rows.length, g, el("p", { class: "muted" }, `${state.flows.length} flow events held`));
}

function series(id, title, values, cls) {
  const W = 360, H = 70, max = Math.max(1, ...values), n = values.length, bw = W / n;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H + 14}`, class: "chart", role: "img" });
  values.forEach((v, i) => {
    const h = (H - 4) * v / max;
    // index 0 is the current minute: drawn on the right
    const x = W - (i + 1) * bw;
    const r = svg("rect", { x: x + 0.5, y: H - h, width: Math.max(1, bw - 1), height: h, class: cls });
    r.append(svg("title", {}, `${i} min ago: ${v}`));
    g.append(r);
  });
  g.append(svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }),
           svg("text", { x: 0, y: H + 12, class: "label" }, "-60 min"),
           svg("text", { x: W, y: H + 12, class: "label end" }, "now"),
           svg("text", { x: W, y: 10, class: "label end" }, `max ${max}`));
  return el("div", { class: "series", id }, el("h3", {}, title + `: ${values[0]} this minute`), g);
}

function drawRates() {
  const mins = state.status ? state.status.minutes : [];
  const flows = mins.map(m => m.flows);
  // packets: each flow's last event held (both directions), in the minute it came
  const now = minuteOf(Date.now() * 1e6);
  const last = new Map();
  for (const f of state.flows) {
    const key = f.interface + "|" + f.flow_id + "|" + f.community_id;
    const prev = last.get(key);
    if (!prev || nsOf(prev) < nsOf(f)) last.set(key, f);
  }
  const packets = new Array(60).fill(0);
  for (const f of last.values()) {
    const ago = now - minuteOf(nsOf(f));
    if (ago >= 0 && ago < 60) packets[ago] += (f.src2dst_packets || 0) + (f.dst2src_packets || 0);
  }
  const total = flows.reduce((a, b) => a + b, 0) + packets.reduce((a, b) => a + b, 0);
  fill("p-rate", total, series("s-flows", "flow events", flows.length ? flows : [0], "bar c0"),
       series("s-packets", "packets (flows held)", packets, "bar c1"));
}

function gauge(label, v, max) {
  const W = 360, frac = max > 0 ? Math.min(1, v / max) : 0;
  const g = svg("svg", { viewBox: `0 0 ${W} 22`, class: "chart", role: "img" },
                svg("rect", { x: 0, y: 2, width: W, height: 16, class: "track" }),
                svg("rect", { x: 0, y: 2, width: Math.max(1, W * frac), height: 16,
                              class: frac > 0.9 ? "bar hot" : "bar c2" }));
  return el("div", { class: "gauge" }, el("h3", {}, `${label}: ${v} / ${max} (${(100 * frac).toFixed(1)} %)`), g);
}

function drawBuffer() {
  const b = state.buffer, mins = state.status ? state.status.minutes : [];
  const kids = [];
  if (b) {
    kids.push(gauge("ring", b.ring_entries, b.ring_size),
              gauge("analysis queue", b.queue_depth, Math.max(b.queue_max, 1)),
              el("p", { class: "muted" }, `${b.requests} requests, ${b.analysed} analysed, ` +
                 `${b.alerts_waf} WAF + ${b.alerts_anomaly} anomaly alerts, ${b.ring_clients} clients`));
  }
  const alerts = mins.map(m => m.alerts);
  if (alerts.length) kids.push(series("s-alerts", "alerts", alerts, "bar hot"));
  fill("p-buffer", (b ? 1 : 0) + alerts.reduce((a, c) => a + c, 0), ...kids);
}

function evidence(t) {
  const tap = [];
  if (t.tap_proto) tap.push(t.tap_proto);
  if (t.tap_host_server_name) tap.push(t.tap_host_server_name);
  if (t.tap_risks && t.tap_risks.length) tap.push("risks: " + t.tap_risks.join(", "));
  if (t.community_id) tap.push(t.community_id);
  const mitm = [];
  if (t.mitm_host || t.mitm_path) mitm.push((t.mitm_host || "") + (t.mitm_path || ""));
  const ids = t.request_ids && t.request_ids.length ? t.request_ids : (t.request_id ? [t.request_id] : []);
  if (ids.length) mitm.push("requests " + ids.join(", "));
  return el("dl", { class: "evidence" },
            el("dt", {}, "tap"), el("dd", {}, tap.length ? tap.join(" · ") : "—"),
            el("dt", {}, "mitm"), el("dd", {}, mitm.length ? mitm.join(" · ") : "—"),
            el("dt", {}, "why"), el("dd", {}, (t.reasons || []).join("; ") || "—"),
            el("dt", {}, "sources"), el("dd", {}, (t.sources || []).join(", ") + " · join " + (t.join || "")));
}

function threatId(t) { return (t.header ? t.header.source + "#" + t.header.seq : "") + "|" + t.client_ip; }

function drawTimeline() {
  const ts = state.threats.slice(0, 100);
  if (!ts.length) return fill("p-timeline", 0, el("p", { class: "muted" }, "no threat yet"));
  // the strip: each threat a dot over the last hour, height by severity
  const W = 740, H = 50, nowMs = Date.now();
  const strip = svg("svg", { viewBox: `0 0 ${W} ${H + 12}`, class: "chart strip", role: "img" },
                    svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }),
                    svg("text", { x: 0, y: H + 11, class: "label" }, "-60 min"),
                    svg("text", { x: W, y: H + 11, class: "label end" }, "now"));
  for (const t of ts) {
    const ms = Number(nsOf(t)) / 1e6, ago = (nowMs - ms) / 3600e3;
    if (ago < 0 || ago > 1) continue;
    const c = svg("circle", { cx: W * (1 - ago), cy: H - 4 - (H - 10) * Math.min(10, t.severity || 0) / 10,
                              r: 4, class: "sev" + Math.min(10, t.severity || 0) });
    c.append(svg("title", {}, `${t.client_ip} ${t.threat_type} severity ${t.severity}`));
    strip.append(c);
  }
  const list = el("ol", { class: "timeline" }, ts.map(t =>
    el("li", { class: "threat", "data-ip": t.client_ip, "data-id": threatId(t), "data-join": t.join || "" },
       el("div", { class: "head" },
          el("span", { class: "time" }, fmtTime(nsOf(t))), " ",
          el("a", { href: "#", class: "ip", onclick: e => { e.preventDefault(); drill(t.client_ip); } }, t.client_ip), " ",
          el("span", { class: "type" }, t.threat_type || t.event_type || "?"), " ",
          el("span", { class: "sev sev" + Math.min(10, t.severity || 0) }, "severity " + (t.severity ?? "?")),
          " score " + (t.score ?? "?") + " · reputation " + (t.reputation ?? "?") +
          (t.banned ? " · banned" : "")),
       evidence(t))));
  fill("p-timeline", ts.length, strip, list);
}

function drawClients() {
  const best = new Map();
  for (const t of state.threats) {
    const r = state.reputations.get(t.client_ip);
    const score = r ? r.score : (t.reputation || 0);
    const cur = best.get(t.client_ip);
    if (!cur || score > cur.score) best.set(t.client_ip, { ip: t.client_ip, score, threats: 0, rep: r });
  }
  for (const t of state.threats) best.get(t.client_ip).threats++;
  const rows = [...best.values()].sort((a, b) => b.score - a.score).slice(0, 10);
  if (!rows.length) return fill("p-clients", 0, el("p", { class: "muted" }, "no client with a threat yet"));
  const max = Math.max(1, rows[0].score);
  const table = el("table", {},
    el("tr", {}, el("th", {}, "client"), el("th", {}, "reputation"), el("th", {}, "threats"), el("th", {}, "")),
    rows.map(r => el("tr", { class: "client", "data-ip": r.ip },
      el("td", {}, el("a", { href: "#", onclick: e => { e.preventDefault(); drill(r.ip); } }, r.ip)),
      el("td", {}, svg("svg", { viewBox: "0 0 100 10", class: "mini" },
                       svg("rect", { x: 0, y: 1, width: Math.max(1, 100 * r.score / max), height: 8, class: "bar hot" })),
         " " + Number(r.score).toFixed(1)),
      el("td", {}, String(r.threats)),
      el("td", {}, r.rep && r.rep.banned_until_ns > 0 ? "banned" : ""))));
  fill("p-clients", rows.length, table);
}

function drawTopology() {
  const t = state.topology;
  if (!t || !t.workers || !t.workers.length) return fill("p-topo", 0, el("p", { class: "muted" }, "no topology yet"));
  const hosts = t.hosts && t.hosts.length ? t.hosts : [{ host: "?", workers: t.workers.map(w => w.id) }];
  const order = ["collector", "bridge-mitm", "buffer", "correlator", "api"];
  const pos = new Map(), W = 740, colW = 140, rowH = 56, top = 30;
  const byId = new Map(t.workers.map(w => [w.id, w]));
  let maxRows = 1;
  hosts.forEach((h, hi) => {
    const ws = h.workers.slice().sort((a, b) => order.indexOf(a.split("@")[0]) - order.indexOf(b.split("@")[0]));
    ws.forEach((id, i) => {
      const col = order.indexOf(id.split("@")[0]);
      pos.set(id, { x: 10 + (col < 0 ? i : col) * colW, y: top + hi * rowH * 2 + (Math.abs(col) % 2) * rowH });
    });
    maxRows = Math.max(maxRows, hi * 2 + 2);
  });
  const H = top + maxRows * rowH + 10;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart topo", role: "img" });
  const defs = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
                                               markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" },
                                   svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" })));
  g.append(defs);
  hosts.forEach((h, hi) => g.append(svg("text", { x: 4, y: top - 12 + hi * rowH * 2, class: "host" }, "host " + h.host)));
  const nodeW = 118, nodeH = 34;
  for (const e of t.edges || []) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + nodeW / 2, y1 = a.y + nodeH / 2, x2 = b.x + nodeW / 2, y2 = b.y + nodeH / 2;
    const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1;
    // stop at the target box's border (roughly)
    const k = Math.min(nodeW / 2 / Math.abs(dx || 1e-9), nodeH / 2 / Math.abs(dy || 1e-9), 1) * 1;
    const line = svg("line", { x1, y1, x2: x2 - dx * k, y2: y2 - dy * k,
                               class: "edge" + (e.gaps ? " gaps" : ""), "marker-end": "url(#arrow)" });
    line.append(svg("title", {}, `${e.from} → ${e.to}: ${(e.topics || []).join(", ")} (${e.received} received, ${e.gaps} gaps)`));
    g.append(line);
    void len;
  }
  for (const [id, p] of pos) {
    const w = byId.get(id) || { state: "unknown" };
    const node = svg("g", { class: "node " + (w.state || ""), "data-id": id },
                     svg("rect", { x: p.x, y: p.y, width: nodeW, height: nodeH, rx: 6 }),
                     svg("text", { x: p.x + nodeW / 2, y: p.y + 14, class: "name" }, id.split("@")[0]),
                     svg("text", { x: p.x + nodeW / 2, y: p.y + 27, class: "state" }, w.state || "?"));
    node.append(svg("title", {}, `${id}: ${w.state}${w.why ? " (" + w.why + ")" : ""}`));
    g.append(node);
  }
  fill("p-topo", pos.size, g, el("p", { class: "muted" }, `${pos.size} workers, ${(t.edges || []).length} edges; hover for topics`));
}

function drawStatus() {
  const s = state.status;
  if (!s) return;
  const up = s.workers.filter(w => w.state === "up").length;
  document.getElementById("status").textContent =
    `${s.service} ${s.version} · up ${Math.round(s.uptime_s)} s · workers up ${up}/${s.workers.length} · ` +
    `flows ${s.totals.flows} · alerts ${s.totals.alerts} · threats ${s.totals.threats} · decisions ${s.totals.decisions}`;
}

/* --- drill-down ------------------------------------------------------------------------------ */
function drillIp() { return document.getElementById("drill-ip").value.trim(); }
function msg(text, bad) {
  const m = document.getElementById("drill-msg");
  m.textContent = text;
  m.className = bad ? "bad" : "muted";
}
async function drill(ip) {
  if (ip) document.getElementById("drill-ip").value = ip;
  ip = drillIp();
  if (!ip) return;
  document.getElementById("p-drill").scrollIntoView({ block: "nearest" });
  const kids = [];
  let count = 0;
  try {
    const r = await api("/api/dpi/reputation/" + encodeURIComponent(ip));
    state.reputations.set(ip, r);
    count++;
    kids.push(el("h3", {}, "Reputation (correlator)"),
              el("dl", { class: "kv", id: "drill-reputation", "data-banned": r.banned_until_ns > 0 ? "1" : "0" },
                 el("dt", {}, "score"), el("dd", {}, Number(r.score).toFixed(2)),
                 el("dt", {}, "events"), el("dd", {}, String(r.events)),
                 el("dt", {}, "last"), el("dd", {}, (r.last_kind || "-") + " at " + fmtTime(r.last_seen_ns)),
                 el("dt", {}, "banned"), el("dd", { class: r.banned_until_ns > 0 ? "bad" : "" },
                                            r.banned_until_ns > 0 ? "until " + fmtTime(r.banned_until_ns) : "no"),
                 el("dt", {}, "whitelisted"), el("dd", {}, r.whitelisted ? "yes" : "no")));
  } catch (e) { kids.push(el("p", { class: "bad" }, "reputation: " + e.message)); }
  try {
    const c = await api("/api/dpi/context/" + encodeURIComponent(ip) + "?window=3600");
    count += c.requests.length;
    kids.push(el("h3", {}, `Requests in the buffer (last ${c.window} s): ${c.requests.length}`),
              el("table", { id: "drill-requests" },
                 el("tr", {}, ["time", "method", "host", "path", "status", "score", "category"].map(h => el("th", {}, h))),
                 c.requests.slice(0, 50).map(q => el("tr", { class: q.alerted ? "alerted" : "" },
                   el("td", {}, fmtTime(q.ts_ns)), el("td", {}, q.method), el("td", {}, q.host),
                   el("td", { class: "path" }, q.path + (q.query ? "?" + q.query : "")),
                   el("td", {}, String(q.status)), el("td", {}, String(q.score)), el("td", {}, q.category || "")))));
    if (c.anomaly) kids.push(el("p", { class: "muted" }, `anomaly score ${c.anomaly.score} (${c.anomaly.label})`));
  } catch (e) { kids.push(el("p", { class: "bad" }, "context: " + e.message)); }
  const flows = state.flows.filter(f => f.src_ip === ip || f.dst_ip === ip);
  kids.push(el("p", { class: "muted" }, `${flows.length} flow events held for ${ip}; ` +
                  `${state.threats.filter(t => t.client_ip === ip).length} threats`));
  const b = body("p-drill");
  b.replaceChildren(...kids);
  document.getElementById("p-drill").dataset.count = String(count);
  document.getElementById("p-drill").dataset.ip = ip;
}
async function action(what) {
  const ip = drillIp();
  if (!ip) return msg("an IP address first", true);
  try {
    if (what === "ban") {
      const duration = parseInt(document.getElementById("drill-duration").value, 10) || 3600;
      await api("/api/dpi/ban", { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify({ ip, duration, reason: "dashboard" }) });
      msg(`${ip} banned for ${duration} s`);
    } else if (what === "unban") {
      await api("/api/dpi/ban/" + encodeURIComponent(ip), { method: "DELETE" });
      msg(`${ip} unbanned`);
    } else if (what === "replay") {
      const r = await api("/api/dpi/replay/" + encodeURIComponent(ip), { method: "POST" });
      msg(`replay of ${ip}: ${r.queued ?? "?"} queued`);
    }
  } catch (e) { msg(`${what} ${ip}: ${e.message}`, true); }
  drill(ip);
}

/* --- loading and the event stream --------------------------------------------------------- */
async function load() {
  const [status, flows, threats, topology] = await Promise.all([
    api("/api/dpi/status"), api("/api/dpi/tap/flows?limit=1000"),
    api("/api/dpi/correlated?limit=200"), api("/api/dpi/topology")]);
  state.status = status; state.flows = flows.flows; state.threats = threats.threats;
  state.topology = topology;
  state.threatIds = new Set(state.threats.map(threatId));
  try { state.buffer = await api("/api/dpi/mitm/buffer"); } catch (e) { state.buffer = null; }
  drawAll();
}
function drawAll() { drawStatus(); drawProtocols(); drawRates(); drawBuffer(); drawTimeline(); drawClients(); drawTopology(); }

let refreshTimer = null, streamAbort = null, redraw = null;
function soon() { if (!redraw) redraw = setTimeout(() => { redraw = null; drawAll(); }, 300); }

function onEvent(type, data) {
  state.events++;
  let d;
  try { d = JSON.parse(data); } catch (e) { return; }
  // the header's totals and this minute's counts move with the events (the server's
  // figures replace them every 10 s)
  const k = { flow: "flows", alert: "alerts", threat: "threats", decision: "decisions" }[type];
  if (k && state.status) {
    state.status.totals[k]++;
    if (state.status.minutes.length) state.status.minutes[0][k]++;
  }
  if (type === "hello") setLive(true);
  else if (type === "flow") { state.flows.unshift(d); state.flows.length = Math.min(state.flows.length, 1000); soon(); }
  else if (type === "threat") {
    const id = threatId(d);
    if (!state.threatIds.has(id)) { state.threatIds.add(id); state.threats.unshift(d); state.threats.length = Math.min(state.threats.length, 200); }
    soon();
  } else if (type === "alert" || type === "decision") soon();
}
function setLive(on) {
  state.live = on;
  const l = document.getElementById("live");
  l.className = "dot " + (on ? "on" : "off");
  l.textContent = on ? `events: live (${state.events})` : "events: off";
}

/* SSE over fetch: "event:" and "data:" lines, a blank line ends a frame. */
async function stream() {
  for (;;) {
    streamAbort = new AbortController();
    try {
      const r = await fetch("/api/dpi/events", { headers: { Authorization: "Bearer " + state.token },
                                                 signal: streamAbort.signal, cache: "no-store" });
      if (r.status === 401) { stop(); return askToken("the token was refused (401)"); }
      if (!r.ok || !r.body) throw new Error("events: " + r.status);
      const reader = r.body.getReader(), dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i); buf = buf.slice(i + 2);
          let type = "message", data = [];
          for (const line of frame.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) onEvent(type, data.join("\n"));
          setLive(true);
        }
      }
    } catch (e) {
      if (streamAbort && streamAbort.signal.aborted && !state.token) return;
    }
    setLive(false);
    if (!state.token) return;
    await new Promise(res => setTimeout(res, 3000));     // then reconnect
  }
}
function stop() {
  state.token = null;
  if (streamAbort) streamAbort.abort();
  if (refreshTimer) clearInterval(refreshTimer);
}

async function start() {
  document.getElementById("login").hidden = true;
  document.getElementById("main").hidden = false;
  try { await load(); } catch (e) { if (e.message !== "401") document.getElementById("status").textContent = "error: " + e.message; }
  if (!state.token) return;
  stream();
  // the per-minute counts, the buffer and the topology change without events: every 10 s
  refreshTimer = setInterval(async () => {
    try {
      state.status = await api("/api/dpi/status");
      state.topology = await api("/api/dpi/topology");
      state.buffer = await api("/api/dpi/mitm/buffer").catch(() => state.buffer);
      drawAll();
    } catch (e) { /* shown at the next success */ }
  }, 10000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", e => {
    e.preventDefault();
    const t = document.getElementById("token").value.trim();
    if (!t) return;
    sessionStorage.setItem("dpi-dual-token", t);
    document.getElementById("token").value = "";
    state.token = t;
    start();
  });
  document.getElementById("forget").addEventListener("click", () => {
    sessionStorage.removeItem("dpi-dual-token"); stop(); askToken("");
  });
  document.getElementById("drill-form").addEventListener("submit", e => { e.preventDefault(); drill(); });
  document.getElementById("drill-ban").addEventListener("click", () => action("ban"));
  document.getElementById("drill-unban").addEventListener("click", () => action("unban"));
  document.getElementById("drill-replay").addEventListener("click", () => action("replay"));
  // a #token= given to an open page (no reload) is taken too
  window.addEventListener("hashchange", () => {
    if (!/token=/.test(location.hash)) return;
    stop();
    state.token = takeToken();
    if (state.token) start();
  });
  state.token = takeToken();
  if (state.token) start(); else askToken("");
});
