/*  offline.c — dpi-buffer --offline FILE|-: JSON lines in (common/jsonl_in:
    mitm.request, mitm.response and mitm.verdict as `dpi-dualctl tail`
    prints them; other topics skipped; a bad line named with its number,
    counted, exit status 3 at the end), results out. Nothing is dropped for
    speed: when the analysis pool is full, reading waits for it (buffer.c
    holds the request).                                                      */
#include <string.h>

#include "buffer.h"
#include "topics.h"

static void
handle_message (void *arg, const char *topic, const ProtobufCMessage *msg)
{
    buffer_t *self = arg;
    if (strcmp (topic, TOPIC_MITM_REQUEST) == 0)
        buffer_request (self, (const Dpidual__V1__HttpRequest *) msg);
    else if (strcmp (topic, TOPIC_MITM_RESPONSE) == 0)
        buffer_response (self, (const Dpidual__V1__HttpResponse *) msg);
    else if (strcmp (topic, TOPIC_MITM_VERDICT) == 0)
        buffer_verdict (self, (const Dpidual__V1__Verdict *) msg);
}

int
buffer_offline_work (buffer_t *self, size_t max)
{
    buffer_results (self);
    if (self->held) {                       /* a request waiting for room */
        if (pool_submit (self->pool, self->held) != 0)
            return 0;
        self->held = NULL;
    }
    /* one line at a time while a request may be held back, so none is read
       past it */
    for (size_t i = 0; i < max && !self->input_done && !self->held; i++)
        self->input_done = jsonl_in_read (self->input, 1, handle_message, self) == 0;
    jsonl_in_stats_t in = jsonl_in_stats (self->input);
    self->counters[BUFFER_INPUT_LINES] = in.lines;
    self->counters[BUFFER_INPUT_ERRORS] = in.errors;
    if (!self->input_done)
        return self->held ? 0 : 1;
    buffer_results (self);
    return pool_pending (self->pool) || self->held ? 0 : -1;
}
