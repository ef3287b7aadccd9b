/*  sse.h — one client of the live event stream (GET /api/dpi/events,
    Server-Sent Events): its queue of frames, its rate bound, and what it
    lost.

    An event offered to the client goes through its token bucket (RATE a
    second, a burst of 2 x RATE) into a queue of at most SSE_QUEUE frames;
    one refused by either is dropped and counted. The next read announces
    the drops before anything else, once per read:
        event: dropped
        data: {"dropped":N,"dropped_total":T}
    then the queued frames ("event: KIND\ndata: JSON\n\n"), as many whole
    frames as fit. A frame over SSE_MAX_FRAME bytes is dropped. The worker
    thread alone touches a client.                                          */
#ifndef DPI_API_SSE_H
#define DPI_API_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "limit.h"

#define SSE_QUEUE 256
#define SSE_MAX_FRAME 32768

typedef struct {
    char *frames[SSE_QUEUE];
    size_t head, count;
    size_t offset;                      /* bytes of the first frame sent     */
    bucket_t bucket;
    double rate;
    uint64_t sent, dropped_total, dropped_unannounced;
} sse_client_t;

void sse_client_init (sse_client_t *c, double rate);
void sse_client_clear (sse_client_t *c);

/*  Offer an event KIND with its JSON DATA (LEN bytes) at NOW_NS
    (monotonic): 1 queued, 0 dropped (rate, queue full, too large, no
    memory).                                                                */
int sse_client_offer (sse_client_t *c, const char *kind, const char *data, size_t len,
                      uint64_t now_ns);

/*  Queue a comment line (": keep-alive"), outside the rate bound, if the
    queue has room.                                                          */
void sse_client_comment (sse_client_t *c, const char *text);

/*  Up to MAX bytes of what is due into BUF: the drop notice, then frames
    (a frame larger than what is left of MAX continues at the next read).
    Returns the bytes written, 0 when nothing is due.                       */
size_t sse_client_read (sse_client_t *c, char *buf, size_t max);

/*  Anything to send?                                                        */
int sse_client_pending (const sse_client_t *c);

#endif
