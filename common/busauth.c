/*  busauth.c — see busauth.h.

    The ZAP handler is an actor (its own thread) bound to ZeroMQ's ZAP
    endpoint. It also reads the monitors of the sockets we bind: a monitor
    is a PAIR connected to the inproc address zmq_socket_monitor bound; it
    goes when libzmq says MONITOR_STOPPED (the socket was closed).

    A server-side handshake failure comes as HANDSHAKE_FAILED_* on the
    bound endpoint's address, without the peer; the peer is found through
    the connection's file descriptor: ACCEPTED and DISCONNECTED carry it,
    and the failure is reported at the DISCONNECTED that follows it.       */
#include "busauth.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"
#include "ratelog.h"

#define ZAP_DOMAIN "dpi-dual"
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define MAX_PEERS 64                /* accepted connections remembered        */
#define MAX_CLIENT_ENDPOINTS 16

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_handler;         /* the ZAP handler, while held           */
static int s_holds;
static atomic_uint_least64_t s_refused;
static atomic_uint s_monitors;      /* for unique monitor addresses          */

typedef struct {
    char endpoint[256];
    bool failing;                   /* failed, and no success since          */
    bool disconnected;              /* by us, until RETRY_MS                  */
    char reason[200];
    int backoff_ms;
    int64_t retry_ms;               /* zclock_mono                            */
    uint64_t failures;
} client_endpoint_t;

struct busauth_t {
    zsock_t *sock;                  /* the socket (not owned)                */
    bool held;                      /* a hold on the handler                 */
    bool server_watched;
    zsock_t *monitor;               /* client side: the monitor's PAIR        */
    client_endpoint_t endpoints[MAX_CLIENT_ENDPOINTS];
    size_t endpoint_count;
};

/*  --------------------------------------------------------------------------
    Certificates                                                             */

zcert_t *
busauth_load_cert (const char *path)
{
    FILE *file = fopen (path, "r");
    char line[512];
    bool curve = false, key = false;
    while (file && fgets (line, sizeof line, file)) {
        curve = curve || strcmp (line, "curve\n") == 0;
        key = key || (curve && strstr (line, "public-key = \""));
    }
    if (file)
        fclose (file);
    return curve && key ? zcert_load (path) : NULL;
}

int
busauth_allow_load (const char *dir, zhashx_t *keys, zlistx_t *bad)
{
    DIR *d = opendir (dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        zcert_t *cert = busauth_load_cert (path);
        if (!cert) {
            if (bad)
                zlistx_add_end (bad, path);
            continue;
        }
        zhashx_update (keys, zcert_public_txt (cert), strdup (e->d_name));
        zcert_destroy (&cert);
        n++;
    }
    closedir (d);
    return n;
}

const char *
busauth_mode (const config_t *cfg)
{
    if (!cfg->bus.curve.enabled)
        return "off";
    return cfg->bus.curve.allow_any ? "curve-any-client" : "curve";
}

uint64_t
busauth_refused (void)
{
    return atomic_load (&s_refused);
}

/*  --------------------------------------------------------------------------
    The handler                                                              */

typedef struct {
    zsock_t *pair;
    char endpoint[256];
    struct {
        int fd;
        char peer[80];
    } peers[MAX_PEERS];
    size_t next_peer;
    char pending[160];              /* a failure waiting for its DISCONNECTED */
} monitor_t;

typedef struct {
    zsock_t *pipe;
    zsock_t *zap;
    zpoller_t *poller;
    zlistx_t *monitors;             /* monitor_t                              */
    bool allow_any;
    char *allow_dir;
    zhashx_t *keys;                 /* allowed public keys -> file           */
    struct timespec dir_mtime;
    ratelog_t zap_log, handshake_log;
} handler_t;

/*  The allow-list again when the directory changed (a key added or
    removed takes effect at the next handshake).                            */
