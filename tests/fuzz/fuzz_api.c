/*  fuzz_api.c — libFuzzer harness for dpi-api's request parsing
    (api/route.c): the route of a method and path (api_route_match, with
    api_valid_ip on {ip}), the query of the list routes (api_list_query:
    ip, proto, since, limit, offset) and "window" (api_param_number), and
    the JSON body of POST /api/dpi/ban (api_ban_parse). POST
    /api/dpi/replay/{ip} has no body: its input is the {ip} of the path.

    Input: one byte choosing the method (modulo 6: GET, POST, DELETE, PUT,
    HEAD, "get"), then the raw path, a NUL, the raw query string, a NUL,
    the body (each part may be cut short by the end of the input). Path
    and query are percent-decoded here as libmicrohttpd does before dpi-api
    sees them (the query split on '&' and '=' first, '+' a space).

    Checks beyond no crash: a path matches (200) only when its method is the
    route's, it is the route's pattern with the {ip} segment replaced by the
    address given back (so no '%', '.' or '..' segment, nothing but
    0x21..0x7e), and that address is valid (api_valid_ip, and inet_pton
    here); a decoded path with a "." or ".." segment — "..", "%2e%2e",
    "%2E." — is always refused 400; a dashboard route's file is one plain
    name (no '/', not starting with '.'), so it stays inside api.www_dir;
    every refusal says why. An accepted query has limit 1..1000, offset
    0..1000000000, an address as ip, 1..32 allowed characters as proto,
    since at most 1e10 s. An accepted ban has an ip that ipnet_parse
    reads, a duration 0 (absent) or 1..315360000, a reason of at most 200
    bytes with no control character ("api" when none).                     */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"
#include "roundtrip.h"
#include "route.h"

#define MAX_PARAMS 16

typedef struct {
    char *names[MAX_PARAMS], *values[MAX_PARAMS];
    size_t count;
} params_t;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    fuzz_quiet_logs ();
    return 0;
}

