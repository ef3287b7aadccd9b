/*  buffer.c — dpi-buffer's state and ingest (buffer.h).                    */
#define _GNU_SOURCE                 /* strcasestr */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buffer.h"
#include "log.h"
#include "pbjson.h"
#include "topics.h"

/*  A request over this many packed bytes is refused: the addon's largest
    record is 64 KiB, so anything beyond twice that is not one of ours.     */
#define REQUEST_MAX_BYTES (128 * 1024)
#define REPLAY_COOLDOWN_NS (60ull * 1000000000ull)
/*  Clients the anomaly scoring tracks (~900 bytes each: ~14 MiB at most). */
#define BUFFER_ANOMALY_CLIENTS 16384

/*  THREADS rule sets (crs.h), or none when buffer.modsecurity_conf is ""
    or its default and absent. 0, or -1 with the reasons in ERRORS.         */
static int
open_waf (buffer_t *self, const config_t *cfg, size_t threads, config_errors_t *errors)
{
    const char *conf = cfg->buffer.modsecurity_conf;
    if (conf[0] == '\0' || (config_is_default (cfg, "buffer.modsecurity_conf")
                            && access (conf, F_OK) != 0)) {
        log_warning ("buffer.modsecurity_conf: %s: no CRS analysis, anomaly scoring only",
                     conf[0] ? "default file absent" : "empty");
        return 0;
    }
    size_t from = errors->count;
    self->crs = crs_load (cfg, threads, errors);
    if (!self->crs) {
        config_errors_blame (errors, from, cfg, "buffer.modsecurity_conf");
        return -1;
    }
    log_info ("CRS loaded from %s: %zu rules, paranoia %d (replays at %d), a set for each "
              "of %zu analysis threads", conf, waf_rule_count (self->crs->waf[0]),
              cfg->buffer.paranoia, cfg->buffer.replay_paranoia, threads);
    return 0;
}

static int
open_parts (buffer_t *self, const config_t *cfg, bool offline, config_errors_t *errors)
{
    if (open_waf (self, cfg, (size_t) cfg->buffer.analysis_threads, errors))
        return -1;
    self->ring = ring_new ((size_t) cfg->buffer.size, (size_t) cfg->buffer.memory_mb << 20);
    anomaly_params_t params = {
        .window_s = (uint32_t) cfg->buffer.anomaly_window,
        .threshold = (uint32_t) cfg->buffer.anomaly_threshold,
        .max_clients = BUFFER_ANOMALY_CLIENTS,
    };
    self->anomaly = anomaly_new (&params);
    self->pool = pool_new ((size_t) cfg->buffer.analysis_threads,
                           (size_t) cfg->buffer.queue_size, job_run, self);
    if (!self->ring || !self->anomaly || !self->pool) {
        config_errors_add (errors, "dpi-buffer: out of memory (buffer.size %d)",
                           cfg->buffer.size);
        return -1;
    }
    if (cfg->buffer.replay_target[0] && curl_global_init (CURL_GLOBAL_DEFAULT) != 0) {
        config_errors_add (errors, "buffer.replay_target: libcurl does not start");
        return -1;
    }
    if (cfg->buffer.forensic.mode != CONFIG_FORENSIC_OFF
        && !(self->forensic = forensic_open (cfg, errors)))
        return -1;
    if (!offline && !(self->query = query_new (cfg, cfg->buffer.query_endpoint, buffer_query,
                                               self, errors)))
        return -1;
    return 0;
}

buffer_t *
buffer_new (const config_t *cfg, bus_pub_t *pub, const char *offline, bool all,
            config_errors_t *errors)
{
    buffer_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "dpi-buffer: out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->pub = pub;
    self->output_all = all;
    if (offline) {
        static const char *const topics[] = {
            TOPIC_MITM_REQUEST, TOPIC_MITM_RESPONSE, TOPIC_MITM_VERDICT, NULL,
        };
        self->input = jsonl_in_open (offline, topics, errors);
        if (!self->input) {
            buffer_destroy (&self);
            return NULL;
        }
        self->output = outfile_open ("-", errors);
    }
    if ((offline && !self->output) || open_parts (self, cfg, offline != NULL, errors)) {
        buffer_destroy (&self);
        return NULL;
    }
    return self;
}

