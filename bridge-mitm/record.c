/*  record.c — see record.h.                                                 */
#include "record.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static const char *s_reason_names[RECORD_REASONS] = {
    "ok", "too-large", "not-json", "bad-utf8", "bad-version", "unknown-type",
    "missing-field", "bad-type", "bad-value", "too-long",
};

/*  Where the current check is, for the detail.                             */
typedef struct {
    char *detail;
    size_t detaillen;
    const char *parent;                 /* "client", "body", ... or NULL     */
} check_t;

#define TRY(expr) do { record_reason_t rc_ = (expr); if (rc_ != RECORD_OK) return rc_; } while (0)

static record_reason_t
fail (check_t *c, record_reason_t reason, const char *key, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static record_reason_t
fail (check_t *c, record_reason_t reason, const char *key, const char *fmt, ...)
{
    if (!c->detail || c->detaillen == 0)
        return reason;
    int n = 0;
    if (key)
        n = snprintf (c->detail, c->detaillen, "%s%s%s: ", c->parent ? c->parent : "",
                      c->parent ? "." : "", key);
    if (n < 0 || (size_t) n >= c->detaillen)
        return reason;
    va_list args;
    va_start (args, fmt);
    vsnprintf (c->detail + n, c->detaillen - (size_t) n, fmt, args);
    va_end (args);
    return reason;
}

/*  A printable excerpt of untrusted TEXT for a detail (ASCII, at most 40).  */
static void
printable (const char *text, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *text && n + 1 < outlen && n < 40; text++)
        out[n++] = (*text >= 0x20 && *text < 0x7f) ? *text : '?';
    out[n] = 0;
}

