/*  bus.h — the dpi-dual message bus: ZeroMQ pub/sub with a common header.

    A bus message is two frames: the topic, then one protobuf message whose
    field 1 is the Header (proto/dpidual.proto). The publisher fills the
    header — source "name@host", a sequence number per topic starting at 1,
    a timestamp, the schema version and an instance id — so worker code only
    fills the body. The subscriber decodes with the topic's descriptor
    (topics.h) and keeps, per (source, topic), the last sequence number:
        seq == last + 1          in order
        seq >  last + 1          a gap of seq - last - 1 messages (counted)
        instance changed, or
        seq == 1 after more      a restart of the publisher; its messages
                                 before this one (seq - 1) went out while
                                 the subscriber reconnected: gaps
        otherwise                out of order / duplicate (counted)
    The first message from a source only sets the baseline: messages sent
    before the subscriber joined are not gaps.

    Endpoints follow czmq: "@" binds, ">" connects; without a prefix a
    publisher binds and a subscriber connects (endpoint.h). With bus.curve.enabled, the
    binding side of a tcp:// endpoint is the CURVE server and authenticates
    clients with a ZAP handler (zauth) against the certificates in
    bus.curve.allow_dir; the connecting side presents bus.curve.cert and
    expects bus.curve.server_cert. ipc:// endpoints never use CURVE. Refused
    clients are logged and counted, a failed handshake is said and retried
    with a backoff (busauth.h).

    The publisher socket is an XPUB that sees every subscription come and
    go (ZMQ_XPUB_VERBOSER), so it knows whether anyone listens: a message
    sent while no subscription matches its topic is counted as unheard (it
    went nowhere), and an offline run can wait for its subscribers
    (bus_pub_let_subscribers_join). Sending behaves as PUB: past the send
    high-water mark, ZeroMQ drops for the slow subscriber only, and that
    subscriber's gap counters show it (unless bus_pub_set_lossless).

    Endpoints are parsed by endpoint.h (ipc:// and tcp:// only). The socket
    file of an ipc:// endpoint a publisher or subscriber bound is removed
    when it is destroyed.

    Threads: a bus_pub_t or bus_sub_t belongs to one thread.                */
#ifndef DPI_BUS_H
#define DPI_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "busauth.h"
#include "config.h"
#include "dpidual.pb-c.h"
#include "endpoint.h"

typedef struct bus_pub_t bus_pub_t;
typedef struct bus_sub_t bus_sub_t;

/*  Per-topic publisher counters.                                            */
typedef struct {
    const char *topic;
    uint64_t sent;
    uint64_t send_errors;
    uint64_t unheard;               /* sent while no subscription matched   */
} bus_topic_stats_t;

/*  Per-source subscriber counters (summed over the source's topics).        */
typedef struct {
    const char *source;
    uint64_t received;
    uint64_t gaps;
    uint64_t restarts;
    uint64_t out_of_order;
    uint64_t last_ns;               /* bus_mono_ns of its last message (coarse,
                                       a few ms), 0 before any              */
} bus_source_stats_t;

/*  A received message: valid until the next bus_sub_recv or destroy.        */
typedef struct {
    char topic[64];
    ProtobufCMessage *body;                 /* decoded, of the topic's type (NULL
                                               with bus_sub_set_headers_only) */
    const Dpidual__V1__Header *header;      /* body's field 1 (may be NULL)   */
    size_t size;                            /* payload bytes                  */
} bus_msg_t;

/*  The host name used in sources: global.host, else gethostname().
    Writes into OUT (always NUL-terminated).                                 */
void bus_host_name (const config_t *cfg, char *out, size_t outlen);

/*  What attaching would refuse in CFG, without a socket: with CURVE on, the
    certificates load (bus.curve.cert with its secret key), allow_dir is
    readable, a tcp:// endpoint that binds has an allow_dir and one that
    connects (">", or a decision endpoint) a server_cert. 0, or -1 with the
    reasons (naming the key) in ERRORS.                                      */