void
buffer_destroy (buffer_t **self_p)
{
    buffer_t *self = *self_p;
    if (!self)
        return;
    pool_destroy (&self->pool, job_free);       /* threads stopped first */
    job_free (self->held);
    query_destroy (&self->query);
    forensic_close (&self->forensic);
    crs_free (&self->crs);
    crs_free (&self->old_crs);
    anomaly_destroy (&self->anomaly);
    ring_destroy (&self->ring);
    jsonl_in_close (&self->input);
    outfile_close (&self->output);
    free (self);
    *self_p = NULL;
}

int
buffer_check (const config_t *cfg, config_errors_t *errors)
{
    buffer_t probe = { .cfg = cfg };
    int rc = open_waf (&probe, cfg, 1, errors);
    crs_free (&probe.crs);
    if (cfg->buffer.forensic.mode != CONFIG_FORENSIC_OFF) {
        uint8_t key[FORENSIC_KEY_BYTES];
        char why[256];
        if (forensic_key_load (cfg->buffer.forensic.key_file, key, why, sizeof why) != 0) {
            size_t from = errors->count;
            config_errors_add (errors, "%s", why);
            config_errors_blame (errors, from, cfg, "buffer.forensic.key_file");
            rc = -1;
        }
    }
    return rc;
}

static bool
bad_message (buffer_t *self, buffer_counter_t counter, const char *what)
{
    self->counters[counter]++;
    uint64_t unlogged;
    if (ratelog_due (&self->bad_log, &unlogged))
        log_warning ("dropped: %s (%llu more not logged)", what, (unsigned long long) unlogged);
    return false;
}

/*  A request we can use: an id, a client address, within the size bound. */
static bool
request_usable (buffer_t *self, const Dpidual__V1__HttpRequest *req)
{
    unsigned char addr[16];
    if (!req->request_id || !req->request_id[0])
        return bad_message (self, BUFFER_BAD_MESSAGES, "mitm.request without request_id");
    if (!req->client_ip || (inet_pton (AF_INET, req->client_ip, addr) != 1
                            && inet_pton (AF_INET6, req->client_ip, addr) != 1))
        return bad_message (self, BUFFER_BAD_MESSAGES, "mitm.request with a bad client_ip");
    if (protobuf_c_message_get_packed_size (&req->base) > REQUEST_MAX_BYTES)
        return bad_message (self, BUFFER_OVERSIZED, "mitm.request over 128 KiB");
    return true;
}

static job_t *
buffer_job (buffer_t *self, const ring_entry_t *entry, bool replay)
{
    job_t *job = job_new (entry, replay);
    if (job) {
        job->crs = self->crs;
        job->generation = self->generation;
    }
    return job;
}

static bool
has_credentials (const Dpidual__V1__HttpRequest *req)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i]->name && strcasecmp (req->headers[i]->name, "authorization") == 0)
            return true;
    return req->method && strcmp (req->method, "POST") == 0 && req->path
        && (strcasestr (req->path, "login") || strcasestr (req->path, "signin")
            || strcasestr (req->path, "auth"));
}

