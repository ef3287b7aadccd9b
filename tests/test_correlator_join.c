/*  test_correlator_join.c — correlator/join.c (the join of tap.flow and
    mitm.request).

    Catches: a request reported twice or never (joined at once, then again
    at window close; evicted and then closed), a join by the wrong key or
    with the wrong flow, a flow seen again held twice, VLAN ids or address
    spellings (IPv4-mapped, IPv6 text) that keep a request from its flow,
    an index left pointing at a released slot (checked against a model with
    many clients and interleaved arrivals), a bound not kept, a flow's
    strings (interned, shared) not the texts given cut as documented, or
    freed while another flow still holds them (ASan). Prints the
    events/s of 1M flow + request events (a figure, never checked).         */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "join.h"
#include "tally.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)

/*  What FN was told.                                                        */
typedef struct {
    char request_id[128];
    join_key_t key;
    uint64_t flow_id;
    char client_ip[JOIN_IP_MAX];
    uint64_t latency_ns;
} seen_t;

typedef struct {
    seen_t *seen;
    size_t count, size;
} reports_t;

static void
on_join (void *arg, const join_request_t *req, join_key_t key, const join_flow_t *flow,
         uint64_t latency_ns)
{
    reports_t *r = arg;
    if (r->count == r->size)
        return;
    seen_t *s = &r->seen[r->count++];
    snprintf (s->request_id, sizeof s->request_id, "%s", req->request_id);
    snprintf (s->client_ip, sizeof s->client_ip, "%s", req->client_ip);
    s->key = key;
    s->flow_id = flow ? flow->flow_id : 0;
    s->latency_ns = latency_ns;
}

/*  A flow event; strings point into the caller's literals.                  */
static Dpidual__V1__FlowEvent
flow (const char *cid, const char *src, uint32_t sport, const char *dst, uint32_t dport,
      uint64_t first_ns, uint64_t last_ns, uint64_t flow_id)
{
    Dpidual__V1__FlowEvent ev;
    dpidual__v1__flow_event__init (&ev);
    ev.community_id = (char *) cid;
    ev.src_ip = (char *) src;
    ev.src_port = sport;
    ev.dst_ip = (char *) dst;
    ev.dst_port = dport;
    ev.ip_proto = 6;
    ev.proto = "TLS";
    ev.tls_sni = "shop.example.com";
    ev.first_seen = first_ns / MS;
    ev.last_seen = last_ns / MS;
    ev.flow_id = flow_id;
    ev.event = DPIDUAL__V1__FLOW_EVENT__EVENT__DETECTED;
    return ev;
}

static Dpidual__V1__HttpRequest
request (const char *id, const char *cid, const char *client, uint32_t cport,
         const char *frontend, uint32_t fport, uint64_t ts_ns)
{
    Dpidual__V1__HttpRequest r;
    dpidual__v1__http_request__init (&r);
    r.request_id = (char *) id;
    r.community_id = (char *) cid;
    r.client_ip = (char *) client;
    r.client_port = cport;
    r.frontend_ip = (char *) frontend;
    r.frontend_port = fport;
    r.ts_ns = ts_ns;
    return r;
}

static join_t *
fresh (reports_t *r, seen_t *buf, size_t size, size_t max_entries)
{
    *r = (reports_t) { buf, 0, size };
    return join_new (SEC, max_entries, on_join, r);
}

/*  The strings a held flow gives back: the event's, cut to the documented
    sizes, shared between flows (one copy), kept while any holder remains.  */
