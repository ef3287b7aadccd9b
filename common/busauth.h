/*  busauth.h — CURVE authentication on the bus that fails closed and says so.

    Server side (a socket that binds a tcp:// endpoint with bus.curve on):
    one ZAP handler per process (ZeroMQ has one ZAP endpoint per context,
    inproc://zeromq.zap.01; czmq's zauth cannot be started twice), shared by
    every socket that binds — the publisher, a query service, a subscriber
    that binds. It accepts the client keys found in bus.curve.allow_dir
    (re-read when the directory changes), or any key with
    bus.curve.allow_any (encryption without authentication: warned at every
    start). Every refusal is logged, rate-limited (the client's key, its
    address, the reason), and counted; so are the handshakes that fail
    before ZAP is asked (a plaintext client: mechanism mismatch; a client
    that holds the wrong server key: cryptographic error), seen through a
    socket monitor — with the peer's address when it could still be read.
    busauth_refused() is the count (heartbeat field auth_refused).

    Client side (a subscriber that connects to a tcp:// endpoint with CURVE):
    a failed handshake is logged once per endpoint with what is likely wrong
    (the server refused our key / server key mismatch?), the endpoint is
    disconnected and tried again after a backoff (1 s doubling to 30 s)
    instead of ZeroMQ's immediate retry (~60 a second); a handshake that
    succeeds again is logged and resets the backoff. The owner of the socket
    calls busauth_client_service regularly (bus_sub_recv does).

    Threads: the handler runs in its own thread; busauth_hold/release and
    the counters may be called from any thread. A busauth_client_t belongs
    to the thread of its socket.                                            */
#ifndef DPI_BUSAUTH_H
#define DPI_BUSAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "config.h"

typedef struct busauth_t busauth_t;

/*  CURVE on SOCK for one endpoint that BINDs (server) or connects (client).
    *SELF is the socket's state, created on first use (one per socket,
    whatever the number of its endpoints): a server holds the process's ZAP
    handler (started by the first hold) and monitors SOCK for failed
    handshakes; a client watches its handshakes. A client expects the
    server key of bus.curve.server_cert, or, when OWN_SERVER (the endpoint
    is served by a worker of this host: bus_served_here), the public key of
    this node's own bus.curve.cert. 0, or -1 (logged).                      */
int busauth_attach (busauth_t **self, zsock_t *sock, const config_t *cfg, bool bind,
                    bool own_server);

/*  Before the socket is destroyed: stop its monitor (libzmq sends a
    monitor's events with a blocking send, so a monitor left without its
    reader could stall ZeroMQ's threads).                                    */
void busauth_stop (busauth_t *self);

/*  After the socket is destroyed: the handler stops with the last hold.    */
void busauth_destroy (busauth_t **self);

/*  Client side: read the handshake events, disconnect the endpoints whose
    handshake failed and reconnect those whose backoff ended. Cheap; the
    socket's owner calls it often (bus_sub_recv, the worker's tick).         */
void busauth_service (busauth_t *self);

/*  The monitor of a client socket, to wake a poll on its events (NULL:
    none).                                                                    */
zsock_t *busauth_sock (busauth_t *self);

/*  Why the handshake with ENDPOINT (as connected) last failed, when none
    succeeded since; NULL otherwise.                                         */
const char *busauth_failure (busauth_t *self, const char *endpoint);

/*  Clients refused since the process started: ZAP refusals and failed
    handshakes on the sockets we bind.                                        */
uint64_t busauth_refused (void);

/*  "off" (no CURVE), "curve", or "curve-any-client" (allow_any: encrypted,
    not authenticated), for heartbeats and status.                           */
const char *busauth_mode (const config_t *cfg);

/*  A certificate file, loaded only when it has a certificate's shape
    (czmq's parser reports a syntax error on stdout, where a worker may be
    writing data); NULL otherwise.                                            */
zcert_t *busauth_load_cert (const char *path);

/*  The public keys (Z85) of the certificates in DIR into KEYS (a zhashx of
    key -> file name, which it fills); how many, or -1 when DIR cannot be
    read. Files that are not certificates are named in BAD (when not NULL,
    a zlistx of strings the caller frees).                                   */
int busauth_allow_load (const char *dir, zhashx_t *keys, zlistx_t *bad);

#endif
