/*  record_diff.h — the first field two parsed records differ in: the
    in-place reader (record_fast.c) and jansson's (record.c) must give the
    same record. Shared by tests/test_bridge_record.c and
    tests/fuzz/fuzz_record.c.                                                */
#ifndef DPI_TESTS_RECORD_DIFF_H
#define DPI_TESTS_RECORD_DIFF_H

#include <stdbool.h>
#include <string.h>

#include "record.h"

static inline bool
same_str (const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp (a, b) == 0);
}

static inline bool
same_ep (const record_endpoint_t *a, const record_endpoint_t *b)
{
    return a->present == b->present && a->family == b->family && a->port == b->port
           && memcmp (a->addr, b->addr, sizeof a->addr) == 0 && strcmp (a->ip, b->ip) == 0;
}

/*  The first field that differs, or NULL.                                 */
static inline const char *
differs (const record_t *a, const record_t *b)
{
    if (a->type != b->type) return "type";
    if (!same_str (a->id, b->id)) return "id";
    if (!same_str (a->request_id, b->request_id)) return "request_id";
    if (a->ts_ns != b->ts_ns) return "ts";
    if (!same_ep (&a->client, &b->client) || a->from_proxy != b->from_proxy) return "client";
    if (!same_ep (&a->frontend, &b->frontend)) return "frontend";
    if (!same_ep (&a->peer, &b->peer)) return "peer";
    if (!same_str (a->method, b->method) || a->method_len != b->method_len) return "method";
    if (!same_str (a->scheme, b->scheme)) return "scheme";
    if (!same_str (a->host, b->host)) return "host";
    if (!same_str (a->path, b->path) || a->path_len != b->path_len) return "path";
    if (!same_str (a->query, b->query) || a->query_len != b->query_len) return "query";
    if (!same_str (a->http_version, b->http_version)) return "http_version";
    if (a->n_headers != b->n_headers) return "header count";
    for (size_t i = 0; i < a->n_headers; i++)
        if (a->headers[i].name_len != b->headers[i].name_len
            || a->headers[i].value_len != b->headers[i].value_len
            || memcmp (a->headers[i].name, b->headers[i].name, a->headers[i].name_len)
            || memcmp (a->headers[i].value, b->headers[i].value, a->headers[i].value_len))
            return "a header";
    if (a->body_length != b->body_length) return "body.length";
    if (!same_str (a->body_sha256, b->body_sha256)) return "body.sha256";
    if (a->body_prefix_len != b->body_prefix_len
        || memcmp (a->body_prefix, b->body_prefix, a->body_prefix_len)) return "body.prefix";
    if (a->body_truncated != b->body_truncated) return "body.truncated";
    if (!same_str (a->tls_version, b->tls_version) || !same_str (a->tls_cipher, b->tls_cipher)
        || !same_str (a->tls_sni, b->tls_sni) || !same_str (a->tls_alpn, b->tls_alpn)) return "tls";
    if (a->verdict != b->verdict || a->truncated != b->truncated) return "flags";
    if (a->status != b->status || a->header_bytes != b->header_bytes
        || a->latency_us != b->latency_us) return "response numbers";
    if (!same_str (a->error, b->error)) return "error";
    return NULL;
}

#endif
