/*  stats.c — see stats.h.                                                   */
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapstat.h"
#include "log.h"
#include "outfile.h"
#include "pbjson.h"
#include "ratelog.h"
#include "topics.h"

#define TOP_TALKERS 10
/*  The talker table is bounded (2.5 MiB): past 49152 distinct initiators,
    the later ones are left out of the ranking.                              */
#define MAX_TALKER_SLOTS 65536
#define MAX_PROTOCOLS 64

struct stats_t {
    const config_t *cfg;
    uint64_t interval_us;
    uint64_t next_us;                   /* 0 until the first packet          */
    uint64_t last_us;                   /* time of the previous report       */
    uint64_t last_packets, last_bytes;
    uint32_t created[60];               /* flows created in each second      */
    uint64_t created_sec[60];           /* ... of this second (since epoch)  */
    uint64_t capture_received, capture_dropped, capture_if_dropped;
    unsigned lane, lanes;
    bool offline;                       /* reading capture files             */
    pthread_mutex_t *output_lock;
    stats_board_t *board;
    uint64_t compat_errors;             /* dpi-flows.json not written        */
    ratelog_t compat_log;
};

stats_t *
stats_new (const config_t *cfg, unsigned lane, unsigned lanes, pthread_mutex_t *output_lock,
           stats_board_t *board)
{
    stats_t *self = calloc (1, sizeof *self);
    if (self) {
        self->cfg = cfg;
        self->lane = lane;
        self->lanes = lanes;
        self->output_lock = output_lock;
        self->board = board;
        self->interval_us = (uint64_t) cfg->tap.stats_interval * 1000000ull;
    }
    return self;
}

