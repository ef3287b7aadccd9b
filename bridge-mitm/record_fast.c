/*  record_fast.c — the addon's usual record, read without building JSON.

    The addon writes its records with a fixed key order (its own: PROTOCOL.md's
    keys, tls last), and in the usual case every string is ASCII with at
    most \" and \\ escaped (browsers quote inside sec-ch-ua). Such a record
    is read here with a cursor over a copy of the datagram: each string is
    undone and NUL-terminated in place, so the record's pointers point into
    the copy. Anything else — another key order, another escape, a byte
    outside ASCII or a control byte, a value that fails a check, an error
    record — is declined, and record_parse hands the datagram to jansson,
    which says precisely what is wrong, or reads it (same result:
    tests/test_bridge_record.c compares the two on the same records).      */
#include "record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p, *end;
} cursor_t;

static bool
lit (cursor_t *c, const char *s, size_t n)
{
    if ((size_t) (c->end - c->p) < n || memcmp (c->p, s, n) != 0)
        return false;
    c->p += n;
    return true;
}
#define LIT(c, s) lit ((c), (s), sizeof (s) - 1)

/*  The rest of a string whose opening quote is consumed: ASCII from 0x20,
    the escapes \" and \\ (undone in place: the text only shrinks), at most
    MAX bytes once undone; NUL-terminated in place.                        */
static bool
str (cursor_t *c, size_t max, const char **out, size_t *len)
{
    char *start = c->p, *w = c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char) *c->p;
        if (ch < 0x20 || ch > 0x7f)
            return false;
        if (ch == '\\') {
            if (c->end - c->p < 2 || (c->p[1] != '"' && c->p[1] != '\\'))
                return false;           /* \n, \u...: jansson's */
            c->p++;
        }
        *w++ = *c->p++;
    }
    if (c->p == c->end || (size_t) (w - start) > max)
        return false;
    *w = 0;
    c->p++;
    *out = start;
    if (len)
        *len = (size_t) (w - start);
    return true;
}

/*  A JSON integer (no sign, no leading zero) of at most MAX.              */
static bool
unsigned_int (cursor_t *c, uint64_t max, uint64_t *out)
{
    char *start = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (c->p - start >= 18)
            return false;               /* jansson's range is for it to judge */
        v = v * 10 + (uint64_t) (*c->p - '0');
        c->p++;
    }
    if (c->p == start || (*start == '0' && c->p - start > 1) || v > max)
        return false;
    *out = v;
    return true;
}

static bool
boolean (cursor_t *c, bool *out)
{
    if (LIT (c, "true"))
        *out = true;
    else if (LIT (c, "false"))
        *out = false;
    else
        return false;
    return true;
}

/*  "ts": a JSON number (digits, optional fraction and exponent), into
    nanoseconds kept to the microsecond, as record.c does.                  */
static bool
timestamp (cursor_t *c, uint64_t *ts_ns)
{
    char buf[40];
    char *start = c->p;
    while (c->p < c->end && c->p - start < (long) sizeof buf - 1
           && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e'
               || *c->p == 'E' || *c->p == '-' || *c->p == '+'))
        c->p++;
    size_t n = (size_t) (c->p - start);
    if (n == 0 || n >= sizeof buf || *start < '0' || *start > '9'
        || (*start == '0' && n > 1 && start[1] >= '0' && start[1] <= '9'))
        return false;
    memcpy (buf, start, n);
    buf[n] = 0;
    /* JSON's grammar, which strtod is wider than: int [. digits] [e [+-] digits] */
    const char *q = buf;
    while (*q >= '0' && *q <= '9')
        q++;
    if (*q == '.') {
        if (!(*++q >= '0' && *q <= '9'))
            return false;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return false;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q)
        return false;
    double seconds = strtod (buf, NULL);
    if (!isfinite (seconds) || seconds < 0 || seconds >= 1.8e10)
        return false;
    double whole = floor (seconds);
    *ts_ns = (uint64_t) whole * 1000000000ull
             + (uint64_t) llround ((seconds - whole) * 1e6) * 1000ull;
    return true;
}

/*  {"ip":"...","port":N} (then ,"from_proxy":B when FROM_PROXY) and '}'. */
static bool
endpoint (cursor_t *c, record_endpoint_t *ep, bool *from_proxy)
{
    const char *ip;
    uint64_t port;
    if (!LIT (c, "{\"ip\":\"") || !str (c, INET6_ADDRSTRLEN + 16, &ip, NULL)
        || record_parse_ip (ip, ep) != 0 || !LIT (c, ",\"port\":") || !unsigned_int (c, 65535, &port))
        return false;
    ep->port = (uint16_t) port;
    if (from_proxy && (!LIT (c, ",\"from_proxy\":") || !boolean (c, from_proxy)))
        return false;
    ep->present = true;
    return LIT (c, "}");
}

/*  [["name","value"],...]                                                  */
static bool
headers (cursor_t *c, record_t *r)
{
    if (!LIT (c, "["))
        return false;
    if (LIT (c, "]"))
        return true;
    do {
        if (r->n_headers == RECORD_MAX_HEADERS)
            return false;
        record_header_t *h = &r->headers[r->n_headers++];
        if (!LIT (c, "[\"") || !str (c, RECORD_MAX_HEADER_NAME, &h->name, &h->name_len)
            || h->name_len == 0 || !LIT (c, ",\"")
            || !str (c, RECORD_MAX_HEADER_VALUE, &h->value, &h->value_len) || !LIT (c, "]"))
            return false;
    } while (LIT (c, ","));
    return LIT (c, "]");
}

