/*  api.c — see api.h: the server, the handlers and what comes off the bus. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "endpoint.h"
#include "ipnet.h"
#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "pbjson.h"
#include "query.h"
#include "ratelog.h"
#include "route.h"
#include "sse.h"
#include "state.h"
#include "topics.h"
#include "topology.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 512
#define KEEPALIVE_NS 15000000000ull     /* an event stream's comment       */
#define CONNECTION_TIMEOUT_S 30
#define SSE_BLOCK 16384                 /* bytes a stream's callback gives  */
#define WWW_FILE_MAX (1024 * 1024)      /* a dashboard file, at most        */

/*  The heartbeat counters, in this order.                                   */
#define API_COUNTERS(C)                                                          \
    C (REQUESTS, "requests")                                                     \
    C (OK, "responses_2xx")                                                      \
    C (BAD_REQUEST, "bad_requests")                                              \
    C (BAD_JSON, "bad_json")                                                     \
    C (UNAUTHORIZED, "unauthorized")                                             \
    C (NOT_FOUND, "not_found")                                                   \
    C (METHOD, "method_not_allowed")                                             \
    C (TOO_LARGE, "too_large")                                                   \
    C (RATE_LIMITED, "rate_limited")                                             \
    C (REFUSED, "refused_by_service")                                            \
    C (UPSTREAM, "upstream_errors")                                              \
    C (INTERNAL, "internal_errors")                                              \
    C (SSE_REFUSED, "sse_refused")                                               \
    C (SSE_OPENED, "sse_opened")                                                 \
    C (SSE_CLIENTS, "sse_clients")                                               \
    C (SSE_SENT, "sse_events_sent")                                              \
    C (SSE_DROPPED, "sse_events_dropped")                                        \
    C (FLOWS, "events_flows")                                                    \
    C (THREATS, "events_threats")                                                \
    C (ALERTS, "events_alerts")                                                  \
    C (VERDICTS, "events_verdicts")                                              \
    C (DECISIONS, "events_decisions")                                            \
    C (OVERSIZED, "state_oversized")                                             \
    C (LIMIT_EVICTED, "rate_table_evicted")                                      \
    C (CONN_REFUSED, "connections_refused")                                      \
    C (TOKEN_RELOADS, "token_reloads")                                           \
    C (TOKEN_ERRORS, "token_reload_errors")                                      \
    C (QUERIES, "queries")

enum {
#define API_COUNTER_ENUM(ID, NAME) C_##ID,
    API_COUNTERS (API_COUNTER_ENUM)
#undef API_COUNTER_ENUM
    C_COUNT
};

static const char *const s_counter_names[C_COUNT] = {
#define API_COUNTER_NAME(ID, NAME) NAME,
    API_COUNTERS (API_COUNTER_NAME)
#undef API_COUNTER_NAME
};

typedef struct api_stream_t api_stream_t;

struct api_t {
    const config_t *cfg;
    struct MHD_Daemon *mhd;
    int epoll_fd;
    char token[TOKEN_MAX + 1];
    size_t token_len;
    char *tls_cert, *tls_key;           /* PEM texts, owned                  */
    api_state_t *state;
    limit_t *limit;
    topo_target_t *targets;
    size_t ntargets;
    topo_workers_t workers;
    char listened[2048];
    api_stream_t **streams;             /* api.sse_max_clients slots         */
    size_t nstreams;
    bool resumed;                       /* a stream was resumed: MHD_run     */
    bool closing;
    uint64_t counters[C_COUNT];
    ratelog_t refusals;
    ratelog_t mhd_log;                  /* libmicrohttpd's own messages      */
    ratelog_t conn_log;                 /* ... saying a connection refused  */
    pbjson_buf_t line;
    uint64_t started_mono;
    char version[32];
    char www_dir[1024];                 /* api.www_dir, or the built-in one  */
};

struct api_stream_t {
    api_t *api;
    struct MHD_Connection *conn;
    sse_client_t client;
    bool suspended;
    uint64_t last_send_mono;
};

/*  What a request carries between the handler's calls.                     */
typedef struct {
    bool routed;                        /* past the first call              */
    api_route_id_t route;
    char ip[API_IP_MAX];
    char *body;
    size_t len;
    bool too_large;
    bool head;                          /* HEAD: a GET's answer, no body    */
    char client[64];
} request_t;

/*  --------------------------------------------------------------------------
    Files and start-up checks                                                */

/*  PATH's whole text (at most MAX bytes) into a new string; NULL with the
    reason in ERRORS, blamed on KEY. SECRET: refused when group or others
    may read it.                                                             */
static char *
read_file (const config_t *cfg, const char *key, const char *path, bool secret, size_t max,
           config_errors_t *errors)
{
    size_t from = errors ? errors->count : 0;
    char *text = NULL;
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0)
        config_errors_add (errors, "%s: cannot open: %s", path, strerror (errno));
    else if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
        config_errors_add (errors, "%s: not a regular file", path);
    else if (secret && (st.st_mode & 077))
        config_errors_add (errors,
                           "%s is readable by group or others (mode %04o): refused; "
                           "chmod 600 %s", path, (unsigned) (st.st_mode & 07777), path);
    else if ((size_t) st.st_size > max)
        config_errors_add (errors, "%s: larger than %zu bytes", path, max);
    else if ((text = calloc (1, (size_t) st.st_size + 1)) == NULL)
        config_errors_add (errors, "%s: out of memory", path);
    else if (read (fd, text, (size_t) st.st_size) != (ssize_t) st.st_size) {
        config_errors_add (errors, "%s: cannot read: %s", path, strerror (errno));
        free (text);
        text = NULL;
    }
    if (fd >= 0)
        close (fd);
    config_errors_blame (errors, from, cfg, key);
    return text;
}