int bus_check (const config_t *cfg, config_errors_t *errors);

/*  Bind or connect SOCK (any ZeroMQ socket: the bus's, a query service's)
    to TEXT (endpoint.h; BIND_DEFAULT without a prefix), with CURVE on
    tcp:// when bus.curve is on (busauth.h: *AUTH is the socket's CURVE
    state, created on first use; the caller destroys it with
    busauth_destroy after the socket). EP receives what TEXT says. Returns
    0 or -1 (logged, with the endpoint and the reason).                      */
int bus_attach (zsock_t *sock, const char *text, bool bind_default, const config_t *cfg,
                busauth_t **auth, endpoint_t *ep);

/*  With global.workers set (two hosts), whether the tcp:// ADDRESS (no
    prefix) is bound by a worker of this host: the publisher endpoint of one
    of global.workers that binds, or the query service of the buffer or the
    correlator when it runs here (a wildcard bind, tcp://\*:P, 0.0.0.0 or
    ::, takes any host on port P). Such a server holds this host's own
    bus.curve.cert, so a connection to it expects that certificate's public
    key, not bus.curve.server_cert (the other host's): the analysis host's
    buffer connects to the router's bridge and to its own correlator.
    Without global.workers: false (bus.curve.server_cert for every connect). */
bool bus_served_here (const config_t *cfg, const char *address);

/*  Publisher NAME (e.g. "collector") on ENDPOINT. NULL on error (logged).  */
bus_pub_t *bus_pub_new (const config_t *cfg, const char *name, const char *endpoint);
void bus_pub_destroy (bus_pub_t **self_p);

/*  Fill MSG's header and send it on TOPIC; MSG must be of the topic's type.
    Never blocks. 0 when handed to ZeroMQ, -1 on error (counted).            */
int bus_pub_send (bus_pub_t *self, const char *topic, ProtobufCMessage *msg);

/*  Lossless mode (for offline runs): a send that finds a subscriber at its
    high-water mark waits for room, up to WAIT_MS, instead of ZeroMQ's
    dropping it; only then is it dropped and counted as a send error. Never
    for live capture: one stuck subscriber would stall every other. 0: off. */
void bus_pub_set_lossless (bus_pub_t *self, int wait_ms);

/*  Batching: hold up to MESSAGES packed messages and hand them to ZeroMQ
    together (when the batch is full, or at bus_pub_flush). A burst wakes
    ZeroMQ's I/O thread once instead of once per message — much cheaper at
    high event rates; the owner flushes at least every loop turn. A held
    message is already numbered; bus_pub_destroy flushes.                    */
#define BUS_MAX_BATCH 256
void bus_pub_set_batch (bus_pub_t *self, size_t messages);
int bus_pub_flush (bus_pub_t *self);

/*  Wait until a subscription reaches the publisher (0), or TIMEOUT_MS
    passes (-1). For tools and tests that must not lose their first sends.  */
int bus_pub_wait_subscriber (bus_pub_t *self, int timeout_ms);

/*  Listen for WINDOW_MS to the subscribers connecting: those that were
    trying to reach the endpoint before it was bound. A subscriber retries
    every 100 ms at most (bus_sub_new), so a window of BUS_JOIN_WINDOW_MS
    lets every one of them in; an offline run waits this long before its
    first message so that none of its messages is lost to a slow joiner.
    Returns the subscriptions held then.                                     */
#define BUS_JOIN_WINDOW_MS 300
uint64_t bus_pub_let_subscribers_join (bus_pub_t *self, int window_ms);

/*  How long bus_pub_destroy may wait to hand queued messages over (ms). An
    offline run sets it long: its last events must not be lost at exit.     */
void bus_pub_set_linger (bus_pub_t *self, int linger_ms);