static void
reload_keys (handler_t *h)
{
    struct stat st;
    if (stat (h->allow_dir, &st) != 0) {
        zhashx_purge (h->keys);
        return;
    }
    if (h->dir_mtime.tv_sec == st.st_mtim.tv_sec && h->dir_mtime.tv_nsec == st.st_mtim.tv_nsec)
        return;
    h->dir_mtime = st.st_mtim;
    zhashx_purge (h->keys);
    zlistx_t *bad = zlistx_new ();
    zlistx_set_destructor (bad, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_duplicator (bad, (zlistx_duplicator_fn *) strdup);
    int n = busauth_allow_load (h->allow_dir, h->keys, bad);
    for (char *path = zlistx_first (bad); path; path = zlistx_next (bad))
        log_warning ("bus.curve.allow_dir: %s is not a certificate; ignored", path);
    zlistx_destroy (&bad);
    log_info ("bus: %d client key%s allowed (%s)", n, n == 1 ? "" : "s", h->allow_dir);
}

static void
refused (ratelog_t *r, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
refused (ratelog_t *r, const char *fmt, ...)
{
    uint64_t total = atomic_fetch_add (&s_refused, 1) + 1;
    uint64_t unlogged;
    if (!ratelog_due (r, &unlogged))
        return;
    char text[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    log_warning ("bus: refused %s (%llu refused so far, %llu not logged since the last line)",
                 text, (unsigned long long) total, (unsigned long long) unlogged);
}

/*  One ZAP request (RFC 27): version, request id, domain, address,
    identity, mechanism, credentials; the reply says 200 or 400.            */
static void
answer_zap (handler_t *h)
{
    zmsg_t *req = zmsg_recv (h->zap);
    if (!req)
        return;
    char *version = zmsg_popstr (req), *request_id = zmsg_popstr (req);
    char *domain = zmsg_popstr (req), *address = zmsg_popstr (req);
    char *identity = zmsg_popstr (req), *mechanism = zmsg_popstr (req);
    zframe_t *key = zmsg_pop (req);
    char key_txt[41] = "";
    bool curve = mechanism && strcmp (mechanism, "CURVE") == 0;
    if (curve && key && zframe_size (key) == 32)
        zmq_z85_encode (key_txt, zframe_data (key), 32);
    bool ok = false;
    const char *why = "not CURVE";
    if (*key_txt) {
        if (h->allow_any)
            ok = true;
        else {
            reload_keys (h);
            ok = zhashx_lookup (h->keys, key_txt) != NULL;
            why = "key not in bus.curve.allow_dir";
        }
    }
    if (!ok)
        refused (&h->zap_log, "the client %s (key %s, mechanism %s) on ZAP domain '%s': %s",
                 address ? address : "?", *key_txt ? key_txt : "none",
                 mechanism ? mechanism : "?", domain ? domain : "?", why);
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, request_id ? request_id : "");
    zmsg_addstr (reply, ok ? "200" : "400");
    zmsg_addstr (reply, ok ? "OK" : "no access");
    zmsg_addstr (reply, "");
    zmsg_addmem (reply, "", 0);
    zmsg_send (&reply, h->zap);
    zframe_destroy (&key);
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zmsg_destroy (&req);
}

static void
describe_failure (uint16_t event, uint32_t value, char *out, size_t outlen)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf (out, outlen, "mechanism mismatch (a client without CURVE?)");
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
             && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        snprintf (out, outlen, "cryptographic error (a client holding the wrong server key?)");
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        snprintf (out, outlen, "protocol error 0x%x (not a ZeroMQ CURVE client?)", value);
    else
        snprintf (out, outlen, "the client left during the handshake (%s): a client without "
                  "CURVE, or not a ZeroMQ client?", strerror ((int) value));
}

/*  The peer of a connection's file descriptor, read at ACCEPTED (the
    connection may be gone by then: "?").                                   */
static void
remember_peer (monitor_t *m, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getpeername (fd, (struct sockaddr *) &ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *) &ss;
            inet_ntop (AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs (a->sin_port);
        }
        else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
            inet_ntop (AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs (a->sin6_port);
        }
    }
    size_t i = m->next_peer++ % MAX_PEERS;
    m->peers[i].fd = fd;
    if (port)
        snprintf (m->peers[i].peer, sizeof m->peers[i].peer, "%s:%d", host, port);
    else
        snprintf (m->peers[i].peer, sizeof m->peers[i].peer, "(address unknown)");
}

