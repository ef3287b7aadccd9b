/*  test_api_route.c — unit test for api/route.c: every route of the table
    matches its own method and path; {ip} takes IPv4 and IPv6 and refuses
    garbage; traversal, empty segments, bad bytes and long paths are 400;
    an unknown path is 404 and a known path under another method 405; HEAD
    matches exactly the GET routes.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "route.h"

#include <string.h>

#include "tally.h"

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
    return tally_report (&t);
}
