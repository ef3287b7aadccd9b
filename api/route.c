/*  route.c — see route.h.                                                   */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"
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

bool
api_param_number (const char *text, long long min, long long max, long long def, long long *out)
{
    *out = def;
    if (!text)
        return true;
    char *end;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (!*text || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

const char *
api_list_query (api_param_fn *get, void *arg, api_list_query_t *out)
{
    *out = (api_list_query_t) { 0 };
    out->ip = get (arg, "ip");
    out->proto = get (arg, "proto");
    const char *since = get (arg, "since");
    if (!api_param_number (get (arg, "limit"), 1, API_LIST_LIMIT_MAX, API_LIST_LIMIT_DEFAULT,
                           &out->limit)
        || !api_param_number (get (arg, "offset"), 0, 1000000000, 0, &out->offset))
        return "limit must be 1..1000 and offset 0..1000000000";
    if (out->ip && !api_valid_ip (out->ip))
        return "ip: not an IPv4 or IPv6 address";
    if (out->proto) {
        size_t plen = strlen (out->proto);
        if (plen == 0 || plen > 32
            || strspn (out->proto, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789._-") != plen)
            return "proto: 1 to 32 letters, digits, '.', '_' or '-'";
    }
    if (since) {
        char *end;
        errno = 0;
        double s = strtod (since, &end);
        if (!*since || *end || errno || !(s >= 0) || s > 1e10)
            return "since: seconds since the epoch (decimals allowed)";
        out->since_ns = (uint64_t) (s * 1e9);
    }
    return NULL;
}

const char *
api_ban_parse (const char *body, size_t len, api_ban_t *out)
{
    *out = (api_ban_t) { .reason = "api" };
    json_error_t jerr;
    json_t *obj = body ? json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    const char *why = NULL;
    if (!json_is_object (obj))
        why = "the body must be a JSON object {ip, duration?, reason?}";
    const char *key;
    json_t *value;
    if (!why)
        json_object_foreach (obj, key, value)
            if (strcmp (key, "ip") && strcmp (key, "duration") && strcmp (key, "reason"))
                why = "unknown member: only ip, duration and reason";
    const char *ip = json_string_value (json_object_get (obj, "ip"));
    json_t *jd = json_object_get (obj, "duration");
    json_t *jr = json_object_get (obj, "reason");
    ipnet_t net;
    char err[128];
    if (!why && (!ip || strlen (ip) >= sizeof out->ip || ipnet_parse (ip, &net, err, sizeof err)))
        why = "ip: an IPv4 or IPv6 address or CIDR";
    if (!why && jd && (!json_is_integer (jd) || json_integer_value (jd) < 1
                       || json_integer_value (jd) > 315360000))
        why = "duration: seconds, 1..315360000";
    const char *reason = jr ? json_string_value (jr) : NULL;
    if (!why && jr && (!reason || strlen (reason) >= sizeof out->reason))
        why = "reason: a string of at most 200 bytes";
    for (const char *p = reason; !why && p && *p; p++)
        if ((unsigned char) *p < 0x20)
            why = "reason: no control characters";
    if (!why) {
        snprintf (out->ip, sizeof out->ip, "%s", ip);
        out->duration = jd ? (long long) json_integer_value (jd) : 0;
        if (reason && *reason)
            snprintf (out->reason, sizeof out->reason, "%s", reason);
    }
    json_decref (obj);
    return why;
}