static const char *
json_type_name (const json_t *value)
{
    switch (json_typeof (value)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static record_reason_t
wrong_type (check_t *c, const char *key, const json_t *value, const char *expected)
{
    return fail (c, RECORD_BAD_TYPE, key, "expected %s, got %s", expected, json_type_name (value));
}

/*  String KEY of OBJ into *OUT (and its length into *LEN, may be NULL).
    Absent: missing-field when REQUIRED, else *OUT = "".                    */
static record_reason_t
get_string (check_t *c, const json_t *obj, const char *key, bool required, size_t max,
            const char **out, size_t *len)
{
    json_t *value = json_object_get (obj, key);
    *out = "";
    if (len)
        *len = 0;
    if (!value)
        return required ? fail (c, RECORD_MISSING_FIELD, key, "required") : RECORD_OK;
    if (!json_is_string (value))
        return wrong_type (c, key, value, "a string");
    size_t length = json_string_length (value);
    if (length > max)
        return fail (c, RECORD_TOO_LONG, key, "%zu bytes, at most %zu", length, max);
    *out = json_string_value (value);
    if (len)
        *len = length;
    return RECORD_OK;
}

static record_reason_t
get_uint (check_t *c, const json_t *obj, const char *key, bool required, uint64_t max,
          uint64_t *out)
{
    json_t *value = json_object_get (obj, key);
    *out = 0;
    if (!value)
        return required ? fail (c, RECORD_MISSING_FIELD, key, "required") : RECORD_OK;
    if (!json_is_integer (value))
        return wrong_type (c, key, value, "an integer");
    json_int_t v = json_integer_value (value);
    if (v < 0 || (uint64_t) v > max)
        return fail (c, RECORD_BAD_VALUE, key, "%lld out of range [0, %llu]", (long long) v,
                     (unsigned long long) max);
    *out = (uint64_t) v;
    return RECORD_OK;
}

static record_reason_t
get_bool (check_t *c, const json_t *obj, const char *key, bool *out)
{
    json_t *value = json_object_get (obj, key);
    *out = false;
    if (!value)
        return RECORD_OK;
    if (!json_is_boolean (value))
        return wrong_type (c, key, value, "a boolean");
    *out = json_is_true (value);
    return RECORD_OK;
}

/*  Object KEY of OBJ into *OUT (NULL when absent and not REQUIRED).        */
static record_reason_t
get_object (check_t *c, const json_t *obj, const char *key, bool required, json_t **out)
{
    json_t *value = json_object_get (obj, key);
    *out = NULL;
    if (!value)
        return required ? fail (c, RECORD_MISSING_FIELD, key, "required") : RECORD_OK;
    if (!json_is_object (value))
        return wrong_type (c, key, value, "an object");
    *out = value;
    return RECORD_OK;
}

/*  Parse TEXT as an IPv4 or IPv6 address; IPv4-mapped becomes IPv4.         */
int
record_parse_ip (const char *text, record_endpoint_t *ep)
{
    memset (ep->addr, 0, sizeof ep->addr);
    if (inet_pton (AF_INET, text, ep->addr) == 1)
        ep->family = AF_INET;
    else if (inet_pton (AF_INET6, text, ep->addr) == 1) {
        static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        ep->family = AF_INET6;
        if (memcmp (ep->addr, v4mapped, 12) == 0) {
            memmove (ep->addr, ep->addr + 12, 4);
            memset (ep->addr + 4, 0, 12);
            ep->family = AF_INET;
        }
    }
    else
        return -1;
    inet_ntop (ep->family, ep->addr, ep->ip, sizeof ep->ip);
    return 0;
}

/*  Endpoint object KEY: {"ip": "...", "port": N}; "from_proxy" for the
    client.                                                                  */
static record_reason_t
get_endpoint (check_t *c, const json_t *obj, const char *key, bool required,
              record_endpoint_t *ep, bool *from_proxy)
{
    json_t *sub;
    memset (ep, 0, sizeof *ep);
    TRY (get_object (c, obj, key, required, &sub));
    if (!sub)
        return RECORD_OK;
    check_t inner = { c->detail, c->detaillen, key };
    const char *ip;
    uint64_t port;
    TRY (get_string (&inner, sub, "ip", true, INET6_ADDRSTRLEN + 16, &ip, NULL));
    if (record_parse_ip (ip, ep) != 0) {
        char shown[48];
        printable (ip, shown, sizeof shown);
        return fail (&inner, RECORD_BAD_VALUE, "ip", "'%s' is not an IP address", shown);
    }
    TRY (get_uint (&inner, sub, "port", true, 65535, &port));
    ep->port = (uint16_t) port;
    if (from_proxy)
        TRY (get_bool (&inner, sub, "from_proxy", from_proxy));
    ep->present = true;
    return RECORD_OK;
}

static record_reason_t
get_headers (check_t *c, const json_t *obj, record_t *r)
{
    json_t *headers = json_object_get (obj, "headers");
    r->n_headers = 0;
    if (!headers)
        return RECORD_OK;
    if (!json_is_array (headers))
        return wrong_type (c, "headers", headers, "an array");
    size_t count = json_array_size (headers);
    if (count > RECORD_MAX_HEADERS)
        return fail (c, RECORD_TOO_LONG, "headers", "%zu headers, at most %d", count,
                     RECORD_MAX_HEADERS);
    for (size_t i = 0; i < count; i++) {
        json_t *pair = json_array_get (headers, i);
        char key[32];
        snprintf (key, sizeof key, "headers[%zu]", i);
        if (!json_is_array (pair) || json_array_size (pair) != 2)
            return fail (c, RECORD_BAD_TYPE, key, "expected [name, value]");
        json_t *name = json_array_get (pair, 0), *value = json_array_get (pair, 1);
        if (!json_is_string (name) || !json_is_string (value))
            return fail (c, RECORD_BAD_TYPE, key, "name and value must be strings");
        record_header_t *h = &r->headers[r->n_headers++];
        h->name = json_string_value (name);
        h->name_len = json_string_length (name);
        h->value = json_string_value (value);
        h->value_len = json_string_length (value);
        if (h->name_len == 0)
            return fail (c, RECORD_BAD_VALUE, key, "empty name");
        if (h->name_len > RECORD_MAX_HEADER_NAME)
            return fail (c, RECORD_TOO_LONG, key, "name of %zu bytes, at most %d", h->name_len,
                         RECORD_MAX_HEADER_NAME);
        if (h->value_len > RECORD_MAX_HEADER_VALUE)
            return fail (c, RECORD_TOO_LONG, key, "value of %zu bytes, at most %d",
                         h->value_len, RECORD_MAX_HEADER_VALUE);
    }
    return RECORD_OK;
}

bool
record_is_hex (const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
              || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

static record_reason_t
get_body (check_t *c, const json_t *obj, record_t *r, bool with_content)
{
    json_t *body;
    TRY (get_object (c, obj, "body", false, &body));
    if (!body)
        return RECORD_OK;
    check_t inner = { c->detail, c->detaillen, "body" };
    TRY (get_uint (&inner, body, "length", true, INT64_MAX, &r->body_length));
    if (!with_content)
        return RECORD_OK;
    size_t len;
    TRY (get_string (&inner, body, "sha256", false, 64, &r->body_sha256, &len));
    if (len != 0 && (len != 64 || !record_is_hex (r->body_sha256, len)))
        return fail (&inner, RECORD_BAD_VALUE, "sha256", "not 64 hex digits");
    const char *prefix;
    TRY (get_string (&inner, body, "prefix", false, SIZE_MAX, &prefix, &len));
    record_reason_t reason = record_body_window (r, prefix, len);
    if (reason == RECORD_BAD_VALUE)
        return fail (&inner, reason, "prefix", "not valid base64");
    if (reason != RECORD_OK)
        return fail (&inner, reason, "prefix",
                     "a window of %zu bytes of base64, at most %zu bytes decoded "
                     "(mitm.body_bytes)", len, r->body_max);
    return get_bool (&inner, body, "truncated", &r->body_truncated);
}

/*  The buffer of the body window: base64 of up to body_max bytes decodes
    to up to 2 bytes more (its last group), which record_body_window then
    refuses.                                                                 */
#define BODY_BUFFER (RECORD_MAX_BODY_PREFIX + 2)

record_reason_t
record_body_window (record_t *self, const char *prefix, size_t len)
{
    self->body_prefix_len = 0;
    if (len > (self->body_max + 2) / 3 * 4)
        return RECORD_TOO_LONG;
    int n = record_base64_decode (prefix, len, self->body_prefix, BODY_BUFFER);
    if (n < 0)
        return RECORD_BAD_VALUE;
    if ((size_t) n > self->body_max)
        return RECORD_TOO_LONG;
    self->body_prefix_len = (size_t) n;
    return RECORD_OK;
}

bool
record_is_token (const char *s, size_t len)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] && strchr (extra, s[i]))))
            return false;
    return len > 0;
}

