"""dpi_bridge.py — mitmproxy addon: hands every HTTP request, response and error
to dpi-bridge-mitm and applies its live verdict.

Contract: bridge-mitm/PROTOCOL.md (version 1). JSON records over a unix
SOCK_DGRAM socket, several per datagram (newline-separated): the request records
of one turn of mitmproxy's event loop go together when the turn is over, the
response and error records ride after them (or at most BATCH_DELAY_S later on
their own); the answers to one datagram come back in one. The addon binds its own abstract address
(autobind) so the bridge can answer verdict requests. Sending never blocks: a
record that cannot be sent now (queue full, no bridge) is dropped and counted
(`undelivered`). A verdict that does not arrive within the deadline, or is
unreadable, lets the request through (`fail_open`).

The client tuple comes from HAProxy's headers only when the TCP peer is a
trusted proxy (dpi_trusted_proxies); otherwise it is the TCP peer itself.

Written for mitmproxy 8.1 (Debian 12); standard library only. Options:
  dpi_socket               bridge socket path ("" = /run/dpi-dual/bridge-mitm.sock)
  dpi_trusted_proxies      comma-separated addresses/CIDRs (mitm.trusted_proxies)
  dpi_verdict_deadline_ms  live verdict deadline (mitm.verdict_deadline_ms)
  dpi_verdict              ask for a live verdict (false: records only)
  dpi_body_bytes           body window: the first bytes of each request body sent
                           (mitm.body_bytes, 0..32768)
  dpi_stats_file           JSON counters written atomically ("" = none)
  dpi_stats_interval       seconds between stats file writes
"""
import asyncio
import base64
import collections
import errno
import hashlib
import ipaddress
import json
import logging
import operator
import os
import socket
import time

from mitmproxy import ctx, hooks, http

PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/run/dpi-dual/bridge-mitm.sock"

# Bounds from PROTOCOL.md; RECORD_MAX is the bridge's default max_record_bytes
# minus a margin, so a record is never rejected for its size (the bridge warns
# when configured below it: BRIDGE_ADDON_RECORD_MAX in bridge-mitm/bridge.h).
MAX_HEADERS = 64
MAX_NAME_BYTES = 256
MAX_VALUE_BYTES = 4096
MAX_TARGET_BYTES = 8192         # path + query
MAX_BODY_BYTES = 32768          # the largest body window (before base64)
DEFAULT_BODY_BYTES = 16384      # mitm.body_bytes' default
MAX_SHORT_BYTES = 256           # request id, TLS fields
MAX_TEXT_BYTES = 4096           # host, error text
MAX_METHOD_BYTES = 32
MAX_ID_BYTES = 64               # flow id
MAX_VERSION_BYTES = 16          # http_version, scheme
RECORD_MAX = 65536 - 1024
HEADER_BUDGETS = (48 * 1024, 16 * 1024, 4 * 1024, 0)   # total header bytes, tried in turn,
                                # then the body window is narrowed (_fit_headers)
MAX_ANSWER_BYTES = 65536        # a datagram of answers (the bridge's are under 16 KiB)
PROXIED_VIEWS = 256             # per connection from a trusted proxy (_proxied_view)
BATCH_BYTES = 16384             # a datagram carrying several records stays under this
BATCH_DELAY_S = 0.005           # the longest a response/error record waits for a ride
LOG_INTERVAL_S = 60.0

COUNTERS = ("sent", "undelivered", "verdict_allow", "verdict_block", "fail_open",
            "bad_answers", "late_answers", "truncated", "proxy_header_errors")


def _cut(data, limit):
    """(text, cut?) — DATA (bytes or str) as text of at most LIMIT bytes of UTF-8.
    Invalid UTF-8 and NUL (which the bridge rejects) become U+FFFD first; a
    cut never splits a character."""
    # the usual case, short printable ASCII, without a round trip
    if len(data) <= limit and data.isascii() and ("\0" if isinstance(data, str) else b"\0") not in data:
        return (data if isinstance(data, str) else data.decode("ascii")), False
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    text = data.decode("utf-8", "replace").replace("\0", "\ufffd")
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text, False
    return raw[:limit].decode("utf-8", "ignore"), True


_MAPPED = b"\0" * 10 + b"\xff\xff"


def _ip(text):
    """The canonical text of an IP address (IPv4-mapped IPv6 as IPv4), or None.
    (inet_pton/inet_ntop: the ipaddress module costs ~20 us a call.)"""
    try:
        text = text.strip().strip("[]")
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except (OSError, AttributeError, TypeError, ValueError):
        pass
    try:
        raw = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, AttributeError, TypeError, ValueError):
        return None
    if raw[:12] == _MAPPED:
        return socket.inet_ntop(socket.AF_INET, raw[12:])
    return socket.inet_ntop(socket.AF_INET6, raw)


_PROXY_HEADERS = frozenset((b"x-forwarded-for", b"x-client-port", b"x-frontend-ip",
                            b"x-frontend-port", b"x-request-id", b"x-tls-version",
                            b"x-tls-cipher", b"x-tls-sni", b"x-tls-alpn"))


