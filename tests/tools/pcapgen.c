/*  dpi-pcapgen — crafted captures with known answers, for the collector tests.

    dpi-pcapgen --list                      the scenario names, one a line
    dpi-pcapgen SCENARIO OUT [EXPECT.json]  write the capture OUT, and what
                                            dpi-collector must report on it

    Every capture is deterministic (fixed addresses, ports, payloads and
    timestamps from 2023-11-14 22:13:20 UTC), written by hand — classic pcap
    (24-byte file header, 16-byte record headers, microseconds) or pcapng
    (SHB, IDB with if_tsresol 9, EPBs) — with real IPv4 header, TCP, UDP,
    ICMP and ICMPv6 checksums. Ethernet frames are padded to 60 bytes as on
    the wire. The packets of each flow are counted here as they are written:
    per direction (initiator = the sender of the first packet) the packets
    and the wire bytes (the record's original length, link header included).

    EXPECT.json (read by tests/collector/check_pcap.py) holds: the config
    the collector runs with, its exit code, text its stderr must contain,
    every decode counter of its summary line, the eviction count, and per
    flow: tuple, ip version and protocol, vlan, the nDPI "proto", the event
    sequence and end reason, packets/bytes per direction, first/last seen
    (ms) and metadata (host, HTTP, DNS). Community IDs are left to the
    checker, which computes them itself.

    Scenarios (C4 = 192.0.2.10, C6 = 2001:db8:1::10 are the clients):

    tcp-http    A: C4:40000 -> 198.51.100.20:80, SYN/SYN-ACK/ACK, GET
                /index.html?q=dpi (Host www.example.com, a User-Agent), 200
                with 1200 bytes of body, FIN both ways: HTTP, 6 + 4
                packets, DETECTED then END TCP_CLOSE — ended when B starts
                30 s later (tcp_close_timeout 10).
                B: the same over IPv6 (C6:40001 -> [2001:db8:2::20]:80,
                Host api.example.net, 404), never closed: END SHUTDOWN.
    pcapng      the tcp-http traffic as a pcapng file (nanosecond stamps).
    snaplen     One HTTP exchange whose 200 response (1200-byte body) is
                captured at 256 bytes. As decode.h says, a datagram cut by
                the capture is counted "truncated" and kept out of the flow
                (like ndpiReader): the flow has 6 + 3 packets, is HTTP from
                the request alone (found by DPI: guessed false), has no
                status, and ends (END only) still waiting for the answer.
    dns         A query + answer over IPv4 (www.example.com) and an AAAA
                over IPv6 (ipv6.example.org): DNS with dns_query, SHUTDOWN.
                A query never answered: END only, DNS (found by DPI, so
                guessed false) with its dns_query.
    vlan        One DNS tuple three times: untagged (vlan 0), 802.1Q id 100
                (priority bits set), QinQ 0x88a8 id 200 + 0x8100 id 300
                (innermost: 300): three flows. Community ID seed 4242.
    tunnels     DNS inside IP-in-IP, 6in4, 4in6 and 6in6: each classified
                on its inner tuple; bytes are the whole outer frames.
    ipv6-ext    HTTP over IPv6 with hop-by-hop + destination options before
                TCP on every packet (closed by FIN, so END SHUTDOWN at the
                end of the file), and DNS with destination options.
    fragments   A DNS TXT answer of 3066 UDP bytes in 3 IPv4 fragments and
                one of ~2000 bytes in 2 IPv6 fragments: each flow has query +
                first fragment (1 + 1 packets) and is DNS; the 3 later
                fragments are only counted ("fragments 3").
    link-raw, link-sll, link-sll2, link-null, link-ppp
                One IPv4 and one IPv6 DNS exchange on that link type (raw
                IP, Linux cooked v1/v2, BSD loopback with AF 2 / AF 30, PPP
                in HDLC framing): two DNS flows, bytes with the link header.
    link-unsupported
                An 802.11 capture: refused at open, exit 1, "not supported".
    icmp        Two ICMP echo request/reply pairs (one flow, 2 + 2, ICMP),
                the same with ICMPv6 128/129 (ICMPV6), and a one-way port
                unreachable from 192.0.2.1 (its own flow).
    idle        A DNS exchange, 10 s of silence (udp_idle_timeout 5), the
                same tuple again: two flows, the first END IDLE, the second
                END SHUTDOWN.
    update      An HTTP exchange kept open, then keep-alive ACKs 0.6, 1.2,
                1.7 and 2.4 s after detection with update_interval 1: events
                DETECTED, UPDATE, UPDATE, END (SHUTDOWN).
    evict       1100 DNS exchanges from 1100 source ports with max_flows
                1024: the 76 oldest flows END EVICTED, "76 evicted".
    malformed   Frames no decoder may trust, each counted by reason and
                never in a flow. too-short (5): Ethernet cut at 10 bytes, a
                VLAN tag cut, an IPv6 header cut at 30 bytes, an IPv6
                hop-by-hop header running past the packet, a TCP header of
                12 bytes (the IP total length ends inside it: a segment
                shorter than its header has no ports to trust). bad-ip (4):
                IPv4 IHL 3, IHL 15 in a 40-byte packet, total length 12, IP
                version 5. truncated (1): a TCP SYN cut by the snaplen
                inside its header. not-ip (1): ARP. tunnel-depth (1): 5
                nested IP-in-IP. Then one good DNS exchange: one flow.
    truncated-file
                A DNS exchange and an ICMP echo pair, then a record whose
                header promises 60 bytes of which 30 are in the file: exit
                3 (a data error), the two flows still reported (SHUTDOWN).
    empty       The file header only: exit 0, no flows, 0 packets.      */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  --------------------------------------------------------------------------
    Bytes                                                                    */

#define MAXPKT 16384

static size_t
put16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
    return 2;
}

static size_t
put32 (uint8_t *p, uint32_t v)
{
    put16 (p, (uint16_t) (v >> 16));
    put16 (p + 2, (uint16_t) v);
    return 4;
}

static uint32_t
sum16 (const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t) (p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t) p[len - 1] << 8;
    return sum;
}

static uint16_t
fold (uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t) ~sum;
}

typedef struct {
    uint8_t ver;                /* 4 or 6 */
    uint8_t a[16];
} addr_t;

static addr_t
A (const char *text)
{
    addr_t a = { 0 };
    if (inet_pton (AF_INET, text, a.a) == 1)
        a.ver = 4;
    else if (inet_pton (AF_INET6, text, a.a) == 1)
        a.ver = 6;
    else {
        fprintf (stderr, "pcapgen: bad address %s\n", text);
        exit (3);
    }
    return a;
}

/*  Transport checksum with the pseudo-header of SRC -> DST.                 */
static uint16_t
l4_checksum (const addr_t *src, const addr_t *dst, uint8_t proto, const uint8_t *seg, size_t len)
{
    uint32_t sum = 0;
    uint8_t ph[40];
    if (src->ver == 4) {
        memcpy (ph, src->a, 4);
        memcpy (ph + 4, dst->a, 4);
        ph[8] = 0;
        ph[9] = proto;
        put16 (ph + 10, (uint16_t) len);
        sum = sum16 (ph, 12, 0);
    }
    else {
        memcpy (ph, src->a, 16);
        memcpy (ph + 16, dst->a, 16);
        put32 (ph + 32, (uint32_t) len);
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = proto;
        sum = sum16 (ph, 40, 0);
    }
    uint16_t c = fold (sum16 (seg, len, sum));
    return c == 0 && proto == 17 ? 0xffff : c;
}

/*  --------------------------------------------------------------------------
    Transport and IP                                                         */

