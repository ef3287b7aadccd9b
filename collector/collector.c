/*  collector.c — see collector.h.                                           */
#include "collector.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "community_id.h"
#include "flowtable.h"
#include "log.h"
#include "pbjson.h"
#include "stats.h"
#include "topics.h"

struct collector_t {
    const config_t *cfg;
    bus_pub_t *pub;
    outfile_t *jsonl;
    flowtable_t *flows;
    classifier_t *classifier;
    stats_t *stats;
    collector_counters_t counters;
    char interface[256];
    bool offline;                       /* reading files: see collector_set_offline */
    uint64_t now_us;                    /* latest time seen                  */
    uint64_t update_us;                 /* tap.update_interval               */
    pthread_mutex_t *output_lock;       /* shared pub and jsonl, or NULL     */
    pbjson_buf_t line;
};

/*  --------------------------------------------------------------------------
    Events                                                                   */

static const Dpidual__V1__FlowEvent__Event s_event_wire[EVENT_KINDS] = {
    [EVENT_DETECTED] = DPIDUAL__V1__FLOW_EVENT__EVENT__DETECTED,
    [EVENT_UPDATE] = DPIDUAL__V1__FLOW_EVENT__EVENT__UPDATE,
    [EVENT_END] = DPIDUAL__V1__FLOW_EVENT__EVENT__END,
};

/*  flow_end_t is cast to the wire's EndReason: the values must agree.       */
_Static_assert ((int) END_NONE == DPIDUAL__V1__FLOW_EVENT__END_REASON__END_REASON_NONE
                && (int) END_TCP_CLOSE == DPIDUAL__V1__FLOW_EVENT__END_REASON__TCP_CLOSE
                && (int) END_IDLE == DPIDUAL__V1__FLOW_EVENT__END_REASON__IDLE
                && (int) END_EVICTED == DPIDUAL__V1__FLOW_EVENT__END_REASON__EVICTED
                && (int) END_SHUTDOWN == DPIDUAL__V1__FLOW_EVENT__END_REASON__SHUTDOWN,
                "flow_end_t and FlowEvent.EndReason disagree");

/*  Dotted quad by hand (inet_ntop goes through sprintf: a hot spot when
    every flow is reported); IPv6 through inet_ntop.                         */
