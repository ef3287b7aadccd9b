/*  compat.c — COMPAT_DIR/dpi-buffer.json for SecuBox's LuCI/Streamlit views
    (global.compat), with SecuBox's field names, replaced atomically
    (outfile.h snapshots).                                                   */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buffer.h"
#include "log.h"

#define TOP_HOSTS 10
#define HIGH_SCORE 15               /* CRS score counted as a high threat     */

typedef struct {
    char host[128];
    uint64_t count;
} host_count_t;

static void
count_host (host_count_t *hosts, size_t *n, size_t max, const char *host)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp (hosts[i].host, host) == 0) {
            hosts[i].count++;
            return;
        }
    if (*n < max) {
        snprintf (hosts[*n].host, sizeof hosts[*n].host, "%s", host);
        hosts[(*n)++].count = 1;
    }
}

static int
by_count (const void *a, const void *b)
{
    const host_count_t *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp (x->host, y->host);
}

/*  "top_hosts" and "high_threat_in_buffer" from the ring.                   */
static json_t *
ring_view (buffer_t *self, uint64_t *high)
{
    static host_count_t hosts[1024];
    size_t n = 0;
    *high = 0;
    for (ring_entry_t *e = ring_newest (self->ring); e; e = ring_older (self->ring, e)) {
        *high += e->score >= HIGH_SCORE;
        Dpidual__V1__HttpRequest *req = ring_request (e);
        if (req && req->host)
            count_host (hosts, &n, sizeof hosts / sizeof hosts[0], req->host);
        if (req)
            dpidual__v1__http_request__free_unpacked (req, NULL);
    }
    qsort (hosts, n, sizeof hosts[0], by_count);
    json_t *top = json_array ();
    for (size_t i = 0; i < n && i < TOP_HOSTS; i++)
        json_array_append_new (top, json_pack ("{s:s, s:I}", "host", hosts[i].host, "count",
                                               (json_int_t) hosts[i].count));
    return top;
}

void
buffer_compat_write (buffer_t *self)
{
    const config_t *cfg = self->cfg;
    uint64_t high;
    json_t *top = ring_view (self, &high);
    json_t *dist = json_object ();
    for (size_t i = 0; buffer_category_name (i); i++)
        if (self->by_category[i])
            json_object_set_new (dist, buffer_category_name (i),
                                 json_integer ((json_int_t) self->by_category[i]));
    ring_stats_t r = ring_stats (self->ring);
    const uint64_t *k = self->counters;
    json_t *doc = json_pack (
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:b, s:b}",
        "timestamp", (json_int_t) time (NULL), "entries", (json_int_t) r.entries,
        "max_size", (json_int_t) ring_size (self->ring),
        "requests_total", (json_int_t) k[BUFFER_REQUESTS],
        "threats_detected", (json_int_t) (k[BUFFER_ALERTS_WAF] + k[BUFFER_ALERTS_ANOMALY]),
        "blocked_count", (json_int_t) self->blocked, "high_threat_in_buffer", (json_int_t) high,
        "threat_distribution", dist, "top_hosts", top, "analysis_enabled", self->crs != NULL,
        "replay_enabled", self->crs != NULL);
    char path[1024];
    snprintf (path, sizeof path, "%s/dpi-buffer.json", cfg->global.compat_dir);
    outfile_snapshot_t snap;
    FILE *f = outfile_snapshot_begin (&snap, path, 0);
    /* commit even after a failed dump: it sees the error and removes the file */
    if (!f || (json_dumpf (doc, f, JSON_INDENT (2)) | outfile_snapshot_commit (&snap)) != 0) {
        self->counters[BUFFER_OUTPUT_ERRORS]++;
        log_warning ("%s: cannot write: %s", path, strerror (errno));
    }
    json_decref (doc);
}
