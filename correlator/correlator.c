/*  correlator.c — dpi-correlator's state, evidence and decisions
    (correlator.h).                                                         */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "correlator.h"
#include "hash.h"
#include "log.h"
#include "paths.h"
#include "topics.h"

#define SCAN_PORTS 20               /* distinct ports in a window: a scan    */
#define SCAN_HOSTS 20               /* distinct hosts likewise               */
#define NS 1000000000ull

/*  nDPI risks that are evidence against the client (names as nDPI 4.2
    prints them).                                                            */
static const char *const s_client_risks[] = {
    "Possible Exploit", "Suspicious DGA Domain name", "Malicious JA3 Fingerprint",
    "Possibly Malicious JA3 Fingerprint", "Malware Host Contacted", "Suspicious Entropy",
    "Unsafe Protocol", "SMB Insecure Version", "HTTP Suspicious User-Agent",
    "HTTP Suspicious Header", NULL,
};
/*  Risks that describe the server: evidence only when the client went to a
    server that is not one of ours (a frontend the MITM requests name) — a
    self-signed certificate on our own HAProxy says nothing of its clients. */
static const char *const s_server_risks[] = {
    "Known Protocol on Non Standard Port", "Self-signed Certificate",
    "Obsolete TLS Version (1.1 or older)", "TLS Certificate Expired", NULL,
};
/*  Protocols the MITM never sees that are worth a look on a router.        */
static const char *const s_suspicious_protos[] = { "Tor", "BitTorrent", "Telnet", NULL };

static const double s_multiplier[] = { 0.5, 1.0, 1.5 };

uint64_t
correlator_now (const correlator_t *self)
{
    return self->input ? self->now_ns : bus_now_ns ();
}

static void
see_time (correlator_t *self, uint64_t ts_ns)
{
    if (ts_ns > self->now_ns)
        self->now_ns = ts_ns;
}

/*  The join engine's report of a request: a correlated.join message.       */
static void
on_join (void *arg, const join_request_t *req, join_key_t key, const join_flow_t *flow,
         uint64_t latency_ns)
{
    correlator_t *self = arg;
    if (!self->cfg->correlation.publish_joins)
        return;
    Dpidual__V1__Join j = DPIDUAL__V1__JOIN__INIT;
    j.request_id = (char *) req->request_id;
    j.request_community_id = (char *) req->community_id;
    j.client_ip = (char *) req->client_ip;
    j.client_port = req->client_port;
    j.frontend_ip = (char *) req->frontend_ip;
    j.frontend_port = req->frontend_port;
    j.request_ts_ns = req->ts_ns;
    j.join = (Dpidual__V1__CorrelatedThreat__JoinKey) key;
    j.latency_ns = latency_ns;
    if (flow) {
        j.flow_community_id = (char *) flow->community_id;
        j.flow_src_ip = (char *) flow->src_ip;
        j.flow_src_port = flow->src_port;
        j.flow_dst_ip = (char *) flow->dst_ip;
        j.flow_dst_port = flow->dst_port;
        j.flow_ip_proto = flow->ip_proto;
        j.flow_vlan = flow->vlan;
        j.flow_proto = (char *) flow->proto;
        j.flow_sni = (char *) flow->sni;
        j.flow_id = flow->flow_id;
        j.flow_source = (char *) flow->source;
    }
    correlator_emit_join (self, &j);
}

static int
open_state (correlator_t *self, const config_t *cfg, config_errors_t *errors)
{
    snprintf (self->state_path, sizeof self->state_path, "%s/reputation.db",
              cfg->global.state_dir);
    char why[512];
    if (paths_mkdir (cfg->global.state_dir, 0750) != 0) {
        size_t from = errors->count;
        config_errors_add (errors, "%s: cannot create: %s", cfg->global.state_dir,
                           strerror (errno));
        config_errors_blame (errors, from, cfg, "global.state_dir");
        return -1;
    }
    if (reputation_load (self->rep, self->state_path, why, sizeof why) != 0) {
        config_errors_add (errors, "%s", why);
        return -1;
    }
    return 0;
}

