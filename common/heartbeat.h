/*  heartbeat.h — the sys.heartbeat every worker publishes.

    Every bus.heartbeat_interval seconds a worker publishes, on its own
    publisher: name, host, pid, version, uptime, its interval, the endpoints
    it bound or connected, the topic prefixes it subscribed to, what it
    published per topic, what it received per source (with the gaps seen
    and the age of the last message), both with their rate since the
    previous heartbeat, the messages it could not decode, and counters of
    its own, then heap_in_use and heap_free (heapstat.h). The worker calls
    heartbeat_tick from its loop; it sends only
    when due.                                                               */
#ifndef DPI_HEARTBEAT_H
#define DPI_HEARTBEAT_H

#include "bus.h"

typedef struct heartbeat_t heartbeat_t;

typedef struct {
    const char *name;
    uint64_t value;
} heartbeat_counter_t;

/*  A heartbeat for the worker publishing on PUB; SUB (may be NULL) is the
    worker's subscriber. Neither is owned.                                   */
heartbeat_t *heartbeat_new (const config_t *cfg, bus_pub_t *pub, bus_sub_t *sub);
void heartbeat_destroy (heartbeat_t **self_p);

/*  Publish if the interval has passed (or FORCE). 1 sent, 0 not due,
    -1 send error.                                                          */
int heartbeat_tick (heartbeat_t *self, const heartbeat_counter_t *counters, size_t count,
                    bool force);

/*  Milliseconds until the next heartbeat is due (0 if due): a poll timeout. */
int heartbeat_wait_ms (heartbeat_t *self);

#endif
