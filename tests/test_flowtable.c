/*  test_flowtable.c — unit test for collector/flowtable.c.

    Packets are packet_t values built by hand (flowtable only reads the
    tuple); the END callback records every flow that leaves the table, with
    its reason.

    Covered:
    - lookup is direction independent: both directions find one flow
      (direction 0 then 1), the initiator stays its source; VLAN, protocol,
      IP version (an IPv6 address with the bytes of an IPv4 one) and a port
      swapped on one side only make other flows; 3000 flows, a few sharing
      buckets, found from both directions, also after half were removed.
    - flowtable_hash: the same in both directions, different when the VLAN,
      protocol or a port differs, and spread (no constant hash).
    - idle timeouts per list: TCP, TCP closed (FIN from both sides, or RST;
      FIN from one side is not enough; TCP flags on a UDP flow do nothing),
      UDP, other — each flow ends at its list's timeout, END_TCP_CLOSE for
      the closed list and END_IDLE for the others.
    - expiry order: oldest first; a packet moves a flow to the back; a late
      packet with an older timestamp does not make it older.
    - the bound: with max_flows full, a new flow evicts the least recently
      seen flow of all lists (END_EVICTED), evictions and created counted,
      the count stays at max_flows; max_flows 1; max_flows 0 refused.
    - flush: END_SHUTDOWN once for every live flow, the table reusable;
      foreach visits every live flow once.
    - flow ids: id_first, id_first + id_step, ..., never reused; two tables
      with interleaved sequences give disjoint ids.
    - flowtable_memory: never decreases, grows as records are first used,
      not when freed ones are reused, nor past max_flows (evictions).

    What it catches (tried as mutants): direction reported the wrong way,
    a flow matched without its IP version, the FIN bit of the wrong side,
    a list's timeout taken from another list, eviction of the newest flow
    or only among TCP flows, an off-by-one in the bound, ids from a step
    of 1, freed records not reused (memory growing).

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowtable.h"
#include "tally.h"

#define SEC 1000000ull
#define T0 (1700000000ull * SEC)

enum { FIN = 1, SYN = 2, RST = 4, ACK = 16 };

/*  A packet of PROTO from SRC:SPORT to DST:DPORT (IPv4 or IPv6 text).      */
static packet_t
pkt (uint8_t proto, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
    packet_t p;
    memset (&p, 0, sizeof p);
    int family = strchr (src, ':') ? AF_INET6 : AF_INET;
    if (inet_pton (family, src, p.src) != 1 || inet_pton (family, dst, p.dst) != 1) {
        printf ("bad address %s or %s\n", src, dst);
        exit (2);
    }
    p.ip_version = family == AF_INET ? 4 : 6;
    p.proto = proto;
    p.sport = sport;
    p.dport = dport;
    return p;
}

/*  The same packet the other way.                                           */
static packet_t
reverse (packet_t p)
{
    packet_t r = p;
    memcpy (r.src, p.dst, 16);
    memcpy (r.dst, p.src, 16);
    r.sport = p.dport;
    r.dport = p.sport;
    return r;
}

/*  The flows the END callback was given, in order.                          */
#define MAX_ENDED 4096

typedef struct {
    struct {
        uint64_t id;
        flow_end_t reason;
        uint16_t sport;
    } e[MAX_ENDED];
    int n;
} ended_t;

static void
on_end (void *arg, flow_t *flow, flow_end_t reason)
{
    ended_t *log = arg;
    if (log->n < MAX_ENDED) {
        log->e[log->n].id = flow->id;
        log->e[log->n].reason = reason;
        log->e[log->n].sport = flow->sport;
    }
    log->n++;
}

/*  Distinct timeouts, so that a flow on the wrong list ends at a wrong time. */
static const flowtable_timeouts_t s_timeouts = { {
    [LIST_TCP] = 300, [LIST_TCP_CLOSED] = 10, [LIST_UDP] = 60, [LIST_OTHER] = 30,
} };

static flowtable_t *
table (uint32_t max_flows, ended_t *log)
{
    memset (log, 0, sizeof *log);
    flowtable_t *ft = flowtable_new (max_flows, s_timeouts, on_end, log, 1, 1);
    if (!ft) {
        printf ("flowtable_new (%u) failed\n", max_flows);
        exit (2);
    }
    return ft;
}