static int
open_reputation (correlator_t *self, const config_t *cfg, config_errors_t *errors)
{
    rep_params_t p = {
        .half_life_s = (uint32_t) cfg->correlation.reputation_decay,
        .max_entries = (size_t) cfg->correlation.max_addresses,
        .prefixes = cfg->correlation.prefix_aggregates,
        .multiplier = s_multiplier[cfg->correlation.sensitivity],
        .threshold = (uint32_t) cfg->correlation.threat_threshold,
    };
    self->rep = reputation_new (&p);
    if (!self->rep) {
        config_errors_add (errors, "dpi-correlator: out of memory (correlation.max_addresses)");
        return -1;
    }
    int rc = 0;
    const config_strlist_t *wl = &cfg->correlation.whitelist;
    for (size_t i = 0; i < wl->count; i++) {
        char why[256];
        if (reputation_whitelist_add (self->rep, wl->items[i], why, sizeof why) != 0) {
            size_t from = errors->count;
            config_errors_add (errors, "'%s': %s", wl->items[i], why);
            config_errors_blame (errors, from, cfg, "correlation.whitelist");
            rc = -1;
        }
    }
    return rc;
}

static int
open_enforcers (correlator_t *self, const config_t *cfg, bool offline, config_errors_t *errors)
{
    if (!offline && cfg->crowdsec.enabled && !(self->lapi = lapi_new (cfg, errors)))
        return -1;
    if (!offline && cfg->decision.haproxy_socket[0]
        && !(self->haproxy = haproxy_new (cfg->decision.haproxy_socket,
                                          cfg->decision.haproxy_acl, errors)))
        return -1;
    if (!offline && !(self->query = query_new (cfg, cfg->correlation.query_endpoint,
                                               correlator_query, self, errors)))
        return -1;
    return 0;
}

static int
open_outputs (correlator_t *self, const config_t *cfg, bool offline, config_errors_t *errors)
{
    /* the threat logs are appended to: a restart keeps what was written   */
    const char *out = offline ? "-" : cfg->correlation.output;
    if (out[0] && !(self->output = outfile_open_mode (out, !offline, errors)))
        return -1;
    if (cfg->global.compat) {
        char path[1024];
        snprintf (path, sizeof path, "%s/correlated-threats.json", cfg->global.compat_dir);
        paths_mkdir (cfg->global.compat_dir, 0755);
        if (!(self->compat_threats = outfile_open_mode (path, true, errors)))
            return -1;
    }
    return 0;
}

/*  A flow is held until last_seen + window, and the collector says it again
    only after tap.update_interval: a longer interval lets the flow of an
    idle keep-alive connection go before its next request (measured in
    it_correlator_netns). A warning, not an error: the collector may run
    elsewhere with its own config.                                          */
static void
warn_update_interval (const config_t *cfg)
{
    if (cfg->tap.update_interval > cfg->correlation.window)
        log_warning ("tap.update_interval (%d s) is longer than correlation.window (%d s): a "
                     "keep-alive connection idle longer than the window will have its next "
                     "requests unjoined (the collector re-publishes its flow too late)",
                     cfg->tap.update_interval, cfg->correlation.window);
}

correlator_t *
correlator_new (const config_t *cfg, bus_pub_t *pub, const char *offline,
                config_errors_t *errors)
{
    correlator_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "dpi-correlator: out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->pub = pub;
    if (!offline)
        warn_update_interval (cfg);
    static const char *const topics[] = {
        TOPIC_TAP_FLOW, TOPIC_MITM_REQUEST, TOPIC_MITM_VERDICT, TOPIC_BUFFER_ALERT, NULL,
    };
    self->memo = calloc (REQ_MEMO, sizeof *self->memo);
    self->join = join_new ((uint64_t) cfg->correlation.window * NS,
                           (size_t) cfg->correlation.max_entries, on_join, self);
    if (!self->join || !self->memo)
        config_errors_add (errors, "dpi-correlator: out of memory (correlation.max_entries)");
    if (!self->join || !self->memo || open_reputation (self, cfg, errors)
        || (!offline && open_state (self, cfg, errors))
        || (offline && !(self->input = jsonl_in_open (offline, topics, errors)))
        || open_enforcers (self, cfg, offline != NULL, errors)
        || open_outputs (self, cfg, offline != NULL, errors)) {
        correlator_destroy (&self);
        return NULL;
    }
    return self;
}

void
correlator_destroy (correlator_t **self_p)
{
    correlator_t *self = *self_p;
    if (!self)
        return;
    lapi_destroy (&self->lapi);
    haproxy_destroy (&self->haproxy);
    query_destroy (&self->query);
    join_destroy (&self->join);
    reputation_destroy (&self->rep);
    jsonl_in_close (&self->input);
    outfile_close (&self->output);
    outfile_close (&self->compat_threats);
    for (size_t i = 0; i < RECENT_THREATS; i++)
        free (self->recent[i].data);
    free (self->memo);
    free (self);
    *self_p = NULL;
}

