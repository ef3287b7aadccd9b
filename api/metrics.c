/*  metrics.c — see metrics.h.                                               */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

typedef Dpidual__V1__Heartbeat hb_t;

typedef struct {
    pbjson_buf_t *out;
    int rc;
} printer_t;

static void
put (printer_t *p, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
static void
put (printer_t *p, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    p->rc |= pbjson_buf_vprintf (p->out, format, args);
    va_end (args);
}

/*  TEXT as a label value (escaped) into OUT.                               */
static const char *
label (char *out, size_t outlen, const char *text)
{
    size_t n = 0;
    for (const char *s = text ? text : ""; *s && n + 3 < outlen; s++) {
        if (*s == '\\' || *s == '"') {
            out[n++] = '\\';
            out[n++] = *s;
        }
        else if (*s == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        }
        else
            out[n++] = *s;
    }
    out[n] = 0;
    return out;
}

static void
family (printer_t *p, const char *name, const char *type, const char *help)
{
    put (p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef struct {
    const topo_workers_t *workers;
    uint64_t now;
    int interval;
} ctx_t;

/*  The worker's labels, worker="..",host="..".                               */
static void
who (const hb_t *hb, char *out, size_t outlen)
{
    char w[256], h[256];
    snprintf (out, outlen, "worker=\"%s\",host=\"%s\"", label (w, sizeof w, hb->name),
              label (h, sizeof h, hb->host));
}

typedef enum {
    F_UP, F_AGE, F_UPTIME, F_PUB, F_PUB_ERR, F_UNHEARD, F_RX, F_GAPS, F_RESTARTS, F_OOO,
    F_DECODE, F_AUTH, F_COUNTER, F_CAP_PACKETS, F_CAP_BYTES, F_CAP_DROPPED, F_CAP_IF_DROPPED,
    F_CAP_FLOWS, F_CAP_ACTIVE, F_COUNT
} fam_t;

static const struct {
    const char *name, *type, *help;
} s_families[F_COUNT] = {
    [F_UP] = { "dpi_up", "gauge", "1 when the worker's last heartbeat is current, 0 when stale" },
    [F_AGE] = { "dpi_heartbeat_age_seconds", "gauge", "Seconds since the worker's last heartbeat" },
    [F_UPTIME] = { "dpi_uptime_seconds", "gauge", "The worker's uptime at its last heartbeat" },
    [F_PUB] = { "dpi_published_messages_total", "counter", "Messages published, per topic" },
    [F_PUB_ERR] = { "dpi_publish_errors_total", "counter", "Messages that could not be sent" },
    [F_UNHEARD] = { "dpi_unheard_messages_total", "counter",
                    "Messages sent while no subscriber wanted the topic" },
    [F_RX] = { "dpi_received_messages_total", "counter", "Messages received, per source" },
    [F_GAPS] = { "dpi_gaps_total", "counter", "Messages lost (sequence gaps), per source" },
    [F_RESTARTS] = { "dpi_restarts_total", "counter", "Restarts of a source seen" },
    [F_OOO] = { "dpi_out_of_order_total", "counter", "Messages out of order or duplicated" },
    [F_DECODE] = { "dpi_decode_errors_total", "counter", "Bus messages that did not decode" },
    [F_AUTH] = { "dpi_auth_refused_total", "counter", "CURVE clients refused" },
    [F_COUNTER] = { "dpi_worker_value", "gauge",
                    "A worker's own heartbeat counter, as the worker reports it" },
    [F_CAP_PACKETS] = { "dpi_capture_packets_total", "counter", "Packets captured (tap.stats)" },
    [F_CAP_BYTES] = { "dpi_capture_bytes_total", "counter", "Bytes captured (tap.stats)" },
    [F_CAP_DROPPED] = { "dpi_capture_dropped_total", "counter",
                        "Packets dropped by the capture (pcap_stats ps_drop)" },
    [F_CAP_IF_DROPPED] = { "dpi_capture_if_dropped_total", "counter",
                           "Packets dropped by the interface (pcap_stats ps_ifdrop)" },
    [F_CAP_FLOWS] = { "dpi_capture_flows_total", "counter", "Flows seen (tap.stats)" },
    [F_CAP_ACTIVE] = { "dpi_capture_active_flows", "gauge", "Flows held now (tap.stats)" },
};

static void
series (printer_t *p, const ctx_t *c, fam_t f, const topo_worker_t *tw)
{
    const hb_t *hb = tw->hb;
    const char *name = s_families[f].name;
    char me[600], v[256], v2[256];
    who (hb, me, sizeof me);
    double age = (double) (c->now - tw->hb_at) / 1e9;
    unsigned interval = hb->interval_s ? hb->interval_s : (unsigned) c->interval;
    switch (f) {
        case F_UP:
            put (p, "%s{%s} %d\n", name, me, age > 3.0 * interval ? 0 : 1);
            break;
        case F_AGE:
            put (p, "%s{%s} %.3f\n", name, me, age);
            break;
        case F_UPTIME:
            put (p, "%s{%s} %llu\n", name, me, (unsigned long long) hb->uptime_s);
            break;
        case F_PUB: case F_PUB_ERR: case F_UNHEARD:
            for (size_t i = 0; i < hb->n_published; i++) {
                const Dpidual__V1__TopicCounter *t = hb->published[i];
                uint64_t value = f == F_PUB ? t->sent : f == F_PUB_ERR ? t->send_errors : t->unheard;
                put (p, "%s{%s,topic=\"%s\"} %llu\n", name, me, label (v, sizeof v, t->topic),
                     (unsigned long long) value);
            }
            break;
        case F_RX: case F_GAPS: case F_RESTARTS: case F_OOO:
            for (size_t i = 0; i < hb->n_received; i++) {
                const Dpidual__V1__SourceCounter *s = hb->received[i];
                uint64_t value = f == F_RX ? s->received : f == F_GAPS ? s->gaps
                                 : f == F_RESTARTS ? s->restarts : s->out_of_order;
                put (p, "%s{%s,source=\"%s\"} %llu\n", name, me, label (v, sizeof v, s->source),
                     (unsigned long long) value);
            }
            break;
        case F_DECODE:
            put (p, "%s{%s} %llu\n", name, me, (unsigned long long) hb->decode_errors);
            break;
        case F_AUTH:
            put (p, "%s{%s} %llu\n", name, me, (unsigned long long) hb->auth_refused);
            break;
        case F_COUNTER:
            for (size_t i = 0; i < hb->n_counters; i++) {
                const char *cn = hb->counters[i]->name;
                size_t k = 0;
                for (; cn[k] && k + 1 < sizeof v2; k++)
                    v2[k] = (cn[k] >= 'a' && cn[k] <= 'z') || (cn[k] >= 'A' && cn[k] <= 'Z')
                                    || (cn[k] >= '0' && cn[k] <= '9') || cn[k] == '_'
                                ? cn[k] : '_';
                v2[k] = 0;
                put (p, "%s{%s,counter=\"%s\"} %llu\n", name, me, v2,
                     (unsigned long long) hb->counters[i]->value);
            }
            break;
        default: {
            const Dpidual__V1__TapStats *st = tw->stats;
            if (!st)
                break;
            uint64_t value = f == F_CAP_PACKETS ? st->packets : f == F_CAP_BYTES ? st->bytes
                             : f == F_CAP_DROPPED ? st->capture_dropped
                             : f == F_CAP_IF_DROPPED ? st->capture_if_dropped
                             : f == F_CAP_FLOWS ? st->flows_total : st->active_flows;
            char lane[32] = "";
            if (st->lanes > 1)
                snprintf (lane, sizeof lane, ",lane=\"%u\"", st->lane);
            put (p, "%s{%s,interface=\"%s\"%s} %llu\n", name, me,
                 label (v, sizeof v, st->interface), lane, (unsigned long long) value);
        }
    }
}

int
metrics_print (pbjson_buf_t *out, const topo_workers_t *workers, uint64_t now_mono_ns,
               int default_interval)
{
    printer_t p = { out, 0 };
    ctx_t c = { workers, now_mono_ns, default_interval };
    for (int f = 0; f < F_COUNT; f++) {
        bool any = false;
        for (size_t i = 0; i < workers->count; i++)
            any |= workers->items[i].hb != NULL
                   && (f < F_CAP_PACKETS || workers->items[i].stats != NULL);
        if (!any)
            continue;
        family (&p, s_families[f].name, s_families[f].type, s_families[f].help);
        for (size_t i = 0; i < workers->count; i++)
            if (workers->items[i].hb)
                series (&p, &c, (fam_t) f, &workers->items[i]);
    }
    if (out->len == 0)
        p.rc |= pbjson_buf_puts (out, "", 0);
    return p.rc ? -1 : 0;
}
