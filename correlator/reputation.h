/*  reputation.h — what the correlator thinks of each address.

    A score 0..100 per address (and, with prefixes, per IPv4 /24 and IPv6
    /64), raised by evidence (reputation_add: points x the sensitivity
    multiplier, capped at 100) and decaying exponentially with a half-life
    (correlation.reputation_decay): score(t) = score(t0) * 2^-((t-t0)/H).
    Each entry remembers its last evidence kinds and counts, when it was
    first and last seen, and whether (until when) it is banned.

    A whitelist of CIDRs (IPv4 and IPv6, real prefix matching — not
    SecuBox's "any CIDR is a /24"): whitelisted addresses are scored and
    recorded like the others, but reputation_should_ban is always false.

    Bounded: at most MAX entries; a new address past the bound takes the
    least recently seen entry (counted). Persisted: reputation_save writes
    every entry to a file atomically (temporary file + rename), and
    reputation_load reads it back at start (a missing file is not an
    error; a damaged one is, with its line).

    Keys: an address or a prefix, parsed (common/ipnet.h) and printed
    back canonically — "::ffff:192.0.2.1" is 192.0.2.1, the /24 of
    192.0.2.7 is "192.0.2.0/24", the /64 "2001:db8:0:1::/64". Text that is
    neither is ignored (counted in rep_stats_t.invalid). With prefixes,
    every evidence on an address also goes to its aggregate entry, which is
    asked for (get, should_ban) by its "PREFIX/LEN". A half-life of 0 means
    no decay; a clock gone back decays nothing. reputation_set_banned on an
    unknown key creates its entry (score 0); an eviction forgets the ban
    (the enforcers keep their own). An expired ban reads as 0.

    The file (reputation_save writes the scores decayed to its NOW_NS):

        dpi-dual-reputation 1
        # ip score score_ns first_seen_ns last_seen_ns events banned_until_ns last_kind
        192.0.2.7 37.5 1700000000000000000 1699990000000000000 ... waf_block

    the header line (magic and format version) first, then one entry a
    line, least recently seen first (so a load rebuilds the LRU order):
    score as a decimal 0..100 at score_ns (wall clock, ns since the epoch),
    the counts and times as whole numbers, last_kind one token ("-": none).
    Blank lines and "#" lines are ignored. A load replaces entries of the
    same keys and keeps the others; a damaged file changes nothing and its
    error reads "PATH:LINE: reason". The whitelist is not in the file: it
    comes from the configuration at every start.

    One thread (the correlator's loop).                                     */
#ifndef DPI_CORRELATOR_REPUTATION_H
#define DPI_CORRELATOR_REPUTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define REP_IP_MAX 50               /* an address or "PREFIX/LEN"            */

typedef struct {
    uint32_t half_life_s;
    size_t max_entries;
    bool prefixes;                  /* also score /24 and /64 aggregates     */
    double multiplier;              /* sensitivity: 0.5, 1, 1.5              */
    uint32_t threshold;             /* correlation.threat_threshold          */
} rep_params_t;

typedef struct {
    char ip[REP_IP_MAX];
    double score;                   /* decayed to the time asked             */
    uint64_t first_seen_ns, last_seen_ns;
    uint64_t events;                /* evidence added                        */
    char last_kind[24];             /* kind of the last evidence             */
    uint64_t banned_until_ns;       /* 0: not banned                         */
    bool whitelisted;
} rep_entry_t;

typedef struct {
    uint64_t entries;
    uint64_t evicted;
    uint64_t whitelisted_hits;      /* evidence on whitelisted addresses     */
    uint64_t invalid;               /* calls with something not an address   */
} rep_stats_t;

typedef struct reputation_t reputation_t;

reputation_t *reputation_new (const rep_params_t *params);
void reputation_destroy (reputation_t **self_p);

/*  Add POINTS of KIND ("waf_block", ...) to IP at NOW_NS (and to its
    prefix, with prefixes); returns the address's new score.                */
double reputation_add (reputation_t *self, const char *ip, uint32_t points, const char *kind,
                       uint64_t now_ns);

/*  IP's entry at NOW_NS into OUT (score decayed); false when unknown.     */
bool reputation_get (reputation_t *self, const char *ip, uint64_t now_ns, rep_entry_t *out);

/*  The score reached the threshold, IP is not whitelisted and not banned
    now.                                                                     */
bool reputation_should_ban (reputation_t *self, const char *ip, uint64_t now_ns);
void reputation_set_banned (reputation_t *self, const char *ip, uint64_t until_ns);

/*  An operator's unban: IP's score back to 0 and its ban lifted (its
    history — events, first seen — stays).                                  */
void reputation_forgive (reputation_t *self, const char *ip, uint64_t now_ns);

/*  Whitelist: CIDR ("192.0.2.0/24", "2001:db8::/32", or one address).
    0, or -1 with the reason in ERROR.                                       */
int reputation_whitelist_add (reputation_t *self, const char *cidr, char *error, size_t errlen);
int reputation_whitelist_del (reputation_t *self, const char *cidr);    /* -1: not listed */
bool reputation_whitelisted (const reputation_t *self, const char *ip);
size_t reputation_whitelist_count (const reputation_t *self);
const char *reputation_whitelist_item (const reputation_t *self, size_t index);

/*  Every entry, highest score first, at most MAX into OUT (scores decayed
    to NOW_NS); returns how many.                                           */
size_t reputation_top (reputation_t *self, uint64_t now_ns, rep_entry_t *out, size_t max);

int reputation_save (reputation_t *self, const char *path, uint64_t now_ns, char *error,
                     size_t errlen);
int reputation_load (reputation_t *self, const char *path, char *error, size_t errlen);

rep_stats_t reputation_stats (const reputation_t *self);

#endif
