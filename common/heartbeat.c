/*  heartbeat.c — see heartbeat.h.                                           */
#include "heartbeat.h"

#include <string.h>
#include <unistd.h>

#include "heapstat.h"
#include "topics.h"

#define HEAP_RELEASE_EVERY_NS (60ull * 1000000000ull)

struct heartbeat_t {
    const config_t *cfg;
    bus_pub_t *pub;
    bus_sub_t *sub;
    char host[128];
    uint64_t start_ns;              /* monotonic                             */
    uint64_t interval_ns;
    uint64_t next_ns;
    uint64_t last_ns;               /* when the previous heartbeat went out  */
    uint64_t *last_sent;            /* per publisher topic, then            */
    size_t last_sent_count;
    uint64_t *last_received;        /* per source, then                      */
    size_t last_received_count;
    uint64_t next_release_ns;       /* heap_release at most once a minute    */
    uint64_t heap_releases;
};

heartbeat_t *
heartbeat_new (const config_t *cfg, bus_pub_t *pub, bus_sub_t *sub)
{
    heartbeat_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->pub = pub;
    self->sub = sub;
    bus_host_name (cfg, self->host, sizeof self->host);
    self->start_ns = bus_mono_ns ();
    self->interval_ns = (uint64_t) cfg->bus.heartbeat_interval * 1000000000ull;
    self->next_ns = self->start_ns;     /* the first one goes out at once */
    self->last_ns = self->start_ns;
    return self;
}

void
heartbeat_destroy (heartbeat_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->last_sent);
        free ((*self_p)->last_received);
    }
    free (*self_p);
    *self_p = NULL;
}

/*  *VALUES (grown to COUNT, new ones 0) keeps the counters of the previous
    heartbeat: false if no memory.                                           */
static bool
grow (uint64_t **values, size_t *have, size_t count)
{
    if (count <= *have)
        return true;
    uint64_t *grown = realloc (*values, count * sizeof *grown);
    if (!grown)
        return false;
    memset (grown + *have, 0, (count - *have) * sizeof *grown);
    *values = grown;
    *have = count;
    return true;
}

/*  Messages a second from PREVIOUS to NOW over SECONDS (0 when too short). */
static double
rate_of (uint64_t now, uint64_t previous, double seconds)
{
    return seconds >= 0.001 && now >= previous ? (double) (now - previous) / seconds : 0;
}

int
heartbeat_wait_ms (heartbeat_t *self)
{
    uint64_t now = bus_mono_ns ();
    return now >= self->next_ns ? 0 : (int) ((self->next_ns - now) / 1000000ull) + 1;
}

/*  The endpoints of the publisher and of the subscriber.                    */
static size_t
fill_endpoints (heartbeat_t *self, Dpidual__V1__Endpoint *eps, Dpidual__V1__Endpoint **ptrs,
                size_t max)
{
    size_t n = 0;
    dpidual__v1__endpoint__init (&eps[n]);
    eps[n].endpoint = (char *) bus_pub_endpoint (self->pub);
    eps[n].role = bus_pub_binds (self->pub) ? "bind" : "connect";
    eps[n].socket = "pub";
    ptrs[n] = &eps[n];
    n++;
    size_t subs = self->sub ? bus_sub_endpoint_count (self->sub) : 0;
    for (size_t i = 0; i < subs && n < max; i++, n++) {
        dpidual__v1__endpoint__init (&eps[n]);
        eps[n].endpoint = (char *) bus_sub_endpoint (self->sub, i);
        eps[n].role = bus_sub_binds (self->sub, i) ? "bind" : "connect";
        eps[n].socket = "sub";
        ptrs[n] = &eps[n];
    }
    return n;
}

