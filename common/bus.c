/*  bus.c — see bus.h.                                                       */
#include "bus.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "log.h"
#include "msgpool.h"
#include "paths.h"
#include "ratelog.h"
#include "topics.h"

#define MAX_TOPICS   32         /* topics one publisher sends               */
#define MAX_SOURCES  4096       /* (source, topic) pairs one subscriber tracks */
#define RECENT_TRACKS 8         /* of them, remembered by the last messages */
#define PUB_POOL_BYTES (4u << 20) /* payload ring of one publisher (msgpool.h) */

/*  --------------------------------------------------------------------------
    Shared: clocks, host name, attaching a socket to an endpoint.            */

uint64_t
bus_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

uint64_t
bus_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

void
bus_host_name (const config_t *cfg, char *out, size_t outlen)
{
    if (cfg && cfg->global.host && *cfg->global.host)
        snprintf (out, outlen, "%s", cfg->global.host);
    else if (gethostname (out, outlen) != 0)
        snprintf (out, outlen, "localhost");
    out[outlen - 1] = 0;
}

/*  TEXT, an endpoint that binds by default, binds tcp ADDRESS.             */
static bool
binds_address (const char *text, const char *address)
{
    endpoint_t ep;
    const char *reason;
    if (!text || endpoint_parse (text, true, &ep, &reason) != 0 || !ep.bind
        || ep.transport != ENDPOINT_TCP || strncmp (address, "tcp://", 6) != 0)
        return false;
    if (strcmp (ep.address, address) == 0)
        return true;
    const char *host = ep.address + 6, *port = strrchr (host, ':'), *want = strrchr (address, ':');
    if (!port || !want || strcmp (port, want) != 0)
        return false;
    size_t n = (size_t) (port - host);
    return (n == 1 && host[0] == '*') || (n == 7 && strncmp (host, "0.0.0.0", 7) == 0)
           || (n == 2 && strncmp (host, "::", 2) == 0) || (n == 4 && strncmp (host, "[::]", 4) == 0);
}

bool
bus_served_here (const config_t *cfg, const char *address)
{
    if (!cfg || cfg->global.workers.count == 0)
        return false;
    bool here[WORKER_COUNT];
    config_host_workers (cfg, here);
    for (int i = 0; i < WORKER_COUNT; i++)
        if (here[i] && binds_address (cfg->bus.endpoints[i], address))
            return true;
    return (here[WORKER_BUFFER] && binds_address (cfg->buffer.query_endpoint, address))
           || (here[WORKER_CORRELATOR] && binds_address (cfg->correlation.query_endpoint, address));
}

