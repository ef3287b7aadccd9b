/*  banlist.h — banned addresses and ranges, IPv4 and IPv6, with expiry.

    Structure: one hash table of entries keyed by (family, prefix length,
    network address masked to that length). An exact address is simply a
    /32 or /128 entry. Beside the table, a count of entries per (family,
    prefix length) says which lengths are in use. A lookup masks the address
    to each length in use, longest first, and probes the table once per
    length: with the usual handful of lengths (exact addresses plus /24,
    /16, /64, ...) that is a few hash probes of an 18-byte key, with no
    pointer chasing through a tree. The worst case is bounded (33 lengths
    for IPv4, 129 for IPv6). This "hash per prefix length" layout is what
    ipset's hash:net and many routers use; a patricia tree would win only
    with many distinct lengths, which ban lists do not have.

    Every entry has an expiry (wall clock, ns since the epoch; 0 = never).
    Expired entries are purged lazily: a lookup that meets one removes it,
    and banlist_purge sweeps the table (the bridge calls it once per
    heartbeat). Either way the entry is counted in banlist_expired.

    Adding an entry that exists extends it: the later expiry wins, and
    "never" beats any time. Host bits below the prefix are cleared
    ("192.0.2.7/24" is 192.0.2.0/24). IPv4-mapped IPv6 addresses
    (::ffff:a.b.c.d) are IPv4.

    The ban file: one "IP[/PREFIX] [DURATION_S]" per line; blank lines and
    "#" comments (whole line or trailing) are ignored; a duration counts
    from the load. Errors name FILE:LINE.

    Not thread safe: one owner.                                             */
#ifndef DPI_BRIDGE_BANLIST_H
#define DPI_BRIDGE_BANLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ipnet.h"

typedef struct banlist_t banlist_t;

/*  A parsed address or range (common/ipnet.h).                              */
typedef ipnet_t banlist_net_t;

/*  What a lookup found.                                                     */
typedef struct {
    char net[64];               /* "203.0.113.0/24", or the exact address    */
    uint64_t expires_ns;        /* 0 = never                                 */
} banlist_hit_t;

banlist_t *banlist_new (void);
void banlist_destroy (banlist_t **self_p);

/*  Parse "IP" or "IP/PREFIX" into NET. 0, or -1 with a reason in ERR
    (ipnet_parse).                                                           */
int banlist_parse_net (const char *text, banlist_net_t *net, char *err, size_t errlen);

/*  Parse a plain address ("IP", no prefix): a lookup key. 0 or -1.          */
int banlist_parse_addr (const char *text, int *family, uint8_t addr[16]);

/*  Ban NET until EXPIRES_NS (0 = never); extends an existing entry.
    0, or -1 when out of memory.                                             */
int banlist_add (banlist_t *self, const banlist_net_t *net, uint64_t expires_ns);

/*  Lift the ban on exactly NET (same address and prefix). 1 removed,
    0 not there.                                                             */
int banlist_remove (banlist_t *self, const banlist_net_t *net);

/*  Is ADDR (4 or 16 bytes by FAMILY) banned at NOW_NS? The most specific
    live entry goes to HIT (may be NULL).                                    */
bool banlist_lookup (banlist_t *self, int family, const uint8_t *addr, uint64_t now_ns,
                     banlist_hit_t *hit);

/*  Remove every entry expired at NOW_NS; returns how many.                 */
size_t banlist_purge (banlist_t *self, uint64_t now_ns);

/*  Add the entries of the ban file PATH, durations counted from NOW_NS.
    Returns the number of errors (0 = loaded); each error, "FILE:LINE:
    reason", is added to ERRORS (may be NULL). On errors nothing is added:
    load into a fresh list and swap it in on success.                        */
int banlist_load (banlist_t *self, const char *path, uint64_t now_ns, config_errors_t *errors);

size_t banlist_size (banlist_t *self);
uint64_t banlist_expired (banlist_t *self);     /* purged since creation     */

/*  NET as text ("192.0.2.0/24"; no "/N" for a full-length prefix).         */
void banlist_format_net (const banlist_net_t *net, char *out, size_t outlen);

#endif