static void
test_strings (tally_t *t)
{
    seen_t buf[4];
    reports_t r;
    join_t *j = fresh (&r, buf, 4, 16);
    char long_sni[300], long_risk[100], long_cid[100];
    memset (long_sni, 's', sizeof long_sni - 1);
    long_sni[sizeof long_sni - 1] = 0;
    memset (long_risk, 'r', sizeof long_risk - 1);
    long_risk[sizeof long_risk - 1] = 0;
    memset (long_cid, 'c', sizeof long_cid - 1);
    long_cid[sizeof long_cid - 1] = 0;
    char *risks[10] = { "Possible Exploit", long_risk, "Self-signed Certificate", "4", "5",
                        "6", "7", "8", "9", "10" };
    Dpidual__V1__FlowEvent a = flow ("1:a", "10.0.0.1", 1000, "192.0.2.1", 443, T0, T0, 1);
    a.tls_sni = long_sni;
    a.risks = risks;
    a.n_risks = 10;
    a.risk = 0x5;
    Dpidual__V1__FlowEvent b = flow (long_cid, "::ffff:10.0.0.1", 1001, "192.0.2.1", 443,
                                     T0, T0, 2);
    b.tls_sni = NULL;
    b.host_server_name = long_sni;
    b.risks = risks;
    b.n_risks = 1;
    const join_flow_t *fa = join_flow (j, &a, "collector-a", T0);
    const join_flow_t *fb = join_flow (j, &b, "collector-a", T0 + 1);
    const join_flow_t *got[4];
    size_t n = join_flows_of (j, "10.0.0.1", got, 4);
    check (t, n == 2 && got[0] == fb && got[1] == fa, "join_flow gives the flow held");
    check (t, strlen (fa->sni) == JOIN_SNI_MAX - 1 && strncmp (fa->sni, long_sni,
           JOIN_SNI_MAX - 1) == 0 && fa->sni == fb->sni, "SNI cut to fit, one copy");
    check (t, strlen (fb->community_id) == JOIN_CID_MAX - 1, "community_id cut to fit");
    check (t, fa->risk_count == JOIN_RISKS_MAX && fa->risk == 0x5
           && strcmp (fa->risks[0], "Possible Exploit") == 0
           && strlen (fa->risks[1]) == JOIN_RISK_NAME_MAX - 1
           && strcmp (fa->risks[2], "Self-signed Certificate") == 0
           && strcmp (fa->risks[7], "8") == 0, "risk names kept, cut to fit, at most 8");
    check (t, fb->risk_count == 1 && strcmp (fb->risks[0], "Possible Exploit") == 0,
           "a list of one risk");
    check (t, strcmp (fa->src_ip, "10.0.0.1") == 0 && fa->src_ip == fb->src_ip
           && strcmp (fa->source, "collector-a") == 0 && strcmp (fa->proto, "TLS") == 0
           && fa->src_port == 1000 && fa->dst_port == 443 && fa->ip_proto == 6,
           "addresses normalised and shared; source, proto, ports");
    Dpidual__V1__FlowEvent c = flow ("1:a", "10.0.0.1", 1000, "192.0.2.1", 443, T0, T0, 3);
    c.proto = NULL;
    c.tls_sni = NULL;
    const join_flow_t *fc = join_flow (j, &c, NULL, T0 + 2);    /* replaces a */
    n = join_flows_of (j, "10.0.0.1", got, 4);
    check (t, n == 2 && got[0] == fc && fc->flow_id == 3 && fc->risk_count == 0
           && fc->sni[0] == 0 && fc->proto[0] == 0 && fc->source[0] == 0
           && strlen (got[1]->sni) == JOIN_SNI_MAX - 1, "missing strings are \"\"; "
           "the other flow's SNI outlives the one replaced");
    join_destroy (&j);
}

