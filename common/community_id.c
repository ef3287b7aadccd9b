/*  community_id.c — see community_id.h.

    The hash input is at most 2 + 16 + 16 + 2 + 4 = 40 bytes, so one SHA-1
    block (with padding) covers it; everything lives on the stack.           */
#include "community_id.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/*  ---------------------------------------------------------------------
    SHA-1 (FIPS 180-1)                                                     */

static uint32_t
rol32 (uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t
load_be32 (const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
         | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static void
store_be32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

/*  Processes one 64-byte block into the chaining state H. The message
    schedule is kept as a 16-word ring: W[t] = rol1 (W[t-3] ^ W[t-8] ^
    W[t-14] ^ W[t-16]).                                                      */
static void
sha1_compress (uint32_t h[5], const uint8_t block[64])
{
    uint32_t w[16];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32 (block + 4 * t);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        if (t >= 16)
            w[t & 15] = rol32 (w[(t - 3) & 15] ^ w[(t - 8) & 15]
                             ^ w[(t - 14) & 15] ^ w[t & 15], 1);
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        }
        else
        if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        }
        else
        if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        }
        else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t temp = rol32 (a, 5) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = rol32 (b, 30);
        b = a;
        a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void
community_id_sha1 (const void *data, size_t len, uint8_t digest[COMMUNITY_ID_SHA1_LEN])
{
    uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
    const uint8_t *p = data;
    size_t full = len / 64;
    for (size_t i = 0; i < full; i++)
        sha1_compress (h, p + 64 * i);

    /*  Tail: the remaining bytes, 0x80, zeros, then the bit length as a
        64-bit big-endian number; one block if it fits in 56 bytes, else two. */
    uint8_t tail[128] = { 0 };
    size_t rest = len % 64;
    if (rest)
        memcpy (tail, p + 64 * full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t) len * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t) (bits >> (8 * i));
    sha1_compress (h, tail);
    if (tail_len == 128)
        sha1_compress (h, tail + 64);

    for (int i = 0; i < 5; i++)
        store_be32 (digest + 4 * i, h[i]);
}

/*  ---------------------------------------------------------------------
    Tuple canonicalisation                                                  */

static bool
proto_has_ports (uint8_t proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP
        || proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/*  The request/reply pairs of the spec (pycommunityid icmp.py and icmp6.py,
    after Zeek's ICMP4_counterpart / ICMP6_counterpart). Returns the
    counterpart type, or -1 if TYPE is one-way.                             */
static int
icmp_counterpart (uint8_t proto, uint16_t type)
{
    if (proto == IPPROTO_ICMP)
        switch (type) {
            case 8:   return 0;     /* echo request -> echo reply */
            case 0:   return 8;
            case 13:  return 14;    /* timestamp -> timestamp reply */
            case 14:  return 13;
            case 15:  return 16;    /* information request -> reply */
            case 16:  return 15;
            case 10:  return 9;     /* router solicitation -> advertisement */
            case 9:   return 10;
            case 17:  return 18;    /* address mask request -> reply */
            case 18:  return 17;
            default:  return -1;
        }
    switch (type) {
        case 128: return 129;       /* echo request -> echo reply */
        case 129: return 128;
        case 130: return 131;       /* MLD listener query -> report */
        case 131: return 130;
        case 133: return 134;       /* router solicitation -> advertisement */
        case 134: return 133;
        case 135: return 136;       /* neighbor solicitation -> advertisement */
        case 136: return 135;
        case 139: return 140;       /* node information query -> response */
        case 140: return 139;
        case 144: return 145;       /* home agent address discovery */
        case 145: return 144;
        default:  return -1;
    }
}

static char *
put_be16 (char *p, uint16_t v)
{
    p[0] = (char) (v >> 8);
    p[1] = (char) v;
    return p + 2;
}

static void
encode_base64 (const uint8_t *in, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t) in[i] << 16;
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    }
    else
    if (len - i == 2) {
        uint32_t v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = '\0';
}

static void
encode_hex (const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        *out++ = digits[in[i] >> 4];
        *out++ = digits[in[i] & 15];
    }
    *out = '\0';
}

int
community_id_v1 (const community_id_tuple_t *t, uint16_t seed, bool hex,
                 char *out, size_t outlen)
{
    if (!t || !out)
        return -1;
    size_t alen;
    if (t->family == AF_INET)
        alen = 4;
    else
    if (t->family == AF_INET6)
        alen = 16;
    else
        return -1;
    if (outlen < (hex ? COMMUNITY_ID_V1_HEX_SIZE : COMMUNITY_ID_V1_BASE64_SIZE))
        return -1;

    bool ports = proto_has_ports (t->proto);
    uint16_t sport = ports ? t->sport : 0;
    uint16_t dport = ports ? t->dport : 0;
    bool one_way = false;
    if (t->proto == IPPROTO_ICMP || t->proto == IPPROTO_ICMPV6) {
        int counter = icmp_counterpart (t->proto, sport);
        if (counter < 0)
            one_way = true;         /* dport stays the code */
        else
            dport = (uint16_t) counter;
    }

    const uint8_t *saddr = t->src, *daddr = t->dst;
    if (!one_way) {
        int cmp = memcmp (saddr, daddr, alen);
        bool in_order = cmp < 0 || (cmp == 0 && sport < dport);
        if (!in_order) {
            saddr = t->dst;
            daddr = t->src;
            uint16_t swap = sport;
            sport = dport;
            dport = swap;
        }
    }

    char input[40];
    char *p = put_be16 (input, seed);
    memcpy (p, saddr, alen);
    p += alen;
    memcpy (p, daddr, alen);
    p += alen;
    *p++ = (char) t->proto;
    *p++ = 0;
    if (ports) {
        p = put_be16 (p, sport);
        p = put_be16 (p, dport);
    }

    uint8_t digest[COMMUNITY_ID_SHA1_LEN];
    community_id_sha1 (input, (size_t) (p - input), digest);

    out[0] = '1';
    out[1] = ':';
    if (hex)
        encode_hex (digest, sizeof digest, out + 2);
    else
        encode_base64 (digest, sizeof digest, out + 2);
    return hex ? COMMUNITY_ID_V1_HEX_SIZE - 1 : COMMUNITY_ID_V1_BASE64_SIZE - 1;
}

/*  Fills ADDR from TEXT and returns its family, or -1.                      */
static int
parse_address (const char *text, uint8_t addr[16])
{
    if (!text)
        return -1;
    if (inet_pton (AF_INET, text, addr) == 1)
        return AF_INET;
    if (inet_pton (AF_INET6, text, addr) == 1)
        return AF_INET6;
    return -1;
}

int
community_id_v1_str (const char *src_ip, uint16_t sport,
                     const char *dst_ip, uint16_t dport, uint8_t proto,
                     uint16_t seed, bool hex, char *out, size_t outlen)
{
    community_id_tuple_t t;
    memset (&t, 0, sizeof t);
    int sfamily = parse_address (src_ip, t.src);
    int dfamily = parse_address (dst_ip, t.dst);
    if (sfamily < 0 || sfamily != dfamily)
        return -1;
    t.family = sfamily;
    t.proto = proto;
    t.sport = sport;
    t.dport = dport;
    return community_id_v1 (&t, seed, hex, out, outlen);
}