int
correlator_check (const config_t *cfg, config_errors_t *errors)
{
    warn_update_interval (cfg);
    correlator_t probe = { .cfg = cfg };
    int rc = open_reputation (&probe, cfg, errors);
    reputation_destroy (&probe.rep);
    return rc;
}

/*  What a threat knows of its MITM side: the request that carried the
    evidence, when it is still in the join's memory.                        */
typedef struct {
    const char *ip;                 /* the client                            */
    const char *community_id;
    const char *request_id;
    const char *host, *path;
    const char *kind;               /* evidence kind                         */
    const char *source;             /* topic                                 */
    const char *reason;
    uint32_t points;
    uint32_t severity;
    const join_flow_t *flow;        /* the TAP flow, when the evidence is one */
} evidence_t;

/*  The TAP flow that goes with E, and the key that found it.               */
static join_key_t
find_flow (correlator_t *self, const evidence_t *e, const join_flow_t **flow)
{
    if (e->flow) {
        *flow = e->flow;
        return JOIN_COMMUNITY_ID;
    }
    const join_flow_t *flows[64];
    size_t n = join_flows_of (self->join, e->ip, flows, 64);
    for (size_t i = 0; e->community_id && e->community_id[0] && i < n; i++)
        if (strcmp (flows[i]->community_id, e->community_id) == 0) {
            *flow = flows[i];
            return JOIN_COMMUNITY_ID;
        }
    char ip[JOIN_IP_MAX];
    join_normalise_ip (e->ip, ip, sizeof ip);
    for (size_t i = 0; i < n; i++)
        if (strcmp (flows[i]->src_ip, ip) == 0) {
            *flow = flows[i];               /* newest first */
            return JOIN_CLIENT_IP;
        }
    *flow = NULL;
    return JOIN_NONE;
}

static void
fill_threat (Dpidual__V1__CorrelatedThreat *t, const evidence_t *e, const join_flow_t *flow,
             join_key_t key, char **sources, char **reasons, char **risks)
{
    t->client_ip = (char *) e->ip;
    t->community_id = (char *) (e->community_id && e->community_id[0] ? e->community_id
                                : flow ? flow->community_id : "");
    t->threat_type = (char *) e->kind;
    t->event_type = (char *) e->kind;
    t->severity = e->severity;
    t->score = e->points;
    t->join = (Dpidual__V1__CorrelatedThreat__JoinKey) key;
    sources[0] = (char *) e->source;
    t->sources = sources;
    t->n_sources = 1;
    if (flow) {
        sources[t->n_sources++] = TOPIC_TAP_FLOW;
        t->tap_proto = (char *) flow->proto;
        t->tap_host_server_name = (char *) flow->sni;
        for (size_t i = 0; i < flow->risk_count; i++)
            risks[i] = (char *) flow->risks[i];
        t->tap_risks = risks;
        t->n_tap_risks = flow->risk_count;
        t->first_seen_ns = flow->first_seen_ns;
    }
    reasons[0] = (char *) e->reason;
    t->reasons = reasons;
    t->n_reasons = 1;
    t->mitm_host = (char *) (e->host ? e->host : "");
    t->mitm_path = (char *) (e->path ? e->path : "");
    t->request_id = (char *) (e->request_id ? e->request_id : "");
}

/*  Evidence E against its client: reputation, a correlated.threat, and a
    ban when the score calls for one.                                       */
