/*  route.c — see route.h.                                                   */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "route.h"

static const api_route_t s_routes[API_ROUTE_COUNT] = {
#define API_ROUTE_ROW(ID, METHOD, PATH) { API_ROUTE_##ID, METHOD, PATH },
    API_ROUTES (API_ROUTE_ROW)
#undef API_ROUTE_ROW
};

const api_route_t *
api_route (api_route_id_t id)
{
    return id < API_ROUTE_COUNT ? &s_routes[id] : NULL;
}

const char *
api_route_www_file (api_route_id_t id, const char **type)
{
    switch (id) {
        case API_ROUTE_WWW_ROOT:
        case API_ROUTE_WWW_INDEX:
            *type = "text/html; charset=utf-8";
            return "index.html";
        case API_ROUTE_WWW_APP:
            *type = "text/javascript; charset=utf-8";
            return "app.js";
        case API_ROUTE_WWW_STYLE:
            *type = "text/css; charset=utf-8";
            return "style.css";
        default:
            return NULL;
    }
}

int
api_valid_ip (const char *text)
{
    unsigned char addr[16];
    size_t len = strnlen (text, API_IP_MAX);
    if (len == 0 || len >= API_IP_MAX)
        return 0;
    return inet_pton (AF_INET, text, addr) == 1 || inet_pton (AF_INET6, text, addr) == 1;
}

/*  Does PATH's segments match PATTERN's ({ip} any one segment)? The {ip}
    segment into IP.                                                         */
static bool
matches (const char *pattern, const char *path, char *ip, size_t iplen)
{
    ip[0] = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++, path++;
        size_t plen = strcspn (pattern, "/"), slen = strcspn (path, "/");
        if (plen == 4 && strncmp (pattern, "{ip}", 4) == 0) {
            if (slen >= iplen)
                slen = iplen - 1;
            memcpy (ip, path, slen);
            ip[slen] = 0;
        }
        else if (plen != slen || strncmp (pattern, path, plen) != 0)
            return false;
        pattern += plen;
        path += strcspn (path, "/");
    }
    return !*pattern && !*path;
}

api_match_t
api_route_match (const char *method, const char *path, api_route_id_t *id, char *ip,
                 size_t iplen, const char **why)
{
    *why = NULL;
    ip[0] = 0;
    size_t len = strnlen (path, API_PATH_MAX + 1);
    if (len == 0 || len > API_PATH_MAX || path[0] != '/') {
        *why = "bad path";
        return API_MATCH_BAD;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) path[i] < 0x21 || (unsigned char) path[i] > 0x7e) {
            *why = "bad byte in the path";
            return API_MATCH_BAD;
        }
    for (const char *seg = path; *seg; ) {
        seg++;                          /* past '/' */
        size_t slen = strcspn (seg, "/");
        if ((slen == 0 && seg[0] == '/') || (slen == 1 && seg[0] == '.')
            || (slen == 2 && seg[0] == '.' && seg[1] == '.')) {
            *why = "empty, \".\" or \"..\" segment in the path";
            return API_MATCH_BAD;
        }
        seg += slen;
    }
    bool other_method = false;
    char seg_ip[API_IP_MAX + 8];
    for (size_t i = 0; i < API_ROUTE_COUNT; i++) {
        if (!matches (s_routes[i].path, path, seg_ip, sizeof seg_ip))
            continue;
        /* HEAD is a GET without the body (libmicrohttpd sends none) */
        bool head_of_get = strcmp (method, "HEAD") == 0 && strcmp (s_routes[i].method, "GET") == 0;
        if (strcmp (s_routes[i].method, method) != 0 && !head_of_get) {
            other_method = true;
            continue;
        }
        if (strstr (s_routes[i].path, "{ip}")) {
            if (!api_valid_ip (seg_ip)) {
                *why = "{ip}: not an IPv4 or IPv6 address";
                return API_MATCH_BAD;
            }
            if (iplen < API_IP_MAX) {
                *why = "internal: ip buffer too small";
                return API_MATCH_BAD;
            }
            strcpy (ip, seg_ip);
        }
        *id = s_routes[i].id;
        return API_MATCH_OK;
    }
    *why = other_method ? "method not allowed on this path" : "no such path";
    return other_method ? API_MATCH_METHOD : API_MATCH_NOT_FOUND;
}