static size_t
udp (uint8_t *out, const addr_t *s, const addr_t *d, uint16_t sport, uint16_t dport,
     const uint8_t *data, size_t len)
{
    put16 (out, sport);
    put16 (out + 2, dport);
    put16 (out + 4, (uint16_t) (8 + len));
    put16 (out + 6, 0);
    if (len)
        memcpy (out + 8, data, len);
    put16 (out + 6, l4_checksum (s, d, 17, out, 8 + len));
    return 8 + len;
}

enum { FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16 };

static size_t
tcp (uint8_t *out, const addr_t *s, const addr_t *d, uint16_t sport, uint16_t dport,
     uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *data, size_t len)
{
    size_t hl = flags & SYN ? 24 : 20;      /* SYNs carry an MSS option */
    put16 (out, sport);
    put16 (out + 2, dport);
    put32 (out + 4, seq);
    put32 (out + 8, ack);
    out[12] = (uint8_t) ((hl / 4) << 4);
    out[13] = flags;
    put16 (out + 14, 64240);
    put16 (out + 16, 0);
    put16 (out + 18, 0);
    if (hl == 24) {
        out[20] = 2;
        out[21] = 4;
        put16 (out + 22, s->ver == 4 ? 1460 : 1440);
    }
    if (len)
        memcpy (out + hl, data, len);
    put16 (out + 16, l4_checksum (s, d, 6, out, hl + len));
    return hl + len;
}

/*  ICMP (SRC v4) or ICMPv6 (v6, pseudo-header) message.                     */
static size_t
icmp (uint8_t *out, const addr_t *s, const addr_t *d, uint8_t type, uint8_t code,
      uint32_t rest, const uint8_t *data, size_t len)
{
    out[0] = type;
    out[1] = code;
    put16 (out + 2, 0);
    put32 (out + 4, rest);
    if (len)
        memcpy (out + 8, data, len);
    uint16_t c = s->ver == 4 ? fold (sum16 (out, 8 + len, 0))
                             : l4_checksum (s, d, 58, out, 8 + len);
    put16 (out + 2, c);
    return 8 + len;
}

static uint16_t s_ipid = 0x4000;

/*  IPv4 header + PAYLOAD; FRAG is the flags/offset field as is.            */
static size_t
ip4 (uint8_t *out, const addr_t *s, const addr_t *d, uint8_t proto, const uint8_t *payload,
     size_t len, uint16_t id, uint16_t frag)
{
    if (len)
        memmove (out + 20, payload, len);   /* first: PAYLOAD may be OUT */
    out[0] = 0x45;
    out[1] = 0;
    put16 (out + 2, (uint16_t) (20 + len));
    put16 (out + 4, id);
    put16 (out + 6, frag);
    out[8] = 64;
    out[9] = proto;
    put16 (out + 10, 0);
    memcpy (out + 12, s->a, 4);
    memcpy (out + 16, d->a, 4);
    put16 (out + 10, fold (sum16 (out, 20, 0)));
    return 20 + len;
}

/*  IPv6 header + EXT (extension headers, first type NEXT) + PAYLOAD.      */
static size_t
ip6 (uint8_t *out, const addr_t *s, const addr_t *d, uint8_t next, const uint8_t *ext,
     size_t extlen, const uint8_t *payload, size_t len)
{
    if (len)
        memmove (out + 40 + extlen, payload, len);  /* first: PAYLOAD may be OUT */
    put32 (out, 0x60000000u);
    put16 (out + 4, (uint16_t) (extlen + len));
    out[6] = next;
    out[7] = 64;
    memcpy (out + 8, s->a, 16);
    memcpy (out + 24, d->a, 16);
    if (extlen)
        memcpy (out + 40, ext, extlen);
    return 40 + extlen + len;
}

/*  --------------------------------------------------------------------------
    Link layers and files                                                    */

typedef enum { L_ETH, L_RAW, L_SLL, L_SLL2, L_NULL, L_PPP, L_80211 } link_kind_t;

typedef struct {
    link_kind_t kind;
    int ntags;
    uint16_t tpid[2], tci[2];   /* outer first */
} link_t;

static uint32_t
linktype_of (link_kind_t k)
{
    switch (k) {
    case L_ETH: return 1;
    case L_RAW: return 101;
    case L_SLL: return 113;
    case L_SLL2: return 276;
    case L_NULL: return 0;
    case L_PPP: return 9;
    case L_80211: return 105;
    }
    return 1;
}

static const uint8_t s_mac[2][6] = {
    { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a },     /* client side */
    { 0x02, 0x00, 0x00, 0x00, 0x00, 0x14 },     /* router / server side */
};

/*  Frame the IP datagram IP (LEN) sent in direction DIR on link L.         */
static size_t
frame (uint8_t *out, const link_t *l, int dir, const uint8_t *ip, size_t len)
{
    bool v6 = (ip[0] >> 4) == 6;
    uint16_t ethertype = v6 ? 0x86dd : 0x0800;
    size_t o = 0;
    switch (l->kind) {
    case L_ETH:
        memcpy (out, s_mac[!dir], 6);
        memcpy (out + 6, s_mac[dir], 6);
        o = 12;
        for (int i = 0; i < l->ntags; i++) {
            o += put16 (out + o, l->tpid[i]);
            o += put16 (out + o, l->tci[i]);
        }
        o += put16 (out + o, ethertype);
        break;
    case L_RAW:
        break;
    case L_SLL:
        o += put16 (out, dir == 0 ? 4 : 0);            /* outgoing / to us */
        o += put16 (out + o, 1);                        /* ARPHRD_ETHER */
        o += put16 (out + o, 6);
        memcpy (out + o, s_mac[dir], 6);
        memset (out + o + 6, 0, 2);
        o += 8;
        o += put16 (out + o, ethertype);
        break;
    case L_SLL2:
        o += put16 (out, ethertype);
        o += put16 (out + o, 0);
        o += put32 (out + o, 2);                        /* ifindex */
        o += put16 (out + o, 1);
        out[o++] = dir == 0 ? 4 : 0;
        out[o++] = 6;
        memcpy (out + o, s_mac[dir], 6);
        memset (out + o + 6, 0, 2);
        o += 8;
        break;
    case L_NULL: {                                      /* host (little-endian) order */
        uint32_t family = v6 ? 30 : 2;
        out[0] = (uint8_t) family;
        out[1] = out[2] = out[3] = 0;
        o = 4;
        break;
    }
    case L_PPP:
        out[0] = 0xff;
        out[1] = 0x03;
        o = 2 + put16 (out + 2, v6 ? 0x0057 : 0x0021);
        break;
    case L_80211:
        memset (out, 0, 24);
        o = 24;
        break;
    }
    memcpy (out + o, ip, len);
    o += len;
    if (l->kind == L_ETH && o < 60) {
        memset (out + o, 0, 60 - o);
        o = 60;
    }
    return o;
}

/*  What the collector must report about one flow.                           */
typedef struct {
    char src[64], dst[64];
    uint16_t sport, dport, vlan;
    uint8_t ipv, proto;
    uint8_t icmp_type, icmp_code;   /* of the first packet (Community ID) */
    const char *app, *events, *end;
    bool guessed;
    char meta[8][2][160];       /* key, JSON value */
    int nmeta;
    uint64_t packets[2], bytes[2], first_us, last_us;
} xflow_t;

#define MAX_XFLOWS 1200

