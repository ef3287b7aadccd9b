/*  decode.c — see decode.h.                                                 */
#include "decode.h"

#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

#define ETH_IPV4   0x0800
#define ETH_IPV6   0x86dd
#define ETH_VLAN   0x8100
#define ETH_QINQ   0x88a8
#define ETH_QINQ_OLD 0x9100
#define ETH_MPLS   0x8847
#define ETH_MPLS_M 0x8848
#define ETH_PPPOE  0x8864

#define PPP_IPV4   0x0021
#define PPP_IPV6   0x0057

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

static const char *s_reasons[] = {
    "ok", "too-short", "not-ip", "bad-ip", "fragment", "tunnel-depth", "bad-link", "truncated",
};

const char *
decode_reason_name (decode_result_t reason)
{
    return reason < DECODE_REASONS ? s_reasons[reason] : "unknown";
}

bool
decode_link_supported (int dlt)
{
    switch (dlt) {
    case DLT_EN10MB: case DLT_LINUX_SLL: case DLT_LINUX_SLL2: case DLT_RAW:
    case DLT_IPV4: case DLT_IPV6: case DLT_NULL: case DLT_LOOP:
    case DLT_PPP: case DLT_PPP_SERIAL: case DLT_C_HDLC:
        return true;
    default:
        return false;
    }
}

