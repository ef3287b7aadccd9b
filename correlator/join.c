/*  join.c — see join.h.

    One preallocated table of MAX_ENTRIES slots; a slot holds a flow or a
    waiting request (a union), free slots on a stack. Beside each slot its
    links (slot indexes, NONE at the ends):
      - five group indexes, open addressing with linear probing (a power of
        two >= 2 MAX_ENTRIES buckets, so at most half full), each bucket the
        newest slot of one key; the members of a key are a doubly linked
        list through newer/older, newest first (a flow seen again is taken
        out and put back, so every list is in arrival order):
          IX_FCID   flows by community_id (at most one flow per key),
          IX_RCID   waiting requests by community_id (keep-alive: several),
          IX_SRC    flows by src (client) ip,
          IX_DST    flows by dst ip (join_flows_of),
          IX_CPORT  flows by (src ip, dst port);
        a key whose last member leaves is deleted by backward shifting: no
        tombstones, no rehash, ever;
      - two age orders, doubly linked: flows by arrival (eviction), waiting
        requests by arrival (eviction and window close, a FIFO since every
        window is as long).
    The flows' expiry times are also kept in a dense array, scanned by
    join_expire: a flow's last_seen need not follow its arrival order.

    Strings are interned (atoms): one refcounted copy of each distinct text
    in a hash table, shared by every flow and request that holds it (a
    client's address, the frontend's, the SNI, the protocol, the source, a
    flow's community_id and the requests waiting on it), freed with its last
    holder; a flow's risk names are one atom of their own table (the list,
    few distinct). So a slot is pointers and numbers, and an index key is an
    atom: keys compare by pointer, and hash by the atom's hash, kept in it.
    Memory per held flow: the slot (the larger of join_flow_t and
    join_request_t), its links, its expiry, its place on the free stack, its
    share of the index buckets (at most 4 per slot: 5 indexes of 2..4 buckets
    of 4 bytes), and the atoms only it holds (its community_id at least). */
#include "join.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define NONE UINT32_MAX
#define SLACK_NS 1000000000ull      /* CLIENT_PORT_TIME's widening: 1 s      */

enum { IX_FCID, IX_RCID, IX_SRC, IX_DST, IX_CPORT, IX_COUNT };
enum { FREE, FLOW, REQUEST };

typedef struct {
    uint32_t newer[IX_COUNT], older[IX_COUNT];
    uint32_t prev, next;            /* age order of its kind                 */
    uint64_t seq;                   /* insertion order (join_flows_of)       */
    uint8_t kind;
    uint8_t indexed;                /* bit per index the slot is in          */
} link_t;

typedef union {
    join_flow_t flow;
    join_request_t req;
} slot_t;

typedef struct {
    uint32_t oldest, newest;
} order_t;

/*  An interned string: TEXT[LEN] and a NUL; a risk list's TEXT is its names
    each with its NUL, followed (aligned) by the array of pointers to them. */
typedef struct {
    uint64_t hash;
    uint32_t refs;
    uint32_t len;
    char text[];
} atom_t;

#define ATOM(str) ((atom_t *) (void *) ((char *) (str) - offsetof (atom_t, text)))

/*  A table of atoms: open addressing, linear probing, at most half full,
    grown by doubling; each bucket with its atom's hash (a probe reads no
    atom but the one it finds).                                              */
typedef struct {
    uint64_t hash;
    atom_t *atom;
} bucket_t;

typedef struct {
    bucket_t *b;
    size_t mask, count;
} atoms_t;

typedef struct {
    const atom_t *atom;
    uint32_t port;
    uint64_t hash;
} jkey_t;

struct join_t {
    uint64_t window_ns;
    size_t max;
    join_fn *fn;
    void *arg;
    slot_t *slots;
    link_t *links;
    atoms_t strings, lists;         /* lists: the flows' risk names          */
    uint64_t *expire_at;            /* flows: when join_expire drops them    */
    uint32_t *free;                 /* stack of free slots                   */
    size_t nfree;
    uint32_t *heads[IX_COUNT];
    size_t mask;
    order_t flows, requests;
    uint64_t seq, now_ns;
    join_stats_t stats;
};