def _proxy_pairs(fields):
    """HAProxy's headers among FIELDS (bytes pairs), in one pass: ((lowercase
    name, value), ...) but X-Request-ID, and the X-Request-ID values apart."""
    pairs, rids = [], []
    for name, value in fields:
        if len(name) <= 15 and name[:2] in (b"X-", b"x-"):
            low = name.lower()
            if low == b"x-request-id":
                rids.append(value)
            elif low in _PROXY_HEADERS:
                pairs.append((low, value))
    return tuple(pairs), rids


def _group(pairs):
    """{lowercase name: [values...]} of PAIRS, values as text, as mitmproxy's
    Headers holds them."""
    found = {}
    for name, value in pairs:
        found.setdefault(name.decode("ascii"), []).append(
            value.decode("utf-8", "surrogateescape"))
    return found


def _one(found, name):
    """The value of header NAME as mitmproxy's Headers.get gives it: every
    occurrence joined with ", "; "" when absent."""
    values = found.get(name)
    return ", ".join(values) if values else ""


def _port(text):
    try:
        port = int(text.strip(), 10)
    except (ValueError, AttributeError):
        return None
    return port if 0 <= port <= 65535 else None


def _addr(address):
    """(ip, port) from a socket address tuple (2 or 4 elements), or ("", 0)."""
    if not address:
        return "", 0
    return _ip(str(address[0])) or "", int(address[1])


