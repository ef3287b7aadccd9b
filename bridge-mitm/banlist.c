/*  banlist.c — see banlist.h.                                               */
#include "banlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "hash.h"

#define FAMILIES 2                      /* index 0 IPv4, 1 IPv6             */
#define MAX_PREFIX 128

typedef struct entry_t {
    struct entry_t *next;               /* hash chain                        */
    uint64_t hash;
    uint64_t expires_ns;
    banlist_net_t net;                  /* the key: addr masked to prefix    */
} entry_t;

struct banlist_t {
    entry_t **buckets;
    size_t nbuckets;                    /* a power of two                    */
    size_t size;
    uint64_t seed;
    uint64_t expired;
    size_t per_length[FAMILIES][MAX_PREFIX + 1];
    uint8_t lengths[FAMILIES][MAX_PREFIX + 1];  /* in use, longest first     */
    unsigned nlengths[FAMILIES];
};

static int
family_index (int family)
{
    return family == AF_INET ? 0 : 1;
}

static unsigned
family_bits (int family)
{
    return ipnet_bits (family);
}

static void
mask (const uint8_t *addr, int family, unsigned prefix, uint8_t out[16])
{
    ipnet_mask (addr, family, prefix, out);
}

/*  Rebuild the list of prefix lengths in use for FAMILY, longest first.    */
static void
update_lengths (banlist_t *self, int family)
{
    int f = family_index (family);
    self->nlengths[f] = 0;
    for (int len = (int) family_bits (family); len >= 0; len--)
        if (self->per_length[f][len])
            self->lengths[f][self->nlengths[f]++] = (uint8_t) len;
}

static void
count_length (banlist_t *self, const banlist_net_t *net, int delta)
{
    size_t *n = &self->per_length[family_index (net->family)][net->prefix];
    bool was_used = *n > 0;
    *n = delta > 0 ? *n + 1 : *n - 1;
    if (was_used != (*n > 0))
        update_lengths (self, net->family);
}

static int
grow (banlist_t *self)
{
    size_t nbuckets = self->nbuckets * 2;
    entry_t **buckets = calloc (nbuckets, sizeof *buckets);
    if (!buckets)
        return -1;
    for (size_t i = 0; i < self->nbuckets; i++)
        for (entry_t *e = self->buckets[i], *next; e; e = next) {
            next = e->next;
            entry_t **head = &buckets[e->hash & (nbuckets - 1)];
            e->next = *head;
            *head = e;
        }
    free (self->buckets);
    self->buckets = buckets;
    self->nbuckets = nbuckets;
    return 0;
}

/*  The slot pointing at the entry for NET (its hash H), or at the NULL
    ending its chain.                                                        */
static entry_t **
find_slot (banlist_t *self, const banlist_net_t *net, uint64_t h)
{
    entry_t **slot = &self->buckets[h & (self->nbuckets - 1)];
    while (*slot && !((*slot)->hash == h && ipnet_equal (&(*slot)->net, net)))
        slot = &(*slot)->next;
    return slot;
}

static void
unlink_entry (banlist_t *self, entry_t **slot)
{
    entry_t *e = *slot;
    *slot = e->next;
    count_length (self, &e->net, -1);
    self->size--;
    free (e);
}

banlist_t *
banlist_new (void)
{
    banlist_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->nbuckets = 64;
    self->buckets = calloc (self->nbuckets, sizeof *self->buckets);
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    if (getrandom (&self->seed, sizeof self->seed, GRND_NONBLOCK) != sizeof self->seed) {
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        self->seed = hash_mix64 ((uint64_t) ts.tv_nsec ^ (uint64_t) ts.tv_sec << 32 ^ (uintptr_t) self);
    }
    return self;
}

void
banlist_destroy (banlist_t **self_p)
{
    banlist_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nbuckets; i++)
        for (entry_t *e = self->buckets[i], *next; e; e = next) {
            next = e->next;
            free (e);
        }
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

int
banlist_parse_addr (const char *text, int *family, uint8_t addr[16])
{
    return ipnet_parse_addr (text, family, addr);
}

int
banlist_parse_net (const char *text, banlist_net_t *net, char *err, size_t errlen)
{
    return ipnet_parse (text, net, err, errlen);
}

void
banlist_format_net (const banlist_net_t *net, char *out, size_t outlen)
{
    ipnet_format (net, out, outlen);
}

int
banlist_add (banlist_t *self, const banlist_net_t *net, uint64_t expires_ns)
{
    banlist_net_t key = *net;
    mask (net->addr, net->family, net->prefix, key.addr);
    uint64_t h = ipnet_hash (&key, self->seed);
    entry_t **slot = find_slot (self, &key, h);
    if (*slot) {
        entry_t *e = *slot;
        if (e->expires_ns != 0 && (expires_ns == 0 || expires_ns > e->expires_ns))
            e->expires_ns = expires_ns;
        return 0;
    }
    entry_t *e = calloc (1, sizeof *e);
    if (!e)
        return -1;
    e->hash = h;
    e->expires_ns = expires_ns;
    e->net = key;
    *slot = e;
    self->size++;
    count_length (self, &key, +1);
    if (self->size > self->nbuckets)
        grow (self);                    /* on failure chains just get longer */
    return 0;
}

