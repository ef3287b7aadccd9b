/*  ipnet.h — IPv4 and IPv6 addresses and prefixes ("CIDRs"), parsed,
    masked, printed and matched. Shared by the bridge's ban list and the
    correlator's whitelist.

    An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address; a
    prefix written on one ("::ffff:192.0.2.0/120") must be 96..128 and
    becomes the IPv4 prefix less 96. Host bits below the prefix are cleared
    ("192.0.2.7/24" is 192.0.2.0/24). Pure functions, any thread.          */
#ifndef DPI_IPNET_H
#define DPI_IPNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  A parsed address or range.                                               */
typedef struct {
    int family;                 /* AF_INET or AF_INET6                       */
    uint8_t addr[16];           /* network order; 4 bytes used for AF_INET   */
    unsigned prefix;            /* 0..32 or 0..128                           */
} ipnet_t;

/*  32 for AF_INET, 128 otherwise.                                           */
unsigned ipnet_bits (int family);

/*  Parse a plain address ("IP", no prefix) into FAMILY and ADDR (16 bytes
    written). 0 or -1.                                                       */
int ipnet_parse_addr (const char *text, int *family, uint8_t addr[16]);

/*  Parse "IP" or "IP/PREFIX" into NET. 0, or -1 with a reason in ERR.       */
int ipnet_parse (const char *text, ipnet_t *net, char *err, size_t errlen);

/*  NET as text: "ADDR/PREFIX", or the bare address for a full prefix.      */
void ipnet_format (const ipnet_t *net, char *out, size_t outlen);

/*  ADDR (of FAMILY) with the bits past PREFIX cleared into OUT (16 bytes).  */
void ipnet_mask (const uint8_t *addr, int family, unsigned prefix, uint8_t out[16]);

/*  Is ADDR (of FAMILY, as ipnet_parse_addr gives it) inside NET?           */
bool ipnet_contains (const ipnet_t *net, int family, const uint8_t *addr);

/*  NET's hash under SEED (a table's own, against collision attacks), and
    whether two networks are the same (family, prefix, address).           */
uint64_t ipnet_hash (const ipnet_t *net, uint64_t seed);
bool ipnet_equal (const ipnet_t *a, const ipnet_t *b);

#endif
