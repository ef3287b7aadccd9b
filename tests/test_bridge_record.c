/*  test_bridge_record.c — unit test for bridge-mitm/record.c.

    Valid request, response and error records parse into the right fields
    (canonical IPs, IPv4-mapped as IPv4, ports, headers, decoded body
    prefix, ts in ns). Then every reject reason, each from a record that is
    valid but for one thing: too-large, not-json (garbage, truncated,
    empty), bad-utf8, bad-version, unknown-type, missing-field, bad-type,
    bad-value, too-long; the detail names the field.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "record.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tally.h"


#define MAX 65536

static const char *s_request
    = "{\"v\":1, \"type\":\"request\", \"id\":\"9f0c1d2e\", \"request_id\":\"c0a80001:d4b2_1\","
      " \"ts\":1764110000.123456,"
      " \"client\":{\"ip\":\"198.51.100.7\", \"port\":51234, \"from_proxy\":true},"
      " \"frontend\":{\"ip\":\"192.0.2.1\", \"port\":443},"
      " \"peer\":{\"ip\":\"::ffff:127.0.0.1\", \"port\":40022},"
      " \"method\":\"GET\", \"scheme\":\"https\", \"host\":\"shop.example\", \"path\":\"/search\","
      " \"query\":\"q=1\", \"http_version\":\"HTTP/1.1\","
      " \"headers\":[[\"User-Agent\",\"curl/7.88.1\"], [\"Accept\",\"*/*\"]],"
      " \"body\":{\"length\":5, \"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
      " \"prefix\":\"aGVsbG8=\"},"
      " \"tls\":{\"version\":\"TLSv1.3\", \"cipher\":\"TLS_AES_256_GCM_SHA384\", \"sni\":\"shop.example\","
      " \"alpn\":\"h2\"},"
      " \"verdict\":true, \"truncated\":false, \"future_field\":[1,2,3]}";

static const char *s_response
    = "{\"v\":1, \"type\":\"response\", \"id\":\"9f0c1d2e\", \"request_id\":\"r1\", \"ts\":1764110000.125,"
      " \"client\":{\"ip\":\"2001:DB8::0:7\", \"port\":51234, \"from_proxy\":false},"
      " \"frontend\":{\"ip\":\"2001:db8::1\", \"port\":443},"
      " \"status\":200, \"headers\":[[\"Content-Type\",\"text/html\"]],"
      " \"body\":{\"length\":5120}, \"header_bytes\":231, \"latency_us\":1830}";

static const char *s_error
    = "{\"v\":1, \"type\":\"error\", \"id\":\"abc\", \"ts\":1764110001,"
      " \"client\":{\"ip\":\"10.0.0.2\", \"port\":0}, \"error\":\"Connection refused\"}";

static record_reason_t
parse (record_t *r, const char *text, char *detail, size_t size)
{
    return record_parse (r, text, strlen (text), strlen (text), MAX, detail, size);
}