static record_reason_t
parse_request (check_t *c, const json_t *root, record_t *r)
{
    TRY (get_endpoint (c, root, "frontend", true, &r->frontend, NULL));
    TRY (get_endpoint (c, root, "peer", false, &r->peer, NULL));
    TRY (get_string (c, root, "method", true, RECORD_MAX_METHOD, &r->method, &r->method_len));
    if (!record_is_token (r->method, r->method_len))
        return fail (c, RECORD_BAD_VALUE, "method", "not an HTTP token");
    TRY (get_string (c, root, "path", true, RECORD_MAX_TARGET, &r->path, &r->path_len));
    TRY (get_string (c, root, "query", false, RECORD_MAX_TARGET, &r->query, &r->query_len));
    if (r->path_len + r->query_len > RECORD_MAX_TARGET)
        return fail (c, RECORD_TOO_LONG, "path", "path + query of %zu bytes, at most %d",
                     r->path_len + r->query_len, RECORD_MAX_TARGET);
    TRY (get_string (c, root, "scheme", false, 16, &r->scheme, NULL));
    TRY (get_string (c, root, "host", false, RECORD_MAX_TEXT, &r->host, NULL));
    TRY (get_string (c, root, "http_version", false, 16, &r->http_version, NULL));
    TRY (get_headers (c, root, r));
    TRY (get_body (c, root, r, true));
    json_t *tls;
    TRY (get_object (c, root, "tls", false, &tls));
    r->tls_version = r->tls_cipher = r->tls_sni = r->tls_alpn = "";
    if (tls) {
        check_t inner = { c->detail, c->detaillen, "tls" };
        TRY (get_string (&inner, tls, "version", false, RECORD_MAX_SHORT, &r->tls_version, NULL));
        TRY (get_string (&inner, tls, "cipher", false, RECORD_MAX_SHORT, &r->tls_cipher, NULL));
        TRY (get_string (&inner, tls, "sni", false, RECORD_MAX_SHORT, &r->tls_sni, NULL));
        TRY (get_string (&inner, tls, "alpn", false, RECORD_MAX_SHORT, &r->tls_alpn, NULL));
    }
    TRY (get_bool (c, root, "verdict", &r->verdict));
    return RECORD_OK;
}