static void
test_community_id (tally_t *t)
{
    seen_t buf[8];
    reports_t r;
    join_t *j = fresh (&r, buf, 8, 64);
    Dpidual__V1__FlowEvent f = flow ("1:aaa", "10.0.0.1", 5000, "192.0.2.10", 443,
                                     T0, T0 + 10 * MS, 7);
    join_flow (j, &f, "collector@a", T0 + 20 * MS);
    Dpidual__V1__HttpRequest q = request ("r1", "1:aaa", "10.0.0.1", 5000, "192.0.2.10",
                                          443, T0 + 5 * MS);
    join_request (j, &q, T0 + 30 * MS);
    check (t, r.count == 1 && buf[0].key == JOIN_COMMUNITY_ID && buf[0].flow_id == 7,
           "flow first: %zu reports, key %d", r.count, r.count ? (int) buf[0].key : -1);
    check (t, r.count == 1 && buf[0].latency_ns == 0, "flow first: latency 0 (joined at "
           "the later arrival)");
    q = request ("r2", "1:bbb", "10.0.0.2", 5001, "192.0.2.10", 443, T0);
    join_request (j, &q, T0 + 40 * MS);
    check (t, r.count == 1 && join_stats (j).waiting == 1, "request first: waits");
    f = flow ("1:bbb", "10.0.0.2", 5001, "192.0.2.10", 443, T0, T0 + 50 * MS, 8);
    join_flow (j, &f, "collector@a", T0 + 60 * MS);
    check (t, r.count == 2 && buf[1].key == JOIN_COMMUNITY_ID && buf[1].flow_id == 8
           && buf[1].latency_ns == 0, "request first: joined when the flow arrives");
    join_expire (j, T0 + 5 * SEC);
    join_flush (j);
    join_stats_t st = join_stats (j);
    check (t, r.count == 2 && st.waiting == 0 && st.joined[JOIN_COMMUNITY_ID] == 2,
           "never reported twice: %zu reports", r.count);
    join_destroy (&j);
    check (t, j == NULL, "join_destroy NULLs the pointer");
}

static void
test_fallbacks (tally_t *t)
{
    seen_t buf[8];
    reports_t r;
    join_t *j = fresh (&r, buf, 8, 64);
    Dpidual__V1__FlowEvent f = flow ("1:ccc", "10.0.0.3", 6000, "192.0.2.10", 443,
                                     T0, T0 + 3 * SEC, 11);
    join_flow (j, &f, "c", T0 + 2 * SEC);
    f = flow ("1:ddd", "10.0.0.3", 6001, "192.0.2.10", 80, T0, T0 + 3 * SEC, 12);
    join_flow (j, &f, "c", T0 + 2 * SEC);
    Dpidual__V1__HttpRequest q = request ("empty", "", "10.0.0.3", 6000, "192.0.2.10", 443,
                                          T0 + 2 * SEC + 500 * MS);
    join_request (j, &q, T0 + 2100 * MS);
    q = request ("wrong", "1:zzz", "10.0.0.3", 6000, "192.0.2.10", 443, T0 + SEC);
    join_request (j, &q, T0 + 2100 * MS);
    q = request ("ip", "", "10.0.0.3", 6002, "192.0.2.10", 8443, T0 + SEC);
    join_request (j, &q, T0 + 2200 * MS);
    q = request ("none", "1:yyy", "10.0.0.4", 6000, "192.0.2.10", 443, T0 + SEC);
    join_request (j, &q, T0 + 2200 * MS);
    check (t, r.count == 0 && join_stats (j).waiting == 4, "fallbacks wait for the window");
    join_expire (j, T0 + 3150 * MS);
    check (t, r.count == 2, "the first two windows closed: %zu", r.count);
    join_expire (j, T0 + 3200 * MS);
    const char *id[4] = { "empty", "wrong", "ip", "none" };
    join_key_t key[4] = { JOIN_CLIENT_PORT_TIME, JOIN_CLIENT_PORT_TIME, JOIN_CLIENT_IP,
                          JOIN_NONE };
    uint64_t fid[4] = { 11, 11, 12, 0 };
    for (size_t i = 0; i < 4 && r.count == 4; i++)
        check (t, strcmp (buf[i].request_id, id[i]) == 0 && buf[i].key == key[i]
               && buf[i].flow_id == fid[i], "%s: key %d flow %llu", id[i], buf[i].key,
               (unsigned long long) buf[i].flow_id);
    check (t, r.count == 4 && buf[0].latency_ns == 1050 * MS,
           "fallback latency from the later arrival: %llu",
           (unsigned long long) buf[0].latency_ns);
    join_expire (j, T0 + 9 * SEC);
    join_flush (j);
    check (t, r.count == 4, "each reported once: %zu reports", r.count);
    join_stats_t st = join_stats (j);
    check (t, st.joined[0] == 1 && st.joined[2] == 2 && st.joined[3] == 1,
           "counted by key");
    check (t, st.flows == 0 && st.expired_flows == 2, "expired: %llu flows held",
           (unsigned long long) st.flows);
    join_destroy (&j);
}