/*  ---- atoms ------------------------------------------------------------ */

static int
atoms_init (atoms_t *t, size_t buckets)
{
    t->b = calloc (buckets, sizeof *t->b);
    t->mask = buckets - 1;
    t->count = 0;
    return t->b ? 0 : -1;
}

static void
atoms_free (atoms_t *t)
{
    for (size_t i = 0; t->b && i <= t->mask; i++)
        free (t->b[i].atom);
    free (t->b);
    t->b = NULL;
}

static size_t
atoms_slot (const atoms_t *t, const char *text, size_t len, uint64_t hash, bool *found)
{
    size_t i = hash & t->mask;
    for (const atom_t *a; (a = t->b[i].atom); i = (i + 1) & t->mask)
        if (t->b[i].hash == hash && a->len == len && memcmp (a->text, text, len) == 0) {
            *found = true;
            return i;
        }
    *found = false;
    return i;
}

/*  The atom of TEXT[LEN] in T, or NULL.                                     */
static atom_t *
atom_find (const atoms_t *t, const char *text, size_t len)
{
    bool found;
    size_t i = atoms_slot (t, text, len, hash_bytes (text, len), &found);
    return found ? t->b[i].atom : NULL;
}

static int
atoms_grow (atoms_t *t)
{
    atoms_t bigger;
    if (atoms_init (&bigger, 2 * (t->mask + 1)) != 0)
        return -1;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->b[i].atom) {
            size_t j = t->b[i].hash & bigger.mask;
            while (bigger.b[j].atom)
                j = (j + 1) & bigger.mask;
            bigger.b[j] = t->b[i];
        }
    bigger.count = t->count;
    free (t->b);
    *t = bigger;
    return 0;
}

/*  TEXT[LEN] interned in T, one more reference; PARTS > 0: a list of PARTS
    NUL-terminated names, its pointer array built. NULL: out of memory.     */
static atom_t *
atom_get (atoms_t *t, const char *text, size_t len, size_t parts)
{
    uint64_t hash = hash_bytes (text, len);
    bool found;
    size_t i = atoms_slot (t, text, len, hash, &found);
    if (found) {
        t->b[i].atom->refs++;
        return t->b[i].atom;
    }
    if (2 * (t->count + 1) > t->mask + 1) {
        if (atoms_grow (t) != 0)
            return NULL;
        i = atoms_slot (t, text, len, hash, &found);
    }
    size_t at = (sizeof (atom_t) + len + 1 + 7) & ~(size_t) 7;
    atom_t *a = malloc (at + parts * sizeof (char *));
    if (!a)
        return NULL;
    a->hash = hash;
    a->refs = 1;
    a->len = (uint32_t) len;
    memcpy (a->text, text, len);
    a->text[len] = 0;
    const char **names = (const char **) (void *) ((char *) a + at);
    for (size_t k = 0, off = 0; k < parts; k++) {
        names[k] = a->text + off;
        off += strlen (names[k]) + 1;
    }
    t->b[i] = (bucket_t) { hash, a };
    t->count++;
    return a;
}

/*  One reference less to A, freed with the last.                           */
static void
atom_put (atoms_t *t, atom_t *a)
{
    if (--a->refs)
        return;
    size_t i = a->hash & t->mask;
    while (t->b[i].atom != a)
        i = (i + 1) & t->mask;
    for (size_t j = i;;) {          /* backward shift: no tombstones */
        j = (j + 1) & t->mask;
        if (!t->b[j].atom)
            break;
        size_t home = t->b[j].hash & t->mask;
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            t->b[i] = t->b[j];
            i = j;
        }
    }
    t->b[i] = (bucket_t) { 0, NULL };
    t->count--;
    free (a);
}

/*  S (NULL: "") cut to fit SIZE bytes with its NUL, interned: its text.
    NULL: out of memory.                                                     */
static const char *
intern (atoms_t *t, const char *s, size_t size)
{
    size_t n = s ? strnlen (s, size - 1) : 0;
    atom_t *a = atom_get (t, s ? s : "", n, 0);
    return a ? a->text : NULL;
}

/*  ---- index keys ------------------------------------------------------- */