static void
test_valid (tally_t *t)
{
    record_t *r = record_new ();
    char detail[256];
    record_reason_t rc = parse (r, s_request, detail, sizeof detail);
    if (check (t, rc == RECORD_OK, "valid request: %s: %s", record_reason_name (rc), detail)) {
        check (t, r->type == RECORD_REQUEST, "type");
        check (t, strcmp (r->id, "9f0c1d2e") == 0 && strcmp (r->request_id, "c0a80001:d4b2_1") == 0,
               "ids");
        check (t, r->ts_ns == 1764110000123456000ull, "ts_ns %llu", (unsigned long long) r->ts_ns);
        check (t, r->client.present && r->client.family == AF_INET
                      && strcmp (r->client.ip, "198.51.100.7") == 0 && r->client.port == 51234
                      && r->from_proxy,
               "client");
        check (t, strcmp (r->frontend.ip, "192.0.2.1") == 0 && r->frontend.port == 443, "frontend");
        check (t, r->peer.family == AF_INET && strcmp (r->peer.ip, "127.0.0.1") == 0,
               "IPv4-mapped peer is IPv4: %s", r->peer.ip);
        check (t, strcmp (r->method, "GET") == 0 && strcmp (r->path, "/search") == 0
                      && strcmp (r->query, "q=1") == 0 && strcmp (r->host, "shop.example") == 0
                      && strcmp (r->scheme, "https") == 0
                      && strcmp (r->http_version, "HTTP/1.1") == 0,
               "request line");
        check (t, r->n_headers == 2 && strcmp (r->headers[1].name, "Accept") == 0
                      && strcmp (r->headers[1].value, "*/*") == 0,
               "headers");
        const record_header_t *ua = record_header (r, "user-agent");
        check (t, ua && strcmp (ua->value, "curl/7.88.1") == 0, "user-agent, any case");
        check (t, r->body_length == 5 && r->body_prefix_len == 5
                      && memcmp (r->body_prefix, "hello", 5) == 0 && strlen (r->body_sha256) == 64,
               "body");
        check (t, strcmp (r->tls_version, "TLSv1.3") == 0 && strcmp (r->tls_alpn, "h2") == 0, "tls");
        check (t, r->verdict && !r->truncated, "flags");
    }
    rc = parse (r, s_response, detail, sizeof detail);
    if (check (t, rc == RECORD_OK, "valid response: %s: %s", record_reason_name (rc), detail)) {
        check (t, r->type == RECORD_RESPONSE && r->status == 200 && r->body_length == 5120
                      && r->header_bytes == 231 && r->latency_us == 1830,
               "response fields");
        check (t, r->client.family == AF_INET6 && strcmp (r->client.ip, "2001:db8::7") == 0,
               "canonical IPv6: %s", r->client.ip);
        check (t, r->frontend.present && r->frontend.port == 443, "response frontend");
    }
    rc = parse (r, s_error, detail, sizeof detail);
    if (check (t, rc == RECORD_OK, "valid error: %s: %s", record_reason_name (rc), detail)) {
        check (t, r->type == RECORD_ERROR && strcmp (r->error, "Connection refused") == 0
                      && r->ts_ns == 1764110001000000000ull && *r->request_id == 0
                      && !r->frontend.present && r->client.port == 0,
               "error fields");
    }
    /* a minimal request: optional fields absent */
    rc = parse (r, "{\"v\":1,\"type\":\"request\",\"id\":\"m\",\"ts\":0,"
                   "\"client\":{\"ip\":\"::1\",\"port\":65535},\"frontend\":{\"ip\":\"::1\",\"port\":1},"
                   "\"method\":\"PROPFIND\",\"path\":\"\"}",
                detail, sizeof detail);
    check (t, rc == RECORD_OK && r->n_headers == 0 && !r->verdict && *r->host == 0,
           "minimal request: %s", detail);
    record_destroy (&r);
    check (t, r == NULL, "destroy clears the pointer");
}

/*  The request record with KEY (in object PARENT, NULL = top) set to the
    JSON VALUE (NULL = removed).                                             */
static char *
mutate (const char *parent, const char *key, const char *value)
{
    json_t *root = json_loads (s_request, 0, NULL);
    json_t *obj = parent ? json_object_get (root, parent) : root;
    if (value)
        json_object_set_new (obj, key, json_loads (value, JSON_DECODE_ANY, NULL));
    else
        json_object_del (obj, key);
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    return text;
}

typedef struct {
    const char *parent, *key, *value;
    record_reason_t reason;
    const char *detail;                 /* expected prefix of the detail     */
} case_t;