/*  Look P up at NOW and touch its flow with FLAGS, as the collector does.  */
static flow_t *
seen (flowtable_t *ft, const packet_t *p, uint64_t now, uint8_t flags, int *direction, bool *created)
{
    int d = -1;
    bool c = false;
    flow_t *f = flowtable_lookup (ft, p, now, &d, &c);
    if (f)
        flowtable_touch (ft, f, now, flags, d);
    if (direction)
        *direction = d;
    if (created)
        *created = c;
    return f;
}

/*  --------------------------------------------------------------------------
    Lookup                                                                   */

static void
test_direction (tally_t *t)
{
    ended_t log;
    flowtable_t *ft = table (16, &log);
    packet_t a = pkt (6, "10.0.0.1", 40000, "10.0.0.2", 80), b = reverse (a);
    int dir;
    bool created;
    flow_t *f = seen (ft, &a, T0, SYN, &dir, &created);
    check (t, f && created && dir == 0, "first packet: a new flow, direction 0 (%d)", dir);
    flow_t *g = seen (ft, &b, T0 + 1, SYN | ACK, &dir, &created);
    check (t, g == f && !created && dir == 1, "the answer: the same flow, direction 1 (%d)", dir);
    g = seen (ft, &a, T0 + 2, ACK, &dir, &created);
    check (t, g == f && !created && dir == 0, "the initiator again: direction 0 (%d)", dir);
    check (t, f && memcmp (f->src, a.src, 16) == 0 && memcmp (f->dst, a.dst, 16) == 0
                  && f->sport == 40000 && f->dport == 80 && f->proto == 6 && f->ip_version == 4,
           "the initiator is the source");
    check (t, f && f->first_us == T0 && f->last_us == T0 + 2, "first and last seen");

    /* not the same flow: another VLAN, protocol, IP version, or a port
       swapped on one side only */
    packet_t other[4] = { a, a, a, b };
    other[0].vlan = 5;
    other[1].proto = 17;
    other[2].sport = 80, other[2].dport = 40000;    /* 10.0.0.1:80 -> 10.0.0.2:40000 */
    other[3].ip_version = 6;                        /* the same 16 bytes, as IPv6 */
    for (int i = 0; i < 4; i++) {
        flow_t *o = seen (ft, &other[i], T0 + 3, 0, &dir, &created);
        check (t, o && o != f && created, "variant %d is another flow", i);
    }
    packet_t v6 = pkt (17, "2001:db8::1", 5353, "2001:db8::2", 53), v6r = reverse (v6);
    flow_t *h = seen (ft, &v6, T0 + 4, 0, NULL, NULL);
    check (t, h && seen (ft, &v6r, T0 + 5, 0, &dir, &created) == h && dir == 1 && !created
                  && memcmp (h->src, v6.src, 16) == 0 && h->sport == 5353,
           "IPv6: both directions, the initiator as source");
    check (t, flowtable_count (ft) == 6, "6 flows, counted %u", flowtable_count (ft));
    flowtable_destroy (&ft);
    check (t, ft == NULL, "destroy clears the pointer");
}

/*  The I-th of many UDP tuples: 10.1.x.y:(1024+I) -> 192.0.2.1:53.         */
static packet_t
nth (int i)
{
    char src[32];
    snprintf (src, sizeof src, "10.1.%d.%d", i / 250, i % 250 + 1);
    return pkt (17, src, (uint16_t) (1024 + i), "192.0.2.1", 53);
}

/*  How many of flows FROM..TO-1 a lookup finds in direction DIR (0: as the
    initiator sent, 1: the answer) with the right source port.              */
static int
found (flowtable_t *ft, int from, int to, int dir, uint64_t now)
{
    int n = 0;
    for (int i = from; i < to; i++) {
        packet_t p = nth (i);
        if (dir)
            p = reverse (p);
        int d;
        bool created;
        flow_t *f = flowtable_lookup (ft, &p, now, &d, &created);
        n += f && !created && d == dir && f->sport == 1024 + i;
    }
    return n;
}

#define MANY 3000

/*  Enough flows that buckets hold chains (a new flow goes first in its
    chain). The flows created last are removed by expiry: a chain must be
    relinked around them, the older ones behind them still found.          */
