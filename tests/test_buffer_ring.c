/*  test_buffer_ring.c — buffer/ring.c (the ring of recent requests).

    Catches: an index left pointing at an overwritten or evicted slot, a
    per-client list that keeps dead entries or loses live ones (checked
    against a brute-force model, with many clients so the open-addressing
    deletions shift buckets), a duplicate request id that hides the newer
    request, a memory bound that is not kept or a request over it that
    evicts the ring for nothing, ring_get answering for a reused slot.
    Prints the insert rate and the memory held at 10000 entries (figures,
    never checked).                                                           */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring.h"
#include "tally.h"

#define HEADERS 8

/*  A request and the storage its fields point to.                          */
typedef struct {
    Dpidual__V1__HttpRequest req;
    Dpidual__V1__HttpHeader header[HEADERS];
    Dpidual__V1__HttpHeader *headers[HEADERS];
    char ip[64], id[64], values[HEADERS][80];
    uint8_t body[200];
} request_t;

/*  A request of client IP with request_id ID (NULL: none): with HEADERS
    headers of about VALUE bytes each and a BODY-byte body window.          */
static Dpidual__V1__HttpRequest *
request_make (request_t *r, const char *ip, const char *id, size_t value, size_t body)
{
    dpidual__v1__http_request__init (&r->req);
    snprintf (r->ip, sizeof r->ip, "%s", ip);
    snprintf (r->id, sizeof r->id, "%s", id ? id : "");
    r->req.client_ip = r->ip;
    r->req.request_id = r->id;
    r->req.method = "POST";
    r->req.scheme = "https";
    r->req.host = "shop.example.com";
    r->req.path = "/api/v2/cart/items";
    r->req.query = "session=abc123&lang=en";
    r->req.http_version = "HTTP/1.1";
    r->req.ts_ns = 1700000000000000000ull;
    for (size_t i = 0; i < HEADERS && value; i++) {
        dpidual__v1__http_header__init (&r->header[i]);
        memset (r->values[i], 'a' + (int) i, value < 79 ? value : 79);
        r->values[i][value < 79 ? value : 79] = 0;
        r->header[i].name = "X-Some-Header";
        r->header[i].value = r->values[i];
        r->headers[i] = &r->header[i];
    }
    r->req.n_headers = value ? HEADERS : 0;
    r->req.headers = r->headers;
    memset (r->body, 'b', sizeof r->body);
    r->req.body_prefix.data = r->body;
    r->req.body_prefix.len = body < sizeof r->body ? body : sizeof r->body;
    r->req.body_length = r->req.body_prefix.len;
    return &r->req;
}

