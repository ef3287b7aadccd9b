/*  test_bridge_latency.c — unit test for bridge-mitm/latency.c and the
    threats.log line of bridge-mitm/threatlog.c.

    Latency: percentiles within the histogram's 1/16 bucket width of the
    exact values (uniform, skewed, tiny and huge values), empty and reset.
    threats.log: the line is one JSON object with every documented field,
    the severity words, the "METHOD path?query" request, appends to the
    file in DIR.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "latency.h"
#include "threatlog.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errtext.h"
#include "tally.h"


/*  GOT is at least EXACT and within 1/16 above it.                         */

/*  threatlog_new, its errors as one text in ERR.                            */
static threatlog_t *
open_log (const char *dir, char *err, size_t errlen)
{
    config_errors_t errors = { 0 };
    threatlog_t *log = threatlog_new (dir, &errors);
    errtext (&errors, err, errlen);
    return log;
}
static bool
close_to (uint64_t got, uint64_t exact)
{
    return got >= exact && got <= exact + exact / 16 + 1;
}

static void
test_latency (tally_t *t)
{
    latency_t *h = latency_new ();
    check (t, latency_percentile (h, 50) == 0 && latency_count (h) == 0, "empty");
    for (uint64_t v = 1; v <= 100000; v++)
        latency_add (h, v * 10);                /* 10 ns .. 1 ms */
    check (t, latency_count (h) == 100000 && latency_max (h) == 1000000, "count, max");
    uint64_t p50 = latency_percentile (h, 50), p99 = latency_percentile (h, 99);
    check (t, close_to (p50, 500000), "uniform p50 %llu", (unsigned long long) p50);
    check (t, close_to (p99, 990000), "uniform p99 %llu", (unsigned long long) p99);
    check (t, latency_percentile (h, 100) == 1000000, "p100 = max");
    latency_reset (h);
    check (t, latency_count (h) == 0 && latency_max (h) == 0, "reset");

    for (int i = 0; i < 990; i++)
        latency_add (h, 3000);
    for (int i = 0; i < 10; i++)
        latency_add (h, 5000000);
    check (t, close_to (latency_percentile (h, 50), 3000)
                  && close_to (latency_percentile (h, 99), 3000)
                  && latency_percentile (h, 99.5) == 5000000, "skewed: p99 %llu, p99.5 %llu",
           (unsigned long long) latency_percentile (h, 99),
           (unsigned long long) latency_percentile (h, 99.5));
    latency_reset (h);
    latency_add (h, 0);
    latency_add (h, 7);
    latency_add (h, UINT64_MAX);
    check (t, latency_percentile (h, 1) == 0 && latency_percentile (h, 50) == 7
                  && latency_percentile (h, 100) == UINT64_MAX, "exact below 16, top bucket");
    latency_destroy (&h);
    check (t, h == NULL, "destroy clears the pointer");
}

