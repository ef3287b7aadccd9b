/*  output.c — what dpi-buffer gives out: alerts (bus or stdout), the
    forensic record, heartbeat counters, the summary (buffer.h).            */
#include <string.h>

#include "buffer.h"
#include "log.h"
#include "pbjson.h"
#include "topics.h"

static const char *const s_counter_names[] = {
#define BUFFER_COUNTER_NAME(ID, NAME) NAME,
    BUFFER_COUNTERS (BUFFER_COUNTER_NAME)
#undef BUFFER_COUNTER_NAME
};

/*  The categories counted for the compat file; the last one is "other".  */
static const char *const s_categories[] = {
    "sqli", "xss", "lfi", "rfi", "rce", "php", "java", "protocol", "scanner",
    "session-fixation", "generic", "anomaly", "other",
};

static void
count_category (buffer_t *self, const char *category)
{
    size_t n = sizeof s_categories / sizeof s_categories[0];
    size_t i = 0;
    while (i < n - 1 && strcmp (s_categories[i], category ? category : "") != 0)
        i++;
    self->by_category[i]++;
}

const char *
buffer_category_name (size_t index)
{
    return index < sizeof s_categories / sizeof s_categories[0] ? s_categories[index] : NULL;
}

void
buffer_emit (buffer_t *self, Dpidual__V1__Alert *alert)
{
    count_category (self, alert->category);
    if (self->pub) {
        bus_pub_send (self->pub, TOPIC_BUFFER_ALERT, &alert->base);
        return;
    }
    if (!self->output)
        return;
    pbjson_buf_t line = { 0 };
    if (pbjson_append (&line, TOPIC_BUFFER_ALERT, &alert->base) == 0
        && pbjson_buf_puts (&line, "\n", 1) == 0) {
        if (outfile_write (self->output, line.data, line.len) != 0)
            self->counters[BUFFER_OUTPUT_ERRORS]++;
    }
    pbjson_buf_free (&line);
}

/*  The forensic record of a job: the request as `tail` prints it, with
    "analysis" added.                                                        */
static void
forensic_record (buffer_t *self, const job_t *job, bool alerted)
{
    int mode = self->cfg->buffer.forensic.mode;
    if (!self->forensic || !job->req || (mode == CONFIG_FORENSIC_ALERTS && !alerted))
        return;
    const waf_result_t *r = job_result (job);
    pbjson_buf_t rec = { 0 };
    char tail[256];
    int rc = pbjson_append (&rec, TOPIC_MITM_REQUEST, &job->req->base);
    if (rc == 0 && rec.len > 1) {
        rec.len--;                          /* the closing brace */
        snprintf (tail, sizeof tail,
                  ",\"analysis\":{\"score\":%u,\"category\":\"%s\",\"alerted\":%s,"
                  "\"paranoia\":%d,\"replay\":%s,\"rule_ids\":[",
                  r->score, r->category, alerted ? "true" : "false",
                  job->paranoia, job->replay ? "true" : "false");
        rc = pbjson_buf_puts (&rec, tail, strlen (tail));
        for (size_t i = 0; rc == 0 && i < r->rule_count; i++) {
            snprintf (tail, sizeof tail, "%s\"%u\"", i ? "," : "", r->rules[i].id);
            rc = pbjson_buf_puts (&rec, tail, strlen (tail));
        }
        if (rc == 0)
            rc = pbjson_buf_puts (&rec, "]}}", 3);
    }
    if (rc == 0)
        forensic_append (self->forensic, rec.data, rec.len);
    else
        self->counters[BUFFER_FORENSIC_SKIPPED]++;
    pbjson_buf_free (&rec);
}

/*  Keep a finished (first, not replay) analysis on its ring entry.          */
static void
keep_result (buffer_t *self, const job_t *job, bool alerted)
{
    ring_entry_t *entry = ring_get (self->ring, job->seq);
    if (!entry)
        return;                             /* overwritten meanwhile */
    const waf_result_t *r = job_result (job);
    entry->analysed = true;
    entry->score = r->score;
    entry->severity = r->severity;
    entry->alerted = entry->alerted || alerted;
    snprintf (entry->category, sizeof entry->category, "%s", r->category);
    entry->rule_count = 0;
    for (size_t i = 0; i < r->rule_count && i < RING_RULES_MAX; i++)
        entry->rules[entry->rule_count++] = r->rules[i].id;
}