static bool
request (cursor_t *c, record_t *r)
{
    const char *prefix;
    size_t len;
    if (!LIT (c, ",\"peer\":") || !endpoint (c, &r->peer, NULL)
        || !LIT (c, ",\"method\":\"") || !str (c, RECORD_MAX_METHOD, &r->method, &r->method_len)
        || !record_is_token (r->method, r->method_len)
        || !LIT (c, ",\"scheme\":\"") || !str (c, 16, &r->scheme, NULL)
        || !LIT (c, ",\"host\":\"") || !str (c, RECORD_MAX_TEXT, &r->host, NULL)
        || !LIT (c, ",\"path\":\"") || !str (c, RECORD_MAX_TARGET, &r->path, &r->path_len)
        || !LIT (c, ",\"query\":\"") || !str (c, RECORD_MAX_TARGET, &r->query, &r->query_len)
        || r->path_len + r->query_len > RECORD_MAX_TARGET
        || !LIT (c, ",\"http_version\":\"") || !str (c, 16, &r->http_version, NULL)
        || !LIT (c, ",\"headers\":") || !headers (c, r)
        || !LIT (c, ",\"body\":{\"length\":") || !unsigned_int (c, INT64_MAX, &r->body_length)
        || !LIT (c, ",\"sha256\":\"") || !str (c, 64, &r->body_sha256, &len)
        || (len != 0 && (len != 64 || !record_is_hex (r->body_sha256, len)))
        || !LIT (c, ",\"prefix\":\"")
        || !str (c, (r->body_max + 2) / 3 * 4, &prefix, &len)
        || record_body_window (r, prefix, len) != RECORD_OK
        || (LIT (c, ",\"truncated\":") && !boolean (c, &r->body_truncated))
        || !LIT (c, "}") || !LIT (c, ",\"verdict\":") || !boolean (c, &r->verdict)
        || !LIT (c, ",\"truncated\":") || !boolean (c, &r->truncated))
        return false;
    r->tls_version = r->tls_cipher = r->tls_sni = r->tls_alpn = "";
    if (LIT (c, ",\"tls\":{")) {
        static const char *const keys[] = { "\"version\":\"", "\"cipher\":\"", "\"sni\":\"",
                                            "\"alpn\":\"" };
        const char **out[] = { &r->tls_version, &r->tls_cipher, &r->tls_sni, &r->tls_alpn };
        const char *sep = "";           /* each key optional, in this order */
        for (int k = 0; k < 4; k++) {
            cursor_t at = *c;
            if (!lit (c, sep, strlen (sep)) || !lit (c, keys[k], strlen (keys[k]))) {
                *c = at;
                continue;
            }
            if (!str (c, RECORD_MAX_SHORT, out[k], NULL))
                return false;
            sep = ",";
        }
        if (!LIT (c, "}"))
            return false;
    }
    return true;
}

static bool
response (cursor_t *c, record_t *r)
{
    uint64_t status;
    if (!LIT (c, ",\"status\":") || !unsigned_int (c, 999, &status)
        || !LIT (c, ",\"headers\":") || !headers (c, r)
        || !LIT (c, ",\"body\":{\"length\":") || !unsigned_int (c, INT64_MAX, &r->body_length)
        || !LIT (c, "}") || !LIT (c, ",\"header_bytes\":") || !unsigned_int (c, INT64_MAX, &r->header_bytes)
        || !LIT (c, ",\"latency_us\":") || !unsigned_int (c, INT64_MAX, &r->latency_us)
        || !LIT (c, ",\"truncated\":") || !boolean (c, &r->truncated))
        return false;
    r->status = (uint32_t) status;
    return true;
}

bool
record_parse_canonical (record_t *r, char *text, size_t len)
{
    cursor_t c = { text, text + len };
    size_t id_len;
    const char *type;
    if (!LIT (&c, "{\"v\":1,\"type\":\"") || !str (&c, 32, &type, NULL))
        return false;
    if (strcmp (type, "request") == 0)
        r->type = RECORD_REQUEST;
    else if (strcmp (type, "response") == 0)
        r->type = RECORD_RESPONSE;
    else
        return false;
    if (!LIT (&c, ",\"id\":\"") || !str (&c, RECORD_MAX_ID, &r->id, &id_len) || id_len == 0
        || !LIT (&c, ",\"request_id\":\"") || !str (&c, RECORD_MAX_SHORT, &r->request_id, NULL)
        || !LIT (&c, ",\"ts\":") || !timestamp (&c, &r->ts_ns)
        || !LIT (&c, ",\"client\":") || !endpoint (&c, &r->client, &r->from_proxy)
        || !LIT (&c, ",\"frontend\":") || !endpoint (&c, &r->frontend, NULL))
        return false;
    if (!(r->type == RECORD_REQUEST ? request (&c, r) : response (&c, r)))
        return false;
    return LIT (&c, "}") && c.p == c.end;
}
