/*  test_pbjson_parse.c — common/pbjson_parse.c (JSON back to protobuf).

    For the message of every topic (topics.c), a message with every field
    set to random values (walking the descriptors, so a field added to the
    schema is covered at once) is printed by pbjson_append, read back by
    jansson + pbjson_parse, and both are packed and compared byte for byte.
    Then a line in the shape `dpi-dualctl tail` prints, and every error,
    each with its message.

    Catches: a type read into the wrong width, a lost field, an enum read by
    number only, bad base64 decoding, a missing presence flag, an error
    that does not name its field path, a strictness hole (wrong type, range,
    unknown key accepted).

    Two limits of the printed form, kept out of the random values and
    checked on their own: a uint64 over 2^63-1 printed as a number is
    refused by jansson ("too big integer"; as a decimal string it reads
    back), and a double prints with 15 digits (%.15g), so random doubles
    here are short binary fractions that print exactly.                       */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "tally.h"
#include "topics.h"

/* ---- random messages ---------------------------------------------------- */

static void fill_message (ProtobufCMessage *msg, uint32_t *seed, int depth);

/*  Random text with what needs escaping: quotes, backslash, controls, and
    multi-byte UTF-8.                                                         */
static char *
random_text (uint32_t *seed)
{
    static const char *pieces[] = { "a", "Z", "7", " ", "\"", "\\", "/", "\n", "\t", "\x01",
                                    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "GET", "." };
    size_t n = 1 + tally_random (seed) % 12;
    char *s = calloc (1, n * 4 + 1);
    for (size_t i = 0; i < n; i++)
        strcat (s, pieces[tally_random (seed) % (sizeof pieces / sizeof pieces[0])]);
    return s;
}

static uint64_t
random64 (uint32_t *seed)
{
    return (uint64_t) tally_random (seed) << 32 | tally_random (seed);
}

/*  One non-zero random value of FIELD into MEMBER.                          */
static void
fill_value (const ProtobufCFieldDescriptor *field, void *member, uint32_t *seed, int depth)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *) member = tally_random (seed);
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *) member = (int64_t) random64 (seed);
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *) member = (random64 (seed) >> 1) | 1;     /* jansson: < 2^63 */
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *) member = (float) ((int32_t) tally_random (seed) % 100000) / 16.0f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *) member = ((double) (tally_random (seed) % 2000000) - 999999.5) / 64.0;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *) member = 1;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *desc = field->descriptor;
        *(int *) member = desc->values[1 + tally_random (seed) % (desc->n_values - 1)].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **) member = random_text (seed);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bin = member;
        bin->len = 1 + tally_random (seed) % 40;
        bin->data = malloc (bin->len);
        for (size_t i = 0; i < bin->len; i++)
            bin->data[i] = (uint8_t) tally_random (seed);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *desc = field->descriptor;
        ProtobufCMessage *sub = malloc (desc->sizeof_message);
        desc->message_init (sub);
        fill_message (sub, seed, depth + 1);
        *(ProtobufCMessage **) member = sub;
        break;
    }
    }
}

static size_t
stride (ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return sizeof (void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof (ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL: return sizeof (protobuf_c_boolean);
    default: return 4;
    }
}

/*  Every field of MSG (repeated ones: 1 to 3 values).                       */
static void
fill_message (ProtobufCMessage *msg, uint32_t *seed, int depth)
{
    char *base = (char *) msg;
    for (unsigned i = 0; i < msg->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &msg->descriptor->fields[i];
        if (field->label != PROTOBUF_C_LABEL_REPEATED) {
            fill_value (field, base + field->offset, seed, depth);
            if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset)
                *(protobuf_c_boolean *) (base + field->quantifier_offset) = 1;
            continue;
        }
        size_t count = 1 + tally_random (seed) % 3;
        char *array = calloc (count, stride (field->type));
        for (size_t j = 0; j < count; j++)
            fill_value (field, array + j * stride (field->type), seed, depth);
        *(char **) (base + field->offset) = array;
        *(size_t *) (base + field->quantifier_offset) = count;
    }
}

/* ---- round trips -------------------------------------------------------- */

/*  Do A and B pack to the same bytes?                                       */
static bool
same_packed (const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la = protobuf_c_message_get_packed_size (a), lb = protobuf_c_message_get_packed_size (b);
    uint8_t *pa = malloc (la + 1), *pb = malloc (lb + 1);
    protobuf_c_message_pack (a, pa);
    protobuf_c_message_pack (b, pb);
    bool same = la == lb && memcmp (pa, pb, la) == 0;
    free (pa);
    free (pb);
    return same;
}

/*  TEXT read by jansson then pbjson_parse as DESC (NULL + ERROR on failure). */
static ProtobufCMessage *
parse_text (const ProtobufCMessageDescriptor *desc, const char *text, char *error, size_t errlen)
{
    json_error_t jerr;
    json_t *obj = json_loads (text, JSON_ALLOW_NUL, &jerr);
    if (!obj) {
        snprintf (error, errlen, "jansson: %s", jerr.text);
        return NULL;
    }
    ProtobufCMessage *msg = pbjson_parse (desc, obj, error, errlen);
    json_decref (obj);
    return msg;
}