static void
handle_job (buffer_t *self, job_t *job)
{
    if (job->rc != 0)
        self->counters[BUFFER_ANALYSIS_ERRORS]++;
    if (!job->replay)
        self->counters[BUFFER_ANALYSED]++;
    if (job->replay && job->replay_status)
        self->counters[BUFFER_REPLAY_SENT]++;
    if (job->replay && job->replay_error[0])
        self->counters[BUFFER_REPLAY_SEND_ERRORS]++;
    uint32_t score = job_result (job)->score;
    bool alert = job->req && score >= (uint32_t) self->cfg->buffer.inbound_threshold;
    if (!job->replay)
        keep_result (self, job, alert);
    if (job->req && (alert || (self->output_all && !job->replay))) {
        Dpidual__V1__Alert msg = DPIDUAL__V1__ALERT__INIT;
        alert_from_job (&msg, job);
        self->counters[job->replay ? BUFFER_REPLAY_ALERTS : BUFFER_ALERTS_WAF] += alert;
        buffer_emit (self, &msg);
        alert_clear (&msg);
    }
    if (!job->replay)
        forensic_record (self, job, alert);
    int on_score = self->cfg->buffer.replay_on_score;
    if (alert && !job->replay && !self->input && on_score > 0
        && score >= (uint32_t) on_score)        /* offline: no replays */
        buffer_replay (self, job->req->client_ip, "score", NULL, NULL);
}

void
buffer_results (buffer_t *self)
{
    job_t *job;
    while ((job = pool_take (self->pool))) {
        handle_job (self, job);
        buffer_job_done (self, job);
        job_free (job);
    }
}

size_t
buffer_counters (buffer_t *self, heartbeat_counter_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < BUFFER_COUNTER_COUNT && n < max; i++)
        out[n++] = (heartbeat_counter_t) { s_counter_names[i], self->counters[i] };
    ring_stats_t r = ring_stats (self->ring);
    anomaly_stats_t a = anomaly_stats (self->anomaly);
    heartbeat_counter_t more[] = {
        { "ring_entries", r.entries }, { "ring_bytes", r.bytes },
        { "ring_clients", r.clients }, { "ring_overwritten", r.overwritten },
        { "ring_evicted_memory", r.evicted_memory },
        { "queue_depth", pool_queued (self->pool) },
        { "queue_max", pool_queued_max (self->pool) },
        { "anomaly_clients", a.clients }, { "anomaly_evicted", a.evicted },
        { "crs_rules", self->crs ? waf_rule_count (self->crs->waf[0]) : 0 },
        { "forensic_records", self->forensic ? forensic_stats (self->forensic).records : 0 },
        { "forensic_write_errors",
          self->forensic ? forensic_stats (self->forensic).write_errors : 0 },
        { "query_requests", self->query ? query_stats (self->query).requests : 0 },
        { "query_bad_requests", self->query ? query_stats (self->query).bad_requests : 0 },
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0] && n < max; i++)
        out[n++] = more[i];
    return n;
}

void
buffer_summary (buffer_t *self)
{
    const uint64_t *k = self->counters;
    log_info ("%llu requests (%llu unusable), %llu analysed, %llu not analysed (queue full), "
              "%llu CRS alerts, %llu anomaly alerts, %llu replays (%llu alerts)",
              (unsigned long long) k[BUFFER_REQUESTS],
              (unsigned long long) (k[BUFFER_BAD_MESSAGES] + k[BUFFER_OVERSIZED]),
              (unsigned long long) k[BUFFER_ANALYSED], (unsigned long long) k[BUFFER_NOT_ANALYSED],
              (unsigned long long) k[BUFFER_ALERTS_WAF], (unsigned long long) k[BUFFER_ALERTS_ANOMALY],
              (unsigned long long) k[BUFFER_REPLAYS], (unsigned long long) k[BUFFER_REPLAY_ALERTS]);
    if (self->input)
        log_info ("%s: %llu lines, %llu not understood", jsonl_in_name (self->input),
                  (unsigned long long) k[BUFFER_INPUT_LINES],
                  (unsigned long long) k[BUFFER_INPUT_ERRORS]);
}
