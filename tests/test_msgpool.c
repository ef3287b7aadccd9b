/*  test_msgpool.c — the publisher's payload ring: reuse in ring order,
    fallback to the heap when full, messages freed out of order and from
    ZeroMQ's I/O thread, the pool outliving its owner's release.            */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#include "msgpool.h"
#include "tally.h"

#define RING (64 * 1024)

static void
fill (zmq_msg_t *msg, unsigned seed)
{
    unsigned char *p = zmq_msg_data (msg);
    for (size_t i = 0; i < zmq_msg_size (msg); i++)
        p[i] = (unsigned char) (seed + i * 7);
}

static bool
intact (zmq_msg_t *msg, unsigned seed)
{
    const unsigned char *p = zmq_msg_data (msg);
    for (size_t i = 0; i < zmq_msg_size (msg); i++)
        if (p[i] != (unsigned char) (seed + i * 7))
            return false;
    return true;
}

/*  Many more bytes than the ring holds, each message freed before the next
    few: everything comes from the ring, across many wraps.                 */
static void
test_reuse (tally_t *t)
{
    msgpool_t *pool = msgpool_new (RING);
    zmq_msg_t held[4];
    size_t sizes[] = { 1, 300, 333, 1500, 17, 4000, 0, 64 };
    bool ok = true;
    unsigned n = 0;
    for (; n < 20000; n++) {
        zmq_msg_t *msg = &held[n % 4];
        if (n >= 4) {
            ok &= intact (msg, n - 4);
            zmq_msg_close (msg);
        }
        size_t size = sizes[n % 8];
        if (msgpool_msg_init (pool, msg, size) != 0 || zmq_msg_size (msg) != size) {
            ok = false;
            break;
        }
        fill (msg, n);
    }
    for (unsigned i = n - 4; i < n; i++) {
        ok &= intact (&held[i % 4], i);
        zmq_msg_close (&held[i % 4]);
    }
    check (t, ok, "20000 messages of mixed sizes keep their content until freed");
    check (t, msgpool_lent (pool) == 20000, "all from the ring: lent %llu",
           (unsigned long long) msgpool_lent (pool));
    check (t, msgpool_fallbacks (pool) == 0, "no fallback: %llu",
           (unsigned long long) msgpool_fallbacks (pool));
    msgpool_release (&pool);
    check (t, pool == NULL, "release clears the pointer");
}

/*  Held messages fill the ring: the next ones come from the heap; freeing a
    younger message does not free room (ring order), freeing the oldest does. */
static void
test_full (tally_t *t)
{
    msgpool_t *pool = msgpool_new (RING);
    enum { MAX = 200 };
    zmq_msg_t msgs[MAX];
    int n = 0;
    while (n < MAX && msgpool_fallbacks (pool) == 0) {
        check (t, msgpool_msg_init (pool, &msgs[n], 1000) == 0, "init %d", n);
        fill (&msgs[n], (unsigned) n);
        n++;
    }
    /* 64 KiB of 1016-byte slots: 64 lent, the 65th falls back */
    check (t, msgpool_lent (pool) == 64 && n == 65, "a full ring lends %llu, falls back at %d",
           (unsigned long long) msgpool_lent (pool), n);
    zmq_msg_close (&msgs[5]);
    zmq_msg_t extra;
    check (t, msgpool_msg_init (pool, &extra, 1000) == 0 && msgpool_fallbacks (pool) == 2,
           "a freed younger slot does not make room: fallbacks %llu",
           (unsigned long long) msgpool_fallbacks (pool));
    zmq_msg_close (&extra);
    zmq_msg_close (&msgs[0]);
    check (t, msgpool_msg_init (pool, &extra, 1000) == 0 && msgpool_lent (pool) == 65,
           "freeing the oldest makes room: lent %llu", (unsigned long long) msgpool_lent (pool));
    fill (&extra, 999);
    bool ok = true;
    for (int i = 1; i < n; i++)
        if (i != 5)
            ok &= intact (&msgs[i], (unsigned) i);
    check (t, ok && intact (&extra, 999), "no slot was handed out twice");
    /* a message bigger than an eighth of the ring always comes from the heap */
    zmq_msg_t big;
    uint64_t before = msgpool_fallbacks (pool);
    check (t, msgpool_msg_init (pool, &big, RING / 4) == 0 && zmq_msg_size (&big) == RING / 4
              && msgpool_fallbacks (pool) == before + 1, "a large message falls back");
    zmq_msg_close (&big);
    /* the owner lets go first; the pool goes with the last message (ASan) */
    msgpool_release (&pool);
    for (int i = 1; i < n; i++)
        if (i != 5)
            zmq_msg_close (&msgs[i]);
    zmq_msg_close (&extra);
}

