/*  reputation.c — see reputation.h.

    The table is a fixed array of MAX slots, hash chains of slot indices
    keyed by the parsed address or prefix (ipnet_t, so "::ffff:192.0.2.1"
    and "192.0.2.1" are one key), and a doubly linked LRU list from the
    most to the least recently seen. Slots are handed out in order until
    the array is full; then the least recently seen slot is reused.
    Nothing else ever frees a slot.

    A slot keeps its score as (score, score_ns): the value at the time it
    was last computed. Decay is applied when the score is read or raised,
    never by a sweep.                                                      */
#include "reputation.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "hash.h"
#include "ipnet.h"
#include "outfile.h"

#define DEFAULT_MAX_ENTRIES 65536
#define SCORE_MAX 100.0
#define KIND_LEN 24
#define V4_AGGREGATE 24
#define V6_AGGREGATE 64
#define NS_PER_S 1000000000.0

typedef struct {
    ipnet_t net;                    /* the key                               */
    char ip[REP_IP_MAX];            /* the key as text (ipnet_format)        */
    double score;                   /* at score_ns                           */
    uint64_t score_ns;
    uint64_t first_seen_ns, last_seen_ns, events, banned_until_ns;
    char last_kind[KIND_LEN];
    int32_t next_hash;              /* chain of the hash table; -1 ends it   */
    int32_t newer, older;           /* the LRU list                          */
} slot_t;

typedef struct {
    ipnet_t net;
    char text[REP_IP_MAX];
} listed_t;

struct reputation_t {
    rep_params_t params;
    slot_t *slots;
    size_t used;                    /* slots handed out (never shrinks)      */
    int32_t *buckets;
    size_t nbuckets;                /* a power of two                        */
    int32_t newest, oldest;
    uint64_t seed;
    listed_t *whitelist;
    size_t nwhite, white_cap;
    rep_stats_t stats;
};

/* ---- keys, hashing, the LRU list ---------------------------------------- */

/*  TEXT ("IP" or "PREFIX/LEN") as a key; false when it is not one.         */
static bool
parse_key (const char *text, ipnet_t *net)
{
    return text && ipnet_parse (text, net, NULL, 0) == 0;
}

static int32_t *
bucket_of (reputation_t *self, const ipnet_t *net)
{
    return &self->buckets[ipnet_hash (net, self->seed) & (self->nbuckets - 1)];
}

static slot_t *
find (reputation_t *self, const ipnet_t *net)
{
    for (int32_t i = *bucket_of (self, net); i >= 0; i = self->slots[i].next_hash)
        if (ipnet_equal (&self->slots[i].net, net))
            return &self->slots[i];
    return NULL;
}

static void
lru_unlink (reputation_t *self, int32_t i)
{
    slot_t *s = &self->slots[i];
    if (s->newer >= 0)
        self->slots[s->newer].older = s->older;
    else
        self->newest = s->older;
    if (s->older >= 0)
        self->slots[s->older].newer = s->newer;
    else
        self->oldest = s->newer;
    s->newer = s->older = -1;
}

static void
lru_push (reputation_t *self, int32_t i)
{
    slot_t *s = &self->slots[i];
    s->newer = -1;
    s->older = self->newest;
    if (self->newest >= 0)
        self->slots[self->newest].newer = i;
    self->newest = i;
    if (self->oldest < 0)
        self->oldest = i;
}

static void
lru_touch (reputation_t *self, slot_t *s)
{
    int32_t i = (int32_t) (s - self->slots);
    if (self->newest != i) {
        lru_unlink (self, i);
        lru_push (self, i);
    }
}

static void
hash_unlink (reputation_t *self, int32_t i)
{
    int32_t *link = bucket_of (self, &self->slots[i].net);
    while (*link != i)
        link = &self->slots[*link].next_hash;
    *link = self->slots[i].next_hash;
}

/*  A fresh slot for NET (the least recently seen one when full, counted),
    newest in the LRU list.                                                 */
static slot_t *
create (reputation_t *self, const ipnet_t *net)
{
    int32_t i;
    if (self->used < self->params.max_entries)
        i = (int32_t) self->used++;
    else {
        i = self->oldest;
        hash_unlink (self, i);
        lru_unlink (self, i);
        self->stats.evicted++;
    }
    slot_t *s = &self->slots[i];
    memset (s, 0, sizeof *s);
    s->net = *net;
    ipnet_format (net, s->ip, sizeof s->ip);
    int32_t *bucket = bucket_of (self, net);
    s->next_hash = *bucket;
    *bucket = i;
    s->newer = s->older = -1;
    lru_push (self, i);
    return s;
}