static void
test_many (tally_t *t)
{
    ended_t log;
    flowtable_t *ft = table (4096, &log);
    for (int i = 0; i < MANY; i++) {
        packet_t p = nth (i);
        seen (ft, &p, T0, 0, NULL, NULL);
    }
    check (t, flowtable_count (ft) == MANY, "%d flows, counted %u", MANY, flowtable_count (ft));
    int there = found (ft, 0, MANY, 0, T0 + 30 * SEC), back = found (ft, 0, MANY, 1, T0 + 30 * SEC);
    check (t, there == MANY && back == MANY, "all found both ways: %d, %d", there, back);
    for (int i = 0; i < MANY / 2; i++) {        /* the first half seen again */
        packet_t p = nth (i);
        seen (ft, &p, T0 + 30 * SEC, 0, NULL, NULL);
    }
    uint32_t gone = flowtable_expire (ft, T0 + 60 * SEC);
    check (t, gone == MANY / 2 && log.n == MANY / 2 && log.e[0].sport == 1024 + MANY / 2,
           "the second half expired: %u", gone);
    there = found (ft, 0, MANY / 2, 0, T0 + 61 * SEC);
    back = found (ft, 0, MANY / 2, 1, T0 + 61 * SEC);
    check (t, there == MANY / 2 && back == MANY / 2, "the first half still found: %d, %d", there,
           back);
    check (t, found (ft, MANY / 2, MANY, 0, T0 + 62 * SEC) == 0, "the expired ones are new flows");
    flowtable_destroy (&ft);
}

/*  --------------------------------------------------------------------------
    Hash                                                                     */

static packet_t
random_packet (uint32_t *seed)
{
    packet_t p;
    memset (&p, 0, sizeof p);
    p.ip_version = tally_random (seed) % 2 ? 4 : 6;
    for (int k = 0; k < (p.ip_version == 4 ? 4 : 16); k++) {
        p.src[k] = (uint8_t) tally_random (seed);
        p.dst[k] = (uint8_t) tally_random (seed);
    }
    p.sport = (uint16_t) tally_random (seed);
    p.dport = (uint16_t) tally_random (seed);
    p.proto = tally_random (seed) % 2 ? 6 : 17;
    p.vlan = (uint16_t) (tally_random (seed) % 4096);
    return p;
}

#define HASHES 2000

static int
compare_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

static void
test_hash (tally_t *t)
{
    static uint32_t values[HASHES];
    uint32_t seed = 4242;
    int asymmetric = 0, blind = 0;
    for (int i = 0; i < HASHES; i++) {
        packet_t p = random_packet (&seed), r = reverse (p);
        values[i] = flowtable_hash (&p);
        asymmetric += values[i] != flowtable_hash (&r);
        packet_t v = p, q = p, s = p;
        v.vlan ^= 1;
        q.proto = p.proto == 6 ? 17 : 6;
        s.sport ^= 0x100;
        blind += values[i] == flowtable_hash (&v) || values[i] == flowtable_hash (&q)
                 || values[i] == flowtable_hash (&s);
    }
    check (t, asymmetric == 0, "%d of %d tuples hash differently each way", asymmetric, HASHES);
    check (t, blind == 0, "%d of %d hashes blind to the vlan, protocol or a port", blind, HASHES);
    qsort (values, HASHES, sizeof values[0], compare_u32);
    int distinct = 1;
    for (int i = 1; i < HASHES; i++)
        distinct += values[i] != values[i - 1];
    check (t, distinct >= HASHES - 2, "%d distinct hashes of %d tuples", distinct, HASHES);
}

/*  --------------------------------------------------------------------------
    Timeouts and expiry                                                      */

/*  The one END of the flow with source port SPORT in LOG, or -1.            */
static int
end_of (const ended_t *log, uint16_t sport)
{
    int reason = -1;
    for (int i = 0; i < log->n && i < MAX_ENDED; i++)
        if (log->e[i].sport == sport)
            reason = reason == -1 ? (int) log->e[i].reason : -2;
    return reason;
}

/*  Six flows, one per case, created and touched in the first millisecond.
    Source ports: 1 TCP open, 2 FIN both ways, 3 RST, 4 FIN from one side
    (twice), 5 UDP (with TCP flags set), 6 ICMP.                             */
