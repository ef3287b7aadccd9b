/*  latency.h — a small latency histogram ("HDR-lite") in nanoseconds.

    Values below 16 ns get a bucket each; above, every power of two is cut
    into 16 linear sub-buckets, so a bucket spans at most 1/16 of its
    value: a percentile is exact to about 6 %, over the whole uint64 range,
    in 976 counters (7.8 KB) with O(1) insertion (a count-leading-zeros and
    two shifts). Percentiles walk the buckets and return the upper bound of
    the bucket holding the rank, never more than the maximum seen.

    Not thread safe: one histogram per thread.                              */
#ifndef DPI_BRIDGE_LATENCY_H
#define DPI_BRIDGE_LATENCY_H

#include <stdint.h>

typedef struct latency_t latency_t;

latency_t *latency_new (void);
void latency_destroy (latency_t **self_p);

/*  Record one value (ns).                                                   */
void latency_add (latency_t *self, uint64_t ns);

/*  The value at PERCENT (0..100] of the recorded values; 0 when empty.     */
uint64_t latency_percentile (latency_t *self, double percent);

uint64_t latency_count (latency_t *self);
uint64_t latency_max (latency_t *self);

/*  Forget every value.                                                      */
void latency_reset (latency_t *self);

#endif
