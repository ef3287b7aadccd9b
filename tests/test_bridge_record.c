/*  test_bridge_record.c — unit test for bridge-mitm/record.c.

    Valid request, response and error records parse into the right fields
    (canonical IPs, IPv4-mapped as IPv4, ports, headers, decoded body
    prefix, ts in ns). The body window, both readers: at the limit set
    (record_set_body_max), over it (too-long), body.truncated true, false,
    absent (an older addon: false), not a boolean. Then every reject reason, each from a record that is
    valid but for one thing: too-large, not-json (garbage, truncated,
    empty), bad-utf8, bad-version, unknown-type, missing-field, bad-type,
    bad-value, too-long; the detail names the field.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "record.h"
#include "record_diff.h"

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

/* --- record_fast.c reads the addon's usual records as jansson does --------------------
   Each text is parsed as it is (the in-place reader takes it when it is in the addon's
   layout) and with a space in front (valid JSON the in-place reader never takes: jansson
   reads it); both give the same reason and, when valid, the same record.              */

static char s_text[70000], s_spaced[70001];

/*  Parse s_text both ways; CANONICAL: whether the in-place reader must take it. */
static void
both_ways (tally_t *t, record_t *fast, record_t *slow, const char *name, bool canonical)
{
    char detail[160];
    size_t len = strlen (s_text);
    s_spaced[0] = ' ';
    memcpy (s_spaced + 1, s_text, len + 1);
    record_reason_t a = record_parse (fast, s_text, len, len, MAX, detail, sizeof detail);
    record_reason_t b = record_parse (slow, s_spaced, len + 1, len + 1, MAX, detail, sizeof detail);
    check (t, !slow->canonical, "%s: jansson read the spaced copy", name);
    check (t, fast->canonical == canonical, "%s: read in place: %d, expected %d", name,
           fast->canonical, canonical);
    if (!check (t, a == b, "%s: in place %s, jansson %s (%s)", name, record_reason_name (a),
                record_reason_name (b), detail))
        return;
    const char *d = a == RECORD_OK ? differs (fast, slow) : NULL;
    check (t, d == NULL, "%s: %s differs", name, d ? d : "");
}

#define REQ_HEAD "{\"v\":1,\"type\":\"request\",\"id\":\"%s\",\"request_id\":\"r-1\",\"ts\":%s," \
    "\"client\":{\"ip\":\"%s\",\"port\":%s,\"from_proxy\":true}," \
    "\"frontend\":{\"ip\":\"192.0.2.1\",\"port\":443},\"peer\":{\"ip\":\"127.0.0.1\",\"port\":40000}," \
    "\"method\":\"%s\",\"scheme\":\"https\",\"host\":\"shop.test\",\"path\":\"%s\",\"query\":\"q=1\"," \
    "\"http_version\":\"HTTP/1.1\",\"headers\":%s," \
    "\"body\":{\"length\":5,\"sha256\":\"%s\",\"prefix\":\"%s\"},\"verdict\":true,\"truncated\":false%s}"
#define SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HDRS "[[\"Host\",\"shop.test\"],[\"User-Agent\",\"curl/7.88.1\"],[\"Accept\",\"*/*\"]]"

typedef struct {
    const char *name;
    const char *id, *ts, *ip, *port, *method, *path, *headers, *sha, *prefix, *tail;
    bool canonical;
} req_case_t;

