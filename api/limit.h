/*  limit.h — token buckets: one (an event stream's rate), and a bounded
    table of them keyed by client address (the per-client request rate).

    A bucket holds up to BURST tokens and gains RATE a second; taking one
    from an empty bucket fails. The table has LIMIT_SLOTS slots: an address
    is looked for in LIMIT_PROBE slots from its hash; a new address takes
    an empty one or, all full, the one idle longest (its history is lost:
    it starts again with a full bucket). Time is the caller's (monotonic
    ns), so tests need no clock. One thread.                                */
#ifndef DPI_API_LIMIT_H
#define DPI_API_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define LIMIT_SLOTS 1024
#define LIMIT_PROBE 8

typedef struct {
    double tokens;
    uint64_t last_ns;                   /* 0: never used (full)              */
} bucket_t;

/*  Take one token at NOW_NS: true, or false when empty.                     */
bool bucket_take (bucket_t *b, double rate, double burst, uint64_t now_ns);

typedef struct limit_t limit_t;

limit_t *limit_new (double rate, double burst);
void limit_destroy (limit_t **self_p);

/*  May ADDRESS (text, at most 63 bytes used) make a request at NOW_NS?     */
bool limit_allow (limit_t *self, const char *address, uint64_t now_ns);

/*  Addresses whose slot was taken by another (the table was full).         */
uint64_t limit_evicted (const limit_t *self);

#endif