int
bus_attach (zsock_t *sock, const char *text, bool bind_default, const config_t *cfg,
            busauth_t **auth, endpoint_t *ep)
{
    const char *reason = NULL;
    if (endpoint_parse (text, bind_default, ep, &reason) != 0) {
        log_error ("bus: endpoint '%s' %s", text, reason);
        return -1;
    }
    bool bind = ep->bind;
    const char *endpoint = ep->address;
    if (cfg->bus.curve.enabled && ep->transport == ENDPOINT_TCP) {
        if (busauth_attach (auth, sock, cfg, bind, !bind && bus_served_here (cfg, endpoint)) != 0)
            return -1;
    }
    if (bind && ep->transport == ENDPOINT_IPC)
        paths_mkdir_parent (ep->path, 0755);    /* a failure shows at the bind */
    int rc = bind ? zsock_bind (sock, "%s", endpoint) : zsock_connect (sock, "%s", endpoint);
    if (rc < 0) {
        log_error ("bus: cannot %s %s: %s", bind ? "bind" : "connect", endpoint,
                   zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

/*  The socket file of an ipc:// endpoint we bound goes with us (ZeroMQ
    leaves it behind).                                                       */
static void
remove_ipc_file (const char *address)
{
    if (strncmp (address, "ipc://", 6) == 0 && unlink (address + 6) != 0 && errno != ENOENT)
        log_warning ("bus: cannot remove %s: %s", address + 6, strerror (errno));
}

/*  A certificate file of KEY: it loads, and has a secret key when SECRET.  */
static int
check_cert (const config_t *cfg, const char *key, const char *path, bool secret,
            config_errors_t *errors)
{
    size_t from = errors ? errors->count : 0;
    const char *unreadable = access (path, R_OK) != 0 ? strerror (errno) : NULL;
    zcert_t *cert = unreadable ? NULL : busauth_load_cert (path);
    static const char zero[] = "0000000000000000000000000000000000000000";
    if (!cert)
        config_errors_add (errors, "cannot load the certificate '%s': %s", path,
                           unreadable ? unreadable : "not a certificate");
    else if (secret && strcmp (zcert_secret_txt (cert), zero) == 0)
        config_errors_add (errors, "'%s' holds no secret key (give NAME.cert_secret, not "
                           "NAME.cert)", path);
    zcert_destroy (&cert);
    config_errors_blame (errors, from, cfg, key);
    return errors && errors->count > from ? -1 : 0;
}

/*  With CURVE, a tcp:// endpoint TEXT of KEY that binds needs allow_dir,
    one that connects needs server_cert (as attach would find). REMOTE: the
    endpoint is another host's worker's, so this host is its other end (it
    connects where that worker binds, and binds where it connects out).    */
static int
check_curve_endpoint (const config_t *cfg, const char *key, const char *text, bool bind_default,
                      bool remote, config_errors_t *errors)
{
    endpoint_t ep;
    const char *reason;
    if (endpoint_parse (text, bind_default, &ep, &reason) != 0 || ep.transport != ENDPOINT_TCP)
        return 0;
    if (remote)
        ep.bind = !ep.bind;
    const char *needed = ep.bind ? cfg->bus.curve.allow_dir : cfg->bus.curve.server_cert;
    if (*needed || (ep.bind && cfg->bus.curve.allow_any))
        return 0;
    size_t from = errors ? errors->count : 0;
    config_errors_add (errors, "'%s' %s over CURVE%s, which needs %s", text,
                       ep.bind ? "binds" : "connects",
                       remote ? " (here, the other end of a worker not in global.workers)" : "",
                       ep.bind ? "bus.curve.allow_dir (the clients allowed)"
                               : "bus.curve.server_cert (the server's public key)");
    config_errors_blame (errors, from, cfg, key);
    return -1;
}

/*  The allow-list: a readable directory of certificates only (a file that
    is not one would be ignored at every handshake).                         */
static int
check_allow_dir (const config_t *cfg, const char *dir, config_errors_t *errors)
{
    size_t from = errors ? errors->count : 0;
    zhashx_t *keys = zhashx_new ();
    zlistx_t *bad = zlistx_new ();
    if (!keys || !bad)
        config_errors_add (errors, "out of memory");
    else {
        zhashx_set_destructor (keys, (zhashx_destructor_fn *) zstr_free);
        zlistx_set_destructor (bad, (zlistx_destructor_fn *) zstr_free);
        zlistx_set_duplicator (bad, (zlistx_duplicator_fn *) strdup);
        if (access (dir, R_OK | X_OK) != 0 || busauth_allow_load (dir, keys, bad) < 0)
            config_errors_add (errors, "'%s': %s", dir, strerror (errno));
        for (char *path = zlistx_first (bad); path; path = zlistx_next (bad))
            config_errors_add (errors, "'%s' is not a certificate (keys new writes NAME.cert)",
                               path);
    }
    zhashx_destroy (&keys);
    zlistx_destroy (&bad);
    config_errors_blame (errors, from, cfg, "bus.curve.allow_dir");
    return errors && errors->count > from ? -1 : 0;
}

int
bus_check (const config_t *cfg, config_errors_t *errors)
{
    if (!cfg->bus.curve.enabled)
        return 0;
    int rc = check_cert (cfg, "bus.curve.cert", cfg->bus.curve.cert, true, errors);
    bool here[WORKER_COUNT];
    config_host_workers (cfg, here);
    for (int i = 0; i < WORKER_COUNT; i++)
        rc |= check_curve_endpoint (cfg, worker_info ((worker_id_t) i)->endpoint_key,
                                    cfg->bus.endpoints[i], true, !here[i], errors);
    for (size_t i = 0; here[WORKER_BRIDGE_MITM] && i < cfg->mitm.decision_endpoints.count; i++)
        rc |= check_curve_endpoint (cfg, "mitm.decision_endpoints",
                                    cfg->mitm.decision_endpoints.items[i], false, false, errors);
    if (*cfg->bus.curve.server_cert)
        rc |= check_cert (cfg, "bus.curve.server_cert", cfg->bus.curve.server_cert, false, errors);
    const char *dir = cfg->bus.curve.allow_dir;
    if (*dir)
        rc |= check_allow_dir (cfg, dir, errors);
    return rc;
}

/*  --------------------------------------------------------------------------
    Publisher                                                                */

typedef struct {
    char topic[64];
    const ProtobufCMessageDescriptor *descriptor;
    size_t header_offset;           /* offset of the Header pointer in the body */
    uint64_t seq;
    uint64_t sent;
    uint64_t send_errors;
    uint64_t unheard;               /* sent while no subscription matched   */
    uint64_t heard_generation;      /* subscriptions when HEARD was worked out */
    bool heard;
} pub_topic_t;

/*  A subscription prefix and how many subscribers hold it.                  */
typedef struct {
    char prefix[64];
    uint32_t holders;
} pub_prefix_t;

#define MAX_PREFIXES 256
#define CHECK_EVERY 32              /* sends between looks at subscriptions  */

struct bus_pub_t {
    int block_ms;                   /* lossless mode: longest wait per send  */
    size_t batch;                   /* messages held before sending, 0/1: none */
    size_t npending;
    struct {
        pub_topic_t *slot;
        zmq_msg_t payload;
    } pending[BUS_MAX_BATCH];
    zsock_t *sock;
    void *handle;                   /* the libzmq socket under sock         */
    busauth_t *auth;
    msgpool_t *pool;                /* payload buffers, see msgpool.h       */
    char name[64];
    char source[256];
    char endpoint[512];
    bool binds;
    uint64_t instance;
    pub_topic_t topics[MAX_TOPICS];
    size_t topic_count;
    uint64_t send_errors;           /* includes sends on unknown topics     */
    pub_prefix_t prefixes[MAX_PREFIXES];    /* subscriptions seen (XPUB)    */
    size_t prefix_count;
    uint64_t subscriptions;         /* held now, over all prefixes          */
    uint64_t generation;            /* bumped by every change of them       */
    unsigned since_check;           /* sends since the last look            */
};

bus_pub_t *
bus_pub_new (const config_t *cfg, const char *name, const char *endpoint)
{
    bus_pub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char host[128];
    bus_host_name (cfg, host, sizeof host);
    snprintf (self->name, sizeof self->name, "%s", name);
    snprintf (self->source, sizeof self->source, "%s@%s", name, host);
    self->instance = bus_now_ns ();
    self->pool = msgpool_new (PUB_POOL_BYTES);
    self->sock = self->pool ? zsock_new (ZMQ_XPUB) : NULL;
    if (!self->sock) {
        msgpool_release (&self->pool);
        free (self);
        return NULL;
    }
    zsock_set_sndhwm (self->sock, cfg->bus.sndhwm);
    zsock_set_rcvhwm (self->sock, cfg->bus.rcvhwm);
    zsock_set_linger (self->sock, cfg->bus.linger_ms);
    /* every subscribe and unsubscribe comes up, so we know who listens */
    zsock_set_xpub_verboser (self->sock, 1);
    endpoint_t ep;
    if (bus_attach (self->sock, endpoint, true, cfg, &self->auth, &ep)) {
        bus_pub_destroy (&self);
        return NULL;
    }
    self->binds = ep.bind;
    /* the endpoint as bound: a tcp port 0 or * becomes the real one */
    const char *last = self->binds ? zsock_last_endpoint (self->sock) : NULL;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", last ? last : ep.address);
    zstr_free ((char **) &last);
    self->handle = zsock_resolve (self->sock);
    return self;
}

void
bus_pub_destroy (bus_pub_t **self_p)
{
    bus_pub_t *self = *self_p;
    if (!self)
        return;
    bus_pub_flush (self);
    busauth_stop (self->auth);
    zsock_destroy (&self->sock);
    if (self->binds)
        remove_ipc_file (self->endpoint);
    busauth_destroy (&self->auth);
    msgpool_release (&self->pool);      /* freed with ZeroMQ's last message */
    free (self);
    *self_p = NULL;
}

/*  The topic slot for TOPIC, created on first use after checking that the
    message type matches the topic and that field 1 is the Header.          */
static pub_topic_t *
pub_topic (bus_pub_t *self, const char *topic, const ProtobufCMessageDescriptor *desc)
{
    for (size_t i = 0; i < self->topic_count; i++)
        if (strcmp (self->topics[i].topic, topic) == 0)
            return self->topics[i].descriptor == desc ? &self->topics[i] : NULL;

    if (self->topic_count == MAX_TOPICS || strlen (topic) >= sizeof self->topics[0].topic)
        return NULL;
    if (topics_descriptor (topic) != desc) {
        log_error ("bus: a %s cannot be sent on topic '%s'", desc->name, topic);
        return NULL;
    }
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field (desc, 1);
    if (!field || field->type != PROTOBUF_C_TYPE_MESSAGE
        || field->descriptor != &dpidual__v1__header__descriptor)
        return NULL;
    pub_topic_t *slot = &self->topics[self->topic_count++];
    snprintf (slot->topic, sizeof slot->topic, "%s", topic);
    slot->descriptor = desc;
    slot->header_offset = field->offset;
    return slot;
}

/*  One subscription message of the XPUB: byte 1 subscribe / 0 unsubscribe,
    then the prefix.                                                          */
static void
pub_subscription (bus_pub_t *self, const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 >= sizeof self->prefixes[0].prefix)
        return;                     /* longer than any topic: matches none  */
    bool subscribe = data[0] == 1;
    pub_prefix_t *slot = NULL;
    for (size_t i = 0; i < self->prefix_count && !slot; i++)
        if (strlen (self->prefixes[i].prefix) == size - 1
            && memcmp (self->prefixes[i].prefix, data + 1, size - 1) == 0)
            slot = &self->prefixes[i];
    if (!slot && subscribe && self->prefix_count < MAX_PREFIXES) {
        slot = &self->prefixes[self->prefix_count++];
        memcpy (slot->prefix, data + 1, size - 1);
        slot->prefix[size - 1] = 0;
        slot->holders = 0;
    }
    if (!slot || (!subscribe && slot->holders == 0))
        return;
    slot->holders += subscribe ? 1 : -1u;
    self->subscriptions += subscribe ? 1 : -1ull;
    self->generation++;
}

/*  Take the subscription messages waiting on the socket.                   */
static void
pub_take_subscriptions (bus_pub_t *self)
{
    uint8_t data[256];
    int n;
    self->since_check = 0;
    while ((n = zmq_recv (self->handle, data, sizeof data, ZMQ_DONTWAIT)) >= 0)
        pub_subscription (self, data, (size_t) n < sizeof data ? (size_t) n : sizeof data);
}

/*  Does a subscription match SLOT's topic? Worked out again when they
    changed; looked at again every CHECK_EVERY sends, and at every send
    while nobody listens (a subscriber may have just come).                  */
static bool
pub_heard (bus_pub_t *self, pub_topic_t *slot)
{
    if (++self->since_check >= CHECK_EVERY || !slot->heard)
        pub_take_subscriptions (self);
    if (slot->heard_generation != self->generation) {
        slot->heard = false;
        for (size_t i = 0; i < self->prefix_count && !slot->heard; i++)
            slot->heard = self->prefixes[i].holders > 0
                          && strncmp (slot->topic, self->prefixes[i].prefix,
                                      strlen (self->prefixes[i].prefix)) == 0;
        slot->heard_generation = self->generation;
    }
    return slot->heard;
}

static int send_one (bus_pub_t *self, pub_topic_t *slot, zmq_msg_t *payload);

int
bus_pub_send (bus_pub_t *self, const char *topic, ProtobufCMessage *msg)
{
    pub_topic_t *slot = pub_topic (self, topic, msg->descriptor);
    if (!slot) {
        self->send_errors++;
        return -1;
    }
    Dpidual__V1__Header header = DPIDUAL__V1__HEADER__INIT;
    header.source = self->source;
    header.seq = slot->seq + 1;
    header.ts_ns = bus_now_ns ();
    header.schema_version = DPI_SCHEMA_VERSION;
    header.instance = self->instance;

    Dpidual__V1__Header **field = (Dpidual__V1__Header **) ((char *) msg + slot->header_offset);
    Dpidual__V1__Header *saved = *field;
    *field = &header;
    size_t size = protobuf_c_message_get_packed_size (msg);
    zmq_msg_t payload;
    if (msgpool_msg_init (self->pool, &payload, size) != 0) {
        *field = saved;
        slot->send_errors++;
        return -1;
    }
    protobuf_c_message_pack (msg, zmq_msg_data (&payload));
    *field = saved;

    /* the sequence number is used even if the send fails: a failed send
       is a gap for subscribers, as it should be */
    slot->seq++;
    if (self->batch > 1) {
        self->pending[self->npending].slot = slot;
        self->pending[self->npending].payload = payload;
        if (++self->npending == self->batch)
            bus_pub_flush (self);
        return 0;
    }
    return send_one (self, slot, &payload);
}

/*  Send the topic frame; in lossless mode wait (bounded) while a subscriber
    is at its high-water mark.                                               */
static int
send_topic (bus_pub_t *self, pub_topic_t *slot)
{
    size_t len = strlen (slot->topic);
    int rc = zmq_send (self->handle, slot->topic, len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (rc >= 0 || zmq_errno () != EAGAIN || self->block_ms <= 0)
        return rc;
    uint64_t deadline = bus_mono_ns () + (uint64_t) self->block_ms * 1000000ull;
    while (rc < 0 && zmq_errno () == EAGAIN && bus_mono_ns () < deadline && !zsys_interrupted) {
        zmq_pollitem_t item = { self->handle, 0, ZMQ_POLLOUT, 0 };
        zmq_poll (&item, 1, 100);
        rc = zmq_send (self->handle, slot->topic, len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    }
    return rc;
}

/*  Hand one packed message of SLOT's topic to ZeroMQ.                       */
static int
send_one (bus_pub_t *self, pub_topic_t *slot, zmq_msg_t *payload)
{
    if (!pub_heard (self, slot))
        slot->unheard++;
    if (send_topic (self, slot) < 0 || zmq_msg_send (payload, self->handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (payload);
        slot->send_errors++;
        return -1;
    }
    slot->sent++;
    return 0;
}

void
bus_pub_set_lossless (bus_pub_t *self, int wait_ms)
{
    int nodrop = wait_ms > 0;
    zsock_set_xpub_nodrop (self->sock, nodrop);
    self->block_ms = wait_ms;
}

void
bus_pub_set_batch (bus_pub_t *self, size_t messages)
{
    bus_pub_flush (self);
    self->batch = messages > BUS_MAX_BATCH ? BUS_MAX_BATCH : messages;
}

int
bus_pub_flush (bus_pub_t *self)
{
    int rc = 0;
    for (size_t i = 0; i < self->npending; i++)
        rc |= send_one (self, self->pending[i].slot, &self->pending[i].payload);
    self->npending = 0;
    return rc;
}

/*  Take subscriptions until DEADLINE (bus_mono_ns), or until one is held
    when FIRST_ONLY.                                                          */
static void
pub_listen_until (bus_pub_t *self, uint64_t deadline, bool first_only)
{
    pub_take_subscriptions (self);
    while (!(first_only && self->subscriptions > 0) && !zsys_interrupted) {
        uint64_t now = bus_mono_ns ();
        if (now >= deadline)
            break;
        zmq_pollitem_t item = { self->handle, 0, ZMQ_POLLIN, 0 };
        long wait_ms = (long) ((deadline - now) / 1000000ull) + 1;
        if (zmq_poll (&item, 1, wait_ms) < 0 && zmq_errno () != EINTR)
            break;
        pub_take_subscriptions (self);
    }
}

int
bus_pub_wait_subscriber (bus_pub_t *self, int timeout_ms)
{
    pub_listen_until (self, bus_mono_ns () + (uint64_t) timeout_ms * 1000000ull, true);
    return self->subscriptions > 0 ? 0 : -1;
}

uint64_t
bus_pub_let_subscribers_join (bus_pub_t *self, int window_ms)
{
    pub_listen_until (self, bus_mono_ns () + (uint64_t) window_ms * 1000000ull, false);
    return self->subscriptions;
}

void
bus_pub_set_linger (bus_pub_t *self, int linger_ms)
{
    zsock_set_linger (self->sock, linger_ms);
}

const char *bus_pub_source (bus_pub_t *self) { return self->source; }
const char *bus_pub_name (bus_pub_t *self) { return self->name; }
const char *bus_pub_endpoint (bus_pub_t *self) { return self->endpoint; }
bool bus_pub_binds (bus_pub_t *self) { return self->binds; }
uint64_t bus_pub_instance (bus_pub_t *self) { return self->instance; }
size_t bus_pub_topic_count (bus_pub_t *self) { return self->topic_count; }

bus_topic_stats_t
bus_pub_topic_stats (bus_pub_t *self, size_t index)
{
    bus_topic_stats_t stats = { 0 };
    if (index < self->topic_count) {
        stats.topic = self->topics[index].topic;
        stats.sent = self->topics[index].sent;
        stats.send_errors = self->topics[index].send_errors;
        stats.unheard = self->topics[index].unheard;
    }
    return stats;
}

uint64_t
bus_pub_unheard (bus_pub_t *self, const char *topic)
{
    uint64_t total = 0;
    for (size_t i = 0; i < self->topic_count; i++)
        if (!topic || strcmp (self->topics[i].topic, topic) == 0)
            total += self->topics[i].unheard;
    return total;
}

uint64_t
bus_pub_send_errors (bus_pub_t *self)
{
    uint64_t total = self->send_errors;
    for (size_t i = 0; i < self->topic_count; i++)
        total += self->topics[i].send_errors;
    return total;
}

/*  --------------------------------------------------------------------------
    Subscriber                                                               */

typedef struct {
    size_t source;                  /* index into sources                    */
    uint64_t last_seq;
    uint64_t instance;
} sub_track_t;

typedef struct {
    char *endpoint;
    bool binds;
} sub_endpoint_t;

#define BUS_SUB_MAX_PREFIXES 32     /* subscriptions remembered for the heartbeat */

/*  Monotonic time, coarse (a few ms) and cheap: when a source was last heard. */
static uint64_t
coarse_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/*  Decoding allocates a dozen small blocks per message: they come from one
    arena, reset before each message, instead of malloc and free. Blocks
    that do not fit in the arena's chunk are malloc'd and freed at reset.
    Under AddressSanitizer every block is malloc'd on its own, so that a
    read past one is caught (tests/fuzz/fuzz_bus.c).                        */
#define ARENA_CHUNK 16384
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_USABLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_USABLE 0
#endif
#endif
#ifndef ARENA_USABLE
#define ARENA_USABLE ARENA_CHUNK
#endif

typedef struct {
    uint8_t chunk[ARENA_CHUNK];
    size_t used;
    void **big;
    size_t nbig, capbig;
} arena_t;

static void *
arena_alloc (void *data, size_t size)
{
    arena_t *a = data;
    size = (size + 15) & ~(size_t) 15;
    if (a->used + size <= ARENA_USABLE) {
        void *p = a->chunk + a->used;
        a->used += size;
        return p;
    }
    if (a->nbig == a->capbig) {
        size_t cap = a->capbig ? a->capbig * 2 : 8;
        void **grown = realloc (a->big, cap * sizeof *grown);
        if (!grown)
            return NULL;
        a->big = grown;
        a->capbig = cap;
    }
    void *p = malloc (size);
    if (p)
        a->big[a->nbig++] = p;
    return p;
}

static void
arena_free (void *data, void *pointer)
{
    (void) data;            /* everything goes at the next reset */
    (void) pointer;
}

static void
arena_reset (arena_t *a)
{
    while (a->nbig)
        free (a->big[--a->nbig]);
    a->used = 0;
}

struct bus_sub_t {
    zsock_t *sock;
    void *handle;
    busauth_t *auth;
    const config_t *cfg;
    sub_endpoint_t *endpoints;
    size_t endpoint_count;
    zhashx_t *tracks;               /* "source\ntopic" -> sub_track_t        */
    bus_source_stats_t *sources;    /* source strings owned here             */
    size_t source_count;
    uint64_t received;
    uint64_t gaps;
    uint64_t decode_errors;
    ratelog_t decode_log;
    uint64_t untracked;             /* messages past MAX_SOURCES             */
    arena_t *arena;                 /* holds the message handed out last     */
    bool headers_only;              /* decode the Header, not the body       */
    ProtobufCAllocator allocator;
    /* the (source, topic) pairs of the last messages, most recent first: a
       stream of several topics from one source (a bridge's requests,
       responses and verdicts) finds its track here without a hash lookup */
    struct {
        char source[256];
        char topic[64];
        sub_track_t *track;
    } recent[RECENT_TRACKS];
    char *subscriptions[BUS_SUB_MAX_PREFIXES];  /* as subscribed, owned     */
    size_t subscription_count;
};

static void
free_track (void **item)
{
    free (*item);
    *item = NULL;
}

bus_sub_t *
bus_sub_new (const config_t *cfg)
{
    bus_sub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->sock = zsock_new (ZMQ_SUB);
    self->tracks = zhashx_new ();
    self->arena = calloc (1, sizeof (arena_t));
    self->allocator = (ProtobufCAllocator) { arena_alloc, arena_free, self->arena };
    if (!self->sock || !self->tracks || !self->arena) {
        bus_sub_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->tracks, free_track);
    zsock_set_rcvhwm (self->sock, cfg->bus.rcvhwm);
    zsock_set_linger (self->sock, 0);
    /* a publisher that is not there yet (or restarts) is found within 10 ms
       at first, then every 100 ms at most while it stays away */
    zsock_set_reconnect_ivl (self->sock, 10);
    zsock_set_reconnect_ivl_max (self->sock, 100);
    self->handle = zsock_resolve (self->sock);
    return self;
}

void
bus_sub_destroy (bus_sub_t **self_p)
{
    bus_sub_t *self = *self_p;
    if (!self)
        return;
    if (self->arena) {
        arena_reset (self->arena);
        free (self->arena->big);
        free (self->arena);
    }
    busauth_stop (self->auth);
    zsock_destroy (&self->sock);
    busauth_destroy (&self->auth);
    zhashx_destroy (&self->tracks);
    for (size_t i = 0; i < self->endpoint_count; i++) {
        if (self->endpoints[i].binds && self->endpoints[i].endpoint)
            remove_ipc_file (self->endpoints[i].endpoint);
        free (self->endpoints[i].endpoint);
    }
    free (self->endpoints);
    for (size_t i = 0; i < self->source_count; i++)
        free ((char *) self->sources[i].source);
    free (self->sources);
    for (size_t i = 0; i < self->subscription_count; i++)
        free (self->subscriptions[i]);
    free (self);
    *self_p = NULL;
}

int
bus_sub_attach (bus_sub_t *self, const char *endpoint)
{
    endpoint_t ep;
    if (bus_attach (self->sock, endpoint, false, self->cfg, &self->auth, &ep))
        return -1;
    sub_endpoint_t *grown = realloc (self->endpoints,
                                     (self->endpoint_count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    self->endpoints = grown;
    self->endpoints[self->endpoint_count].endpoint = strdup (ep.address);
    self->endpoints[self->endpoint_count].binds = ep.bind;
    self->endpoint_count++;
    return 0;
}

void
bus_sub_set_headers_only (bus_sub_t *self, bool headers_only)
{
    self->headers_only = headers_only;
}

void
bus_sub_subscribe (bus_sub_t *self, const char *prefix)
{
    zsock_set_subscribe (self->sock, prefix);
    for (size_t i = 0; i < self->subscription_count; i++)
        if (strcmp (self->subscriptions[i], prefix) == 0)
            return;
    if (self->subscription_count < BUS_SUB_MAX_PREFIXES) {
        char *copy = strdup (prefix);
        if (copy)
            self->subscriptions[self->subscription_count++] = copy;
    }
}

size_t bus_sub_subscription_count (bus_sub_t *self) { return self->subscription_count; }

const char *
bus_sub_subscription (bus_sub_t *self, size_t index)
{
    return index < self->subscription_count ? self->subscriptions[index] : NULL;
}

/*  The index of SOURCE in the sources table, added if new; -1 when full.   */
static long
source_index (bus_sub_t *self, const char *source)
{
    for (size_t i = 0; i < self->source_count; i++)
        if (strcmp (self->sources[i].source, source) == 0)
            return (long) i;
    if (self->source_count == MAX_SOURCES)
        return -1;
    bus_source_stats_t *grown = realloc (self->sources, (self->source_count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    self->sources = grown;
    memset (&self->sources[self->source_count], 0, sizeof *grown);
    self->sources[self->source_count].source = strdup (source);
    return (long) self->source_count++;
}

/*  A new (source, topic) pair: its first message is the baseline.          */
static sub_track_t *
new_track (bus_sub_t *self, const char *key, const Dpidual__V1__Header *header)
{
    long index = zhashx_size (self->tracks) < MAX_SOURCES ? source_index (self, header->source) : -1;
    sub_track_t *t = index < 0 ? NULL : calloc (1, sizeof *t);
    if (!t) {
        self->untracked++;
        return NULL;
    }
    t->source = (size_t) index;
    t->last_seq = header->seq;
    t->instance = header->instance;
    zhashx_insert (self->tracks, key, t);
    self->sources[index].received++;
    self->sources[index].last_ns = coarse_mono_ns ();
    return t;
}

/*  Sequence accounting for one message (see the table in bus.h).           */
static void
track (bus_sub_t *self, const char *topic, const Dpidual__V1__Header *header)
{
    sub_track_t *t = NULL;
    size_t r = 0;
    while (r < RECENT_TRACKS && self->recent[r].track
           && (strcmp (topic, self->recent[r].topic) != 0
               || strcmp (header->source, self->recent[r].source) != 0))
        r++;
    if (r < RECENT_TRACKS && self->recent[r].track) {
        t = self->recent[r].track;  /* the usual case: a pair seen lately */
        if (r > 0) {                /* to the front */
            __typeof__ (self->recent[0]) hit = self->recent[r];
            memmove (&self->recent[1], &self->recent[0], r * sizeof self->recent[0]);
            self->recent[0] = hit;
        }
    }
    else {
        char key[320];
        snprintf (key, sizeof key, "%s\n%s", header->source, topic);
        t = zhashx_lookup (self->tracks, key);
        bool created = !t;
        if (created)
            t = new_track (self, key, header);
        if (!t)
            return;
        if (strlen (header->source) < sizeof self->recent[0].source
            && strlen (topic) < sizeof self->recent[0].topic) {
            memmove (&self->recent[1], &self->recent[0],
                     (RECENT_TRACKS - 1) * sizeof self->recent[0]);
            snprintf (self->recent[0].source, sizeof self->recent[0].source, "%s",
                      header->source);
            snprintf (self->recent[0].topic, sizeof self->recent[0].topic, "%s", topic);
            self->recent[0].track = t;
        }
        if (created)
            return;                 /* the first message is the baseline */
    }
    bus_source_stats_t *s = &self->sources[t->source];
    s->received++;
    s->last_ns = coarse_mono_ns ();
    if (header->instance != t->instance || (header->seq == 1 && t->last_seq > 1)) {
        s->restarts++;
        t->instance = header->instance;
        /* the new instance's messages before this one were sent while this
           subscriber was reconnecting to it: lost to it, so counted */
        if (header->seq > 1) {
            s->gaps += header->seq - 1;
            self->gaps += header->seq - 1;
        }
    }
    else if (header->seq > t->last_seq + 1) {
        uint64_t missing = header->seq - t->last_seq - 1;
        s->gaps += missing;
        self->gaps += missing;
    }
    else if (header->seq <= t->last_seq) {
        s->out_of_order++;
        return;
    }
    t->last_seq = header->seq;
}

/*  Read the frames of one message. 1 ok, 0 nothing there, -1 malformed
    (a single frame, or more than two: the extra frames are drained).       */
static int
recv_frames (bus_sub_t *self, zmq_msg_t *topic, zmq_msg_t *payload)
{
    if (zmq_msg_recv (topic, self->handle, ZMQ_DONTWAIT) < 0)
        return 0;
    if (!zmq_msg_more (topic))
        return -1;
    if (zmq_msg_recv (payload, self->handle, 0) < 0)
        return -1;
    if (!zmq_msg_more (payload))
        return 1;
    zmq_msg_t extra;
    zmq_msg_init (&extra);
    bool more = true;
    while (more && zmq_msg_recv (&extra, self->handle, 0) >= 0)
        more = zmq_msg_more (&extra);
    zmq_msg_close (&extra);
    return -1;
}

/*  The Header alone: field 1 of every message, which protobuf-c writes
    first (fields go out in number order). NULL if the payload does not
    start with it.                                                           */
static Dpidual__V1__Header *
unpack_header (bus_sub_t *self, const uint8_t *data, size_t size)
{
    if (size < 2 || data[0] != 0x0a)            /* field 1, length-delimited */
        return NULL;
    uint64_t len = 0;
    size_t i = 1;
    for (int shift = 0; i < size && shift < 35; shift += 7, i++) {
        len |= (uint64_t) (data[i] & 0x7f) << shift;
        if (!(data[i] & 0x80))
            break;
    }
    if (i >= size || len > size - i - 1)
        return NULL;
    return (Dpidual__V1__Header *) protobuf_c_message_unpack (&dpidual__v1__header__descriptor,
                                                              &self->allocator, (size_t) len,
                                                              data + i + 1);
}

/*  A message that did not decode: counted, and said at most once a second
    (its topic, printable characters only, and size). TOPIC NULL: the frames
    were not a topic and a body.                                            */
static void
decode_failed (bus_sub_t *self, const char *topic, size_t topic_len, size_t size)
{
    self->decode_errors++;
    uint64_t unlogged;
    if (!ratelog_due (&self->decode_log, &unlogged))
        return;
    char name[64] = "(not a topic and a body)";
    if (topic) {
        size_t n = topic_len < sizeof name - 1 ? topic_len : sizeof name - 1;
        for (size_t i = 0; i < n; i++)
            name[i] = topic[i] >= 0x20 && topic[i] < 0x7f ? topic[i] : '?';
        name[n] = '\0';
    }
    log_warning ("bus: dropped a message on '%s' (%zu bytes) that does not decode as that "
                 "topic's message (%llu so far, %llu not logged since the last line)",
                 name, size, (unsigned long long) self->decode_errors,
                 (unsigned long long) unlogged);
}

static int
decode (bus_sub_t *self, const char *topic, size_t topic_len, const uint8_t *payload,
        size_t size, bus_msg_t *msg)
{
    /* a NUL inside the frame would make "buffer.alert\0junk" read as
       buffer.alert (found by fuzz_bus) */
    if (topic_len == 0 || topic_len >= sizeof msg->topic || memchr (topic, 0, topic_len))
        return -1;
    memcpy (msg->topic, topic, topic_len);
    msg->topic[topic_len] = 0;
    const ProtobufCMessageDescriptor *desc = topics_descriptor (msg->topic);
    if (!desc)
        return -1;
    ProtobufCMessage *body = NULL;
    Dpidual__V1__Header *header = NULL;
    if (self->headers_only)
        header = unpack_header (self, payload, size);
    else {
        body = protobuf_c_message_unpack (desc, &self->allocator, size, payload);
        if (!body)
            return -1;
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field (desc, 1);
        header = *(Dpidual__V1__Header **) ((char *) body + field->offset);
    }
    if (!header || !header->source || !*header->source || header->seq == 0)
        return -1;
    msg->body = body;
    msg->header = header;
    msg->size = size;
    track (self, msg->topic, header);
    return 1;
}

int
bus_sub_decode (bus_sub_t *self, const void *topic, size_t topic_len, const void *payload,
                size_t size, bus_msg_t *msg)
{
    arena_reset (self->arena);
    if (decode (self, topic, topic_len, payload, size, msg) < 0) {
        decode_failed (self, topic, topic_len, size);
        return -1;
    }
    self->received++;
    return 1;
}

int
bus_sub_recv (bus_sub_t *self, int timeout_ms, bus_msg_t *msg)
{
    uint64_t deadline = timeout_ms < 0 ? 0 : bus_mono_ns () + (uint64_t) timeout_ms * 1000000ull;
    while (!zsys_interrupted) {
        zmq_msg_t topic, payload;
        zmq_msg_init (&topic);
        zmq_msg_init (&payload);
        int rc = recv_frames (self, &topic, &payload);
        if (rc != 0) {
            int decoded = -1;
            if (rc > 0)
                decoded = bus_sub_decode (self, zmq_msg_data (&topic), zmq_msg_size (&topic),
                                          zmq_msg_data (&payload), zmq_msg_size (&payload), msg);
            else
                decode_failed (self, NULL, 0, zmq_msg_size (&payload));
            zmq_msg_close (&topic);
            zmq_msg_close (&payload);
            if (decoded > 0)
                return 1;
            continue;
        }
        zmq_msg_close (&topic);
        zmq_msg_close (&payload);

        long wait_ms = -1;
        if (timeout_ms >= 0) {
            uint64_t now = bus_mono_ns ();
            if (now >= deadline)
                return 0;
            wait_ms = (long) ((deadline - now) / 1000000ull) + 1;
        }
        zsock_t *monitor = busauth_sock (self->auth);
        zmq_pollitem_t items[2] = { { self->handle, 0, ZMQ_POLLIN, 0 },
                                    { monitor ? zsock_resolve (monitor) : NULL, 0, ZMQ_POLLIN, 0 } };
        if (monitor && wait_ms != 0)
            busauth_service (self->auth);
        /* a failed handshake's endpoint is tried again within a second */
        long limit = monitor ? 250 : 1000;
        if (zmq_poll (items, monitor ? 2 : 1, wait_ms > limit || wait_ms < 0 ? limit : wait_ms) < 0
            && zmq_errno () != EINTR)
            return 0;
    }
    return 0;
}

zsock_t *bus_sub_sock (bus_sub_t *self) { return self->sock; }
void bus_sub_service (bus_sub_t *self) { busauth_service (self->auth); }

const char *
bus_sub_handshake_failure (bus_sub_t *self, size_t index)
{
    return index < self->endpoint_count
               ? busauth_failure (self->auth, self->endpoints[index].endpoint)
               : NULL;
}
size_t bus_sub_endpoint_count (bus_sub_t *self) { return self->endpoint_count; }
uint64_t bus_sub_decode_errors (bus_sub_t *self) { return self->decode_errors; }
uint64_t bus_sub_received (bus_sub_t *self) { return self->received; }
uint64_t bus_sub_gaps (bus_sub_t *self) { return self->gaps; }
size_t bus_sub_source_count (bus_sub_t *self) { return self->source_count; }

const char *
bus_sub_endpoint (bus_sub_t *self, size_t index)
{
    return index < self->endpoint_count ? self->endpoints[index].endpoint : NULL;
}

bool
bus_sub_binds (bus_sub_t *self, size_t index)
{
    return index < self->endpoint_count && self->endpoints[index].binds;
}

bus_source_stats_t
bus_sub_source_stats (bus_sub_t *self, size_t index)
{
    bus_source_stats_t none = { 0 };
    return index < self->source_count ? self->sources[index] : none;
}