typedef struct {
    FILE *f;
    bool ng;
    link_t link;
    uint64_t now_us;
    uint64_t frames, bytes;
    xflow_t flows[MAX_XFLOWS];
    int nflows;
    /* file-level expectations */
    int exit_code;
    const char *config;
    unsigned seed;
    uint64_t counters[8];       /* the "not decoded" reasons, then "fragments" */
    uint64_t evicted;
    const char *stderr_has[4];
    int nstderr;
    bool truncated;
} gen_t;

enum { C_TOO_SHORT, C_NOT_IP, C_BAD_IP, C_FRAGMENT, C_TUNNEL_DEPTH, C_BAD_LINK, C_TRUNCATED,
       C_FRAGMENTS, C_COUNT };
static const char *s_counter_names[] = { "too-short", "not-ip", "bad-ip", "fragment",
                                         "tunnel-depth", "bad-link", "truncated", "fragments" };

static void
wr (gen_t *g, const void *p, size_t n)
{
    if (fwrite (p, 1, n, g->f) != n) {
        perror ("pcapgen: write");
        exit (3);
    }
}

static void
le16 (gen_t *g, uint16_t v)
{
    uint8_t b[2] = { (uint8_t) v, (uint8_t) (v >> 8) };
    wr (g, b, 2);
}

static void
le32 (gen_t *g, uint32_t v)
{
    le16 (g, (uint16_t) v);
    le16 (g, (uint16_t) (v >> 16));
}

static void
file_header (gen_t *g)
{
    uint32_t lt = linktype_of (g->link.kind);
    if (!g->ng) {
        le32 (g, 0xa1b2c3d4);
        le16 (g, 2);
        le16 (g, 4);
        le32 (g, 0);                /* thiszone */
        le32 (g, 0);                /* sigfigs */
        le32 (g, 262144);           /* snaplen */
        le32 (g, lt);
        return;
    }
    /* Section Header Block */
    le32 (g, 0x0a0d0d0a);
    le32 (g, 28);
    le32 (g, 0x1a2b3c4d);
    le16 (g, 1);
    le16 (g, 0);
    le32 (g, 0xffffffff);           /* section length: unknown */
    le32 (g, 0xffffffff);
    le32 (g, 28);
    /* Interface Description Block, if_tsresol = 9 (nanoseconds) */
    le32 (g, 1);
    le32 (g, 32);
    le16 (g, (uint16_t) lt);
    le16 (g, 0);
    le32 (g, 262144);
    le16 (g, 9);                    /* if_tsresol */
    le16 (g, 1);
    uint8_t res[4] = { 9, 0, 0, 0 };
    wr (g, res, 4);
    le16 (g, 0);                    /* opt_endofopt */
    le16 (g, 0);
    le32 (g, 32);
}

/*  Write one record of CAPLEN bytes of a LEN-byte frame at the current time,
    counted for flow FLOW (-1: none) in direction DIR.                       */
static void
emit_cut (gen_t *g, int flow, int dir, const uint8_t *data, size_t caplen, size_t len)
{
    if (!g->ng) {
        le32 (g, (uint32_t) (g->now_us / 1000000));
        le32 (g, (uint32_t) (g->now_us % 1000000));
        le32 (g, (uint32_t) caplen);
        le32 (g, (uint32_t) len);
        wr (g, data, caplen);
    }
    else {
        size_t pad = (4 - caplen % 4) % 4;
        uint64_t ns = g->now_us * 1000;
        uint8_t zero[4] = { 0 };
        le32 (g, 6);
        le32 (g, (uint32_t) (32 + caplen + pad));
        le32 (g, 0);
        le32 (g, (uint32_t) (ns >> 32));
        le32 (g, (uint32_t) ns);
        le32 (g, (uint32_t) caplen);
        le32 (g, (uint32_t) len);
        wr (g, data, caplen);
        wr (g, zero, pad);
        le32 (g, (uint32_t) (32 + caplen + pad));
    }
    g->frames++;
    g->bytes += len;
    if (flow >= 0) {
        xflow_t *x = &g->flows[flow];
        if (x->packets[0] + x->packets[1] == 0)
            x->first_us = g->now_us;
        x->last_us = g->now_us;
        x->packets[dir]++;
        x->bytes[dir] += len;
    }
}

static void
emit (gen_t *g, int flow, int dir, const uint8_t *data, size_t len)
{
    emit_cut (g, flow, dir, data, len, len);
}

static void
advance_ms (gen_t *g, uint64_t ms)
{
    g->now_us += ms * 1000;
}

/*  --------------------------------------------------------------------------
    Conversations: two endpoints on a link, maybe tunnelled                  */

typedef struct {
    gen_t *g;
    link_t link;
    addr_t cli, srv;
    uint16_t cport, sport;
    /* optional tunnel: the datagram rides inside OUTER_CLI <-> OUTER_SRV */
    bool tunnel;
    addr_t outer_cli, outer_srv;
    /* IPv6 extension headers before the transport header */
    const uint8_t *ext;
    size_t extlen;
    uint8_t ext_next;           /* type of the first extension header */
    uint32_t seq[2];
    int flow;                   /* expectation index */
} conv_t;

static conv_t
conv (gen_t *g, const char *cli, uint16_t cport, const char *srv, uint16_t sport)
{
    conv_t c = { .g = g, .link = g->link, .cli = A (cli), .srv = A (srv), .cport = cport,
                 .sport = sport, .seq = { 1000000, 5000000 }, .flow = -1 };
    return c;
}

/*  Wrap the transport segment L4 of PROTO into IP (and tunnel), frame, emit. */
static void
send_l4 (conv_t *c, int dir, uint8_t proto, const uint8_t *l4, size_t len)
{
    static uint8_t ip[MAXPKT], outer[MAXPKT], fr[MAXPKT];
    const addr_t *s = dir == 0 ? &c->cli : &c->srv, *d = dir == 0 ? &c->srv : &c->cli;
    size_t n;
    if (s->ver == 4)
        n = ip4 (ip, s, d, proto, l4, len, s_ipid++, 0x4000);
    else if (c->extlen) {
        /* the last extension header's next-header byte names the transport */
        n = ip6 (ip, s, d, c->ext_next, c->ext, c->extlen, l4, len);
    }
    else
        n = ip6 (ip, s, d, proto, NULL, 0, l4, len);
    const uint8_t *dgram = ip;
    if (c->tunnel) {
        const addr_t *os = dir == 0 ? &c->outer_cli : &c->outer_srv;
        const addr_t *od = dir == 0 ? &c->outer_srv : &c->outer_cli;
        uint8_t inner = s->ver == 4 ? 4 : 41;
        n = os->ver == 4 ? ip4 (outer, os, od, inner, ip, n, s_ipid++, 0x4000)
                         : ip6 (outer, os, od, inner, NULL, 0, ip, n);
        dgram = outer;
    }
    size_t f = frame (fr, &c->link, dir, dgram, n);
    emit (c->g, c->flow, dir, fr, f);
}

static void
send_udp (conv_t *c, int dir, const uint8_t *data, size_t len)
{
    static uint8_t seg[MAXPKT];
    const addr_t *s = dir == 0 ? &c->cli : &c->srv, *d = dir == 0 ? &c->srv : &c->cli;
    size_t n = udp (seg, s, d, dir == 0 ? c->cport : c->sport, dir == 0 ? c->sport : c->cport,
                    data, len);
    send_l4 (c, dir, 17, seg, n);
}