static void
test_restart_vlan (tally_t *t)
{
    seen_t buf[8];
    reports_t r;
    join_t *j = fresh (&r, buf, 8, 64);
    Dpidual__V1__FlowEvent f = flow ("1:eee", "10.0.0.5", 7000, "192.0.2.10", 443,
                                     T0, T0 + SEC, 1);
    join_flow (j, &f, "c", T0 + SEC);
    f.flow_id = 99;                         /* the collector restarted          */
    f.event = DPIDUAL__V1__FLOW_EVENT__EVENT__UPDATE;
    join_flow (j, &f, "c", T0 + SEC + MS);
    check (t, join_stats (j).flows == 1, "a flow seen again is held once");
    Dpidual__V1__HttpRequest q = request ("a", "1:eee", "10.0.0.5", 7000, "192.0.2.10",
                                          443, T0 + SEC);
    join_request (j, &q, T0 + SEC + 2 * MS);
    check (t, r.count == 1 && buf[0].flow_id == 99, "joins the newer flow_id");
    const join_flow_t *out[4];
    check (t, join_flows_of (j, "10.0.0.5", out, 4) == 1, "join_flows_of: one flow");
    f = flow ("1:fff", "10.0.0.6", 7001, "192.0.2.10", 443, T0, T0 + SEC, 2);
    f.vlan = 100;
    join_flow (j, &f, "c", T0 + SEC);
    q = request ("v", "1:fff", "10.0.0.6", 7001, "192.0.2.10", 443, T0 + SEC);
    join_request (j, &q, T0 + SEC);
    check (t, r.count == 2 && buf[1].key == JOIN_COMMUNITY_ID && buf[1].flow_id == 2,
           "a VLAN-tagged flow joins");
    join_destroy (&j);
}

static void
test_addresses (tally_t *t)
{
    char out[JOIN_IP_MAX];
    check (t, join_normalise_ip ("::ffff:192.0.2.1", out, sizeof out)
           && strcmp (out, "192.0.2.1") == 0, "mapped -> %s", out);
    check (t, join_normalise_ip ("2001:DB8:0:0::1", out, sizeof out)
           && strcmp (out, "2001:db8::1") == 0, "IPv6 canonical -> %s", out);
    check (t, join_normalise_ip ("10.1.2.3", out, sizeof out) && strcmp (out, "10.1.2.3") == 0,
           "IPv4 as is");
    check (t, !join_normalise_ip ("not-an-ip", out, sizeof out)
           && strcmp (out, "not-an-ip") == 0, "not an address: kept, false");
    seen_t buf[8];
    reports_t r;
    join_t *j = fresh (&r, buf, 8, 64);
    Dpidual__V1__FlowEvent f = flow ("", "10.1.1.1", 8000, "192.0.2.10", 443, T0, T0 + SEC, 3);
    join_flow (j, &f, "c", T0 + SEC);
    f = flow ("", "2001:db8::7", 8001, "2001:db8::10", 443, T0, T0 + SEC, 4);
    join_flow (j, &f, "c", T0 + SEC);
    Dpidual__V1__HttpRequest q = request ("m", "", "::ffff:10.1.1.1", 8000,
                                          "::ffff:192.0.2.10", 443, T0 + SEC / 2);
    join_request (j, &q, T0 + SEC);
    q = request ("6", "", "2001:DB8:0::7", 8001, "2001:db8::10", 443, T0 + SEC / 2);
    join_request (j, &q, T0 + SEC);
    join_flush (j);
    check (t, r.count == 2 && buf[0].key == JOIN_CLIENT_PORT_TIME && buf[0].flow_id == 3
           && strcmp (buf[0].client_ip, "10.1.1.1") == 0, "IPv4-mapped request joins");
    check (t, r.count == 2 && buf[1].key == JOIN_CLIENT_PORT_TIME && buf[1].flow_id == 4,
           "IPv6 request joins");
    const join_flow_t *out6[4];
    check (t, join_flows_of (j, "2001:DB8::10", out6, 4) == 1 && out6[0]->flow_id == 4,
           "join_flows_of by destination, normalised");
    join_destroy (&j);
}