static void
round_trip (tally_t *t, const char *topic, uint32_t *seed)
{
    const ProtobufCMessageDescriptor *desc = topics_descriptor (topic);
    ProtobufCMessage *msg = malloc (desc->sizeof_message);
    desc->message_init (msg);
    fill_message (msg, seed, 0);
    pbjson_buf_t buf = { 0 };
    char error[256];
    check (t, pbjson_append (&buf, topic, msg) == 0, "%s: printed", topic);
    ProtobufCMessage *back = parse_text (desc, buf.data, error, sizeof error);
    if (check (t, back != NULL, "%s: parsed back: %s", topic, error)) {
        check (t, same_packed (msg, back), "%s: the same message back from %s", topic, buf.data);
        protobuf_c_message_free_unpacked (back, NULL);
    }
    pbjson_buf_free (&buf);
    protobuf_c_message_free_unpacked (msg, NULL);
}

/*  A line as `dpi-dualctl tail` prints it.                                 */
static void
test_tail_line (tally_t *t)
{
    const char *line =
        "{\"topic\":\"mitm.request\",\"header\":{\"source\":\"bridge-mitm@router1\",\"seq\":42,"
        "\"ts_ns\":1718000000123456789,\"schema_version\":1,\"instance\":1718000000000000000},"
        "\"flow_id\":\"f-1\",\"request_id\":\"r1\",\"community_id\":\"1:abc=\","
        "\"client_ip\":\"192.0.2.7\",\"client_port\":51234,\"frontend_ip\":\"198.51.100.1\","
        "\"frontend_port\":443,\"client_from_proxy\":true,\"ts_ns\":1718000000100000000,"
        "\"method\":\"POST\",\"scheme\":\"https\",\"host\":\"shop.example\",\"path\":\"/login\","
        "\"query\":\"\",\"http_version\":\"HTTP/1.1\",\"headers\":[{\"name\":\"Host\","
        "\"value\":\"shop.example\"},{\"name\":\"User-Agent\",\"value\":\"curl/8\"}],"
        "\"body_length\":5,\"body_sha256\":\"\",\"body_prefix\":\"aGVsbG8=\",\"user_agent\":"
        "\"curl/8\",\"body_truncated\":false,\"tls_version\":\"TLSv1.3\",\"tls_cipher\":\"\","
        "\"tls_sni\":\"shop.example\",\"tls_alpn\":\"h2\"}";
    char error[256] = "";
    Dpidual__V1__HttpRequest *req = (Dpidual__V1__HttpRequest *) parse_text (
        &dpidual__v1__http_request__descriptor, line, error, sizeof error);
    if (!check (t, req != NULL, "the tail line parses: %s", error))
        return;
    check (t, strcmp (req->request_id, "r1") == 0 && req->header && req->header->seq == 42
           && req->header->ts_ns == 1718000000123456789ull
           && strcmp (req->header->source, "bridge-mitm@router1") == 0,
           "request_id and header");
    check (t, req->n_headers == 2 && strcmp (req->headers[1]->value, "curl/8") == 0
           && req->client_port == 51234 && req->client_from_proxy,
           "headers, port, bool");
    check (t, req->body_prefix.len == 5 && memcmp (req->body_prefix.data, "hello", 5) == 0,
           "body_prefix from base64");
    protobuf_c_message_free_unpacked (&req->base, NULL);
}

typedef struct {
    const ProtobufCMessageDescriptor *desc;
    const char *json;
    const char *error;              /* the exact message                     */
} error_case_t;