static void
test_basic (tally_t *t)
{
    ring_t *ring = ring_new (4, 1 << 20);
    request_t r;
    check (t, ring_newest (ring) == NULL && ring_client_first (ring, "10.0.0.1") == NULL,
           "an empty ring has nothing");
    ring_entry_t *e1 = ring_insert (ring, request_make (&r, "10.0.0.1", "r1", 10, 20));
    ring_insert (ring, request_make (&r, "10.0.0.2", "r2", 10, 20));
    ring_insert (ring, request_make (&r, "10.0.0.1", "r3", 10, 20));
    ring_insert (ring, request_make (&r, "10.0.0.1", NULL, 10, 20));
    check (t, e1 && e1->seq == 1, "the first entry is seq 1");
    ring_entry_t *e = ring_find_request (ring, "r3");
    check (t, e && e->seq == 3 && ring_get (ring, 3) == e, "r3 found, seq 3");
    check (t, !ring_find_request (ring, "") && !ring_find_request (ring, "r9"),
           "no empty id, no unknown id");
    Dpidual__V1__HttpRequest *req = e ? ring_request (e) : NULL;
    check (t, req && strcmp (req->request_id, "r3") == 0 && req->body_prefix.len == 20,
           "ring_request unpacks the request as stored");
    if (req)
        dpidual__v1__http_request__free_unpacked (req, NULL);
    uint64_t seqs[4] = { 0 };
    size_t n = 0;
    for (e = ring_client_first (ring, "10.0.0.1"); e && n < 4; e = ring_client_next (ring, e))
        seqs[n++] = e->seq;
    check (t, n == 3 && seqs[0] == 4 && seqs[1] == 3 && seqs[2] == 1,
           "10.0.0.1: 4, 3, 1 (newest first), %zu entries", n);
    n = 0;
    for (e = ring_newest (ring); e && n < 4; e = ring_older (ring, e))
        seqs[n++] = e->seq;
    check (t, n == 4 && seqs[0] == 4 && seqs[3] == 1, "newest to oldest: 4 .. 1");

    ring_insert (ring, request_make (&r, "10.0.0.3", "r5", 10, 20));
    check (t, !ring_get (ring, 1) && !ring_find_request (ring, "r1"), "seq 1 overwritten");
    check (t, ring_get (ring, 5) && !ring_get (ring, 0) && !ring_get (ring, 6) && !ring_get (ring, 9),
           "ring_get: 5 is there, 0, 6 and 9 (slot of 5) are not");
    ring_stats_t s = ring_stats (ring);
    check (t, s.inserted == 5 && s.overwritten == 1 && s.entries == 4 && s.clients == 3
           && s.evicted_memory == 0 && s.duplicate_ids == 0,
           "stats: inserted %llu overwritten %llu entries %llu clients %llu",
           (unsigned long long) s.inserted, (unsigned long long) s.overwritten,
           (unsigned long long) s.entries, (unsigned long long) s.clients);
    check (t, ring_size (ring) == 4 && ring_fixed_bytes (ring) > 4 * sizeof (ring_entry_t),
           "size, fixed bytes");
    ring_destroy (&ring);
    check (t, ring == NULL && ring_new (0, 100) == NULL, "destroy NULLs; size 0 refused");
}

static void
test_duplicates (tally_t *t)
{
    ring_t *ring = ring_new (3, 1 << 20);
    request_t r;
    ring_insert (ring, request_make (&r, "10.0.0.1", "dup", 0, 0));
    ring_insert (ring, request_make (&r, "10.0.0.2", "dup", 0, 0));
    ring_entry_t *e = ring_find_request (ring, "dup");
    check (t, e && e->seq == 2 && ring_get (ring, 1), "the newer dup is found, the older kept");
    check (t, ring_stats (ring).duplicate_ids == 1, "one duplicate counted");
    ring_insert (ring, request_make (&r, "10.0.0.3", "x", 0, 0));
    ring_insert (ring, request_make (&r, "10.0.0.3", "y", 0, 0));    /* the older dup goes */
    e = ring_find_request (ring, "dup");
    check (t, e && e->seq == 2, "the older leaving does not take the newer's id");
    ring_insert (ring, request_make (&r, "10.0.0.3", "z", 0, 0));    /* the newer goes */
    check (t, !ring_find_request (ring, "dup"), "both gone: not found");
    ring_destroy (&ring);
}

static void
test_memory (tally_t *t)
{
    request_t r;
    size_t one = protobuf_c_message_get_packed_size (&request_make (&r, "10.0.0.1", "m00", 50, 100)->base);
    ring_t *ring = ring_new (100, 10 * one + one / 2);
    char id[32];
    for (int i = 0; i < 30; i++) {
        snprintf (id, sizeof id, "m%02d", i);
        ring_insert (ring, request_make (&r, "10.0.0.1", id, 50, 100));
    }
    ring_stats_t s = ring_stats (ring);
    check (t, s.entries == 10 && s.bytes == 10 * one && s.evicted_memory == 20 && s.overwritten == 0,
           "10 fit under MEMORY, 20 evicted early: entries %llu evicted %llu",
           (unsigned long long) s.entries, (unsigned long long) s.evicted_memory);
    check (t, !ring_find_request (ring, "m19") && ring_find_request (ring, "m20")
           && ring_get (ring, 21) && !ring_get (ring, 20), "the oldest were evicted");

    ring_t *tiny = ring_new (10, one - 1);
    ring_insert (tiny, request_make (&r, "10.0.0.1", "a", 0, 0));
    check (t, ring_insert (tiny, request_make (&r, "10.0.0.1", "m00", 50, 100)) == NULL,
           "over MEMORY: NULL");
    s = ring_stats (tiny);
    check (t, s.inserted == 1 && s.entries == 1 && s.evicted_memory == 0 && ring_find_request (tiny, "a"),
           "the refused request evicted nothing");
    ring_destroy (&tiny);
    ring_destroy (&ring);
}