static jkey_t
key_make (const atom_t *atom, uint32_t port)
{
    jkey_t key = { atom, port, hash_mix64 (atom->hash + ((uint64_t) port << 32)) };
    return key;
}

/*  The key of SLOT in index IX.                                              */
static jkey_t
slot_key (const join_t *self, int ix, uint32_t slot)
{
    const slot_t *e = &self->slots[slot];
    switch (ix) {
    case IX_FCID:  return key_make (ATOM (e->flow.community_id), 0);
    case IX_RCID:  return key_make (ATOM (e->req.community_id), 0);
    case IX_SRC:   return key_make (ATOM (e->flow.src_ip), 0);
    case IX_DST:   return key_make (ATOM (e->flow.dst_ip), 0);
    default:       return key_make (ATOM (e->flow.src_ip), e->flow.dst_port);
    }
}

static size_t
slot_home (const join_t *self, int ix, uint32_t slot)
{
    return slot_key (self, ix, slot).hash & self->mask;
}

static bool
key_equal (const join_t *self, int ix, uint32_t slot, const jkey_t *key)
{
    const slot_t *e = &self->slots[slot];
    switch (ix) {
    case IX_FCID:  return ATOM (e->flow.community_id) == key->atom;
    case IX_RCID:  return ATOM (e->req.community_id) == key->atom;
    case IX_SRC:   return ATOM (e->flow.src_ip) == key->atom;
    case IX_DST:   return ATOM (e->flow.dst_ip) == key->atom;
    default:       return ATOM (e->flow.src_ip) == key->atom && e->flow.dst_port == key->port;
    }
}

/*  The bucket of KEY in IX, or the empty bucket where it would go.          */
static size_t
ix_bucket (const join_t *self, int ix, const jkey_t *key, bool *found)
{
    const uint32_t *heads = self->heads[ix];
    size_t b = key->hash & self->mask;
    while (heads[b] != NONE) {
        if (key_equal (self, ix, heads[b], key)) {
            *found = true;
            return b;
        }
        b = (b + 1) & self->mask;
    }
    *found = false;
    return b;
}

/*  The newest member of KEY in IX, or NONE.                                 */
static uint32_t
ix_newest (const join_t *self, int ix, const jkey_t *key)
{
    bool found;
    size_t b = ix_bucket (self, ix, key, &found);
    return found ? self->heads[ix][b] : NONE;
}

static void
ix_add (join_t *self, int ix, uint32_t slot)
{
    jkey_t key = slot_key (self, ix, slot);
    link_t *l = &self->links[slot];
    bool found;
    size_t b = ix_bucket (self, ix, &key, &found);
    l->newer[ix] = NONE;
    l->older[ix] = found ? self->heads[ix][b] : NONE;
    if (found)
        self->links[self->heads[ix][b]].newer[ix] = slot;
    self->heads[ix][b] = slot;
    l->indexed |= 1u << ix;
}

/*  Empty bucket B of IX, shifting back the entries after it.                */
static void
ix_delete_bucket (join_t *self, int ix, size_t b)
{
    uint32_t *heads = self->heads[ix];
    size_t i = b, j = b;
    for (;;) {
        j = (j + 1) & self->mask;
        if (heads[j] == NONE)
            break;
        size_t home = slot_home (self, ix, heads[j]);
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            heads[i] = heads[j];
            i = j;
        }
    }
    heads[i] = NONE;
}

static void
ix_remove (join_t *self, int ix, uint32_t slot)
{
    link_t *l = &self->links[slot];
    if (!(l->indexed & (1u << ix)))
        return;
    l->indexed &= ~(1u << ix);
    if (l->older[ix] != NONE)
        self->links[l->older[ix]].newer[ix] = l->newer[ix];
    if (l->newer[ix] != NONE) {
        self->links[l->newer[ix]].older[ix] = l->older[ix];
        return;
    }
    size_t b = slot_home (self, ix, slot);      /* SLOT heads its key        */
    while (self->heads[ix][b] != slot)
        b = (b + 1) & self->mask;
    if (l->older[ix] != NONE)
        self->heads[ix][b] = l->older[ix];
    else
        ix_delete_bucket (self, ix, b);
}