static const char *
forget_peer (monitor_t *m, int fd)
{
    for (size_t i = 0; i < MAX_PEERS; i++)
        if (m->peers[i].fd == fd && m->peers[i].peer[0]) {
            m->peers[i].fd = -1;
            return m->peers[i].peer;
        }
    return "(address unknown)";
}

/*  One monitor event: two frames, [event u16][value u32] and the address. */
static bool
read_event (zsock_t *pair, uint16_t *event, uint32_t *value, char *address, size_t addrlen)
{
    zmsg_t *msg = zmsg_recv (pair);
    if (!msg)
        return false;
    zframe_t *f = zmsg_first (msg);
    bool ok = f && zframe_size (f) == 6;
    if (ok) {
        memcpy (event, zframe_data (f), 2);
        memcpy (value, zframe_data (f) + 2, 4);
        zframe_t *a = zmsg_next (msg);
        size_t n = a ? zframe_size (a) : 0;
        n = n < addrlen - 1 ? n : addrlen - 1;
        if (a)
            memcpy (address, zframe_data (a), n);
        address[n] = 0;
    }
    zmsg_destroy (&msg);
    return ok;
}

/*  A server socket's event; false when its monitor stopped.                */
static bool
server_event (handler_t *h, monitor_t *m)
{
    uint16_t event = 0;
    uint32_t value = 0;
    char address[256];
    if (!read_event (m->pair, &event, &value, address, sizeof address))
        return true;
    switch (event) {
    case ZMQ_EVENT_ACCEPTED:
        remember_peer (m, (int) value);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        if (m->pending[0])      /* its DISCONNECTED never came */
            refused (&h->handshake_log, "a client on %s: %s", address, m->pending);
        describe_failure (event, value, m->pending, sizeof m->pending);
        snprintf (m->endpoint, sizeof m->endpoint, "%s", address);
        break;
    case ZMQ_EVENT_DISCONNECTED: {
        const char *peer = forget_peer (m, (int) value);
        if (m->pending[0])
            refused (&h->handshake_log, "the client %s on %s: %s", peer, m->endpoint,
                     m->pending);
        m->pending[0] = 0;
        break;
    }
    case ZMQ_EVENT_MONITOR_STOPPED:
        return false;
    default:                    /* FAILED_AUTH: ZAP said it already */
        break;
    }
    return true;
}

static void
watch (handler_t *h, const char *address)
{
    monitor_t *m = calloc (1, sizeof *m);
    m->pair = m ? zsock_new (ZMQ_PAIR) : NULL;
    if (m && m->pair) {
        zsock_set_rcvhwm (m->pair, 0);      /* libzmq's send never waits */
        if (zsock_connect (m->pair, "%s", address) != 0)
            zsock_destroy (&m->pair);
    }
    if (!m || !m->pair) {
        log_error ("bus: cannot watch the handshakes on %s", address);
        free (m);
        return;
    }
    for (size_t i = 0; i < MAX_PEERS; i++)
        m->peers[i].fd = -1;
    zlistx_add_end (h->monitors, m);
    zpoller_add (h->poller, m->pair);
}

static void
drop_monitor (handler_t *h, monitor_t *m)
{
    zpoller_remove (h->poller, m->pair);
    zsock_destroy (&m->pair);
    void *handle = zlistx_find (h->monitors, m);
    if (handle)
        zlistx_delete (h->monitors, handle);
    free (m);
}

typedef struct {
    bool allow_any;
    const char *allow_dir;
    bool started;                   /* set by the actor before its signal    */
} handler_args_t;

