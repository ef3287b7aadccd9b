/*  test_decode.c — unit test for collector/decode.c (decode_packet).

    The frames come from dpi-pcapgen itself (scenario.h): every scenario
    that exercises a link type, a tunnel or a hostile case is written into a
    mkdtemp directory and read back with libpcap, each frame in a buffer of
    exactly its captured length. What decode must find in each frame is
    stated below, frame by frame, from the scenario documentation at the top
    of tests/tools/pcapgen.c (addresses, ports, TCP flags, ICMP types, VLAN
    ids, tunnels, fragments) — never from what decode returns.

    Covered:
    - Ethernet, 802.1Q, QinQ (0x88a8), SLL, SLL2, raw IP, BSD NULL, PPP in
      HDLC framing; IP-in-IP, 6in4, 4in6, 6in6; IPv6 hop-by-hop and
      destination options; IPv4 and IPv6 fragments (the first decoded with
      first_fragment, later ones DECODE_FRAGMENT); ICMP and ICMPv6; a
      datagram cut by the snaplen (DECODE_TRUNCATED); the "malformed"
      scenario's frames, each with its reason.
    - Framings dpi-pcapgen does not write, built here around the IPv4 and
      IPv6 queries of its "dns" scenario: MPLS, PPPoE (also under a VLAN),
      802.3 LLC/SNAP, QinQ with TPID 0x9100, DLT_LOOP, big-endian DLT_NULL,
      Cisco HDLC, PPP without address/control, DLT_PPP_SERIAL, DLT_IPV4/6,
      an IPv4 header with options, 2 and DECODE_MAX_TUNNELS nested tunnels.
    - pcapgen frames edited at the edge of what decodes: a TCP segment of
      19 / 20 bytes, a UDP datagram of 7 / 8, an IPv6 payload that ends
      inside a hop-by-hop, fragment or AH header, a tunnelled datagram
      longer than the IPv4 or IPv6 datagram that carries it.
    - Every truncation 0..caplen-1 of every frame: a frame that decodes
      gives TOO_SHORT while its outermost IP header is cut, TRUNCATED while
      the datagram is, and the full answer when only Ethernet padding is
      cut; a frame that does not decode never decodes when cut. Each cut is
      in an exact-size buffer: the sanitizer build catches any overread.
    - Random byte flips (and cuts) over the valid frames, fixed seed: a
      reason in range, and a decoded l3 inside the frame.
    - decode_link_supported and DECODE_BAD_LINK for unsupported link types
      (and the 802.11 capture of "link-unsupported"); decode_reason_name.

    What it catches (each tried as a mutant of decode.c): a VLAN tag or an
    IPv6 extension header bounds check off by one (ASan, on the exact-size
    cuts and edited frames); the outer VLAN id kept instead of the inner;
    a later IPv4 fragment decoded; Ethernet padding left in l3_len; one
    tunnel level more or fewer allowed; an extension header's length
    misread; the outer addresses kept through a tunnel; the SLL2 header
    length; the TCP header check off by one; the MPLS bottom-of-stack bit
    ignored. And two real bugs, fixed with their checks here: an IPv4
    header whose options the capture cut was counted bad-ip, not
    truncated; a tunnelled datagram was read past the end of its outer
    datagram (into Ethernet padding) and decoded.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "scenario.h"
#include "tally.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/*  The addresses of pcapgen.c's scenarios.                                  */
#define C4 "192.0.2.10"
#define C6 "2001:db8:1::10"
#define S4 "198.51.100.20"
#define S6 "2001:db8:2::20"
#define D4 "198.51.100.53"
#define D6 "2001:db8:2::53"

enum { FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16 };

/*  What decode_packet must find in one frame.                               */
typedef struct {
    decode_result_t rc;
    uint8_t ipv, proto;
    const char *src, *dst;          /* innermost addresses                  */
    uint16_t sport, dport;
    uint8_t l2;                     /* bytes before the outermost IP header */
    uint8_t outer;                  /* bytes of tunnel IP headers after it  */
    uint8_t tunnels;
    uint16_t vlan;
    bool ff;                        /* first_fragment                       */
    uint8_t tcp_flags, icmp_type, icmp_code;
} want_t;

#define BAD(r) { .rc = r }
#define FRAME(v, p, s, sp, d, dp, l2_, out, vl, ff_, fl, it, ic)                              \
    { .rc = DECODE_OK, .ipv = v, .proto = p, .src = s, .sport = sp, .dst = d, .dport = dp,    \
      .l2 = l2_, .outer = out, .tunnels = (out) ? 1 : 0, .vlan = vl, .ff = ff_,              \
      .tcp_flags = fl, .icmp_type = it, .icmp_code = ic }