static void
send_tcp (conv_t *c, int dir, uint8_t flags, const char *data, size_t len)
{
    static uint8_t seg[MAXPKT];
    const addr_t *s = dir == 0 ? &c->cli : &c->srv, *d = dir == 0 ? &c->srv : &c->cli;
    uint32_t ack = flags & ACK ? c->seq[!dir] : 0;
    size_t n = tcp (seg, s, d, dir == 0 ? c->cport : c->sport, dir == 0 ? c->sport : c->cport,
                    c->seq[dir], ack, flags, (const uint8_t *) data, len);
    c->seq[dir] += (uint32_t) len + ((flags & (SYN | FIN)) ? 1 : 0);
    send_l4 (c, dir, 6, seg, n);
}

/*  --------------------------------------------------------------------------
    Expectations                                                             */

static void
fmt_addr (const addr_t *a, char *out, size_t len)
{
    inet_ntop (a->ver == 4 ? AF_INET : AF_INET6, a->a, out, (socklen_t) len);
}

/*  A new expected flow for conversation C: its classification APP, its
    events ("DETECTED,END") and END reason; C's packets are counted to it. */
static int
expect_flow (conv_t *c, uint8_t proto, const char *app, const char *events, const char *end)
{
    gen_t *g = c->g;
    if (g->nflows == MAX_XFLOWS) {
        fprintf (stderr, "pcapgen: too many flows\n");
        exit (3);
    }
    xflow_t *x = &g->flows[g->nflows];
    memset (x, 0, sizeof *x);
    fmt_addr (&c->cli, x->src, sizeof x->src);
    fmt_addr (&c->srv, x->dst, sizeof x->dst);
    x->sport = proto == 6 || proto == 17 ? c->cport : 0;
    x->dport = proto == 6 || proto == 17 ? c->sport : 0;
    x->ipv = c->cli.ver;
    x->proto = proto;
    x->vlan = c->link.kind == L_ETH && c->link.ntags ? c->link.tci[c->link.ntags - 1] & 0x0fff : 0;
    x->app = app;
    x->events = events;
    x->end = end;
    c->flow = g->nflows;
    return g->nflows++;
}

static void
meta_str (gen_t *g, int flow, const char *key, const char *value)
{
    xflow_t *x = &g->flows[flow];
    snprintf (x->meta[x->nmeta][0], sizeof x->meta[0][0], "%s", key);
    snprintf (x->meta[x->nmeta][1], sizeof x->meta[0][1], "\"%.150s\"", value);
    x->nmeta++;
}

/*  Change the expected value of KEY (a JSON literal).                       */
static void
meta_set (gen_t *g, int flow, const char *key, const char *json)
{
    xflow_t *x = &g->flows[flow];
    for (int m = 0; m < x->nmeta; m++)
        if (strcmp (x->meta[m][0], key) == 0)
            snprintf (x->meta[m][1], sizeof x->meta[0][1], "%s", json);
}

static void
meta_num (gen_t *g, int flow, const char *key, long value)
{
    xflow_t *x = &g->flows[flow];
    snprintf (x->meta[x->nmeta][0], sizeof x->meta[0][0], "%s", key);
    snprintf (x->meta[x->nmeta][1], sizeof x->meta[0][1], "%ld", value);
    x->nmeta++;
}

static void
json_string (FILE *f, const char *s)
{
    fputc ('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf (f, "\\%c", *s);
        else if (*s == '\n')
            fputs ("\\n", f);
        else
            fputc (*s, f);
    }
    fputc ('"', f);
}

static void
write_expect (gen_t *g, const char *scenario, const char *path)
{
    FILE *f = fopen (path, "w");
    if (!f) {
        perror (path);
        exit (3);
    }
    fprintf (f, "{\"scenario\":\"%s\",\"format\":\"%s\",\"exit\":%d,\"seed\":%u,\"config\":",
             scenario, g->ng ? "pcapng" : "pcap", g->exit_code, g->seed);
    json_string (f, g->config);
    fprintf (f, ",\"frames\":%llu,\"bytes\":%llu,\"truncated\":%s,\"evicted\":%llu,\"counters\":{",
             (unsigned long long) g->frames, (unsigned long long) g->bytes,
             g->truncated ? "true" : "false", (unsigned long long) g->evicted);
    for (int i = 0; i < C_COUNT; i++)
        fprintf (f, "%s\"%s\":%llu", i ? "," : "", s_counter_names[i],
                 (unsigned long long) g->counters[i]);
    fprintf (f, "},\"stderr\":[");
    for (int i = 0; i < g->nstderr; i++) {
        fprintf (f, "%s", i ? "," : "");
        json_string (f, g->stderr_has[i]);
    }
    fprintf (f, "],\"flows\":[");
    for (int i = 0; i < g->nflows; i++) {
        xflow_t *x = &g->flows[i];
        fprintf (f, "%s\n{\"src_ip\":\"%s\",\"src_port\":%u,\"dst_ip\":\"%s\",\"dst_port\":%u,"
                 "\"ip_version\":%u,\"ip_proto\":%u,\"vlan\":%u,\"proto\":\"%s\","
                 "\"events\":\"%s\",\"end_reason\":\"%s\",\"src2dst_packets\":%llu,"
                 "\"dst2src_packets\":%llu,\"src2dst_bytes\":%llu,\"dst2src_bytes\":%llu,"
                 "\"first_seen\":%llu,\"last_seen\":%llu,\"icmp_type\":%u,\"icmp_code\":%u,"
                 "\"guessed\":%s,\"meta\":{",
                 i ? "," : "", x->src, x->sport, x->dst, x->dport, x->ipv, x->proto, x->vlan,
                 x->app, x->events, x->end, (unsigned long long) x->packets[0],
                 (unsigned long long) x->packets[1], (unsigned long long) x->bytes[0],
                 (unsigned long long) x->bytes[1], (unsigned long long) (x->first_us / 1000),
                 (unsigned long long) (x->last_us / 1000), x->icmp_type, x->icmp_code,
                 x->guessed ? "true" : "false");
        for (int m = 0; m < x->nmeta; m++)
            fprintf (f, "%s\"%s\":%s", m ? "," : "", x->meta[m][0], x->meta[m][1]);
        fprintf (f, "}}");
    }
    fprintf (f, "\n]}\n");
    fclose (f);
}

/*  --------------------------------------------------------------------------
    Application payloads                                                     */

/*  A DNS message: the question NAME/QTYPE and, in a response, ANSWERS
    records (A, AAAA, or TXT of TXT_BYTES in 255-byte strings).              */
static size_t
dns_message (uint8_t *out, uint16_t id, bool response, const char *name, uint16_t qtype,
             int answers, size_t txt_bytes)
{
    size_t o = 0;
    o += put16 (out + o, id);
    o += put16 (out + o, response ? 0x8180 : 0x0100);
    o += put16 (out + o, 1);
    o += put16 (out + o, response ? (uint16_t) answers : 0);
    o += put16 (out + o, 0);
    o += put16 (out + o, 0);
    const char *p = name;
    while (*p) {
        const char *dot = strchr (p, '.');
        size_t n = dot ? (size_t) (dot - p) : strlen (p);
        out[o++] = (uint8_t) n;
        memcpy (out + o, p, n);
        o += n;
        p += n + (dot ? 1 : 0);
    }
    out[o++] = 0;
    o += put16 (out + o, qtype);
    o += put16 (out + o, 1);
    for (int i = 0; response && i < answers; i++) {
        o += put16 (out + o, 0xc00c);
        o += put16 (out + o, qtype);
        o += put16 (out + o, 1);
        o += put32 (out + o, 300);
        if (qtype == 1) {
            o += put16 (out + o, 4);
            uint8_t a[4] = { 93, 184, 216, (uint8_t) (34 + i) };
            memcpy (out + o, a, 4);
            o += 4;
        }
        else if (qtype == 28) {
            o += put16 (out + o, 16);
            addr_t a = A ("2001:db8:53::1");
            a.a[15] = (uint8_t) (1 + i);
            memcpy (out + o, a.a, 16);
            o += 16;
        }
        else {                                      /* TXT */
            size_t rdlen = 0, left = txt_bytes;
            size_t at = o + 2;
            while (left) {
                size_t n = left > 255 ? 255 : left;
                out[at + rdlen] = (uint8_t) n;
                for (size_t k = 0; k < n; k++)
                    out[at + rdlen + 1 + k] = (uint8_t) ('a' + (k + rdlen) % 26);
                rdlen += 1 + n;
                left -= n;
            }
            o += put16 (out + o, (uint16_t) rdlen);
            o += rdlen;
        }
    }
    return o;
}