static void
test_threatlog (tally_t *t, const char *dir)
{
    check (t, strcmp (threatlog_severity_word (1), "low") == 0
                  && strcmp (threatlog_severity_word (3), "low") == 0
                  && strcmp (threatlog_severity_word (4), "medium") == 0
                  && strcmp (threatlog_severity_word (6), "medium") == 0
                  && strcmp (threatlog_severity_word (7), "high") == 0
                  && strcmp (threatlog_severity_word (8), "high") == 0
                  && strcmp (threatlog_severity_word (9), "critical") == 0
                  && strcmp (threatlog_severity_word (10), "critical") == 0, "severity words");
    char sub[600], err[256];
    snprintf (sub, sizeof sub, "%s/compat/deeper", dir);
    threatlog_t *log = open_log (sub, err, sizeof err);
    if (!check (t, log != NULL, "threatlog_new creates the directory: %s", err))
        return;
    threatlog_entry_t e = {
        .ts_ns = 1795651199ull * 1000000000ull + 999,       /* 2026-11-25T23:59:59Z */
        .source_ip = "198.51.100.7", .method = "GET", .path = "/search", .query = "q=1' or 1=1",
        .host = "shop.example", .user_agent = "sqlmap/1.7 \"quoted\"",
        .category = "sqli", .pattern = "sqli-tautology", .reason = "rule", .severity = 8,
        .matched = "q=1' or 1=1", .request_id = "r-1", .community_id = "1:abc=",
        .flow_id = "9f0c",
    };
    check (t, threatlog_write (log, &e) == 0, "write 1");
    threatlog_entry_t ban = { .ts_ns = e.ts_ns, .source_ip = "203.0.113.1", .method = "POST",
                              .path = "/login", .category = "ban", .pattern = "ban-list",
                              .reason = "ban-list", .severity = 10 };
    check (t, threatlog_write (log, &ban) == 0, "write 2");
    check (t, threatlog_reopen (log) == 0 && threatlog_write (log, &ban) == 0, "reopen, write 3");
    char path[700];
    snprintf (path, sizeof path, "%s/threats.log", sub);
    check (t, strcmp (threatlog_path (log), path) == 0, "path");
    threatlog_destroy (&log);

    FILE *f = fopen (path, "r");
    char line[4096];
    int lines = 0;
    while (f && fgets (line, sizeof line, f)) {
        lines++;
        json_error_t error;
        json_t *o = json_loads (line, 0, &error);
        if (!check (t, o && json_is_object (o), "line %d is a JSON object: %s", lines, error.text))
            continue;
        const char *fields[] = { "timestamp", "source_ip", "request", "host", "user_agent",
                                 "type", "pattern", "category", "severity", "severity_score",
                                 "reason", "matched", "request_id", "community_id", "flow_id",
                                 "action", NULL };
        for (int i = 0; fields[i]; i++)
            check (t, json_object_get (o, fields[i]) != NULL, "line %d has %s", lines, fields[i]);
        check (t, json_object_size (o) == 16, "no other field");
        check (t, strcmp (json_string_value (json_object_get (o, "timestamp")),
                          "2026-11-25T23:59:59Z") == 0, "ISO 8601 UTC timestamp");
        check (t, strcmp (json_string_value (json_object_get (o, "action")), "blocked") == 0,
               "action");
        if (lines == 1) {
            check (t, strcmp (json_string_value (json_object_get (o, "request")),
                              "GET /search?q=1' or 1=1") == 0, "request with query");
            check (t, strcmp (json_string_value (json_object_get (o, "severity")), "high") == 0
                          && json_integer_value (json_object_get (o, "severity_score")) == 8,
                   "severity 8 = high");
            check (t, strcmp (json_string_value (json_object_get (o, "type")), "sqli") == 0
                          && strcmp (json_string_value (json_object_get (o, "pattern")),
                                     "sqli-tautology") == 0, "type, pattern");
            check (t, strcmp (json_string_value (json_object_get (o, "user_agent")),
                              "sqlmap/1.7 \"quoted\"") == 0, "escaped user agent");
        }
        else {
            check (t, strcmp (json_string_value (json_object_get (o, "request")), "POST /login") == 0,
                   "request without query");
            check (t, strcmp (json_string_value (json_object_get (o, "severity")), "critical") == 0
                          && strcmp (json_string_value (json_object_get (o, "pattern")),
                                     "ban-list") == 0, "ban line");
            check (t, strcmp (json_string_value (json_object_get (o, "host")), "") == 0,
                   "absent strings are empty");
        }
        json_decref (o);
    }
    if (f)
        fclose (f);
    check (t, lines == 3, "3 lines appended: %d", lines);
    threatlog_t *bad = open_log ("/proc/nonexistent/x", err, sizeof err);
    check (t, bad == NULL && strstr (err, "/proc/nonexistent/x") != NULL, "bad dir: %s", err);
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_bridge_latency.XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        return 1;
    }
    test_latency (&t);
    test_threatlog (&t, dir);
    remove_tree (dir);
    return tally_report (&t);
}