#define UDP(v, s, sp, d, dp, l2, out, vl) FRAME (v, 17, s, sp, d, dp, l2, out, vl, false, 0, 0, 0)
/*  dns_exchange: the query, then the answer                                 */
#define DNS(v, c, cp, srv, l2, out, vl)                                                        \
    UDP (v, c, cp, srv, 53, l2, out, vl), UDP (v, srv, 53, c, cp, l2, out, vl)
#define TCP(v, s, sp, d, dp, fl) FRAME (v, 6, s, sp, d, dp, 14, 0, 0, false, fl, 0, 0)
#define ICMP(v, s, d, it, ic) FRAME (v, v == 4 ? 1 : 58, s, 0, d, 0, 14, 0, 0, false, 0, it, ic)
/*  http_exchange: handshake, request, its ACK; the response; the client's ACK;
    with close, FIN both ways and the last ACK                               */
#define HTTP_REQUEST(v, c, cp, s)                                                              \
    TCP (v, c, cp, s, 80, SYN), TCP (v, s, 80, c, cp, SYN | ACK), TCP (v, c, cp, s, 80, ACK), \
    TCP (v, c, cp, s, 80, PSH | ACK), TCP (v, s, 80, c, cp, ACK)
#define HTTP_RESPONSE(v, c, cp, s) TCP (v, s, 80, c, cp, PSH | ACK)
#define HTTP_ACK(v, c, cp, s) TCP (v, c, cp, s, 80, ACK)
#define HTTP_CLOSE(v, c, cp, s)                                                                \
    TCP (v, c, cp, s, 80, FIN | ACK), TCP (v, s, 80, c, cp, FIN | ACK), TCP (v, c, cp, s, 80, ACK)
#define HTTP(v, c, cp, s)                                                                      \
    HTTP_REQUEST (v, c, cp, s), HTTP_RESPONSE (v, c, cp, s), HTTP_ACK (v, c, cp, s)

static const want_t s_tcp_http[] = {
    HTTP (4, C4, 40000, S4), HTTP_CLOSE (4, C4, 40000, S4), HTTP (6, C6, 40001, S6),
};
static const want_t s_snaplen[] = {
    HTTP_REQUEST (4, C4, 40010, S4), BAD (DECODE_TRUNCATED), HTTP_ACK (4, C4, 40010, S4),
    HTTP_CLOSE (4, C4, 40010, S4),
};
static const want_t s_dns[] = {
    DNS (4, C4, 53001, D4, 14, 0, 0), DNS (6, C6, 53002, D6, 14, 0, 0),
    UDP (4, C4, 53003, D4, 53, 14, 0, 0),
};
static const want_t s_vlan[] = {    /* untagged, 802.1Q 100, QinQ 200 + 300 */
    DNS (4, C4, 53010, D4, 14, 0, 0), DNS (4, C4, 53010, D4, 18, 0, 100),
    DNS (4, C4, 53010, D4, 22, 0, 300),
};
static const want_t s_tunnels[] = { /* IP-in-IP, 6in4, 4in6, 6in6 */
    DNS (4, C4, 53020, D4, 14, 20, 0), DNS (6, C6, 53021, D6, 14, 20, 0),
    DNS (4, C4, 53022, D4, 14, 40, 0), DNS (6, C6, 53023, D6, 14, 40, 0),
};
static const want_t s_ipv6_ext[] = {
    HTTP (6, C6, 41000, S6), HTTP_CLOSE (6, C6, 41000, S6), DNS (6, C6, 41001, D6, 14, 0, 0),
};
static const want_t s_fragments[] = {
    UDP (4, C4, 53030, D4, 53, 14, 0, 0),
    FRAME (4, 17, D4, 53, C4, 53030, 14, 0, 0, true, 0, 0, 0),
    BAD (DECODE_FRAGMENT), BAD (DECODE_FRAGMENT),
    UDP (6, C6, 53031, D6, 53, 14, 0, 0),
    FRAME (6, 17, D6, 53, C6, 53031, 14, 0, 0, true, 0, 0, 0),
    BAD (DECODE_FRAGMENT),
};
#define LINK(l2) DNS (4, C4, 53040, D4, l2, 0, 0), DNS (6, C6, 53041, D6, l2, 0, 0)
static const want_t s_link_raw[] = { LINK (0) };
static const want_t s_link_sll[] = { LINK (16) };
static const want_t s_link_sll2[] = { LINK (20) };
static const want_t s_link_null[] = { LINK (4) };
static const want_t s_link_ppp[] = { LINK (4) };
static const want_t s_link_unsupported[] = { BAD (DECODE_BAD_LINK) };
static const want_t s_icmp[] = {
    ICMP (4, C4, S4, 8, 0), ICMP (4, S4, C4, 0, 0), ICMP (4, C4, S4, 8, 0), ICMP (4, S4, C4, 0, 0),
    ICMP (6, C6, S6, 128, 0), ICMP (6, S6, C6, 129, 0), ICMP (6, C6, S6, 128, 0),
    ICMP (6, S6, C6, 129, 0), ICMP (4, "192.0.2.1", C4, 3, 3),
};
static const want_t s_malformed[] = {
    BAD (DECODE_TOO_SHORT), BAD (DECODE_TOO_SHORT),     /* Ethernet at 10, VLAN tag cut */
    BAD (DECODE_BAD_IP), BAD (DECODE_BAD_IP),           /* IHL 3, IHL 15 in 40 bytes */
    BAD (DECODE_BAD_IP), BAD (DECODE_BAD_IP),           /* total length 12, version 5 */
    BAD (DECODE_TOO_SHORT), BAD (DECODE_TOO_SHORT),     /* IPv6 at 30, hop-by-hop past the end */
    BAD (DECODE_TOO_SHORT), BAD (DECODE_TRUNCATED),     /* TCP of 12 bytes, SYN cut by snaplen */
    BAD (DECODE_NOT_IP), BAD (DECODE_TUNNEL_DEPTH),     /* ARP, 5 nested IP-in-IP */
    DNS (4, C4, 53060, D4, 14, 0, 0),
};