static record_reason_t
parse_response (check_t *c, const json_t *root, record_t *r)
{
    uint64_t status;
    TRY (get_endpoint (c, root, "frontend", false, &r->frontend, NULL));
    TRY (get_uint (c, root, "status", true, 999, &status));
    r->status = (uint32_t) status;
    TRY (get_headers (c, root, r));
    TRY (get_body (c, root, r, false));
    TRY (get_uint (c, root, "header_bytes", false, INT64_MAX, &r->header_bytes));
    TRY (get_uint (c, root, "latency_us", false, INT64_MAX, &r->latency_us));
    return RECORD_OK;
}

static record_reason_t
parse_error (check_t *c, const json_t *root, record_t *r)
{
    TRY (get_endpoint (c, root, "frontend", false, &r->frontend, NULL));
    TRY (get_string (c, root, "error", true, RECORD_MAX_TEXT, &r->error, NULL));
    return RECORD_OK;
}

static record_reason_t
parse_common (check_t *c, const json_t *root, record_t *r)
{
    if (!json_is_object (root))
        return fail (c, RECORD_BAD_TYPE, NULL, "the record is %s, not an object",
                     json_type_name (root));
    json_t *v = json_object_get (root, "v");
    if (!v)
        return fail (c, RECORD_MISSING_FIELD, "v", "required");
    if (!json_is_integer (v))
        return wrong_type (c, "v", v, "an integer");
    if (json_integer_value (v) != 1)
        return fail (c, RECORD_BAD_VERSION, "v", "version %lld, this bridge speaks 1",
                     (long long) json_integer_value (v));
    const char *type;
    TRY (get_string (c, root, "type", true, 32, &type, NULL));
    if (strcmp (type, "request") == 0)
        r->type = RECORD_REQUEST;
    else if (strcmp (type, "response") == 0)
        r->type = RECORD_RESPONSE;
    else if (strcmp (type, "error") == 0)
        r->type = RECORD_ERROR;
    else {
        char shown[48];
        printable (type, shown, sizeof shown);
        return fail (c, RECORD_UNKNOWN_TYPE, "type", "'%s'", shown);
    }
    size_t id_len;
    TRY (get_string (c, root, "id", true, RECORD_MAX_ID, &r->id, &id_len));
    if (id_len == 0)
        return fail (c, RECORD_BAD_VALUE, "id", "empty");
    TRY (get_string (c, root, "request_id", false, RECORD_MAX_SHORT, &r->request_id, NULL));
    json_t *ts = json_object_get (root, "ts");
    if (!ts)
        return fail (c, RECORD_MISSING_FIELD, "ts", "required");
    if (!json_is_number (ts))
        return wrong_type (c, "ts", ts, "a number");
    double seconds = json_number_value (ts);
    if (!isfinite (seconds) || seconds < 0 || seconds >= 1.8e10)
        return fail (c, RECORD_BAD_VALUE, "ts", "%g is not a time in seconds", seconds);
    double whole = floor (seconds);
    /* a double holds ~0.24 us at today's epoch: keep microseconds */
    r->ts_ns = (uint64_t) whole * 1000000000ull
               + (uint64_t) llround ((seconds - whole) * 1e6) * 1000ull;
    TRY (get_endpoint (c, root, "client", true, &r->client, &r->from_proxy));
    TRY (get_bool (c, root, "truncated", &r->truncated));
    return RECORD_OK;
}

record_t *
record_new (void)
{
    record_t *self = calloc (1, sizeof (record_t));
    if (!self)
        return NULL;
    self->body_prefix = malloc (BODY_BUFFER);
    if (!self->body_prefix) {
        free (self);
        return NULL;
    }
    self->body_max = RECORD_MAX_BODY_PREFIX;
    return self;
}

void
record_set_body_max (record_t *self, size_t bytes)
{
    self->body_max = bytes < RECORD_MAX_BODY_PREFIX ? bytes : RECORD_MAX_BODY_PREFIX;
}

void
record_destroy (record_t **self_p)
{
    if (!*self_p)
        return;
    record_clear (*self_p);
    free ((*self_p)->text);
    free ((*self_p)->body_prefix);
    free (*self_p);
    *self_p = NULL;
}