static void
handler_actor (zsock_t *pipe, void *arg)
{
    handler_args_t *args = arg;
    handler_t h = { .pipe = pipe, .allow_any = args->allow_any };
    h.allow_dir = strdup (args->allow_dir ? args->allow_dir : "");
    h.keys = zhashx_new ();
    zhashx_set_destructor (h.keys, (zhashx_destructor_fn *) zstr_free);
    h.monitors = zlistx_new ();
    h.zap = zsock_new (ZMQ_REP);
    /* the previous handler's endpoint may not be released yet when a process
       stops and starts CURVE sockets in a row (its close is asynchronous):
       EADDRINUSE is given a second to pass */
    int bound = h.zap ? zsock_bind (h.zap, "inproc://zeromq.zap.01") : -1;
    for (int tries = 0; h.zap && bound != 0 && zmq_errno () == EADDRINUSE && tries < 20; tries++) {
        zclock_sleep (50);
        bound = zsock_bind (h.zap, "inproc://zeromq.zap.01");
    }
    if (bound != 0) {
        log_error ("bus: cannot bind the ZAP endpoint (another ZAP handler in this process?)");
        zsock_destroy (&h.zap);
        zsock_signal (pipe, 1);     /* zactor_new waits for it */
        goto done;
    }
    if (!h.allow_any)
        reload_keys (&h);
    h.poller = zpoller_new (pipe, h.zap, NULL);
    /* the worker sets zsys_interrupted at SIGTERM; without nonstop, every
       zpoller_wait after it returns NULL at once and $TERM is never read */
    if (h.poller)
        zpoller_set_nonstop (h.poller, true);
    args->started = true;
    zsock_signal (pipe, 0);
    while (true) {              /* until $TERM: an interrupt is the worker's */
        void *which = zpoller_wait (h.poller, -1);
        if (!which) {
            if (zmq_errno () == ETERM)
                break;
            continue;
        }
        if (which == pipe) {
            zmsg_t *cmd = zmsg_recv (pipe);
            char *verb = cmd ? zmsg_popstr (cmd) : NULL;
            bool term = !verb || strcmp (verb, "$TERM") == 0;
            if (verb && strcmp (verb, "WATCH") == 0) {
                char *address = zmsg_popstr (cmd);
                if (address)
                    watch (&h, address);
                zstr_free (&address);
                zsock_signal (pipe, 0);
            }
            zstr_free (&verb);
            zmsg_destroy (&cmd);
            if (term)
                break;
        }
        else if (which == h.zap)
            answer_zap (&h);
        else
            for (monitor_t *m = zlistx_first (h.monitors); m; m = zlistx_next (h.monitors))
                if (m->pair == which) {
                    if (!server_event (&h, m))
                        drop_monitor (&h, m);
                    break;
                }
    }
done:
    while (zlistx_size (h.monitors))
        drop_monitor (&h, zlistx_first (h.monitors));
    zlistx_destroy (&h.monitors);
    zpoller_destroy (&h.poller);
    if (h.zap)      /* an inproc unbind is synchronous, a close is not */
        zsock_unbind (h.zap, "inproc://zeromq.zap.01");
    zsock_destroy (&h.zap);
    zhashx_destroy (&h.keys);
    free (h.allow_dir);
}

/*  --------------------------------------------------------------------------
    Attaching                                                                */

static char *
monitor_address (char *out, size_t outlen)
{
    snprintf (out, outlen, "inproc://busauth-monitor-%u", atomic_fetch_add (&s_monitors, 1));
    return out;
}

static int
hold_handler (busauth_t *self, const config_t *cfg)
{
    if (self->held)
        return 0;
    pthread_mutex_lock (&s_lock);
    int rc = 0;
    if (!s_handler) {
        handler_args_t args = { cfg->bus.curve.allow_any, cfg->bus.curve.allow_dir, false };
        s_handler = zactor_new (handler_actor, &args);     /* waits for its signal */
        if (s_handler && !args.started)
            zactor_destroy (&s_handler);
        if (!s_handler)
            rc = -1;
        else if (cfg->bus.curve.allow_any)
            log_warning ("bus.curve.allow_any: ANY client key is accepted on the endpoints we "
                         "bind — encrypted, but NOT authenticated");
    }
    if (rc == 0)
        s_holds++;
    pthread_mutex_unlock (&s_lock);
    self->held = rc == 0;
    return rc;
}