typedef struct {
    const char *name;
    int dlt;
    const want_t *frames;
    size_t count;
} expect_t;

#define EXPECT(name, dlt, table) { name, dlt, table, sizeof table / sizeof table[0] }

static const expect_t s_expect[] = {
    EXPECT ("tcp-http", DLT_EN10MB, s_tcp_http),
    EXPECT ("snaplen", DLT_EN10MB, s_snaplen),
    EXPECT ("dns", DLT_EN10MB, s_dns),
    EXPECT ("vlan", DLT_EN10MB, s_vlan),
    EXPECT ("tunnels", DLT_EN10MB, s_tunnels),
    EXPECT ("ipv6-ext", DLT_EN10MB, s_ipv6_ext),
    EXPECT ("fragments", DLT_EN10MB, s_fragments),
    EXPECT ("link-raw", DLT_RAW, s_link_raw),
    EXPECT ("link-sll", DLT_LINUX_SLL, s_link_sll),
    EXPECT ("link-sll2", DLT_LINUX_SLL2, s_link_sll2),
    EXPECT ("link-null", DLT_NULL, s_link_null),
    EXPECT ("link-ppp", DLT_PPP, s_link_ppp),
    EXPECT ("link-unsupported", DLT_IEEE802_11, s_link_unsupported),
    EXPECT ("icmp", DLT_EN10MB, s_icmp),
    EXPECT ("malformed", DLT_EN10MB, s_malformed),
};
#define N_EXPECT (sizeof s_expect / sizeof s_expect[0])

/*  --------------------------------------------------------------------------
    Checking one decoded frame                                               */

