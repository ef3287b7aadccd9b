/*  test_api_metrics.c — unit test for api/metrics.c: heartbeats (and a
    tap.stats) of two workers into Prometheus text: every family has HELP
    and TYPE once, before its series; labels worker and host on every
    series, escaped; counters end in _total; the worker's own counters;
    a stale worker is dpi_up 0; nothing known prints nothing.
    With an argument FILE, also writes the text there (it_api.sh gives it
    to promtool).

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "tally.h"

static Dpidual__V1__Heartbeat *
heartbeat (const char *name, const char *host)
{
    Dpidual__V1__Heartbeat *hb = calloc (1, sizeof *hb);
    dpidual__v1__heartbeat__init (hb);
    hb->name = (char *) name;
    hb->host = (char *) host;
    hb->interval_s = 5;
    hb->uptime_s = 42;
    static Dpidual__V1__TopicCounter tc = DPIDUAL__V1__TOPIC_COUNTER__INIT;
    tc.topic = (char *) "tap.flow";
    tc.sent = 10;
    tc.unheard = 2;
    static Dpidual__V1__TopicCounter *tcs[] = { &tc };
    hb->published = tcs;
    hb->n_published = 1;
    static Dpidual__V1__SourceCounter sc = DPIDUAL__V1__SOURCE_COUNTER__INIT;
    sc.source = (char *) "collector@h\"1";
    sc.received = 7;
    sc.gaps = 1;
    static Dpidual__V1__SourceCounter *scs[] = { &sc };
    hb->received = scs;
    hb->n_received = 1;
    static Dpidual__V1__Counter c1 = DPIDUAL__V1__COUNTER__INIT, c2 = DPIDUAL__V1__COUNTER__INIT;
    c1.name = (char *) "queue_depth";
    c1.value = 3;
    c2.name = (char *) "odd-name.x";
    c2.value = 4;
    static Dpidual__V1__Counter *cs[] = { &c1, &c2 };
    hb->counters = cs;
    hb->n_counters = 2;
    return hb;
}

int
main (int argc, char **argv)
{
    tally_t t = { 0 };
    topo_workers_t w = { 0 };
    pbjson_buf_t out = { 0 };
    check (&t, metrics_print (&out, &w, 0, 5) == 0 && out.len == 0, "nothing known: empty");

    topo_worker_t *a = topo_workers_add (&w, NULL), *b = topo_workers_add (&w, NULL);
    uint64_t now = 100000000000ull;
    a->hb = heartbeat ("collector", "h\"1");
    a->hb_at = now - 1000000000ull;
    Dpidual__V1__TapStats st = DPIDUAL__V1__TAP_STATS__INIT;
    st.interface = (char *) "eth0";
    st.packets = 1000;
    st.capture_dropped = 5;
    a->stats = &st;
    b->hb = heartbeat ("buffer", "h2\nx");
    b->hb_at = now - 20000000000ull;           /* 20 s > 3 x 5 s: stale */
    check (&t, metrics_print (&out, &w, now, 5) == 0, "print");
    const char *text = out.data ? out.data : "";
    if (argc > 1) {
        FILE *f = fopen (argv[1], "w");
        if (f) {
            fputs (text, f);
            fclose (f);
        }
    }
    check (&t, strstr (text, "# HELP dpi_up ") && strstr (text, "# TYPE dpi_up gauge\n"),
           "dpi_up has HELP and TYPE");
    check (&t, strstr (text, "dpi_up{worker=\"collector\",host=\"h\\\"1\"} 1\n") != NULL,
           "up, host escaped");
    check (&t, strstr (text, "dpi_up{worker=\"buffer\",host=\"h2\\nx\"} 0\n") != NULL,
           "stale: 0, newline escaped");
    check (&t, strstr (text, "dpi_published_messages_total{worker=\"collector\",host=\"h\\\"1\","
                             "topic=\"tap.flow\"} 10\n") != NULL, "published");
    check (&t, strstr (text, "dpi_unheard_messages_total{worker=\"collector\",host=\"h\\\"1\","
                             "topic=\"tap.flow\"} 2\n") != NULL, "unheard");
    check (&t, strstr (text, "dpi_gaps_total{worker=\"buffer\",host=\"h2\\nx\","
                             "source=\"collector@h\\\"1\"} 1\n") != NULL, "gaps, source escaped");
    check (&t, strstr (text, "dpi_worker_value{worker=\"buffer\",host=\"h2\\nx\","
                             "counter=\"queue_depth\"} 3\n") != NULL, "own counter");
    check (&t, strstr (text, "counter=\"odd_name_x\"} 4\n") != NULL, "a counter name sanitised");
    check (&t, strstr (text, "dpi_capture_packets_total{worker=\"collector\",host=\"h\\\"1\","
                             "interface=\"eth0\"} 1000\n") != NULL, "tap.stats packets");
    check (&t, strstr (text, "dpi_capture_dropped_total{worker=\"collector\",host=\"h\\\"1\","
                             "interface=\"eth0\"} 5\n") != NULL, "tap.stats drops");
    check (&t, strstr (text, "dpi_capture_packets_total{worker=\"buffer\"") == NULL,
           "no capture series for a worker without tap.stats");
    /* every TYPE once; every counter family ends in _total */
    int types = 0, bad = 0;
    for (const char *p = text; (p = strstr (p, "# TYPE ")); p++) {
        types++;
        char name[128], type[32];
        if (sscanf (p, "# TYPE %127s %31s", name, type) != 2)
            bad++;
        else {
            char again[160];
            snprintf (again, sizeof again, "# TYPE %s ", name);
            if (strstr (p + 1, again))
                bad++;
            size_t len = strlen (name);
            if (strcmp (type, "counter") == 0 && (len < 6 || strcmp (name + len - 6, "_total")))
                bad++;
        }
    }
    check (&t, types == 19 && bad == 0, "19 families, each once, counters _total (%d, %d bad)",
           types, bad);
    a->stats = NULL;
    free (a->hb);
    free (b->hb);
    a->hb = b->hb = NULL;
    topo_workers_clear (&w);
    pbjson_buf_free (&out);
    return tally_report (&t);
}