void
buffer_request (buffer_t *self, const Dpidual__V1__HttpRequest *req)
{
    self->counters[BUFFER_REQUESTS]++;
    if (!request_usable (self, req))
        return;
    ring_entry_t *entry = ring_insert (self->ring, req);
    if (!entry) {
        bad_message (self, BUFFER_OVERSIZED, "mitm.request larger than buffer.memory_mb");
        return;
    }
    entry->credentials = has_credentials (req);
    anomaly_request_t a = {
        .client_ip = req->client_ip, .ts_ns = entry->ts_ns, .method = req->method,
        .path = req->path, .query = req->query, .user_agent = req->user_agent,
        .has_credentials = entry->credentials,
    };
    anomaly_request (self->anomaly, &a);
    job_t *job = self->crs ? buffer_job (self, entry, false) : NULL;
    if (job && pool_submit (self->pool, job) == 0)
        return;
    if (job && self->input) {               /* offline: wait, lose nothing */
        self->held = job;
        return;
    }
    job_free (job);
    if (self->crs) {
        entry->not_analysed = true;
        self->counters[BUFFER_NOT_ANALYSED]++;
    }
}

/*  The alert of a client whose anomaly score is due, on the request ENTRY
    whose response tipped it.                                                */
static void
anomaly_alert (buffer_t *self, const ring_entry_t *entry, const anomaly_result_t *result)
{
    Dpidual__V1__HttpRequest *req = ring_request (entry);
    if (!req)
        return;
    Dpidual__V1__Alert alert = DPIDUAL__V1__ALERT__INIT;
    char *reasons[ANOMALY_REASONS_MAX];
    for (size_t i = 0; i < result->reason_count; i++)
        reasons[i] = (char *) result->reasons[i];
    char message[96];
    snprintf (message, sizeof message, "anomalous client (%s): score %u", result->label,
              result->score);
    alert.request_id = req->request_id;
    alert.community_id = req->community_id;
    alert.client_ip = req->client_ip;
    alert.host = req->host;
    alert.path = req->path;
    alert.method = req->method;
    alert.request_ts_ns = entry->ts_ns;
    alert.anomaly_score = result->score;
    alert.category = "anomaly";
    alert.kind = "anomaly";
    alert.matched = (char *) result->label;
    alert.message = message;
    alert.severity = result->score >= 90 ? 8 : result->score >= 75 ? 6 : 4;
    alert.n_reasons = result->reason_count;
    alert.reasons = reasons;
    self->counters[BUFFER_ALERTS_ANOMALY]++;
    buffer_emit (self, &alert);
    dpidual__v1__http_request__free_unpacked (req, NULL);
}

void
buffer_response (buffer_t *self, const Dpidual__V1__HttpResponse *resp)
{
    self->counters[BUFFER_RESPONSES]++;
    ring_entry_t *entry = resp->request_id ? ring_find_request (self->ring, resp->request_id)
                                           : NULL;
    if (!entry) {
        self->counters[BUFFER_RESPONSES_UNMATCHED]++;
        return;
    }
    entry->status = resp->status;
    entry->response_error = resp->error && resp->error[0];
    entry->latency_us = resp->latency_us;
    uint64_t ts = resp->ts_ns ? resp->ts_ns : entry->ts_ns;
    anomaly_response (self->anomaly, entry->client_ip, ts, resp->status, entry->credentials);
    anomaly_result_t result;
    if (anomaly_check (self->anomaly, entry->client_ip, ts, &result))
        anomaly_alert (self, entry, &result);
}

void
buffer_verdict (buffer_t *self, const Dpidual__V1__Verdict *verdict)
{
    self->counters[BUFFER_VERDICTS]++;
    if (verdict->action == DPIDUAL__V1__VERDICT__ACTION__BLOCK)
        self->blocked++;
    ring_entry_t *entry = verdict->request_id
                            ? ring_find_request (self->ring, verdict->request_id) : NULL;
    if (entry)
        entry->verdict = (int) verdict->action;
}

void
buffer_decision (buffer_t *self, const Dpidual__V1__Decision *decision)
{
    self->counters[BUFFER_DECISIONS]++;
    if (decision->action != DPIDUAL__V1__DECISION__ACTION__BAN || !decision->value
        || strchr (decision->value, '/'))
        return;                             /* ranges: nothing to replay by ip */
    if (decision->origin && strcmp (decision->origin, "resync") == 0)
        return;                             /* a ban replayed already, sent again to a bridge */
    buffer_replay (self, decision->value, "decision", NULL, NULL);
}