/* ---- life cycle ---------------------------------------------------------- */

static uint64_t
random_seed (const void *salt)
{
    uint64_t seed;
    if (getrandom (&seed, sizeof seed, GRND_NONBLOCK) == sizeof seed)
        return seed;
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return hash_mix64 ((uint64_t) ts.tv_nsec ^ (uint64_t) ts.tv_sec << 32 ^ (uintptr_t) salt);
}

reputation_t *
reputation_new (const rep_params_t *params)
{
    reputation_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->params = *params;
    if (self->params.max_entries == 0 || self->params.max_entries > INT32_MAX / 2)
        self->params.max_entries = DEFAULT_MAX_ENTRIES;
    self->nbuckets = 16;
    while (self->nbuckets < self->params.max_entries)
        self->nbuckets *= 2;
    self->slots = calloc (self->params.max_entries, sizeof *self->slots);
    self->buckets = malloc (self->nbuckets * sizeof *self->buckets);
    if (!self->slots || !self->buckets) {
        reputation_destroy (&self);
        return NULL;
    }
    memset (self->buckets, 0xff, self->nbuckets * sizeof *self->buckets);   /* all -1 */
    self->newest = self->oldest = -1;
    self->seed = random_seed (self);
    return self;
}

void
reputation_destroy (reputation_t **self_p)
{
    reputation_t *self = *self_p;
    if (!self)
        return;
    free (self->slots);
    free (self->buckets);
    free (self->whitelist);
    free (self);
    *self_p = NULL;
}

rep_stats_t
reputation_stats (const reputation_t *self)
{
    rep_stats_t stats = self->stats;
    stats.entries = self->used;
    return stats;
}

/* ---- the whitelist ------------------------------------------------------- */

static listed_t *
whitelist_find (const reputation_t *self, const ipnet_t *net)
{
    for (size_t i = 0; i < self->nwhite; i++)
        if (ipnet_equal (&self->whitelist[i].net, net))
            return &self->whitelist[i];
    return NULL;
}

int
reputation_whitelist_add (reputation_t *self, const char *cidr, char *error, size_t errlen)
{
    ipnet_t net;
    if (ipnet_parse (cidr, &net, error, errlen) != 0)
        return -1;
    if (whitelist_find (self, &net))
        return 0;                           /* listed already */
    if (self->nwhite == self->white_cap) {
        size_t more = self->white_cap ? self->white_cap * 2 : 16;
        listed_t *grown = realloc (self->whitelist, more * sizeof *grown);
        if (!grown) {
            snprintf (error, errlen, "out of memory");
            return -1;
        }
        self->whitelist = grown;
        self->white_cap = more;
    }
    listed_t *l = &self->whitelist[self->nwhite++];
    l->net = net;
    ipnet_format (&net, l->text, sizeof l->text);
    return 0;
}

int
reputation_whitelist_del (reputation_t *self, const char *cidr)
{
    ipnet_t net;
    if (!parse_key (cidr, &net))
        return -1;
    listed_t *l = whitelist_find (self, &net);
    if (!l)
        return -1;
    size_t i = (size_t) (l - self->whitelist);
    memmove (l, l + 1, (self->nwhite - i - 1) * sizeof *l);
    self->nwhite--;
    return 0;
}

/*  Is NET (an address or a prefix) inside a whitelisted range?             */
static bool
net_whitelisted (const reputation_t *self, const ipnet_t *net)
{
    for (size_t i = 0; i < self->nwhite; i++) {
        const ipnet_t *w = &self->whitelist[i].net;
        if (w->prefix <= net->prefix && ipnet_contains (w, net->family, net->addr))
            return true;
    }
    return false;
}

bool
reputation_whitelisted (const reputation_t *self, const char *ip)
{
    ipnet_t net;
    return parse_key (ip, &net) && net_whitelisted (self, &net);
}

size_t
reputation_whitelist_count (const reputation_t *self)
{
    return self->nwhite;
}

const char *
reputation_whitelist_item (const reputation_t *self, size_t index)
{
    return index < self->nwhite ? self->whitelist[index].text : NULL;
}

/* ---- scores -------------------------------------------------------------- */

/*  S's score decayed to NOW_NS (a clock gone back decays nothing).         */
static double
decayed (const reputation_t *self, const slot_t *s, uint64_t now_ns)
{
    if (self->params.half_life_s == 0 || now_ns <= s->score_ns)
        return s->score;
    double dt = (double) (now_ns - s->score_ns) / NS_PER_S;
    return s->score * exp2 (-dt / self->params.half_life_s);
}

