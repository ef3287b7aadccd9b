/*  ipnet.c — see ipnet.h.                                                   */
#include "ipnet.h"
#include "hash.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

unsigned
ipnet_bits (int family)
{
    return family == AF_INET ? 32 : 128;
}

void
ipnet_mask (const uint8_t *addr, int family, unsigned prefix, uint8_t out[16])
{
    unsigned bytes = family == AF_INET ? 4 : 16;
    memset (out, 0, 16);
    memcpy (out, addr, bytes);
    for (unsigned i = 0; i < bytes; i++) {
        unsigned bit = i * 8;
        if (bit >= prefix)
            out[i] = 0;
        else if (prefix - bit < 8)
            out[i] &= (uint8_t) (0xff << (8 - (prefix - bit)));
    }
}

int
ipnet_parse_addr (const char *text, int *family, uint8_t addr[16])
{
    memset (addr, 0, 16);
    if (inet_pton (AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton (AF_INET6, text, addr) != 1)
        return -1;
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (memcmp (addr, v4mapped, 12) == 0) {
        memmove (addr, addr + 12, 4);
        memset (addr + 4, 0, 12);
        *family = AF_INET;
    }
    else
        *family = AF_INET6;
    return 0;
}

static void
set_error (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
}

/*  The prefix length after the slash P for an address of FAMILY (MAPPED:
    written as IPv4-mapped IPv6) into *PREFIX. 0, or -1 with a reason.      */
static int
parse_prefix (const char *p, int family, bool mapped, unsigned *prefix, char *err,
              size_t errlen)
{
    if (*p == 0 || strlen (p) > 3 || strspn (p, "0123456789") != strlen (p)) {
        set_error (err, errlen, "prefix '/%.16s' is not a number", p);
        return -1;
    }
    unsigned n = (unsigned) atoi (p);
    if (mapped) {
        if (n < 96 || n > 128) {
            set_error (err, errlen, "prefix /%u of an IPv4-mapped address must be 96..128", n);
            return -1;
        }
        n -= 96;
    }
    else if (n > ipnet_bits (family)) {
        set_error (err, errlen, "prefix /%u is out of range for IPv%d (0..%u)", n,
                   family == AF_INET ? 4 : 6, ipnet_bits (family));
        return -1;
    }
    *prefix = n;
    return 0;
}

int
ipnet_parse (const char *text, ipnet_t *net, char *err, size_t errlen)
{
    char addr_text[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr (text, '/');
    size_t addr_len = slash ? (size_t) (slash - text) : strlen (text);
    if (addr_len == 0 || addr_len >= sizeof addr_text) {
        set_error (err, errlen, "'%.64s' is not an IP address", text);
        return -1;
    }
    memcpy (addr_text, text, addr_len);
    addr_text[addr_len] = 0;
    uint8_t addr[16];
    int family;
    if (ipnet_parse_addr (addr_text, &family, addr) != 0) {
        set_error (err, errlen, "'%s' is not an IP address", addr_text);
        return -1;
    }
    unsigned prefix = ipnet_bits (family);
    /* an IPv4-mapped address keeps its IPv6 prefix length until here */
    bool mapped = family == AF_INET && strchr (addr_text, ':');
    if (slash && parse_prefix (slash + 1, family, mapped, &prefix, err, errlen) != 0)
        return -1;
    net->family = family;
    net->prefix = prefix;
    ipnet_mask (addr, family, prefix, net->addr);
    return 0;
}

void
ipnet_format (const ipnet_t *net, char *out, size_t outlen)
{
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop (net->family, net->addr, text, sizeof text))
        snprintf (text, sizeof text, "?");
    if (net->prefix == ipnet_bits (net->family))
        snprintf (out, outlen, "%s", text);
    else
        snprintf (out, outlen, "%s/%u", text, net->prefix);
}

bool
ipnet_contains (const ipnet_t *net, int family, const uint8_t *addr)
{
    if (net->family != family)
        return false;
    uint8_t masked[16];
    ipnet_mask (addr, family, net->prefix, masked);
    return memcmp (masked, net->addr, 16) == 0;
}

uint64_t
ipnet_hash (const ipnet_t *net, uint64_t seed)
{
    uint64_t w0, w1;
    memcpy (&w0, net->addr, 8);
    memcpy (&w1, net->addr + 8, 8);
    uint64_t h = hash_mix64 (seed ^ w0);
    h = hash_mix64 (h ^ w1);
    return hash_mix64 (h ^ ((uint64_t) net->family << 16 | net->prefix));
}

bool
ipnet_equal (const ipnet_t *a, const ipnet_t *b)
{
    return a->family == b->family && a->prefix == b->prefix
           && memcmp (a->addr, b->addr, 16) == 0;
}