static void
six_flows (tally_t *t, flowtable_t *ft)
{
    const char *c = "10.0.0.1", *s = "10.0.0.2";
    packet_t p[6] = { pkt (6, c, 1, s, 80), pkt (6, c, 2, s, 80), pkt (6, c, 3, s, 80),
                      pkt (6, c, 4, s, 80), pkt (17, c, 5, s, 53), pkt (1, c, 6, s, 0) };
    static const uint8_t flags[6][3] = { { SYN, SYN | ACK, ACK }, { SYN, FIN | ACK, FIN | ACK },
                                         { SYN, SYN | ACK, RST }, { SYN, FIN, FIN | ACK },
                                         { 0, FIN | RST, FIN }, { 0, 0, 0 } };
    static const int dirs[6][3] = { { 0, 1, 0 }, { 0, 0, 1 }, { 0, 1, 1 }, { 0, 0, 0 },
                                    { 0, 1, 0 }, { 0, 1, 0 } };
    static const flow_list_t lists[6] = { LIST_TCP, LIST_TCP_CLOSED, LIST_TCP_CLOSED, LIST_TCP,
                                          LIST_UDP, LIST_OTHER };
    for (int i = 0; i < 6; i++) {
        flow_t *f = NULL;
        for (int k = 0; k < 3; k++) {
            packet_t q = dirs[i][k] ? reverse (p[i]) : p[i];
            f = seen (ft, &q, T0 + (uint64_t) (i * 3 + k), flags[i][k], NULL, NULL);
        }
        check (t, f && f->list == lists[i], "flow %d on list %d, expected %d", i + 1,
               f ? f->list : -1, lists[i]);
    }
}

static void
test_timeouts (tally_t *t)
{
    ended_t log;
    flowtable_t *ft = table (16, &log);
    six_flows (t, ft);
    /* the last packet of each was at most 17 us after T0 */
    struct {
        uint64_t at;
        uint32_t ending;
        int n;
    } steps[] = { { T0 + 10 * SEC - 100, 0, 0 }, { T0 + 10 * SEC + 100, 2, 2 },
                  { T0 + 30 * SEC + 100, 1, 3 }, { T0 + 60 * SEC + 100, 1, 4 },
                  { T0 + 300 * SEC - 100, 0, 4 }, { T0 + 300 * SEC + 100, 2, 6 } };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint32_t n = flowtable_expire (ft, steps[i].at);
        check (t, n == steps[i].ending && log.n == steps[i].n, "step %zu: %u ended (%d in all)", i,
               n, log.n);
    }
    check (t, end_of (&log, 2) == END_TCP_CLOSE && end_of (&log, 3) == END_TCP_CLOSE,
           "closed flows end TCP_CLOSE: %d %d", end_of (&log, 2), end_of (&log, 3));
    check (t, log.e[0].sport == 2 && log.e[1].sport == 3 && log.e[2].sport == 6
                  && log.e[3].sport == 5,
           "ended at 10 s: FIN, RST; 30 s: other; 60 s: UDP");
    check (t, end_of (&log, 5) == END_IDLE && end_of (&log, 6) == END_IDLE, "UDP, other end IDLE");
    check (t, end_of (&log, 1) == END_IDLE && end_of (&log, 4) == END_IDLE,
           "TCP, with FIN from one side only, ends IDLE at 300 s: %d %d", end_of (&log, 1),
           end_of (&log, 4));
    check (t, flowtable_count (ft) == 0, "none left: %u", flowtable_count (ft));
    flowtable_destroy (&ft);
}

/*  Oldest first; a packet moves a flow to the back of its list.           */
static void
test_order (tally_t *t)
{
    ended_t log;
    flowtable_t *ft = table (16, &log);
    packet_t u[3] = { pkt (17, "10.0.0.1", 1, "10.0.0.9", 53), pkt (17, "10.0.0.1", 2, "10.0.0.9", 53),
                      pkt (17, "10.0.0.1", 3, "10.0.0.9", 53) };
    for (int i = 0; i < 3; i++)
        seen (ft, &u[i], T0 + (uint64_t) (i + 1) * SEC, 0, NULL, NULL);
    packet_t answer = reverse (u[0]);
    flow_t *f = seen (ft, &answer, T0 + 4 * SEC, 0, NULL, NULL);   /* flow 1 seen last */
    seen (ft, &u[0], T0 + 2 * SEC, 0, NULL, NULL);                 /* a late, older stamp */
    check (t, f && f->last_us == T0 + 4 * SEC, "an older stamp does not age the flow");
    uint32_t n = flowtable_expire (ft, T0 + 63 * SEC + SEC / 2);
    check (t, n == 2 && log.n == 2 && log.e[0].sport == 2 && log.e[1].sport == 3,
           "at 63.5 s flows 2 then 3 end (%u)", n);
    check (t, flowtable_count (ft) == 1, "flow 1 stays");
    n = flowtable_expire (ft, T0 + 64 * SEC + SEC / 2);
    check (t, n == 1 && log.n == 3 && log.e[2].sport == 1 && log.e[2].reason == END_IDLE,
           "at 64.5 s flow 1 ends");
    flowtable_destroy (&ft);
}