static int
server (busauth_t *self, zsock_t *sock, const config_t *cfg)
{
    if (!cfg->bus.curve.allow_any && !*cfg->bus.curve.allow_dir) {
        log_error ("bus.curve.allow_dir: required to bind a CURVE endpoint (the client keys "
                   "allowed; or bus.curve.allow_any: true to accept any key)");
        return -1;
    }
    zcert_t *cert = busauth_load_cert (cfg->bus.curve.cert);
    if (!cert) {
        log_error ("bus.curve.cert: cannot load certificate '%s'", cfg->bus.curve.cert);
        return -1;
    }
    if (hold_handler (self, cfg) != 0) {
        zcert_destroy (&cert);
        log_error ("bus: cannot start the ZAP handler");
        return -1;
    }
    zcert_apply (cert, sock);
    zcert_destroy (&cert);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, ZAP_DOMAIN);
    if (self->server_watched)
        return 0;
    char address[64];
    monitor_address (address, sizeof address);
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                 | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor (zsock_resolve (sock), address, events) != 0) {
        log_warning ("bus: cannot monitor the handshakes: %s", zmq_strerror (zmq_errno ()));
        return 0;       /* ZAP refusals are still logged and counted */
    }
    pthread_mutex_lock (&s_lock);
    zstr_sendx (s_handler, "WATCH", address, NULL);
    zsock_wait (s_handler);
    pthread_mutex_unlock (&s_lock);
    self->server_watched = true;
    return 0;
}

static int
client (busauth_t *self, zsock_t *sock, const config_t *cfg, bool own_server)
{
    zcert_t *cert = busauth_load_cert (cfg->bus.curve.cert);
    if (!cert) {
        log_error ("bus.curve.cert: cannot load certificate '%s'", cfg->bus.curve.cert);
        return -1;
    }
    zcert_t *server_cert = NULL;
    if (!own_server) {
        server_cert = busauth_load_cert (cfg->bus.curve.server_cert);
        if (!server_cert) {
            zcert_destroy (&cert);
            log_error ("bus.curve.server_cert: cannot load certificate '%s'",
                       cfg->bus.curve.server_cert);
            return -1;
        }
    }
    zcert_apply (cert, sock);
    /* (the option applies to the connections made after it: one socket may
       connect to servers of two hosts) */
    zsock_set_curve_serverkey (sock, zcert_public_txt (own_server ? cert : server_cert));
    zcert_destroy (&cert);
    zcert_destroy (&server_cert);
    if (self->monitor)
        return 0;
    char address[64];
    monitor_address (address, sizeof address);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                 | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor (zsock_resolve (sock), address, events) == 0) {
        self->monitor = zsock_new (ZMQ_PAIR);
        if (self->monitor) {
            zsock_set_rcvhwm (self->monitor, 0);    /* libzmq's send never waits */
            if (zsock_connect (self->monitor, "%s", address) != 0)
                zsock_destroy (&self->monitor);
        }
    }
    if (!self->monitor)
        log_warning ("bus: cannot monitor the handshakes: %s", zmq_strerror (zmq_errno ()));
    return 0;
}

int
busauth_attach (busauth_t **self_p, zsock_t *sock, const config_t *cfg, bool bind,
                bool own_server)
{
    if (!*self_p) {
        *self_p = calloc (1, sizeof **self_p);
        if (!*self_p)
            return -1;
        (*self_p)->sock = sock;
    }
    return bind ? server (*self_p, sock, cfg) : client (*self_p, sock, cfg, own_server);
}

