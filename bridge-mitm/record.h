/*  record.h — validate and parse one record from the mitmproxy addon.

    A record is one datagram holding one JSON object (PROTOCOL.md). The
    parser checks everything before anything is used: the size, the JSON
    syntax and its UTF-8 (jansson rejects invalid UTF-8, "\u0000" and, with
    JSON_REJECT_DUPLICATES, repeated keys), "v", "type", every required
    field, every field's type and bounds, that IP addresses parse
    (inet_pton, IPv4-mapped IPv6 written as IPv4) and ports are 0..65535.
    A record that fails gets one reason from a small fixed set, and a
    detail naming the field. Unknown fields are ignored (newer addons).

    The addon's usual record is read without jansson (record_fast.c), with
    the same result.

    Ownership: the record_t owns the parsed JSON (or the copy of the
    datagram) and the buffer of the body window (RECORD_MAX_BODY_PREFIX
    bytes, allocated once by record_new and kept by record_clear: a record
    is made once and reused, never on the stack); the string pointers in
    it stay valid until the next record_parse or record_destroy. Not thread
    safe: one parser per thread.                                            */
#ifndef DPI_BRIDGE_RECORD_H
#define DPI_BRIDGE_RECORD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Bounds, as the addon applies them (PROTOCOL.md).                        */
#define RECORD_MAX_HEADERS      64
#define RECORD_MAX_HEADER_NAME  256
#define RECORD_MAX_HEADER_VALUE 4096
#define RECORD_MAX_TARGET       8192    /* path + query                      */
#define RECORD_MAX_BODY_PREFIX  32768   /* the largest body window (mitm.body_bytes),
                                           bytes decoded; record_set_body_max */
#define RECORD_MAX_ID           64
#define RECORD_MAX_SHORT        256     /* request_id, tls.*, scheme, ...    */
#define RECORD_MAX_TEXT         4096    /* host, error                       */
#define RECORD_MAX_METHOD       32

typedef enum {
    RECORD_OK = 0,
    RECORD_TOO_LARGE,       /* datagram over mitm.max_record_bytes           */
    RECORD_NOT_JSON,        /* empty, syntax error, truncated, too deep      */
    RECORD_BAD_UTF8,        /* invalid UTF-8 anywhere                        */
    RECORD_BAD_VERSION,     /* "v" is not 1                                  */
    RECORD_UNKNOWN_TYPE,    /* "type" not request / response / error        */
    RECORD_MISSING_FIELD,   /* a required field is absent                    */
    RECORD_BAD_TYPE,        /* a field (or the record) has the wrong JSON type */
    RECORD_BAD_VALUE,       /* right type, wrong value: IP, port, range, hex, base64, \u0000 */
    RECORD_TOO_LONG,        /* a string or list over its bound               */
    RECORD_REASONS
} record_reason_t;

typedef enum { RECORD_REQUEST, RECORD_RESPONSE, RECORD_ERROR } record_type_t;

typedef struct {
    bool present;
    int family;                         /* AF_INET / AF_INET6                */
    uint8_t addr[16];
    char ip[INET6_ADDRSTRLEN];          /* canonical text                    */
    uint16_t port;
} record_endpoint_t;

typedef struct {
    const char *name, *value;
    size_t name_len, value_len;
} record_header_t;

typedef struct {
    record_type_t type;
    const char *id;
    const char *request_id;             /* "" when absent                    */
    uint64_t ts_ns;
    record_endpoint_t client, frontend, peer;
    bool from_proxy;
    /* request */
    const char *method, *scheme, *host, *path, *query, *http_version;
    size_t method_len, path_len, query_len;
    size_t n_headers;
    record_header_t headers[RECORD_MAX_HEADERS];
    uint64_t body_length;
    const char *body_sha256;
    uint8_t *body_prefix;               /* the body window, decoded: owned buffer */
    size_t body_prefix_len;
    bool body_truncated;                /* body.truncated: the body is longer   */
    const char *tls_version, *tls_cipher, *tls_sni, *tls_alpn;
    bool verdict, truncated;
    /* response / error */
    uint32_t status;
    uint64_t header_bytes, latency_us;
    const char *error;
    /* parser state */
    bool canonical;                     /* read by record_fast.c, not jansson */
    size_t body_max;                    /* the window accepted (record_set_body_max) */
    void *root;                         /* json_t *, owned                   */
    char *text;                         /* the copy record_fast.c reads in place */
    size_t text_size;
} record_t;

/*  A parser accepting body windows up to RECORD_MAX_BODY_PREFIX bytes.
    NULL when out of memory.                                                */
record_t *record_new (void);
void record_destroy (record_t **self_p);

/*  The longest body window (body.prefix, decoded) accepted: mitm.body_bytes,
    at most RECORD_MAX_BODY_PREFIX (more is taken as that). A longer prefix
    is a bad record (too-long).                                             */
void record_set_body_max (record_t *self, size_t bytes);

/*  Parse DATA (LEN bytes; the datagram was REAL_LEN bytes, more than LEN
    when it was cut) with MAX_BYTES the largest accepted. RECORD_OK, or a
    reason with a short printable DETAIL ("client.port: 70000 out of
    range").                                                                  */
record_reason_t record_parse (record_t *self, const void *data, size_t len, size_t real_len,
                              size_t max_bytes, char *detail, size_t detaillen);

/*  Drop the parsed JSON (the pointers in the record become invalid).       */
void record_clear (record_t *self);

/*  The addon's usual record (its fixed key order, strings of ASCII with
    at most \" and \\ escaped) read in place from TEXT (LEN bytes, NUL after them),
    which it changes; false, with the record half filled, for anything else:
    record_parse then clears it and asks jansson (record_fast.c).           */
bool record_parse_canonical (record_t *self, char *text, size_t len);

/*  Checks shared by both readers: an IP address (IPv4-mapped IPv6 becomes
    IPv4; canonical text in ep->ip), 0 or -1; an HTTP token; hex digits.    */
int record_parse_ip (const char *text, record_endpoint_t *ep);
bool record_is_token (const char *s, size_t len);
bool record_is_hex (const char *s, size_t len);

/*  The body window: PREFIX (LEN bytes of base64) decoded into
    self->body_prefix / body_prefix_len. RECORD_OK; RECORD_TOO_LONG when it
    is longer than self->body_max (as base64, or decoded); RECORD_BAD_VALUE
    when it is not base64. Both readers use it.                             */
record_reason_t record_body_window (record_t *self, const char *prefix, size_t len);

/*  "too-large", "not-json", ... (stable: heartbeat counters, logs).        */
const char *record_reason_name (record_reason_t reason);

/*  The first header named NAME (case-insensitive), or NULL.                 */
const record_header_t *record_header (const record_t *self, const char *name);

/*  Decode standard base64 (padding required when the length is not a
    multiple of 4; no whitespace). Returns the byte count, or -1 when bad or
    over OUTLEN.                                                              */
int record_base64_decode (const char *in, size_t inlen, uint8_t *out, size_t outlen);

#endif