/*  Query then answer on C, 3 ms apart; expect a DNS flow with NAME.        */
static int
dns_exchange (conv_t *c, const char *name, uint16_t qtype, uint16_t id, const char *end)
{
    uint8_t msg[2048];
    int flow = expect_flow (c, 17, "DNS", "DETECTED,END", end);
    meta_str (c->g, flow, "dns_query", name);
    meta_str (c->g, flow, "host_server_name", name);
    size_t n = dns_message (msg, id, false, name, qtype, 0, 0);
    send_udp (c, 0, msg, n);
    advance_ms (c->g, 3);
    n = dns_message (msg, id, true, name, qtype, 1, 0);
    send_udp (c, 1, msg, n);
    advance_ms (c->g, 1);
    return flow;
}

/*  A whole HTTP/1.1 exchange on C: handshake, GET, response (BODY bytes,
    captured up to SNAPLEN when non-zero), FIN both ways when CLOSE.       */
static int
http_exchange (conv_t *c, const char *host, const char *url, const char *agent, int status,
               size_t body, size_t snaplen, bool close, const char *end)
{
    gen_t *g = c->g;
    char req[1024], resp[MAXPKT];
    int flow = expect_flow (c, 6, "HTTP", "DETECTED,END", end);
    meta_str (g, flow, "host_server_name", host);
    meta_str (g, flow, "http_method", "GET");
    meta_str (g, flow, "http_user_agent", agent);
    meta_num (g, flow, "http_status", status);
    char full_url[150];
    snprintf (full_url, sizeof full_url, "%s%s", host, url);
    meta_str (g, flow, "http_url", full_url);

    send_tcp (c, 0, SYN, NULL, 0);
    advance_ms (g, 1);
    send_tcp (c, 1, SYN | ACK, NULL, 0);
    advance_ms (g, 1);
    send_tcp (c, 0, ACK, NULL, 0);
    advance_ms (g, 1);
    int n = snprintf (req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                      "Connection: keep-alive\r\n\r\n", url, host, agent);
    send_tcp (c, 0, PSH | ACK, req, (size_t) n);
    advance_ms (g, 2);
    send_tcp (c, 1, ACK, NULL, 0);
    advance_ms (g, 3);
    n = snprintf (resp, sizeof resp,
                  "HTTP/1.1 %d %s\r\nServer: pcapgen/1.0\r\nContent-Type: text/html\r\n"
                  "Content-Length: %zu\r\n\r\n", status, status == 200 ? "OK" : "Not Found", body);
    for (size_t i = 0; i < body; i++)
        resp[n + (int) i] = (char) ('A' + i % 26);
    /* the response is sent by hand to cut its capture at SNAPLEN */
    {
        static uint8_t seg[MAXPKT], ip[MAXPKT], fr[MAXPKT];
        const addr_t *s = &c->srv, *d = &c->cli;
        size_t len = (size_t) n + body;
        size_t sl = tcp (seg, s, d, c->sport, c->cport, c->seq[1], c->seq[0], PSH | ACK,
                         (const uint8_t *) resp, len);
        c->seq[1] += (uint32_t) len;
        size_t il = s->ver == 4 ? ip4 (ip, s, d, 6, seg, sl, s_ipid++, 0x4000)
                  : c->extlen ? ip6 (ip, s, d, c->ext_next, c->ext, c->extlen, seg, sl)
                  : ip6 (ip, s, d, 6, NULL, 0, seg, sl);
        size_t fl = frame (fr, &c->link, 1, ip, il);
        if (snaplen && snaplen < fl) {
            /* cut by the snaplen: counted "truncated", in no flow (decode.h) */
            emit_cut (g, -1, 1, fr, snaplen, fl);
            g->counters[C_TRUNCATED]++;
        }
        else
            emit (g, flow, 1, fr, fl);
    }
    advance_ms (g, 1);
    send_tcp (c, 0, ACK, NULL, 0);
    if (close) {
        advance_ms (g, 5);
        send_tcp (c, 0, FIN | ACK, NULL, 0);
        advance_ms (g, 1);
        send_tcp (c, 1, FIN | ACK, NULL, 0);
        advance_ms (g, 1);
        send_tcp (c, 0, ACK, NULL, 0);
    }
    advance_ms (g, 1);
    return flow;
}

/*  --------------------------------------------------------------------------
    Scenarios                                                                */

#define C4 "192.0.2.10"
#define C6 "2001:db8:1::10"
#define S4 "198.51.100.20"
#define S6 "2001:db8:2::20"
#define D4 "198.51.100.53"
#define D6 "2001:db8:2::53"

static const char *s_agent = "pcapgen/1.0 (dpi-dual collector test)";

static void
sc_tcp_http (gen_t *g)
{
    conv_t a = conv (g, C4, 40000, S4, 80);
    http_exchange (&a, "www.example.com", "/index.html?q=dpi", s_agent, 200, 1200, 0, true,
                   "TCP_CLOSE");
    advance_ms (g, 30000);          /* > tap.tcp_close_timeout (10 s) */
    conv_t b = conv (g, C6, 40001, S6, 80);
    http_exchange (&b, "api.example.net", "/v1/status", s_agent, 404, 20, 0, false, "SHUTDOWN");
}

static void
sc_snaplen (gen_t *g)
{
    conv_t a = conv (g, C4, 40010, S4, 80);
    int flow = http_exchange (&a, "cut.example.com", "/big", s_agent, 200, 1200, 256, true,
                              "SHUTDOWN");
    /* nDPI never sees the response: HTTP from the request alone, no status,
       still waiting for more when the file ends — END only, not guessed */
    g->flows[flow].events = "END";
    meta_set (g, flow, "http_status", "0");
}

static void
sc_dns (gen_t *g)
{
    uint8_t msg[512];
    conv_t a = conv (g, C4, 53001, D4, 53);
    dns_exchange (&a, "www.example.com", 1, 0x1234, "SHUTDOWN");
    advance_ms (g, 50);
    conv_t b = conv (g, C6, 53002, D6, 53);
    dns_exchange (&b, "ipv6.example.org", 28, 0x4321, "SHUTDOWN");
    advance_ms (g, 50);
    /* a query never answered: nDPI knows it is DNS but waits for the answer,
       so the flow ends (END only) with what DPI found: DNS, not guessed */
    conv_t c = conv (g, C4, 53003, D4, 53);
    int flow = expect_flow (&c, 17, "DNS", "END", "SHUTDOWN");
    meta_str (g, flow, "dns_query", "unanswered.example.com");
    meta_str (g, flow, "host_server_name", "unanswered.example.com");
    send_udp (&c, 0, msg, dns_message (msg, 0x5555, false, "unanswered.example.com", 1, 0, 0));
}