static void
evidence (correlator_t *self, const evidence_t *e)
{
    uint64_t now = correlator_now (self);
    self->counters[CORRELATOR_EVIDENCE]++;
    double score = reputation_add (self->rep, e->ip, e->points, e->kind, now);
    const join_flow_t *flow;
    join_key_t key = find_flow (self, e, &flow);
    Dpidual__V1__CorrelatedThreat t = DPIDUAL__V1__CORRELATED_THREAT__INIT;
    char *sources[2], *reasons[1], *risks[JOIN_RISKS_MAX], *ids[1];
    fill_threat (&t, e, flow, key, sources, reasons, risks);
    if (e->request_id && e->request_id[0]) {
        ids[0] = (char *) e->request_id;
        t.request_ids = ids;
        t.n_request_ids = 1;
    }
    t.reputation = (uint32_t) (score + 0.5);
    t.last_seen_ns = now;
    if (!t.first_seen_ns)
        t.first_seen_ns = now;
    bool ban = self->cfg->correlation.auto_ban && reputation_should_ban (self->rep, e->ip, now);
    if (!ban && score >= self->cfg->correlation.threat_threshold
        && reputation_whitelisted (self->rep, e->ip))
        self->counters[CORRELATOR_BANS_WHITELISTED]++;
    t.banned = ban;
    t.crowdsec_status = ban && self->lapi && lapi_pushing (self->lapi) ? "pushed" : "";
    self->counters[CORRELATOR_THREATS]++;
    correlator_emit_threat (self, &t);
    if (!ban)
        return;
    char reason[160];
    snprintf (reason, sizeof reason, "reputation %u >= %d (last: %s)", t.reputation,
              self->cfg->correlation.threat_threshold, e->kind);
    correlator_decide (self, true, e->ip, 0, reason, "correlator");
    if (self->lapi && lapi_pushing (self->lapi)) {
        lapi_ban_t b = { .duration_s = (uint64_t) self->cfg->correlation.ban_duration,
                         .score = t.reputation };
        snprintf (b.ip, sizeof b.ip, "%s", e->ip);
        snprintf (b.scenario, sizeof b.scenario, "dpi-dual/correlated-threat");
        snprintf (b.message, sizeof b.message, "dpi-dual: %s", reason);
        snprintf (b.meta, sizeof b.meta, "community_id=%s\nrequest_ids=%s\njoin=%d\n"
                  "tap_proto=%s\nmitm=%s%s\nevidence=%s\n", t.community_id, t.request_id,
                  (int) key, t.tap_proto ? t.tap_proto : "", t.mitm_host, t.mitm_path, e->reason);
        lapi_push (self->lapi, &b);
    }
}

void
correlator_bridge_heard (correlator_t *self, const char *source, uint64_t instance)
{
    const size_t n = sizeof self->bridges / sizeof self->bridges[0];
    size_t i, slot = n;
    for (i = 0; i < n; i++) {
        if (self->bridges[i].instance && strcmp (self->bridges[i].source, source) == 0)
            break;
        if (!self->bridges[i].instance && slot == n)
            slot = i;
    }
    if (i < n && self->bridges[i].instance == instance)
        return;                             /* the common case: known */
    slot = i < n ? i : slot < n ? slot : 0; /* (a ninth bridge replaces the first) */
    snprintf (self->bridges[slot].source, sizeof self->bridges[slot].source, "%s", source);
    self->bridges[slot].instance = instance;
    size_t max = (size_t) self->cfg->correlation.max_addresses;
    rep_entry_t *all = malloc (max * sizeof *all);
    if (!all) {
        log_warning ("%s: cannot send it the running bans: out of memory", source);
        return;
    }
    uint64_t now = correlator_now (self);
    size_t count = reputation_top (self->rep, now, all, max), sent = 0;
    for (size_t k = 0; k < count; k++) {
        if (all[k].banned_until_ns <= now)
            continue;
        Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
        d.action = DPIDUAL__V1__DECISION__ACTION__BAN;
        d.value = all[k].ip;
        d.scope = strchr (all[k].ip, '/') ? "range" : "ip";
        d.expires_ns = all[k].banned_until_ns;
        d.reason = "a ban still running, sent again to a bridge new to us";
        d.origin = "resync";
        correlator_emit_decision (self, &d);
        sent++;
    }
    free (all);
    if (sent)
        log_info ("%s (instance %llu) is new to us: %zu running bans sent again", source,
                  (unsigned long long) instance, sent);
}

void
correlator_decide (correlator_t *self, bool ban, const char *value, uint64_t duration_s,
                   const char *reason, const char *origin)
{
    uint64_t now = correlator_now (self);
    if (duration_s == 0)
        duration_s = (uint64_t) self->cfg->correlation.ban_duration;
    Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
    d.action = ban ? DPIDUAL__V1__DECISION__ACTION__BAN : DPIDUAL__V1__DECISION__ACTION__UNBAN;
    d.value = (char *) value;
    d.scope = strchr (value, '/') ? "range" : "ip";
    d.duration_s = ban ? duration_s : 0;
    d.reason = (char *) reason;
    d.origin = (char *) origin;
    correlator_emit_decision (self, &d);
    self->counters[ban ? CORRELATOR_BANS : CORRELATOR_UNBANS]++;
    if (!strchr (value, '/'))
        reputation_set_banned (self->rep, value, ban ? now + duration_s * NS : 0);
    /* saved at the next tick (not a minute later): a ban must outlive a kill -9,
       to be sent again to a bridge that restarts (correlator_bridge_heard) */
    if (!self->input && self->state_due_ns > bus_mono_ns ())
        self->state_due_ns = bus_mono_ns ();
    if (self->haproxy)
        (void) (ban ? haproxy_ban_until (self->haproxy, value,
                                         (int64_t) time (NULL) + (int64_t) duration_s)
                    : haproxy_unban (self->haproxy, value));
    /* an operator's unban lifts our ban in CrowdSec too (only ours: lapi.h) */
    if (!ban && strcmp (origin, "manual") == 0 && self->lapi && lapi_pushing (self->lapi)
        && lapi_unban (self->lapi, value) != 0)
        log_warning ("unban %s: the CrowdSec queue is full, our decision there stays", value);
    log_info ("%s %s (%s): %s", ban ? "ban" : "unban", value, origin, reason);
}

