/*  output.c — what dpi-correlator gives out: threats, joins and decisions
    (bus, or stdout offline), the correlation.output JSON lines, the compat
    files, heartbeat counters, the summary (correlator.h).                   */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "correlator.h"
#include "log.h"
#include "pbjson.h"
#include "topics.h"

static const char *const s_counter_names[] = {
#define CORRELATOR_COUNTER_NAME(ID, NAME) NAME,
    CORRELATOR_COUNTERS (CORRELATOR_COUNTER_NAME)
#undef CORRELATOR_COUNTER_NAME
};

/*  Publish MSG on TOPIC (live), or print it as tail does (offline).       */
static void
emit (correlator_t *self, const char *topic, ProtobufCMessage *msg)
{
    if (self->pub) {
        bus_pub_send (self->pub, topic, msg);
        return;
    }
    if (!self->input || !self->output)
        return;
    pbjson_buf_t line = { 0 };
    if (pbjson_append (&line, topic, msg) != 0 || pbjson_buf_puts (&line, "\n", 1) != 0
        || outfile_write (self->output, line.data, line.len) != 0)
        self->counters[CORRELATOR_OUTPUT_ERRORS]++;
    pbjson_buf_free (&line);
}

static void
iso_time (uint64_t ns, char *out, size_t len)
{
    time_t secs = (time_t) (ns / 1000000000ull);
    struct tm tm;
    gmtime_r (&secs, &tm);
    strftime (out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*  One JSON line of a threat for correlation.output and the compat file:
    SecuBox's fields (ip, timestamp, event_type, reason, threat_score,
    reputation_score, crowdsec_status, context) and ours.                   */
static char *
threat_line (correlator_t *self, const Dpidual__V1__CorrelatedThreat *t)
{
    char when[32];
    iso_time (t->last_seen_ns, when, sizeof when);
    const join_flow_t *flows[256];
    size_t nflows = join_flows_of (self->join, t->client_ip, flows, 256);
    rep_entry_t rep = { 0 };
    reputation_get (self->rep, t->client_ip, correlator_now (self), &rep);
    json_t *o = json_pack (
        "{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:{s:I, s:I, s:I}, s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:b}",
        "ip", t->client_ip, "timestamp", when, "event_type", t->event_type,
        "reason", t->n_reasons ? t->reasons[0] : "", "threat_score", (int) t->score,
        "reputation_score", (int) t->reputation, "crowdsec_status", t->crowdsec_status,
        "context", "mitm_requests", (json_int_t) t->n_request_ids, "dpi_flows",
        (json_int_t) nflows, "waf_alerts", (json_int_t) rep.events,
        "community_id", t->community_id,
        "join", protobuf_c_enum_descriptor_get_value (
                    &dpidual__v1__correlated_threat__join_key__descriptor, (int) t->join)->name,
        "tap_proto", t->tap_proto ? t->tap_proto : "", "mitm_host", t->mitm_host,
        "mitm_path", t->mitm_path, "request_id", t->request_id, "banned", t->banned);
    char *text = o ? json_dumps (o, JSON_COMPACT) : NULL;
    json_decref (o);
    return text;
}

static void
write_line (correlator_t *self, outfile_t *out, const char *text)
{
    if (outfile_write (out, text, strlen (text)) != 0 || outfile_write (out, "\n", 1) != 0
        || outfile_flush (out) != 0)
        self->counters[CORRELATOR_OUTPUT_ERRORS]++;
}

void
correlator_emit_threat (correlator_t *self, Dpidual__V1__CorrelatedThreat *t)
{
    emit (self, TOPIC_CORRELATED_THREAT, &t->base);
    correlator_remember (self, t);
    bool file = self->output && !self->input;
    if (!file && !self->compat_threats)
        return;
    char *text = threat_line (self, t);
    if (text && file)
        write_line (self, self->output, text);
    if (text && self->compat_threats)
        write_line (self, self->compat_threats, text);
    free (text);
}

void
correlator_emit_join (correlator_t *self, Dpidual__V1__Join *j)
{
    self->counters[CORRELATOR_JOINS_PUBLISHED]++;
    emit (self, TOPIC_CORRELATED_JOIN, &j->base);
}

void
correlator_emit_decision (correlator_t *self, Dpidual__V1__Decision *d)
{
    emit (self, TOPIC_DECISION, &d->base);
}

/*  COMPAT_DIR/ip-reputation.json: the addresses by score, replaced whole. */
void
correlator_compat_reputation (correlator_t *self)
{
    enum { TOP = 1000 };
    static rep_entry_t top[TOP];
    uint64_t now = correlator_now (self);
    size_t n = reputation_top (self->rep, now, top, TOP);
    json_t *ips = json_object ();
    for (size_t i = 0; i < n; i++) {
        char seen[32];
        iso_time (top[i].last_seen_ns, seen, sizeof seen);
        json_object_set_new (ips, top[i].ip, json_pack (
            "{s:i, s:I, s:s, s:s, s:b, s:b}", "score", (int) (top[i].score + 0.5), "events",
            (json_int_t) top[i].events, "last_seen", seen, "last_event", top[i].last_kind,
            "banned", top[i].banned_until_ns > now, "whitelisted", top[i].whitelisted));
    }
    char when[32];
    iso_time (now, when, sizeof when);
    json_t *doc = json_pack ("{s:s, s:I, s:o}", "timestamp", when, "count", (json_int_t) n,
                             "ips", ips);
    char path[1024];
    snprintf (path, sizeof path, "%s/ip-reputation.json", self->cfg->global.compat_dir);
    outfile_snapshot_t snap;
    FILE *f = outfile_snapshot_begin (&snap, path, 0);
    if (!f || (json_dumpf (doc, f, JSON_INDENT (2)) | outfile_snapshot_commit (&snap)) != 0) {
        self->counters[CORRELATOR_COMPAT_ERRORS]++;
        log_warning ("%s: cannot write: %s", path, strerror (errno));
    }
    json_decref (doc);
}

size_t
correlator_counters (correlator_t *self, heartbeat_counter_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < CORRELATOR_COUNTER_COUNT && n < max; i++)
        out[n++] = (heartbeat_counter_t) { s_counter_names[i], self->counters[i] };
    join_stats_t j = join_stats (self->join);
    rep_stats_t r = reputation_stats (self->rep);
    lapi_stats_t l = { 0 };
    if (self->lapi)
        l = lapi_stats (self->lapi);
    haproxy_stats_t h = { 0 };
    if (self->haproxy)
        h = haproxy_stats (self->haproxy);
    heartbeat_counter_t more[] = {
        { "join_flows", j.flows }, { "join_waiting", j.waiting },
        { "joined_community_id", j.joined[JOIN_COMMUNITY_ID] },
        { "joined_client_port_time", j.joined[JOIN_CLIENT_PORT_TIME] },
        { "joined_client_ip", j.joined[JOIN_CLIENT_IP] }, { "unjoined", j.joined[JOIN_NONE] },
        { "join_evicted_flows", j.evicted_flows },
        { "join_evicted_requests", j.evicted_requests },
        { "join_expired_flows", j.expired_flows }, { "join_peak", j.peak },
        { "reputation_entries", r.entries }, { "reputation_evicted", r.evicted },
        { "lapi_polls", l.polls }, { "lapi_poll_errors", l.poll_errors },
        { "lapi_pushed", l.pushed }, { "lapi_push_errors", l.push_errors },
        { "lapi_push_dropped", l.push_dropped }, { "lapi_login_errors", l.login_errors },
        { "lapi_push_refused", l.push_refused }, { "lapi_push_retries", l.push_retries },
        { "lapi_decisions_dropped", l.decisions_dropped },
        { "lapi_decisions_malformed", l.decisions_malformed },
        { "lapi_unbans", l.unbans }, { "lapi_unban_deleted", l.unban_deleted },
        { "lapi_unban_errors", l.unban_errors },
        { "haproxy_added", h.added }, { "haproxy_removed", h.removed },
        { "haproxy_expired", h.expired },
        { "haproxy_errors", h.errors }, { "haproxy_pending", h.pending },
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0] && n < max; i++)
        out[n++] = more[i];
    return n;
}

