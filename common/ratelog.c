/*  ratelog.c — see ratelog.h.                                               */
#include "ratelog.h"

#include <time.h>

bool
ratelog_due (ratelog_t *self, uint64_t *unlogged)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
    self->total++;
    if (self->last_ns != 0 && now - self->last_ns < RATELOG_INTERVAL_NS) {
        self->unlogged++;
        return false;
    }
    *unlogged = self->unlogged;
    self->unlogged = 0;
    self->last_ns = now;
    return true;
}