static void
order_push (join_t *self, order_t *o, uint32_t slot)
{
    link_t *l = &self->links[slot];
    l->next = NONE;
    l->prev = o->newest;
    if (o->newest != NONE)
        self->links[o->newest].next = slot;
    else
        o->oldest = slot;
    o->newest = slot;
}

static void
order_remove (join_t *self, order_t *o, uint32_t slot)
{
    link_t *l = &self->links[slot];
    if (l->prev != NONE)
        self->links[l->prev].next = l->next;
    else
        o->oldest = l->next;
    if (l->next != NONE)
        self->links[l->next].prev = l->prev;
    else
        o->newest = l->prev;
}

join_t *
join_new (uint64_t window_ns, size_t max_entries, join_fn *fn, void *arg)
{
    if (max_entries == 0 || max_entries >= NONE / 4 || !fn)
        return NULL;
    join_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->window_ns = window_ns;
    self->max = max_entries;
    self->fn = fn;
    self->arg = arg;
    size_t buckets = hash_power_of_two (2 * max_entries < 16 ? 16 : 2 * max_entries);
    self->mask = buckets - 1;
    self->slots = calloc (max_entries, sizeof *self->slots);
    self->links = calloc (max_entries, sizeof *self->links);
    self->expire_at = malloc (max_entries * sizeof *self->expire_at);
    self->free = malloc (max_entries * sizeof *self->free);
    bool ok = self->slots && self->links && self->expire_at && self->free
              && atoms_init (&self->strings, 64) == 0 && atoms_init (&self->lists, 16) == 0;
    for (int ix = 0; ix < IX_COUNT; ix++) {
        self->heads[ix] = malloc (buckets * sizeof (uint32_t));
        ok = ok && self->heads[ix];
        if (self->heads[ix])
            memset (self->heads[ix], 0xff, buckets * sizeof (uint32_t));
    }
    if (!ok) {
        join_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < max_entries; i++) {
        self->free[i] = (uint32_t) (max_entries - 1 - i);
        self->expire_at[i] = UINT64_MAX;
    }
    self->nfree = max_entries;
    self->flows = self->requests = (order_t) { NONE, NONE };
    return self;
}

void
join_destroy (join_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    join_t *self = *self_p;
    for (int ix = 0; ix < IX_COUNT; ix++)
        free (self->heads[ix]);
    atoms_free (&self->strings);
    atoms_free (&self->lists);
    free (self->slots);
    free (self->links);
    free (self->expire_at);
    free (self->free);
    free (self);
    *self_p = NULL;
}

/*  Copy S (NULL: "") into OUT of SIZE bytes, cut to fit.                    */
static void
copy_str (char *out, size_t size, const char *s)
{
    size_t n = s ? strnlen (s, size - 1) : 0;
    if (n)
        memcpy (out, s, n);
    out[n] = 0;
}

bool
join_normalise_ip (const char *ip, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return false;
    unsigned char addr[16];
    if (ip && inet_pton (AF_INET, ip, addr) == 1) {
        copy_str (out, outlen, ip);     /* inet_pton takes canonical text only */
        return strlen (ip) < outlen;
    }
    if (!ip || inet_pton (AF_INET6, ip, addr) != 1) {
        copy_str (out, outlen, ip);
        return false;
    }
    char text[INET6_ADDRSTRLEN];
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    bool v4 = memcmp (addr, mapped, 12) == 0;
    if (!inet_ntop (v4 ? AF_INET : AF_INET6, v4 ? addr + 12 : addr, text, sizeof text)) {
        copy_str (out, outlen, ip);
        return false;
    }
    copy_str (out, outlen, text);
    return strlen (text) < outlen;
}

/*  SELF's report of REQ: counted, then FN.                                  */
static void
report (join_t *self, const join_request_t *req, join_key_t key, const join_flow_t *flow)
{
    uint64_t later = req->arrival_ns;
    if (flow && flow->arrival_ns > later)
        later = flow->arrival_ns;
    uint64_t latency = self->now_ns > later ? self->now_ns - later : 0;
    self->stats.joined[key]++;
    self->fn (self->arg, req, key, flow, latency);
}

