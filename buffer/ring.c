/*  ring.c — see ring.h.

    Slot I holds sequence numbers I+1, I+1+SIZE, ...: the ring is a FIFO,
    new entries at HEAD, the oldest at HEAD - ENTRIES, so ring_get is one
    look at slot (SEQ - 1) % SIZE.

    Beside each slot, its links (slot indexes, NONE at the ends):
      - the request_id index: chained hash, buckets of slot indexes (a power
        of two >= SIZE), chains through id_next. The id itself is not copied:
        its offset in the packed request is kept (found by a small scan of
        the top-level wire fields);
      - the client index: open addressing with linear probing (a power of
        two >= 2 SIZE buckets, so at most half full), each bucket the newest
        slot of one client; a client's slots are a doubly linked list through
        ip_newer / ip_older. A client whose last entry leaves is deleted by
        backward shifting: no tombstones, no rehash, ever.                  */
#include "ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"

#define NONE UINT32_MAX
#define REQUEST_ID_FIELD 3          /* HttpRequest.request_id                */

typedef struct {
    uint64_t id_hash;
    uint32_t id_off, id_len;        /* request_id inside packed              */
    uint32_t id_next;
    uint32_t ip_newer, ip_older;
    bool id_indexed;                /* a later duplicate took the id out     */
} ring_link_t;

struct ring_t {
    size_t size, memory;
    ring_entry_t *slots;
    ring_link_t *links;
    uint32_t *id_buckets;           /* id_mask + 1 heads                     */
    uint32_t *clients;              /* client_mask + 1: newest slot or NONE  */
    size_t id_mask, client_mask;
    size_t head;                    /* the next slot written                 */
    ring_stats_t stats;
};

ring_t *
ring_new (size_t size, size_t memory)
{
    if (size == 0 || size >= NONE / 2)
        return NULL;
    ring_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->size = size;
    self->memory = memory;
    self->id_mask = hash_power_of_two (size) - 1;
    self->client_mask = hash_power_of_two (2 * size) - 1;
    self->slots = calloc (size, sizeof *self->slots);
    self->links = calloc (size, sizeof *self->links);
    self->id_buckets = malloc ((self->id_mask + 1) * sizeof (uint32_t));
    self->clients = malloc ((self->client_mask + 1) * sizeof (uint32_t));
    if (!self->slots || !self->links || !self->id_buckets || !self->clients) {
        ring_destroy (&self);
        return NULL;
    }
    memset (self->id_buckets, 0xff, (self->id_mask + 1) * sizeof (uint32_t));
    memset (self->clients, 0xff, (self->client_mask + 1) * sizeof (uint32_t));
    return self;
}

void
ring_destroy (ring_t **self_p)
{
    ring_t *self = *self_p;
    if (!self)
        return;
    if (self->slots)
        for (size_t i = 0; i < self->size; i++)
            free (self->slots[i].packed);
    free (self->slots);
    free (self->links);
    free (self->id_buckets);
    free (self->clients);
    free (self);
    *self_p = NULL;
}

/* ---- the request_id index ---------------------------------------------- */

static bool
id_equal (const ring_t *self, uint32_t slot, uint64_t hash, const char *id, size_t len)
{
    const ring_link_t *link = &self->links[slot];
    return link->id_hash == hash && link->id_len == len
           && memcmp (self->slots[slot].packed + link->id_off, id, len) == 0;
}

/*  Where the chain pointer to the entry of ID is (NULL if none).           */
static uint32_t *
id_lookup (ring_t *self, const char *id, size_t len, uint64_t hash)
{
    uint32_t *at = &self->id_buckets[hash & self->id_mask];
    while (*at != NONE) {
        if (id_equal (self, *at, hash, id, len))
            return at;
        at = &self->links[*at].id_next;
    }
    return NULL;
}

static void
id_unlink (ring_t *self, uint32_t slot)
{
    ring_link_t *link = &self->links[slot];
    if (!link->id_indexed)
        return;
    uint32_t *at = &self->id_buckets[link->id_hash & self->id_mask];
    while (*at != slot)
        at = &self->links[*at].id_next;
    *at = link->id_next;
    link->id_indexed = false;
}

