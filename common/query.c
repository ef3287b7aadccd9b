/*  query.c — see query.h. The service is a ROUTER: a REQ client's request
    arrives as [identity][empty delimiter][json] and its reply goes back as
    [identity][empty][json]; a DEALER that sends no delimiter is answered
    without one. Anything else (no body frame, several body frames, a body
    over QUERY_MAX_REQUEST bytes, not a JSON object with a string "cmd") is
    answered {"ok":false,"error":...} and counted as a bad request. Frames
    over QUERY_MAX_FRAME bytes make ZeroMQ drop the peer (ZMQ_MAXMSGSIZE):
    they are not read at all.

    Replies never block: ZMQ_ROUTER_MANDATORY is off (a reply to a client
    that went away is dropped by ZeroMQ) and sends use ZMQ_DONTWAIT (a
    client that does not read its replies costs a send error, counted).    */
#include "query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "bus.h"
#include "endpoint.h"
#include "log.h"

#define QUERY_MAX_FRAME (16 * QUERY_MAX_REQUEST)   /* larger: the peer is dropped */
#define QUERY_HWM 1000                              /* messages queued per peer    */
#define MAX_IDENTITY 256                            /* ZeroMQ's limit is 255       */

struct query_t {
    zsock_t *sock;
    void *handle;                   /* the libzmq socket                     */
    busauth_t *auth;                /* CURVE state of the socket (busauth.h) */
    query_handler_fn *handler;
    void *arg;
    bool binds;
    char endpoint[512];             /* as bound                              */
    query_stats_t stats;
};

/*  One received message, taken apart.                                       */
typedef struct {
    unsigned char identity[MAX_IDENTITY];
    size_t identity_len;
    bool delimiter;                 /* the frame after the identity is empty */
    size_t bodies;                  /* frames after identity and delimiter   */
    bool too_large;                 /* the first body is over the limit      */
    char *body;                     /* the first body, owned (NULL if none)  */
    size_t body_len;
} request_t;

query_t *
query_new (const config_t *cfg, const char *endpoint, query_handler_fn *handler, void *arg,
           config_errors_t *errors)
{
    query_t *self = calloc (1, sizeof *self);
    if (self)
        self->sock = zsock_new (ZMQ_ROUTER);
    if (!self || !self->sock) {
        free (self);
        config_errors_add (errors, "query service: cannot create a socket");
        return NULL;
    }
    self->handler = handler;
    self->arg = arg;
    zsock_set_router_mandatory (self->sock, 0);
    zsock_set_sndhwm (self->sock, QUERY_HWM);
    zsock_set_rcvhwm (self->sock, QUERY_HWM);
    zsock_set_linger (self->sock, 0);
    zsock_set_maxmsgsize (self->sock, QUERY_MAX_FRAME);
    endpoint_t ep;
    if (bus_attach (self->sock, endpoint, true, cfg, &self->auth, &ep) != 0) {
        config_errors_add (errors, "query service: cannot attach to '%s' (the log says why)",
                           endpoint);
        query_destroy (&self);
        return NULL;
    }
    self->binds = ep.bind;
    char *last = self->binds ? zsock_last_endpoint (self->sock) : NULL;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", last ? last : ep.address);
    zstr_free (&last);
    self->handle = zsock_resolve (self->sock);
    return self;
}

void
query_destroy (query_t **self_p)
{
    query_t *self = *self_p;
    if (!self)
        return;
    busauth_stop (self->auth);
    zsock_destroy (&self->sock);
    if (self->binds && strncmp (self->endpoint, "ipc://", 6) == 0
        && unlink (self->endpoint + 6) != 0 && errno != ENOENT)
        log_warning ("query: cannot remove %s: %s", self->endpoint + 6, strerror (errno));
    busauth_destroy (&self->auth);
    free (self);
    *self_p = NULL;
}

int
query_fd (query_t *self)
{
    return zsock_fd (self->sock);
}

bool
query_pending (query_t *self)
{
    return (zsock_events (self->sock) & ZMQ_POLLIN) != 0;
}

const char *
query_endpoint (const query_t *self)
{
    return self->endpoint;
}

query_stats_t
query_stats (const query_t *self)
{
    return self->stats;
}

/*  Keep frame number INDEX (DATA, SIZE) of a message in REQ.               */
static void
take_frame (request_t *req, size_t index, const void *data, size_t size)
{
    if (index == 0) {
        req->identity_len = size < MAX_IDENTITY ? size : MAX_IDENTITY;
        memcpy (req->identity, data, req->identity_len);
        return;
    }
    if (index == 1 && size == 0) {
        req->delimiter = true;
        return;
    }
    if (req->bodies++ > 0)
        return;
    if (size > QUERY_MAX_REQUEST) {
        req->too_large = true;
        return;
    }
    req->body = malloc (size + 1);
    if (req->body) {
        memcpy (req->body, data, size);
        req->body[size] = '\0';
        req->body_len = size;
    }
}

/*  Receive one whole message without waiting: 1, or 0 when none waits.    */
static int
recv_request (query_t *self, request_t *req)
{
    memset (req, 0, sizeof *req);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    size_t index = 0;
    int more = 1;
    while (more) {
        if (zmq_msg_recv (&frame, self->handle, index ? 0 : ZMQ_DONTWAIT) < 0) {
            if (index == 0 || zmq_errno () != EINTR)
                break;
            continue;
        }
        take_frame (req, index++, zmq_msg_data (&frame), zmq_msg_size (&frame));
        more = zmq_msg_more (&frame);
    }
    zmq_msg_close (&frame);
    return index > 0;
}