/*  S (NULL: "") into OUT of SIZE bytes, cut to fit: snprintf's "%s" without
    its cost (per request, four times).                                     */
static void
copy_text (char *out, size_t size, const char *s)
{
    size_t n = s ? strnlen (s, size - 1) : 0;
    memcpy (out, s ? s : "", n);
    out[n] = 0;
}

static req_memo_t *
memo_slot (correlator_t *self, const char *request_id)
{
    return &self->memo[hash_string (request_id) % REQ_MEMO];
}

static bool
listed (const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp (list[i], name) == 0)
            return true;
    return false;
}

/*  The frontends the MITM requests name (ip:port), a small set.           */
static uint64_t
frontend_key (const char *ip, uint32_t port)
{
    char norm[JOIN_IP_MAX];
    join_normalise_ip (ip, norm, sizeof norm);
    return hash_string (norm) ^ ((uint64_t) port << 48) ^ port;
}

static bool
is_frontend (const correlator_t *self, const char *ip, uint32_t port)
{
    uint64_t key = frontend_key (ip, port);
    for (size_t i = 0; i < self->nfrontends; i++)
        if (self->frontends[i] == key)
            return true;
    return false;
}

static void
add_frontend (correlator_t *self, const char *ip, uint32_t port)
{
    /* nearly every request names the frontend the last one named */
    if (ip && port == self->last_frontend_port && strcmp (ip, self->last_frontend) == 0)
        return;
    if (ip && strlen (ip) < sizeof self->last_frontend) {
        memcpy (self->last_frontend, ip, strlen (ip) + 1);
        self->last_frontend_port = port;
    }
    if (ip && ip[0] && !is_frontend (self, ip, port)
        && self->nfrontends < sizeof self->frontends / sizeof self->frontends[0])
        self->frontends[self->nfrontends++] = frontend_key (ip, port);
}

/*  Decide the held server-side risks that are due by NOW_NS (all of them
    with ALL): evidence unless the server turned out to be one of ours.    */
static void
pending_risks (correlator_t *self, uint64_t now_ns, bool all)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->npending; i++) {
        pending_risk_t *p = &self->pending[i];
        if (!all && p->due_ns > now_ns) {
            self->pending[kept++] = *p;
            continue;
        }
        if (is_frontend (self, p->dst_ip, p->dst_port))
            continue;
        evidence_t e = { .ip = p->ip, .community_id = p->community_id, .kind = "dpi_threat",
                         .source = TOPIC_TAP_FLOW, .reason = p->reason, .severity = 6,
                         .points = (uint32_t) self->cfg->correlation.scoring.dpi_threat };
        evidence (self, &e);
    }
    self->npending = kept;
}

static void
hold_risk (correlator_t *self, const join_flow_t *flow, const char *reason)
{
    if (is_frontend (self, flow->dst_ip, flow->dst_port))
        return;
    if (self->npending == PENDING_RISKS)
        pending_risks (self, UINT64_MAX, true);     /* full: decide them all now */
    pending_risk_t *p = &self->pending[self->npending++];
    snprintf (p->community_id, sizeof p->community_id, "%s", flow->community_id);
    snprintf (p->ip, sizeof p->ip, "%s", flow->src_ip);
    snprintf (p->dst_ip, sizeof p->dst_ip, "%s", flow->dst_ip);
    p->dst_port = flow->dst_port;
    snprintf (p->reason, sizeof p->reason, "%s", reason);
    p->due_ns = correlator_now (self) + PENDING_RISK_NS;
}

static void
in_set (uint32_t *set, uint32_t *n, uint32_t value)
{
    for (uint32_t i = 0; i < *n; i++)
        if (set[i] == value)
            return;
    if (*n < 64)
        set[(*n)++] = value;
}

/*  Scanning on the mirror: one client reaching many ports or hosts within
    the window.                                                              */
