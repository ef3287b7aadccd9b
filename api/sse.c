/*  sse.c — see sse.h.                                                       */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

void
sse_client_init (sse_client_t *c, double rate)
{
    memset (c, 0, sizeof *c);
    c->rate = rate;
}

void
sse_client_clear (sse_client_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        free (c->frames[(c->head + i) % SSE_QUEUE]);
    c->count = 0;
    c->offset = 0;
}

static int
push (sse_client_t *c, char *frame)
{
    if (c->count == SSE_QUEUE) {
        free (frame);
        return 0;
    }
    c->frames[(c->head + c->count) % SSE_QUEUE] = frame;
    c->count++;
    return 1;
}

int
sse_client_offer (sse_client_t *c, const char *kind, const char *data, size_t len,
                  uint64_t now_ns)
{
    size_t need = strlen (kind) + len + 24;  /* "event: \ndata: \n\n" and NUL */
    char *frame = NULL;
    if (c->count < SSE_QUEUE && need <= SSE_MAX_FRAME && memchr (data, '\n', len) == NULL
        && bucket_take (&c->bucket, c->rate, 2.0 * c->rate, now_ns)
        && (frame = malloc (need)) != NULL) {
        snprintf (frame, need, "event: %s\ndata: %.*s\n\n", kind, (int) len, data);
        if (push (c, frame))
            return 1;
    }
    c->dropped_total++;
    c->dropped_unannounced++;
    return 0;
}

void
sse_client_comment (sse_client_t *c, const char *text)
{
    if (c->count == SSE_QUEUE)
        return;
    size_t need = strlen (text) + 5;
    char *frame = malloc (need);
    if (frame) {
        snprintf (frame, need, ": %s\n\n", text);
        push (c, frame);
    }
}

size_t
sse_client_read (sse_client_t *c, char *buf, size_t max)
{
    size_t n = 0;
    if (c->dropped_unannounced && c->offset == 0) {
        char notice[128];
        int len = snprintf (notice, sizeof notice,
                            "event: dropped\ndata: {\"dropped\":%llu,\"dropped_total\":%llu}\n\n",
                            (unsigned long long) c->dropped_unannounced,
                            (unsigned long long) c->dropped_total);
        if (len > 0 && (size_t) len <= max) {
            memcpy (buf, notice, (size_t) len);
            n = (size_t) len;
            c->dropped_unannounced = 0;
        }
    }
    while (c->count && n < max) {
        char *frame = c->frames[c->head];
        size_t flen = strlen (frame) - c->offset;
        size_t take = flen < max - n ? flen : max - n;
        memcpy (buf + n, frame + c->offset, take);
        n += take;
        if (take < flen) {
            c->offset += take;
            break;
        }
        free (frame);
        c->head = (c->head + 1) % SSE_QUEUE;
        c->count--;
        c->offset = 0;
        c->sent++;
    }
    return n;
}

int
sse_client_pending (const sse_client_t *c)
{
    return c->count > 0 || c->dropped_unannounced > 0;
}