typedef struct {
    zmq_msg_t *msgs;
    int count;
} closer_t;

static void *
close_all (void *arg)
{
    closer_t *c = arg;
    for (int i = 0; i < c->count; i++)
        zmq_msg_close (&c->msgs[i]);
    return NULL;
}

/*  Freed in another thread while the owner keeps lending (TSan/ASan).      */
static void
test_other_thread (tally_t *t)
{
    msgpool_t *pool = msgpool_new (RING);
    enum { ROUNDS = 200, BATCH = 40 };
    static zmq_msg_t msgs[2][BATCH];
    pthread_t thread;
    closer_t closer = { NULL, BATCH };
    bool running = false, ok = true;
    for (int r = 0; r < ROUNDS; r++) {
        zmq_msg_t *batch = msgs[r % 2];
        for (int i = 0; i < BATCH; i++) {
            ok &= msgpool_msg_init (pool, &batch[i], 200 + (size_t) i * 13) == 0;
            fill (&batch[i], (unsigned) (r * BATCH + i));
        }
        if (running)
            pthread_join (thread, NULL);
        for (int i = 0; i < BATCH; i++)
            ok &= intact (&batch[i], (unsigned) (r * BATCH + i));
        closer.msgs = batch;
        running = pthread_create (&thread, NULL, close_all, &closer) == 0;
        ok &= running;
    }
    if (running)
        pthread_join (thread, NULL);
    check (t, ok, "%d messages lent while another thread frees them", ROUNDS * BATCH);
    check (t, msgpool_lent (pool) + msgpool_fallbacks (pool) == ROUNDS * BATCH,
           "every message counted: lent %llu + fallbacks %llu",
           (unsigned long long) msgpool_lent (pool), (unsigned long long) msgpool_fallbacks (pool));
    msgpool_release (&pool);
}

/*  Through real ZeroMQ: PUSH/PULL over inproc, the I/O path frees them.    */
static void
test_zmq (tally_t *t)
{
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    int hwm = 0;
    zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    check (t, zmq_bind (pull, "tcp://127.0.0.1:*") == 0, "bind");
    char endpoint[256];
    size_t len = sizeof endpoint;
    zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &len);
    check (t, zmq_connect (push, endpoint) == 0, "connect %s", endpoint);
    msgpool_t *pool = msgpool_new (RING);
    enum { COUNT = 30000 };
    bool ok = true;
    int received = 0;
    for (int i = 0; i < COUNT; i++) {
        zmq_msg_t msg;
        ok &= msgpool_msg_init (pool, &msg, 100 + (size_t) (i % 500)) == 0;
        fill (&msg, (unsigned) i);
        ok &= zmq_msg_send (&msg, push, 0) >= 0;
        zmq_msg_t in;
        zmq_msg_init (&in);
        while (zmq_msg_recv (&in, pull, ZMQ_DONTWAIT) >= 0) {
            ok &= zmq_msg_size (&in) == 100 + (size_t) (received % 500) && intact (&in, (unsigned) received);
            received++;
        }
        zmq_msg_close (&in);
    }
    msgpool_release (&pool);                  /* messages may still be in flight */
    while (received < COUNT) {
        zmq_msg_t in;
        zmq_msg_init (&in);
        if (zmq_msg_recv (&in, pull, 0) < 0)
            break;
        ok &= zmq_msg_size (&in) == 100 + (size_t) (received % 500) && intact (&in, (unsigned) received);
        zmq_msg_close (&in);
        received++;
    }
    check (t, ok && received == COUNT, "%d of %d messages through tcp, content intact", received, COUNT);
    zmq_close (push);
    zmq_close (pull);
    zmq_ctx_term (ctx);
}

int
main (void)
{
    tally_t t = { 0 };
    test_reuse (&t);
    test_full (&t);
    test_other_thread (&t);
    test_zmq (&t);
    return tally_report (&t);
}
