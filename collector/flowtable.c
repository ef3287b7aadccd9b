/*  flowtable.c — see flowtable.h.                                           */
#include "flowtable.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "hash.h"

struct flowtable_t {
    flow_t *pool;                   /* max_flows records                     */
    uint32_t *buckets;              /* index+1 of the first record, 0 = none */
    uint32_t mask;                  /* buckets - 1                           */
    uint32_t max_flows;
    uint32_t used;                  /* records handed out of the pool so far */
    uint32_t free_list;             /* index+1 of a released record          */
    uint32_t count;                 /* live flows                            */
    uint32_t head[LIST_COUNT], tail[LIST_COUNT];
    uint64_t timeout_us[LIST_COUNT];
    uint64_t evictions, created, next_id, id_step;
    flowtable_end_fn *on_end;
    void *arg;
};

#define REC(i) (&self->pool[(i) - 1])

flowtable_t *
flowtable_new (uint32_t max_flows, flowtable_timeouts_t timeouts, flowtable_end_fn *on_end,
               void *arg, uint64_t id_first, uint64_t id_step)
{
    flowtable_t *self = calloc (1, sizeof *self);
    if (!self || max_flows == 0)
        goto fail;
    uint32_t buckets = 1024;
    while (buckets < max_flows && buckets < (1u << 30))
        buckets <<= 1;
    /* mapped, zeroed, in huge pages: untouched ones cost no memory */
    self->mask = buckets - 1;
    self->pool = bigmem_alloc ((size_t) max_flows * sizeof (flow_t));
    self->buckets = bigmem_alloc ((size_t) buckets * sizeof (uint32_t));
    if (!self->pool || !self->buckets)
        goto fail;
    self->max_flows = max_flows;
    for (int i = 0; i < LIST_COUNT; i++)
        self->timeout_us[i] = (uint64_t) timeouts.timeout_s[i] * 1000000ull;
    self->on_end = on_end;
    self->arg = arg;
    self->next_id = id_first;
    self->id_step = id_step ? id_step : 1;
    return self;
fail:
    if (self) {
        bigmem_free (self->pool, (size_t) max_flows * sizeof (flow_t));
        bigmem_free (self->buckets, ((size_t) self->mask + 1) * sizeof (uint32_t));
        free (self);
    }
    return NULL;
}

void
flowtable_destroy (flowtable_t **self_p)
{
    flowtable_t *self = *self_p;
    if (!self)
        return;
    bigmem_free (self->pool, (size_t) self->max_flows * sizeof (flow_t));
    bigmem_free (self->buckets, ((size_t) self->mask + 1) * sizeof (uint32_t));
    free (self);
    *self_p = NULL;
}

/*  Hash of one endpoint: address words and port.                            */
static inline uint64_t
endpoint_hash (const uint8_t *addr, uint16_t port)
{
    uint64_t a, b;
    memcpy (&a, addr, 8);
    memcpy (&b, addr + 8, 8);
    uint32_t mixed = (uint32_t) hash_mix64 (a * 0x9e3779b97f4a7c15ull ^ b ^ ((uint64_t) port << 48));
    return mixed * 0x100000001b3ull + (a ^ b ^ port);
}

uint32_t
flowtable_hash (const packet_t *pkt)
{
    /* sum of the two endpoint hashes: the same in both directions */
    uint64_t h = endpoint_hash (pkt->src, pkt->sport) + endpoint_hash (pkt->dst, pkt->dport);
    return (uint32_t) hash_mix64 (h ^ ((uint64_t) pkt->proto << 32) ^ ((uint64_t) pkt->vlan << 40));
}

/*  0: PKT is FLOW's src->dst; 1: dst->src; -1: another flow.               */
static inline int
match (const flow_t *f, const packet_t *pkt)
{
    if (f->proto != pkt->proto || f->vlan != pkt->vlan || f->ip_version != pkt->ip_version)
        return -1;
    if (f->sport == pkt->sport && f->dport == pkt->dport && memcmp (f->src, pkt->src, 16) == 0
        && memcmp (f->dst, pkt->dst, 16) == 0)
        return 0;
    if (f->sport == pkt->dport && f->dport == pkt->sport && memcmp (f->src, pkt->dst, 16) == 0
        && memcmp (f->dst, pkt->src, 16) == 0)
        return 1;
    return -1;
}

static void
list_unlink (flowtable_t *self, uint32_t i)
{
    flow_t *f = REC (i);
    if (f->prev_lru) REC (f->prev_lru)->next_lru = f->next_lru;
    else self->head[f->list] = f->next_lru;
    if (f->next_lru) REC (f->next_lru)->prev_lru = f->prev_lru;
    else self->tail[f->list] = f->prev_lru;
    f->prev_lru = f->next_lru = 0;
}

static void
list_append (flowtable_t *self, uint32_t i, flow_list_t list)
{
    flow_t *f = REC (i);
    f->list = (uint8_t) list;
    f->prev_lru = self->tail[list];
    f->next_lru = 0;
    if (self->tail[list]) REC (self->tail[list])->next_lru = i;
    else self->head[list] = i;
    self->tail[list] = i;
}