/*  KIND as one token of the file: non-printing and blank characters
    become '_', an empty kind "-".                                          */
static void
copy_kind (char *out, const char *kind)
{
    size_t n = 0;
    for (; kind && kind[n] && n < KIND_LEN - 1; n++)
        out[n] = (kind[n] > ' ' && kind[n] < 0x7f) ? kind[n] : '_';
    out[n] = 0;
    if (n == 0)
        snprintf (out, KIND_LEN, "-");
}

/*  Add POINTS (already multiplied) of KIND to the entry of NET.            */
static slot_t *
add_to (reputation_t *self, const ipnet_t *net, double points, const char *kind,
        uint64_t now_ns)
{
    slot_t *s = find (self, net);
    if (s)
        lru_touch (self, s);
    else {
        s = create (self, net);
        s->first_seen_ns = now_ns;
        s->score_ns = now_ns;
    }
    double score = decayed (self, s, now_ns) + points;
    s->score = score > SCORE_MAX ? SCORE_MAX : score;
    s->score_ns = now_ns > s->score_ns ? now_ns : s->score_ns;
    s->last_seen_ns = now_ns > s->last_seen_ns ? now_ns : s->last_seen_ns;
    s->events++;
    copy_kind (s->last_kind, kind);
    return s;
}

/*  The /24 or /64 holding the address NET; false when NET is a prefix.    */
static bool
aggregate_of (const ipnet_t *net, ipnet_t *out)
{
    if (net->prefix != ipnet_bits (net->family))
        return false;
    out->family = net->family;
    out->prefix = net->family == AF_INET ? V4_AGGREGATE : V6_AGGREGATE;
    ipnet_mask (net->addr, net->family, out->prefix, out->addr);
    return true;
}

double
reputation_add (reputation_t *self, const char *ip, uint32_t points, const char *kind,
                uint64_t now_ns)
{
    ipnet_t net, prefix;
    if (!parse_key (ip, &net)) {
        self->stats.invalid++;
        return 0;
    }
    double pts = points * (self->params.multiplier > 0 ? self->params.multiplier : 1.0);
    if (net_whitelisted (self, &net))
        self->stats.whitelisted_hits++;
    /* the aggregate first: with a table of one entry it is the one evicted */
    if (self->params.prefixes && aggregate_of (&net, &prefix))
        add_to (self, &prefix, pts, kind, now_ns);
    return add_to (self, &net, pts, kind, now_ns)->score;
}

/*  S's ban expiry at NOW_NS: 0 when not banned or expired (cleared).       */
static uint64_t
ban_expiry (slot_t *s, uint64_t now_ns)
{
    if (s->banned_until_ns != 0 && s->banned_until_ns <= now_ns)
        s->banned_until_ns = 0;
    return s->banned_until_ns;
}

static void
fill_entry (reputation_t *self, slot_t *s, uint64_t now_ns, rep_entry_t *out)
{
    memset (out, 0, sizeof *out);
    snprintf (out->ip, sizeof out->ip, "%s", s->ip);
    out->score = decayed (self, s, now_ns);
    out->first_seen_ns = s->first_seen_ns;
    out->last_seen_ns = s->last_seen_ns;
    out->events = s->events;
    snprintf (out->last_kind, sizeof out->last_kind, "%s",
              strcmp (s->last_kind, "-") == 0 ? "" : s->last_kind);
    out->banned_until_ns = ban_expiry (s, now_ns);
    out->whitelisted = net_whitelisted (self, &s->net);
}

bool
reputation_get (reputation_t *self, const char *ip, uint64_t now_ns, rep_entry_t *out)
{
    ipnet_t net;
    slot_t *s = parse_key (ip, &net) ? find (self, &net) : NULL;
    if (!s)
        return false;
    if (out)
        fill_entry (self, s, now_ns, out);
    return true;
}

bool
reputation_should_ban (reputation_t *self, const char *ip, uint64_t now_ns)
{
    ipnet_t net;
    slot_t *s = parse_key (ip, &net) ? find (self, &net) : NULL;
    if (!s || net_whitelisted (self, &net) || ban_expiry (s, now_ns) != 0)
        return false;
    return decayed (self, s, now_ns) >= (double) self->params.threshold;
}