void
stats_destroy (stats_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

uint64_t
stats_compat_errors (stats_t *self)
{
    return self->compat_errors;
}

void
stats_flow_created (stats_t *self, uint64_t now_us)
{
    uint64_t sec = now_us / 1000000ull;
    unsigned slot = (unsigned) (sec % 60);
    if (self->created_sec[slot] != sec) {
        self->created_sec[slot] = sec;
        self->created[slot] = 0;
    }
    self->created[slot]++;
}

static uint64_t
created_last_minute (stats_t *self, uint64_t now_us)
{
    uint64_t sec = now_us / 1000000ull, total = 0;
    for (int i = 0; i < 60; i++)
        if (self->created_sec[i] + 60 > sec && self->created_sec[i] <= sec)
            total += self->created[i];
    return total;
}

void
stats_set_capture (stats_t *self, uint64_t received, uint64_t dropped, uint64_t if_dropped)
{
    self->capture_received = received;
    self->capture_dropped = dropped;
    self->capture_if_dropped = if_dropped;
}

void
stats_set_offline (stats_t *self, bool offline)
{
    self->offline = offline;
}

bool
stats_due (stats_t *self, uint64_t now_us)
{
    if (self->next_us == 0) {
        self->next_us = now_us + self->interval_us;
        self->last_us = now_us;
        return false;
    }
    return now_us >= self->next_us;
}

/*  --------------------------------------------------------------------------
    Aggregation over the live flows                                           */

typedef struct {
    char name[48];
    uint64_t flows, packets, bytes;
} proto_row_t;

/*  Talkers are counted in an open-addressing table keyed by the binary
    address, sized for the flows walked; only the top ones are formatted.  */
typedef struct {
    uint8_t addr[16];
    uint8_t version;                    /* 0: empty slot                     */
    uint64_t packets, bytes;
} talker_slot_t;

typedef struct {
    char ip[INET6_ADDRSTRLEN];
    uint64_t packets, bytes;
} talker_row_t;

typedef struct {
    classifier_t *classifier;
    proto_row_t protos[MAX_PROTOCOLS];
    size_t nprotos;
    talker_slot_t *talkers;
    size_t mask;                        /* slots - 1                         */
    size_t room;                        /* addresses it may still take       */
    uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
} walk_t;

/*  A lane's latest summary.                                               */
typedef struct {
    uint64_t flows_1min, tx_packets, tx_bytes, rx_packets, rx_bytes;
    proto_row_t protos[MAX_PROTOCOLS];
    size_t nprotos;
} summary_t;

struct stats_board_t {
    unsigned lanes;
    summary_t slot[];
};

stats_board_t *
stats_board_new (unsigned lanes)
{
    stats_board_t *self = calloc (1, sizeof *self + lanes * sizeof (summary_t));
    if (self)
        self->lanes = lanes;
    return self;
}

void
stats_board_destroy (stats_board_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

/*  The sum of every lane's summary.                                       */
static void
board_sum (stats_board_t *board, summary_t *sum)
{
    memset (sum, 0, sizeof *sum);
    for (unsigned k = 0; k < board->lanes; k++) {
        const summary_t *s = &board->slot[k];
        sum->flows_1min += s->flows_1min;
        sum->tx_packets += s->tx_packets;
        sum->tx_bytes += s->tx_bytes;
        sum->rx_packets += s->rx_packets;
        sum->rx_bytes += s->rx_bytes;
        for (size_t i = 0; i < s->nprotos; i++) {
            size_t j = 0;
            while (j < sum->nprotos && strcmp (sum->protos[j].name, s->protos[i].name) != 0)
                j++;
            if (j == sum->nprotos) {
                if (sum->nprotos == MAX_PROTOCOLS)
                    continue;
                sum->protos[sum->nprotos++] = s->protos[i];
            }
            else
                sum->protos[j].flows += s->protos[i].flows;
        }
    }
}

static void
walk_flow (void *arg, flow_t *flow)
{
    walk_t *w = arg;
    char name[48];
    const char *proto = flow->classified
                        ? classifier_proto_name (w->classifier, flow, name, sizeof name)
                        : "Unclassified";
    size_t i = 0;
    while (i < w->nprotos && strcmp (w->protos[i].name, proto) != 0)
        i++;
    if (i == w->nprotos && w->nprotos < MAX_PROTOCOLS - 1)
        snprintf (w->protos[w->nprotos++].name, sizeof w->protos[0].name, "%s", proto);
    else if (i == w->nprotos)
        i = MAX_PROTOCOLS - 1;              /* the rest, together */
    if (i == MAX_PROTOCOLS - 1)
        snprintf (w->protos[i].name, sizeof w->protos[0].name, "Other");
    uint64_t packets = flow->packets[0] + flow->packets[1];
    uint64_t bytes = flow->bytes[0] + flow->bytes[1];
    w->protos[i].flows++;
    w->protos[i].packets += packets;
    w->protos[i].bytes += bytes;
    w->tx_packets += flow->packets[0];
    w->tx_bytes += flow->bytes[0];
    w->rx_packets += flow->packets[1];
    w->rx_bytes += flow->bytes[1];

    if (!w->talkers)
        return;
    uint64_t a, b;
    memcpy (&a, flow->src, 8);
    memcpy (&b, flow->src + 8, 8);
    size_t slot = (size_t) ((a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full) >> 20) & w->mask;
    talker_slot_t *t = &w->talkers[slot];
    while (t->version && (t->version != flow->ip_version || memcmp (t->addr, flow->src, 16) != 0)) {
        slot = (slot + 1) & w->mask;
        t = &w->talkers[slot];
    }
    if (!t->version) {
        if (w->room == 0)
            return;                     /* full: see MAX_TALKER_SLOTS */
        w->room--;
        memcpy (t->addr, flow->src, 16);
        t->version = flow->ip_version;
    }
    t->packets += packets;
    t->bytes += bytes;
}

/*  The TOP_TALKERS biggest talkers of W, formatted, biggest first.         */
static size_t
top_talkers (walk_t *w, talker_row_t *top)
{
    const talker_slot_t *best[TOP_TALKERS];
    size_t n = 0;
    for (size_t i = 0; w->talkers && i <= w->mask; i++) {
        const talker_slot_t *t = &w->talkers[i];
        if (!t->version || (n == TOP_TALKERS && t->bytes <= best[n - 1]->bytes))
            continue;
        size_t k = n < TOP_TALKERS ? n++ : n - 1;  /* insertion into the sorted few */
        while (k > 0 && best[k - 1]->bytes < t->bytes) {
            best[k] = best[k - 1];
            k--;
        }
        best[k] = t;
    }
    for (size_t i = 0; i < n; i++) {
        inet_ntop (best[i]->version == 6 ? AF_INET6 : AF_INET, best[i]->addr, top[i].ip,
                   sizeof top[i].ip);
        top[i].packets = best[i]->packets;
        top[i].bytes = best[i]->bytes;
    }
    return n;
}

/*  --------------------------------------------------------------------------
    dpi-flows.json                                                           */

/*  The compat file could not be written: counted, logged once a second.    */
static void
compat_failed (stats_t *self, const char *path, int error)
{
    self->compat_errors++;
    uint64_t unlogged;
    if (ratelog_due (&self->compat_log, &unlogged))
        log_error ("compat: cannot write %s: %s (%llu failures)", path, strerror (error),
                   (unsigned long long) self->compat_errors);
}

static void
write_compat (stats_t *self, const summary_t *w, uint64_t now_us, const char *interface)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/dpi-flows.json", self->cfg->global.compat_dir);
    outfile_snapshot_t snap;
    FILE *f = outfile_snapshot_begin (&snap, path, self->lane);
    if (!f) {
        compat_failed (self, snap.temp, errno);
        return;
    }
    fprintf (f, "{\"timestamp\":%llu,\"flows_1min\":%llu,\"tap_interface\":",
             (unsigned long long) (now_us / 1000000ull), (unsigned long long) w->flows_1min);
    pbjson_buf_t s = { 0 };
    pbjson_buf_string (&s, interface, strlen (interface));
    fputs (s.data ? s.data : "\"\"", f);
    fprintf (f, ",\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_packets\":%llu,\"tx_packets\":%llu,"
             "\"protocols\":{",
             (unsigned long long) w->rx_bytes, (unsigned long long) w->tx_bytes,
             (unsigned long long) w->rx_packets, (unsigned long long) w->tx_packets);
    for (size_t i = 0; i < w->nprotos; i++) {
        pbjson_buf_reset (&s);
        pbjson_buf_string (&s, w->protos[i].name, strlen (w->protos[i].name));
        fprintf (f, "%s%s:%llu", i ? "," : "", s.data, (unsigned long long) w->protos[i].flows);
    }
    fputs ("},\"mode\":\"passive_tap\"}\n", f);
    pbjson_buf_free (&s);
    if (outfile_snapshot_commit (&snap) != 0)
        compat_failed (self, path, errno);
}

/*  This lane's summary on the board, and the compat file: the sum of every
    lane's latest summary.                                                   */
static void
post_compat (stats_t *self, const walk_t *w, uint64_t flows_1min, uint64_t now_us,
             const char *interface)
{
    summary_t *mine = &self->board->slot[self->lane], sum;
    if (self->output_lock)
        pthread_mutex_lock (self->output_lock);
    *mine = (summary_t) { flows_1min, w->tx_packets, w->tx_bytes, w->rx_packets, w->rx_bytes,
                          { { "", 0, 0, 0 } }, w->nprotos };
    memcpy (mine->protos, w->protos, w->nprotos * sizeof w->protos[0]);
    board_sum (self->board, &sum);
    write_compat (self, &sum, now_us, interface);
    if (self->output_lock)
        pthread_mutex_unlock (self->output_lock);
}

void
stats_publish (stats_t *self, uint64_t now_us, flowtable_t *flows, classifier_t *classifier,
               const collector_counters_t *counters, bus_pub_t *pub, const char *interface)
{
    walk_t w = { .classifier = classifier };
    size_t slots = 64;
    while (slots < 2 * (size_t) flowtable_count (flows) && slots < MAX_TALKER_SLOTS)
        slots *= 2;
    w.talkers = calloc (slots, sizeof *w.talkers);     /* none: no talkers reported */
    w.mask = slots - 1;
    w.room = slots - slots / 4;
    flowtable_foreach (flows, walk_flow, &w);

    double elapsed = now_us > self->last_us ? (double) (now_us - self->last_us) / 1e6 : 0;
    uint64_t flows_1min = created_last_minute (self, now_us);
    Dpidual__V1__TapStats st = DPIDUAL__V1__TAP_STATS__INIT;
    st.interface = (char *) interface;
    st.active_flows = flowtable_count (flows);
    st.new_flows_1min = flows_1min;
    st.packets_per_sec = elapsed > 0 ? (double) (counters->packets - self->last_packets) / elapsed : 0;
    st.bytes_per_sec = elapsed > 0 ? (double) (counters->bytes - self->last_bytes) / elapsed : 0;
    st.packets = counters->packets;
    st.bytes = counters->bytes;
    st.capture_received = self->capture_received;
    st.capture_dropped = self->capture_dropped;
    st.capture_if_dropped = self->capture_if_dropped;
    st.evictions = counters->evictions;
    st.bus_drops = pub ? bus_pub_send_errors (pub) : 0;
    st.memory_bytes = heap_resident_bytes ();
    st.malformed_packets = collector_malformed (counters);
    st.fragments = counters->fragments;
    st.flows_total = counters->flows_created;

    Dpidual__V1__ProtocolCount pc[MAX_PROTOCOLS], *pcp[MAX_PROTOCOLS];
    for (size_t i = 0; i < w.nprotos; i++) {
        dpidual__v1__protocol_count__init (&pc[i]);
        pc[i].name = w.protos[i].name;
        pc[i].flows = w.protos[i].flows;
        pc[i].packets = w.protos[i].packets;
        pc[i].bytes = w.protos[i].bytes;
        pcp[i] = &pc[i];
    }
    st.n_protocols = w.nprotos;
    st.protocols = pcp;

    talker_row_t top[TOP_TALKERS];
    Dpidual__V1__Talker tk[TOP_TALKERS], *tkp[TOP_TALKERS];
    st.n_top_talkers = top_talkers (&w, top);
    for (size_t i = 0; i < st.n_top_talkers; i++) {
        dpidual__v1__talker__init (&tk[i]);
        tk[i].ip = top[i].ip;
        tk[i].packets = top[i].packets;
        tk[i].bytes = top[i].bytes;
        tkp[i] = &tk[i];
    }
    st.top_talkers = tkp;

    st.lane = self->lane;
    st.lanes = self->lanes;
    st.offline = self->offline;
    if (self->output_lock)
        pthread_mutex_lock (self->output_lock);
    if (pub)
        bus_pub_send (pub, TOPIC_TAP_STATS, &st.base);
    if (self->output_lock)
        pthread_mutex_unlock (self->output_lock);
    if (self->cfg->global.compat)
        post_compat (self, &w, flows_1min, now_us, interface);

    free (w.talkers);
    self->last_us = now_us;
    self->last_packets = counters->packets;
    self->last_bytes = counters->bytes;
    while (self->next_us <= now_us)
        self->next_us += self->interval_us;
}