void
record_clear (record_t *self)
{
    if (self->root)
        json_decref ((json_t *) self->root);
    char *text = self->text;            /* the buffers are kept for the next */
    size_t text_size = self->text_size;
    uint8_t *body_prefix = self->body_prefix;
    size_t body_max = self->body_max;
    memset (self, 0, sizeof *self);
    self->text = text;
    self->text_size = text_size;
    self->body_prefix = body_prefix;
    self->body_max = body_max;
}

static record_reason_t
json_failure (check_t *c, const json_error_t *error)
{
    switch (json_error_code (error)) {
    case json_error_invalid_utf8:
        return fail (c, RECORD_BAD_UTF8, NULL, "invalid UTF-8 at byte %d", error->position);
    case json_error_null_character:
        return fail (c, RECORD_BAD_VALUE, NULL, "\\u0000 in a string at byte %d",
                     error->position);
    case json_error_duplicate_key:
        return fail (c, RECORD_BAD_VALUE, NULL, "duplicate key at byte %d", error->position);
    case json_error_numeric_overflow:
        return fail (c, RECORD_BAD_VALUE, NULL, "number out of range at byte %d",
                     error->position);
    case json_error_premature_end_of_input:
        return fail (c, RECORD_NOT_JSON, NULL, "truncated at byte %d", error->position);
    default:
        return fail (c, RECORD_NOT_JSON, NULL, "syntax error at byte %d", error->position);
    }
}

record_reason_t
record_parse (record_t *self, const void *data, size_t len, size_t real_len, size_t max_bytes,
              char *detail, size_t detaillen)
{
    record_clear (self);
    check_t c = { detail, detaillen, NULL };
    if (detail && detaillen)
        detail[0] = 0;
    if (real_len > max_bytes || len > max_bytes)
        return fail (&c, RECORD_TOO_LARGE, NULL, "%zu bytes, at most %zu",
                     real_len > len ? real_len : len, max_bytes);
    if (len == 0)
        return fail (&c, RECORD_NOT_JSON, NULL, "empty datagram");
    /* the usual record, read in place in a copy (record_fast.c); else jansson */
    if (len + 1 > self->text_size) {
        char *text = realloc (self->text, len + 1);
        if (text) {
            self->text = text;
            self->text_size = len + 1;
        }
    }
    if (len + 1 <= self->text_size) {
        memcpy (self->text, data, len);
        self->text[len] = 0;
        if (record_parse_canonical (self, self->text, len)) {
            self->canonical = true;
            return RECORD_OK;
        }
        record_clear (self);
    }
    json_error_t error;
    json_t *root = json_loadb (data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (!root)
        return json_failure (&c, &error);
    self->root = root;
    record_reason_t reason = parse_common (&c, root, self);
    if (reason == RECORD_OK) {
        if (self->type == RECORD_REQUEST)
            reason = parse_request (&c, root, self);
        else if (self->type == RECORD_RESPONSE)
            reason = parse_response (&c, root, self);
        else
            reason = parse_error (&c, root, self);
    }
    if (reason != RECORD_OK)
        record_clear (self);
    return reason;
}

const char *
record_reason_name (record_reason_t reason)
{
    return (unsigned) reason < RECORD_REASONS ? s_reason_names[reason] : "unknown";
}

const record_header_t *
record_header (const record_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_headers; i++)
        if (strcasecmp (self->headers[i].name, name) == 0)
            return &self->headers[i];
    return NULL;
}

static int
b64_value (char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

int
record_base64_decode (const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
    if (inlen % 4 != 0)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char ch = in[i + k];
            if (ch == '=' && i + 4 == inlen && k >= 2) {
                v[k] = 0;
                pad++;
            }
            else if (pad || (v[k] = b64_value (ch)) < 0)
                return -1;          /* data after '=', or not base64 */
        }
        uint32_t bits = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6
                        | (uint32_t) v[3];
        size_t bytes = 3 - (size_t) pad;
        if (n + bytes > outlen)
            return -1;
        uint8_t triple[3] = { (uint8_t) (bits >> 16), (uint8_t) (bits >> 8), (uint8_t) bits };
        memcpy (out + n, triple, bytes);
        n += bytes;
    }
    return (int) n;
}