static const char *const s_no_risks[1] = { NULL };

/*  Let go of F's strings.                                                   */
static void
flow_put (join_t *self, const join_flow_t *f)
{
    const char *const strings[] = { f->community_id, f->src_ip, f->dst_ip, f->proto,
                                    f->sni, f->source };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (strings[i])
            atom_put (&self->strings, ATOM (strings[i]));
    if (f->risk_count)
        atom_put (&self->lists, ATOM (f->risks[0]));
}

static void
request_put (join_t *self, const join_request_t *r)
{
    const char *const strings[] = { r->request_id, r->community_id, r->client_ip,
                                    r->frontend_ip };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (strings[i])
            atom_put (&self->strings, ATOM (strings[i]));
}

/*  Take SLOT out of every index and order and back to the free stack; its
    strings let go.                                                           */
static void
slot_release (join_t *self, uint32_t slot)
{
    link_t *l = &self->links[slot];
    for (int ix = 0; ix < IX_COUNT; ix++)
        ix_remove (self, ix, slot);
    if (l->kind == FLOW) {
        order_remove (self, &self->flows, slot);
        self->expire_at[slot] = UINT64_MAX;
        self->stats.flows--;
        flow_put (self, &self->slots[slot].flow);
    }
    else if (l->kind == REQUEST) {
        order_remove (self, &self->requests, slot);
        self->stats.waiting--;
        request_put (self, &self->slots[slot].req);
    }
    l->kind = FREE;
    self->free[self->nfree++] = slot;
}

/*  The time window CLIENT_IP allows: REQ's time, else its arrival.          */
static uint64_t
request_time (const join_request_t *req)
{
    return req->ts_ns ? req->ts_ns : req->arrival_ns;
}

/*  The fallbacks for REQ: a flow and its key, or NULL (JOIN_NONE).          */
static const join_flow_t *
fallback (const join_t *self, const join_request_t *req, join_key_t *key)
{
    uint64_t ts = request_time (req);
    jkey_t k = key_make (ATOM (req->client_ip), req->frontend_port);
    for (uint32_t s = ix_newest (self, IX_CPORT, &k); s != NONE;
         s = self->links[s].older[IX_CPORT]) {
        const join_flow_t *f = &self->slots[s].flow;
        if (ts + SLACK_NS >= f->first_seen_ns && ts <= f->last_seen_ns + SLACK_NS) {
            *key = JOIN_CLIENT_PORT_TIME;
            return f;
        }
    }
    k = key_make (ATOM (req->client_ip), 0);
    for (uint32_t s = ix_newest (self, IX_SRC, &k); s != NONE;
         s = self->links[s].older[IX_SRC]) {
        const join_flow_t *f = &self->slots[s].flow;
        if (ts + self->window_ns >= f->first_seen_ns
            && ts <= f->last_seen_ns + self->window_ns) {
            *key = JOIN_CLIENT_IP;
            return f;
        }
    }
    *key = JOIN_NONE;
    return NULL;
}

/*  Report waiting SLOT (fallbacks tried) and release it.                    */
static void
close_request (join_t *self, uint32_t slot)
{
    join_key_t key;
    const join_request_t *req = &self->slots[slot].req;
    const join_flow_t *flow = fallback (self, req, &key);
    report (self, req, key, flow);
    slot_release (self, slot);
}

/*  A free slot, evicting the oldest flow, else the oldest request.          */
static uint32_t
slot_take (join_t *self)
{
    if (self->nfree == 0) {
        if (self->flows.oldest != NONE) {
            self->stats.evicted_flows++;
            slot_release (self, self->flows.oldest);
        }
        else {
            uint32_t slot = self->requests.oldest;
            self->stats.evicted_requests++;
            report (self, &self->slots[slot].req, JOIN_NONE, NULL);
            slot_release (self, slot);
        }
    }
    uint32_t slot = self->free[--self->nfree];
    if (self->max - self->nfree > self->stats.peak)
        self->stats.peak = self->max - self->nfree;
    link_t *l = &self->links[slot];
    l->indexed = 0;
    l->seq = ++self->seq;
    return slot;
}