int
heartbeat_tick (heartbeat_t *self, const heartbeat_counter_t *counters, size_t count, bool force)
{
    uint64_t now = bus_mono_ns ();
    if (!force && now < self->next_ns)
        return 0;
    self->next_ns = now + self->interval_ns;

    Dpidual__V1__Heartbeat hb = DPIDUAL__V1__HEARTBEAT__INIT;
    hb.name = (char *) bus_pub_name (self->pub);
    hb.host = self->host;
    hb.pid = (uint32_t) getpid ();
    hb.version = DPI_VERSION;
    hb.uptime_s = (now - self->start_ns) / 1000000000ull;

    Dpidual__V1__Endpoint eps[16], *ep_ptrs[16];
    hb.n_endpoints = fill_endpoints (self, eps, ep_ptrs, 16);
    hb.endpoints = ep_ptrs;

    double elapsed = (double) (now - self->last_ns) / 1e9;
    size_t topics = bus_pub_topic_count (self->pub);
    size_t sources = self->sub ? bus_sub_source_count (self->sub) : 0;
    bool rates = grow (&self->last_sent, &self->last_sent_count, topics)
                 && grow (&self->last_received, &self->last_received_count, sources);
    hb.interval_s = (uint32_t) self->cfg->bus.heartbeat_interval;
    Dpidual__V1__TopicCounter tc[topics + 1], *tc_ptrs[topics + 1];
    for (size_t i = 0; i < topics; i++) {
        bus_topic_stats_t st = bus_pub_topic_stats (self->pub, i);
        dpidual__v1__topic_counter__init (&tc[i]);
        tc[i].topic = (char *) st.topic;
        tc[i].sent = st.sent;
        tc[i].send_errors = st.send_errors;
        tc[i].unheard = st.unheard;
        if (rates) {
            tc[i].rate = rate_of (st.sent, self->last_sent[i], elapsed);
            self->last_sent[i] = st.sent;
        }
        tc_ptrs[i] = &tc[i];
    }
    hb.n_published = topics;
    hb.published = tc_ptrs;

    Dpidual__V1__SourceCounter *sc = calloc (sources + 1, sizeof *sc);
    Dpidual__V1__SourceCounter **sc_ptrs = calloc (sources + 1, sizeof *sc_ptrs);
    if (!sc || !sc_ptrs) {
        free (sc);
        free (sc_ptrs);
        return -1;
    }
    for (size_t i = 0; i < sources; i++) {
        bus_source_stats_t st = bus_sub_source_stats (self->sub, i);
        dpidual__v1__source_counter__init (&sc[i]);
        sc[i].source = (char *) st.source;
        sc[i].received = st.received;
        sc[i].gaps = st.gaps;
        sc[i].restarts = st.restarts;
        sc[i].out_of_order = st.out_of_order;
        if (rates) {
            sc[i].rate = rate_of (st.received, self->last_received[i], elapsed);
            self->last_received[i] = st.received;
        }
        sc[i].last_age_ms = st.last_ns && now > st.last_ns ? (now - st.last_ns) / 1000000ull : 0;
        sc_ptrs[i] = &sc[i];
    }
    hb.n_received = sources;
    hb.received = sc_ptrs;
    hb.decode_errors = self->sub ? bus_sub_decode_errors (self->sub) : 0;
    hb.auth_refused = busauth_refused ();
    hb.bus_auth = (char *) busauth_mode (self->cfg);
    size_t nsubs = self->sub ? bus_sub_subscription_count (self->sub) : 0;
    char *subs[nsubs + 1];
    for (size_t i = 0; i < nsubs; i++)
        subs[i] = (char *) bus_sub_subscription (self->sub, i);
    hb.n_subscriptions = nsubs;
    hb.subscriptions = subs;
    self->last_ns = now;

    /* the worker's counters, then its heap (heapstat.h); what a burst left
       free goes back to the system at most once a minute */
    heapstat_t heap = heapstat ();
    if (heap.free >= HEAP_RELEASE_MIN && now >= self->next_release_ns) {
        heap_release ();
        self->heap_releases++;
        self->next_release_ns = now + HEAP_RELEASE_EVERY_NS;
    }
    static const char *const heap_names[] = { "heap_in_use", "heap_free", "heap_releases" };
    const uint64_t heap_values[] = { heap.in_use, heap.free, self->heap_releases };
    enum { HEAP_COUNTERS = 3 };
    Dpidual__V1__Counter cn[count + HEAP_COUNTERS], *cn_ptrs[count + HEAP_COUNTERS];
    for (size_t i = 0; i < count + HEAP_COUNTERS; i++) {
        dpidual__v1__counter__init (&cn[i]);
        cn[i].name = (char *) (i < count ? counters[i].name : heap_names[i - count]);
        cn[i].value = i < count ? counters[i].value : heap_values[i - count];
        cn_ptrs[i] = &cn[i];
    }
    hb.n_counters = count + HEAP_COUNTERS;
    hb.counters = cn_ptrs;

    int rc = bus_pub_send (self->pub, TOPIC_HEARTBEAT, &hb.base);
    free (sc);
    free (sc_ptrs);
    return rc == 0 ? 1 : -1;
}