static void
sc_vlan (gen_t *g)
{
    g->config = "tap:\n  community_id_seed: 4242\n";
    g->seed = 4242;
    conv_t a = conv (g, C4, 53010, D4, 53);
    dns_exchange (&a, "untagged.example.com", 1, 1, "SHUTDOWN");
    conv_t b = conv (g, C4, 53010, D4, 53);
    b.link.ntags = 1;
    b.link.tpid[0] = 0x8100;
    b.link.tci[0] = (5 << 13) | 100;            /* priority 5, id 100 */
    dns_exchange (&b, "vlan100.example.com", 1, 2, "SHUTDOWN");
    conv_t c = conv (g, C4, 53010, D4, 53);
    c.link.ntags = 2;
    c.link.tpid[0] = 0x88a8;
    c.link.tci[0] = 200;
    c.link.tpid[1] = 0x8100;
    c.link.tci[1] = 300;
    dns_exchange (&c, "qinq.example.com", 1, 3, "SHUTDOWN");
}

static void
sc_tunnels (gen_t *g)
{
    struct { const char *ocli, *osrv, *cli, *srv, *name; uint16_t port, qtype; } t[] = {
        { "203.0.113.1", "203.0.113.2", C4, D4, "ipip.example.com", 53020, 1 },
        { "203.0.113.1", "203.0.113.2", C6, D6, "sixinfour.example.com", 53021, 28 },
        { "2001:db8:ff::1", "2001:db8:ff::2", C4, D4, "fourinsix.example.com", 53022, 1 },
        { "2001:db8:ff::1", "2001:db8:ff::2", C6, D6, "sixinsix.example.com", 53023, 28 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        conv_t c = conv (g, t[i].cli, t[i].port, t[i].srv, 53);
        c.tunnel = true;
        c.outer_cli = A (t[i].ocli);
        c.outer_srv = A (t[i].osrv);
        dns_exchange (&c, t[i].name, t[i].qtype, (uint16_t) (0x100 + i), "SHUTDOWN");
        advance_ms (g, 10);
    }
}

static void
sc_ipv6_ext (gen_t *g)
{
    /* hop-by-hop (PadN) -> destination options (PadN) -> TCP */
    static const uint8_t ext_tcp[16] = { 60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0 };
    static const uint8_t ext_udp[8] = { 17, 0, 1, 4, 0, 0, 0, 0 };
    conv_t a = conv (g, C6, 41000, S6, 80);
    a.ext = ext_tcp;
    a.extlen = sizeof ext_tcp;
    a.ext_next = 0;
    http_exchange (&a, "ext.example.net", "/opt", s_agent, 200, 64, 0, true, "SHUTDOWN");
    advance_ms (g, 20);
    conv_t b = conv (g, C6, 41001, D6, 53);
    b.ext = ext_udp;
    b.extlen = sizeof ext_udp;
    b.ext_next = 60;
    dns_exchange (&b, "dstopt.example.net", 28, 0x77, "SHUTDOWN");
}

static void
sc_fragments (gen_t *g)
{
    static uint8_t msg[4096], seg[4096], ip[4096], fr[4096];
    /* IPv4: query, then a 3200-byte UDP answer in fragments of 1480, 1480, 240 */
    conv_t a = conv (g, C4, 53030, D4, 53);
    int flow = expect_flow (&a, 17, "DNS", "DETECTED,END", "SHUTDOWN");
    meta_str (g, flow, "dns_query", "frag.example.com");
    meta_str (g, flow, "host_server_name", "frag.example.com");
    size_t n = dns_message (msg, 0x99, false, "frag.example.com", 16, 0, 0);
    send_udp (&a, 0, msg, n);
    advance_ms (g, 3);
    n = dns_message (msg, 0x99, true, "frag.example.com", 16, 1, 3000);   /* UDP: 3066 bytes */
    size_t sl = udp (seg, &a.srv, &a.cli, 53, 53030, msg, n);
    uint16_t id = 0x5151;
    for (size_t off = 0; off < sl; off += 1480) {
        size_t part = sl - off > 1480 ? 1480 : sl - off;
        bool more = off + part < sl;
        size_t il = ip4 (ip, &a.srv, &a.cli, 17, seg + off, part, id,
                         (uint16_t) ((more ? 0x2000 : 0) | (off / 8)));
        size_t fl = frame (fr, &a.link, 1, ip, il);
        emit (g, off == 0 ? flow : -1, 1, fr, fl);
        if (off)
            g->counters[C_FRAGMENTS]++;
        advance_ms (g, 1);
    }
    /* IPv6: query, then a 2000-byte UDP answer in fragments of 1448 and the rest */
    conv_t b = conv (g, C6, 53031, D6, 53);
    flow = expect_flow (&b, 17, "DNS", "DETECTED,END", "SHUTDOWN");
    meta_str (g, flow, "dns_query", "frag6.example.org");
    meta_str (g, flow, "host_server_name", "frag6.example.org");
    n = dns_message (msg, 0x9a, false, "frag6.example.org", 16, 0, 0);
    send_udp (&b, 0, msg, n);
    advance_ms (g, 3);
    n = dns_message (msg, 0x9a, true, "frag6.example.org", 16, 1, 1900);
    sl = udp (seg, &b.srv, &b.cli, 53, 53031, msg, n);
    for (size_t off = 0; off < sl; off += 1448) {
        size_t part = sl - off > 1448 ? 1448 : sl - off;
        bool more = off + part < sl;
        uint8_t fh[8] = { 17, 0, 0, 0, 0, 0, 0x0f, 0xa6 };
        put16 (fh + 2, (uint16_t) (off | (more ? 1 : 0)));
        size_t il = ip6 (ip, &b.srv, &b.cli, 44, fh, 8, seg + off, part);
        size_t fl = frame (fr, &b.link, 1, ip, il);
        emit (g, off == 0 ? flow : -1, 1, fr, fl);
        if (off)
            g->counters[C_FRAGMENTS]++;
        advance_ms (g, 1);
    }
}

static void
sc_link (gen_t *g)
{
    conv_t a = conv (g, C4, 53040, D4, 53);
    dns_exchange (&a, "link.example.com", 1, 0x10, "SHUTDOWN");
    advance_ms (g, 10);
    conv_t b = conv (g, C6, 53041, D6, 53);
    dns_exchange (&b, "link6.example.com", 28, 0x11, "SHUTDOWN");
}

static void
sc_link_unsupported (gen_t *g)
{
    static const uint8_t junk[64] = { 0x08, 0x02 };
    g->exit_code = 1;
    g->stderr_has[g->nstderr++] = "not supported";
    emit (g, -1, 0, junk, sizeof junk);
}

static void
sc_icmp (gen_t *g)
{
    static const uint8_t ping[32] = "abcdefghijklmnopqrstuvwabcdefghi";
    uint8_t seg[256];
    conv_t a = conv (g, C4, 0, S4, 0);
    g->flows[expect_flow (&a, 1, "ICMP", "DETECTED,END", "SHUTDOWN")].icmp_type = 8;
    for (uint16_t seq = 1; seq <= 2; seq++) {
        send_l4 (&a, 0, 1, seg, icmp (seg, &a.cli, &a.srv, 8, 0, 0x00770000u | seq, ping, 32));
        advance_ms (g, 1);
        send_l4 (&a, 1, 1, seg, icmp (seg, &a.srv, &a.cli, 0, 0, 0x00770000u | seq, ping, 32));
        advance_ms (g, 1000);
    }
    conv_t b = conv (g, C6, 0, S6, 0);
    g->flows[expect_flow (&b, 58, "ICMPV6", "DETECTED,END", "SHUTDOWN")].icmp_type = 128;
    for (uint16_t seq = 1; seq <= 2; seq++) {
        send_l4 (&b, 0, 58, seg, icmp (seg, &b.cli, &b.srv, 128, 0, 0x00780000u | seq, ping, 32));
        advance_ms (g, 1);
        send_l4 (&b, 1, 58, seg, icmp (seg, &b.srv, &b.cli, 129, 0, 0x00780000u | seq, ping, 32));
        advance_ms (g, 1000);
    }
    /* port unreachable from the router, quoting a UDP datagram of C4 */
    conv_t c = conv (g, "192.0.2.1", 0, C4, 0);
    int unreach = expect_flow (&c, 1, "ICMP", "DETECTED,END", "SHUTDOWN");
    g->flows[unreach].icmp_type = 3;
    g->flows[unreach].icmp_code = 3;
    uint8_t quoted[28], udpseg[8];
    const uint8_t nothing[1] = { 0 };
    addr_t far = A ("203.0.113.77");
    size_t ul = udp (udpseg, &c.srv, &far, 33434, 33435, nothing, 0);
    ip4 (quoted, &c.srv, &far, 17, udpseg, ul, 0x1111, 0);
    send_l4 (&c, 0, 1, seg, icmp (seg, &c.cli, &c.srv, 3, 3, 0, quoted, sizeof quoted));
}

static void
sc_idle (gen_t *g)
{
    g->config = "tap:\n  udp_idle_timeout: 5\n";
    conv_t a = conv (g, C4, 53050, D4, 53);
    dns_exchange (&a, "idle.example.com", 1, 0x50, "IDLE");
    advance_ms (g, 10000);          /* > udp_idle_timeout */
    conv_t b = conv (g, C4, 53050, D4, 53);
    dns_exchange (&b, "idle.example.com", 1, 0x51, "SHUTDOWN");
}

static void
sc_update (gen_t *g)
{
    g->config = "tap:\n  update_interval: 1\n";
    conv_t a = conv (g, C4, 40020, S4, 80);
    int flow = http_exchange (&a, "long.example.com", "/stream", s_agent, 200, 100, 0, false,
                              "SHUTDOWN");
    g->flows[flow].events = "DETECTED,UPDATE,UPDATE,END";
    advance_ms (g, 600);
    send_tcp (&a, 0, ACK, NULL, 0);     /* 0.6 s after DETECTED: no update */
    advance_ms (g, 600);
    send_tcp (&a, 0, ACK, NULL, 0);     /* 1.2 s: UPDATE */
    advance_ms (g, 500);
    send_tcp (&a, 1, ACK, NULL, 0);     /* 0.5 s after it: none */
    advance_ms (g, 700);
    send_tcp (&a, 1, ACK, NULL, 0);     /* 1.2 s: UPDATE */
}

static void
sc_evict (gen_t *g)
{
    g->config = "tap:\n  max_flows: 1024\n";
    for (int i = 0; i < 1100; i++) {
        char name[64];
        snprintf (name, sizeof name, "e%d.example.com", i);
        conv_t c = conv (g, C4, (uint16_t) (20000 + i), D4, 53);
        dns_exchange (&c, name, 1, (uint16_t) i, i < 76 ? "EVICTED" : "SHUTDOWN");
    }
    g->evicted = 76;
    g->stderr_has[g->nstderr++] = "1100 flows, 76 evicted";
}

static void
sc_malformed (gen_t *g)
{
    static uint8_t f[MAXPKT], ip[MAXPKT], seg[MAXPKT];
    addr_t c4 = A (C4), s4 = A (S4), c6 = A (C6), s6 = A (S6);
    const uint8_t eth4[14] = { 2, 0, 0, 0, 0, 0x14, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00 };
    size_t n;
#define ETH(type)                                                                        \
    do {                                                                                 \
        memcpy (f, eth4, 12);                                                            \
        put16 (f + 12, type);                                                            \
    } while (0)
#define BAD(reason, len)                                                                 \
    do {                                                                                 \
        emit (g, -1, 0, f, len);                                                         \
        g->counters[reason]++;                                                           \
        advance_ms (g, 1);                                                               \
    } while (0)

    /* Ethernet cut at 10 bytes */
    memcpy (f, eth4, 10);
    BAD (C_TOO_SHORT, 10);
    /* an 802.1Q tag cut after 2 bytes */
    ETH (0x8100);
    f[14] = 0;
    f[15] = 5;
    BAD (C_TOO_SHORT, 16);
    /* IPv4, IHL 3 (12 bytes) */
    n = udp (seg, &c4, &s4, 1234, 53, (const uint8_t *) "xxxx", 4);
    n = ip4 (ip, &c4, &s4, 17, seg, n, 1, 0);
    ip[0] = 0x43;
    ETH (0x0800);
    memcpy (f + 14, ip, n);
    BAD (C_BAD_IP, 14 + n < 60 ? 60 : 14 + n);
    /* IPv4, IHL 15 (60 bytes) in a 40-byte packet */
    n = udp (seg, &c4, &s4, 1234, 53, (const uint8_t *) "xxxxxxxxxxxx", 12);
    n = ip4 (ip, &c4, &s4, 17, seg, n, 2, 0);
    ip[0] = 0x4f;
    memcpy (f + 14, ip, n);
    BAD (C_BAD_IP, 14 + n);
    /* IPv4, total length 12 < header */
    n = ip4 (ip, &c4, &s4, 17, seg, 8, 3, 0);
    put16 (ip + 2, 12);
    memcpy (f + 14, ip, n);
    BAD (C_BAD_IP, 60);
    /* IP version 5 */
    n = ip4 (ip, &c4, &s4, 17, seg, 8, 4, 0);
    ip[0] = 0x55;
    memcpy (f + 14, ip, n);
    BAD (C_BAD_IP, 60);
    /* IPv6 header cut at 30 bytes */
    ETH (0x86dd);
    n = ip6 (ip, &c6, &s6, 17, NULL, 0, seg, 8);
    memcpy (f + 14, ip, 30);
    BAD (C_TOO_SHORT, 14 + 30);
    /* IPv6 hop-by-hop header whose length (8 + 8*20) runs past the packet */
    {
        uint8_t ext[8] = { 17, 20, 1, 4, 0, 0, 0, 0 };
        n = ip6 (ip, &c6, &s6, 0, ext, 8, seg, 8);
        memcpy (f + 14, ip, n);
        BAD (C_TOO_SHORT, 14 + n);
    }
    /* TCP header of 12 bytes: the IP total length ends inside it */
    ETH (0x0800);
    n = tcp (seg, &c4, &s4, 40100, 80, 1, 0, SYN, NULL, 0);
    n = ip4 (ip, &c4, &s4, 6, seg, 12, 5, 0x4000);
    memcpy (f + 14, ip, n);
    BAD (C_TOO_SHORT, 60);
    /* TCP header cut at 10 bytes by the snaplen (wire length 74): truncated */
    n = tcp (seg, &c4, &s4, 40101, 80, 1, 0, SYN, NULL, 0);
    n = ip4 (ip, &c4, &s4, 6, seg, n, 6, 0x4000);
    memcpy (f + 14, ip, n);
    emit_cut (g, -1, 0, f, 14 + 20 + 10, 14 + n);
    g->counters[C_TRUNCATED]++;
    advance_ms (g, 1);
    /* ARP request */
    {
        ETH (0x0806);
        uint8_t arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x0a, 192, 0, 2, 10,
                            0, 0, 0, 0, 0, 0, 192, 0, 2, 1 };
        memset (f, 0xff, 6);
        memcpy (f + 14, arp, sizeof arp);
        memset (f + 42, 0, 18);
        BAD (C_NOT_IP, 60);
    }
    /* five nested IP-in-IP around a UDP datagram */
    {
        ETH (0x0800);
        n = udp (seg, &c4, &s4, 1234, 53, (const uint8_t *) "deep", 4);
        n = ip4 (ip, &c4, &s4, 17, seg, n, 7, 0);
        for (int i = 0; i < 5; i++)
            n = ip4 (ip, &c4, &s4, 4, ip, n, (uint16_t) (8 + i), 0);
        memcpy (f + 14, ip, n);
        BAD (C_TUNNEL_DEPTH, 14 + n);
    }
#undef ETH
#undef BAD
    /* and one good exchange, which must come out whole */
    conv_t a = conv (g, C4, 53060, D4, 53);
    dns_exchange (&a, "survivor.example.com", 1, 0x60, "SHUTDOWN");
}