void
reputation_set_banned (reputation_t *self, const char *ip, uint64_t until_ns)
{
    ipnet_t net;
    if (!parse_key (ip, &net)) {
        self->stats.invalid++;
        return;
    }
    slot_t *s = find (self, &net);
    if (!s) {
        s = create (self, &net);
        snprintf (s->last_kind, sizeof s->last_kind, "-");
    }
    s->banned_until_ns = until_ns;
}

void
reputation_forgive (reputation_t *self, const char *ip, uint64_t now_ns)
{
    ipnet_t net;
    slot_t *s = parse_key (ip, &net) ? find (self, &net) : NULL;
    if (!s)
        return;
    s->score = 0;
    s->score_ns = now_ns;
    s->banned_until_ns = 0;
}

static int
by_score (const void *a, const void *b)
{
    const rep_entry_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->last_seen_ns != y->last_seen_ns)
        return x->last_seen_ns > y->last_seen_ns ? -1 : 1;
    return strcmp (x->ip, y->ip);
}

size_t
reputation_top (reputation_t *self, uint64_t now_ns, rep_entry_t *out, size_t max)
{
    if (max == 0 || self->used == 0)
        return 0;
    rep_entry_t *all = malloc (self->used * sizeof *all);
    if (!all)
        return 0;
    for (size_t i = 0; i < self->used; i++)
        fill_entry (self, &self->slots[i], now_ns, &all[i]);
    qsort (all, self->used, sizeof *all, by_score);
    size_t n = self->used < max ? self->used : max;
    memcpy (out, all, n * sizeof *out);
    free (all);
    return n;
}

/* ---- the file ------------------------------------------------------------ */

#define FILE_MAGIC "dpi-dual-reputation"
#define FILE_VERSION 1
#define FILE_FIELDS 8

static void
write_slot (reputation_t *self, slot_t *s, uint64_t now_ns, FILE *f)
{
    double score = decayed (self, s, now_ns);
    uint64_t at = now_ns > s->score_ns ? now_ns : s->score_ns;
    fprintf (f, "%s %.17g %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n",
             s->ip, score, at, s->first_seen_ns, s->last_seen_ns, s->events,
             ban_expiry (s, now_ns), s->last_kind[0] ? s->last_kind : "-");
}