const char *bus_pub_source (bus_pub_t *self);       /* "name@host"           */
const char *bus_pub_name (bus_pub_t *self);
const char *bus_pub_endpoint (bus_pub_t *self);     /* as bound (port resolved) */
bool bus_pub_binds (bus_pub_t *self);
uint64_t bus_pub_instance (bus_pub_t *self);
size_t bus_pub_topic_count (bus_pub_t *self);
bus_topic_stats_t bus_pub_topic_stats (bus_pub_t *self, size_t index);
uint64_t bus_pub_send_errors (bus_pub_t *self);
/*  Messages of TOPIC (NULL: of every topic) sent while no subscription
    matched their topic: sent to nobody.                                      */
uint64_t bus_pub_unheard (bus_pub_t *self, const char *topic);

/*  Subscriber with no endpoint and no subscription yet.                     */
bus_sub_t *bus_sub_new (const config_t *cfg);
void bus_sub_destroy (bus_sub_t **self_p);

/*  Connect to (or, with "@", bind) ENDPOINT. 0, or -1 (logged).            */
int bus_sub_attach (bus_sub_t *self, const char *endpoint);

/*  Receive topics starting with PREFIX ("" = everything). The prefixes are
    kept (the first 32) for the heartbeat: bus_sub_subscription.            */
void bus_sub_subscribe (bus_sub_t *self, const char *prefix);
size_t bus_sub_subscription_count (bus_sub_t *self);
const char *bus_sub_subscription (bus_sub_t *self, size_t index);

/*  Decode only each message's Header (sequence accounting), not its body:
    for subscribers that count, like `dpi-dualctl tail --count-only`. The
    messages received then have body NULL; a body that would not decode is
    not noticed.                                                             */
void bus_sub_set_headers_only (bus_sub_t *self, bool headers_only);

/*  Wait up to TIMEOUT_MS (-1 = forever) for a message. 1: MSG filled;
    0: timeout or interrupted. Messages that do not decode (unknown topic,
    bad frames, bad protobuf) are counted, logged at debug level, skipped.  */
int bus_sub_recv (bus_sub_t *self, int timeout_ms, bus_msg_t *msg);

/*  What bus_sub_recv does with the two frames of one message (TOPIC,
    PAYLOAD): decode the payload with the topic's descriptor, check its
    header (a source, seq > 0), do the sequence accounting; 1 with MSG
    filled (valid until the next decode), or -1 counted as a decode error.
    Also for tests and tests/fuzz/fuzz_bus.c, which have no socket.          */
int bus_sub_decode (bus_sub_t *self, const void *topic, size_t topic_len, const void *payload,
                    size_t size, bus_msg_t *msg);

zsock_t *bus_sub_sock (bus_sub_t *self);            /* for zpoller           */
/*  Handshake events of a CURVE subscriber (busauth_service): bus_sub_recv
    does it; an owner that polls the socket itself calls it now and then.  */
void bus_sub_service (bus_sub_t *self);
/*  Why the CURVE handshake with endpoint INDEX fails, NULL when it does not
    (or never was tried).                                                     */
const char *bus_sub_handshake_failure (bus_sub_t *self, size_t index);
size_t bus_sub_endpoint_count (bus_sub_t *self);
const char *bus_sub_endpoint (bus_sub_t *self, size_t index);
bool bus_sub_binds (bus_sub_t *self, size_t index);
uint64_t bus_sub_decode_errors (bus_sub_t *self);
uint64_t bus_sub_received (bus_sub_t *self);
uint64_t bus_sub_gaps (bus_sub_t *self);            /* total over sources    */
size_t bus_sub_source_count (bus_sub_t *self);
bus_source_stats_t bus_sub_source_stats (bus_sub_t *self, size_t index);

/*  Nanoseconds: wall clock, and monotonic.                                  */
uint64_t bus_now_ns (void);
uint64_t bus_mono_ns (void);

#endif
