/*  api.h — dpi-api: the HTTP API of dpi-dual, /metrics and the live event
    stream, one worker on common/worker.h.

    Threads: one. libmicrohttpd runs in "external" mode on an epoll
    descriptor (MHD_USE_EPOLL): api_fd is polled by the worker's loop with
    the bus, and api_drain (and api_tick, for connection timeouts) call
    MHD_run, which calls the request handlers in this same thread. So the
    rolling state, the heartbeats, the rate table and the event streams are
    touched by one thread only and need no lock (MHD's internal thread
    would have made every handler race the bus handler). The price: a
    request waits while the worker handles the bus, and a query to the
    buffer or the correlator (common/query.h) holds the loop for at most
    api.query_timeout_ms.

    An event stream (/api/dpi/events) is a response read by a callback:
    with nothing to send, its connection is suspended (MHD_suspend_
    connection) and resumed when an event is queued for it or every 15 s
    for a keep-alive comment (which also finds clients that left).

    Security: the bearer token (api.token_file, refused at start when
    group or others may read it) is compared in constant time and never
    logged; every reply is JSON (or text for /metrics) with no
    Access-Control-* header; refusals (401, 400, 404, 405, 413, 429, 503)
    are counted in the heartbeat and logged at most once a second.        */
#ifndef DPI_API_API_H
#define DPI_API_API_H

#include "config.h"
#include "worker.h"

typedef struct api_t api_t;

/*  Listen and subscribe (W's bus); NULL with every reason in ERRORS.       */
api_t *api_new (worker_t *w, config_errors_t *errors);
void api_destroy (api_t **self_p);

/*  What `config check` can say without starting: the token file (there,
    0600, a token in it), the TLS files (both or neither, readable), and
    that libmicrohttpd has TLS when asked for. 0, or -1 with ERRORS.        */
int api_check (const config_t *cfg, config_errors_t *errors);

int api_fd (api_t *self);                   /* the epoll descriptor to poll */
void api_drain (api_t *self);               /* MHD_run                      */
void api_tick (api_t *self);                /* keep-alives, MHD_run          */
int api_work (api_t *self);                 /* MHD_run after a resume; 0     */
void api_message (api_t *self, const bus_msg_t *msg);

/*  SIGHUP: read api.token_file again (the checks of the start: 0600, one
    printable token of 16..512 characters). A good one replaces the token,
    logged without it (token_reloads); a bad one is logged with the reason
    and the previous token stays (token_reload_errors). 0 or -1.          */
int api_reload (api_t *self);
size_t api_counters (api_t *self, heartbeat_counter_t *out, size_t max);
void api_summary (api_t *self);

#endif