/*  F from EV, its strings interned; -1: out of memory (nothing held).     */
static int
flow_fill (join_t *self, join_flow_t *f, const Dpidual__V1__FlowEvent *ev, const char *source,
           uint64_t now_ns)
{
    char src[JOIN_IP_MAX], dst[JOIN_IP_MAX];
    join_normalise_ip (ev->src_ip, src, sizeof src);
    join_normalise_ip (ev->dst_ip, dst, sizeof dst);
    bool sni = ev->tls_sni && *ev->tls_sni;
    *f = (join_flow_t) {
        .community_id = intern (&self->strings, ev->community_id, JOIN_CID_MAX),
        .src_ip = intern (&self->strings, src, sizeof src),
        .dst_ip = intern (&self->strings, dst, sizeof dst),
        .proto = intern (&self->strings, ev->proto, JOIN_PROTO_MAX),
        .sni = intern (&self->strings, sni ? ev->tls_sni : ev->host_server_name, JOIN_SNI_MAX),
        .source = intern (&self->strings, source, JOIN_SOURCE_MAX),
        .risks = s_no_risks,
        .risk = ev->risk,
        .first_seen_ns = ev->first_seen * 1000000ull,
        .last_seen_ns = ev->last_seen * 1000000ull,
        .flow_id = ev->flow_id,
        .arrival_ns = now_ns,
        .src_port = ev->src_port,
        .dst_port = ev->dst_port,
        .ip_proto = ev->ip_proto,
        .vlan = ev->vlan,
    };
    bool ok = f->community_id && f->src_ip && f->dst_ip && f->proto && f->sni && f->source;
    size_t count = ev->n_risks < JOIN_RISKS_MAX ? ev->n_risks : JOIN_RISKS_MAX;
    if (ok && count) {
        char names[JOIN_RISKS_MAX * JOIN_RISK_NAME_MAX];
        size_t len = 0;
        for (size_t i = 0; i < count; i++) {
            copy_str (names + len, JOIN_RISK_NAME_MAX, ev->risks[i]);
            len += strlen (names + len) + 1;
        }
        atom_t *list = atom_get (&self->lists, names, len, count);
        if (list) {
            f->risks = (const char *const *) (void *)
                       ((char *) list + ((sizeof (atom_t) + len + 1 + 7) & ~(size_t) 7));
            f->risk_count = (uint32_t) count;
        }
        ok = list != NULL;
    }
    if (!ok) {
        flow_put (self, f);
        return -1;
    }
    return 0;
}

const join_flow_t *
join_flow (join_t *self, const Dpidual__V1__FlowEvent *ev, const char *source,
           uint64_t now_ns)
{
    if (!self || !ev)
        return NULL;
    self->now_ns = now_ns;
    join_flow_t f;
    if (flow_fill (self, &f, ev, source, now_ns) != 0)
        return NULL;                        /* out of memory: not held      */
    if (*f.community_id) {
        jkey_t k = key_make (ATOM (f.community_id), 0);
        uint32_t old = ix_newest (self, IX_FCID, &k);
        if (old != NONE)
            slot_release (self, old);       /* seen again: replaced          */
        uint32_t s;
        while ((s = ix_newest (self, IX_RCID, &k)) != NONE) {
            report (self, &self->slots[s].req, JOIN_COMMUNITY_ID, &f);
            slot_release (self, s);
        }
    }
    uint32_t slot = slot_take (self);
    self->slots[slot].flow = f;
    self->links[slot].kind = FLOW;
    self->stats.flows++;
    order_push (self, &self->flows, slot);
    uint64_t age = ev->offline || !f.last_seen_ns ? now_ns : f.last_seen_ns;
    self->expire_at[slot] = age + self->window_ns;
    if (*f.community_id)
        ix_add (self, IX_FCID, slot);
    ix_add (self, IX_SRC, slot);
    ix_add (self, IX_DST, slot);
    ix_add (self, IX_CPORT, slot);
    return &self->slots[slot].flow;
}