void
correlator_summary (correlator_t *self)
{
    join_stats_t j = join_stats (self->join);
    const uint64_t *k = self->counters;
    log_info ("%llu flows, %llu requests; joined by community_id %llu, client+port+time %llu, "
              "client ip %llu, unjoined %llu; %llu threats, %llu bans, %llu unbans",
              (unsigned long long) k[CORRELATOR_FLOWS], (unsigned long long) k[CORRELATOR_REQUESTS],
              (unsigned long long) j.joined[JOIN_COMMUNITY_ID],
              (unsigned long long) j.joined[JOIN_CLIENT_PORT_TIME],
              (unsigned long long) j.joined[JOIN_CLIENT_IP],
              (unsigned long long) j.joined[JOIN_NONE], (unsigned long long) k[CORRELATOR_THREATS],
              (unsigned long long) k[CORRELATOR_BANS], (unsigned long long) k[CORRELATOR_UNBANS]);
    log_info ("%llu verdicts, %llu alerts; join state: %llu flows held, at most %llu entries "
              "(correlation.max_entries %d), %llu flows evicted, %llu expired, %llu requests "
              "evicted", (unsigned long long) k[CORRELATOR_VERDICTS],
              (unsigned long long) k[CORRELATOR_ALERTS], (unsigned long long) j.flows,
              (unsigned long long) j.peak, self->cfg->correlation.max_entries,
              (unsigned long long) j.evicted_flows, (unsigned long long) j.expired_flows,
              (unsigned long long) j.evicted_requests);
}
