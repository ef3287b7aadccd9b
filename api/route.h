/*  route.h — dpi-api's routes: the table of every path it serves (method,
    path with its {ip} parameter), and the parser that matches a request
    line against it.

    The table is the one list of the API: the server dispatches on it, and
    tests/check_openapi.py checks that api/openapi.yaml documents exactly
    these (method, path) pairs — the rows below are read by that script, so
    keep one row a line: ROUTE (ID, "METHOD", "/path").

    Matching is on the decoded path (libmicrohttpd unescapes it), segment by
    segment. Refused before any route is looked at (400): an empty segment
    ("//"), a "." or ".." segment, a byte below 0x21 or above 0x7e, a path
    over API_PATH_MAX. An {ip} segment must be an IPv4 or IPv6 address as
    inet_pton reads it (at most 45 characters), else 400. A path of no route
    is 404; a path of a route under another method is 405. HEAD matches
    the GET routes (the server answers it as GET, without the body). Pure
    functions.

    The WWW_ rows are the dashboard's files (api.www_dir), each a fixed
    name: no request path ever becomes a file name, so there is nothing to
    traverse and nothing to list. They need no token (api_route_public). */
#ifndef DPI_API_ROUTE_H
#define DPI_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_PATH_MAX 256
#define API_IP_MAX 46                   /* INET6_ADDRSTRLEN */

#define API_ROUTES(ROUTE)                                                     \
    ROUTE (STATUS, "GET", "/api/dpi/status")                                  \
    ROUTE (BUFFER, "GET", "/api/dpi/mitm/buffer")                             \
    ROUTE (FLOWS, "GET", "/api/dpi/tap/flows")                                \
    ROUTE (CORRELATED, "GET", "/api/dpi/correlated")                          \
    ROUTE (ALERTS, "GET", "/api/dpi/alerts")                                  \
    ROUTE (REPLAY, "POST", "/api/dpi/replay/{ip}")                            \
    ROUTE (TOPOLOGY, "GET", "/api/dpi/topology")                              \
    ROUTE (CONTEXT, "GET", "/api/dpi/context/{ip}")                           \
    ROUTE (REPUTATION, "GET", "/api/dpi/reputation/{ip}")                     \
    ROUTE (BAN, "POST", "/api/dpi/ban")                                       \
    ROUTE (UNBAN, "DELETE", "/api/dpi/ban/{ip}")                              \
    ROUTE (EVENTS, "GET", "/api/dpi/events")                                  \
    ROUTE (METRICS, "GET", "/metrics")                                        \
    ROUTE (WWW_ROOT, "GET", "/")                                              \
    ROUTE (WWW_INDEX, "GET", "/index.html")                                   \
    ROUTE (WWW_APP, "GET", "/app.js")                                         \
    ROUTE (WWW_STYLE, "GET", "/style.css")

typedef enum {
#define API_ROUTE_ENUM(ID, METHOD, PATH) API_ROUTE_##ID,
    API_ROUTES (API_ROUTE_ENUM)
#undef API_ROUTE_ENUM
    API_ROUTE_COUNT
} api_route_id_t;

typedef struct {
    api_route_id_t id;
    const char *method;
    const char *path;
} api_route_t;

/*  The row of ID.                                                           */
const api_route_t *api_route (api_route_id_t id);

typedef enum {
    API_MATCH_OK = 200,
    API_MATCH_BAD = 400,                /* traversal, bad bytes, bad {ip}   */
    API_MATCH_NOT_FOUND = 404,
    API_MATCH_METHOD = 405,
} api_match_t;

/*  Match METHOD and PATH (no query string). OK: *ID set, and IP (of IPLEN,
    at least API_IP_MAX) holds the {ip} segment when the route has one
    (else ""). Otherwise *WHY says what was wrong, for the reply.          */
api_match_t api_route_match (const char *method, const char *path, api_route_id_t *id,
                             char *ip, size_t iplen, const char **why);

/*  The dashboard's file of ID (a WWW_ row) and its Content-Type; NULL for
    any other route.                                                         */
const char *api_route_www_file (api_route_id_t id, const char **type);

/*  Is TEXT an IPv4 or IPv6 address (inet_pton), at most API_IP_MAX - 1
    characters?                                                             */
int api_valid_ip (const char *text);

/*  Request parameters, checked here so that dpi-api's handlers only act on
    values already known good (tests/fuzz/fuzz_api.c feeds these too).      */

/*  TEXT (NULL: absent, then DEF) as a whole decimal number in MIN..MAX
    into OUT; false when present and not one.                               */
bool api_param_number (const char *text, long long min, long long max, long long def,
                       long long *out);

#define API_LIST_LIMIT_MAX 1000
#define API_LIST_LIMIT_DEFAULT 100

/*  The query of the list routes (flows, correlated, alerts): ip, proto,
    since, limit, offset, each read with GET (ARG, NAME): the value of
    parameter NAME, NULL when absent (libmicrohttpd's, unescaped).         */
typedef const char *(api_param_fn) (void *arg, const char *name);
typedef struct {
    const char *ip;                 /* an address (api_valid_ip), or NULL   */
    const char *proto;              /* 1..32 of [A-Za-z0-9._-], or NULL     */
    uint64_t since_ns;              /* 0 when absent                         */
    long long limit;                /* 1..API_LIST_LIMIT_MAX                 */
    long long offset;               /* 0..1000000000                         */
} api_list_query_t;

/*  NULL with OUT filled, or what is wrong (the 400's text).                */
const char *api_list_query (api_param_fn *get, void *arg, api_list_query_t *out);

/*  The body of POST /api/dpi/ban: a JSON object {ip, duration?, reason?}:
    ip an address or CIDR (ipnet), duration whole seconds 1..315360000,
    reason a string of at most 200 bytes without control characters.       */
typedef struct {
    char ip[API_IP_MAX + 4];
    long long duration;             /* 0 when absent                         */
    char reason[201];               /* "api" when absent or empty            */
} api_ban_t;

/*  NULL with OUT filled, or what is wrong (the 400's text). BODY (LEN
    bytes) may be NULL.                                                     */
const char *api_ban_parse (const char *body, size_t len, api_ban_t *out);

#endif