static inline uint16_t
get16 (const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

/*  Link layer: set *OFFSET to the network header, return its ethertype
    (or 0x0800/0x86dd for links that carry IP only). -1 when too short,
    0 when not IP.                                                           */
static long
link_layer (int dlt, const uint8_t *f, uint32_t caplen, uint32_t *offset)
{
    switch (dlt) {
    case DLT_EN10MB: {
        if (caplen < 14)
            return -1;
        uint16_t type = get16 (f + 12);
        *offset = 14;
        if (type <= 1500) {             /* 802.3 length: LLC, maybe SNAP */
            if (caplen < 22)
                return -1;
            if (f[14] == 0xaa && f[15] == 0xaa) {
                *offset = 22;
                return get16 (f + 20);
            }
            return 0;
        }
        return type;
    }
    case DLT_LINUX_SLL:
        if (caplen < 16)
            return -1;
        *offset = 16;
        return get16 (f + 14);
    case DLT_LINUX_SLL2:
        if (caplen < 20)
            return -1;
        *offset = 20;
        return get16 (f);
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        if (caplen < 1)
            return -1;
        *offset = 0;
        return (f[0] >> 4) == 6 ? ETH_IPV6 : ETH_IPV4;
    case DLT_NULL:
    case DLT_LOOP: {
        if (caplen < 4)
            return -1;
        *offset = 4;
        /* the family is in host order of the capturing machine */
        uint32_t family_le = (uint32_t) f[0] | (uint32_t) f[1] << 8, family_be = get16 (f + 2);
        uint32_t family = dlt == DLT_LOOP ? family_be : (family_le ? family_le : family_be);
        if (family == 2)
            return ETH_IPV4;
        if (family == 10 || family == 24 || family == 28 || family == 30)
            return ETH_IPV6;
        return 0;
    }
    case DLT_PPP:
    case DLT_PPP_SERIAL:
    case DLT_C_HDLC: {
        if (caplen < 4)
            return -1;
        uint16_t proto;
        if (f[0] == 0xff && f[1] == 0x03) {         /* HDLC-like framing */
            proto = get16 (f + 2);
            *offset = 4;
        }
        else if (f[0] == 0x0f || f[0] == 0x8f) {    /* Cisco HDLC: ethertype */
            *offset = 4;
            return get16 (f + 2);
        }
        else {
            proto = get16 (f);
            *offset = 2;
        }
        return proto == PPP_IPV4 ? ETH_IPV4 : proto == PPP_IPV6 ? ETH_IPV6 : 0;
    }
    default:
        return -2;
    }
}

/*  802.1Q/QinQ, MPLS and PPPoE between the link and IP.                     */
static long
shims (const uint8_t *f, uint32_t caplen, uint32_t *offset, long type, packet_t *pkt)
{
    for (int guard = 0; guard < 16; guard++) {
        uint32_t o = *offset;
        if (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD) {
            if (caplen < o + 4)
                return -1;
            pkt->vlan = get16 (f + o) & 0x0fff;
            type = get16 (f + o + 2);
            *offset = o + 4;
        }
        else if (type == ETH_MPLS || type == ETH_MPLS_M) {
            bool bottom = false;
            while (!bottom) {
                if (caplen < *offset + 4)
                    return -1;
                bottom = f[*offset + 2] & 1;
                *offset += 4;
            }
            if (caplen < *offset + 1)
                return -1;
            type = (f[*offset] >> 4) == 6 ? ETH_IPV6 : ETH_IPV4;
        }
        else if (type == ETH_PPPOE) {
            if (caplen < o + 8)
                return -1;
            uint16_t proto = get16 (f + o + 6);
            *offset = o + 8;
            type = proto == PPP_IPV4 ? ETH_IPV4 : proto == PPP_IPV6 ? ETH_IPV6 : 0;
        }
        else
            return type;
    }
    return 0;
}

/*  The transport header at L4 (LEN captured bytes).                         */
static void
transport (const uint8_t *l4, uint32_t len, packet_t *pkt)
{
    switch (pkt->proto) {
    case IPPROTO_TCP:                               /* a whole header */
        if (len >= 20) {
            pkt->sport = get16 (l4);
            pkt->dport = get16 (l4 + 2);
            pkt->tcp_flags = l4[13];
        }
        break;
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
    case IPPROTO_UDPLITE:
        if (len >= 8) {
            pkt->sport = get16 (l4);
            pkt->dport = get16 (l4 + 2);
        }
        break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        if (len >= 2) {
            pkt->icmp_type = l4[0];
            pkt->icmp_code = l4[1];
        }
        break;
    default:
        break;
    }
}

/*  IPv6 extension headers from *NEXT at *OFF; stops at the transport
    header. Returns DECODE_OK, DECODE_FRAGMENT or a bad/short reason.       */
static decode_result_t
ipv6_extensions (const uint8_t *ip, uint32_t len, uint32_t *off, uint8_t *next, packet_t *pkt)
{
    for (int guard = 0; guard < 16; guard++) {
        switch (*next) {
        case IPPROTO_HOPOPTS:
        case IPPROTO_ROUTING:
        case IPPROTO_DSTOPTS:
        case IPPROTO_MH:
            if (len < *off + 8)
                return DECODE_TOO_SHORT;
            *next = ip[*off];
            *off += 8u + 8u * ip[*off + 1];
            break;
        case IPPROTO_AH:                            /* length in 4-byte units */
            if (len < *off + 8)
                return DECODE_TOO_SHORT;
            *next = ip[*off];
            *off += 4u * (ip[*off + 1] + 2u);
            break;
        case IPPROTO_FRAGMENT: {
            if (len < *off + 8)
                return DECODE_TOO_SHORT;
            uint16_t frag = get16 (ip + *off + 2);
            *next = ip[*off];
            *off += 8;
            if (frag & 0xfff8)
                return DECODE_FRAGMENT;
            pkt->first_fragment = frag & 1;
            break;
        }
        default:
            return *off <= len ? DECODE_OK : DECODE_TOO_SHORT;
        }
    }
    return DECODE_BAD_IP;
}

/*  One IP header at IP (LEN bytes hold its datagram): addresses, the next
    protocol and where it starts (*NEXT, *L4OFF), the datagram's length
    (*LEN trimmed of padding). OVERRUN is the answer when the datagram
    claims more than LEN.                                                     */
static decode_result_t
ip_header (const uint8_t *ip, uint32_t *len, decode_result_t overrun, uint8_t *next,
           uint32_t *l4off, packet_t *pkt)
{
    uint8_t version = ip[0] >> 4;
    memset (pkt->src, 0, 16);
    memset (pkt->dst, 0, 16);
    pkt->first_fragment = false;
    if (version == 4) {
        uint32_t ihl = (ip[0] & 15u) * 4u;
        if (*len < 20)
            return DECODE_TOO_SHORT;
        /* options cut by the capture (ihl > len) are a truncated
           datagram (total length >= ihl > len), found below */
        if (ihl < 20 || get16 (ip + 2) < ihl)
            return DECODE_BAD_IP;
        uint16_t frag = get16 (ip + 6);
        if (frag & 0x1fff)
            return DECODE_FRAGMENT;
        pkt->first_fragment = frag & 0x2000;
        memcpy (pkt->src, ip + 12, 4);
        memcpy (pkt->dst, ip + 16, 4);
        *next = ip[9];
        *l4off = ihl;
        if (get16 (ip + 2) > *len)
            return overrun;
        /* a datagram shorter than captured (Ethernet padding): trim */
        *len = get16 (ip + 2);
        return DECODE_OK;
    }
    if (version != 6)
        return DECODE_BAD_IP;
    if (*len < 40)
        return DECODE_TOO_SHORT;
    memcpy (pkt->src, ip + 8, 16);
    memcpy (pkt->dst, ip + 24, 16);
    *next = ip[6];
    *l4off = 40;
    if (40u + get16 (ip + 4) > *len)
        return overrun;
    if (get16 (ip + 4) != 0)            /* 0: jumbogram, keep what we have */
        *len = 40u + get16 (ip + 4);
    return ipv6_extensions (ip, *len, l4off, next, pkt);
}

decode_result_t
decode_packet (int dlt, const uint8_t *f, uint32_t caplen, packet_t *pkt)
{
    memset (pkt, 0, sizeof *pkt);
    uint32_t off = 0;
    long type = link_layer (dlt, f, caplen, &off);
    if (type == -2)
        return DECODE_BAD_LINK;
    if (type >= 0)
        type = shims (f, caplen, &off, type, pkt);
    if (type < 0)
        return DECODE_TOO_SHORT;
    if (type != ETH_IPV4 && type != ETH_IPV6)
        return DECODE_NOT_IP;

    /* where the bytes of the datagram at OFF end: the capture, then in a
       tunnel the end of the outer datagram (not its Ethernet padding) */
    uint32_t end = caplen;
    for (int depth = 0; depth <= DECODE_MAX_TUNNELS; depth++) {
        if (end <= off)
            return DECODE_TOO_SHORT;
        const uint8_t *ip = f + off;
        uint32_t len = end - off, l4off;
        uint8_t next;
        /* a datagram longer than what holds it: cut by the capture, or
           longer than the tunnel's datagram around it */
        decode_result_t rc = ip_header (ip, &len, depth ? DECODE_BAD_IP : DECODE_TRUNCATED,
                                        &next, &l4off, pkt);
        if (rc != DECODE_OK)
            return rc;
        if (next == IPPROTO_IPIP || next == IPPROTO_IPV6) {     /* IP-in-IP, 6in4 / 4in6 */
            if (pkt->first_fragment)
                return DECODE_FRAGMENT;             /* inner header split: cannot follow */
            end = off + len;
            off += l4off;
            pkt->tunnels++;
            continue;
        }
        /* a transport header cut short is malformed (ndpiReader would make
           a flow with ports 0 of it; we count it) */
        if ((next == IPPROTO_TCP && len < l4off + 20) || (next == IPPROTO_UDP && len < l4off + 8))
            return DECODE_TOO_SHORT;
        pkt->ip_version = ip[0] >> 4;
        pkt->proto = next;
        pkt->l3 = ip;
        pkt->l3_len = (uint16_t) (len > 65535 ? 65535 : len);
        transport (ip + l4off, len > l4off ? len - l4off : 0, pkt);
        return DECODE_OK;
    }
    return DECODE_TUNNEL_DEPTH;
}
