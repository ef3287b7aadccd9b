/*  test_api_limit.c — unit test for api/limit.c and api/sse.c: a bucket
    gives its burst then RATE a second; the address table keeps addresses
    apart and, full, reuses the slot idle longest; an event stream queues
    within its rate, drops beyond it and beyond its queue, announces the
    drops once before the next frames, and splits a frame across reads.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "limit.h"
#include "sse.h"

#include <stdio.h>
#include <string.h>

#include "tally.h"

#define S 1000000000ull

int
main (void)
{
    tally_t t = { 0 };
    bucket_t b = { 0 };
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += bucket_take (&b, 2.0, 4.0, 5 * S);
    check (&t, ok == 4, "burst of 4: %d", ok);
    check (&t, !bucket_take (&b, 2.0, 4.0, 5 * S + S / 4), "empty a quarter second later");
    check (&t, bucket_take (&b, 2.0, 4.0, 5 * S + S / 2 + S / 100), "one token after half a second");
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += bucket_take (&b, 2.0, 4.0, 100 * S);
    check (&t, ok == 4, "refilled to the burst only: %d", ok);

    limit_t *l = limit_new (1.0, 2.0);
    check (&t, limit_allow (l, "192.0.2.1", S) && limit_allow (l, "192.0.2.1", S)
                   && !limit_allow (l, "192.0.2.1", S), "one address: 2 then refused");
    check (&t, limit_allow (l, "192.0.2.2", S), "another address has its own bucket");
    char a[32];
    for (int i = 0; i < 3 * LIMIT_SLOTS; i++) {
        snprintf (a, sizeof a, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        limit_allow (l, a, 2 * S + (uint64_t) i);
    }
    check (&t, limit_evicted (l) > 0, "a full table evicts (%llu)",
           (unsigned long long) limit_evicted (l));
    limit_destroy (&l);
    check (&t, l == NULL, "destroy NULLs");

    sse_client_t c;
    sse_client_init (&c, 5.0);
    int queued = 0;
    for (int i = 0; i < 30; i++)
        queued += sse_client_offer (&c, "flow", "{\"a\":1}", 7, S);
    check (&t, queued == 10 && c.dropped_total == 20, "rate 5: a burst of 10, 20 dropped");
    check (&t, sse_client_offer (&c, "flow", "a\nb", 3, 10 * S) == 0, "a newline in data: dropped");
    char buf[4096];
    size_t n = sse_client_read (&c, buf, sizeof buf);
    buf[n] = 0;
    check (&t, strncmp (buf, "event: dropped\ndata: {\"dropped\":21,\"dropped_total\":21}\n\n", 56)
                   == 0, "drops announced first: %.60s", buf);
    check (&t, strstr (buf, "event: flow\ndata: {\"a\":1}\n\n") != NULL, "then the frames");
    check (&t, c.count == 0 && c.sent == 10 && !sse_client_pending (&c), "all sent");
    n = sse_client_read (&c, buf, sizeof buf);
    check (&t, n == 0, "nothing more, and the drops announced once");
    sse_client_offer (&c, "alert", "{\"x\":\"0123456789\"}", 18, 20 * S);
    n = sse_client_read (&c, buf, 10);
    size_t m = sse_client_read (&c, buf + n, sizeof buf - n);
    buf[n + m] = 0;
    check (&t, n == 10 && strcmp (buf, "event: alert\ndata: {\"x\":\"0123456789\"}\n\n") == 0,
           "a frame split across two reads");
    sse_client_t q;
    sse_client_init (&q, 100000.0);
    for (int i = 0; i < SSE_QUEUE + 5; i++)
        sse_client_offer (&q, "flow", "{}", 2, S);
    check (&t, q.count == SSE_QUEUE && q.dropped_total == 5, "the queue bound");
    sse_client_clear (&q);
    sse_client_clear (&c);
    return tally_report (&t);
}