/*  --------------------------------------------------------------------------
    The bound                                                                */

static void
test_bound (tally_t *t)
{
    ended_t log;
    flowtable_t *ft = table (4, &log);
    const char *c = "10.0.0.1", *s = "10.0.0.2";
    /* TCP at 1 s (seen again at 5 s), UDP at 2 s, ICMP at 3 s, UDP at 4 s */
    packet_t p[4] = { pkt (6, c, 1, s, 80), pkt (17, c, 2, s, 53), pkt (1, c, 3, s, 0),
                      pkt (17, c, 4, s, 53) };
    for (int i = 0; i < 4; i++)
        seen (ft, &p[i], T0 + (uint64_t) (i + 1) * SEC, 0, NULL, NULL);
    seen (ft, &p[0], T0 + 5 * SEC, ACK, NULL, NULL);
    uint64_t memory = flowtable_memory (ft);
    check (t, log.n == 0 && flowtable_count (ft) == 4 && flowtable_evictions (ft) == 0,
           "4 flows fit in 4");
    /* each new flow evicts the least recently seen of all lists */
    const uint16_t victims[4] = { 2, 3, 4, 1 };
    for (int i = 0; i < 4; i++) {
        packet_t q = pkt (17, "10.0.0.3", (uint16_t) (100 + i), s, 53);
        bool created;
        flow_t *f = seen (ft, &q, T0 + (uint64_t) (6 + i) * SEC, 0, NULL, &created);
        check (t, f && created && log.n == i + 1 && log.e[i].sport == victims[i]
                      && log.e[i].reason == END_EVICTED,
               "new flow %d evicts the flow from port %u (got %u)", i, victims[i],
               log.n == i + 1 ? log.e[i].sport : 0);
    }
    check (t, flowtable_count (ft) == 4 && flowtable_evictions (ft) == 4 && flowtable_created (ft) == 8,
           "count %u evictions %llu created %llu", flowtable_count (ft),
           (unsigned long long) flowtable_evictions (ft), (unsigned long long) flowtable_created (ft));
    check (t, flowtable_memory (ft) == memory, "evictions reuse records: memory unchanged");
    bool created;
    seen (ft, &p[1], T0 + 10 * SEC, 0, NULL, &created);
    check (t, created && log.n == 5 && log.e[4].sport == 100, "an evicted flow comes back as new");
    flowtable_destroy (&ft);

    ft = table (1, &log);
    for (int i = 0; i < 3; i++)
        check (t, seen (ft, &p[i], T0 + (uint64_t) i, 0, NULL, NULL) != NULL, "max_flows 1: flow %d", i);
    check (t, flowtable_count (ft) == 1 && log.n == 2, "max_flows 1: one flow, two evicted");
    flowtable_destroy (&ft);
    check (t, flowtable_new (0, s_timeouts, on_end, &log, 1, 1) == NULL, "max_flows 0 refused");
}

/*  --------------------------------------------------------------------------
    Flush, foreach, ids, memory                                              */

static void
count_visit (void *arg, flow_t *flow)
{
    uint64_t *ids = arg;            /* [0]: visits, [1]: sum of ids */
    ids[0]++;
    ids[1] += flow->id;
}

