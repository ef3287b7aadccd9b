/*  test_schema — every message type of proto/dpidual.proto:
    1. filled with a value in every field (walking the descriptors), packed,
       unpacked and packed again: the bytes must be identical;
    2. with --emit, one line per message on stdout: base64 of the packed
       bytes, a tab, and pbjson's JSON. tests/check_schema_json.py decodes
       the bytes with Google's protobuf runtime and checks that our JSON is
       valid and equal to the reference JSON mapping (it_schema_json).      */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "tally.h"
#include "topics.h"

/*  Memory of filled messages is taken from one arena, freed at the end.    */
typedef struct { void *ptrs[4096]; size_t n; } arena_t;

static void *
arena_alloc (arena_t *a, size_t size)
{
    void *p = calloc (1, size);
    if (a->n < 4096)
        a->ptrs[a->n++] = p;
    return p;
}

static void
arena_free (arena_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        free (a->ptrs[i]);
    a->n = 0;
}

static ProtobufCMessage *fill_message (arena_t *a, const ProtobufCMessageDescriptor *d, int depth);

/*  A distinct, non-default value for FIELD, number K of a repeated field.  */
static void
fill_value (arena_t *a, const ProtobufCFieldDescriptor *f, void *out, int k, int depth)
{
    unsigned id = f->id + (unsigned) k * 100;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *) out = -(int32_t) id * 7; break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *) out = 4000000000u - id; break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *) out = -(int64_t) id * 1000000007ll; break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *) out = 1700000000123456789ull + id; break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *) out = (float) id + 0.5f; break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *) out = id + 0.25; break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *) out = 1; break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *) out = e->values[e->n_values - 1 - (unsigned) k % e->n_values].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char *s = arena_alloc (a, 96);
        snprintf (s, 96, "%s-%d \"quoted\" back\\slash\ttab\x01 caf\xc3\xa9 \xf0\x9f\x98\x80",
                  f->name, k);
        *(char **) out = s;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = out;
        b->len = 5 + (size_t) k;
        b->data = arena_alloc (a, b->len);
        for (size_t i = 0; i < b->len; i++)
            b->data[i] = (uint8_t) (i * 61 + id);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **) out = depth < 3 ? fill_message (a, f->descriptor, depth + 1) : NULL;
        break;
    }
}

static size_t
value_size (ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return sizeof (void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof (ProtobufCBinaryData);
    default: return 4;
    }
}

static ProtobufCMessage *
fill_message (arena_t *a, const ProtobufCMessageDescriptor *d, int depth)
{
    ProtobufCMessage *m = arena_alloc (a, d->sizeof_message);
    d->message_init (m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *member = (char *) m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = 2;
            char *array = arena_alloc (a, n * value_size (f->type));
            for (size_t k = 0; k < n; k++)
                fill_value (a, f, array + k * value_size (f->type), (int) k, depth);
            *(size_t *) ((char *) m + f->quantifier_offset) = n;
            *(char **) member = array;
        }
        else
            fill_value (a, f, member, 0, depth);
    }
    return m;
}

static void
emit_base64 (const uint8_t *data, size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) data[i] << 16 | (i + 1 < len ? data[i + 1] << 8 : 0)
                     | (i + 2 < len ? data[i + 2] : 0);
        putchar (b64[v >> 18 & 63]);
        putchar (b64[v >> 12 & 63]);
        putchar (i + 1 < len ? b64[v >> 6 & 63] : '=');
        putchar (i + 2 < len ? b64[v & 63] : '=');
    }
}

static void
check_type (tally_t *t, const char *topic, const ProtobufCMessageDescriptor *d, bool emit)
{
    arena_t a = { .n = 0 };
    ProtobufCMessage *m = fill_message (&a, d, 0);
    size_t size = protobuf_c_message_get_packed_size (m);
    uint8_t *bytes = malloc (size), *again = malloc (size);
    protobuf_c_message_pack (m, bytes);
    ProtobufCMessage *back = protobuf_c_message_unpack (d, NULL, size, bytes);
    check (t, back != NULL, "%s: unpack failed", d->name);
    if (back) {
        check (t, protobuf_c_message_get_packed_size (back) == size, "%s: size changed", d->name);
        protobuf_c_message_pack (back, again);
        check (t, memcmp (bytes, again, size) == 0, "%s: round trip changed the bytes", d->name);
        pbjson_buf_t a_json = { 0 }, b_json = { 0 };
        check (t, pbjson_append (&a_json, topic, m) == 0
                  && pbjson_append (&b_json, topic, back) == 0, "%s: pbjson failed", d->name);
        check (t, a_json.len > 2 && strcmp (a_json.data, b_json.data) == 0,
               "%s: JSON of the copy differs", d->name);
        if (emit) {
            emit_base64 (bytes, size);
            printf ("\t%s\t%s\n", d->name, a_json.data);
        }
        pbjson_buf_free (&a_json);
        pbjson_buf_free (&b_json);
        protobuf_c_message_free_unpacked (back, NULL);
    }
    /* truncated input must fail cleanly, never crash */
    for (size_t cut = 1; cut < size; cut += 1 + size / 64) {
        ProtobufCMessage *part = protobuf_c_message_unpack (d, NULL, size - cut, bytes);
        if (part)
            protobuf_c_message_free_unpacked (part, NULL);
    }
    free (bytes);
    free (again);
    arena_free (&a);
}

/*  Things the generic comparison cannot see: invalid UTF-8, defaults.      */
static void
check_printer_edges (tally_t *t, bool emit)
{
    Dpidual__V1__FlowEvent ev = DPIDUAL__V1__FLOW_EVENT__INIT;
    ev.host_server_name = "bad\xff\xfe utf8 \xc3";
    pbjson_buf_t j = { 0 };
    pbjson_append (&j, "tap.flow", &ev.base);
    check (t, strstr (j.data, "\"host_server_name\":\"bad\\ufffd\\ufffd utf8 \\ufffd\"") != NULL,
           "invalid UTF-8 not replaced: %s", j.data);
    check (t, strstr (j.data, "\"vlan\":0") != NULL, "a zero field is missing: %s", j.data);
    check (t, strstr (j.data, "\"header\"") == NULL, "a null header printed: %s", j.data);
    check (t, strncmp (j.data, "{\"topic\":\"tap.flow\",", 20) == 0, "topic first: %s", j.data);
    check (t, strstr (j.data, "\"risks\":[]") != NULL, "empty repeated: %s", j.data);
    Dpidual__V1__TapStats st = DPIDUAL__V1__TAP_STATS__INIT;
    pbjson_buf_reset (&j);
    pbjson_append (&j, NULL, &st.base);
    check (t, strstr (j.data, "\"protocols\":[]") && strstr (j.data, "\"top_talkers\":[]"),
           "empty repeated messages: %s", j.data);
    if (emit)
        printf ("-\tjson-only\t%s\n", j.data);
    pbjson_buf_free (&j);
}

int
main (int argc, char **argv)
{
    bool emit = argc > 1 && strcmp (argv[1], "--emit") == 0;
    tally_t t = { .out = emit ? stderr : stdout };      //  with --emit stdout is data
    size_t types = 0;
    for (size_t i = 0; topics_name (i); i++, types++)
        check_type (&t, topics_name (i), topics_descriptor (topics_name (i)), emit);
    check (&t, types == 10, "expected 10 topics, got %zu", types);
    check (&t, topics_descriptor ("tap") == NULL, "prefix is not a topic");
    check_printer_edges (&t, emit);
    return tally_report (&t);
}