static json_t *
error_reply (const char *format, ...)
{
    char text[256];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    return json_pack ("{s:b,s:s}", "ok", 0, "error", text);
}

/*  The reply to REQ (never NULL unless out of memory). *BAD: it was not a
    request the handler could see.                                          */
static json_t *
answer (query_t *self, const request_t *req, bool *bad)
{
    *bad = true;
    if (req->bodies != 1)
        return error_reply ("a request is one frame of JSON (got %zu)", req->bodies);
    if (req->too_large)
        return error_reply ("request over %d bytes", QUERY_MAX_REQUEST);
    if (!req->body)
        return error_reply ("out of memory");
    json_error_t jerr;
    json_t *request = json_loadb (req->body, req->body_len, 0, &jerr);
    if (!request)
        return error_reply ("request is not JSON: %s", jerr.text);
    json_t *cmd = json_object_get (request, "cmd");
    if (!json_is_object (request) || !json_is_string (cmd)) {
        json_decref (request);
        return error_reply ("request is not a JSON object with a string \"cmd\"");
    }
    *bad = false;
    json_t *reply = self->handler (self->arg, json_string_value (cmd), request);
    json_decref (request);
    if (!json_is_object (reply)) {
        json_decref (reply);
        return error_reply ("the handler gave no reply");
    }
    if (!json_object_get (reply, "ok"))
        json_object_set_new (reply, "ok", json_true ());
    return reply;
}

/*  Send REPLY (consumed) back to the sender of REQ without blocking.       */
static void
send_reply (query_t *self, const request_t *req, json_t *reply)
{
    size_t len = reply ? json_dumpb (reply, NULL, 0, JSON_COMPACT) : 0;
    char *text = len ? malloc (len) : NULL;
    if (text)
        len = json_dumpb (reply, text, len, JSON_COMPACT);
    json_decref (reply);
    int rc = text ? zmq_send (self->handle, req->identity, req->identity_len,
                              ZMQ_SNDMORE | ZMQ_DONTWAIT) : -1;
    if (rc >= 0 && req->delimiter)
        rc = zmq_send (self->handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (rc >= 0)
        rc = zmq_send (self->handle, text, len, ZMQ_DONTWAIT);
    if (rc < 0) {
        self->stats.send_errors++;
        log_debug ("query: reply not sent: %s", text ? zmq_strerror (zmq_errno ()) : "no memory");
    }
    free (text);
}

size_t
query_drain (query_t *self, size_t max)
{
    size_t n = 0;
    while (n < max) {
        request_t req;
        if (!recv_request (self, &req)) {
            if (!query_pending (self))      /* the edge is ours again */
                break;
            continue;
        }
        n++;
        bool bad;
        json_t *reply = answer (self, &req, &bad);
        free (req.body);
        if (bad)
            self->stats.bad_requests++;
        else
            self->stats.requests++;
        send_reply (self, &req, reply);
    }
    return n;
}

/*  The reply of SOCK within TIMEOUT_MS: a JSON object, or NULL with why.   */
static json_t *
call_wait (zsock_t *sock, const char *endpoint, int timeout_ms, char *error, size_t errlen)
{
    zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
    int64_t deadline = zclock_mono () + timeout_ms;
    int rc;
    do {
        int64_t left = deadline - zclock_mono ();
        rc = zmq_poll (&item, 1, left > 0 ? (long) left : 0);
    } while (rc < 0 && zmq_errno () == EINTR && !zsys_interrupted);
    if (rc <= 0) {
        snprintf (error, errlen, "%s from %s after %d ms",
                  rc < 0 ? "interrupted: no answer" : "no answer", endpoint, timeout_ms);
        return NULL;
    }
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg || zmsg_size (msg) != 1) {
        snprintf (error, errlen, "reply from %s is not one frame", endpoint);
        zmsg_destroy (&msg);
        return NULL;
    }
    zframe_t *frame = zmsg_first (msg);
    json_error_t jerr;
    json_t *reply = json_loadb ((const char *) zframe_data (frame), zframe_size (frame), 0, &jerr);
    zmsg_destroy (&msg);
    if (!json_is_object (reply)) {
        snprintf (error, errlen, "reply from %s is not a JSON object%s%s", endpoint,
                  reply ? "" : ": ", reply ? "" : jerr.text);
        json_decref (reply);
        return NULL;
    }
    return reply;
}

json_t *
query_call (const config_t *cfg, const char *endpoint, json_t *request, int timeout_ms,
            char *error, size_t errlen)
{
    char *text = json_dumps (request, JSON_COMPACT);
    zsock_t *sock = text ? zsock_new (ZMQ_REQ) : NULL;
    if (!sock) {
        snprintf (error, errlen, "out of memory");
        free (text);
        return NULL;
    }
    zsock_set_linger (sock, 0);
    zsock_set_sndtimeo (sock, timeout_ms);
    busauth_t *auth = NULL;
    endpoint_t ep = { 0 };
    json_t *reply = NULL;
    bool attached = bus_attach (sock, endpoint, false, cfg, &auth, &ep) == 0;
    if (!attached)
        snprintf (error, errlen, "cannot use the endpoint %s (the message above says why)",
                  endpoint);
    else if (zstr_send (sock, text) != 0)
        snprintf (error, errlen, "no answer from %s after %d ms",
                  ep.address, timeout_ms);
    else
        reply = call_wait (sock, ep.address, timeout_ms, error, errlen);
    busauth_stop (auth);
    zsock_destroy (&sock);
    busauth_destroy (&auth);
    if (attached && ep.bind && ep.transport == ENDPOINT_IPC)
        unlink (ep.path);     /* the socket file we bound */
    free (text);
    return reply;
}