static void
sc_empty (gen_t *g)
{
    g->stderr_has[g->nstderr++] = "0 packets (0 IP), 0 flows";
}

/*  --------------------------------------------------------------------------
    Main                                                                     */

typedef struct {
    const char *name;
    void (*fn) (gen_t *);
    link_kind_t link;
    bool ng;
} scenario_t;

static void sc_truncated_file (gen_t *g);
static void sc_large_file (gen_t *g);
static void cut_record (gen_t *g);

static const scenario_t s_scenarios[] = {
    { "tcp-http", sc_tcp_http, L_ETH, false },
    { "pcapng", sc_tcp_http, L_ETH, true },
    { "snaplen", sc_snaplen, L_ETH, false },
    { "dns", sc_dns, L_ETH, false },
    { "vlan", sc_vlan, L_ETH, false },
    { "tunnels", sc_tunnels, L_ETH, false },
    { "ipv6-ext", sc_ipv6_ext, L_ETH, false },
    { "fragments", sc_fragments, L_ETH, false },
    { "link-raw", sc_link, L_RAW, false },
    { "link-sll", sc_link, L_SLL, false },
    { "link-sll2", sc_link, L_SLL2, false },
    { "link-null", sc_link, L_NULL, false },
    { "link-ppp", sc_link, L_PPP, false },
    { "link-unsupported", sc_link_unsupported, L_80211, false },
    { "icmp", sc_icmp, L_ETH, false },
    { "idle", sc_idle, L_ETH, false },
    { "update", sc_update, L_ETH, false },
    { "evict", sc_evict, L_ETH, false },
    { "malformed", sc_malformed, L_ETH, false },
    { "truncated-file", sc_truncated_file, L_ETH, false },
    { "large-file", sc_large_file, L_ETH, false },
    { "empty", sc_empty, L_ETH, false },
};

