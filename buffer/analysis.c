/*  analysis.c — one request's deep analysis, on a pool thread, and the
    alert made of it (buffer.h).                                             */
#include <stdlib.h>
#include <string.h>

#include "buffer.h"

job_t *
job_new (const ring_entry_t *entry, bool replay)
{
    job_t *job = calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->packed = malloc (entry->packed_len ? entry->packed_len : 1);
    if (!job->packed) {
        free (job);
        return NULL;
    }
    memcpy (job->packed, entry->packed, entry->packed_len);
    job->packed_len = entry->packed_len;
    job->seq = entry->seq;
    job->replay = replay;
    return job;
}

void
job_free (void *arg)
{
    job_t *job = arg;
    if (!job)
        return;
    if (job->req)
        dpidual__v1__http_request__free_unpacked (job->req, NULL);
    free (job->packed);
    free (job->result);
    free (job);
}

const waf_result_t *
job_result (const job_t *job)
{
    static const waf_result_t none;
    return job->result ? job->result : &none;
}

/*  pool_fn: runs on an analysis thread; touches only JOB and the read-only
    rule set of this thread (crs.h).                                         */
void
job_run (void *arg, void *job_arg)
{
    const buffer_t *self = arg;
    job_t *job = job_arg;
    job->req = dpidual__v1__http_request__unpack (NULL, job->packed_len, job->packed);
    if (job->req)
        job->result = malloc (sizeof *job->result); /* waf_analyse clears it */
    if (!job->result) {
        job->rc = -1;
        return;
    }
    waf_t *waf = crs_for (job->crs, job->replay, pool_thread_index ());
    job->paranoia = waf_paranoia (waf);
    job->rc = waf_analyse (waf, job->req, job->result);
    if (job->replay && self->cfg->buffer.replay_target[0])
        replay_send (self->cfg, job);
}

/*  The rule that explains the alert best: the most severe (lowest CRS
    severity number) attack rule, else the first.                           */
static const waf_rule_t *
main_rule (const waf_result_t *r)
{
    const waf_rule_t *best = r->rule_count ? &r->rules[0] : NULL;
    for (size_t i = 1; i < r->rule_count; i++)
        if (r->rules[i].severity < best->severity)
            best = &r->rules[i];
    return best;
}

static size_t
distinct_tags (const waf_result_t *r, char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < r->rule_count; i++)
        for (size_t t = 0; t < r->rules[i].tag_count; t++) {
            char *tag = (char *) r->rules[i].tags[t];
            size_t j = 0;
            while (j < n && strcmp (out[j], tag) != 0)
                j++;
            if (j == n && n < max)
                out[n++] = tag;
        }
    return n;
}

void
alert_from_job (Dpidual__V1__Alert *alert, const job_t *job)
{
    const Dpidual__V1__HttpRequest *req = job->req;
    const waf_result_t *r = job_result (job);
    size_t n = r->rule_count;
    alert->rule_ids = calloc (n ? n : 1, sizeof (char *));
    alert->messages = calloc (n ? n : 1, sizeof (char *));
    alert->tags = calloc (n * WAF_TAGS_MAX + 1, sizeof (char *));
    char *ids = n ? calloc (n, 12) : NULL;        /* rule_ids[0] owns it */
    size_t kept = 0;                /* a rule matching twice is listed once */
    for (size_t i = 0; alert->rule_ids && alert->messages && ids && i < n; i++) {
        size_t j = 0;
        while (j < i && r->rules[j].id != r->rules[i].id)
            j++;
        if (j < i)
            continue;
        snprintf (ids + 12 * kept, 12, "%u", r->rules[i].id);
        alert->rule_ids[kept] = ids + 12 * kept;
        alert->messages[kept++] = (char *) r->rules[i].msg;
    }
    if (!alert->rule_ids || !alert->messages || !ids)
        kept = 0;
    alert->n_rule_ids = alert->n_messages = kept;
    alert->n_tags = alert->tags ? distinct_tags (r, alert->tags, n * WAF_TAGS_MAX) : 0;
    const waf_rule_t *best = main_rule (r);
    alert->request_id = req->request_id;
    alert->community_id = req->community_id;
    alert->client_ip = req->client_ip;
    alert->host = req->host;
    alert->path = req->path;
    alert->method = req->method;
    alert->request_ts_ns = req->ts_ns;
    alert->anomaly_score = r->score;
    alert->category = (char *) r->category;
    alert->severity = r->severity;
    alert->message = best ? (char *) best->msg : "";
    alert->matched = best ? (char *) best->data : "";
    alert->replay = job->replay;
    alert->paranoia = (uint32_t) job->paranoia;
    alert->kind = "waf";
    alert->replay_status = job->replay_status;
}

void
alert_clear (Dpidual__V1__Alert *alert)
{
    free (alert->n_rule_ids ? alert->rule_ids[0] : NULL);   /* the ids' block */
    free (alert->rule_ids);
    free (alert->messages);
    free (alert->tags);
    alert->rule_ids = alert->messages = alert->tags = NULL;
}