static void
test_errors (tally_t *t)
{
    const ProtobufCMessageDescriptor *flow = &dpidual__v1__flow_event__descriptor;
    const ProtobufCMessageDescriptor *stats = &dpidual__v1__tap_stats__descriptor;
    const ProtobufCMessageDescriptor *req = &dpidual__v1__http_request__descriptor;
    const error_case_t cases[] = {
        { flow, "{\"foo\":1}", "unknown key 'foo'" },
        { flow, "{\"header\":{\"bar\":1}}", "header: unknown key 'bar'" },
        { flow, "{\"header\":{\"topic\":\"x\"}}", "header: unknown key 'topic'" },
        { flow, "{\"header\":[]}", "header: expected an object" },
        { flow, "{\"dst_port\":\"80\"}", "dst_port: expected an integer" },
        { flow, "{\"dst_port\":80.5}", "dst_port: expected an integer" },
        { flow, "{\"dst_port\":4294967296}", "dst_port: 4294967296 out of range" },
        { flow, "{\"dst_port\":-1}", "dst_port: -1 out of range" },
        { flow, "{\"header\":{\"seq\":-1}}", "header.seq: -1 out of range" },
        { flow, "{\"header\":{\"seq\":\"12x\"}}", "header.seq: '12x' is not a decimal integer" },
        { flow, "{\"header\":{\"seq\":\" 12\"}}", "header.seq: ' 12' is not a decimal integer" },
        { flow, "{\"header\":{\"seq\":\"-1\"}}", "header.seq: '-1' is not a decimal integer" },
        { flow, "{\"header\":{\"seq\":\"18446744073709551616\"}}",
          "header.seq: 18446744073709551616 out of range" },
        { flow, "{\"header\":{\"seq\":true}}", "header.seq: expected an integer or a decimal string" },
        { flow, "{\"event\":\"BOGUS\"}", "event: unknown Event value 'BOGUS'" },
        { flow, "{\"event\":1.5}", "event: expected an enum name or number" },
        { flow, "{\"guessed\":1}", "guessed: expected true or false" },
        { flow, "{\"src_ip\":7}", "src_ip: expected a string" },
        { flow, "{\"src_ip\":\"a\\u0000b\"}", "src_ip: a NUL in the string" },
        { flow, "{\"risks\":\"a\"}", "risks: expected an array" },
        { flow, "{\"risks\":[\"a\",3]}", "risks[1]: expected a string" },
        { stats, "{\"packets_per_sec\":\"fast\"}", "packets_per_sec: expected a number" },
        { stats, "{\"protocols\":[{\"name\":\"x\"},{\"flows\":\"y\"}]}",
          "protocols[1].flows: 'y' is not a decimal integer" },
        { stats, "{\"protocols\":[null]}", "protocols[0]: expected an object" },
        { req, "{\"body_prefix\":\"abc\"}", "body_prefix: not base64" },
        { req, "{\"body_prefix\":\"ab$=\"}", "body_prefix: not base64" },
        { req, "{\"body_prefix\":\"a=bc\"}", "body_prefix: not base64" },
        { req, "{\"body_prefix\":5}", "body_prefix: expected a base64 string" },
        { req, "[1]", "expected an object" },
    };
    char error[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ProtobufCMessage *msg = parse_text (cases[i].desc, cases[i].json, error, sizeof error);
        check (t, msg == NULL && strcmp (error, cases[i].error) == 0,
               "%s: wanted '%s', got '%s'", cases[i].json, cases[i].error, msg ? "(parsed)" : error);
        if (msg)
            protobuf_c_message_free_unpacked (msg, NULL);
    }
}

/*  What is accepted beside the printed form.                                */
static void
test_accepted (tally_t *t)
{
    char error[256] = "";
    Dpidual__V1__FlowEvent *flow = (Dpidual__V1__FlowEvent *) parse_text (
        &dpidual__v1__flow_event__descriptor,
        "{\"topic\":\"tap.flow\",\"event\":3,\"end_reason\":\"IDLE\",\"header\":{\"seq\":"
        "\"18446744073709551615\",\"ts_ns\":\"123\"},\"risk\":9223372036854775807}",
        error, sizeof error);
    if (check (t, flow != NULL, "enum by number, 64-bit as string: %s", error)) {
        check (t, flow->event == DPIDUAL__V1__FLOW_EVENT__EVENT__END
               && flow->end_reason == DPIDUAL__V1__FLOW_EVENT__END_REASON__IDLE,
               "event 3 = END, IDLE by name");
        check (t, flow->header->seq == UINT64_MAX && flow->header->ts_ns == 123
               && flow->risk == INT64_MAX,
               "uint64 max as a string, 2^63-1 as a number");
        check (t, strcmp (flow->src_ip, "") == 0 && flow->dst_port == 0, "missing: defaults");
        protobuf_c_message_free_unpacked (&flow->base, NULL);
    }
    Dpidual__V1__TapStats *stats = (Dpidual__V1__TapStats *) parse_text (
        &dpidual__v1__tap_stats__descriptor,
        "{\"packets_per_sec\":3,\"bytes_per_sec\":null,\"header\":null}", error, sizeof error);
    if (check (t, stats != NULL, "an integer for a double, null: %s", error)) {
        check (t, stats->packets_per_sec == 3.0 && isnan (stats->bytes_per_sec) && !stats->header,
               "3.0, NaN (printed as null), no header");
        protobuf_c_message_free_unpacked (&stats->base, NULL);
    }
    /* a uint64 over 2^63-1 prints as a number jansson refuses: the limit */
    Dpidual__V1__Header header = DPIDUAL__V1__HEADER__INIT;
    header.seq = UINT64_MAX;
    pbjson_buf_t buf = { 0 };
    pbjson_append (&buf, NULL, &header.base);
    check (t, parse_text (&dpidual__v1__header__descriptor, buf.data, error, sizeof error) == NULL
           && strstr (error, "jansson: too big integer"),
           "2^64-1 printed as a number: jansson refuses it (%s)", error);
    pbjson_buf_free (&buf);
}

int
main (void)
{
    tally_t t = { 0 };
    uint32_t seed = 20240611;
    const char *topic;
    size_t topics = 0;
    for (size_t i = 0; (topic = topics_name (i)) != NULL; i++, topics++)
        for (int round = 0; round < 20; round++)
            round_trip (&t, topic, &seed);
    check (&t, topics == 10, "10 topics (%zu)", topics);
    test_tail_line (&t);
    test_errors (&t);
    test_accepted (&t);
    return tally_report (&t);
}
