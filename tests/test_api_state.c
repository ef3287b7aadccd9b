/*  test_api_state.c — unit test for api/state.c: the rings keep the newest
    max events and drop the oldest; filters by address, protocol (whole, a
    dot part, the L4 name, any case) and time; paging (offset, limit, the
    total); oversized texts are not kept; per-minute counters roll over
    after 60 minutes and never count an old minute as new.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "state.h"

#include <stdio.h>
#include <string.h>

#include "tally.h"

#define MIN_NS 60000000000ull

int
main (void)
{
    tally_t t = { 0 };
    api_state_t *s = api_state_new (10, 10, 10);
    check (&t, s != NULL, "new");
    uint64_t now = 1000 * MIN_NS;
    char text[64];
    for (int i = 0; i < 25; i++) {
        int len = snprintf (text, sizeof text, "{\"n\":%d}", i);
        const char *src = i % 2 ? "10.0.0.1" : "10.0.0.2";
        check (&t, api_state_add (s, API_KIND_FLOW, now, (uint64_t) i * 1000000000ull, text,
                                  (size_t) len, src, "192.0.2.9", i % 3 ? "TLS.Google" : "DNS",
                                  i % 3 ? "tcp" : "udp") == 0, "add %d", i);
    }
    check (&t, api_state_total (s, API_KIND_FLOW) == 25, "25 counted");
    check (&t, api_state_kept (s, API_KIND_FLOW) == 10, "10 kept");
    const char *out[32];
    size_t total;
    size_t n = api_state_find (s, API_KIND_FLOW, NULL, 0, 100, out, 32, &total);
    check (&t, n == 10 && total == 10, "all: %zu of %zu", n, total);
    check (&t, n && strcmp (out[0], "{\"n\":24}") == 0 && strcmp (out[9], "{\"n\":15}") == 0,
           "newest first, the oldest dropped");
    n = api_state_find (s, API_KIND_FLOW, NULL, 3, 4, out, 32, &total);
    check (&t, n == 4 && total == 10 && strcmp (out[0], "{\"n\":21}") == 0, "offset 3 limit 4");
    n = api_state_find (s, API_KIND_FLOW, NULL, 20, 4, out, 32, &total);
    check (&t, n == 0 && total == 10, "offset past the end");
    api_filter_t f = { .ip = "10.0.0.1" };
    n = api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, n == 5 && total == 5, "ip filter (source): %zu", n);
    f = (api_filter_t) { .ip = "192.0.2.9" };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, total == 10, "ip filter (destination)");
    f = (api_filter_t) { .ip = "10.0.0.3" };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, total == 0, "ip filter: nobody");
    f = (api_filter_t) { .proto = "dns" };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    size_t dns = total;
    f = (api_filter_t) { .proto = "google" };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, dns + total == 10 && dns == 4, "proto: dns %zu, a dot part google %zu", dns, total);
    f = (api_filter_t) { .proto = "TLS.GOOGLE" };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, total == 6, "proto: whole name, any case");
    f = (api_filter_t) { .proto = "UDP" };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, total == 4, "proto: the L4 name");
    f = (api_filter_t) { .proto = "goo" };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, total == 0, "proto: no prefix match");
    f = (api_filter_t) { .since_ns = 20 * 1000000000ull };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, total == 5, "since");
    f = (api_filter_t) { .ip = "10.0.0.1", .proto = "tls", .since_ns = 20 * 1000000000ull };
    api_state_find (s, API_KIND_FLOW, &f, 0, 100, out, 32, &total);
    check (&t, total == 1, "three filters at once: %zu", total); /* 23 (21 is DNS) */

    static char big[API_STATE_MAX_TEXT + 2];
    memset (big, 'x', sizeof big - 1);
    check (&t, api_state_add (s, API_KIND_ALERT, now, 1, big, sizeof big - 1, NULL, NULL, NULL,
                              NULL) == -1 && api_state_oversized (s) == 1
                   && api_state_kept (s, API_KIND_ALERT) == 0, "oversized not kept");
    check (&t, api_state_find (s, API_KIND_VERDICT, NULL, 0, 10, out, 32, &total) == 0,
           "verdicts are counted only");

    /* minutes */
    api_state_t *m = api_state_new (10, 10, 10);
    for (int i = 0; i < 3; i++)
        api_state_add (m, API_KIND_VERDICT, now, 0, NULL, 0, NULL, NULL, NULL, NULL);
    api_state_add (m, API_KIND_VERDICT, now + MIN_NS, 0, NULL, 0, NULL, NULL, NULL, NULL);
    check (&t, api_state_minute (m, API_KIND_VERDICT, now + MIN_NS, 0) == 1
                   && api_state_minute (m, API_KIND_VERDICT, now + MIN_NS, 1) == 3,
           "this minute 1, the previous 3");
    check (&t, api_state_minute (m, API_KIND_VERDICT, now + 61 * MIN_NS, 1) == 0,
           "60 minutes later the slot is not counted as new");
    api_state_add (m, API_KIND_VERDICT, now + 60 * MIN_NS, 0, NULL, 0, NULL, NULL, NULL, NULL);
    check (&t, api_state_minute (m, API_KIND_VERDICT, now + 60 * MIN_NS, 0) == 1,
           "a reused slot starts from 0");
    check (&t, api_state_minute (m, API_KIND_VERDICT, now, 60) == 0, "60 minutes ago: 0");
    check (&t, api_state_total (m, API_KIND_VERDICT) == 5, "total 5");
    api_state_destroy (&m);
    api_state_destroy (&s);
    check (&t, s == NULL, "destroy NULLs");
    return tally_report (&t);
}