static int
hex (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*  %XX decoded in place (a bad escape kept as it is), '+' a space if PLUS. */
static void
unescape (char *s, bool plus)
{
    char *out = s;
    for (char *in = s; *in; in++) {
        if (*in == '%' && hex (in[1]) >= 0 && hex (in[2]) >= 0) {
            *out++ = (char) (hex (in[1]) * 16 + hex (in[2]));
            in += 2;
        } else
            *out++ = plus && *in == '+' ? ' ' : *in;
    }
    *out = 0;
}

static const char *
lookup (void *arg, const char *name)
{
    const params_t *p = arg;
    for (size_t i = 0; i < p->count; i++)
        if (strcmp (p->names[i], name) == 0)
            return p->values[i];
    return NULL;
}

/*  Has the decoded PATH a "." or ".." segment?                            */
static bool
dot_segment (const char *path)
{
    for (const char *seg = path; (seg = strchr (seg, '/')) != NULL;) {
        seg++;
        size_t n = strcspn (seg, "/");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return true;
    }
    return false;
}

static void
check_route (const char *method, const char *path)
{
    api_route_id_t id = API_ROUTE_COUNT;
    char ip[API_IP_MAX];
    const char *why = "unset";
    api_match_t m = api_route_match (method, path, &id, ip, sizeof ip, &why);
    if (dot_segment (path) && m != API_MATCH_BAD)
        abort ();                       /* "." or "..": 400, before any route */
    if (m != API_MATCH_OK) {
        if (m != API_MATCH_BAD && m != API_MATCH_NOT_FOUND && m != API_MATCH_METHOD)
            abort ();
        if (!why || !*why || strcmp (why, "unset") == 0)
            abort ();
        return;
    }
    const api_route_t *r = api_route (id);
    /* HEAD is answered as GET: it matches exactly the GET routes */
    const char *as = strcmp (method, "HEAD") == 0 ? "GET" : method;
    if (!r || strcmp (r->method, as) != 0)
        abort ();
    /* the pattern with {ip} replaced is exactly the path */
    char expect[API_PATH_MAX * 2];
    const char *brace = strstr (r->path, "{ip}");
    if (brace) {
        unsigned char addr[16];
        if (!api_valid_ip (ip) || (inet_pton (AF_INET, ip, addr) != 1
                                   && inet_pton (AF_INET6, ip, addr) != 1))
            abort ();
        snprintf (expect, sizeof expect, "%.*s%s%s", (int) (brace - r->path), r->path, ip,
                  brace + 4);
    } else {
        if (ip[0])
            abort ();
        snprintf (expect, sizeof expect, "%s", r->path);
    }
    if (strcmp (expect, path) != 0)
        abort ();
    for (const char *p = path; *p; p++)
        if ((unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e || *p == '%')
            abort ();
    const char *type = NULL;
    const char *file = api_route_www_file (id, &type);
    if (file && (strchr (file, '/') || file[0] == '.' || !*file || !type))
        abort ();
}

static void
check_query (char *query)
{
    params_t p = { .count = 0 };
    for (char *save = NULL, *kv = strtok_r (query, "&", &save); kv && p.count < MAX_PARAMS;
         kv = strtok_r (NULL, "&", &save)) {
        char *eq = strchr (kv, '=');
        char *value = eq ? eq + 1 : kv + strlen (kv);
        if (eq)
            *eq = 0;
        unescape (kv, true);
        unescape (value, true);
        p.names[p.count] = kv;
        p.values[p.count++] = value;
    }
    api_list_query_t q;
    const char *why = api_list_query (lookup, &p, &q);
    if (!why) {
        if (q.limit < 1 || q.limit > API_LIST_LIMIT_MAX || q.offset < 0 || q.offset > 1000000000)
            abort ();
        if (q.ip && (!api_valid_ip (q.ip) || q.ip != lookup (&p, "ip")))
            abort ();
        if (q.proto) {
            size_t n = strlen (q.proto);
            if (n < 1 || n > 32)
                abort ();
            for (const char *c = q.proto; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
                      || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
                    abort ();
        }
        if (q.since_ns > 10000000000ull * 1000000000ull)
            abort ();
        if (!lookup (&p, "limit") && q.limit != API_LIST_LIMIT_DEFAULT)
            abort ();
    } else if (!*why)
        abort ();
    long long window = -1;
    if (api_param_number (lookup (&p, "window"), 1, 86400, 0, &window)) {
        if (window < 0 || window > 86400 || (window == 0 && lookup (&p, "window")))
            abort ();
    }
}

static void
check_ban (const uint8_t *body, size_t len)
{
    char *copy = malloc (len ? len : 1);        /* exactly the body, no NUL */
    if (!copy)
        return;
    memcpy (copy, body, len);
    api_ban_t ban;
    const char *why = api_ban_parse (len ? copy : NULL, len, &ban);
    if (!why) {
        ipnet_t net;
        char err[128];
        if (!memchr (ban.ip, 0, sizeof ban.ip) || ipnet_parse (ban.ip, &net, err, sizeof err))
            abort ();
        if (ban.duration && (ban.duration < 1 || ban.duration > 315360000))
            abort ();
        if (!memchr (ban.reason, 0, sizeof ban.reason) || strlen (ban.reason) > 200
            || !ban.reason[0])
            abort ();
        for (const char *c = ban.reason; *c; c++)
            if ((unsigned char) *c < 0x20)
                abort ();
    } else if (!*why)
        abort ();
    free (copy);
}

/*  LEN bytes of DATA as a string. Not strndup: the input has no NUL at its
    end, and strndup's interceptor reads up to one under ASan's
    strict_string_checks (tests/run-all.sh sets it).                       */
static char *
copy_bytes (const uint8_t *data, size_t len)
{
    char *s = malloc (len + 1);
    if (s) {
        memcpy (s, data, len);
        s[len] = 0;
    }
    return s;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static const char *const methods[] = { "GET", "POST", "DELETE", "PUT", "HEAD", "get" };
    if (size < 1)
        return 0;
    const char *method = methods[data[0] % 6];
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *nul = memchr (p, 0, (size_t) (end - p));
    size_t path_len = nul ? (size_t) (nul - p) : (size_t) (end - p);
    char *path = copy_bytes (p, path_len);
    p += path_len + (nul ? 1 : 0);
    nul = p < end ? memchr (p, 0, (size_t) (end - p)) : NULL;
    size_t query_len = p < end ? (nul ? (size_t) (nul - p) : (size_t) (end - p)) : 0;
    char *query = copy_bytes (p, query_len);
    p += query_len + (nul ? 1 : 0);
    if (!path || !query)
        abort ();

    unescape (path, false);
    check_route (method, path);
    check_query (query);
    check_ban (p, p < end ? (size_t) (end - p) : 0);
    free (query);
    free (path);
    return 0;
}