static uint16_t
be16 (const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

/*  The length of the IP datagram at IP, as its own header says.            */
static uint32_t
datagram_len (const uint8_t *ip)
{
    return (ip[0] >> 4) == 4 ? be16 (ip + 2) : 40u + be16 (ip + 4);
}

static bool
addr_is (const uint8_t got[16], const char *text)
{
    uint8_t a[16] = { 0 };
    int family = strchr (text, ':') ? AF_INET6 : AF_INET;
    return inet_pton (family, text, a) == 1 && memcmp (a, got, 16) == 0;
}

/*  Print the reason into MSG; false.                                        */
static bool __attribute__ ((format (printf, 3, 4)))
mismatch (char *msg, size_t size, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (msg, size, fmt, args);
    va_end (args);
    return false;
}

/*  Does (RC, P), decoded from frame F, say what W says? If not, why in MSG. */
static bool
frame_ok (const want_t *w, const uint8_t *f, decode_result_t rc, const packet_t *p, char *msg,
          size_t n)
{
    if (rc != w->rc)
        return mismatch (msg, n, "%s, expected %s", decode_reason_name (rc), decode_reason_name (w->rc));
    if (rc != DECODE_OK)
        return true;
    if (p->ip_version != w->ipv || p->proto != w->proto)
        return mismatch (msg, n, "IPv%u proto %u, expected IPv%u proto %u", p->ip_version, p->proto,
                         w->ipv, w->proto);
    if (!addr_is (p->src, w->src) || !addr_is (p->dst, w->dst))
        return mismatch (msg, n, "addresses are not %s -> %s", w->src, w->dst);
    if (p->sport != w->sport || p->dport != w->dport)
        return mismatch (msg, n, "ports %u -> %u, expected %u -> %u", p->sport, p->dport, w->sport,
                         w->dport);
    if (p->vlan != w->vlan || p->tunnels != w->tunnels || p->first_fragment != w->ff)
        return mismatch (msg, n, "vlan %u tunnels %u first_fragment %d, expected %u %u %d", p->vlan,
                         p->tunnels, p->first_fragment, w->vlan, w->tunnels, w->ff);
    if (p->tcp_flags != w->tcp_flags || p->icmp_type != w->icmp_type || p->icmp_code != w->icmp_code)
        return mismatch (msg, n, "tcp flags %#x icmp %u/%u, expected %#x %u/%u", p->tcp_flags,
                         p->icmp_type, p->icmp_code, w->tcp_flags, w->icmp_type, w->icmp_code);
    const uint8_t *l3 = f + w->l2 + w->outer;
    if (p->l3 != l3 || p->l3_len != datagram_len (l3))
        return mismatch (msg, n, "l3 at %ld (%u bytes), expected at %u (%u bytes)",
                         (long) (p->l3 - f), p->l3_len, w->l2 + w->outer, datagram_len (l3));
    return true;
}

/*  decode_packet into a packet_t filled with garbage first: a field decode
    forgets to set shows.                                                    */
static decode_result_t
decode (int dlt, const uint8_t *f, uint32_t caplen, packet_t *p)
{
    memset (p, 0xa5, sizeof *p);
    return decode_packet (dlt, f, caplen, p);
}

/*  --------------------------------------------------------------------------
    The frames under test: pcapgen's and the ones built here                 */

typedef struct {
    char label[64];
    int dlt;
    const uint8_t *data;
    uint32_t caplen;
    const want_t *want;
} sample_t;

#define MAX_SAMPLES 256

typedef struct {
    sample_t s[MAX_SAMPLES];
    size_t n;
    uint8_t *owned[MAX_SAMPLES];    /* buffers of the frames built here      */
    size_t n_owned;
} samples_t;

static void
add_sample (samples_t *all, const char *label, int dlt, const uint8_t *data, uint32_t caplen,
            const want_t *want)
{
    if (all->n == MAX_SAMPLES) {
        printf ("too many samples\n");
        exit (2);
    }
    sample_t *s = &all->s[all->n++];
    snprintf (s->label, sizeof s->label, "%s", label);
    s->dlt = dlt;
    s->data = data;
    s->caplen = caplen;
    s->want = want;
}

/*  Scenario E: its link type, its frame count, each frame as stated.       */
static void
test_scenario (tally_t *t, const char *dir, const expect_t *e, scenario_t *sc, samples_t *all)
{
    if (!check (t, scenario_load (dir, e->name, sc), "%s: dpi-pcapgen capture", e->name))
        return;
    check (t, sc->dlt == e->dlt, "%s: link type %d, expected %d", e->name, sc->dlt, e->dlt);
    if (!check (t, sc->count == e->count, "%s: %zu frames, expected %zu", e->name, sc->count,
                e->count))
        return;
    for (size_t i = 0; i < sc->count; i++) {
        packet_t p;
        char msg[200], label[64];
        const scenario_frame_t *f = &sc->frames[i];
        decode_result_t rc = decode (sc->dlt, f->data, f->caplen, &p);
        check (t, frame_ok (&e->frames[i], f->data, rc, &p, msg, sizeof msg), "%s frame %zu: %s",
               e->name, i, msg);
        snprintf (label, sizeof label, "%s frame %zu", e->name, i);
        add_sample (all, label, sc->dlt, f->data, f->caplen, &e->frames[i]);
    }
}

/*  Framings dpi-pcapgen does not write, around the IPv4 query (frame 0:
    C4:53001 -> D4:53) or the IPv6 query (frame 2: C6:53002 -> D6:53) of its
    "dns" scenario.                                                          */
typedef struct {
    const char *what;
    int dlt;
    uint8_t head[28];
    uint8_t head_len;
    uint8_t inner;                  /* 4 or 6: which query                   */
    want_t want;
} framing_t;

#define Q4(l2, vlan) UDP (4, C4, 53001, D4, 53, l2, 0, vlan)
#define Q6(l2, vlan) UDP (6, C6, 53002, D6, 53, l2, 0, vlan)
#define MACS 2, 0, 0, 0, 0, 0x14, 2, 0, 0, 0, 0, 0x0a

static const framing_t s_framings[] = {
    { "MPLS, two labels", DLT_EN10MB, { MACS, 0x88, 0x47, 0, 1, 0, 64, 0, 2, 1, 64 }, 22, 4, Q4 (22, 0) },
    { "MPLS, IPv6", DLT_EN10MB, { MACS, 0x88, 0x47, 0, 3, 1, 64 }, 18, 6, Q6 (18, 0) },
    { "PPPoE", DLT_EN10MB, { MACS, 0x88, 0x64, 0x11, 0, 0, 1, 0, 64, 0, 0x21 }, 22, 4, Q4 (22, 0) },
    { "PPPoE, IPv6", DLT_EN10MB, { MACS, 0x88, 0x64, 0x11, 0, 0, 1, 0, 64, 0, 0x57 }, 22, 6, Q6 (22, 0) },
    { "802.1Q 42 + PPPoE", DLT_EN10MB,
      { MACS, 0x81, 0, 0, 42, 0x88, 0x64, 0x11, 0, 0, 1, 0, 64, 0, 0x21 }, 26, 4, Q4 (26, 42) },
    { "802.3 LLC/SNAP", DLT_EN10MB, { MACS, 0, 70, 0xaa, 0xaa, 3, 0, 0, 0, 8, 0 }, 22, 4, Q4 (22, 0) },
    { "QinQ 0x9100 7 + 802.1Q 8", DLT_EN10MB, { MACS, 0x91, 0, 0, 7, 0x81, 0, 0x20, 8, 8, 0 }, 22,
      4, Q4 (22, 8) },
    { "DLT_LOOP AF_INET", DLT_LOOP, { 0, 0, 0, 2 }, 4, 4, Q4 (4, 0) },
    { "DLT_LOOP AF_INET6 (24)", DLT_LOOP, { 0, 0, 0, 24 }, 4, 6, Q6 (4, 0) },
    { "DLT_NULL big-endian AF_INET", DLT_NULL, { 0, 0, 0, 2 }, 4, 4, Q4 (4, 0) },
    { "DLT_NULL big-endian AF_INET6 (28)", DLT_NULL, { 0, 0, 0, 28 }, 4, 6, Q6 (4, 0) },
    { "DLT_NULL AF_INET6 (10)", DLT_NULL, { 10, 0, 0, 0 }, 4, 6, Q6 (4, 0) },
    { "Cisco HDLC", DLT_C_HDLC, { 0x0f, 0, 0x08, 0 }, 4, 4, Q4 (4, 0) },
    { "Cisco HDLC broadcast, IPv6", DLT_C_HDLC, { 0x8f, 0, 0x86, 0xdd }, 4, 6, Q6 (4, 0) },
    { "PPP without address/control", DLT_PPP, { 0, 0x21 }, 2, 4, Q4 (2, 0) },
    { "DLT_PPP_SERIAL, IPv6", DLT_PPP_SERIAL, { 0xff, 3, 0, 0x57 }, 4, 6, Q6 (4, 0) },
    { "DLT_IPV4", DLT_IPV4, { 0 }, 0, 4, Q4 (0, 0) },
    { "DLT_IPV6", DLT_IPV6, { 0 }, 0, 6, Q6 (0, 0) },
};

/*  Room before a datagram being wrapped in headers.                        */
#define HEADROOM 256

static void
put16 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

/*  Put an IPv4 header carrying PROTO before the LEN bytes at BUF + *AT.    */
static void
wrap_ip4 (uint8_t *buf, size_t *at, size_t *len, uint8_t proto)
{
    uint8_t *h = buf + (*at -= 20);
    memset (h, 0, 20);
    h[0] = 0x45;
    put16 (h + 2, (uint32_t) (*len += 20));
    h[8] = 64;
    h[9] = proto;
}

static void
wrap_ip6 (uint8_t *buf, size_t *at, size_t *len, uint8_t next)
{
    uint8_t *h = buf + (*at -= 40);
    memset (h, 0, 40);
    h[0] = 0x60;
    put16 (h + 4, (uint32_t) *len);
    h[6] = next;
    h[7] = 64;
    *len += 40;
}

/*  HEAD then the LEN bytes at IP, in a buffer of their size: a sample.     */
static void
add_built (samples_t *all, const char *what, int dlt, const uint8_t *head, size_t head_len,
           const uint8_t *ip, size_t len, const want_t *want)
{
    uint8_t *f = malloc (head_len + len);
    if (!f)
        exit (2);
    memcpy (f, head, head_len);
    if (len)
        memcpy (f + head_len, ip, len);
    all->owned[all->n_owned++] = f;
    add_sample (all, what, dlt, f, (uint32_t) (head_len + len), want);
}

static const uint8_t s_eth_ip4[14] = { MACS, 0x08, 0x00 };

/*  The IPv4 query with 4 bytes of options (Router Alert): IHL 6.           */
static void
build_options (samples_t *all, const uint8_t *q4)
{
    static const want_t want = Q4 (14, 0);
    uint8_t ip[HEADROOM];
    size_t len = datagram_len (q4);
    memcpy (ip, q4, 20);
    memcpy (ip + 24, q4 + 20, len - 20);
    ip[0] = 0x46;
    put16 (ip + 2, (uint32_t) (len + 4));
    const uint8_t ra[4] = { 0x94, 4, 0, 0 };
    memcpy (ip + 20, ra, 4);
    add_built (all, "IPv4 with options", DLT_EN10MB, s_eth_ip4, 14, ip, len + 4, &want);
}

/*  The IPv4 query in IPv6 in IPv4 (2 tunnels), and in DECODE_MAX_TUNNELS
    levels of IP-in-IP (one more is the "malformed" scenario's).            */
static void
build_tunnels (samples_t *all, const uint8_t *q4)
{
    static const want_t two = { .rc = DECODE_OK, .ipv = 4, .proto = 17, .src = C4, .sport = 53001,
                                .dst = D4, .dport = 53, .l2 = 14, .outer = 60, .tunnels = 2 };
    static const want_t max = { .rc = DECODE_OK, .ipv = 4, .proto = 17, .src = C4, .sport = 53001,
                                .dst = D4, .dport = 53, .l2 = 14, .outer = 20 * DECODE_MAX_TUNNELS,
                                .tunnels = DECODE_MAX_TUNNELS };
    uint8_t buf[2 * HEADROOM];
    size_t len = datagram_len (q4), at = HEADROOM;
    memcpy (buf + at, q4, len);
    wrap_ip6 (buf, &at, &len, 4);
    wrap_ip4 (buf, &at, &len, 41);
    add_built (all, "4in6in4", DLT_EN10MB, s_eth_ip4, 14, buf + at, len, &two);
    len = datagram_len (q4);
    at = HEADROOM;
    for (int i = 0; i < DECODE_MAX_TUNNELS; i++)
        wrap_ip4 (buf, &at, &len, 4);
    add_built (all, "IP-in-IP, deepest allowed", DLT_EN10MB, s_eth_ip4, 14, buf + at, len, &max);
}

/*  Frames of pcapgen edited at the edge of what decodes: 16-bit fields set
    (offset in the frame, value), the frame cut to KEEP bytes (0: whole).   */
typedef struct {
    const char *what;
    const char *scenario;
    size_t frame;
    uint32_t keep;
    uint16_t at[2], value[2];
    want_t want;
} edit_t;

static const edit_t s_edits[] = {
    /* the SYN of "tcp-http" (IPv4, 24-byte TCP header), its total length set */
    { "TCP segment of 19 bytes", "tcp-http", 0, 0, { 16 }, { 39 }, BAD (DECODE_TOO_SHORT) },
    { "TCP segment of 20 bytes", "tcp-http", 0, 0, { 16 }, { 40 }, TCP (4, C4, 40000, S4, 80, SYN) },
    /* the IPv4 query of "dns" */
    { "UDP datagram of 7 bytes", "dns", 0, 0, { 16 }, { 27 }, BAD (DECODE_TOO_SHORT) },
    { "UDP datagram of 8 bytes", "dns", 0, 0, { 16 }, { 28 }, Q4 (14, 0) },
    /* the IPv6 query of "dns": payload length and next header (+ hop limit) */
    { "IPv6 payload of 1 byte of hop-by-hop", "dns", 2, 14 + 41, { 18, 20 }, { 1, 0x0040 },
      BAD (DECODE_TOO_SHORT) },
    { "IPv6 payload of 7 bytes of fragment header", "dns", 2, 14 + 47, { 18, 20 }, { 7, 0x2c40 },
      BAD (DECODE_TOO_SHORT) },
    { "IPv6 payload of 7 bytes of AH", "dns", 2, 14 + 47, { 18, 20 }, { 7, 0x3340 },
      BAD (DECODE_TOO_SHORT) },
    /* the IP-in-IP and 4in6 queries of "tunnels", the outer datagram made one
       byte shorter than the inner one it carries (the frame unchanged: the
       byte left over is like Ethernet padding) */
    { "inner IPv4 past the end of its IPv4 tunnel", "tunnels", 0, 0, { 16 }, { 81 },
      BAD (DECODE_BAD_IP) },
    { "inner IPv4 past the end of its IPv6 tunnel", "tunnels", 4, 0, { 18 }, { 66 },
      BAD (DECODE_BAD_IP) },
};

static const scenario_t *
find_scenario (const scenario_t *sc, const char *name)
{
    for (size_t i = 0; i < N_EXPECT; i++)
        if (strcmp (s_expect[i].name, name) == 0)
            return &sc[i];
    return NULL;
}

static void
build_edits (tally_t *t, const scenario_t *sc, samples_t *all)
{
    for (size_t i = 0; i < sizeof s_edits / sizeof s_edits[0]; i++) {
        const edit_t *e = &s_edits[i];
        const scenario_t *base = find_scenario (sc, e->scenario);
        if (!check (t, base && base->count > e->frame, "%s: base frame", e->what))
            continue;
        const scenario_frame_t *f = &base->frames[e->frame];
        uint32_t len = e->keep ? e->keep : f->caplen;
        uint8_t buf[128];
        if (!check (t, len <= f->caplen && len <= sizeof buf, "%s: base frame size", e->what))
            continue;
        memcpy (buf, f->data, len);
        for (int k = 0; k < 2 && e->at[k]; k++)
            put16 (buf + e->at[k], e->value[k]);
        add_built (all, e->what, base->dlt, buf, len, NULL, 0, &e->want);
    }
}

/*  Every framing of s_framings and the special builds, each decoded.       */
static void
test_built (tally_t *t, const scenario_t *sc, samples_t *all)
{
    const scenario_t *dns = find_scenario (sc, "dns");
    if (!check (t, dns->count == 5, "dns scenario loaded for the built frames"))
        return;
    const uint8_t *q4 = dns->frames[0].data + 14, *q6 = dns->frames[2].data + 14;
    size_t first = all->n;
    for (size_t i = 0; i < sizeof s_framings / sizeof s_framings[0]; i++) {
        const framing_t *fr = &s_framings[i];
        const uint8_t *ip = fr->inner == 4 ? q4 : q6;
        add_built (all, fr->what, fr->dlt, fr->head, fr->head_len, ip, datagram_len (ip), &fr->want);
    }
    build_options (all, q4);
    build_tunnels (all, q4);
    build_edits (t, sc, all);
    for (size_t i = first; i < all->n; i++) {
        const sample_t *s = &all->s[i];
        packet_t p;
        char msg[200];
        decode_result_t rc = decode (s->dlt, s->data, s->caplen, &p);
        check (t, frame_ok (s->want, s->data, rc, &p, msg, sizeof msg), "%s: %s", s->label, msg);
    }
}

/*  --------------------------------------------------------------------------
    Hostile input                                                            */

/*  What decode must say of the first CUT bytes of sample S (a frame that
    decodes): TOO_SHORT until its outermost IP header is whole, TRUNCATED
    until its datagram is, then (only padding cut) OK.                      */
static decode_result_t
cut_expected (const sample_t *s, uint32_t cut)
{
    const uint8_t *ip = s->data + s->want->l2;
    uint32_t header = (ip[0] >> 4) == 4 ? 20 : 40;
    if (cut < s->want->l2 + header)
        return DECODE_TOO_SHORT;
    if (cut < s->want->l2 + datagram_len (ip))
        return DECODE_TRUNCATED;
    return DECODE_OK;
}

/*  Decode every truncation of S, each in an exact-size buffer. Returns the
    count of wrong answers, the first one in MSG.                           */
static unsigned
cut_all (const sample_t *s, char *msg, size_t n)
{
    unsigned wrong = 0;
    for (uint32_t cut = 0; cut < s->caplen; cut++) {
        uint8_t *copy = exact_copy (s->data, cut);
        packet_t p;
        decode_result_t rc = decode (s->dlt, copy, cut, &p);
        bool ok;
        char why[160] = "";
        if (s->want->rc != DECODE_OK)
            ok = rc != DECODE_OK && rc < DECODE_REASONS;
        else {
            want_t w = *s->want;
            w.rc = cut_expected (s, cut);
            ok = frame_ok (&w, copy, rc, &p, why, sizeof why);
        }
        if (!ok && wrong++ == 0)
            snprintf (msg, n, "cut at %u: %s %s", cut, decode_reason_name (rc), why);
        free (copy);
    }
    return wrong;
}

static void
test_truncations (tally_t *t, const samples_t *all)
{
    unsigned cuts = 0;
    for (size_t i = 0; i < all->n; i++) {
        char msg[300] = "";
        unsigned wrong = cut_all (&all->s[i], msg, sizeof msg);
        check (t, wrong == 0, "%s: %u of %u truncations wrong, first %s", all->s[i].label, wrong,
               all->s[i].caplen, msg);
        cuts += all->s[i].caplen;
    }
    check (t, cuts > 10000, "%u truncations tried", cuts);
}

/*  A reason in range; when decoded, an IP version, a 12-bit VLAN, at most
    DECODE_MAX_TUNNELS tunnels and the l3 bytes inside the LEN-byte BUF.   */
static bool
sane (decode_result_t rc, const packet_t *p, const uint8_t *buf, uint32_t len)
{
    if (rc >= DECODE_REASONS)
        return false;
    if (rc != DECODE_OK)
        return true;
    uintptr_t start = (uintptr_t) buf, l3 = (uintptr_t) p->l3;
    return (p->ip_version == 4 || p->ip_version == 6) && p->vlan <= 0x0fff
           && p->tunnels <= DECODE_MAX_TUNNELS && l3 >= start && l3 + p->l3_len <= start + len;
}

#define FLIPS 5000

/*  Sample S with 1 to 3 bytes of its headers flipped, cut at a random
    length one time in four; decoded from an exact-size buffer.            */
static decode_result_t
flip_once (const sample_t *s, uint32_t *seed, bool *ok)
{
    uint32_t len = s->caplen;
    if (tally_random (seed) % 4 == 0)
        len = tally_random (seed) % len;
    uint8_t *buf = exact_copy (s->data, len);
    uint32_t reach = s->want->l2 + s->want->outer + 64u;
    reach = reach < len ? reach : len;
    for (uint32_t k = tally_random (seed) % 3 + 1; reach && k > 0; k--)
        buf[tally_random (seed) % reach] ^= (uint8_t) (tally_random (seed) % 255 + 1);
    packet_t p;
    decode_result_t rc = decode (s->dlt, buf, len, &p);
    *ok = sane (rc, &p, buf, len);
    free (buf);
    return rc;
}

static void
test_flips (tally_t *t, const samples_t *all)
{
    const sample_t *valid[MAX_SAMPLES];
    size_t n = 0;
    for (size_t i = 0; i < all->n; i++)
        if (all->s[i].want->rc == DECODE_OK)
            valid[n++] = &all->s[i];
    uint32_t seed = 20231114, insane = 0, seen[DECODE_REASONS] = { 0 };
    for (int i = 0; n && i < FLIPS; i++) {
        bool ok;
        decode_result_t rc = flip_once (valid[tally_random (&seed) % n], &seed, &ok);
        insane += !ok;
        if (rc < DECODE_REASONS)
            seen[rc]++;
    }
    check (t, insane == 0, "%u of %d flipped frames decoded to nonsense", insane, FLIPS);
    int reasons = 0;
    for (int r = 0; r < DECODE_REASONS; r++)
        reasons += seen[r] > 0;
    check (t, seen[DECODE_OK] > 0 && reasons >= 5, "flips reached %d reasons (%u decoded)", reasons,
           seen[DECODE_OK]);
}

/*  --------------------------------------------------------------------------
    Link types and reason names                                              */

static void
test_links (tally_t *t, const scenario_t *dns)
{
    const int supported[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_IPV4,
                              DLT_IPV6, DLT_NULL, DLT_LOOP, DLT_PPP, DLT_PPP_SERIAL, DLT_C_HDLC };
    const int unsupported[] = { DLT_IEEE802_11, DLT_IEEE802_11_RADIO, DLT_USB_LINUX, DLT_NFLOG,
                                DLT_EN3MB, DLT_FDDI, -1, 100000 };
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        check (t, decode_link_supported (supported[i]), "link type %d supported", supported[i]);
    if (dns->count == 0)
        return;
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        packet_t p;
        check (t, !decode_link_supported (unsupported[i]), "link type %d not supported",
               unsupported[i]);
        decode_result_t rc = decode (unsupported[i], dns->frames[0].data, dns->frames[0].caplen, &p);
        check (t, rc == DECODE_BAD_LINK, "link type %d: %s", unsupported[i], decode_reason_name (rc));
    }
}