/*  A varint at *P (before END); false when truncated or too long.          */
static bool
read_varint (const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t byte = *(*p)++;
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

/*  Offset and length of the top-level length-delimited field FIELD in the
    packed message; false when it is not there.                               */
static bool
find_field (const uint8_t *data, size_t len, uint32_t field, uint32_t *off, uint32_t *flen)
{
    const uint8_t *p = data, *end = data + len;
    uint64_t key, n;
    while (p < end && read_varint (&p, end, &key)) {
        switch (key & 7) {
        case 0: if (!read_varint (&p, end, &n)) return false; break;
        case 1: if (end - p < 8) return false; p += 8; break;
        case 5: if (end - p < 4) return false; p += 4; break;
        case 2:
            if (!read_varint (&p, end, &n) || n > (uint64_t) (end - p))
                return false;
            if (key >> 3 == field) {
                *off = (uint32_t) (p - data);
                *flen = (uint32_t) n;
                return true;
            }
            p += n;
            break;
        default: return false;
        }
    }
    return false;
}

/*  Index SLOT under its request (an empty request_id is not indexed); an
    older entry with the same id leaves the index.                            */
static void
id_insert (ring_t *self, uint32_t slot, const char *id)
{
    ring_link_t *link = &self->links[slot];
    size_t len = strlen (id);
    if (len == 0 || !find_field (self->slots[slot].packed, self->slots[slot].packed_len,
                                 REQUEST_ID_FIELD, &link->id_off, &link->id_len))
        return;
    link->id_hash = hash_bytes (id, len);
    uint32_t *older = id_lookup (self, id, len, link->id_hash);
    if (older) {
        id_unlink (self, *older);
        self->stats.duplicate_ids++;
    }
    uint32_t *head = &self->id_buckets[link->id_hash & self->id_mask];
    link->id_next = *head;
    *head = slot;
    link->id_indexed = true;
}

/* ---- the client index -------------------------------------------------- */

/*  The bucket of client IP, or the empty bucket where it would go.          */
static size_t
client_bucket (const ring_t *self, const char *ip)
{
    size_t b = hash_bytes (ip, strlen (ip)) & self->client_mask;
    while (self->clients[b] != NONE && strcmp (self->slots[self->clients[b]].client_ip, ip) != 0)
        b = (b + 1) & self->client_mask;
    return b;
}

/*  Empty bucket HOLE, then move back the entries after it that may (linear
    probing without tombstones).                                              */
static void
client_delete (ring_t *self, size_t hole)
{
    size_t mask = self->client_mask;
    self->clients[hole] = NONE;
    for (size_t b = (hole + 1) & mask; self->clients[b] != NONE; b = (b + 1) & mask) {
        const char *ip = self->slots[self->clients[b]].client_ip;
        size_t home = hash_bytes (ip, strlen (ip)) & mask;
        /* stays when its home lies cyclically in (hole, b] */
        if (((b - home) & mask) < ((b - hole) & mask))
            continue;
        self->clients[hole] = self->clients[b];
        self->clients[b] = NONE;
        hole = b;
    }
    self->stats.clients--;
}

static void
client_insert (ring_t *self, uint32_t slot)
{
    ring_link_t *link = &self->links[slot];
    size_t b = client_bucket (self, self->slots[slot].client_ip);
    link->ip_newer = NONE;
    link->ip_older = self->clients[b];
    if (link->ip_older != NONE)
        self->links[link->ip_older].ip_newer = slot;
    else
        self->stats.clients++;
    self->clients[b] = slot;
}

static void
client_unlink (ring_t *self, uint32_t slot)
{
    ring_link_t *link = &self->links[slot];
    if (link->ip_older != NONE)
        self->links[link->ip_older].ip_newer = link->ip_newer;
    if (link->ip_newer != NONE) {
        self->links[link->ip_newer].ip_older = link->ip_older;
        return;
    }
    size_t b = client_bucket (self, self->slots[slot].client_ip);
    if (link->ip_older != NONE)
        self->clients[b] = link->ip_older;
    else
        client_delete (self, b);
}

/* ---- insert and evict -------------------------------------------------- */

/*  The oldest entry leaves (from both indexes); its request is freed.       */
static void
evict_oldest (ring_t *self)
{
    uint32_t slot = (uint32_t) ((self->head + self->size - self->stats.entries) % self->size);
    ring_entry_t *entry = &self->slots[slot];
    id_unlink (self, slot);
    client_unlink (self, slot);
    self->stats.bytes -= entry->packed_len;
    self->stats.entries--;
    free (entry->packed);
    memset (entry, 0, sizeof *entry);
    self->links[slot] = (ring_link_t) { .id_next = NONE, .ip_newer = NONE, .ip_older = NONE };
}

static uint64_t
now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

ring_entry_t *
ring_insert (ring_t *self, const Dpidual__V1__HttpRequest *req)
{
    size_t len = protobuf_c_message_get_packed_size (&req->base);
    if (len > self->memory || len > UINT32_MAX)
        return NULL;
    uint8_t *packed = malloc (len ? len : 1);
    if (!packed)
        return NULL;
    protobuf_c_message_pack (&req->base, packed);

    while (self->stats.entries && self->stats.bytes + len > self->memory) {
        evict_oldest (self);
        self->stats.evicted_memory++;
    }
    if (self->stats.entries == self->size) {
        evict_oldest (self);
        self->stats.overwritten++;
    }
    uint32_t slot = (uint32_t) self->head;
    ring_entry_t *entry = &self->slots[slot];
    entry->seq = ++self->stats.inserted;
    entry->ts_ns = req->ts_ns ? req->ts_ns : now_ns ();
    snprintf (entry->client_ip, sizeof entry->client_ip, "%s",
              req->client_ip ? req->client_ip : "");
    entry->packed = packed;
    entry->packed_len = len;
    id_insert (self, slot, req->request_id ? req->request_id : "");
    client_insert (self, slot);
    self->head = (self->head + 1) % self->size;
    self->stats.entries++;
    self->stats.bytes += len;
    return entry;
}

/* ---- lookups ------------------------------------------------------------ */

ring_entry_t *
ring_get (ring_t *self, uint64_t seq)
{
    if (seq == 0)
        return NULL;
    ring_entry_t *entry = &self->slots[(seq - 1) % self->size];
    return entry->seq == seq ? entry : NULL;
}

ring_entry_t *
ring_find_request (ring_t *self, const char *request_id)
{
    size_t len = request_id ? strlen (request_id) : 0;
    if (len == 0)
        return NULL;
    uint32_t *at = id_lookup (self, request_id, len, hash_bytes (request_id, len));
    return at ? &self->slots[*at] : NULL;
}

ring_entry_t *
ring_client_first (ring_t *self, const char *ip)
{
    char key[RING_IP_MAX];
    snprintf (key, sizeof key, "%s", ip);      /* as ring_insert stores it */
    uint32_t slot = self->clients[client_bucket (self, key)];
    return slot == NONE ? NULL : &self->slots[slot];
}

ring_entry_t *
ring_client_next (ring_t *self, const ring_entry_t *entry)
{
    if (entry->seq == 0)
        return NULL;                /* evicted since */
    uint32_t older = self->links[entry - self->slots].ip_older;
    return older == NONE ? NULL : &self->slots[older];
}

ring_entry_t *
ring_newest (ring_t *self)
{
    return ring_get (self, self->stats.inserted);
}

ring_entry_t *
ring_older (ring_t *self, const ring_entry_t *entry)
{
    return entry->seq > 1 ? ring_get (self, entry->seq - 1) : NULL;
}

Dpidual__V1__HttpRequest *
ring_request (const ring_entry_t *entry)
{
    if (!entry->packed)
        return NULL;
    return dpidual__v1__http_request__unpack (NULL, entry->packed_len, entry->packed);
}

ring_stats_t
ring_stats (const ring_t *self)
{
    return self->stats;
}

size_t
ring_size (const ring_t *self)
{
    return self->size;
}

size_t
ring_fixed_bytes (const ring_t *self)
{
    return sizeof *self + self->size * (sizeof (ring_entry_t) + sizeof (ring_link_t))
           + (self->id_mask + 1 + self->client_mask + 1) * sizeof (uint32_t);
}