static void
track_scan (correlator_t *self, const join_flow_t *flow)
{
    uint64_t now = correlator_now (self);
    scan_track_t *s = &self->scans[hash_string (flow->src_ip) % SCAN_TRACK];
    uint64_t window = (uint64_t) self->cfg->correlation.window * NS;
    if (strcmp (s->ip, flow->src_ip) != 0 || now > s->window_start_ns + window) {
        memset (s, 0, sizeof *s);
        snprintf (s->ip, sizeof s->ip, "%s", flow->src_ip);
        s->window_start_ns = now;
    }
    in_set (s->ports, &s->nports, flow->dst_port);
    in_set (s->hosts, &s->nhosts, (uint32_t) hash_string (flow->dst_ip));
    if (s->reported || (s->nports < SCAN_PORTS && s->nhosts < SCAN_HOSTS))
        return;
    s->reported = true;
    char reason[128];
    snprintf (reason, sizeof reason, "scan on the mirror: %u ports, %u hosts in %d s",
              s->nports, s->nhosts, self->cfg->correlation.window);
    evidence_t e = { .ip = flow->src_ip, .kind = "scanner", .source = TOPIC_TAP_FLOW,
                     .reason = reason, .severity = 7,
                     .points = (uint32_t) self->cfg->correlation.scoring.scanner };
    evidence (self, &e);
}

/*  A risky flow, or a protocol worth a look: dpi_threat evidence.           */
/*  A risky flow, or a protocol worth a look: dpi_threat evidence — at once
    for what speaks of the client, after a moment for what speaks of the
    server (a self-signed certificate on our own HAProxy is no evidence).  */
static void
flow_threat (correlator_t *self, const join_flow_t *flow, const Dpidual__V1__FlowEvent *ev)
{
    char reason[160] = "", server[160] = "";
    for (size_t i = 0; i < ev->n_risks && !reason[0]; i++) {
        if (listed (s_client_risks, ev->risks[i]))
            snprintf (reason, sizeof reason, "nDPI risk: %s (%s)", ev->risks[i], flow->proto);
        else if (!server[0] && listed (s_server_risks, ev->risks[i]))
            snprintf (server, sizeof server, "nDPI risk: %s (%s)", ev->risks[i], flow->proto);
    }
    for (size_t i = 0; s_suspicious_protos[i] && !reason[0]; i++)
        if ((ev->app_protocol_name && strcmp (ev->app_protocol_name, s_suspicious_protos[i]) == 0)
            || (ev->master_protocol_name
                && strcmp (ev->master_protocol_name, s_suspicious_protos[i]) == 0))
            snprintf (reason, sizeof reason, "%s on the mirror", s_suspicious_protos[i]);
    if (!reason[0]) {
        if (server[0])
            hold_risk (self, flow, server);
        return;
    }
    evidence_t e = { .ip = flow->src_ip, .community_id = flow->community_id,
                     .kind = "dpi_threat", .source = TOPIC_TAP_FLOW, .reason = reason,
                     .flow = flow, .severity = 6,
                     .points = (uint32_t) self->cfg->correlation.scoring.dpi_threat };
    evidence (self, &e);
}

void
correlator_flow (correlator_t *self, const Dpidual__V1__FlowEvent *ev, const char *source)
{
    self->counters[CORRELATOR_FLOWS]++;
    if (self->input)
        see_time (self, ev->last_seen * 1000000ull);
    const join_flow_t *flow = join_flow (self->join, ev, source, correlator_now (self));
    if (ev->event != DPIDUAL__V1__FLOW_EVENT__EVENT__DETECTED || !ev->src_ip || !ev->community_id)
        return;
    /*  The flow just held (the newest of its client's): unless its
        community_id was cut to fit the join, the one with EV's.           */
    if (flow && strcmp (flow->community_id, ev->community_id) == 0) {
        flow_threat (self, flow, ev);
        track_scan (self, flow);
    }
}

void
correlator_request (correlator_t *self, const Dpidual__V1__HttpRequest *req)
{
    self->counters[CORRELATOR_REQUESTS]++;
    if (self->input)
        see_time (self, req->ts_ns);
    join_request (self->join, req, correlator_now (self));
    add_frontend (self, req->frontend_ip, req->frontend_port);
    if (!req->request_id || !req->request_id[0])
        return;
    req_memo_t *m = memo_slot (self, req->request_id);
    copy_text (m->request_id, sizeof m->request_id, req->request_id);
    copy_text (m->host, sizeof m->host, req->host);
    copy_text (m->path, sizeof m->path, req->path);
    copy_text (m->community_id, sizeof m->community_id, req->community_id);
}