static bool
replayed_recently (buffer_t *self, const char *ip)
{
    uint64_t now = bus_mono_ns ();
    size_t n = sizeof self->recent / sizeof self->recent[0];
    for (size_t i = 0; i < n; i++)
        if (self->recent[i].at_ns && strcmp (self->recent[i].ip, ip) == 0
            && now - self->recent[i].at_ns < REPLAY_COOLDOWN_NS)
            return true;
    snprintf (self->recent[self->recent_next].ip, RING_IP_MAX, "%s", ip);
    self->recent[self->recent_next].at_ns = now;
    self->recent_next = (self->recent_next + 1) % n;
    return false;
}

int
buffer_replay (buffer_t *self, const char *ip, const char *trigger, size_t *queued,
               size_t *not_queued)
{
    size_t ok = 0, refused = 0;
    ring_entry_t *entry = ring_client_first (self->ring, ip);
    if (!entry || !self->crs || (strcmp (trigger, "query") != 0
                                        && replayed_recently (self, ip))) {
        if (queued)
            *queued = 0, *not_queued = 0;
        return entry ? 0 : -1;
    }
    for (; entry; entry = ring_client_next (self->ring, entry)) {
        job_t *job = buffer_job (self, entry, true);
        if (job && pool_submit (self->pool, job) == 0)
            ok++;
        else {
            job_free (job);
            refused++;
        }
    }
    self->counters[BUFFER_REPLAYS]++;
    self->counters[BUFFER_REPLAYED] += ok;
    self->counters[BUFFER_REPLAY_NOT_QUEUED] += refused;
    log_info ("replay of %s (%s): %zu requests queued at paranoia %d%s%s", ip, trigger, ok,
              self->cfg->buffer.replay_paranoia, refused ? ", some not: queue full" : "",
              self->cfg->buffer.replay_target[0] ? ", resent to buffer.replay_target" : "");
    if (queued)
        *queued = ok, *not_queued = refused;
    return 0;
}

/*  A job came back: the last one of replaced rules frees them.              */
void
buffer_job_done (buffer_t *self, const job_t *job)
{
    if (job->generation == self->generation || self->old_jobs == 0 || --self->old_jobs > 0)
        return;
    crs_free (&self->old_crs);
    log_info ("the rules replaced by the reload are no longer in use: freed");
}

void
buffer_reload (buffer_t *self)
{
    if (!self->crs)
        return;
    if (self->old_crs) {
        log_warning ("SIGHUP: the previous rules are still in use by queued requests; "
                     "not reloaded, send SIGHUP again later");
        return;
    }
    buffer_t fresh = { .cfg = self->cfg };
    config_errors_t errors = { 0 };
    if (open_waf (&fresh, self->cfg, self->crs->count, &errors) != 0 || !fresh.crs) {
        log_error ("SIGHUP: rules not reloaded, those in use stay:");
        config_errors_log (&errors);
        config_errors_clear (&errors);
        return;
    }
    self->old_crs = self->crs;
    self->old_jobs = pool_pending (self->pool) + (self->held != NULL);
    self->crs = fresh.crs;
    self->generation++;
    if (self->old_jobs == 0) {
        job_t none = { .generation = self->generation - 1 };
        self->old_jobs = 1;
        buffer_job_done (self, &none);
    }
    log_info ("SIGHUP: rules reloaded (%zu rules)", waf_rule_count (self->crs->waf[0]));
}

void
buffer_tick (buffer_t *self)
{
    uint64_t now = bus_mono_ns ();
    if (self->forensic)
        forensic_tick (self->forensic);
    if (self->cfg->global.compat && now >= self->compat_due_ns) {
        buffer_compat_write (self);
        self->compat_due_ns = now + 10ull * 1000000000ull;
    }
}
