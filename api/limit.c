/*  limit.c — see limit.h.                                                   */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"

bool
bucket_take (bucket_t *b, double rate, double burst, uint64_t now_ns)
{
    if (b->last_ns == 0 || now_ns < b->last_ns)
        b->tokens = burst;
    else
        b->tokens += (double) (now_ns - b->last_ns) / 1e9 * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ns = now_ns ? now_ns : 1;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

typedef struct {
    char address[64];                   /* "" empty                          */
    bucket_t bucket;
} slot_t;

struct limit_t {
    double rate, burst;
    uint64_t evicted;
    slot_t slots[LIMIT_SLOTS];
};

limit_t *
limit_new (double rate, double burst)
{
    limit_t *self = calloc (1, sizeof *self);
    if (self) {
        self->rate = rate;
        self->burst = burst < 1.0 ? 1.0 : burst;
    }
    return self;
}

void
limit_destroy (limit_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

static uint32_t
hash (const char *text)
{
    uint32_t h = 2166136261u;               /* FNV-1a */
    for (; *text; text++)
        h = (h ^ (uint8_t) *text) * 16777619u;
    return h;
}

bool
limit_allow (limit_t *self, const char *address, uint64_t now_ns)
{
    char key[64];
    snprintf (key, sizeof key, "%s", address);
    uint32_t h = hash (key);
    slot_t *found = NULL, *empty = NULL, *oldest = NULL;
    for (unsigned i = 0; i < LIMIT_PROBE && !found; i++) {
        slot_t *s = &self->slots[(h + i) % LIMIT_SLOTS];
        if (!*s->address) {
            if (!empty)
                empty = s;
        }
        else if (strcmp (s->address, key) == 0)
            found = s;
        else if (!oldest || s->bucket.last_ns < oldest->bucket.last_ns)
            oldest = s;
    }
    if (!found) {
        found = empty ? empty : oldest;
        if (!empty)
            self->evicted++;
        memset (found, 0, sizeof *found);
        snprintf (found->address, sizeof found->address, "%s", key);
    }
    return bucket_take (&found->bucket, self->rate, self->burst, now_ns);
}

uint64_t
limit_evicted (const limit_t *self)
{
    return self->evicted;
}