static void
test_bounds (tally_t *t)
{
    seen_t buf[16];
    reports_t r;
    join_t *j = fresh (&r, buf, 16, 4);
    char cid[6][8];
    for (int i = 0; i < 6; i++) {
        snprintf (cid[i], sizeof cid[i], "1:%d", i);
        Dpidual__V1__FlowEvent f = flow (cid[i], "10.2.0.1", 9000 + i, "10.2.0.2", 443,
                                         T0, T0 + SEC, i + 1);
        join_flow (j, &f, "c", T0 + SEC + i);
    }
    join_stats_t st = join_stats (j);
    check (t, st.flows == 4 && st.evicted_flows == 2, "flows evicted at the bound: %llu held",
           (unsigned long long) st.flows);
    const join_flow_t *out[8];
    size_t n = join_flows_of (j, "10.2.0.1", out, 8);
    check (t, n == 4 && out[0]->flow_id == 6 && out[3]->flow_id == 3,
           "the oldest went first; newest first: %zu", n);
    check (t, join_flows_of (j, "10.2.0.2", out, 2) == 2 && out[0]->flow_id == 6,
           "join_flows_of: at most MAX, by destination");
    join_destroy (&j);
    j = fresh (&r, buf, 16, 2);
    const char *ids[3] = { "q0", "q1", "q2" };
    for (int i = 0; i < 3; i++) {
        Dpidual__V1__HttpRequest q = request (ids[i], "1:none", "10.3.0.1", 100, "10.3.0.2",
                                              443, T0);
        join_request (j, &q, T0 + i);
    }
    st = join_stats (j);
    check (t, r.count == 1 && strcmp (buf[0].request_id, "q0") == 0 && buf[0].key == JOIN_NONE
           && st.evicted_requests == 1 && st.waiting == 2, "the oldest request evicted, "
           "reported unjoined");
    join_expire (j, T0 + 2 * SEC);
    join_flush (j);
    check (t, r.count == 3 && strcmp (buf[1].request_id, "q1") == 0
           && strcmp (buf[2].request_id, "q2") == 0, "then the others, once each");
    join_destroy (&j);
    check (t, join_new (SEC, 0, on_join, NULL) == NULL, "max_entries 0 refused");
}

static void
test_expiry (tally_t *t)
{
    seen_t buf[4];
    reports_t r;
    join_t *j = fresh (&r, buf, 4, 64);
    Dpidual__V1__FlowEvent f = flow ("1:old", "10.4.0.1", 1, "10.4.0.2", 443, T0, T0 + SEC, 1);
    join_flow (j, &f, "c", T0 + 5 * SEC);       /* last_seen long gone       */
    f = flow ("1:new", "10.4.0.1", 2, "10.4.0.2", 443, T0, T0 + 5 * SEC, 2);
    join_flow (j, &f, "c", T0 + 5 * SEC);
    f = flow ("1:off", "10.4.0.1", 3, "10.4.0.2", 443, T0, T0 + SEC, 3);
    f.offline = true;                           /* aged by arrival            */
    join_flow (j, &f, "c", T0 + 5 * SEC);
    join_expire (j, T0 + 5500 * MS);
    const join_flow_t *out[4];
    size_t n = join_flows_of (j, "10.4.0.1", out, 4);
    check (t, n == 2 && join_stats (j).expired_flows == 1, "last_seen older than the "
           "window dropped: %zu held", n);
    join_expire (j, T0 + 6 * SEC);
    check (t, join_stats (j).flows == 0 && join_stats (j).expired_flows == 3,
           "then the others");
    join_destroy (&j);
}

/*  The model: CLIENTS clients of CONNS connections of REQS requests each;
    every tenth client's flows never arrive (unjoined), every third
    client's last request has no community_id (CLIENT_PORT_TIME). IPv6 and
    IPv4-mapped spellings on the MITM side for a quarter each.               */
#define CLIENTS 400
#define CONNS 4
#define REQS 3
#define WINDOW SEC
#define TICK (100 * MS)

typedef struct {
    uint64_t at;
    int kind;                       /* 0 flow, 1 update, 2 request           */
    int client, conn, req;
} event_t;

static int
event_order (const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->kind - y->kind;
}