/*  Take record I out of the table, hand it to the END callback, free it.   */
static void
remove_flow (flowtable_t *self, uint32_t i, flow_end_t reason)
{
    flow_t *f = REC (i);
    uint32_t *link = &self->buckets[f->hash & self->mask];
    while (*link && *link != i)
        link = &REC (*link)->next;
    if (*link)
        *link = f->next;
    list_unlink (self, i);
    self->on_end (self->arg, f, reason);
    memset (f, 0, sizeof *f);
    f->next = self->free_list;
    self->free_list = i;
    self->count--;
}

/*  The least recently seen flow of all: the oldest list head.              */
static uint32_t
oldest (flowtable_t *self)
{
    uint32_t best = 0;
    for (int l = 0; l < LIST_COUNT; l++)
        if (self->head[l] && (!best || REC (self->head[l])->last_us < REC (best)->last_us))
            best = self->head[l];
    return best;
}

static uint32_t
allocate (flowtable_t *self)
{
    if (self->free_list) {
        uint32_t i = self->free_list;
        self->free_list = REC (i)->next;
        REC (i)->next = 0;
        return i;
    }
    if (self->used < self->max_flows)
        return ++self->used;
    uint32_t victim = oldest (self);
    if (!victim)
        return 0;
    self->evictions++;
    remove_flow (self, victim, END_EVICTED);
    return allocate (self);
}

static flow_list_t
list_of (uint8_t proto)
{
    return proto == IPPROTO_TCP ? LIST_TCP : proto == IPPROTO_UDP ? LIST_UDP : LIST_OTHER;
}

flow_t *
flowtable_lookup (flowtable_t *self, const packet_t *pkt, uint64_t now_us, int *direction,
                  bool *created)
{
    uint32_t hash = flowtable_hash (pkt);
    for (uint32_t i = self->buckets[hash & self->mask]; i; i = REC (i)->next) {
        flow_t *f = REC (i);
        if (f->hash == hash && (*direction = match (f, pkt)) >= 0) {
            *created = false;
            return f;
        }
    }
    uint32_t i = allocate (self);
    if (!i)
        return NULL;
    flow_t *f = REC (i);
    memcpy (f->src, pkt->src, 16);
    memcpy (f->dst, pkt->dst, 16);
    f->sport = pkt->sport;
    f->dport = pkt->dport;
    f->vlan = pkt->vlan;
    f->proto = pkt->proto;
    f->ip_version = pkt->ip_version;
    f->icmp_type = pkt->icmp_type;
    f->icmp_code = pkt->icmp_code;
    f->hash = hash;
    f->first_us = f->last_us = f->update_us = now_us;
    f->id = self->next_id;
    self->next_id += self->id_step;
    f->next = self->buckets[hash & self->mask];
    self->buckets[hash & self->mask] = i;
    list_append (self, i, list_of (pkt->proto));
    self->count++;
    self->created++;
    *direction = 0;
    *created = true;
    return f;
}

void
flowtable_touch (flowtable_t *self, flow_t *f, uint64_t now_us, uint8_t tcp_flags, int direction)
{
    uint32_t i = (uint32_t) (f - self->pool) + 1;
    if (now_us > f->last_us)
        f->last_us = now_us;
    flow_list_t list = (flow_list_t) f->list;
    if (f->proto == IPPROTO_TCP && list == LIST_TCP) {
        if (tcp_flags & 0x01)                       /* FIN */
            f->fin_seen |= (uint8_t) (1 << direction);
        if ((tcp_flags & 0x04) || f->fin_seen == 3) /* RST, or FIN both ways */
            list = LIST_TCP_CLOSED;
    }
    if (self->tail[f->list] == i && list == f->list)
        return;
    list_unlink (self, i);
    list_append (self, i, list);
}

uint32_t
flowtable_expire (flowtable_t *self, uint64_t now_us)
{
    uint32_t n = 0;
    for (int l = 0; l < LIST_COUNT; l++)
        while (self->head[l] && REC (self->head[l])->last_us + self->timeout_us[l] <= now_us) {
            remove_flow (self, self->head[l], l == LIST_TCP_CLOSED ? END_TCP_CLOSE : END_IDLE);
            n++;
        }
    return n;
}

void
flowtable_flush (flowtable_t *self)
{
    for (int l = 0; l < LIST_COUNT; l++)
        while (self->head[l])
            remove_flow (self, self->head[l], END_SHUTDOWN);
}

void
flowtable_foreach (flowtable_t *self, void (*fn) (void *arg, flow_t *flow), void *arg)
{
    for (int l = 0; l < LIST_COUNT; l++)
        for (uint32_t i = self->head[l]; i; i = REC (i)->next_lru)
            fn (arg, REC (i));
}

uint32_t flowtable_count (flowtable_t *self) { return self->count; }
uint64_t flowtable_evictions (flowtable_t *self) { return self->evictions; }
uint64_t flowtable_created (flowtable_t *self) { return self->created; }

uint64_t
flowtable_memory (flowtable_t *self)
{
    return (uint64_t) self->used * sizeof (flow_t) + (uint64_t) (self->mask + 1) * sizeof (uint32_t);
}
