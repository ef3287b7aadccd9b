/*  workers.c — see workers.h.                                               */
#include "workers.h"

#include <stddef.h>
#include <string.h>

static const worker_info_t s_workers[WORKER_COUNT] = {
#define WORKER_INFO_ROW(ID, NAME, KEY, TOPICS) \
    { WORKER_##ID, NAME, "bus.endpoints." KEY, TOPICS },
    WORKER_LIST (WORKER_INFO_ROW)
#undef WORKER_INFO_ROW
};

const worker_info_t *
worker_info (worker_id_t id)
{
    return &s_workers[id];
}

const worker_info_t *
worker_find (const char *name)
{
    for (int i = 0; i < WORKER_COUNT; i++)
        if (strcmp (s_workers[i].name, name) == 0)
            return &s_workers[i];
    return NULL;
}