int
banlist_remove (banlist_t *self, const banlist_net_t *net)
{
    banlist_net_t key = *net;
    mask (net->addr, net->family, net->prefix, key.addr);
    entry_t **slot = find_slot (self, &key, ipnet_hash (&key, self->seed));
    if (!*slot)
        return 0;
    unlink_entry (self, slot);
    return 1;
}

bool
banlist_lookup (banlist_t *self, int family, const uint8_t *addr, uint64_t now_ns,
                banlist_hit_t *hit)
{
    if (self->size == 0 || (family != AF_INET && family != AF_INET6))
        return false;
    int f = family_index (family);
    banlist_net_t key = { .family = family };
    for (unsigned i = 0; i < self->nlengths[f]; i++) {
        key.prefix = self->lengths[f][i];
        mask (addr, family, key.prefix, key.addr);
        entry_t **slot = find_slot (self, &key, ipnet_hash (&key, self->seed));
        if (!*slot)
            continue;
        if ((*slot)->expires_ns != 0 && (*slot)->expires_ns <= now_ns) {
            unlink_entry (self, slot);      /* lazily purged */
            self->expired++;
            if (i >= self->nlengths[f] || self->lengths[f][i] != key.prefix)
                i--;                        /* that length is gone: stay put */
            continue;
        }
        if (hit) {
            banlist_format_net (&(*slot)->net, hit->net, sizeof hit->net);
            hit->expires_ns = (*slot)->expires_ns;
        }
        return true;
    }
    return false;
}

size_t
banlist_purge (banlist_t *self, uint64_t now_ns)
{
    size_t purged = 0;
    for (size_t i = 0; i < self->nbuckets; i++) {
        entry_t **slot = &self->buckets[i];
        while (*slot) {
            if ((*slot)->expires_ns != 0 && (*slot)->expires_ns <= now_ns) {
                unlink_entry (self, slot);
                purged++;
            }
            else
                slot = &(*slot)->next;
        }
    }
    self->expired += purged;
    return purged;
}

size_t
banlist_size (banlist_t *self)
{
    return self->size;
}

uint64_t
banlist_expired (banlist_t *self)
{
    return self->expired;
}

/*  One error, "PATH:LINE: reason".                                          */
static void
add_error (config_errors_t *errors, const char *path, size_t line, const char *reason)
{
    config_errors_add (errors, "%s:%zu: %s", path, line, reason);
}

typedef struct {
    banlist_net_t net;
    uint64_t duration_s;
} pending_t;

/*  Parse one line (comment already cut) into P; 1 an entry, 0 blank,
    -1 an error in REASON.                                                  */
static int
parse_line (char *text, pending_t *p, char *reason, size_t reasonlen)
{
    const char *seps = " \t\r\n\v\f";
    char *save = NULL;
    char *net = strtok_r (text, seps, &save);
    if (!net)
        return 0;
    if (banlist_parse_net (net, &p->net, reason, reasonlen) != 0)
        return -1;
    p->duration_s = 0;
    char *duration = strtok_r (NULL, seps, &save);
    if (duration) {
        if (strspn (duration, "0123456789") != strlen (duration) || strlen (duration) > 10) {
            snprintf (reason, reasonlen, "'%.32s' is not a duration in seconds", duration);
            return -1;
        }
        p->duration_s = strtoull (duration, NULL, 10);
    }
    char *extra = strtok_r (NULL, seps, &save);
    if (extra) {
        snprintf (reason, reasonlen, "unexpected '%.32s' after the duration", extra);
        return -1;
    }
    return 1;
}

int
banlist_load (banlist_t *self, const char *path, uint64_t now_ns, config_errors_t *err)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        config_errors_add (err, "%s: cannot open: %s", path, strerror (errno));
        return 1;
    }
    pending_t *pending = NULL;
    size_t npending = 0, capacity = 0, lineno = 0;
    int errors = 0;
    char *line = NULL;
    size_t linecap = 0;
    while (getline (&line, &linecap, file) != -1) {
        lineno++;
        char *hash = strchr (line, '#');
        if (hash)
            *hash = 0;
        pending_t p;
        char reason[160];
        int rc = parse_line (line, &p, reason, sizeof reason);
        if (rc < 0) {
            add_error (err, path, lineno, reason);
            errors++;
            continue;
        }
        if (rc == 0)
            continue;
        if (npending == capacity) {
            size_t more = capacity ? capacity * 2 : 64;
            pending_t *grown = realloc (pending, more * sizeof *grown);
            if (!grown) {
                add_error (err, path, lineno, "out of memory");
                errors++;
                break;
            }
            pending = grown;
            capacity = more;
        }
        pending[npending++] = p;
    }
    if (ferror (file)) {
        add_error (err, path, lineno, "read error");
        errors++;
    }
    free (line);
    fclose (file);
    for (size_t i = 0; errors == 0 && i < npending; i++) {
        uint64_t expires = pending[i].duration_s
                               ? now_ns + pending[i].duration_s * 1000000000ull : 0;
        if (banlist_add (self, &pending[i].net, expires) != 0) {
            add_error (err, path, lineno, "out of memory");
            errors++;
        }
    }
    free (pending);
    return errors;
}
