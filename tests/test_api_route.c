/*  test_api_route.c — unit test for api/route.c: every route of the table
    matches its own method and path; {ip} takes IPv4 and IPv6 and refuses
    garbage; traversal, empty segments, bad bytes and long paths are 400;
    an unknown path is 404 and a known path under another method 405; HEAD
    matches exactly the GET routes. The request parameters: the list query
    (limits, ip, proto, since), window, and the ban body, each accepted and
    refused with its reason.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "route.h"

#include <string.h>

#include "tally.h"

/*  A query as NAME=VALUE pairs (NULL-terminated).                         */
static const char *
param (void *arg, const char *name)
{
    for (const char *const *p = arg; p[0]; p += 2)
        if (strcmp (p[0], name) == 0)
            return p[1];
    return NULL;
}

static void
params (tally_t *t)
{
    api_list_query_t q;
    const char *none[] = { NULL };
    check (t, !api_list_query (param, none, &q) && q.limit == API_LIST_LIMIT_DEFAULT
                  && q.offset == 0 && !q.ip && !q.proto && q.since_ns == 0,
           "list query: defaults");
    const char *all[] = { "ip", "2001:db8::1", "proto", "TLS.Google", "since", "1.5",
                          "limit", "1000", "offset", "7", NULL };
    check (t, !api_list_query (param, all, &q) && q.limit == 1000 && q.offset == 7
                  && strcmp (q.ip, "2001:db8::1") == 0 && strcmp (q.proto, "TLS.Google") == 0
                  && q.since_ns == 1500000000ull, "list query: every parameter");
    const char *bad[][3] = {
        { "limit", "0", "limit must be" }, { "limit", "1001", "limit must be" },
        { "offset", "-1", "limit must be" }, { "limit", "5x", "limit must be" },
        { "limit", "", "limit must be" }, { "ip", "1.2.3.4/24", "ip: not" },
        { "proto", "", "proto: 1 to 32" }, { "proto", "a b", "proto: 1 to 32" },
        { "proto", "abcdefghijklmnopqrstuvwxyz0123456", "proto: 1 to 32" },
        { "since", "-1", "since: seconds" }, { "since", "nan", "since: seconds" },
        { "since", "1e11", "since: seconds" }, { "since", "", "since: seconds" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = { bad[i][0], bad[i][1], NULL };
        const char *why = api_list_query (param, one, &q);
        check (t, why && strncmp (why, bad[i][2], strlen (bad[i][2])) == 0,
               "list query: %s=%s refused (%s)", bad[i][0], bad[i][1], why ? why : "accepted");
    }
    long long window;
    check (t, api_param_number (NULL, 1, 86400, 0, &window) && window == 0
                  && api_param_number ("600", 1, 86400, 0, &window) && window == 600
                  && !api_param_number ("86401", 1, 86400, 0, &window)
                  && !api_param_number ("1 ", 1, 86400, 0, &window),
           "window: absent, 600, over, trailing space");

    api_ban_t ban;
    const char *full = "{\"ip\":\"203.0.113.5\",\"duration\":3600,\"reason\":\"r\"}";
    const char *cidr = "{\"ip\":\"2001:db8::/48\"}";
    check (t, !api_ban_parse (full, strlen (full), &ban)
                  && strcmp (ban.ip, "203.0.113.5") == 0 && ban.duration == 3600
                  && strcmp (ban.reason, "r") == 0, "ban: ip, duration, reason");
    check (t, !api_ban_parse (cidr, strlen (cidr), &ban) && ban.duration == 0
                  && strcmp (ban.reason, "api") == 0, "ban: a CIDR, defaults");
    const char *bad_bans[][2] = {
        { "", "the body must be" }, { "[1]", "the body must be" },
        { "{\"ip\":\"1.2.3.4\",\"ip\":\"1.2.3.5\"}", "the body must be" },
        { "{\"ip\":\"1.2.3.4\",\"x\":1}", "unknown member" },
        { "{\"ip\":\"1.2.3\"}", "ip: an IPv4" }, { "{\"ip\":7}", "ip: an IPv4" },
        { "{\"ip\":\"1.2.3.4\",\"duration\":0}", "duration:" },
        { "{\"ip\":\"1.2.3.4\",\"duration\":\"60\"}", "duration:" },
        { "{\"ip\":\"1.2.3.4\",\"reason\":\"a\\tb\"}", "reason: no control" },
        { "{\"ip\":\"1.2.3.4\",\"reason\":1}", "reason: a string" },
    };
    for (size_t i = 0; i < sizeof bad_bans / sizeof bad_bans[0]; i++) {
        const char *why = api_ban_parse (bad_bans[i][0], strlen (bad_bans[i][0]), &ban);
        check (t, why && strncmp (why, bad_bans[i][1], strlen (bad_bans[i][1])) == 0,
               "ban: %s refused (%s)", bad_bans[i][0], why ? why : "accepted");
    }
    check (t, api_ban_parse (NULL, 0, &ban) != NULL, "ban: no body");
}

static api_match_t
match (const char *method, const char *path, api_route_id_t *id, char *ip)
{
    const char *why;
    api_match_t m = api_route_match (method, path, id, ip, API_IP_MAX, &why);
    return m == API_MATCH_OK || why ? m : (api_match_t) 0;
}

int
main (void)
{
    tally_t t = { 0 };
    api_route_id_t id;
    char ip[API_IP_MAX];

    for (int i = 0; i < API_ROUTE_COUNT; i++) {
        const api_route_t *r = api_route ((api_route_id_t) i);
        char path[256];
        snprintf (path, sizeof path, "%s", r->path);
        char *p = strstr (path, "{ip}");
        if (p)
            memcpy (p, "1.2.3.4", 8);   /* the pattern ends with {ip} */
        check (&t, match (r->method, path, &id, ip) == API_MATCH_OK && id == r->id,
               "route %s %s matches itself", r->method, r->path);
        check (&t, !p || strcmp (ip, "1.2.3.4") == 0, "its {ip} is 1.2.3.4 (%s)", ip);
    }
    check (&t, match ("GET", "/api/dpi/context/2001:db8::1", &id, ip) == API_MATCH_OK
                   && id == API_ROUTE_CONTEXT && strcmp (ip, "2001:db8::1") == 0,
           "IPv6 in {ip}");
    check (&t, match ("DELETE", "/api/dpi/ban/::ffff:192.0.2.1", &id, ip) == API_MATCH_OK
                   && id == API_ROUTE_UNBAN, "mapped IPv6 in {ip}");
    const char *bad[] = {
        "/api/dpi/context/1.2.3",          "/api/dpi/context/1.2.3.4x",
        "/api/dpi/context/256.1.1.1",      "/api/dpi/context/abc",
        "/api/dpi/context/1.2.3.4;rm",     "/api/dpi/context/fe80::1%eth0",
        "/api/dpi/context/..",             "/api/dpi/context/../../etc/passwd",
        "/api/dpi/./status",               "/api/dpi//status",
        "//api/dpi/status",                "/api/dpi/status/..",
        "/api/dpi/context/1.2.3.4\x01",    "/api/dpi/context/\xc3\xa9",
        "/api/dpi/context/1.2.3.4 ",       "relative/path",
        "",
        "/api/dpi/context/0000000000000000000000000000000000000000000000000000001.2.3.4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *method = strncmp (bad[i], "/api/dpi/ban", 12) == 0 ? "DELETE" : "GET";
        check (&t, match (method, bad[i], &id, ip) == API_MATCH_BAD, "400 for '%s'", bad[i]);
    }
    char longpath[400];
    memset (longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = 0;
    check (&t, match ("GET", longpath, &id, ip) == API_MATCH_BAD, "400 for a long path");
    check (&t, match ("GET", "/api/dpi/nothing", &id, ip) == API_MATCH_NOT_FOUND, "404");
    check (&t, match ("GET", "/api/dpi/status/", &id, ip) == API_MATCH_NOT_FOUND,
           "404 with a trailing slash");
    check (&t, match ("GET", "/", &id, ip) == API_MATCH_OK && id == API_ROUTE_WWW_ROOT,
           "/ is the dashboard");
    const char *type = NULL;
    check (&t, api_route_www_file (API_ROUTE_WWW_ROOT, &type)
                   && strcmp (api_route_www_file (API_ROUTE_WWW_ROOT, &type), "index.html") == 0
                   && strncmp (type, "text/html", 9) == 0, "/ serves index.html as text/html");
    check (&t, api_route_www_file (API_ROUTE_WWW_APP, &type) && strncmp (type, "text/javascript", 15) == 0
                   && api_route_www_file (API_ROUTE_WWW_STYLE, &type) && strncmp (type, "text/css", 8) == 0,
           "app.js and style.css with their types");
    check (&t, api_route_www_file (API_ROUTE_STATUS, &type) == NULL, "no file for an API route");
    const char *www_404[] = { "/www", "/api", "/index.htm", "/app.js/", "/etc/passwd",
                              "/style.css/x", "/favicon.ico", "/index.html/" };
    for (size_t i = 0; i < sizeof www_404 / sizeof www_404[0]; i++)
        check (&t, match ("GET", www_404[i], &id, ip) == API_MATCH_NOT_FOUND, "404 for '%s'",
               www_404[i]);
    check (&t, match ("GET", "/../api/www/index.html", &id, ip) == API_MATCH_BAD
                   && match ("GET", "/./app.js", &id, ip) == API_MATCH_BAD, "400 for /../ and /./");
    check (&t, match ("POST", "/", &id, ip) == API_MATCH_METHOD, "405 POST /");
    check (&t, match ("GET", "/api/dpi/context/1.2.3.4/more", &id, ip) == API_MATCH_NOT_FOUND,
           "404 past {ip}");
    check (&t, match ("POST", "/api/dpi/status", &id, ip) == API_MATCH_METHOD, "405 POST status");
    check (&t, match ("GET", "/api/dpi/ban", &id, ip) == API_MATCH_METHOD, "405 GET ban");
    check (&t, match ("PUT", "/api/dpi/ban/1.2.3.4", &id, ip) == API_MATCH_METHOD, "405 PUT");
    /* HEAD: the GET routes, and only those */
    for (size_t i = 0; i < API_ROUTE_COUNT; i++) {
        const api_route_t *r = api_route ((api_route_id_t) i);
        if (strstr (r->path, "{ip}") || strcmp (r->method, "GET") != 0)
            continue;
        check (&t, match ("HEAD", r->path, &id, ip) == API_MATCH_OK && id == r->id,
               "HEAD %s: the GET route", r->path);
    }
    check (&t, match ("HEAD", "/api/dpi/reputation/192.0.2.7", &id, ip) == API_MATCH_OK
                   && id == API_ROUTE_REPUTATION && strcmp (ip, "192.0.2.7") == 0,
           "HEAD with {ip}");
    check (&t, match ("HEAD", "/api/dpi/ban", &id, ip) == API_MATCH_METHOD
                   && match ("HEAD", "/api/dpi/replay/192.0.2.7", &id, ip) == API_MATCH_METHOD,
           "HEAD of a POST-only path: 405");
    check (&t, match ("HEAD", "/api/dpi/nothing", &id, ip) == API_MATCH_NOT_FOUND, "HEAD 404");
    check (&t, match ("get", "/api/dpi/status", &id, ip) == API_MATCH_METHOD,
           "methods are case-sensitive");
    check (&t, api_valid_ip ("192.0.2.1") && api_valid_ip ("::1") && !api_valid_ip ("")
                   && !api_valid_ip ("192.0.2.1/24"), "api_valid_ip");
    params (&t);
    return tally_report (&t);
}