static void
format_ip (const uint8_t *addr, int version, char *out, size_t len)
{
    if (version == 6) {
        inet_ntop (AF_INET6, addr, out, (socklen_t) len);
        return;
    }
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = addr[i];
        if (v >= 100)
            *p++ = (char) ('0' + v / 100);
        if (v >= 10)
            *p++ = (char) ('0' + v / 10 % 10);
        *p++ = (char) ('0' + v % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
}

/*  The risk names of FLOW into NAMES (at most MAX).                         */
static size_t
risk_names (const flow_t *flow, char **names, size_t max)
{
    size_t n = 0;
    for (unsigned bit = 1; bit < 64 && n < max; bit++)
        if (flow->risk & (1ull << bit)) {
            const char *name = classifier_risk_name (bit);
            if (name)
                names[n++] = (char *) name;
        }
    return n;
}

/*  What classification kept (host, TLS, HTTP, DNS) into EV.                */
static void
fill_meta (Dpidual__V1__FlowEvent *ev, const flow_meta_t *m)
{
    ev->host_server_name = m->host_server_name ? m->host_server_name : "";
    if (m->ja3_client || m->tls_version)        /* TLS family: the host is the SNI */
        ev->tls_sni = ev->host_server_name;
    ev->tls_version = m->tls_version ? m->tls_version : "";
    ev->ja3_client = m->ja3_client ? m->ja3_client : "";
    ev->ja3_server = m->ja3_server ? m->ja3_server : "";
    ev->alpn = m->alpn ? m->alpn : "";
    ev->http_method = m->http_method ? m->http_method : "";
    ev->http_url = m->http_url ? m->http_url : "";
    ev->http_user_agent = m->http_user_agent ? m->http_user_agent : "";
    ev->http_status = m->http_status;
    ev->dns_query = m->dns_query ? m->dns_query : "";
}

static void
emit (collector_t *self, flow_t *flow, flow_event_kind_t event, flow_end_t reason)
{
    self->counters.events[event]++;
    if (!self->pub && !self->jsonl)
        return;                         /* nobody to tell */
    Dpidual__V1__FlowEvent ev = DPIDUAL__V1__FLOW_EVENT__INIT;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], cid[COMMUNITY_ID_V1_BUFSIZE];
    char proto[64];
    char *risks[64];
    format_ip (flow->src, flow->ip_version, src, sizeof src);
    format_ip (flow->dst, flow->ip_version, dst, sizeof dst);

    community_id_tuple_t t = { .family = flow->ip_version == 6 ? AF_INET6 : AF_INET,
                               .proto = flow->proto, .sport = flow->sport, .dport = flow->dport };
    memcpy (t.src, flow->src, 16);
    memcpy (t.dst, flow->dst, 16);
    if (flow->proto == IPPROTO_ICMP || flow->proto == IPPROTO_ICMPV6) {
        t.sport = flow->icmp_type;
        t.dport = flow->icmp_code;
    }
    if (community_id_v1 (&t, (uint16_t) self->cfg->tap.community_id_seed, false, cid, sizeof cid) < 0)
        cid[0] = 0;

    ev.event = s_event_wire[event];
    ev.end_reason = (Dpidual__V1__FlowEvent__EndReason) reason;
    ev.community_id = cid;
    ev.ip_version = flow->ip_version;
    ev.ip_proto = flow->proto;
    ev.src_ip = src;
    ev.src_port = flow->sport;
    ev.dst_ip = dst;
    ev.dst_port = flow->dport;
    ev.vlan = flow->vlan;
    ev.interface = self->interface;
    ev.master_protocol = flow->master;
    ev.app_protocol = flow->app;
    ev.master_protocol_name = (char *) classifier_id_name (self->classifier, flow->master);
    ev.app_protocol_name = (char *) classifier_id_name (self->classifier, flow->app);
    ev.proto = (char *) classifier_proto_name (self->classifier, flow, proto, sizeof proto);
    ev.category = (char *) classifier_category_name (self->classifier, flow->category);
    ev.confidence = (char *) classifier_confidence_name (flow->confidence);
    ev.risk = flow->risk;
    ev.n_risks = risk_names (flow, risks, 64);
    ev.risks = risks;
    ev.guessed = flow->guessed;
    if (flow->meta)
        fill_meta (&ev, flow->meta);
    ev.src2dst_packets = flow->packets[0];
    ev.dst2src_packets = flow->packets[1];
    ev.src2dst_bytes = flow->bytes[0];
    ev.dst2src_bytes = flow->bytes[1];
    ev.first_seen = flow->first_us / 1000;
    ev.last_seen = flow->last_us / 1000;
    ev.flow_id = flow->id;
    ev.offline = self->offline;

    /* the header is the bus's: in the file, the event alone */
    pbjson_buf_reset (&self->line);
    if (self->jsonl && pbjson_append (&self->line, TOPIC_TAP_FLOW, &ev.base) == 0)
        pbjson_buf_puts (&self->line, "\n", 1);
    if (self->output_lock)
        pthread_mutex_lock (self->output_lock);
    if (self->pub && bus_pub_send (self->pub, TOPIC_TAP_FLOW, &ev.base) != 0)
        self->counters.event_errors++;
    if (self->jsonl && (self->line.len == 0
                        || outfile_write (self->jsonl, self->line.data, self->line.len) != 0))
        self->counters.event_errors++;
    if (self->output_lock)
        pthread_mutex_unlock (self->output_lock);
}

/*  The flow table ends a flow: classify what was not, report, release.    */
static void
on_end (void *arg, flow_t *flow, flow_end_t reason)
{
    collector_t *self = arg;
    classifier_giveup (self->classifier, flow);
    emit (self, flow, EVENT_END, reason);
    classifier_release (self->classifier, flow);
}

/*  --------------------------------------------------------------------------
    The lane                                                               */

collector_t *
collector_new (const config_t *cfg, bus_pub_t *pub, outfile_t *jsonl, pthread_mutex_t *output_lock,
               unsigned lane, unsigned lanes, stats_board_t *board)
{
    collector_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->pub = pub;
    self->jsonl = jsonl;
    self->update_us = (uint64_t) cfg->tap.update_interval * 1000000ull;
    flowtable_timeouts_t timeouts = { {
        [LIST_TCP] = (uint32_t) cfg->tap.tcp_idle_timeout,
        [LIST_TCP_CLOSED] = (uint32_t) cfg->tap.tcp_close_timeout,
        [LIST_UDP] = (uint32_t) cfg->tap.udp_idle_timeout,
        [LIST_OTHER] = (uint32_t) cfg->tap.other_idle_timeout,
    } };
    /* tap.max_flows is for the whole collector: each lane has its share */
    uint32_t share = (uint32_t) cfg->tap.max_flows / (lanes ? lanes : 1);
    self->flows = flowtable_new (share ? share : 1, timeouts, on_end, self, 1 + lane,
                                 lanes ? lanes : 1);
    self->classifier = classifier_new ((unsigned) cfg->tap.max_packets_per_flow);
    self->output_lock = output_lock;
    self->stats = stats_new (cfg, lane, lanes, output_lock, board);
    if (!self->flows || !self->classifier || !self->stats) {
        log_error ("collector: out of memory for %d flows", cfg->tap.max_flows);
        collector_destroy (&self);
        return NULL;
    }
    snprintf (self->interface, sizeof self->interface, "%s", cfg->tap.interface);
    return self;
}