void
correlator_verdict (correlator_t *self, const Dpidual__V1__Verdict *v)
{
    self->counters[CORRELATOR_VERDICTS]++;
    if (v->action != DPIDUAL__V1__VERDICT__ACTION__BLOCK || !v->client_ip || !v->client_ip[0]
        || (v->reason && strcmp (v->reason, "ban-list") == 0))
        return;                 /* a ban enforced is not new evidence */
    const req_memo_t *m = v->request_id ? memo_slot (self, v->request_id) : NULL;
    bool known = m && strcmp (m->request_id, v->request_id) == 0;
    char reason[192];
    snprintf (reason, sizeof reason, "blocked live: %s %s%s%s", v->reason ? v->reason : "",
              v->rule_id ? v->rule_id : "", v->category && v->category[0] ? " " : "",
              v->category ? v->category : "");
    evidence_t e = { .ip = v->client_ip, .community_id = v->community_id,
                     .request_id = v->request_id, .host = known ? m->host : NULL,
                     .path = known ? m->path : NULL, .kind = "waf_block",
                     .source = TOPIC_MITM_VERDICT, .reason = reason, .severity = v->severity,
                     .points = (uint32_t) self->cfg->correlation.scoring.waf_block };
    evidence (self, &e);
}

/*  The evidence kind of a buffer.alert: an anomaly labelled scanner or
    brute-force is that, anything else a waf_alert.                         */
static const char *
alert_kind (const Dpidual__V1__Alert *a, uint32_t *points, const config_t *cfg)
{
    bool anomaly = a->kind && strcmp (a->kind, "anomaly") == 0;
    const char *label = anomaly && a->matched ? a->matched : "";
    if (strcmp (label, "scanner") == 0) {
        *points = (uint32_t) cfg->correlation.scoring.scanner;
        return "scanner";
    }
    if (strcmp (label, "brute-force") == 0) {
        *points = (uint32_t) cfg->correlation.scoring.brute_force;
        return "brute_force";
    }
    *points = (uint32_t) cfg->correlation.scoring.waf_alert;
    return "waf_alert";
}

void
correlator_alert (correlator_t *self, const Dpidual__V1__Alert *a)
{
    self->counters[CORRELATOR_ALERTS]++;
    if (self->input && a->request_ts_ns)
        see_time (self, a->request_ts_ns);
    if (!a->client_ip || !a->client_ip[0] || a->replay)
        return;                             /* a replay repeats what was seen */
    uint32_t points;
    const char *kind = alert_kind (a, &points, self->cfg);
    bool anomaly = a->kind && strcmp (a->kind, "anomaly") == 0;
    char reason[256];
    snprintf (reason, sizeof reason, "%s: %s (score %u%s%s)", anomaly ? "anomaly" : "CRS",
              a->message ? a->message : "", a->anomaly_score,
              a->category && a->category[0] ? ", " : "", a->category ? a->category : "");
    evidence_t e = { .ip = a->client_ip, .community_id = a->community_id,
                     .request_id = a->request_id, .host = a->host, .path = a->path,
                     .kind = kind, .source = TOPIC_BUFFER_ALERT, .reason = reason,
                     .points = points, .severity = a->severity };
    evidence (self, &e);
}

/*  One of our own bans, back from CrowdSec's stream.
    - New: while running, the echo of a push, enforced already; its id and
      end are noted (self->ours). In the first poll after a start, a ban we
      made before: published again (origin correlator) so a bridge that
      restarted meanwhile holds it too, and the HAProxy ACL and the
      reputation get its expiry — unless the state says the operator lifted
      it (a known address, not banned) or it is whitelisted now.
    - Deleted more than a minute before the end noted: an operator's
      `cscli decisions delete` (an expiry comes at the end; our own unban's
      deletion finds the reputation forgiven, not banned): the ban is lifted
      here too and the score forgiven, as `dpi-dualctl unban` does. A
      deletion of a decision not noted is left alone.                      */
