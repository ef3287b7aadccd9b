/*  endpoint.h — a bus endpoint as the configuration writes it.

        [@|>]TRANSPORT://ADDRESS

    "@" binds, ">" connects (czmq's prefixes); without one, the caller's
    default applies (a publisher binds, a subscriber connects). TRANSPORT
    is ipc (a unix socket path, at most ENDPOINT_IPC_PATH_MAX bytes: what
    sun_path holds) or tcp. The one parser of this syntax: the
    configuration checks with it, the bus attaches with it, dpi-dualctl
    finds where to connect with it.                                         */
#ifndef DPI_ENDPOINT_H
#define DPI_ENDPOINT_H

#include <stdbool.h>

#define ENDPOINT_IPC_PATH_MAX 107

typedef enum { ENDPOINT_IPC, ENDPOINT_TCP } endpoint_transport_t;

typedef struct {
    const char *address;            /* after the prefix: "tcp://host:7001"  */
    const char *path;               /* ipc: the socket path; tcp: NULL      */
    endpoint_transport_t transport;
    bool bind;                      /* else connect                          */
    bool prefixed;                  /* "@" or ">" was given                  */
} endpoint_t;

/*  Parse TEXT (borrowed: OUT points into it). BIND_DEFAULT is the direction
    without a prefix. 0, or -1 with the reason in *REASON (static text that
    reads after the quoted value: "is not an endpoint (...)").               */
int endpoint_parse (const char *text, bool bind_default, endpoint_t *out, const char **reason);

/*  TEXT without its prefix ("@tcp://x" -> "tcp://x"); TEXT itself if none. */
const char *endpoint_address (const char *text);

#endif