/*  The dashboard's directory into OUT: api.www_dir, or when "" the source
    tree's api/www for a dpi-api run from its build tree (/proc/self/exe in
    DPI_API_BUILD_DIR), else the installed DPI_API_WWW_INSTALLED.          */
static void
www_default (const config_t *cfg, char *out, size_t outlen)
{
    if (cfg->api.www_dir && *cfg->api.www_dir) {
        snprintf (out, outlen, "%s", cfg->api.www_dir);
        return;
    }
    snprintf (out, outlen, "%s", DPI_API_WWW_INSTALLED);
    char exe[1024];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = 0;
    char *slash = strrchr (exe, '/');
    if (slash && slash != exe)
        *slash = 0;
    if (strcmp (exe, DPI_API_BUILD_DIR) == 0)
        snprintf (out, outlen, "%s", DPI_API_WWW_SOURCE);
}

/*  The token of the token file (its first line, trimmed) into OUT.          */
static int
load_token (const config_t *cfg, char *out, size_t *len, config_errors_t *errors)
{
    char *text = read_file (cfg, "api.token_file", cfg->api.token_file, true, 4096, errors);
    if (!text)
        return -1;
    size_t start = strspn (text, " \t\r\n");
    size_t n = strcspn (text + start, "\r\n");
    while (n && (text[start + n - 1] == ' ' || text[start + n - 1] == '\t'))
        n--;
    int rc = 0;
    size_t from = errors ? errors->count : 0;
    if (n < TOKEN_MIN || n > TOKEN_MAX) {
        config_errors_add (errors, "%s: the token (first line) must be %d to %d characters",
                           cfg->api.token_file, TOKEN_MIN, TOKEN_MAX);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((unsigned char) text[start + i] < 0x21 || (unsigned char) text[start + i] > 0x7e) {
            config_errors_add (errors, "%s: the token must be printable ASCII, no spaces",
                               cfg->api.token_file);
            rc = -1;
        }
    config_errors_blame (errors, from, cfg, "api.token_file");
    if (rc == 0 && out) {
        memcpy (out, text + start, n);
        out[n] = 0;
        *len = n;
    }
    memset (text, 0, strlen (text));
    free (text);
    return rc;
}

/*  api.listen into ADDR; 0 or -1 (config.c checked the form).              */
static int
parse_listen (const char *listen, struct sockaddr_storage *addr, bool *v6)
{
    char host[64];
    const char *colon = strrchr (listen, ':');
    size_t len = colon ? (size_t) (colon - listen) : 0;
    if (!colon || len >= sizeof host)
        return -1;
    memcpy (host, listen, len);
    host[len] = 0;
    int port = atoi (colon + 1);
    memset (addr, 0, sizeof *addr);
    *v6 = host[0] == '[';
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) addr;
        host[len - 1] = 0;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons ((uint16_t) port);
        return inet_pton (AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *) addr;
    a->sin_family = AF_INET;
    a->sin_port = htons ((uint16_t) port);
    return inet_pton (AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

/*  TLS: both files or neither, readable, the key 0600, and MHD with TLS.  */
static void
check_tls (const config_t *cfg, config_errors_t *errors)
{
    bool cert = *cfg->api.tls_cert, key = *cfg->api.tls_key;
    if (cert != key) {
        size_t at = errors ? errors->count : 0;
        config_errors_add (errors, "TLS needs both api.tls_cert and api.tls_key");
        config_errors_blame (errors, at, cfg, cert ? "api.tls_key" : "api.tls_cert");
    }
    if (cert && key) {
        free (read_file (cfg, "api.tls_cert", cfg->api.tls_cert, false, 1 << 20, errors));
        free (read_file (cfg, "api.tls_key", cfg->api.tls_key, true, 1 << 20, errors));
        if (MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
            size_t at = errors ? errors->count : 0;
            config_errors_add (errors, "this libmicrohttpd has no TLS");
            config_errors_blame (errors, at, cfg, "api.tls_cert");
        }
    }
}

int
api_check (const config_t *cfg, config_errors_t *errors)
{
    size_t from = errors ? errors->count : 0;
    load_token (cfg, NULL, NULL, errors);
    check_tls (cfg, errors);
    return errors && errors->count > from ? -1 : 0;
}

/*  --------------------------------------------------------------------------
    Replies                                                                  */

static void
count_status (api_t *self, unsigned status)
{
    int c = status < 300 ? C_OK : status == 400 ? C_BAD_REQUEST : status == 401 ? C_UNAUTHORIZED
            : status == 404 ? C_NOT_FOUND : status == 405 ? C_METHOD : status == 413 ? C_TOO_LARGE
            : status == 422 ? C_REFUSED : status == 429 ? C_RATE_LIMITED
            : status == 503 ? C_SSE_REFUSED : status == 502 || status == 504 ? C_UPSTREAM
            : C_INTERNAL;
    self->counters[c]++;
}

/*  PATH with anything but printable ASCII as '?', at most 120 bytes.       */
static void
printable (char *out, size_t outlen, const char *path)
{
    size_t n = 0;
    for (; path && *path && n + 1 < outlen && n < 120; path++)
        out[n++] = (unsigned char) *path >= 0x20 && (unsigned char) *path < 0x7f ? *path : '?';
    out[n] = 0;
}

static enum MHD_Result
reply (api_t *self, struct MHD_Connection *conn, unsigned status, const char *type,
       const char *body, size_t len)
{
    count_status (self, status);
    struct MHD_Response *r =
        MHD_create_response_from_buffer (len, (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (r, "X-Content-Type-Options", "nosniff");
    if (status == 401)
        MHD_add_response_header (r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"dpi-api\"");
    if (status == 429)
        MHD_add_response_header (r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result rc = MHD_queue_response (conn, status, r);
    MHD_destroy_response (r);
    return rc;
}

static enum MHD_Result
reply_json (api_t *self, struct MHD_Connection *conn, unsigned status, json_t *obj)
{
    char *text = obj ? json_dumps (obj, JSON_COMPACT | JSON_REAL_PRECISION (12)) : NULL;
    json_decref (obj);
    if (!text)
        return reply (self, conn, 500, "application/json",
                      "{\"ok\":false,\"error\":\"out of memory\"}", 36);
    enum MHD_Result rc = reply (self, conn, status, "application/json", text, strlen (text));
    free (text);
    return rc;
}

/*  A refusal: counted, logged at most once a second (never the token).    */
static enum MHD_Result
refuse (api_t *self, struct MHD_Connection *conn, const request_t *req, const char *method,
        const char *url, unsigned status, const char *why)
{
    uint64_t unlogged;
    if (ratelog_due (&self->refusals, &unlogged)) {
        char path[128];
        printable (path, sizeof path, url);
        log_warning ("%s %s from %s: %u %s (%llu refusals not logged since)", method, path,
                     req && *req->client ? req->client : "?", status, why,
                     (unsigned long long) unlogged);
    }
    return reply_json (self, conn, status, json_pack ("{s:b, s:s}", "ok", 0, "error", why));
}

/*  --------------------------------------------------------------------------
    Handlers                                                                 */

/*  Query parameter NAME of CONN (api_param_fn).                            */
static const char *
query_param (void *conn, const char *name)
{
    return MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, name);
}

/*  The texts of OUT (N) as a JSON array into one reply object's member
    KEY, with the paging figures.                                           */
static enum MHD_Result
reply_list (api_t *self, struct MHD_Connection *conn, const char *key, const char **items,
            size_t n, size_t total, long long offset, long long limit)
{
    pbjson_buf_t *b = &self->line;
    pbjson_buf_reset (b);
    char head[160];
    int len = snprintf (head, sizeof head,
                        "{\"ok\":true,\"total\":%zu,\"offset\":%lld,\"limit\":%lld,\"count\":%zu,"
                        "\"%s\":[", total, offset, limit, n, key);
    int rc = pbjson_buf_puts (b, head, (size_t) len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            rc |= pbjson_buf_puts (b, ",", 1);
        rc |= pbjson_buf_puts (b, items[i], strlen (items[i]));
    }
    rc |= pbjson_buf_puts (b, "]}", 2);
    if (rc)
        return reply (self, conn, 500, "application/json",
                      "{\"ok\":false,\"error\":\"out of memory\"}", 36);
    return reply (self, conn, 200, "application/json", b->data, b->len);
}

static enum MHD_Result
handle_list (api_t *self, struct MHD_Connection *conn, request_t *req, const char *url,
             api_kind_t kind, const char *key)
{
    api_list_query_t q;
    const char *why = api_list_query (query_param, conn, &q);
    if (why)
        return refuse (self, conn, req, "GET", url, 400, why);
    long long limit = q.limit, offset = q.offset;
    api_filter_t f = { .ip = q.ip, .proto = q.proto, .since_ns = q.since_ns };
    const char **items = calloc ((size_t) limit, sizeof *items);
    if (!items)
        return refuse (self, conn, req, "GET", url, 500, "out of memory");
    size_t total;
    size_t n = api_state_find (self->state, kind, &f, (size_t) offset, (size_t) limit, items,
                               (size_t) limit, &total);
    enum MHD_Result rc = reply_list (self, conn, key, items, n, total, offset, limit);
    free (items);
    return rc;
}

static json_t *
kinds_object (const api_t *self, uint64_t now, int minutes_ago)
{
    json_t *o = json_object ();
    for (int k = 0; k < API_KIND_COUNT; k++)
        json_object_set_new (o, api_kind_name ((api_kind_t) k),
                             json_integer ((json_int_t) (minutes_ago < 0
                                 ? api_state_total (self->state, (api_kind_t) k)
                                 : api_state_minute (self->state, (api_kind_t) k, now,
                                                     (unsigned) minutes_ago))));
    return o;
}

static enum MHD_Result
handle_status (api_t *self, struct MHD_Connection *conn)
{
    topo_t t;
    uint64_t now = bus_now_ns ();
    double up = (double) (bus_mono_ns () - self->started_mono) / 1e9;
    if (topo_build (&t, &self->workers, up, true, self->cfg->bus.heartbeat_interval) != 0) {
        topo_free (&t);
        return reply (self, conn, 500, "application/json",
                      "{\"ok\":false,\"error\":\"out of memory\"}", 36);
    }
    json_t *workers = json_array ();
    for (size_t i = 0; i < t.nnodes; i++) {
        const topo_node_t *n = &t.nodes[i];
        json_t *o = json_pack ("{s:s, s:s, s:s?, s:s}", "id", n->id, "name", n->name, "host",
                               *n->host ? n->host : NULL, "state", topo_state_name (n->state));
        if (*n->why)
            json_object_set_new (o, "why", json_string (n->why));
        if (n->hb) {
            json_object_set_new (o, "pid", json_integer (n->hb->pid));
            json_object_set_new (o, "version", json_string (n->hb->version));
            json_object_set_new (o, "uptime_s", json_integer ((json_int_t) n->hb->uptime_s));
            json_object_set_new (o, "heartbeat_age_s", json_real (n->hb_age));
        }
        json_array_append_new (workers, o);
    }
    size_t stale = topo_count_state (&t, TOPO_STALE);
    topo_free (&t);
    json_t *minutes = json_array ();
    for (int m = 0; m < API_STATE_MINUTES; m++)
        json_array_append_new (minutes, kinds_object (self, now, m));
    json_t *kept = json_pack ("{s:I, s:I, s:I}", "flows",
                              (json_int_t) api_state_kept (self->state, API_KIND_FLOW), "threats",
                              (json_int_t) api_state_kept (self->state, API_KIND_THREAT), "alerts",
                              (json_int_t) api_state_kept (self->state, API_KIND_ALERT));
    json_t *o = json_pack ("{s:b, s:s, s:s, s:I, s:f, s:o, s:I, s:o, s:o, s:o, s:I}", "ok", 1,
                           "service", "dpi-api", "version", self->version, "time_ns",
                           (json_int_t) now, "uptime_s", up, "workers", workers, "stale",
                           (json_int_t) stale, "totals", kinds_object (self, now, -1), "kept",
                           kept, "minutes", minutes, "sse_clients", (json_int_t) self->nstreams);
    return reply_json (self, conn, 200, o);
}

static enum MHD_Result
handle_topology (api_t *self, struct MHD_Connection *conn)
{
    topo_t t;
    double up = (double) (bus_mono_ns () - self->started_mono) / 1e9;
    int rc = topo_build (&t, &self->workers, up, true, self->cfg->bus.heartbeat_interval);
    json_t *o = NULL;
    if (rc == 0) {
        snprintf (t.listened, sizeof t.listened, "%s", self->listened);
        o = topo_json (&t);
    }
    topo_free (&t);
    return reply_json (self, conn, o ? 200 : 500, o);
}

static enum MHD_Result
handle_metrics (api_t *self, struct MHD_Connection *conn)
{
    pbjson_buf_t *b = &self->line;
    pbjson_buf_reset (b);
    if (metrics_print (b, &self->workers, bus_mono_ns (), self->cfg->bus.heartbeat_interval)
        != 0)
        return reply (self, conn, 500, "text/plain", "out of memory\n", 14);
    return reply (self, conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                  b->data ? b->data : "", b->len);
}

/*  Ask WORKER's query service at ENDPOINT; the reply as it is (200), its
    refusal (422), or no answer (504).                                       */
static enum MHD_Result
ask (api_t *self, struct MHD_Connection *conn, request_t *req, const char *method,
     const char *url, const char *worker, const char *endpoint, json_t *request)
{
    char error[512] = "";
    self->counters[C_QUERIES]++;
    json_t *answer = query_call (self->cfg, endpoint, request, self->cfg->api.query_timeout_ms,
                                 error, sizeof error);
    json_decref (request);
    if (!answer) {
        char why[640];
        snprintf (why, sizeof why, "%s: %s", worker, error);
        return refuse (self, conn, req, method, url, 504, why);
    }
    json_t *ok = json_object_get (answer, "ok");
    if (!json_is_true (ok)) {
        const char *e = json_string_value (json_object_get (answer, "error"));
        char why[640];
        snprintf (why, sizeof why, "%s: %s", worker, e ? e : "refused");
        json_decref (answer);
        return refuse (self, conn, req, method, url, 422, why);
    }
    return reply_json (self, conn, 200, answer);
}

static enum MHD_Result
handle_ban (api_t *self, struct MHD_Connection *conn, request_t *req, const char *url)
{
    api_ban_t ban;
    const char *why = api_ban_parse (req->body, req->len, &ban);
    if (why) {
        self->counters[C_BAD_JSON]++;
        return refuse (self, conn, req, "POST", url, 400, why);
    }
    json_t *q = json_pack ("{s:s, s:s, s:s}", "cmd", "ban", "value", ban.ip, "reason", ban.reason);
    if (ban.duration)
        json_object_set_new (q, "duration", json_integer (ban.duration));
    return ask (self, conn, req, "POST", url, "correlator",
                self->cfg->correlation.query_endpoint, q);
}

/*  A dashboard file (a WWW_ route: a fixed name in the directory, never a
    name from the request). The page holds no data: no token needed.
    Content-Security-Policy: its own scripts, styles and fetches only.     */
static enum MHD_Result
handle_www (api_t *self, struct MHD_Connection *conn, request_t *req, const char *url)
{
    const char *type;
    const char *name = api_route_www_file (req->route, &type);
    char path[1200];
    if (!name || snprintf (path, sizeof path, "%s/%s", self->www_dir, name) >= (int) sizeof path)
        return refuse (self, conn, req, "GET", url, 404, "no such path");
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    char *text = NULL;
    ssize_t got = -1;
    if (fd >= 0 && fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_size <= WWW_FILE_MAX
        && (text = malloc ((size_t) st.st_size + 1)) != NULL)
        got = read (fd, text, (size_t) st.st_size);
    if (fd >= 0)
        close (fd);
    if (got < 0) {
        free (text);
        return refuse (self, conn, req, "GET", url, 404,
                       "the dashboard's file is missing (api.www_dir)");
    }
    count_status (self, 200);
    struct MHD_Response *r =
        MHD_create_response_from_buffer ((size_t) got, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free (text);
        return MHD_NO;
    }
    MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (r, "X-Frame-Options", "DENY");
    MHD_add_response_header (r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (r, "Content-Security-Policy",
                             "default-src 'none'; script-src 'self'; style-src 'self'; "
                             "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                             "form-action 'none'; frame-ancestors 'none'");
    enum MHD_Result rc = MHD_queue_response (conn, 200, r);
    MHD_destroy_response (r);
    return rc;
}

static void stream_free (void *cls);
static ssize_t stream_read (void *cls, uint64_t pos, char *buf, size_t max);

static enum MHD_Result
handle_events (api_t *self, struct MHD_Connection *conn, request_t *req, const char *url)
{
    if (self->nstreams >= (size_t) self->cfg->api.sse_max_clients)
        return refuse (self, conn, req, "GET", url, 503,
                       "too many event streams (api.sse_max_clients)");
    if (req->head)                      /* the headers of a stream; none opened */
        return reply (self, conn, 200, "text/event-stream", "", 0);
    api_stream_t *s = calloc (1, sizeof *s);
    if (!s)
        return refuse (self, conn, req, "GET", url, 500, "out of memory");
    s->api = self;
    s->conn = conn;
    s->last_send_mono = bus_mono_ns ();
    sse_client_init (&s->client, self->cfg->api.sse_rate);
    char hello[160];
    int len = snprintf (hello, sizeof hello, "{\"sse_rate\":%d,\"kinds\":[\"flow\",\"alert\","
                        "\"threat\",\"decision\"]}", self->cfg->api.sse_rate);
    sse_client_offer (&s->client, "hello", hello, (size_t) len, bus_mono_ns ());
    struct MHD_Response *r =
        MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, SSE_BLOCK, stream_read, s,
                                           stream_free);
    if (!r) {
        sse_client_clear (&s->client);
        free (s);
        return refuse (self, conn, req, "GET", url, 500, "out of memory");
    }
    self->streams[self->nstreams++] = s;
    self->counters[C_SSE_OPENED]++;
    count_status (self, 200);
    MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header (r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response (conn, 200, r);
    MHD_destroy_response (r);
    return rc;
}

static enum MHD_Result
dispatch (api_t *self, struct MHD_Connection *conn, request_t *req, const char *url)
{
    const config_t *cfg = self->cfg;
    const char *method = api_route (req->route)->method;
    const char *buffer_ep = cfg->buffer.query_endpoint, *corr_ep = cfg->correlation.query_endpoint;
    switch (req->route) {
        case API_ROUTE_STATUS:
            return handle_status (self, conn);
        case API_ROUTE_TOPOLOGY:
            return handle_topology (self, conn);
        case API_ROUTE_METRICS:
            return handle_metrics (self, conn);
        case API_ROUTE_FLOWS:
            return handle_list (self, conn, req, url, API_KIND_FLOW, "flows");
        case API_ROUTE_CORRELATED:
            return handle_list (self, conn, req, url, API_KIND_THREAT, "threats");
        case API_ROUTE_ALERTS:
            return handle_list (self, conn, req, url, API_KIND_ALERT, "alerts");
        case API_ROUTE_EVENTS:
            return handle_events (self, conn, req, url);
        case API_ROUTE_BAN:
            return handle_ban (self, conn, req, url);
        case API_ROUTE_BUFFER:
            return ask (self, conn, req, method, url, "buffer", buffer_ep,
                        json_pack ("{s:s}", "cmd", "stats"));
        case API_ROUTE_REPLAY:
            return ask (self, conn, req, method, url, "buffer", buffer_ep,
                        json_pack ("{s:s, s:s}", "cmd", "replay", "ip", req->ip));
        case API_ROUTE_CONTEXT: {
            long long window;
            if (!api_param_number (query_param (conn, "window"), 1, 86400, 0, &window))
                return refuse (self, conn, req, method, url, 400, "window: seconds, 1..86400");
            json_t *q = json_pack ("{s:s, s:s}", "cmd", "context", "ip", req->ip);
            if (window)
                json_object_set_new (q, "window", json_integer (window));
            return ask (self, conn, req, method, url, "buffer", buffer_ep, q);
        }
        case API_ROUTE_REPUTATION:
            return ask (self, conn, req, method, url, "correlator", corr_ep,
                        json_pack ("{s:s, s:s}", "cmd", "reputation", "ip", req->ip));
        case API_ROUTE_UNBAN:
            return ask (self, conn, req, method, url, "correlator", corr_ep,
                        json_pack ("{s:s, s:s, s:s}", "cmd", "unban", "value", req->ip,
                                   "reason", "api"));
        case API_ROUTE_WWW_ROOT:
        case API_ROUTE_WWW_INDEX:
        case API_ROUTE_WWW_APP:
        case API_ROUTE_WWW_STYLE:
            return handle_www (self, conn, req, url);
        default:
            return refuse (self, conn, req, method, url, 404, "no such path");
    }
}

/*  Constant-time: the time depends on the token's length only.            */
static bool
token_equal (const char *given, size_t glen, const char *token, size_t tlen)
{
    unsigned char diff = glen != tlen;
    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned char) ((i < glen ? given[i] : 0) ^ token[i]);
    return diff == 0;
}

static bool
authorised (api_t *self, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp (h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    size_t len = strnlen (h, TOKEN_MAX + 1);
    while (len && h[len - 1] == ' ')
        len--;
    return token_equal (h, len, self->token, self->token_len);
}

static void
client_address (struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf (out, outlen, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, out, (socklen_t) outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, out,
                   (socklen_t) outlen);
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size,
            void **con_cls)
{
    (void) version;
    api_t *self = cls;
    request_t *req = *con_cls;
    if (!req) {
        req = calloc (1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        self->counters[C_REQUESTS]++;
        client_address (conn, req->client, sizeof req->client);
        if (!limit_allow (self->limit, req->client, bus_mono_ns ()))
            return refuse (self, conn, req, method, url, 429,
                           "too many requests (api.rate_limit)");
        const char *why;
        api_match_t m = api_route_match (method, url, &req->route, req->ip, sizeof req->ip, &why);
        if (m != API_MATCH_OK)
            return refuse (self, conn, req, method, url, (unsigned) m, why);
        const char *www_type;
        bool is_public = (req->route == API_ROUTE_METRICS && self->cfg->api.metrics_public)
                         || api_route_www_file (req->route, &www_type) != NULL;
        if (!is_public && !authorised (self, conn))
            return refuse (self, conn, req, method, url, 401,
                           "a valid \"Authorization: Bearer TOKEN\" is needed");
        const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull (cl, NULL, 10) > (unsigned long long) self->cfg->api.max_body_bytes)
            return refuse (self, conn, req, method, url, 413,
                           "request body too large (api.max_body_bytes)");
        req->routed = true;
        req->head = strcmp (method, "HEAD") == 0;
        if (strcmp (method, "GET") == 0 || req->head)
            return dispatch (self, conn, req, url);
        return MHD_YES;                     /* the body, if any, comes next */
    }
    if (!req->routed) {                     /* answered already: drop the rest */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large || req->len + n > (size_t) self->cfg->api.max_body_bytes) {
            req->too_large = true;
            return MHD_YES;
        }
        char *grown = realloc (req->body, req->len + n + 1);
        if (!grown)
            return MHD_NO;
        memcpy (grown + req->len, upload_data, n);
        req->body = grown;
        req->len += n;
        req->body[req->len] = 0;
        return MHD_YES;
    }
    req->routed = false;                    /* answered once               */
    if (req->too_large)
        return refuse (self, conn, req, method, url, 413,
                       "request body too large (api.max_body_bytes)");
    return dispatch (self, conn, req, url);
}

static void
on_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
              enum MHD_RequestTerminationCode toe)
{
    (void) cls, (void) conn, (void) toe;
    request_t *req = *con_cls;
    if (req) {
        free (req->body);
        free (req);
    }
    *con_cls = NULL;
}

/*  --------------------------------------------------------------------------
    Event streams                                                            */

static ssize_t
stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    api_stream_t *s = cls;
    api_t *self = s->api;
    if (self->closing)
        return MHD_CONTENT_READER_END_OF_STREAM;
    uint64_t before = s->client.sent;
    size_t n = sse_client_read (&s->client, buf, max);
    self->counters[C_SSE_SENT] += s->client.sent - before;
    if (n) {
        s->last_send_mono = bus_mono_ns ();
        return (ssize_t) n;
    }
    s->suspended = true;
    MHD_suspend_connection (s->conn);
    return 0;
}

static void
stream_free (void *cls)
{
    api_stream_t *s = cls;
    api_t *self = s->api;
    for (size_t i = 0; i < self->nstreams; i++)
        if (self->streams[i] == s) {
            self->streams[i] = self->streams[--self->nstreams];
            break;
        }
    sse_client_clear (&s->client);
    free (s);
}

static void
stream_wake (api_stream_t *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection (s->conn);
        s->api->resumed = true;
    }
}

/*  Offer an event to every stream.                                          */
static void
broadcast (api_t *self, const char *kind, const char *data, size_t len)
{
    uint64_t now = bus_mono_ns ();
    for (size_t i = 0; i < self->nstreams; i++) {
        api_stream_t *s = self->streams[i];
        if (!sse_client_offer (&s->client, kind, data, len, now))
            self->counters[C_SSE_DROPPED]++;
        stream_wake (s);
    }
}

/*  --------------------------------------------------------------------------
    The worker                                                               */

/*  libmicrohttpd's messages (a malformed request, a TLS handshake that
    failed): through our log, at most one a second like the refusals.       */
static void
mhd_logger (void *cls, const char *format, va_list args)
{
    api_t *self = cls;
    /* libmicrohttpd's one word of a refused connection (api.max_connections or
       api.max_connections_per_ip: the same message for both, in 0.9.75) */
    uint64_t unlogged;
    if (strncmp (format, "Server reached connection limit", 31) == 0) {
        self->counters[C_CONN_REFUSED]++;
        if (ratelog_due (&self->conn_log, &unlogged))
            log_warning ("a connection closed unanswered: over api.max_connections (%d) or "
                         "api.max_connections_per_ip (%d) (%llu more not logged since)",
                         self->cfg->api.max_connections, self->cfg->api.max_connections_per_ip,
                         (unsigned long long) unlogged);
        return;
    }
    if (!ratelog_due (&self->mhd_log, &unlogged))
        return;
    char text[512];
    vsnprintf (text, sizeof text, format, args);
    text[strcspn (text, "\r\n")] = 0;
    log_warning ("libmicrohttpd: %s (%llu messages not logged since)", text,
                 (unsigned long long) unlogged);
}

static int
start_http (api_t *self, config_errors_t *errors)
{
    const config_t *cfg = self->cfg;
    struct sockaddr_storage addr;
    bool v6;
    size_t from = errors ? errors->count : 0;
    if (parse_listen (cfg->api.listen, &addr, &v6) != 0) {
        config_errors_add (errors, "'%s': expected HOST:PORT", cfg->api.listen);
        config_errors_blame (errors, from, cfg, "api.listen");
        return -1;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (*cfg->api.tls_cert) {
        self->tls_cert = read_file (cfg, "api.tls_cert", cfg->api.tls_cert, false, 1 << 20,
                                    errors);
        self->tls_key = read_file (cfg, "api.tls_key", cfg->api.tls_key, true, 1 << 20, errors);
        if (!self->tls_cert || !self->tls_key)
            return -1;
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, self->tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, self->tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };
    self->mhd = MHD_start_daemon (
        flags, 0, NULL, NULL, on_request, self,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, self,   /* first: MHD wants it so */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) cfg->api.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) cfg->api.max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, self, MHD_OPTION_ARRAY,
        self->tls_cert ? tls : none, MHD_OPTION_END);
    if (!self->mhd) {
        config_errors_add (errors, "cannot listen on %s (in use, not an address of this host, "
                           "or a bad TLS certificate/key)", cfg->api.listen);
        config_errors_blame (errors, from, cfg, "api.listen");
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info (self->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    self->epoll_fd = di ? di->epoll_fd : -1;
    if (self->epoll_fd < 0) {
        config_errors_add (errors, "libmicrohttpd gave no epoll descriptor");
        return -1;
    }
    return 0;
}

api_t *
api_new (worker_t *w, config_errors_t *errors)
{
    const config_t *cfg = worker_config (w);
    api_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->epoll_fd = -1;
    self->started_mono = bus_mono_ns ();
    snprintf (self->version, sizeof self->version, "%s", DPI_VERSION);
    self->state = api_state_new ((size_t) cfg->api.max_flows, (size_t) cfg->api.max_threats,
                                 (size_t) cfg->api.max_alerts);
    self->limit = limit_new (cfg->api.rate_limit, 2.0 * cfg->api.rate_limit);
    self->streams = calloc ((size_t) cfg->api.sse_max_clients, sizeof *self->streams);
    self->targets = topo_config_targets (cfg, &self->ntargets);
    if (!self->state || !self->limit || !self->streams || !self->targets) {
        config_errors_add (errors, "out of memory");
        api_destroy (&self);
        return NULL;
    }
    if (self->ntargets < WORKER_COUNT) {     /* started by hand: itself too */
        topo_target_t *grown = realloc (self->targets, WORKER_COUNT * sizeof *grown);
        if (grown) {
            self->targets = grown;
            self->targets[self->ntargets].name = worker_info (WORKER_API)->name;
            self->targets[self->ntargets].endpoint = endpoint_address (cfg->bus.endpoints[WORKER_API]);
            self->targets[self->ntargets].connects_out = false;
            self->ntargets++;
        }
    }
    size_t len = 0;
    for (size_t i = 0; i < self->ntargets; i++) {
        if (!topo_workers_add (&self->workers, &self->targets[i])) {
            config_errors_add (errors, "out of memory");
            api_destroy (&self);
            return NULL;
        }
        if (!self->targets[i].connects_out && len < sizeof self->listened)
            len += (size_t) snprintf (self->listened + len, sizeof self->listened - len, "%s%s",
                                      len ? ", " : "", self->targets[i].endpoint);
    }
    www_default (cfg, self->www_dir, sizeof self->www_dir);
    size_t from = errors ? errors->count : 0;
    int rc = load_token (cfg, self->token, &self->token_len, errors);
    check_tls (cfg, errors);
    rc |= errors && errors->count > from ? -1 : 0;
    if (rc == 0)
        rc = start_http (self, errors);
    /* what it shows: flows, verdicts, alerts, threats, decisions, and every
       worker's heartbeat (its own included) */
    static const struct {
        worker_id_t peer;
        const char *topic;
    } subs[] = {
        { WORKER_COLLECTOR, TOPIC_TAP_FLOW }, { WORKER_COLLECTOR, TOPIC_TAP_STATS },
        { WORKER_BRIDGE_MITM, TOPIC_MITM_VERDICT }, { WORKER_BUFFER, TOPIC_BUFFER_ALERT },
        { WORKER_CORRELATOR, TOPIC_CORRELATED_THREAT }, { WORKER_CORRELATOR, TOPIC_DECISION },
    };
    for (size_t i = 0; rc == 0 && i < sizeof subs / sizeof subs[0]; i++)
        rc = worker_subscribe_to (w, subs[i].peer, subs[i].topic, errors);
    for (int id = 0; rc == 0 && id < WORKER_COUNT; id++)
        rc = worker_subscribe_to (w, (worker_id_t) id, TOPIC_HEARTBEAT, errors);
    if (rc != 0) {
        api_destroy (&self);
        return NULL;
    }
    log_info ("listening on %s%s; token from %s; dashboard from %s", cfg->api.listen,
              self->tls_cert ? " (TLS)" : "", cfg->api.token_file, self->www_dir);
    return self;
}

void
api_destroy (api_t **self_p)
{
    api_t *self = *self_p;
    if (!self)
        return;
    if (self->mhd) {
        /* no suspended connection may be left when the daemon stops */
        self->closing = true;
        for (size_t i = 0; i < self->nstreams; i++)
            stream_wake (self->streams[i]);
        MHD_run (self->mhd);
        MHD_stop_daemon (self->mhd);
    }
    api_state_destroy (&self->state);
    limit_destroy (&self->limit);
    free (self->streams);
    topo_workers_clear (&self->workers);
    free (self->targets);
    pbjson_buf_free (&self->line);
    if (self->tls_key)
        memset (self->tls_key, 0, strlen (self->tls_key));
    free (self->tls_key);
    free (self->tls_cert);
    memset (self->token, 0, sizeof self->token);
    free (self);
    *self_p = NULL;
}

int
api_reload (api_t *self)
{
    config_errors_t errors = { 0 };
    char token[TOKEN_MAX + 1];
    size_t len = 0;
    int rc = load_token (self->cfg, token, &len, &errors);
    if (rc == 0) {
        memcpy (self->token, token, len + 1);
        self->token_len = len;
        self->counters[C_TOKEN_RELOADS]++;
        log_info ("SIGHUP: the token read again from %s", self->cfg->api.token_file);
    }
    else {
        self->counters[C_TOKEN_ERRORS]++;
        for (size_t i = 0; i < errors.count; i++)
            log_error ("SIGHUP: the token not read again, the previous one stays: %s",
                       errors.messages[i]);
    }
    memset (token, 0, sizeof token);
    config_errors_clear (&errors);
    return rc;
}

int
api_fd (api_t *self)
{
    return self->epoll_fd;
}

void
api_drain (api_t *self)
{
    self->resumed = false;
    MHD_run (self->mhd);
}

int
api_work (api_t *self)
{
    if (self->resumed)
        api_drain (self);
    return 0;
}

void
api_tick (api_t *self)
{
    uint64_t now = bus_mono_ns ();
    for (size_t i = 0; i < self->nstreams; i++) {
        api_stream_t *s = self->streams[i];
        if (now - s->last_send_mono >= KEEPALIVE_NS && !sse_client_pending (&s->client)) {
            sse_client_comment (&s->client, "keep-alive");
            s->last_send_mono = now;
            stream_wake (s);
        }
    }
    api_drain (self);
}

static const char *
l4_name (uint32_t proto)
{
    switch (proto) {
        case 6: return "tcp";
        case 17: return "udp";
        case 1: return "icmp";
        case 58: return "icmpv6";
        case 132: return "sctp";
        default: return "";
    }
}

void
api_message (api_t *self, const bus_msg_t *msg)
{
    if (topo_workers_note (&self->workers, msg) != 0)
        return;                             /* sys.heartbeat, tap.stats     */
    const char *topic = msg->topic;
    uint64_t now = bus_now_ns (), ts = msg->header ? msg->header->ts_ns : now;
    if (strcmp (topic, TOPIC_MITM_VERDICT) == 0) {     /* counted only: no text */
        const Dpidual__V1__Verdict *v = (const Dpidual__V1__Verdict *) msg->body;
        self->counters[C_VERDICTS]++;
        api_state_add (self->state, API_KIND_VERDICT, now, ts, NULL, 0, NULL, NULL, NULL, NULL);
        if (v->action == DPIDUAL__V1__VERDICT__ACTION__BLOCK)
            api_state_add (self->state, API_KIND_BLOCK, now, ts, NULL, 0, NULL, NULL, NULL, NULL);
        return;
    }
    pbjson_buf_t *b = &self->line;
    pbjson_buf_reset (b);
    if (pbjson_append (b, topic, msg->body) != 0)
        return;
    if (strcmp (topic, TOPIC_TAP_FLOW) == 0) {
        const Dpidual__V1__FlowEvent *f = (const Dpidual__V1__FlowEvent *) msg->body;
        self->counters[C_FLOWS]++;
        if (api_state_add (self->state, API_KIND_FLOW, now, ts, b->data, b->len, f->src_ip,
                           f->dst_ip, f->proto, l4_name (f->ip_proto)) != 0)
            self->counters[C_OVERSIZED]++;
        broadcast (self, "flow", b->data, b->len);
    }
    else if (strcmp (topic, TOPIC_BUFFER_ALERT) == 0) {
        const Dpidual__V1__Alert *a = (const Dpidual__V1__Alert *) msg->body;
        self->counters[C_ALERTS]++;
        if (api_state_add (self->state, API_KIND_ALERT, now, ts, b->data, b->len, a->client_ip,
                           NULL, a->category, NULL) != 0)
            self->counters[C_OVERSIZED]++;
        broadcast (self, "alert", b->data, b->len);
    }
    else if (strcmp (topic, TOPIC_CORRELATED_THREAT) == 0) {
        const Dpidual__V1__CorrelatedThreat *t = (const Dpidual__V1__CorrelatedThreat *) msg->body;
        self->counters[C_THREATS]++;
        if (api_state_add (self->state, API_KIND_THREAT, now, ts, b->data, b->len, t->client_ip,
                           NULL, NULL, NULL) != 0)
            self->counters[C_OVERSIZED]++;
        broadcast (self, "threat", b->data, b->len);
    }
    else if (strcmp (topic, TOPIC_DECISION) == 0) {
        self->counters[C_DECISIONS]++;
        api_state_add (self->state, API_KIND_DECISION, now, ts, NULL, 0, NULL, NULL, NULL, NULL);
        broadcast (self, "decision", b->data, b->len);
    }
}

size_t
api_counters (api_t *self, heartbeat_counter_t *out, size_t max)
{
    self->counters[C_SSE_CLIENTS] = self->nstreams;
    self->counters[C_LIMIT_EVICTED] = limit_evicted (self->limit);
    size_t n = 0;
    for (; n < C_COUNT && n < max; n++)
        out[n] = (heartbeat_counter_t) { s_counter_names[n], self->counters[n] };
    return n;
}

void
api_summary (api_t *self)
{
    log_info ("%llu requests (%llu ok, %llu unauthorized, %llu bad, %llu rate limited), "
              "%llu flows, %llu alerts, %llu threats seen; %llu stream events sent, %llu "
              "dropped",
              (unsigned long long) self->counters[C_REQUESTS],
              (unsigned long long) self->counters[C_OK],
              (unsigned long long) self->counters[C_UNAUTHORIZED],
              (unsigned long long) self->counters[C_BAD_REQUEST],
              (unsigned long long) self->counters[C_RATE_LIMITED],
              (unsigned long long) self->counters[C_FLOWS],
              (unsigned long long) self->counters[C_ALERTS],
              (unsigned long long) self->counters[C_THREATS],
              (unsigned long long) self->counters[C_SSE_SENT],
              (unsigned long long) self->counters[C_SSE_DROPPED]);
}