/* ---- the brute-force model -------------------------------------------- */

#define MODEL_MAX 4096

typedef struct {
    char ip[32], id[32];
    size_t bytes;
} model_entry_t;

typedef struct {
    model_entry_t e[MODEL_MAX + 1];     /* by seq */
    uint64_t lo, hi;                    /* live: lo..hi (lo > hi: none)      */
    size_t size, memory, bytes;
    uint64_t evicted_memory, overwritten, duplicates;
} model_t;

/*  The newest live seq with request id ID, 0 if none.                      */
static uint64_t
model_find (const model_t *m, const char *id)
{
    for (uint64_t s = m->hi; s >= m->lo && s > 0; s--)
        if (strcmp (m->e[s].id, id) == 0)
            return s;
    return 0;
}

static void
model_insert (model_t *m, const char *ip, const char *id, size_t bytes)
{
    while (m->lo <= m->hi && m->bytes + bytes > m->memory) {
        m->bytes -= m->e[m->lo++].bytes;
        m->evicted_memory++;
    }
    if (m->hi - m->lo + 1 == m->size) {
        m->bytes -= m->e[m->lo++].bytes;
        m->overwritten++;
    }
    if (model_find (m, id))
        m->duplicates++;
    m->hi++;
    snprintf (m->e[m->hi].ip, sizeof m->e[m->hi].ip, "%s", ip);
    snprintf (m->e[m->hi].id, sizeof m->e[m->hi].id, "%s", id);
    m->e[m->hi].bytes = bytes;
    m->bytes += bytes;
}

/*  The client list of IP against the model; true when it matches.         */
static bool
client_matches (ring_t *ring, const model_t *m, const char *ip)
{
    ring_entry_t *e = ring_client_first (ring, ip);
    for (uint64_t s = m->hi; s >= m->lo && s > 0; s--) {
        if (strcmp (m->e[s].ip, ip) != 0)
            continue;
        if (!e || e->seq != s || strcmp (e->client_ip, ip) != 0)
            return false;
        e = ring_client_next (ring, e);
    }
    return e == NULL;
}