class DpiBridge:
    def __init__(self):
        self.stats = dict.fromkeys(COUNTERS, 0)
        self.sock = None
        self.loop = None
        self.pending = {}            # flow id -> future of the answer (dict)
        self.trusted = []            # ip_network list
        self.trusted_cache = {}      # ip text -> trusted?
        self.conns = {}              # client connection id -> its view (see _conn_view)
        self.ask = True              # dpi_verdict
        self.deadline_s = 0.002      # dpi_verdict_deadline_ms / 1000
        self.body_bytes = DEFAULT_BODY_BYTES   # dpi_body_bytes
        self.deadlines = collections.deque()   # (loop time, future) of the waiting verdicts
        self.sweeper = None          # the timer of _sweep
        self.target = DEFAULT_SOCKET
        self.target_real = os.path.realpath(DEFAULT_SOCKET)
        self.connected = False       # sock connected to target (see _deliver)
        self.outbox = []             # (request record, future or None) to send (_post)
        self.outbox_due = False      # _send_outbox is scheduled
        self.backlog = []            # encoded response/error records waiting (see _queue)
        self.backlog_bytes = 0
        self.backlog_since = 0.0     # time.monotonic() when the oldest waiting record came
        self.backlog_timer = None
        self.task = None
        self.last_log = time.monotonic()
        self.last_warn = 0.0

    # ---- mitmproxy hooks: options and lifecycle -------------------------

    def load(self, loader):
        _no_module_hooks()
        loader.add_option("dpi_socket", str, "",
                          "dpi-bridge-mitm socket path (mitm.socket); "
                          f'"" = {DEFAULT_SOCKET}.')
        loader.add_option("dpi_trusted_proxies", str, "127.0.0.1,::1",
                          "Comma-separated proxy addresses (or CIDRs) whose X-Forwarded-For, "
                          "X-Client-Port, X-Frontend-*, X-Request-ID and X-TLS-* headers "
                          "are trusted (mitm.trusted_proxies).")
        loader.add_option("dpi_verdict_deadline_ms", int, 2,
                          "Milliseconds to wait for the live verdict before letting the "
                          "request through (mitm.verdict_deadline_ms).")
        loader.add_option("dpi_verdict", bool, True,
                          "Ask dpi-bridge-mitm for a live verdict on every request.")
        loader.add_option("dpi_body_bytes", int, DEFAULT_BODY_BYTES,
                          "Body window: the first bytes of each request body sent to "
                          f"dpi-bridge-mitm (mitm.body_bytes, 0..{MAX_BODY_BYTES}); "
                          "body.truncated says the body was longer.")
        loader.add_option("dpi_stats_file", str, "",
                          "Write the addon's counters as JSON to this file (atomically); "
                          '"" = none.')
        loader.add_option("dpi_stats_interval", int, 10,
                          "Seconds between writes of dpi_stats_file.")

    def configure(self, updated):
        if "dpi_socket" in updated:
            self.target = ctx.options.dpi_socket or DEFAULT_SOCKET
            self.target_real = os.path.realpath(self.target)
            self.connected = False
        if "dpi_trusted_proxies" in updated:
            nets = []
            for item in ctx.options.dpi_trusted_proxies.split(","):
                item = item.strip()
                if not item:
                    continue
                try:
                    net = ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"dpi_trusted_proxies: not an address: {item!r}")
                nets.append(net)
            self.trusted = nets
            self.trusted_cache = {}
        if "dpi_verdict_deadline_ms" in updated:
            if not 1 <= ctx.options.dpi_verdict_deadline_ms <= 1000:
                raise ValueError("dpi_verdict_deadline_ms: must be 1..1000")
            self.deadline_s = ctx.options.dpi_verdict_deadline_ms / 1000.0
        if "dpi_verdict" in updated:
            self.ask = bool(ctx.options.dpi_verdict)
        if "dpi_body_bytes" in updated:
            if not 0 <= ctx.options.dpi_body_bytes <= MAX_BODY_BYTES:
                raise ValueError(f"dpi_body_bytes: must be 0..{MAX_BODY_BYTES}")
            self.body_bytes = ctx.options.dpi_body_bytes
        if "dpi_stats_interval" in updated:
            if ctx.options.dpi_stats_interval < 1:
                raise ValueError("dpi_stats_interval: must be >= 1")

    def running(self):
        self._open()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._periodic())

    def done(self):
        if self.task is not None:
            self.task.cancel()
            self.task = None
        for fut in self.pending.values():
            if not fut.done():
                fut.cancel()
        self.pending.clear()
        self.deadlines.clear()
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        if self.backlog_timer is not None:
            self.backlog_timer.cancel()
            self.backlog_timer = None
        self._send_outbox()
        self._log_stats("final")
        self._write_stats()
        if self.sock is not None:
            if self.loop is not None:
                try:
                    self.loop.remove_reader(self.sock.fileno())
                except Exception:
                    pass
            self.sock.close()
            self.sock = None

    # ---- mitmproxy hooks: traffic ---------------------------------------

    async def request(self, flow):
        try:
            ask = self.ask              # (options read once, in configure)
            data, truncated = self._request_data(flow, ask)
            if truncated:
                self.stats["truncated"] += 1
            if not self._open():
                self.stats["undelivered"] += 1
                if ask:
                    self.stats["fail_open"] += 1
                return
            if not ask:
                self._post(data, None)
                return
            fut = self.loop.create_future()
            self.pending[flow.id] = fut
            try:
                self._post(data, fut)
                answer = await fut
            finally:
                self.pending.pop(flow.id, None)
            if answer is None:          # the deadline passed, or the send failed
                self.stats["fail_open"] += 1
                return
            self._apply(flow, answer)
        except asyncio.CancelledError:
            raise
        except Exception as e:      # never raise into mitmproxy: fail open
            self.stats["fail_open"] += 1
            self._warn(f"dpi_bridge: request hook failed: {e!r}")

    def response(self, flow):
        try:
            self._queue(*self._response_data(flow))
        except Exception as e:
            self._warn(f"dpi_bridge: response hook failed: {e!r}")

    def error(self, flow):
        try:
            record, data = self._error_record(flow)
            self._queue(data, record.get("truncated", False))
        except Exception as e:
            self._warn(f"dpi_bridge: error hook failed: {e!r}")

    # ---- the verdict ------------------------------------------------------

    def _sweep(self):
        """The verdict deadline: every request still waiting past it goes on
        without an answer. One timer for all of them, at the oldest waiting
        deadline (the deadline is the same for all: the queue is in order),
        rather than a timer made and cancelled per request."""
        self.sweeper = None
        now = self.loop.time()
        queue = self.deadlines
        expired = []
        while queue and queue[0][0] <= now:
            fut = queue.popleft()[1]
            if not fut.done():
                expired.append(fut)
        if expired:
            self._on_readable()         # answers already there count (a long turn of the loop)
            for fut in expired:
                if not fut.done():
                    fut.set_result(None)
        if queue:
            self.sweeper = self.loop.call_at(queue[0][0], self._sweep)

    def _apply(self, flow, answer):
        action = answer.get("action")
        if action == "allow":
            self.stats["verdict_allow"] += 1
            return
        if action != "block":
            self.stats["bad_answers"] += 1
            self.stats["fail_open"] += 1
            return
        self.stats["verdict_block"] += 1
        reason = answer.get("reason")
        rule_id = answer.get("rule_id")
        reason = _header_token(reason if isinstance(reason, str) and reason else "blocked")
        marker = reason
        if isinstance(rule_id, str) and rule_id:
            marker += "; rule=" + _header_token(rule_id)
        flow.response = http.Response.make(
            403, b"Forbidden by dpi-dual (" + marker.encode() + b")\n",
            {"Content-Type": "text/plain", "X-DPI-Dual-Block": marker})

    def _on_readable(self):
        """Reader callback: dispatch the queued answers to their futures by id
        (a datagram holds the answers to one datagram of requests, one per
        line). It stops once every waiting request has its answer rather than
        read on until the socket says EAGAIN: with one datagram per callback,
        the usual case, that is one recvfrom instead of two. Anything left (a
        late or stray datagram) keeps the socket readable: the loop calls
        again."""
        waiting = sum([not fut.done() for fut in self.pending.values()])
        while self.sock is not None:
            try:
                data, source = self.sock.recvfrom(MAX_ANSWER_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            # Our abstract address can be reached by anyone on the host: accept
            # answers only from the bridge's own (filesystem) socket, the path it
            # bound (the same file under another spelling is fine).
            if source != self.target and not (
                    isinstance(source, str) and source.startswith("/")
                    and os.path.realpath(source) == self.target_real):
                self.stats["bad_answers"] += 1
                continue
            for line in data.split(b"\n"):
                if self._answer(line):
                    waiting -= 1
            if waiting <= 0:
                return

    def _answer(self, data):
        """One answer: its future gets it; True if one was waiting for it."""
        if data.startswith(_ALLOW_HEAD) and data.endswith(_ALLOW_TAIL):
            fid = data[len(_ALLOW_HEAD):-len(_ALLOW_TAIL)]
            if not _json_unsafe(fid):   # else: json.loads says what it is
                fut = self.pending.get(fid.decode("ascii"))
                if fut is None or fut.done():
                    self.stats["late_answers"] += 1
                    return False
                fut.set_result(_ALLOW)
                return True
        try:
            answer = json.loads(data.decode("utf-8"))
            if (not isinstance(answer, dict) or answer.get("v") != PROTOCOL_VERSION
                    or not isinstance(answer.get("id"), str)):
                raise ValueError("not a version 1 answer")
        except (ValueError, UnicodeDecodeError):
            self.stats["bad_answers"] += 1
            return False
        fut = self.pending.get(answer["id"])
        if fut is None or fut.done():
            self.stats["late_answers"] += 1
            return False
        fut.set_result(answer)
        return True

    # ---- the socket -------------------------------------------------------

    def _open(self):
        """Creates the socket on first use (in the event loop); True when usable."""
        if self.sock is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind("")               # Linux autobind: an abstract address
            loop.add_reader(sock.fileno(), self._on_readable)
        except OSError as e:
            self._warn(f"dpi_bridge: cannot create the socket: {e}")
            return False
        self.sock, self.loop = sock, loop
        return True

    def _post(self, data, fut):
        """Queues a request record (FUT: the future of its answer, or None)
        for the datagram sent when this turn of the event loop is over
        (_send_outbox, by call_soon): under load mitmproxy brings several
        requests to their hook in one turn (at 16 connections, 5 to 16 most
        of the time), and they share one datagram, one wakeup of the bridge,
        and one datagram of answers: two syscalls for them all instead of two
        each."""
        self.outbox.append((data, fut))
        if not self.outbox_due:
            self.outbox_due = True
            self.loop.call_soon(self._send_outbox)

    def _send_outbox(self):
        """Sends the queued request records, then the response/error records
        waiting for a ride, in datagrams of at most BATCH_BYTES (a bigger
        record alone); never blocks. The verdicts asked in a datagram the
        kernel refused go on at once (fail open). The one way out for every
        record: at the end of a turn, when the backlog is full or due, at done."""
        self.outbox_due = False
        items = self.outbox + [(data, None) for data in self.backlog]
        self.outbox = []
        self._clear_backlog()
        chunk, futs, size = [], [], 0
        for data, fut in items:
            if chunk and size + len(data) + 1 > BATCH_BYTES:
                self._send_chunk(chunk, futs)
                chunk, futs, size = [], [], 0
            chunk.append(data)
            size += len(data) + 1
            if fut is not None and not fut.done():    # (done: cancelled at done())
                futs.append(fut)
        if chunk:
            self._send_chunk(chunk, futs)

    def _send_chunk(self, chunk, futs):
        """One datagram; the deadline of its verdicts runs from now: the
        bridge has dpi_verdict_deadline_ms to answer (the time a record waits
        for the end of the loop's turn is mitmproxy's own work)."""
        if not self._send_datagram(b"\n".join(chunk), len(chunk)):
            for fut in futs:
                if not fut.done():
                    fut.set_result(None)
            return
        if futs:
            due = self.loop.time() + self.deadline_s
            self.deadlines.extend([(due, fut) for fut in futs])
            if self.sweeper is None:
                self.sweeper = self.loop.call_at(self.deadlines[0][0], self._sweep)

    def _queue(self, data, truncated=False):
        """Keeps an encoded response or error record for the next request's
        datagram; sent on its own when it has waited BATCH_DELAY_S (or when
        the backlog is full). One timer per BATCH_DELAY_S at most, not one per
        record: a request that takes the backlog leaves the timer running, and
        when it fires it sends only what has waited that long (_batch_due)."""
        if truncated:
            self.stats["truncated"] += 1
        if self.backlog_bytes + len(data) + 1 > BATCH_BYTES:
            self._send_outbox()
        if not self.backlog:
            self.backlog_since = time.monotonic()
        self.backlog.append(data)
        self.backlog_bytes += len(data) + 1
        if self.backlog_timer is None:
            if self._open():
                self.backlog_timer = self.loop.call_later(BATCH_DELAY_S, self._batch_due)
            else:
                self._send_outbox()

    def _batch_due(self):
        """The backlog's timer. Its oldest record may be younger than the timer
        (a request took the records it was armed for): then wait for that one's
        turn rather than send it alone now. Under load a request always comes
        first. (Sent at the timer's first due time, records younger than
        BATCH_DELAY_S went alone: at 2 connections, 1.15 datagrams a request
        instead of 0.99, each a wakeup of the bridge.)"""
        self.backlog_timer = None
        if not self.backlog:
            return
        wait = self.backlog_since + BATCH_DELAY_S - time.monotonic()
        if wait > 0:
            self.backlog_timer = self.loop.call_later(wait, self._batch_due)
            return
        self._send_outbox()

    def _clear_backlog(self):
        self.backlog = []
        self.backlog_bytes = 0

    def _send_datagram(self, data, count):
        """One datagram of COUNT records; counted per record."""
        if not self._open():
            self.stats["undelivered"] += count
            return False
        try:
            self._deliver(data)
        except OSError as e:
            # EAGAIN: the bridge's queue is full; ENOENT / ECONNREFUSED: no bridge
            self.stats["undelivered"] += count
            if e.errno not in (errno.EAGAIN, errno.ENOENT, errno.ECONNREFUSED):
                self._warn(f"dpi_bridge: send to {self.target}: {e}")
            return False
        self.stats["sent"] += count
        return True

    def _deliver(self, data):
        """Sends DATA on the socket connected to the bridge, connecting first
        (a connected socket saves the kernel a path lookup per datagram).
        A bridge that restarted has a new socket at the same path: the old
        connection refuses, so connect again once. Raises OSError."""
        if not self.connected:
            self.sock.connect(self.target)
            self.connected = True
        try:
            self.sock.send(data)
        except (ConnectionRefusedError, OSError) as e:
            if e.errno not in (errno.ECONNREFUSED, errno.ENOTCONN):
                raise
            self.connected = False
            self.sock.connect(self.target)
            self.connected = True
            self.sock.send(data)

    # ---- records ----------------------------------------------------------

    def _trusted(self, ip):
        known = self.trusted_cache.get(ip)
        if known is not None:
            return known
        try:
            addr = ipaddress.ip_address(ip)
            known = any(addr.version == n.version and addr in n for n in self.trusted)
        except ValueError:
            known = False
        if len(self.trusted_cache) >= 4096:
            self.trusted_cache.clear()
        self.trusted_cache[ip] = known
        return known

    def _conn_view(self, conn):
        """What the client-side view of CONN's flows share: the TCP peer and
        the listening address, and whether the peer is a trusted proxy. Made
        once per connection (dropped at client_disconnected)."""
        view = self.conns.get(conn.id)
        if view is None:
            peer_ip, peer_port = _addr(conn.peername)
            listen_ip, listen_port = _addr(conn.sockname)
            view = {
                "client": {"ip": peer_ip, "port": peer_port, "from_proxy": False},
                "frontend": {"ip": listen_ip, "port": listen_port},
                "peer": {"ip": peer_ip, "port": peer_port},
                "request_id": "",
                "tls": None,
                "trusted": self._trusted(peer_ip),
                "proxied": {},          # see _proxied_view
            }
            if len(self.conns) >= 65536:    # a missed disconnect must not grow it
                self.conns.clear()
            self.conns[conn.id] = view
        return view

    def client_disconnected(self, client):
        self.conns.pop(client.id, None)

    def _tuple(self, flow):
        """The client-side view of FLOW, computed once and kept in its
        metadata: the connection's (shared by its flows) unless the peer is a
        trusted proxy, whose headers name each request's own client."""
        view = flow.metadata.get("dpi_bridge")
        if view is not None:
            return view
        view = self._conn_view(flow.client_conn)
        if view["trusted"]:
            view = self._proxied_view(view, flow.request.headers.fields)
        flow.metadata["dpi_bridge"] = view
        return view

    def _proxied_view(self, conn_view, fields):
        """The view of a request a trusted proxy forwards: its headers name
        the client, the frontend and TLS. What they give is worked out once
        per connection and set of values (a client sends many requests, and
        HAProxy gives each of them the same headers but X-Request-ID, the
        request's own): kept with the connection's view, at most
        PROXIED_VIEWS of them."""
        key, rids = _proxy_pairs(fields)
        known = conn_view["proxied"]
        shared = known.get(key)
        if shared is None:
            shared = self._proxy_headers_view(conn_view, key)
            if len(known) >= PROXIED_VIEWS:
                known.clear()
            known[key] = shared
        self.stats["proxy_header_errors"] += shared["errors"]
        if not rids:
            return shared
        raw = rids[0]
        if len(rids) == 1 and len(raw) <= MAX_SHORT_BYTES and not _json_unsafe(raw):
            rid, rid_json = raw.decode("ascii"), b'"%s"' % raw     # the usual case
        else:
            rid = _cut(", ".join([v.decode("utf-8", "surrogateescape") for v in rids]),
                       MAX_SHORT_BYTES)[0]
            rid_json = _request_id_json(rid)
        view = dict(shared, request_id=rid)
        view["json"] = (rid_json,) + _fragments(shared)[1:]
        return view

    def _proxy_headers_view(self, conn_view, pairs):
        """The view HAProxy's headers PAIRS (lowercase name, value; no
        X-Request-ID) give, with the count of missing or bad client headers."""
        h = _group(pairs)
        view = {key: conn_view[key] for key in ("client", "frontend", "peer", "trusted")}
        view.update(request_id="", json=None, errors=0)
        xff = h.get("x-forwarded-for")
        ip = _ip(xff[-1].split(",")[-1]) if xff else None
        if ip is None:
            view["errors"] += 1
        else:
            port = _port(_one(h, "x-client-port"))
            if port is None:
                view["errors"] += 1
            view["client"] = {"ip": ip, "port": port or 0, "from_proxy": True}
        fip = _ip(_one(h, "x-frontend-ip"))
        fport = _port(_one(h, "x-frontend-port"))
        if fip is not None and fport is not None:
            view["frontend"] = {"ip": fip, "port": fport}
        tls = {}
        for key, name in (("version", "x-tls-version"), ("cipher", "x-tls-cipher"),
                          ("sni", "x-tls-sni"), ("alpn", "x-tls-alpn")):
            value = _one(h, name)
            if value:
                tls[key] = _cut(value, MAX_SHORT_BYTES)[0]
        view["tls"] = tls or None
        return view

    # The records as JSON bytes. The usual case (ASCII without control bytes,
    # only the headers' quotes and backslashes to escape, nothing over a bound) is written straight from the bytes
    # mitmproxy holds: exactly what json.dumps writes for the record the
    # general functions below build (tests/mitm/test_addon.py checks it),
    # at a fraction of the cost. Anything else takes the general path.

    def _request_data(self, flow, ask):
        """(encoding of the request record, truncated?)."""
        data = self._request_fast(flow, ask)
        if data is not None:
            return data, False
        record, data = self._request_record(flow, ask)
        return data, record["truncated"]

    def _response_data(self, flow):
        """(encoding of the response record, truncated?)."""
        data = self._response_fast(flow)
        if data is not None:
            return data, False
        record, data = self._response_record(flow)
        return data, record["truncated"]

    def _request_fast(self, flow, ask):
        req = flow.request
        d = req.data
        ts = d.timestamp_start
        fields = d.headers.fields
        if d.http_version == b"HTTP/2.0":
            host = (req.host_header or "").encode("utf-8", "surrogateescape")
        else:                           # Headers.get("Host") without decoding
            host = b", ".join([v for n, v in fields if len(n) == 4 and n.lower() == b"host"])
        fid = flow.id.encode("utf-8", "surrogateescape")
        if (type(ts) not in (float, int) or len(d.path) >= MAX_TARGET_BYTES
                or len(d.method) > MAX_METHOD_BYTES or len(d.http_version) > MAX_VERSION_BYTES
                or len(host) > MAX_TEXT_BYTES or len(fid) > MAX_ID_BYTES
                or _json_unsafe(b"".join((d.path, d.method, d.http_version, host, fid)))):
            return None
        headers = _headers_fast(fields)
        if headers is None:
            return None
        view = self._tuple(flow)
        frag = _fragments(view)
        scheme = b"https" if view["tls"] and view["tls"].get("version") else req.scheme.encode()
        path, _, query = d.path.partition(b"?")
        body = d.content or b""
        cut = len(body) > self.body_bytes
        data = _REQUEST % (
            fid, frag[0], repr(ts).encode(), frag[1], frag[2], d.method, scheme, host, path,
            query, d.http_version, headers, len(body),
            hashlib.sha256(body).hexdigest().encode() if body else _EMPTY_SHA256,
            base64.b64encode(body[:self.body_bytes] if cut else body) if body else b"",
            b"true" if cut else b"false", b"true" if ask else b"false", frag[3])
        return data if len(data) <= RECORD_MAX and not _json_unsafe(scheme) else None

    def _response_fast(self, flow):
        resp = flow.response
        d = resp.data
        end = resp.timestamp_end or time.time()
        fid = flow.id.encode("utf-8", "surrogateescape")
        fields = d.headers.fields
        if type(end) not in (float, int) or len(fid) > MAX_ID_BYTES or _json_unsafe(fid):
            return None
        headers = _headers_fast(fields)
        if headers is None:
            return None
        frag = _fragments(self._tuple(flow))
        head = len(d.http_version) + len(d.reason) + 7 + 2
        head += sum(len(k) + len(v) + 4 for k, v in fields)
        data = _RESPONSE % (
            fid, frag[0], repr(end).encode(), frag[1], d.status_code, headers,
            len(d.content or b""), head,
            max(0, int((end - flow.request.data.timestamp_start) * 1e6)))
        return data if len(data) <= RECORD_MAX else None

    def _request_record(self, flow, ask):
        req = flow.request
        view = self._tuple(flow)
        target = req.data.path or b""
        path, _, query = target.partition(b"?")
        path, cut1 = _cut(path, MAX_TARGET_BYTES)
        query, cut2 = _cut(query, MAX_TARGET_BYTES - len(path.encode()))
        method, cut3 = _cut(req.data.method, MAX_METHOD_BYTES)
        host, cut4 = _cut(req.host_header or "", MAX_TEXT_BYTES)
        truncated = cut1 or cut2 or cut3 or cut4
        body = req.raw_content or b""
        window = body[:self.body_bytes]
        scheme = "https" if view["tls"] and view["tls"].get("version") else req.scheme
        record = {
            "v": PROTOCOL_VERSION, "type": "request", "id": flow.id,
            "request_id": view["request_id"], "ts": req.timestamp_start,
            "client": view["client"], "frontend": view["frontend"], "peer": view["peer"],
            "method": method, "scheme": scheme, "host": host, "path": path, "query": query,
            "http_version": _cut(req.data.http_version, MAX_VERSION_BYTES)[0],
            "headers": None,
            "body": {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                     "prefix": base64.b64encode(window).decode("ascii"),
                     "truncated": len(window) < len(body)},
            "verdict": ask, "truncated": truncated,
        }
        if view["tls"]:
            record["tls"] = view["tls"]
        return _fit_headers(record, req.headers.fields)

    def _response_record(self, flow):
        resp = flow.response
        view = self._tuple(flow)
        fields = resp.headers.fields
        head = len(resp.data.http_version) + len(resp.data.reason) + 7 + 2
        head += sum(len(k) + len(v) + 4 for k, v in fields)
        end = resp.timestamp_end or time.time()
        record = {
            "v": PROTOCOL_VERSION, "type": "response", "id": flow.id,
            "request_id": view["request_id"], "ts": end,
            "client": view["client"], "frontend": view["frontend"],
            "status": resp.status_code, "headers": None,
            "body": {"length": len(resp.raw_content or b"")}, "header_bytes": head,
            "latency_us": max(0, int((end - flow.request.timestamp_start) * 1e6)),
            "truncated": False,
        }
        return _fit_headers(record, fields)

    def _error_record(self, flow):
        view = self._tuple(flow)
        msg, cut = _cut(flow.error.msg if flow.error else "error", MAX_TEXT_BYTES)
        record = {
            "v": PROTOCOL_VERSION, "type": "error", "id": flow.id,
            "request_id": view["request_id"],
            "ts": flow.error.timestamp if flow.error else time.time(),
            "client": view["client"], "frontend": view["frontend"], "error": msg,
        }
        if cut:
            record["truncated"] = True
        return record, record_bytes(record)

    # ---- counters ---------------------------------------------------------

    async def _periodic(self):
        while True:
            await asyncio.sleep(ctx.options.dpi_stats_interval)
            try:
                self._write_stats()
                if time.monotonic() - self.last_log >= LOG_INTERVAL_S:
                    self._log_stats("counters")
            except Exception as e:
                self._warn(f"dpi_bridge: stats: {e!r}")

    def _log_stats(self, what):
        self.last_log = time.monotonic()
        _log("info", "dpi_bridge %s: %s" % (
            what, " ".join(f"{k}={v}" for k, v in self.stats.items())))

    def _write_stats(self):
        path = ctx.options.dpi_stats_file
        if not path:
            return
        data = dict(self.stats, pending=len(self.pending), ts=time.time())
        tmp = f"{path}.tmp.{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                json.dump(data, f)
                f.write("\n")
            os.replace(tmp, path)
        except OSError as e:
            self._warn(f"dpi_bridge: cannot write {path}: {e}")

    def _warn(self, text):
        now = time.monotonic()
        if now - self.last_warn >= LOG_INTERVAL_S:
            self.last_warn = now
            _log("warn", text)


def _log(level, text):
    """mitmproxy 8's event log (ctx.log); the logging module where ctx.log is gone."""
    log = getattr(ctx, "log", None)
    if log is not None:
        getattr(log, level)(text)
    else:
        logging.getLogger("dpi_bridge").log(
            logging.WARNING if level == "warn" else logging.INFO, text)


def _header_token(text):
    """TEXT made safe for a header value: printable ASCII, bounded."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:128])


def record_bytes(record):
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogateescape")


# The bytes JSON writes as they are (json.dumps: printable ASCII and DEL) and
# the test of a byte string for any other: what is left once they are deleted
# (b"" when none; bytes.translate is a quarter of a regex search's cost).
_JSON_PLAIN = bytes(range(0x20, 0x80))
_JSON_BARE = _JSON_PLAIN.replace(b'"', b"").replace(b"\\", b"")


def _json_unsafe(data):
    """Non-empty if DATA (bytes) has a byte JSON would escape: control, '"', '\\', non-ASCII."""
    return data.translate(None, _JSON_BARE)


def _json_control(data):
    """Non-empty if DATA (bytes) has a control or non-ASCII byte."""
    return data.translate(None, _JSON_PLAIN)


_ALLOW_HEAD, _ALLOW_TAIL = b'{"v":1,"id":"', b'","action":"allow"}'     # bridge.c format_reply
_ALLOW = {"v": PROTOCOL_VERSION, "action": "allow"}
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest().encode()
_REQUEST = (b'{"v":1,"type":"request","id":"%s","request_id":%s,"ts":%s,%s,"peer":%s,'
            b'"method":"%s","scheme":"%s","host":"%s","path":"%s","query":"%s",'
            b'"http_version":"%s","headers":%s,'
            b'"body":{"length":%d,"sha256":"%s","prefix":"%s","truncated":%s},"verdict":%s,'
            b'"truncated":false%s}')
_RESPONSE = (b'{"v":1,"type":"response","id":"%s","request_id":%s,"ts":%s,%s,"status":%d,'
             b'"headers":%s,"body":{"length":%d},"header_bytes":%d,"latency_us":%d,'
             b'"truncated":false}')


def _fragments(view):
    """The JSON pieces of VIEW the records share, made once per view:
    (request_id, '"client":..,"frontend":..', peer, ',"tls":..' or b"").
    Addresses are canonical text (_ip) or "", ports integers."""
    frag = view.get("json")
    if frag is None:
        client, front, peer = view["client"], view["frontend"], view["peer"]
        frag = (_request_id_json(view["request_id"]),
                b'"client":{"ip":"%s","port":%d,"from_proxy":%s},"frontend":{"ip":"%s","port":%d}'
                % (client["ip"].encode(), client["port"],
                   b"true" if client["from_proxy"] else b"false",
                   front["ip"].encode(), front["port"]),
                b'{"ip":"%s","port":%d}' % (peer["ip"].encode(), peer["port"]),
                b',"tls":' + record_bytes(view["tls"]) if view["tls"] else b"")
        view["json"] = frag
    return frag


def _request_id_json(text):
    rid = text.encode("utf-8", "surrogateescape")
    return b'"%s"' % rid if not _json_unsafe(rid) else record_bytes(text)


def _headers_fast(fields):
    """The JSON of FIELDS (bytes pairs) as _fit_headers writes them when
    nothing is cut and every byte is ASCII from 0x20; None otherwise. A '"'
    or '\\' is escaped as json.dumps escapes it (browsers quote inside
    sec-ch-ua); a control or non-ASCII byte goes the general way. Checked
    on the output: '[""' is an empty name, and no name or value can be
    longer than the whole."""
    if len(fields) > MAX_HEADERS:
        return None
    # [["name","value"],...] joined in C: each pair by '","', the pairs by '"],["'
    out = b'[["' + b'"],["'.join(map(_PAIR, fields)) + b'"]]' if fields else b"[]"
    if out.count(b'"') != 4 * len(fields) or b"\\" in out:
        out = b"[" + b",".join([b'["%s","%s"]' % (_escape(name), _escape(value))
                                for name, value in fields]) + b"]"
    if (len(out) > HEADER_BUDGETS[0] or _json_control(out) or b'[""' in out
            or (len(out) > MAX_NAME_BYTES
                and max(map(len, map(_NAME, fields))) > MAX_NAME_BYTES)
            or (len(out) > MAX_VALUE_BYTES
                and max(map(len, map(_VALUE, fields))) > MAX_VALUE_BYTES)):
        return None
    return out


_PAIR = b'","'.join
_NAME, _VALUE = operator.itemgetter(0), operator.itemgetter(1)


def _escape(text):
    """TEXT (bytes) in a JSON string, when '"' and '\\' are all it has to escape."""
    return text.replace(b"\\", b"\\\\").replace(b'"', b'\\"')


def _plain_headers(fields):
    """The usual case, checked at once: every name non-empty, every name and
    value ASCII without NUL and within the count, size and first budget
    bounds — then [[name, value], ...] exactly as the general loop in
    _fit_headers would give; else None."""
    if len(fields) > MAX_HEADERS:
        return None
    names = [name for name, _ in fields]
    values = [value for _, value in fields]
    blob = b"".join(names) + b"".join(values)
    if (len(blob) > HEADER_BUDGETS[0] or not blob.isascii() or b"\0" in blob
            or not all(names) or max(map(len, names), default=0) > MAX_NAME_BYTES
            or max(map(len, values), default=0) > MAX_VALUE_BYTES):
        return None
    return [[name.decode("ascii"), value.decode("ascii")] for name, value in fields]


def _fit_headers(record, fields):
    """Fills record["headers"] from FIELDS (bytes pairs) within the bounds, then
    shrinks the header budget until the whole record fits RECORD_MAX; if it
    still does not fit (headers gone), narrows the body window of a request
    (body.truncated then true). Returns (record, its encoding)."""
    truncated = record["truncated"]
    headers = _plain_headers(fields)
    if headers is not None:
        record["headers"] = headers
        data = record_bytes(record)
        if len(data) <= RECORD_MAX:
            return record, data
    for budget in HEADER_BUDGETS:
        headers, cut = [], len(fields) > MAX_HEADERS
        left = budget
        for name, value in fields[:MAX_HEADERS]:
            n, c1 = _cut(name, MAX_NAME_BYTES)
            if not n:                   # the bridge rejects an empty name: left out, said
                cut = True
                continue
            v, c2 = _cut(value, min(MAX_VALUE_BYTES, max(0, left - len(n))))
            if len(n) > left:
                cut = True
                break
            left -= len(n) + len(v.encode())
            cut = cut or c1 or c2
            headers.append([n, v])
        record["headers"] = headers
        record["truncated"] = truncated or cut
        data = record_bytes(record)
        if len(data) <= RECORD_MAX:
            return record, data
    body = record.get("body")
    if body and body.get("prefix"):
        record, data = _narrow_body(record, data)
        if len(data) <= RECORD_MAX:
            return record, data
    # only the bounded scalars left: cannot exceed RECORD_MAX in practice
    record["truncated"] = True
    return record, record_bytes(record)


def _narrow_body(record, data):
    """RECORD (encoded as DATA, over RECORD_MAX) with its body window cut by
    what it is over: base64 of K bytes is 4 * ceil(K / 3) characters, none
    escaped, so 3 bytes fewer per 4 characters over (plus a group for the
    rounding) are enough. Returns (record, its encoding)."""
    body = record["body"]
    window = base64.b64decode(body["prefix"])
    over = len(data) - RECORD_MAX
    keep = max(0, len(window) - (over + 3) // 4 * 3 - 3)
    body["prefix"] = base64.b64encode(window[:keep]).decode("ascii")
    body["truncated"] = True
    return record, record_bytes(record)


def _no_module_hooks():
    """mitmproxy looks every event's hook up on each addon of its chain, and
    this module is one (a script: its `addons` hang below it). A name the
    module lacks costs an AttributeError raised and dropped each time: with
    8 events a request (4 hooks, 4 `update`s), about 1 % of mitmdump's
    instructions per request
    (counted with callgrind, as bench/mitm-overhead does). A module-level None is
    "no hook" at once. Called at load, when mitmdump has imported every
    module that declares hooks; what the module defines stays as it is."""
    module = globals()
    for name in list(hooks.all_hooks):
        module.setdefault(name, None)


addons = [DpiBridge()]