static void
test_rejects (tally_t *t)
{
    record_t *r = record_new ();
    char detail[256];

    /* too large: by the real size of the datagram, or by what was stored */
    record_reason_t rc = record_parse (r, s_request, 100, 70000, MAX, detail, sizeof detail);
    check (t, rc == RECORD_TOO_LARGE && strstr (detail, "70000 bytes"), "too-large: %s", detail);
    rc = record_parse (r, s_request, strlen (s_request), strlen (s_request), 100, detail,
                       sizeof detail);
    check (t, rc == RECORD_TOO_LARGE, "too-large by max");

    struct {
        const char *text;
        size_t len;
        record_reason_t reason;
    } raw[] = {
        { "", 0, RECORD_NOT_JSON },
        { "hello", 5, RECORD_NOT_JSON },
        { "{\"v\":1,\"type\":\"req", 18, RECORD_NOT_JSON },
        { "{\"v\":1} trailing", 16, RECORD_NOT_JSON },
        { "{\"v\":1,\"id\":\"\xff\xfe\"}", 18, RECORD_BAD_UTF8 },
        { "{\"v\":1,\"id\":\"\xc3\x28\"}", 18, RECORD_BAD_UTF8 },
        { "{\"v\":1,\"id\":\"\xed\xa0\x80\"}", 19, RECORD_BAD_UTF8 },  /* surrogate */
        { "{\"v\":1,\"id\":\"a\\u0000b\"}", 23, RECORD_BAD_VALUE },
        { "{\"v\":1,\"v\":1}", 13, RECORD_BAD_VALUE },
        { "[1,2]", 5, RECORD_BAD_TYPE },
        { "\"request\"", 9, RECORD_BAD_TYPE },
        { "{}", 2, RECORD_MISSING_FIELD },
        { "{\"v\":99999999999999999999999}", 29, RECORD_BAD_VALUE },
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        rc = record_parse (r, raw[i].text, raw[i].len, raw[i].len, MAX, detail, sizeof detail);
        check (t, rc == raw[i].reason, "raw %zu: expected %s, got %s (%s)", i,
               record_reason_name (raw[i].reason), record_reason_name (rc), detail);
    }
    /* a truncated copy of a valid record, at every length */
    size_t full = strlen (s_request);
    bool all_not_json = true;
    for (size_t len = 1; len < full; len++) {
        rc = record_parse (r, s_request, len, len, MAX, detail, sizeof detail);
        all_not_json &= rc == RECORD_NOT_JSON;
    }
    check (t, all_not_json, "every truncation is not-json");

    char long_id[80], long_value[4200], long_path[8300];
    snprintf (long_id, sizeof long_id, "\"%065d\"", 0);
    long_value[0] = 0;
    snprintf (long_value, sizeof long_value, "[[\"X\",\"%04097d\"]]", 0);
    snprintf (long_path, sizeof long_path, "\"/%08190d\"", 0);
    char many[64 * 12 + 16] = "[";
    for (int i = 0; i < 65; i++)
        strcat (many, i ? ",[\"a\",\"b\"]" : "[\"a\",\"b\"]");
    strcat (many, "]");

    const case_t cases[] = {
        { NULL, "v", "2", RECORD_BAD_VERSION, "v: version 2" },
        { NULL, "v", NULL, RECORD_MISSING_FIELD, "v: required" },
        { NULL, "v", "\"1\"", RECORD_BAD_TYPE, "v: expected an integer" },
        { NULL, "type", "\"hello\"", RECORD_UNKNOWN_TYPE, "type: 'hello'" },
        { NULL, "type", NULL, RECORD_MISSING_FIELD, "type: required" },
        { NULL, "type", "7", RECORD_BAD_TYPE, "type: expected a string" },
        { NULL, "id", NULL, RECORD_MISSING_FIELD, "id: required" },
        { NULL, "id", "\"\"", RECORD_BAD_VALUE, "id: empty" },
        { NULL, "id", long_id, RECORD_TOO_LONG, "id: 65 bytes" },
        { NULL, "ts", NULL, RECORD_MISSING_FIELD, "ts: required" },
        { NULL, "ts", "\"now\"", RECORD_BAD_TYPE, "ts: expected a number" },
        { NULL, "ts", "-1", RECORD_BAD_VALUE, "ts: " },
        { NULL, "client", NULL, RECORD_MISSING_FIELD, "client: required" },
        { NULL, "client", "\"1.2.3.4\"", RECORD_BAD_TYPE, "client: expected an object" },
        { "client", "ip", "\"999.1.1.1\"", RECORD_BAD_VALUE, "client.ip: '999.1.1.1' is not" },
        { "client", "ip", "\"1.2.3.4/24\"", RECORD_BAD_VALUE, "client.ip: " },
        { "client", "ip", "\"fe80::1%eth0\"", RECORD_BAD_VALUE, "client.ip: " },
        { "client", "ip", "null", RECORD_BAD_TYPE, "client.ip: expected a string, got null" },
        { "client", "port", "70000", RECORD_BAD_VALUE, "client.port: 70000 out of range" },
        { "client", "port", "-1", RECORD_BAD_VALUE, "client.port: -1 out of range" },
        { "client", "port", "443.5", RECORD_BAD_TYPE, "client.port: expected an integer" },
        { "client", "port", NULL, RECORD_MISSING_FIELD, "client.port: required" },
        { "client", "from_proxy", "1", RECORD_BAD_TYPE, "client.from_proxy: expected a boolean" },
        { NULL, "frontend", NULL, RECORD_MISSING_FIELD, "frontend: required" },
        { "frontend", "port", "\"443\"", RECORD_BAD_TYPE, "frontend.port: expected an integer" },
        { "peer", "ip", "\"localhost\"", RECORD_BAD_VALUE, "peer.ip: 'localhost'" },
        { NULL, "method", NULL, RECORD_MISSING_FIELD, "method: required" },
        { NULL, "method", "\"GE T\"", RECORD_BAD_VALUE, "method: not an HTTP token" },
        { NULL, "method", "\"\"", RECORD_BAD_VALUE, "method: not an HTTP token" },
        { NULL, "path", NULL, RECORD_MISSING_FIELD, "path: required" },
        { NULL, "path", "[\"/\"]", RECORD_BAD_TYPE, "path: expected a string, got an array" },
        { NULL, "path", long_path, RECORD_TOO_LONG, "path: path + query of 8194 bytes" },
        { NULL, "headers", "{}", RECORD_BAD_TYPE, "headers: expected an array" },
        { NULL, "headers", "[[\"a\"]]", RECORD_BAD_TYPE, "headers[0]: expected [name, value]" },
        { NULL, "headers", "[[\"a\",1]]", RECORD_BAD_TYPE, "headers[0]: name and value" },
        { NULL, "headers", "[[\"\",\"x\"]]", RECORD_BAD_VALUE, "headers[0]: empty name" },
        { NULL, "headers", long_value, RECORD_TOO_LONG, "headers[0]: value of 4097 bytes" },
        { NULL, "headers", many, RECORD_TOO_LONG, "headers: 65 headers" },
        { "body", "length", NULL, RECORD_MISSING_FIELD, "body.length: required" },
        { "body", "length", "-5", RECORD_BAD_VALUE, "body.length: -5 out of range" },
        { "body", "sha256", "\"abc\"", RECORD_BAD_VALUE, "body.sha256: not 64 hex" },
        { "body", "prefix", "\"!!!!\"", RECORD_BAD_VALUE, "body.prefix: not valid base64" },
        { "body", "prefix", "\"aGVsbG8\"", RECORD_BAD_VALUE, "body.prefix: not valid base64" },
        { NULL, "tls", "[]", RECORD_BAD_TYPE, "tls: expected an object" },
        { "tls", "sni", "5", RECORD_BAD_TYPE, "tls.sni: expected a string" },
        { NULL, "verdict", "\"yes\"", RECORD_BAD_TYPE, "verdict: expected a boolean" },
        { NULL, "truncated", "0", RECORD_BAD_TYPE, "truncated: expected a boolean" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = mutate (cases[i].parent, cases[i].key, cases[i].value);
        rc = parse (r, text, detail, sizeof detail);
        check (t, rc == cases[i].reason && strncmp (detail, cases[i].detail,
                                                    strlen (cases[i].detail)) == 0,
               "%s%s%s=%.20s: expected %s '%s', got %s '%s'", cases[i].parent ? cases[i].parent : "",
               cases[i].parent ? "." : "", cases[i].key, cases[i].value ? cases[i].value : "(absent)",
               record_reason_name (cases[i].reason), cases[i].detail, record_reason_name (rc), detail);
        free (text);
    }
    /* response and error specifics */
    const char *others[][2] = {
        { "{\"v\":1,\"type\":\"response\",\"id\":\"a\",\"ts\":1,\"client\":{\"ip\":\"::1\",\"port\":1}}",
          "status: required" },
        { "{\"v\":1,\"type\":\"response\",\"id\":\"a\",\"ts\":1,\"client\":{\"ip\":\"::1\",\"port\":1},"
          "\"status\":1000}", "status: 1000 out of range" },
        { "{\"v\":1,\"type\":\"error\",\"id\":\"a\",\"ts\":1,\"client\":{\"ip\":\"::1\",\"port\":1}}",
          "error: required" },
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        rc = parse (r, others[i][0], detail, sizeof detail);
        check (t, rc != RECORD_OK && strncmp (detail, others[i][1], strlen (others[i][1])) == 0, "other %zu: '%s'", i, detail);
    }
    /* names are stable */
    check (t, strcmp (record_reason_name (RECORD_BAD_UTF8), "bad-utf8") == 0
                  && strcmp (record_reason_name (RECORD_TOO_LARGE), "too-large") == 0
                  && strcmp (record_reason_name (RECORD_REASONS), "unknown") == 0,
           "reason names");
    /* after a reject the parser still works */
    rc = parse (r, s_request, detail, sizeof detail);
    check (t, rc == RECORD_OK, "valid after rejects");
    record_destroy (&r);
}

static void
test_base64 (tally_t *t)
{
    uint8_t out[16];
    check (t, record_base64_decode ("", 0, out, sizeof out) == 0, "b64 empty");
    check (t, record_base64_decode ("TWFu", 4, out, sizeof out) == 3 && memcmp (out, "Man", 3) == 0,
           "b64 Man");
    check (t, record_base64_decode ("TWE=", 4, out, sizeof out) == 2, "b64 one pad");
    check (t, record_base64_decode ("TQ==", 4, out, sizeof out) == 1 && out[0] == 'M', "b64 two pads");
    check (t, record_base64_decode ("TQ=a", 4, out, sizeof out) == -1, "b64 data after pad");
    check (t, record_base64_decode ("T===", 4, out, sizeof out) == -1, "b64 three pads");
    check (t, record_base64_decode ("TQ==TQ==", 8, out, sizeof out) == -1, "b64 pad inside");
    check (t, record_base64_decode ("TWFu", 4, out, 2) == -1, "b64 over the bound");
    check (t, record_base64_decode ("TW Fu", 5, out, sizeof out) == -1, "b64 whitespace");
}

int
main (void)
{
    tally_t t = { 0, 0 };
    test_valid (&t);
    test_rejects (&t);
    test_base64 (&t);
    printf ("%d passed, %d failed\n", t.passed, t.failed);
    return t.failed ? 1 : 0;
}
