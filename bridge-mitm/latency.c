/*  latency.c — see latency.h.                                               */
#include "latency.h"

#include <stdlib.h>
#include <string.h>

#define SUB_BITS 4
#define SUB_COUNT (1u << SUB_BITS)                      /* 16                */
#define BUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)       /* 976               */

struct latency_t {
    uint64_t count;
    uint64_t max;
    uint64_t buckets[BUCKETS];
};

/*  Bucket of V: V itself below 16, else 16 per power of two.               */
static unsigned
bucket_of (uint64_t v)
{
    if (v < SUB_COUNT)
        return (unsigned) v;
    unsigned exponent = 63u - (unsigned) __builtin_clzll (v);       /* >= 4 */
    unsigned sub = (unsigned) (v >> (exponent - SUB_BITS)) & (SUB_COUNT - 1);
    return (exponent - SUB_BITS + 1) * SUB_COUNT + sub;
}

/*  Largest value that falls in bucket B.                                    */
static uint64_t
bucket_top (unsigned b)
{
    if (b < SUB_COUNT)
        return b;
    unsigned exponent = b / SUB_COUNT + SUB_BITS - 1;
    uint64_t sub = b % SUB_COUNT;
    uint64_t low = (1ull << exponent) | (sub << (exponent - SUB_BITS));
    return low + ((1ull << (exponent - SUB_BITS)) - 1);
}

latency_t *
latency_new (void)
{
    return calloc (1, sizeof (latency_t));
}

void
latency_destroy (latency_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

void
latency_add (latency_t *self, uint64_t ns)
{
    self->buckets[bucket_of (ns)]++;
    self->count++;
    if (ns > self->max)
        self->max = ns;
}

uint64_t
latency_percentile (latency_t *self, double percent)
{
    if (self->count == 0)
        return 0;
    double wanted = percent / 100.0 * (double) self->count;
    uint64_t rank = (uint64_t) wanted;
    if ((double) rank < wanted || rank == 0)
        rank++;                                 /* ceil, at least the first */
    if (rank > self->count)
        rank = self->count;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += self->buckets[b];
        if (seen >= rank) {
            uint64_t top = bucket_top (b);
            return top < self->max ? top : self->max;
        }
    }
    return self->max;
}

uint64_t
latency_count (latency_t *self)
{
    return self->count;
}

uint64_t
latency_max (latency_t *self)
{
    return self->max;
}

void
latency_reset (latency_t *self)
{
    memset (self, 0, sizeof *self);
}