void
collector_destroy (collector_t **self_p)
{
    collector_t *self = *self_p;
    if (!self)
        return;
    flowtable_destroy (&self->flows);
    classifier_destroy (&self->classifier);
    stats_destroy (&self->stats);
    pbjson_buf_free (&self->line);
    free (self);
    *self_p = NULL;
}

void
collector_set_interface (collector_t *self, const char *interface)
{
    snprintf (self->interface, sizeof self->interface, "%s", interface);
}

void
collector_packet (collector_t *self, int dlt, const uint8_t *frame, uint32_t caplen, uint32_t len,
                  uint64_t ts_us)
{
    collector_counters_t *c = &self->counters;
    c->packets++;
    c->bytes += len;
    if (ts_us > self->now_us)
        self->now_us = ts_us;

    packet_t pkt;
    decode_result_t rc = decode_packet (dlt, frame, caplen, &pkt);
    if (rc != DECODE_OK) {
        if (rc == DECODE_FRAGMENT)
            c->fragments++;
        else
            c->decode_errors[rc]++;
        return;
    }
    /* a flow idle past its timeout ends before this packet could revive it */
    flowtable_expire (self->flows, self->now_us);
    int direction;
    bool created;
    flow_t *flow = flowtable_lookup (self->flows, &pkt, self->now_us, &direction, &created);
    if (!flow)
        return;
    if (created)
        stats_flow_created (self->stats, self->now_us);
    c->ip_packets++;
    flow->packets[direction]++;
    flow->bytes[direction] += len;
    flowtable_touch (self->flows, flow, self->now_us, pkt.tcp_flags, direction);

    int classified = classifier_feed (self->classifier, flow, &pkt, ts_us / 1000);
    if (classified < 0)
        c->classify_errors++;
    else if (classified > 0) {
        emit (self, flow, EVENT_DETECTED, END_NONE);
        flow->detected_sent = true;
        flow->update_us = self->now_us;
    }
    else if (flow->classified && self->now_us - flow->update_us >= self->update_us) {
        emit (self, flow, EVENT_UPDATE, END_NONE);
        flow->update_us = self->now_us;
    }
    collector_tick (self, self->now_us);
}

void
collector_tick (collector_t *self, uint64_t now_us)
{
    if (now_us > self->now_us)
        self->now_us = now_us;
    flowtable_expire (self->flows, self->now_us);
    if (stats_due (self->stats, self->now_us))
        stats_publish (self->stats, self->now_us, self->flows, self->classifier,
                       collector_counters (self), self->pub, self->interface);
}

void
collector_finish (collector_t *self)
{
    flowtable_flush (self->flows);
    stats_publish (self->stats, self->now_us, self->flows, self->classifier,
                   collector_counters (self), self->pub, self->interface);
    if (self->jsonl) {
        if (self->output_lock)
            pthread_mutex_lock (self->output_lock);
        outfile_flush (self->jsonl);
        if (self->output_lock)
            pthread_mutex_unlock (self->output_lock);
    }
}

void
collector_set_capture_stats (collector_t *self, uint64_t received, uint64_t dropped,
                             uint64_t if_dropped)
{
    stats_set_capture (self->stats, received, dropped, if_dropped);
}

void
collector_set_offline (collector_t *self, bool offline)
{
    self->offline = offline;
    stats_set_offline (self->stats, offline);
}

const collector_counters_t *
collector_counters (collector_t *self)
{
    self->counters.flows_created = flowtable_created (self->flows);
    self->counters.evictions = flowtable_evictions (self->flows);
    self->counters.compat_errors = stats_compat_errors (self->stats);
    return &self->counters;
}

uint64_t
collector_malformed (const collector_counters_t *counters)
{
    uint64_t total = 0;
    for (int i = DECODE_TOO_SHORT; i < DECODE_REASONS; i++)
        if (i != DECODE_NOT_IP)
            total += counters->decode_errors[i];
    return total;
}

uint32_t
collector_active_flows (collector_t *self)
{
    return flowtable_count (self->flows);
}
