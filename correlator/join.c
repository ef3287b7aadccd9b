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
    join_expire: a flow's last_seen need not follow its arrival order.     */
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
    uint64_t hash[IX_COUNT];
    uint32_t prev, next;            /* age order of its kind                 */
    uint8_t kind;
    uint8_t indexed;                /* bit per index the slot is in          */
    uint64_t seq;                   /* insertion order (join_flows_of)       */
} link_t;

typedef union {
    join_flow_t flow;
    join_request_t req;
} slot_t;

typedef struct {
    uint32_t oldest, newest;
} order_t;

typedef struct {
    const char *s;
    size_t len;
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
    uint64_t *expire_at;            /* flows: when join_expire drops them    */
    uint32_t *free;                 /* stack of free slots                   */
    size_t nfree;
    uint32_t *heads[IX_COUNT];
    size_t mask;
    order_t flows, requests;
    uint64_t seq, now_ns;
    join_stats_t stats;
};

static size_t
power_of_two (size_t at_least)
{
    size_t n = 16;
    while (n < at_least)
        n *= 2;
    return n;
}

static jkey_t
key_make (const char *s, uint32_t port)
{
    jkey_t key = { s, strlen (s), port, 0 };
    key.hash = hash_mix64 (hash_bytes (s, key.len) + ((uint64_t) port << 32));
    return key;
}

/*  The key of SLOT in index IX.                                              */
static jkey_t
slot_key (const join_t *self, int ix, uint32_t slot)
{
    const slot_t *e = &self->slots[slot];
    switch (ix) {
    case IX_FCID:  return key_make (e->flow.community_id, 0);
    case IX_RCID:  return key_make (e->req.community_id, 0);
    case IX_SRC:   return key_make (e->flow.src_ip, 0);
    case IX_DST:   return key_make (e->flow.dst_ip, 0);
    default:       return key_make (e->flow.src_ip, e->flow.dst_port);
    }
}

static bool
key_equal (const join_t *self, int ix, uint32_t slot, const jkey_t *key)
{
    if (self->links[slot].hash[ix] != key->hash)
        return false;
    const slot_t *e = &self->slots[slot];
    const char *s = ix == IX_FCID ? e->flow.community_id
                  : ix == IX_RCID ? e->req.community_id
                  : ix == IX_DST ? e->flow.dst_ip : e->flow.src_ip;
    if (ix == IX_CPORT && e->flow.dst_port != key->port)
        return false;
    return strncmp (s, key->s, key->len + 1) == 0;
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
    l->hash[ix] = key.hash;
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
        size_t home = self->links[heads[j]].hash[ix] & self->mask;
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
    size_t b = l->hash[ix] & self->mask;        /* SLOT heads its key        */
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
    size_t buckets = power_of_two (2 * max_entries);
    self->mask = buckets - 1;
    self->slots = calloc (max_entries, sizeof *self->slots);
    self->links = calloc (max_entries, sizeof *self->links);
    self->expire_at = malloc (max_entries * sizeof *self->expire_at);
    self->free = malloc (max_entries * sizeof *self->free);
    bool ok = self->slots && self->links && self->expire_at && self->free;
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

/*  Take SLOT out of every index and order and back to the free stack.       */
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
    }
    else if (l->kind == REQUEST) {
        order_remove (self, &self->requests, slot);
        self->stats.waiting--;
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
    jkey_t k = key_make (req->client_ip, req->frontend_port);
    for (uint32_t s = ix_newest (self, IX_CPORT, &k); s != NONE;
         s = self->links[s].older[IX_CPORT]) {
        const join_flow_t *f = &self->slots[s].flow;
        if (ts + SLACK_NS >= f->first_seen_ns && ts <= f->last_seen_ns + SLACK_NS) {
            *key = JOIN_CLIENT_PORT_TIME;
            return f;
        }
    }
    k = key_make (req->client_ip, 0);
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
    link_t *l = &self->links[slot];
    l->indexed = 0;
    l->seq = ++self->seq;
    return slot;
}

static void
flow_fill (join_flow_t *f, const Dpidual__V1__FlowEvent *ev, const char *source,
           uint64_t now_ns)
{
    copy_str (f->community_id, sizeof f->community_id, ev->community_id);
    join_normalise_ip (ev->src_ip, f->src_ip, sizeof f->src_ip);
    join_normalise_ip (ev->dst_ip, f->dst_ip, sizeof f->dst_ip);
    f->src_port = ev->src_port;
    f->dst_port = ev->dst_port;
    f->ip_proto = ev->ip_proto;
    f->vlan = ev->vlan;
    copy_str (f->proto, sizeof f->proto, ev->proto);
    bool sni = ev->tls_sni && *ev->tls_sni;
    copy_str (f->sni, sizeof f->sni, sni ? ev->tls_sni : ev->host_server_name);
    f->risk = ev->risk;
    f->risk_count = ev->n_risks < JOIN_RISKS_MAX ? ev->n_risks : JOIN_RISKS_MAX;
    for (size_t i = 0; i < f->risk_count; i++)
        copy_str (f->risks[i], sizeof f->risks[i], ev->risks[i]);
    f->first_seen_ns = ev->first_seen * 1000000ull;
    f->last_seen_ns = ev->last_seen * 1000000ull;
    f->flow_id = ev->flow_id;
    copy_str (f->source, sizeof f->source, source);
    f->arrival_ns = now_ns;
}

void
join_flow (join_t *self, const Dpidual__V1__FlowEvent *ev, const char *source,
           uint64_t now_ns)
{
    if (!self || !ev)
        return;
    self->now_ns = now_ns;
    join_flow_t f;
    flow_fill (&f, ev, source, now_ns);
    if (*f.community_id) {
        jkey_t k = key_make (f.community_id, 0);
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
}

void
join_request (join_t *self, const Dpidual__V1__HttpRequest *req, uint64_t now_ns)
{
    if (!self || !req)
        return;
    self->now_ns = now_ns;
    join_request_t r;
    copy_str (r.request_id, sizeof r.request_id, req->request_id);
    copy_str (r.community_id, sizeof r.community_id, req->community_id);
    join_normalise_ip (req->client_ip, r.client_ip, sizeof r.client_ip);
    join_normalise_ip (req->frontend_ip, r.frontend_ip, sizeof r.frontend_ip);
    r.client_port = req->client_port;
    r.frontend_port = req->frontend_port;
    r.ts_ns = req->ts_ns;
    r.arrival_ns = now_ns;
    if (*r.community_id) {
        jkey_t k = key_make (r.community_id, 0);
        uint32_t s = ix_newest (self, IX_FCID, &k);
        if (s != NONE) {
            report (self, &r, JOIN_COMMUNITY_ID, &self->slots[s].flow);
            return;
        }
    }
    uint32_t slot = slot_take (self);
    self->slots[slot].req = r;
    self->links[slot].kind = REQUEST;
    self->stats.waiting++;
    order_push (self, &self->requests, slot);
    if (*r.community_id)
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
    jkey_t k = key_make (norm, 0);
    uint32_t a = ix_newest (self, IX_SRC, &k), b = ix_newest (self, IX_DST, &k);
    size_t n = 0;
    while (n < max && (a != NONE || b != NONE)) {
        if (newer_first (self, a, b)) {
            out[n++] = &self->slots[a].flow;
            a = self->links[a].older[IX_SRC];
        }
        else {
            if (strcmp (self->slots[b].flow.src_ip, norm) != 0)
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
