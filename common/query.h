/*  query.h — a worker's query service: JSON requests on a ZeroMQ ROUTER,
    and the client `dpi-dualctl` uses.

    A request is one frame holding a JSON object with a "cmd" string and
    the command's arguments:
        {"cmd":"context","ip":"192.0.2.7","window":300}
    The reply is one frame holding a JSON object: the handler's, with
    "ok": true added; or {"ok": false, "error": "..."} for a request that
    is not JSON, not an object, has no "cmd", is over QUERY_MAX_REQUEST
    bytes, or that the handler refused (it returns such an object itself).
    Bad requests are counted and answered, never fatal — except a frame
    over 16 x QUERY_MAX_REQUEST bytes: ZeroMQ drops that client unread
    (ZMQ_MAXMSGSIZE), without an answer.

    The endpoint is a config endpoint (endpoint.h): the service binds
    unless it has a ">" prefix; tcp:// uses CURVE exactly like the bus
    (bus.curve.*, bus_attach), so the same client certificates reach it.
    The client connects (or binds with "@"), sends, and waits up to a
    timeout for the reply.                                                   */
#ifndef DPI_QUERY_H
#define DPI_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define QUERY_MAX_REQUEST 65536     /* bytes of a request frame              */

/*  Build the reply to REQUEST (an object with a string "cmd"): a new object
    (ownership passes to the caller), {"ok":false,"error":...} to refuse.
    Never NULL.                                                              */
typedef json_t *(query_handler_fn) (void *arg, const char *cmd, json_t *request);

typedef struct query_t query_t;

typedef struct {
    uint64_t requests;              /* answered by the handler               */
    uint64_t bad_requests;          /* not JSON, no cmd, too large, ...      */
    uint64_t send_errors;           /* a reply that could not be sent        */
} query_stats_t;

/*  Serve on ENDPOINT. NULL with the reason in ERRORS.                       */
query_t *query_new (const config_t *cfg, const char *endpoint, query_handler_fn *handler,
                    void *arg, config_errors_t *errors);
void query_destroy (query_t **self_p);      /* removes an ipc socket file we bound */

/*  The descriptor to poll (ZMQ_FD: edge triggered — query_drain reads
    until nothing is left, so poll it again only after a drain).            */
int query_fd (query_t *self);

/*  Answer up to MAX waiting requests; returns how many (bad ones count).
    Below MAX, nothing is left. At MAX, requests may be left that the
    descriptor will not signal again: query_pending says so (drain again,
    e.g. from the worker's ops.work, before the next poll waits).          */
size_t query_drain (query_t *self, size_t max);
bool query_pending (query_t *self);

/*  The endpoint as bound ("tcp://127.0.0.1:*" becomes the real port).      */
const char *query_endpoint (const query_t *self);

query_stats_t query_stats (const query_t *self);

/*  Client: send REQUEST to the service at ENDPOINT and wait up to
    TIMEOUT_MS for the reply (a new object), or NULL with the reason in
    ERROR ("no answer from ipc://... after 2000 ms", "reply is not JSON",
    ...): the caller names the worker it asked.                              */
json_t *query_call (const config_t *cfg, const char *endpoint, json_t *request,
                    int timeout_ms, char *error, size_t errlen);

#endif