static void
model_ips (int c, char tap[48], char mitm[64])
{
    if (c % 4 == 1) {
        snprintf (tap, 48, "2001:db8::%x", c + 1);
        snprintf (mitm, 64, "2001:DB8:0::%X", c + 1);
    }
    else {
        snprintf (tap, 48, "10.%d.%d.%d", c % 4, c / 256, c % 256);
        snprintf (mitm, 64, "%s%s", c % 4 == 2 ? "::ffff:" : "", tap);
    }
}

static void
model_send (join_t *j, const event_t *e, uint64_t t0)
{
    char tap[48], mitm[64], cid[32], id[32];
    model_ips (e->client, tap, mitm);
    snprintf (cid, sizeof cid, "1:c%d-%d", e->client, e->conn);
    const char *front = e->client % 4 == 1 ? "2001:db8::1" : "192.0.2.1";
    uint32_t cport = 40000 + e->conn, fport = 1000 + e->conn;
    if (e->kind < 2) {
        Dpidual__V1__FlowEvent f = flow (cid, tap, cport, front, fport, t0 - MS,
                                         t0 + WINDOW / 2 + 10 * MS,
                                         e->client * CONNS + e->conn + 1);
        join_flow (j, &f, "c", e->at);
        return;
    }
    snprintf (id, sizeof id, "%d-%d-%d", e->client, e->conn, e->req);
    bool empty = e->client % 3 == 0 && e->req == REQS - 1;
    Dpidual__V1__HttpRequest q = request (id, empty ? "" : cid, mitm, cport, front, fport,
                                          e->at);
    join_request (j, &q, e->at);
}

/*  The events of the model in time order, and each connection's start.    */
static size_t
model_events (event_t *ev, uint64_t *t0)
{
    uint32_t seed = 12345;
    size_t n = 0;
    for (int c = 0; c < CLIENTS; c++)
        for (int k = 0; k < CONNS; k++) {
            uint64_t start = T0 + (tally_random (&seed) % 20000) * MS;
            t0[c * CONNS + k] = start;
            if (c % 10 != 9)
                ev[n++] = (event_t) { start + tally_random (&seed) % (WINDOW / 2), 0, c, k, 0 };
            if (c % 10 != 9 && k % 2 == 0)
                ev[n++] = (event_t) { start + tally_random (&seed) % (WINDOW / 2), 1, c, k, 0 };
            for (int r = 0; r < REQS; r++)
                ev[n++] = (event_t) { start + tally_random (&seed) % (WINDOW / 2), 2, c, k, r };
        }
    qsort (ev, n, sizeof *ev, event_order);
    return n;
}

static void
model_check (tally_t *t, const reports_t *r)
{
    static int times[CLIENTS][CONNS][REQS];
    memset (times, 0, sizeof times);
    size_t wrong = 0, bad = 0;
    for (size_t i = 0; i < r->count; i++) {
        int c, k, q;
        const seen_t *s = &r->seen[i];
        if (sscanf (s->request_id, "%d-%d-%d", &c, &k, &q) != 3 || c < 0 || c >= CLIENTS
            || k < 0 || k >= CONNS || q < 0 || q >= REQS) {
            bad++;
            continue;
        }
        times[c][k][q]++;
        join_key_t key = c % 10 == 9 ? JOIN_NONE
                       : c % 3 == 0 && q == REQS - 1 ? JOIN_CLIENT_PORT_TIME
                       : JOIN_COMMUNITY_ID;
        uint64_t fid = key == JOIN_NONE ? 0 : (uint64_t) (c * CONNS + k + 1);
        if ((s->key != key || s->flow_id != fid) && wrong++ < 5)
            printf ("model: %s key %d flow %llu, expected %d %llu\n", s->request_id,
                    s->key, (unsigned long long) s->flow_id, key, (unsigned long long) fid);
    }
    size_t once = 0;
    for (int c = 0; c < CLIENTS; c++)
        for (int k = 0; k < CONNS; k++)
            for (int q = 0; q < REQS; q++)
                once += times[c][k][q] == 1;
    check (t, bad == 0 && once == CLIENTS * CONNS * REQS && r->count == once,
           "model: every request reported once (%zu of %d, %zu reports)", once,
           CLIENTS * CONNS * REQS, r->count);
    check (t, wrong == 0, "model: %zu requests joined wrongly", wrong);
}