static void
test_flush (tally_t *t)
{
    ended_t log;
    flowtable_t *ft = table (16, &log);
    six_flows (t, ft);
    uint64_t visits[2] = { 0, 0 };
    flowtable_foreach (ft, count_visit, visits);
    check (t, visits[0] == 6 && visits[1] == 1 + 2 + 3 + 4 + 5 + 6, "foreach: %llu visits",
           (unsigned long long) visits[0]);
    flowtable_flush (ft);
    uint64_t ids = 0;
    bool all_shutdown = true;
    for (int i = 0; i < log.n; i++) {
        ids += log.e[i].id;
        all_shutdown &= log.e[i].reason == END_SHUTDOWN;
    }
    check (t, log.n == 6 && ids == 21 && all_shutdown, "flush: %d flows ended SHUTDOWN", log.n);
    check (t, flowtable_count (ft) == 0, "flush empties the table");
    packet_t p = pkt (17, "10.0.0.1", 7, "10.0.0.2", 53);
    bool created;
    seen (ft, &p, T0 + SEC, 0, NULL, &created);
    check (t, created && flowtable_count (ft) == 1, "the table works after a flush");
    flowtable_flush (ft);
    check (t, log.n == 7 && log.e[6].sport == 7 && log.e[6].reason == END_SHUTDOWN,
           "a second flush ends the new flow");
    flowtable_destroy (&ft);
}

static void
test_ids (tally_t *t)
{
    ended_t log_a, log_b;
    memset (&log_a, 0, sizeof log_a);
    memset (&log_b, 0, sizeof log_b);
    flowtable_t *a = flowtable_new (8, s_timeouts, on_end, &log_a, 1, 2);
    flowtable_t *b = flowtable_new (8, s_timeouts, on_end, &log_b, 2, 2);
    uint64_t got[2][3];
    for (int i = 0; i < 3; i++) {
        packet_t p = nth (i);
        got[0][i] = seen (a, &p, T0, 0, NULL, NULL)->id;
        got[1][i] = seen (b, &p, T0, 0, NULL, NULL)->id;
    }
    check (t, got[0][0] == 1 && got[0][1] == 3 && got[0][2] == 5, "ids 1, 3, 5");
    check (t, got[1][0] == 2 && got[1][1] == 4 && got[1][2] == 6, "ids 2, 4, 6");
    flowtable_flush (a);
    packet_t p = nth (0);
    check (t, seen (a, &p, T0 + SEC, 0, NULL, NULL)->id == 7, "ids are not reused");
    check (t, flowtable_created (a) == 4, "created counts every flow: %llu",
           (unsigned long long) flowtable_created (a));
    flowtable_destroy (&a);
    flowtable_destroy (&b);
}

static void
test_memory (tally_t *t)
{
    ended_t log;
    flowtable_t *ft = table (64, &log);
    uint64_t m = flowtable_memory (ft), start = m;
    bool monotonic = true;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++) {
            packet_t p = nth (i + 1000 * round);
            seen (ft, &p, T0 + (uint64_t) (round * 1000 + i) * SEC, 0, NULL, NULL);
            monotonic &= flowtable_memory (ft) >= m;
            m = flowtable_memory (ft);
            if (round == 0 && i == 19)
                check (t, m >= start + 20 * sizeof (flow_t), "20 records counted");
        }
        uint64_t before = m;
        flowtable_expire (ft, T0 + (uint64_t) (round * 1000 + 999) * SEC);
        monotonic &= flowtable_memory (ft) == before;
        check (t, round == 0 || m == before, "round %d: freed records reused", round);
    }
    uint64_t after_reuse = flowtable_memory (ft);
    for (int i = 0; i < 200; i++) {             /* past max_flows: evictions */
        packet_t p = nth (4000 + i);
        seen (ft, &p, T0 + 5000 * SEC + (uint64_t) i, 0, NULL, NULL);
        monotonic &= flowtable_memory (ft) >= m;
        m = flowtable_memory (ft);
    }
    check (t, monotonic, "memory never decreases");
    check (t, after_reuse == start + 40 * sizeof (flow_t), "3 rounds of 40 flows touch 40 records");
    check (t, m == start + 64 * sizeof (flow_t), "full: max_flows records, %llu bytes",
           (unsigned long long) (m - start));
    flowtable_destroy (&ft);
}

int
main (void)
{
    tally_t t = { 0 };
    test_direction (&t);
    test_many (&t);
    test_hash (&t);
    test_timeouts (&t);
    test_order (&t);
    test_bound (&t);
    test_flush (&t);
    test_ids (&t);
    test_memory (&t);
    return tally_report (&t);
}