int
reputation_save (reputation_t *self, const char *path, uint64_t now_ns, char *error,
                 size_t errlen)
{
    outfile_snapshot_t snap;
    FILE *f = outfile_snapshot_begin (&snap, path, 0);
    if (!f) {
        snprintf (error, errlen, "%s: cannot write: %s", path, strerror (errno));
        return -1;
    }
    fprintf (f, "%s %d\n", FILE_MAGIC, FILE_VERSION);
    fprintf (f, "# ip score score_ns first_seen_ns last_seen_ns events banned_until_ns"
                " last_kind\n");
    for (int32_t i = self->oldest; i >= 0; i = self->slots[i].newer)
        write_slot (self, &self->slots[i], now_ns, f);
    if (outfile_snapshot_commit (&snap) != 0) {
        snprintf (error, errlen, "%s: cannot write: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

/*  TEXT as a whole decimal number into *OUT; false when it is not one.    */
static bool
parse_u64 (const char *text, uint64_t *out)
{
    if (!*text || strlen (text) > 20 || strspn (text, "0123456789") != strlen (text))
        return false;
    errno = 0;
    unsigned long long v = strtoull (text, NULL, 10);
    *out = v;
    return errno == 0;
}

/*  One entry line (split in FIELD) into S; NULL, or the reason.           */
static const char *
parse_fields (char *field[FILE_FIELDS], slot_t *s)
{
    static const char *names[FILE_FIELDS] = { "ip", "score", "score_ns", "first_seen_ns",
                                              "last_seen_ns", "events", "banned_until_ns",
                                              "last_kind" };
    static char reason[96];
    memset (s, 0, sizeof *s);
    if (!parse_key (field[0], &s->net))
        return "ip: not an address or prefix";
    char *end;
    s->score = strtod (field[1], &end);
    if (*end || end == field[1] || !(s->score >= 0 && s->score <= SCORE_MAX))
        return "score: not a number in 0..100";
    uint64_t *numbers[] = { &s->score_ns, &s->first_seen_ns, &s->last_seen_ns, &s->events,
                            &s->banned_until_ns };
    for (int i = 0; i < 5; i++)
        if (!parse_u64 (field[i + 2], numbers[i])) {
            snprintf (reason, sizeof reason, "%s: not a whole number", names[i + 2]);
            return reason;
        }
    if (strlen (field[7]) >= KIND_LEN)
        return "last_kind: longer than 23 characters";
    snprintf (s->last_kind, sizeof s->last_kind, "%s", field[7]);
    return NULL;
}

/*  LINE (number LINENO) into S: 1 an entry, 0 blank or a comment, -1 with
    the reason in REASON. Line 1 is the header.                             */
static int
parse_line (char *line, size_t lineno, slot_t *s, char *reason, size_t len)
{
    char *field[FILE_FIELDS + 1], *save = NULL;
    int n = 0;
    for (char *tok = strtok_r (line, " \t\r\n", &save); tok && n <= FILE_FIELDS;
         tok = strtok_r (NULL, " \t\r\n", &save))
        field[n++] = tok;
    if (lineno == 1) {
        if (n != 2 || strcmp (field[0], FILE_MAGIC) != 0) {
            snprintf (reason, len, "not a reputation file (no '%s %d' header)", FILE_MAGIC,
                      FILE_VERSION);
            return -1;
        }
        if (strcmp (field[1], "1") != 0) {
            snprintf (reason, len, "format version '%.16s' unknown (this is %d)", field[1],
                      FILE_VERSION);
            return -1;
        }
        return 0;
    }
    if (n == 0 || field[0][0] == '#')
        return 0;
    if (n != FILE_FIELDS) {
        if (n > FILE_FIELDS)
            snprintf (reason, len, "more than %d fields", FILE_FIELDS);
        else
            snprintf (reason, len, "%d fields, not %d", n, FILE_FIELDS);
        return -1;
    }
    const char *why = parse_fields (field, s);
    if (why) {
        snprintf (reason, len, "%s", why);
        return -1;
    }
    return 1;
}

/*  Put the loaded S in the table: it replaces the entry of its key, or
    takes a new slot (the least recently seen when full).                   */
static void
apply (reputation_t *self, const slot_t *loaded)
{
    slot_t *s = find (self, &loaded->net);
    if (s)
        lru_touch (self, s);
    else
        s = create (self, &loaded->net);
    s->score = loaded->score;
    s->score_ns = loaded->score_ns;
    s->first_seen_ns = loaded->first_seen_ns;
    s->last_seen_ns = loaded->last_seen_ns;
    s->events = loaded->events;
    s->banned_until_ns = loaded->banned_until_ns;
    memcpy (s->last_kind, loaded->last_kind, sizeof s->last_kind);
}

/*  Every entry of FILE into *PENDING (*N of them); 0, or -1 with
    "PATH:LINE: reason" in ERROR.                                           */
static int
read_entries (FILE *file, const char *path, slot_t **pending, size_t *n, char *error,
              size_t errlen)
{
    size_t cap = 0, lineno = 0, linecap = 0;
    char *line = NULL, reason[160];
    int rc = 0;
    while (rc == 0 && getline (&line, &linecap, file) != -1) {
        slot_t s;
        int got = parse_line (line, ++lineno, &s, reason, sizeof reason);
        if (got < 0) {
            snprintf (error, errlen, "%s:%zu: %s", path, lineno, reason);
            rc = -1;
        }
        else if (got > 0 && *n == cap) {
            size_t more = cap ? cap * 2 : 256;
            slot_t *grown = realloc (*pending, more * sizeof *grown);
            if (!grown) {
                snprintf (error, errlen, "%s:%zu: out of memory", path, lineno);
                rc = -1;
            }
            else {
                *pending = grown;
                cap = more;
            }
        }
        if (rc == 0 && got > 0)
            (*pending)[(*n)++] = s;
    }
    if (rc == 0 && ferror (file)) {
        snprintf (error, errlen, "%s:%zu: read error", path, lineno);
        rc = -1;
    }
    if (rc == 0 && lineno == 0) {
        snprintf (error, errlen, "%s:1: empty (no '%s %d' header)", path, FILE_MAGIC,
                  FILE_VERSION);
        rc = -1;
    }
    free (line);
    return rc;
}

int
reputation_load (reputation_t *self, const char *path, char *error, size_t errlen)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        if (errno == ENOENT)
            return 0;                       /* the first start */
        snprintf (error, errlen, "%s: cannot open: %s", path, strerror (errno));
        return -1;
    }
    slot_t *pending = NULL;
    size_t n = 0;
    int rc = read_entries (file, path, &pending, &n, error, errlen);
    fclose (file);
    for (size_t i = 0; rc == 0 && i < n; i++)
        apply (self, &pending[i]);
    free (pending);
    return rc;
}