void
join_request (join_t *self, const Dpidual__V1__HttpRequest *req, uint64_t now_ns)
{
    if (!self || !req)
        return;
    self->now_ns = now_ns;
    char id[JOIN_REQUEST_ID_MAX], cid[JOIN_CID_MAX], client[JOIN_IP_MAX],
         frontend[JOIN_IP_MAX];
    copy_str (id, sizeof id, req->request_id);
    copy_str (cid, sizeof cid, req->community_id);
    join_normalise_ip (req->client_ip, client, sizeof client);
    join_normalise_ip (req->frontend_ip, frontend, sizeof frontend);
    join_request_t r = { .request_id = id, .community_id = cid, .client_ip = client,
                         .frontend_ip = frontend, .ts_ns = req->ts_ns, .arrival_ns = now_ns,
                         .client_port = req->client_port,
                         .frontend_port = req->frontend_port };
    if (*cid) {
        const atom_t *a = atom_find (&self->strings, cid, strlen (cid));
        jkey_t k;
        uint32_t s = a ? (k = key_make (a, 0), ix_newest (self, IX_FCID, &k)) : NONE;
        if (s != NONE) {
            report (self, &r, JOIN_COMMUNITY_ID, &self->slots[s].flow);
            return;
        }
    }
    /*  It waits: its strings interned (out of memory: reported unjoined). */
    join_request_t held = r;
    held.request_id = intern (&self->strings, id, sizeof id);
    held.community_id = intern (&self->strings, cid, sizeof cid);
    held.client_ip = intern (&self->strings, client, sizeof client);
    held.frontend_ip = intern (&self->strings, frontend, sizeof frontend);
    if (!held.request_id || !held.community_id || !held.client_ip || !held.frontend_ip) {
        request_put (self, &held);
        report (self, &r, JOIN_NONE, NULL);
        return;
    }
    uint32_t slot = slot_take (self);
    self->slots[slot].req = held;
    self->links[slot].kind = REQUEST;
    self->stats.waiting++;
    order_push (self, &self->requests, slot);
    if (*cid)
        ix_add (self, IX_RCID, slot);
}

void
join_expire (join_t *self, uint64_t now_ns)
{
    if (!self)
        return;
    self->now_ns = now_ns;
    uint32_t s;
    while ((s = self->requests.oldest) != NONE
           && self->slots[s].req.arrival_ns + self->window_ns <= now_ns)
        close_request (self, s);
    if (self->stats.flows == 0)
        return;
    for (size_t i = 0; i < self->max; i++)
        if (self->expire_at[i] <= now_ns) {
            self->stats.expired_flows++;
            slot_release (self, (uint32_t) i);
        }
}

void
join_flush (join_t *self)
{
    if (!self)
        return;
    uint32_t s;
    while ((s = self->requests.oldest) != NONE)
        close_request (self, s);
}

/*  The newer of two flow slots, either NONE.                                */
static bool
newer_first (const join_t *self, uint32_t a, uint32_t b)
{
    return b == NONE || (a != NONE && self->links[a].seq > self->links[b].seq);
}

size_t
join_flows_of (join_t *self, const char *ip, const join_flow_t **out, size_t max)
{
    if (!self || !ip || !out)
        return 0;
    char norm[JOIN_IP_MAX];
    join_normalise_ip (ip, norm, sizeof norm);
    const atom_t *atom = atom_find (&self->strings, norm, strlen (norm));
    if (!atom)
        return 0;                           /* no flow holds it             */
    jkey_t k = key_make (atom, 0);
    uint32_t a = ix_newest (self, IX_SRC, &k), b = ix_newest (self, IX_DST, &k);
    size_t n = 0;
    while (n < max && (a != NONE || b != NONE)) {
        if (newer_first (self, a, b)) {
            out[n++] = &self->slots[a].flow;
            a = self->links[a].older[IX_SRC];
        }
        else {
            if (ATOM (self->slots[b].flow.src_ip) != atom)
                out[n++] = &self->slots[b].flow;    /* else listed by src   */
            b = self->links[b].older[IX_DST];
        }
    }
    return n;
}

join_stats_t
join_stats (const join_t *self)
{
    join_stats_t none = { 0 };
    return self ? self->stats : none;
}