/*  Every seq, id and ip of the model against the ring; the failures.        */
static int
model_compare (ring_t *ring, const model_t *m, int ips, int ids)
{
    int bad = 0;
    char key[32];
    for (uint64_t s = 1; s <= m->hi; s++) {
        ring_entry_t *e = ring_get (ring, s);
        bool live = s >= m->lo;
        bad += live ? !e || strcmp (e->client_ip, m->e[s].ip) != 0 : e != NULL;
    }
    for (int i = 0; i < ips; i++) {
        snprintf (key, sizeof key, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        bad += !client_matches (ring, m, key);
    }
    for (int i = 0; i < ids; i++) {
        snprintf (key, sizeof key, "id-%d", i);
        ring_entry_t *e = ring_find_request (ring, key);
        bad += (e ? e->seq : 0) != model_find (m, key);
    }
    return bad;
}

/*  3 x SIZE random inserts (ips out of IPS, ids out of IDS, sizes varied)
    checked against the model after each one.                                */
static void
test_model (tally_t *t, size_t size, size_t memory, int ips, int ids, uint32_t seed)
{
    static model_t m;
    memset (&m, 0, sizeof m);
    m.lo = 1, m.size = size, m.memory = memory;
    ring_t *ring = ring_new (size, memory);
    request_t r;
    char ip[32], id[32];
    int bad = 0;
    for (size_t n = 0; n < 3 * size && n < MODEL_MAX; n++) {
        uint32_t ipn = tally_random (&seed) % (uint32_t) ips;
        snprintf (ip, sizeof ip, "10.%u.%u.%u", ipn >> 16, (ipn >> 8) & 255, ipn & 255);
        snprintf (id, sizeof id, "id-%u", tally_random (&seed) % (uint32_t) ids);
        Dpidual__V1__HttpRequest *req = request_make (&r, ip, id, tally_random (&seed) % 60,
                                                      tally_random (&seed) % 200);
        model_insert (&m, ip, id, protobuf_c_message_get_packed_size (&req->base));
        bad += ring_insert (ring, req) == NULL;
        bad += model_compare (ring, &m, ips, ids);
    }
    ring_stats_t s = ring_stats (ring);
    check (t, bad == 0, "size %zu memory %zu ips %d ids %d: %d mismatches", size, memory, ips, ids, bad);
    check (t, s.entries == m.hi - m.lo + 1 && s.bytes == m.bytes && s.overwritten == m.overwritten
           && s.evicted_memory == m.evicted_memory && s.duplicate_ids == m.duplicates,
           "stats as the model: entries %llu/%llu evicted %llu/%llu dups %llu/%llu",
           (unsigned long long) s.entries, (unsigned long long) (m.hi - m.lo + 1),
           (unsigned long long) s.evicted_memory, (unsigned long long) m.evicted_memory,
           (unsigned long long) s.duplicate_ids, (unsigned long long) m.duplicates);
    ring_destroy (&ring);
}

/* ---- figures ------------------------------------------------------------ */

static double
seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/*  SIZE = 10000, a typical request (8 headers of ~75 bytes, 200-byte body). */
static void
figures (tally_t *t)
{
    enum { SIZE = 10000, ROUNDS = 10 };
    ring_t *ring = ring_new (SIZE, 256u << 20);
    request_t r;
    char ip[32], id[32];
    size_t usable = 0;
    double elapsed = 0;             /* in ring_insert only */
    for (int i = 0; i < ROUNDS * SIZE; i++) {
        snprintf (ip, sizeof ip, "192.0.2.%d", i % 200);
        snprintf (id, sizeof id, "%08x-req-%d", (unsigned) i * 2654435761u, i);
        Dpidual__V1__HttpRequest *req = request_make (&r, ip, id, 60, 200);
        double start = seconds ();
        ring_insert (ring, req);
        elapsed += seconds () - start;
    }
    for (ring_entry_t *e = ring_newest (ring); e; e = ring_older (ring, e))
        usable += malloc_usable_size (e->packed);
    ring_stats_t s = ring_stats (ring);
    check (t, s.entries == SIZE, "the figures' ring is full");
    size_t fixed = ring_fixed_bytes (ring);
    printf ("ring: %.0f inserts/s (%d inserts, request %llu bytes packed, pack + index + evict, clock read included)\n",
            ROUNDS * SIZE / elapsed, ROUNDS * SIZE, (unsigned long long) (s.bytes / s.entries));
    printf ("ring: at %d entries: fixed %zu + packed %llu (malloc'd %zu) = %.1f MiB, %zu bytes/entry\n",
            SIZE, fixed, (unsigned long long) s.bytes, usable,
            (double) (fixed + usable) / (1 << 20), (fixed + usable) / SIZE);
    ring_destroy (&ring);
}

int
main (void)
{
    tally_t t = { 0 };
    test_basic (&t);
    test_duplicates (&t);
    test_memory (&t);
    test_model (&t, 64, 1 << 20, 5, 1000, 12345);       /* wrap, few clients */
    test_model (&t, 64, 1 << 20, 500, 40, 777);         /* many clients, duplicate ids */
    test_model (&t, 100, 9000, 30, 200, 4242);          /* MEMORY evicts early too */
    test_model (&t, 1, 1 << 20, 3, 3, 99);              /* one slot */
    figures (&t);
    return tally_report (&t);
}