static void
test_in_place (tally_t *t)
{
    record_t *fast = record_new (), *slow = record_new ();
    static char many[64 * 24 + 8], too_many[65 * 24 + 8], long_value[4200], long_path[8300];
    char *p = many;
    p += sprintf (p, "[");
    for (int i = 0; i < 64; i++)
        p += sprintf (p, "%s[\"X-H%d\",\"v%d\"]", i ? "," : "", i, i);
    sprintf (p, "]");
    p = too_many;
    p += sprintf (p, "[");
    for (int i = 0; i < 65; i++)
        p += sprintf (p, "%s[\"X-H%d\",\"v\"]", i ? "," : "", i);
    sprintf (p, "]");
    sprintf (long_value, "[[\"X-L\",\"%0*d\"]]", 4097, 0);
    sprintf (long_path, "/%0*d", 8190, 0);

    const req_case_t cases[] = {
        { "usual", "9f0c", "1764110000.123456", "198.51.100.7", "51234", "GET", "/search", HDRS, SHA, "aGVsbG8=", ",\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"TLS_AES_256_GCM_SHA384\",\"sni\":\"shop.test\",\"alpn\":\"h2\"}", true },
        { "tls sni only", "a", "1764110000.5", "198.51.100.7", "1", "GET", "/", HDRS, SHA, "", ",\"tls\":{\"sni\":\"x.test\"}", true },
        { "tls version and alpn", "a", "1764110000", "198.51.100.7", "0", "GET", "/", HDRS, SHA, "", ",\"tls\":{\"version\":\"TLSv1.2\",\"alpn\":\"http/1.1\"}", true },
        { "tls empty", "a", "1764110000", "198.51.100.7", "0", "GET", "/", HDRS, SHA, "", ",\"tls\":{}", true },
        { "no tls, int ts, no headers", "a", "946681200", "10.0.0.1", "65535", "POST", "/", "[]", "", "", "", true },
        { "ts with exponent", "a", "1.7641100001e9", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", "", true },
        { "ipv6", "a", "1764110000.1", "2001:DB8::0:7", "80", "GET", "/", HDRS, SHA, "", "", true },
        { "ipv4-mapped", "a", "1764110000.1", "::ffff:198.51.100.7", "80", "GET", "/", HDRS, SHA, "", "", true },
        { "64 headers", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", many, SHA, "TWE=", "", true },
        { "DEL in a value", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", "[[\"X\",\"a\x7f" "b\"]]", SHA, "", "", true },
        { "token method", "a", "1764110000.1", "10.0.0.1", "80", "M-SEARCH", "/", HDRS, SHA, "", "", true },
        { "escaped quote and backslash", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", "[[\"X\",\"a\\\"b\\\\c\"]]", SHA, "", "", true },
        /* valid, but not the in-place reader's: jansson reads them, the same way */
        { "escaped newline", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", "[[\"X\",\"a\\nb\"]]", SHA, "", "", false },
        { "utf-8 value", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", "[[\"X\",\"caf\xc3\xa9\"]]", SHA, "", "", false },
        { "extra key", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", ",\"later\":1", false },
        { "tls keys out of order", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", ",\"tls\":{\"sni\":\"a\",\"version\":\"b\"}", false },
        /* invalid: declined, and jansson's reason stands */
        { "port out of range", "a", "1764110000.1", "10.0.0.1", "70000", "GET", "/", HDRS, SHA, "", "", false },
        { "port with a leading zero", "a", "1764110000.1", "10.0.0.1", "080", "GET", "/", HDRS, SHA, "", "", false },
        { "bad ip", "a", "1764110000.1", "10.0.0.999", "80", "GET", "/", HDRS, SHA, "", "", false },
        { "method not a token", "a", "1764110000.1", "10.0.0.1", "80", "GE T", "/", HDRS, SHA, "", "", false },
        { "empty id", "", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", "", false },
        { "id too long", "0123456789012345678901234567890123456789012345678901234567890123456789", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", "", false },
        { "negative ts", "a", "-1", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", "", false },
        { "ts 1.", "a", "1.", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", "", false },
        { "ts too large", "a", "1.9e10", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", "", false },
        { "short sha256", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, "e3b0", "", "", false },
        { "sha256 not hex", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "", "", false },
        { "prefix not base64", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "abc", "", false },
        { "65 headers", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", too_many, SHA, "", "", false },
        { "empty header name", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", "[[\"\",\"v\"]]", SHA, "", "", false },
        { "value over 4096", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", long_value, SHA, "", "", false },
        { "path + query over 8192", "a", "1764110000.1", "10.0.0.1", "80", "GET", long_path, HDRS, SHA, "", "", false },
        { "header not a pair", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", "[[\"X\"]]", SHA, "", "", false },
        { "unknown tls key", "a", "1764110000.1", "10.0.0.1", "80", "GET", "/", HDRS, SHA, "", ",\"tls\":{\"group\":\"x\"}", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const req_case_t *c = &cases[i];
        snprintf (s_text, sizeof s_text, REQ_HEAD, c->id, c->ts, c->ip, c->port, c->method,
                  c->path, c->headers, c->sha, c->prefix, c->tail);
        both_ways (t, fast, slow, c->name, c->canonical);
    }
    /* the whole usual request, read in place, field by field */
    snprintf (s_text, sizeof s_text, REQ_HEAD, "9f0c", "1764110000.123456", "::ffff:198.51.100.7",
              "51234", "GET", "/search", HDRS, SHA, "aGVsbG8=", ",\"tls\":{\"sni\":\"shop.test\"}");
    char detail[160];
    record_reason_t rc = record_parse (fast, s_text, strlen (s_text), strlen (s_text), MAX,
                                       detail, sizeof detail);
    check (t, rc == RECORD_OK && fast->canonical, "usual request read in place (%s)", detail);
    if (rc == RECORD_OK) {
        check (t, fast->type == RECORD_REQUEST && strcmp (fast->id, "9f0c") == 0, "type, id");
        check (t, fast->ts_ns == 1764110000123456000ull, "ts %llu", (unsigned long long) fast->ts_ns);
        check (t, fast->client.family == AF_INET && strcmp (fast->client.ip, "198.51.100.7") == 0
                  && fast->client.port == 51234 && fast->from_proxy, "client %s", fast->client.ip);
        check (t, fast->n_headers == 3 && fast->headers[2].value_len == 3
                  && memcmp (fast->headers[2].value, "*/*", 3) == 0, "headers");
        check (t, fast->body_prefix_len == 5 && memcmp (fast->body_prefix, "hello", 5) == 0, "prefix");
        check (t, strcmp (fast->tls_sni, "shop.test") == 0 && strcmp (fast->tls_version, "") == 0,
               "tls");
        check (t, strcmp (fast->query, "q=1") == 0 && fast->verdict && !fast->truncated, "query, flags");
    }

    const char *responses[][2] = {
        { "response", "{\"v\":1,\"type\":\"response\",\"id\":\"9f0c\",\"request_id\":\"\",\"ts\":1764110000.125,"
          "\"client\":{\"ip\":\"2001:db8::7\",\"port\":51234,\"from_proxy\":false},"
          "\"frontend\":{\"ip\":\"2001:db8::1\",\"port\":443},\"status\":200,"
          "\"headers\":[[\"Content-Type\",\"text/html\"]],\"body\":{\"length\":5120},"
          "\"header_bytes\":231,\"latency_us\":1830,\"truncated\":false}" },
        { "response status 1000", "{\"v\":1,\"type\":\"response\",\"id\":\"9f0c\",\"request_id\":\"\",\"ts\":1,"
          "\"client\":{\"ip\":\"10.0.0.1\",\"port\":1,\"from_proxy\":false},"
          "\"frontend\":{\"ip\":\"10.0.0.2\",\"port\":2},\"status\":1000,"
          "\"headers\":[],\"body\":{\"length\":0},\"header_bytes\":0,\"latency_us\":0,\"truncated\":false}" },
        { "response without frontend", "{\"v\":1,\"type\":\"response\",\"id\":\"9f0c\",\"request_id\":\"\",\"ts\":1,"
          "\"client\":{\"ip\":\"10.0.0.1\",\"port\":1,\"from_proxy\":false},\"status\":200,"
          "\"headers\":[],\"body\":{\"length\":0},\"header_bytes\":0,\"latency_us\":0,\"truncated\":false}" },
        { "error record", "{\"v\":1,\"type\":\"error\",\"id\":\"abc\",\"request_id\":\"\",\"ts\":1764110001,"
          "\"client\":{\"ip\":\"10.0.0.2\",\"port\":0,\"from_proxy\":false},"
          "\"frontend\":{\"ip\":\"10.0.0.3\",\"port\":8080},\"error\":\"Connection refused\"}" },
        { "version 2", "{\"v\":2,\"type\":\"response\",\"id\":\"9f0c\",\"request_id\":\"\",\"ts\":1,"
          "\"client\":{\"ip\":\"10.0.0.1\",\"port\":1,\"from_proxy\":false},"
          "\"frontend\":{\"ip\":\"10.0.0.2\",\"port\":2},\"status\":200,"
          "\"headers\":[],\"body\":{\"length\":0},\"header_bytes\":0,\"latency_us\":0,\"truncated\":false}" },
        { "trailing garbage", "{\"v\":1,\"type\":\"response\",\"id\":\"9f0c\",\"request_id\":\"\",\"ts\":1,"
          "\"client\":{\"ip\":\"10.0.0.1\",\"port\":1,\"from_proxy\":false},"
          "\"frontend\":{\"ip\":\"10.0.0.2\",\"port\":2},\"status\":200,"
          "\"headers\":[],\"body\":{\"length\":0},\"header_bytes\":0,\"latency_us\":0,\"truncated\":false}}" },
    };
    for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++) {
        snprintf (s_text, sizeof s_text, "%s", responses[i][1]);
        both_ways (t, fast, slow, responses[i][0], i == 0 || i == 1 ? i == 0 : false);
    }
    /* a cut record: every prefix of the usual request is rejected */
    snprintf (s_text, sizeof s_text, REQ_HEAD, "9f0c", "1764110000.5", "10.0.0.1", "80", "GET",
              "/", HDRS, SHA, "", "");
    size_t full = strlen (s_text);
    int cut_ok = 0;
    for (size_t n = 1; n < full; n += 7) {
        char saved = s_text[n];
        s_text[n] = 0;
        char detail2[160];
        record_reason_t a = record_parse (fast, s_text, n, n, MAX, detail2, sizeof detail2);
        cut_ok += a != RECORD_OK;
        s_text[n] = saved;
    }
    check (t, cut_ok == (int) ((full - 2) / 7 + 1), "every cut record rejected");
    record_destroy (&fast);
    record_destroy (&slow);
}

/* --- the body window: up to record_set_body_max (mitm.body_bytes) bytes, body.truncated --- */

#define REQ_BODY "{\"v\":1,\"type\":\"request\",\"id\":\"w\",\"request_id\":\"\",\"ts\":1764110000.5," \
    "\"client\":{\"ip\":\"10.0.0.1\",\"port\":80,\"from_proxy\":false}," \
    "\"frontend\":{\"ip\":\"10.0.0.2\",\"port\":443},\"peer\":{\"ip\":\"10.0.0.1\",\"port\":80}," \
    "\"method\":\"POST\",\"scheme\":\"http\",\"host\":\"h.test\",\"path\":\"/up\",\"query\":\"\"," \
    "\"http_version\":\"HTTP/1.1\",\"headers\":[[\"Host\",\"h.test\"]]," \
    "\"body\":{\"length\":%zu,\"sha256\":\"" SHA "\",\"prefix\":\"%s\"%s},\"verdict\":true,\"truncated\":false}"

/*  Base64 of N bytes of a pattern (byte i is i * 7 + i / 251, so every window differs). */
static char *
window_b64 (size_t n)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc ((n + 2) / 3 * 4 + 1), *w = out;
    for (size_t i = 0; i < n; i += 3) {
        uint8_t b[3] = { 0, 0, 0 };
        size_t k = n - i < 3 ? n - i : 3;
        for (size_t j = 0; j < k; j++)
            b[j] = (uint8_t) ((i + j) * 7 + (i + j) / 251);
        uint32_t bits = (uint32_t) b[0] << 16 | (uint32_t) b[1] << 8 | b[2];
        *w++ = digits[bits >> 18 & 63];
        *w++ = digits[bits >> 12 & 63];
        *w++ = k > 1 ? digits[bits >> 6 & 63] : '=';
        *w++ = k > 2 ? digits[bits & 63] : '=';
    }
    *w = 0;
    return out;
}

static bool
window_is (const record_t *r, size_t n)
{
    if (r->body_prefix_len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (r->body_prefix[i] != (uint8_t) (i * 7 + i / 251))
            return false;
    return true;
}

typedef struct {
    const char *name;
    size_t max;                         /* record_set_body_max                */
    size_t bytes;                       /* the window sent                    */
    const char *flag;                   /* what follows "prefix" in "body"    */
    record_reason_t reason;
    bool truncated;                     /* body_truncated when valid          */
} window_case_t;

static void
test_body_window (tally_t *t)
{
    record_t *fast = record_new (), *slow = record_new ();
    check (t, fast->body_max == RECORD_MAX_BODY_PREFIX && RECORD_MAX_BODY_PREFIX == 32768,
           "the default window is the largest, 32768");
    const window_case_t cases[] = {
        { "16384 at the limit, truncated", 16384, 16384, ",\"truncated\":true", RECORD_OK, true },
        { "16384 at the limit, not truncated", 16384, 16384, ",\"truncated\":false", RECORD_OK, false },
        { "16384, flag absent (older addon)", 16384, 16384, "", RECORD_OK, false },
        { "2048 under the limit", 16384, 2048, ",\"truncated\":false", RECORD_OK, false },
        { "16385 over the limit", 16384, 16385, ",\"truncated\":true", RECORD_TOO_LONG, false },
        { "16386 over the limit (base64 of the limit's length)", 16384, 16386, "", RECORD_TOO_LONG, false },
        { "16387 over the limit", 16384, 16387, "", RECORD_TOO_LONG, false },
        { "32768 at the largest", RECORD_MAX_BODY_PREFIX, 32768, ",\"truncated\":true", RECORD_OK, true },
        { "32769 over the largest", RECORD_MAX_BODY_PREFIX, 32769, "", RECORD_TOO_LONG, false },
        { "set above the largest: the largest", 100000, 32769, "", RECORD_TOO_LONG, false },
        { "1000, one byte more", 1000, 1001, "", RECORD_TOO_LONG, false },
        { "window 0, empty", 0, 0, ",\"truncated\":true", RECORD_OK, true },
        { "window 0, one byte", 0, 1, ",\"truncated\":true", RECORD_TOO_LONG, false },
        { "truncated not a boolean", 16384, 10, ",\"truncated\":1", RECORD_BAD_TYPE, false },
        { "truncated null", 16384, 10, ",\"truncated\":null", RECORD_BAD_TYPE, false },
    };
    char detail[192];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const window_case_t *c = &cases[i];
        record_set_body_max (fast, c->max);
        record_set_body_max (slow, c->max);
        char *b64 = window_b64 (c->bytes);
        snprintf (s_text, sizeof s_text, REQ_BODY, c->bytes + 100, b64, c->flag);
        free (b64);
        both_ways (t, fast, slow, c->name, c->reason == RECORD_OK);
        size_t len = strlen (s_text);
        record_reason_t rc = record_parse (slow, s_text, len, len, MAX, detail, sizeof detail);
        if (!check (t, rc == c->reason, "%s: %s, expected %s (%s)", c->name, record_reason_name (rc),
                    record_reason_name (c->reason), detail))
            continue;
        if (rc == RECORD_OK)
            check (t, window_is (slow, c->bytes) && slow->body_truncated == c->truncated
                          && slow->body_length == c->bytes + 100,
                   "%s: window of %zu bytes, truncated %d", c->name, slow->body_prefix_len,
                   slow->body_truncated);
        else if (rc == RECORD_TOO_LONG)
            check (t, strncmp (detail, "body.prefix: ", 13) == 0 && strstr (detail, "mitm.body_bytes"),
                   "%s: detail '%s'", c->name, detail);
        else
            check (t, strncmp (detail, "body.truncated: expected a boolean", 34) == 0,
                   "%s: detail '%s'", c->name, detail);
    }
    /* a reused parser: the window and the flag of the last record do not linger */
    record_set_body_max (fast, 16384);
    snprintf (s_text, sizeof s_text, REQ_BODY, (size_t) 5, "aGVsbG8=", "");
    size_t len = strlen (s_text);
    record_reason_t rc = record_parse (fast, s_text, len, len, MAX, detail, sizeof detail);
    check (t, rc == RECORD_OK && fast->canonical && fast->body_prefix_len == 5
                  && memcmp (fast->body_prefix, "hello", 5) == 0 && !fast->body_truncated
                  && fast->body_max == 16384,
           "reused: hello, not truncated, window kept (%s)", detail);
    record_destroy (&fast);
    record_destroy (&slow);
}

/*  Differential fuzzing: usual records with one to three bytes replaced, inserted or
    removed, or cut; both readers must still agree (reason, and every field when valid),
    and the in-place reader must never read outside the datagram (run under ASan too). */
static void
test_in_place_fuzz (tally_t *t)
{
    record_t *fast = record_new (), *slow = record_new ();
    static const char alphabet[] = "0123456789\"\\{}[],:.-+eEtfnulrx /=\x7f\x80\xc3\xa9\x01";
    const char *seeds[] = { NULL, NULL, NULL, NULL };
    static char seed0[2048], seed1[2048], seed3[2048];
    snprintf (seed0, sizeof seed0, REQ_HEAD, "9f0c", "1764110000.123456", "198.51.100.7", "51234",
              "GET", "/search", HDRS, SHA, "aGVsbG8=", ",\"tls\":{\"version\":\"TLSv1.3\",\"sni\":\"a\"}");
    snprintf (seed1, sizeof seed1, REQ_HEAD, "id", "946681200", "2001:db8::1", "1", "POST", "/",
              "[]", "", "", "");
    snprintf (seed3, sizeof seed3, REQ_BODY, (size_t) 9, "aGVsbG8gd29y", ",\"truncated\":true");
    seeds[0] = seed0;
    seeds[1] = seed1;
    seeds[3] = seed3;
    seeds[2] = "{\"v\":1,\"type\":\"response\",\"id\":\"9f0c\",\"request_id\":\"\",\"ts\":1764110000.125,"
               "\"client\":{\"ip\":\"10.0.0.1\",\"port\":51234,\"from_proxy\":false},"
               "\"frontend\":{\"ip\":\"10.0.0.2\",\"port\":443},\"status\":200,"
               "\"headers\":[[\"Content-Type\",\"text/html\"]],\"body\":{\"length\":5120},"
               "\"header_bytes\":231,\"latency_us\":1830,\"truncated\":false}";
    uint64_t x = 0x9e3779b97f4a7c15ull;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    int disagree = 0, differ = 0, in_place = 0, valid = 0;
    const int rounds = 30000;
    for (int i = 0; i < rounds; i++) {
        const char *seed = seeds[i % 4];
        size_t len = strlen (seed);
        char *buf = malloc (len + 8);        /* room for the inserts (3 at most) */
        memcpy (buf, seed, len);
        int edits = 1 + (int) (NEXT () % 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = NEXT () % len;
            char ch = alphabet[NEXT () % (sizeof alphabet - 1)];
            switch (NEXT () % 4) {
            case 0: buf[at] = ch; break;
            case 1: memmove (buf + at + 1, buf + at, len - at); buf[at] = ch; len++; break;
            case 2: memmove (buf + at, buf + at + 1, len - at - 1); len--; break;
            default: len = at; break;
            }
        }
        char *exact = malloc (len ? len : 1);   /* exact size: ASan sees any read past it */
        memcpy (exact, buf, len);
        char *spaced = malloc (len + 1);
        spaced[0] = ' ';
        memcpy (spaced + 1, buf, len);
        char detail[160];
        record_reason_t a = record_parse (fast, exact, len, len, MAX, detail, sizeof detail);
        record_reason_t b = record_parse (slow, spaced, len + 1, len + 1, MAX, detail, sizeof detail);
        in_place += fast->canonical;
        if (a != b) {
            if (disagree++ < 3)
                printf ("  disagree: in place %s, jansson %s: %.*s\n", record_reason_name (a),
                        record_reason_name (b), (int) len, exact);
        }
        else if (a == RECORD_OK) {
            valid++;
            const char *d = differs (fast, slow);
            if (d && differ++ < 3)
                printf ("  %s differs: %.*s\n", d, (int) len, exact);
        }
        free (buf);
        free (exact);
        free (spaced);
    }
#undef NEXT
    printf ("fuzz: %d mutated records, %d valid, %d of them read in place\n", rounds, valid,
            in_place);
    check (t, disagree == 0, "fuzz: %d of %d mutated records got another reason in place", disagree,
           rounds);
    check (t, differ == 0, "fuzz: %d of %d valid mutated records read differently", differ, valid);
    check (t, in_place > rounds / 50 && valid > in_place,
           "fuzz: some mutants still read in place (%d), some only by jansson (%d valid)", in_place,
           valid);
    record_destroy (&fast);
    record_destroy (&slow);
}

int
main (void)
{
    tally_t t = { 0 };
    test_valid (&t);
    test_rejects (&t);
    test_base64 (&t);
    test_in_place (&t);
    test_body_window (&t);
    test_in_place_fuzz (&t);
    return tally_report (&t);
}