static void
test_model (tally_t *t)
{
    size_t total = CLIENTS * CONNS * (REQS + 2);
    event_t *ev = calloc (total, sizeof *ev);
    uint64_t *t0 = calloc (CLIENTS * CONNS, sizeof *t0);
    reports_t r = { calloc (2 * total, sizeof (seen_t)), 0, 2 * total };
    join_t *j = join_new (WINDOW, 20000, on_join, &r);
    size_t n = model_events (ev, t0);
    uint64_t tick = T0;
    for (size_t i = 0; i < n; i++) {
        for (; tick <= ev[i].at; tick += TICK)
            join_expire (j, tick);
        model_send (j, &ev[i], t0[ev[i].client * CONNS + ev[i].conn]);
    }
    join_expire (j, tick + 3 * WINDOW);
    join_flush (j);
    join_stats_t st = join_stats (j);
    check (t, st.evicted_flows == 0 && st.evicted_requests == 0 && st.flows == 0
           && st.waiting == 0, "model: no eviction, all expired");
    model_check (t, &r);
    join_destroy (&j);
    free (r.seen);
    free (t0);
    free (ev);
}

static void
count_only (void *arg, const join_request_t *req, join_key_t key, const join_flow_t *flow,
            uint64_t latency_ns)
{
    (void) req, (void) flow, (void) latency_ns;
    ((uint64_t *) arg)[key]++;
}

/*  1M events: 500k flows and their 500k requests, half of the requests
    before their flow; simulated 1 us apart, join_expire every 10 ms.       */
static void
bench (void)
{
    enum { N = 500000, IPS = 4096 };
    char (*cid)[24] = malloc (N * sizeof *cid);
    char (*ip)[16] = malloc (IPS * sizeof *ip);
    for (int i = 0; i < N; i++)
        snprintf (cid[i], sizeof cid[i], "1:%08x%08x", (unsigned) i * 2654435761u, i);
    for (int i = 0; i < IPS; i++)
        snprintf (ip[i], sizeof ip[i], "10.9.%d.%d", i / 256, i % 256);
    uint64_t keys[4] = { 0 };
    join_t *j = join_new (50 * MS, 65536, count_only, keys);
    struct timespec a, b;
    clock_gettime (CLOCK_MONOTONIC, &a);
    uint64_t now = T0;
    for (int i = 0; i < N; i++) {
        Dpidual__V1__FlowEvent f = flow (cid[i], ip[i % IPS], 30000 + i % 30000, "192.0.2.1",
                                         443, now, now, i + 1);
        Dpidual__V1__HttpRequest q = request ("bench", cid[i], ip[i % IPS], 30000 + i % 30000,
                                              "192.0.2.1", 443, now);
        if (i % 2)
            join_flow (j, &f, "c", now += 1000);
        join_request (j, &q, now += 1000);
        if (i % 2 == 0)
            join_flow (j, &f, "c", now += 1000);
        if (i % 5000 == 0)
            join_expire (j, now);
    }
    clock_gettime (CLOCK_MONOTONIC, &b);
    join_flush (j);
    double s = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
    join_stats_t st = join_stats (j);
    printf ("join: %.2f M events/s (%d flows + %d requests in %.3f s; joined %llu by "
            "community_id, %llu unjoined; %llu flows evicted, %llu expired)\n",
            2.0 * N / s / 1e6, N, N, s, (unsigned long long) keys[1],
            (unsigned long long) keys[0], (unsigned long long) st.evicted_flows,
            (unsigned long long) st.expired_flows);
    join_destroy (&j);
    free (cid);
    free (ip);
}

int
main (void)
{
    tally_t t = { 0 };
    test_community_id (&t);
    test_strings (&t);
    test_fallbacks (&t);
    test_restart_vlan (&t);
    test_addresses (&t);
    test_bounds (&t);
    test_expiry (&t);
    test_model (&t);
    bench ();
    return tally_report (&t);
}