void
busauth_stop (busauth_t *self)
{
    if (self && (self->monitor || self->server_watched)) {
        zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
        self->server_watched = false;
    }
}

void
busauth_destroy (busauth_t **self_p)
{
    busauth_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->monitor);
    if (self->held) {
        pthread_mutex_lock (&s_lock);
        if (--s_holds == 0)
            zactor_destroy (&s_handler);
        pthread_mutex_unlock (&s_lock);
    }
    free (self);
    *self_p = NULL;
}

/*  --------------------------------------------------------------------------
    Client side                                                              */

static client_endpoint_t *
client_endpoint (busauth_t *self, const char *endpoint, bool add)
{
    for (size_t i = 0; i < self->endpoint_count; i++)
        if (strcmp (self->endpoints[i].endpoint, endpoint) == 0)
            return &self->endpoints[i];
    if (!add || self->endpoint_count == MAX_CLIENT_ENDPOINTS)
        return NULL;
    client_endpoint_t *e = &self->endpoints[self->endpoint_count++];
    memset (e, 0, sizeof *e);
    snprintf (e->endpoint, sizeof e->endpoint, "%s", endpoint);
    return e;
}

static void
client_failed (busauth_t *self, client_endpoint_t *e, uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf (e->reason, sizeof e->reason, "the server refused our key (status %u): is "
                  "bus.curve.cert's public key in the server's allow_dir?", value);
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
             && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf (e->reason, sizeof e->reason, "the server does not use CURVE (mechanism mismatch)");
    else
        snprintf (e->reason, sizeof e->reason, "the server closed the CURVE handshake: server "
                  "key mismatch? (bus.curve.server_cert)");
    e->failures++;
    e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (e->backoff_ms > BACKOFF_MAX_MS)
        e->backoff_ms = BACKOFF_MAX_MS;
    if (!e->failing)
        log_error ("bus: handshake with %s failed: %s (trying again after 1 s, then "
                   "doubling up to %d s)", e->endpoint, e->reason, BACKOFF_MAX_MS / 1000);
    else
        log_debug ("bus: handshake with %s failed again (%llu times): %s", e->endpoint,
                   (unsigned long long) e->failures, e->reason);
    e->failing = true;
    if (!e->disconnected && zmq_disconnect (zsock_resolve (self->sock), e->endpoint) == 0)
        e->disconnected = true;
    e->retry_ms = zclock_mono () + e->backoff_ms;
}

void
busauth_service (busauth_t *self)
{
    if (!self || !self->monitor)
        return;
    while (zsock_events (self->monitor) & ZMQ_POLLIN) {
        uint16_t event = 0;
        uint32_t value = 0;
        char address[256];
        if (!read_event (self->monitor, &event, &value, address, sizeof address))
            continue;
        client_endpoint_t *e = client_endpoint (self, address, true);
        if (!e)
            continue;
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            if (e->failing)
                log_info ("bus: handshake with %s succeeded after %llu failures", e->endpoint,
                          (unsigned long long) e->failures);
            e->failing = false;
            e->failures = 0;
            e->backoff_ms = 0;
        }
        else if (event != ZMQ_EVENT_MONITOR_STOPPED)
            client_failed (self, e, event, value);
    }
    int64_t now = zclock_mono ();
    for (size_t i = 0; i < self->endpoint_count; i++) {
        client_endpoint_t *e = &self->endpoints[i];
        if (e->disconnected && now >= e->retry_ms) {
            if (zmq_connect (zsock_resolve (self->sock), e->endpoint) == 0)
                e->disconnected = false;
            else
                e->retry_ms = now + e->backoff_ms;
        }
    }
}

zsock_t *
busauth_sock (busauth_t *self)
{
    return self ? self->monitor : NULL;
}

const char *
busauth_failure (busauth_t *self, const char *endpoint)
{
    client_endpoint_t *e = self ? client_endpoint (self, endpoint, false) : NULL;
    return e && e->failing ? e->reason : NULL;
}