/*  A DNS exchange and an ICMP echo pair, then a record cut in the middle.  */
static void
sc_truncated_file (gen_t *g)
{
    static const uint8_t ping[16] = "0123456789abcdef";
    uint8_t seg[256];
    g->exit_code = 3;               /* a data error: worker.h */
    g->truncated = true;
    g->stderr_has[g->nstderr++] = "truncated";
    conv_t a = conv (g, C4, 53070, D4, 53);
    dns_exchange (&a, "beforecut.example.com", 1, 0x70, "SHUTDOWN");
    conv_t b = conv (g, C4, 0, S4, 0);
    g->flows[expect_flow (&b, 1, "ICMP", "DETECTED,END", "SHUTDOWN")].icmp_type = 8;
    send_l4 (&b, 0, 1, seg, icmp (seg, &b.cli, &b.srv, 8, 0, 0x00990001u, ping, 16));
    advance_ms (g, 1);
    send_l4 (&b, 1, 1, seg, icmp (seg, &b.srv, &b.cli, 0, 0, 0x00990001u, ping, 16));
    advance_ms (g, 1);
    cut_record (g);
}

/*  The last record: a SYN whose header promises 60 bytes; 30 are written,
    then the file ends.                                                      */
static void
cut_record (gen_t *g)
{
    uint8_t seg[128], f[128], ip[128];
    addr_t c4 = A (C4), s4 = A (S4);
    size_t n = tcp (seg, &c4, &s4, 40200, 80, 1, 0, SYN, NULL, 0);
    n = ip4 (ip, &c4, &s4, 6, seg, n, 0x77, 0x4000);
    link_t l = { .kind = L_ETH };
    size_t fl = frame (f, &l, 0, ip, n);
    le32 (g, (uint32_t) (g->now_us / 1000000));
    le32 (g, (uint32_t) (g->now_us % 1000000));
    le32 (g, (uint32_t) fl);
    le32 (g, (uint32_t) fl);
    wr (g, f, 30);
}

/*  Over 12 MB of UDP in records of every size up to 16 KB, so the
    collector's file reader refills its buffer (4 MiB a read) with records
    cut across reads; then the file ends in a cut record. 40 flows of 40
    datagrams with nothing nDPI knows: given up (guessed) after 32 packets. */
static void
sc_large_file (gen_t *g)
{
    static uint8_t payload[16000], seg[MAXPKT];
    memset (payload, 'x', sizeof payload);
    g->exit_code = 3;               /* a data error: worker.h */
    g->truncated = true;
    g->stderr_has[g->nstderr++] = "truncated";
    conv_t c[40];
    for (int i = 0; i < 40; i++) {
        c[i] = conv (g, C4, (uint16_t) (41000 + i), S4, (uint16_t) (42000 + i));
        g->flows[expect_flow (&c[i], 17, "Unknown", "DETECTED,END", "SHUTDOWN")].guessed = true;
    }
    uint32_t size = 1;
    for (int k = 0; k < 40; k++)
        for (int i = 0; i < 40; i++) {
            size = (size * 1103515245u + 12345u) % sizeof payload + 1;
            int dir = (k + i / 4) % 2 && k > 0;     /* the client speaks first */
            conv_t *x = &c[i];
            send_l4 (x, dir, 17, seg,
                     udp (seg, dir ? &x->srv : &x->cli, dir ? &x->cli : &x->srv,
                          dir ? x->sport : x->cport, dir ? x->cport : x->sport, payload, size));
            advance_ms (g, 1);
        }
    cut_record (g);
}

int
main (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof s_scenarios / sizeof s_scenarios[0]; i++)
            printf ("%s\n", s_scenarios[i].name);
        return 0;
    }
    if (argc < 3 || argc > 4) {
        fprintf (stderr, "usage: dpi-pcapgen --list | SCENARIO OUT [EXPECT.json]\n");
        return 2;
    }
    const scenario_t *sc = NULL;
    for (size_t i = 0; i < sizeof s_scenarios / sizeof s_scenarios[0]; i++)
        if (strcmp (argv[1], s_scenarios[i].name) == 0)
            sc = &s_scenarios[i];
    if (!sc) {
        fprintf (stderr, "dpi-pcapgen: unknown scenario '%s' (see --list)\n", argv[1]);
        return 2;
    }
    gen_t *g = calloc (1, sizeof *g);
    if (!g)
        return 3;
    g->f = fopen (argv[2], "wb");
    if (!g->f) {
        perror (argv[2]);
        free (g);
        return 3;
    }
    g->ng = sc->ng;
    g->link.kind = sc->link;
    g->now_us = 1700000000ull * 1000000ull;
    g->config = "tap:\n  community_id_seed: 0\n";
    file_header (g);
    sc->fn (g);
    if (fclose (g->f) != 0) {
        perror (argv[2]);
        return 3;
    }
    if (argc == 4)
        write_expect (g, sc->name, argv[3]);
    free (g);
    return 0;
}