static void
test_reason_names (tally_t *t)
{
    /* the counter names of the collector's summary (pcapgen's EXPECT.json) */
    static const char *names[DECODE_REASONS] = {
        [DECODE_OK] = "ok", [DECODE_TOO_SHORT] = "too-short", [DECODE_NOT_IP] = "not-ip",
        [DECODE_BAD_IP] = "bad-ip", [DECODE_FRAGMENT] = "fragment",
        [DECODE_TUNNEL_DEPTH] = "tunnel-depth", [DECODE_BAD_LINK] = "bad-link",
        [DECODE_TRUNCATED] = "truncated",
    };
    for (int r = 0; r < DECODE_REASONS; r++) {
        const char *name = decode_reason_name ((decode_result_t) r);
        check (t, names[r] && name && strcmp (name, names[r]) == 0, "reason %d named %s", r,
               name ? name : "(null)");
    }
    for (int r = DECODE_REASONS; r < DECODE_REASONS + 3; r++) {
        const char *name = decode_reason_name ((decode_result_t) r);
        bool known = false;
        for (int k = 0; name && k < DECODE_REASONS; k++)
            known |= strcmp (name, names[k]) == 0;
        check (t, name && *name && !known, "reason %d out of range named %s", r,
               name ? name : "(null)");
    }
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_decode.XXXXXX";
    scenario_mkdtemp (dir);
    static scenario_t sc[N_EXPECT];
    static samples_t all;
    for (size_t i = 0; i < N_EXPECT; i++)
        test_scenario (&t, dir, &s_expect[i], &sc[i], &all);
    test_built (&t, sc, &all);
    test_truncations (&t, &all);
    test_flips (&t, &all);
    test_links (&t, find_scenario (sc, "dns"));
    test_reason_names (&t);
    for (size_t i = 0; i < all.n_owned; i++)
        free (all.owned[i]);
    for (size_t i = 0; i < N_EXPECT; i++)
        scenario_free (&sc[i]);
    remove_tree (dir);
    return tally_report (&t);
}