#define OURS_EXPIRY_SLACK_NS (60 * NS)
static void
restore_ours (correlator_t *self, const lapi_decision_t *d)
{
    uint64_t now = correlator_now (self);
    ours_t *o = &self->ours[hash_mix64 (d->id) % OURS_MAX];
    rep_entry_t e;
    if (d->deleted) {
        bool early = o->id == d->id && now + OURS_EXPIRY_SLACK_NS < o->until_ns;
        if (o->id == d->id)
            o->id = 0;
        if (early && strcmp (d->scope, "ip") == 0 && reputation_get (self->rep, d->value, now, &e)
            && e.banned_until_ns > now) {
            self->counters[CORRELATOR_BANS_LIFTED_IN_CROWDSEC]++;
            correlator_decide (self, false, d->value, 0, "our decision deleted in CrowdSec",
                               "crowdsec");
            reputation_forgive (self->rep, d->value, now);  /* as an operator's unban */
        }
        return;
    }
    if (d->duration_s > 0)
        *o = (ours_t) { d->id, now + (uint64_t) d->duration_s * NS };
    if (!d->startup || d->duration_s <= 0 || strcmp (d->type, "ban") != 0)
        return;
    bool known = strcmp (d->scope, "ip") == 0 && reputation_get (self->rep, d->value, now, &e);
    if ((known && e.banned_until_ns <= now)
        || (strcmp (d->scope, "ip") == 0 && reputation_whitelisted (self->rep, d->value)))
        return;
    self->counters[CORRELATOR_BANS_RESTORED]++;
    correlator_decide (self, true, d->value, (uint64_t) d->duration_s,
                       "restored at start: our ban, still held by CrowdSec", "correlator");
}

void
correlator_lapi (correlator_t *self)
{
    lapi_decision_t d[64];
    size_t n = lapi_take (self->lapi, d, 64);
    for (size_t i = 0; i < n; i++) {
        if (strcmp (d[i].origin, "dpi-dual") == 0) {
            restore_ours (self, &d[i]);
            continue;
        }
        self->counters[CORRELATOR_CROWDSEC_DECISIONS]++;
        char reason[192];
        snprintf (reason, sizeof reason, "CrowdSec %s: %s (%s)", d[i].type, d[i].scenario,
                  d[i].origin);
        if (d[i].deleted || d[i].duration_s <= 0) {
            correlator_decide (self, false, d[i].value, 0, reason, "crowdsec");
            continue;
        }
        correlator_decide (self, true, d[i].value, (uint64_t) d[i].duration_s, reason,
                           "crowdsec");
        if (strcmp (d[i].scope, "ip") != 0)
            continue;
        evidence_t e = { .ip = d[i].value, .kind = "crowdsec_ban", .source = "crowdsec",
                         .reason = reason, .severity = 8,
                         .points = (uint32_t) self->cfg->correlation.scoring.crowdsec_ban };
        evidence (self, &e);
    }
}

void
correlator_tick (correlator_t *self)
{
    uint64_t now = correlator_now (self);
    join_expire (self->join, now);
    pending_risks (self, now, false);
    if (self->haproxy)
        haproxy_tick (self->haproxy);
    uint64_t mono = bus_mono_ns ();
    if (!self->input && mono >= self->state_due_ns) {
        char why[512];
        if (reputation_save (self->rep, self->state_path, now, why, sizeof why) != 0) {
            self->counters[CORRELATOR_STATE_ERRORS]++;
            log_warning ("%s", why);
        }
        self->state_due_ns = mono + 60 * NS;
    }
    if (self->cfg->global.compat && mono >= self->compat_due_ns) {
        correlator_compat_reputation (self);
        self->compat_due_ns = mono + 10 * NS;
    }
}

void
correlator_finish (correlator_t *self)
{
    join_flush (self->join);
    pending_risks (self, UINT64_MAX, true);
    self->state_due_ns = 0;
    self->compat_due_ns = 0;
    correlator_tick (self);
}

static void
offline_message (void *arg, const char *topic, const ProtobufCMessage *msg)
{
    correlator_t *self = arg;
    if (strcmp (topic, TOPIC_TAP_FLOW) == 0)
        correlator_flow (self, (const Dpidual__V1__FlowEvent *) msg, "offline");
    else if (strcmp (topic, TOPIC_MITM_REQUEST) == 0)
        correlator_request (self, (const Dpidual__V1__HttpRequest *) msg);
    else if (strcmp (topic, TOPIC_MITM_VERDICT) == 0)
        correlator_verdict (self, (const Dpidual__V1__Verdict *) msg);
    else if (strcmp (topic, TOPIC_BUFFER_ALERT) == 0)
        correlator_alert (self, (const Dpidual__V1__Alert *) msg);
}

int
correlator_offline_work (correlator_t *self, size_t max)
{
    if (self->input_done)
        return -1;
    self->input_done = jsonl_in_read (self->input, max, offline_message, self) == 0;
    join_expire (self->join, correlator_now (self));
    pending_risks (self, correlator_now (self), false);
    return self->input_done ? -1 : 1;
}
